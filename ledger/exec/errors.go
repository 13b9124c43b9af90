package exec

import (
	"errors"
	"fmt"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Errors callers test for.
var (
	// ErrNotFound: a Reader has no value for a key, or a query helper found
	// no object. Readers must return it (or an error wrapping it) for absent
	// keys; any other Reader error is a storage failure.
	ErrNotFound = errors.New("exec: not found")
	// ErrMalformed: transaction bytes that do not decode to a SignedTx with
	// a body, a signature and one action.
	ErrMalformed = errors.New("exec: malformed transaction")
	// ErrTooLarge: transaction bytes above the hard decoding cap.
	ErrTooLarge = errors.New("exec: transaction too large")
	// ErrInvalidGenesis: InitGenesis refused the document.
	ErrInvalidGenesis = errors.New("exec: invalid genesis")
	// ErrNotInitialised: ApplyBlock or CheckTx ran on a state without
	// genesis (no params key).
	ErrNotInitialised = errors.New("exec: state has no genesis")
)

// txError is a refused transaction or action: it becomes a TxResult with a
// code and a reason, never a node error. Any other error a handler returns
// is a storage failure or a broken invariant and aborts the block.
type txError struct {
	code   pb.ResultCode
	reason string
}

func (e *txError) Error() string { return e.code.String() + ": " + e.reason }

// ResultCode is the refusal's result code: a refusal returned by an
// exported function (ContentEntitlement) satisfies the node's Refusal
// interfaces (error plus ResultCode), so the API maps it like a CheckTx
// refusal.
func (e *txError) ResultCode() pb.ResultCode { return e.code }

// Reason is the refusal's reason, without the code.
func (e *txError) Reason() string { return e.reason }

// RefusalOf reports whether err is (or wraps) a refusal of the state
// machine, and returns its result code and reason. Any other error of an
// exported function is a storage failure or an undecodable value.
func RefusalOf(err error) (code pb.ResultCode, reason string, ok bool) {
	te, ok := asTxError(err)
	if !ok {
		return pb.ResultCode_RESULT_CODE_OK, "", false
	}
	return te.code, te.reason, true
}

func fail(code pb.ResultCode, format string, args ...any) error {
	return &txError{code: code, reason: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) error {
	return fail(pb.ResultCode_RESULT_CODE_INVALID_ARGUMENT, format, args...)
}

func unauthorized(format string, args ...any) error {
	return fail(pb.ResultCode_RESULT_CODE_UNAUTHORIZED, format, args...)
}

func notFound(format string, args ...any) error {
	return fail(pb.ResultCode_RESULT_CODE_NOT_FOUND, format, args...)
}

func exists(format string, args ...any) error {
	return fail(pb.ResultCode_RESULT_CODE_ALREADY_EXISTS, format, args...)
}

func conflict(format string, args ...any) error {
	return fail(pb.ResultCode_RESULT_CODE_CONFLICT, format, args...)
}

// asTxError reports whether err is a refusal, and returns it.
func asTxError(err error) (*txError, bool) {
	var te *txError
	if errors.As(err, &te) {
		return te, true
	}
	return nil, false
}

// fmtInvariant reports a broken invariant: the state holds something the
// executor never writes. It aborts the block.
func fmtInvariant(format string, args ...any) error {
	return fmt.Errorf("broken invariant: "+format, args...)
}
