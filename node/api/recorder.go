package api

// The access recorder (docs/ARCHITECTURE.md §6, "Who can read what"):
// before the API releases protected content it puts one access entry per
// release on chain, in a RecordAccesses tx signed by this node's validator
// identity, and waits until that tx is committed. Releases asked for
// while a tx is in flight wait and go together in the next one (group
// commit), so a busy node pays one commit for many reads instead of one
// commit each. One tx is in flight at a time: they share the identity's
// nonce sequence.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node/mempool"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// accessCommitWait bounds the wait for one RecordAccesses tx to commit.
const accessCommitWait = 30 * time.Second

// maxAccessQueue bounds the releases waiting for their access entry, and
// maxCallerQueue those of one caller (two full txs): past either, a release
// is refused with ResourceExhausted, so one caller following the stream
// from height 1 cannot hold every other reader off.
const (
	maxAccessQueue = 4096
	maxCallerQueue = 2 * exec.MaxAccessesPerTx
)

// AccessSigner is the identity a node records accesses with.
type AccessSigner interface {
	// AccessSigner returns the identity that signs this node's
	// RecordAccesses txs (its department's validator identity,
	// exec.ValidatorIdentityID) and its key, as committed state r has
	// them; an error when the node has none (an observer, or an identity
	// keyed by none of its keys).
	AccessSigner(r exec.Reader) (id string, key crypto.PrivateKey, err error)
}

// errNoRecorder: this node cannot put accesses on chain.
var errNoRecorder = errors.New("this node records no accesses (it is not a member department's validator node): ask a validator node for protected content")

// accessGroup is the accesses of one release (one QueryRecord, one batch
// of a stream): they go into one tx together.
type accessGroup struct {
	caller   string
	accesses []*pb.ContentAccess
	done     chan accessOutcome // buffered, 1
}

type accessOutcome struct {
	receipt *pb.AccessReceipt
	err     error
}

type accessRecorder struct {
	s      *Server
	signer AccessSigner

	mu       sync.Mutex
	queue    []*accessGroup
	queued   int
	byCaller map[string]int // queued accesses per caller
	running  bool
}

// record puts accesses on chain in one tx and returns its receipt once
// it is committed. The error is a connect error: PermissionDenied or
// NotFound when the state machine refused an access, Unavailable or
// DeadlineExceeded when it could not be committed.
func (ar *accessRecorder) record(ctx context.Context, accesses []*pb.ContentAccess) (*pb.AccessReceipt, error) {
	if ar == nil || ar.signer == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errNoRecorder)
	}
	if len(accesses) == 0 || len(accesses) > exec.MaxAccessesPerTx {
		return nil, internal(fmt.Errorf("access group of %d, want 1..%d", len(accesses), exec.MaxAccessesPerTx))
	}
	caller := accesses[0].GetAccessorId()
	g := &accessGroup{caller: caller, accesses: accesses, done: make(chan accessOutcome, 1)}
	ar.mu.Lock()
	if ar.queued+len(accesses) > maxAccessQueue {
		ar.mu.Unlock()
		return nil, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("%d releases are waiting for their access entries: try again shortly", ar.queued))
	}
	if n := ar.byCaller[caller]; n+len(accesses) > maxCallerQueue {
		ar.mu.Unlock()
		return nil, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("%d of %s's releases are waiting for their access entries (at most %d): try again shortly", n, caller, maxCallerQueue))
	}
	if ar.byCaller == nil {
		ar.byCaller = map[string]int{}
	}
	ar.queue = append(ar.queue, g)
	ar.queued += len(accesses)
	ar.byCaller[caller] += len(accesses)
	if !ar.running {
		ar.running = true
		go ar.run()
	}
	ar.mu.Unlock()
	select {
	case out := <-g.done:
		return out.receipt, out.err
	case <-ctx.Done():
		// The tx may still commit: the access is then logged although
		// nothing was released, which errs on the citizen's side.
		return nil, connect.NewError(connect.CodeDeadlineExceeded, fmt.Errorf("access entry not committed before the request's deadline: %w", ctx.Err()))
	}
}

// take removes the groups that fit in one tx, in arrival order; it stops
// the loop when the queue is empty.
func (ar *accessRecorder) take() []*accessGroup {
	ar.mu.Lock()
	defer ar.mu.Unlock()
	n, total := 0, 0
	for n < len(ar.queue) && total+len(ar.queue[n].accesses) <= exec.MaxAccessesPerTx {
		total += len(ar.queue[n].accesses)
		n++
	}
	if n == 0 {
		ar.running = false
		return nil
	}
	out := ar.queue[:n:n]
	ar.queue = append([]*accessGroup(nil), ar.queue[n:]...)
	ar.queued -= total
	for _, g := range out {
		if ar.byCaller[g.caller] -= len(g.accesses); ar.byCaller[g.caller] <= 0 {
			delete(ar.byCaller, g.caller)
		}
	}
	return out
}

func (ar *accessRecorder) run() {
	for {
		groups := ar.take()
		if groups == nil {
			return
		}
		receipt, err := ar.commit(groups)
		if err != nil && len(groups) > 1 && refusedByChain(err) {
			// One group's access was refused (a grant that expired by
			// block time, a record erased meanwhile) and the tx failed
			// whole: each group goes again on its own, so the others are
			// released and a refusal reaches only its own caller.
			for _, g := range groups {
				receipt, err := ar.commit([]*accessGroup{g})
				g.done <- accessOutcome{receipt: receipt, err: err}
			}
			continue
		}
		for _, g := range groups {
			g.done <- accessOutcome{receipt: receipt, err: err}
		}
	}
}

// refusedByChain: the state machine refused the access tx (in a block or
// at admission) for what one of its accesses names.
func refusedByChain(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodePermissionDenied, connect.CodeNotFound, connect.CodeInvalidArgument:
		return true
	}
	return false
}

// commit signs, submits and waits for one RecordAccesses tx of groups.
func (ar *accessRecorder) commit(groups []*accessGroup) (*pb.AccessReceipt, error) {
	var accesses []*pb.ContentAccess
	for _, g := range groups {
		accesses = append(accesses, g.accesses...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), accessCommitWait)
	defer cancel()
	go func() {
		select {
		case <-ar.s.d.Done:
			cancel()
		case <-ctx.Done():
		}
	}()
	var hash []byte
	// The identity's other pending txs (the evidence pool signs with it
	// too; an access tx that outlived its wait) hold the nonces after the
	// committed one: the next free one is taken, up to maxNonceSkips
	// ahead (the mempool queues a tx behind a pending one of its signer).
	var skip uint64
	for attempt := 0; ; attempt++ {
		tx, err := ar.sign(accesses, skip)
		if err != nil {
			return nil, connect.NewError(connect.CodeFailedPrecondition, err)
		}
		hash, err = ar.s.d.Submit(ctx, tx)
		if err == nil {
			break
		}
		switch {
		case attempt >= maxNonceSkips:
		case errors.Is(err, mempool.ErrNonceTaken):
			skip++
			continue
		case errors.Is(err, mempool.ErrStaleNonce):
			skip = 0 // committed meanwhile: the nonce is read again
			continue
		}
		return nil, accessSubmitErr(err)
	}
	loc, res, err := ar.s.WaitForTx(ctx, hash)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, connect.NewError(connect.CodeDeadlineExceeded, fmt.Errorf("access entry tx %x not committed within %s", hash, accessCommitWait))
		}
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("access entry tx %x: %w", hash, err))
	}
	if res.GetCode() != pb.ResultCode_RESULT_CODE_OK {
		return nil, accessResultErr(res.GetCode(), fmt.Errorf("access entry refused at height %d: %s", loc.Height, res.GetReason()))
	}
	return &pb.AccessReceipt{TxHash: hash, Height: loc.Height}, nil
}

// maxNonceSkips bounds how far past the committed nonce the recorder looks
// for a free one.
const maxNonceSkips = 16

// sign makes the RecordAccesses tx with the signer's next nonce plus skip.
func (ar *accessRecorder) sign(accesses []*pb.ContentAccess, skip uint64) ([]byte, error) {
	r := ar.s.d.State
	id, key, err := ar.signer.AccessSigner(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoRecorder, err)
	}
	last, err := exec.Nonce(r, id)
	if err != nil {
		return nil, fmt.Errorf("nonce of %s: %w", id, err)
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.TxBody{
		ChainId: ar.s.d.ChainID, Signer: id, Nonce: last + 1 + skip,
		Action: &pb.TxBody_RecordAccesses{RecordAccesses: &pb.RecordAccesses{Accesses: accesses}},
	})
	if err != nil {
		return nil, fmt.Errorf("encode access tx: %w", err)
	}
	sig, err := key.Sign(crypto.TxSignBytes(ar.s.d.ChainID, body))
	if err != nil {
		return nil, fmt.Errorf("sign access tx: %w", err)
	}
	return proto.Marshal(&pb.SignedTx{Body: body, Signature: sig})
}

// accessSubmitErr maps the admission's refusal of an access tx.
func accessSubmitErr(err error) error {
	var ref Refusal
	if errors.As(err, &ref) {
		return accessResultErr(ref.ResultCode(), fmt.Errorf("access entry refused: %w", err))
	}
	return submitErr(err)
}

// accessResultErr maps the state machine's refusal of an access.
func accessResultErr(code pb.ResultCode, err error) error {
	switch code {
	case pb.ResultCode_RESULT_CODE_UNAUTHORIZED, pb.ResultCode_RESULT_CODE_CONSENT_REQUIRED, pb.ResultCode_RESULT_CODE_SIGNER_INACTIVE:
		return connect.NewError(connect.CodePermissionDenied, err)
	case pb.ResultCode_RESULT_CODE_NOT_FOUND:
		return connect.NewError(connect.CodeNotFound, err)
	case pb.ResultCode_RESULT_CODE_INVALID_ARGUMENT, pb.ResultCode_RESULT_CODE_MALFORMED:
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	return connect.NewError(connect.CodeFailedPrecondition, err)
}
