package exec

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// DecodeTx decodes a serialized SignedTx and its body. It refuses (with an
// error wrapping ErrTooLarge or ErrMalformed) bytes above HardMaxTxBytes,
// bytes that are not a SignedTx, an empty body or signature, and a body
// with no action. It does not check the signature, chain or nonce.
func DecodeTx(b []byte) (*pb.SignedTx, *pb.TxBody, error) {
	if len(b) > HardMaxTxBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes, hard limit %d", ErrTooLarge, len(b), HardMaxTxBytes)
	}
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	stx := &pb.SignedTx{}
	if err := proto.Unmarshal(b, stx); err != nil {
		return nil, nil, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if len(stx.GetBody()) == 0 {
		return nil, nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if len(stx.GetSignature()) == 0 {
		return nil, nil, fmt.Errorf("%w: no signature", ErrMalformed)
	}
	body := &pb.TxBody{}
	if err := proto.Unmarshal(stx.GetBody(), body); err != nil {
		return nil, nil, fmt.Errorf("%w: body: %v", ErrMalformed, err)
	}
	if body.GetAction() == nil {
		return nil, nil, fmt.Errorf("%w: body has no action", ErrMalformed)
	}
	return stx, body, nil
}

// TxHash is the chain suite's hash of the serialized SignedTx.
func TxHash(suite crypto.Suite, b []byte) []byte { return suite.Hash(b) }

// envelope is a transaction that passed the envelope checks.
type envelope struct {
	hash   []byte
	stx    *pb.SignedTx
	body   *pb.TxBody
	signer *pb.Identity
	next   uint64 // signer's next expected nonce
}

// checkEnvelope runs the checks shared by CheckTx and ApplyBlock, cheapest
// first: size, decode, chain id, memo, signer known and active, nonce,
// signature. exactNonce is ApplyBlock's rule (nonce == next); CheckTx
// accepts nonce >= next. A refusal comes back as a *txError; any other
// error is a storage failure. The returned envelope is partly filled on
// refusal (hash always; body and next when known). pre, if not nil, is
// the signature verdict ApplyBlock's first pass reached for tx.
func (e *Executor) checkEnvelope(st *overlay, params *pb.Params, tx *Tx, exactNonce bool, pre *preTx) (*envelope, error) {
	env := &envelope{hash: tx.Hash}
	if uint64(len(tx.Raw)) > params.GetMaxTxBytes() {
		return env, fail(pb.ResultCode_RESULT_CODE_TOO_LARGE, "transaction is %d bytes, limit %d", len(tx.Raw), params.GetMaxTxBytes())
	}
	if err := tx.Err; err != nil {
		code := pb.ResultCode_RESULT_CODE_MALFORMED
		if errors.Is(err, ErrTooLarge) {
			code = pb.ResultCode_RESULT_CODE_TOO_LARGE
		}
		return env, fail(code, "%v", err)
	}
	stx, body := tx.Signed, tx.Body
	env.stx, env.body = stx, body
	if body.GetChainId() != e.cfg.ChainID {
		return env, fail(pb.ResultCode_RESULT_CODE_WRONG_CHAIN, "transaction is for chain %q, this is %q", body.GetChainId(), e.cfg.ChainID)
	}
	if err := checkText("memo", body.GetMemo(), MaxMemoBytes, false); err != nil {
		return env, err
	}
	if ValidID(body.GetSigner()) != nil {
		return env, fail(pb.ResultCode_RESULT_CODE_UNKNOWN_SIGNER, "signer %q is not a valid identity id", body.GetSigner())
	}
	signer := &pb.Identity{}
	ok, err := st.getMsg(kIdentity(body.GetSigner()), signer)
	if err != nil {
		return env, err
	}
	if !ok {
		return env, fail(pb.ResultCode_RESULT_CODE_UNKNOWN_SIGNER, "signer %q is not registered", body.GetSigner())
	}
	if signer.GetStatus() != pb.IdentityStatus_IDENTITY_STATUS_ACTIVE {
		return env, fail(pb.ResultCode_RESULT_CODE_SIGNER_INACTIVE, "signer %s is %s", signer.GetId(), statusName(signer.GetStatus()))
	}
	env.signer = signer
	last, err := loadNonce(st, signer.GetId())
	if err != nil {
		return env, err
	}
	env.next = last + 1
	if exactNonce && body.GetNonce() != env.next || !exactNonce && body.GetNonce() < env.next {
		return env, fail(pb.ResultCode_RESULT_CODE_BAD_NONCE, "nonce %d, signer %s expects %d", body.GetNonce(), signer.GetId(), env.next)
	}
	if err := e.verifySig(env, exactNonce, pre); err != nil {
		return env, err
	}
	return env, nil
}

func loadNonce(st *overlay, signer string) (uint64, error) {
	v, ok, err := st.get(kNonce(signer))
	if err != nil || !ok {
		return 0, err
	}
	return decodeU64(kNonce(signer), v)
}

func statusName(s pb.IdentityStatus) string {
	switch s {
	case pb.IdentityStatus_IDENTITY_STATUS_ACTIVE:
		return "active"
	case pb.IdentityStatus_IDENTITY_STATUS_SUSPENDED:
		return "suspended"
	case pb.IdentityStatus_IDENTITY_STATUS_REVOKED:
		return "revoked"
	default:
		return "in no valid status"
	}
}

// CheckBlockLimits reports whether txs fit params' max_block_txs and
// max_block_bytes. ApplyBlock does not enforce them (a committed block is
// executed as it is); the proposer and consensus's block validation call
// this so that an oversized block is never voted for.
func CheckBlockLimits(params *pb.Params, txs [][]byte) error {
	if uint64(len(txs)) > params.GetMaxBlockTxs() {
		return fmt.Errorf("%w: block has %d txs, limit %d", ErrTooLarge, len(txs), params.GetMaxBlockTxs())
	}
	var n uint64
	for _, tx := range txs {
		n += uint64(len(tx))
	}
	if n > params.GetMaxBlockBytes() {
		return fmt.Errorf("%w: block txs are %d bytes, limit %d", ErrTooLarge, n, params.GetMaxBlockBytes())
	}
	return nil
}
