package mempool

import (
	"context"
	"errors"
	"log/slog"
	"time"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Re-sending of waiting txs: a tx is sent again once it has waited
// resendAge since it was last sent or received (a validator that was not
// connected when it was first sent, a restarted one, missed it).
const (
	resendAge    = 45 * time.Second
	resendPeriod = 5 * time.Second
	resendMax    = 512
)

// Sender sends a tx this node admitted to every validator's node
// (*p2p.Host's SendTx: batched, once to each, never relayed further). It
// must not block; a tx it drops reaches the validators through a later
// re-send, or this node's own proposals.
type Sender interface {
	SendTx(tx []byte) error
}

// Refusal is the checker's refusal of a tx, with the state machine's code
// (blockexec.TxRefusal).
type Refusal interface {
	error
	ResultCode() pb.ResultCode
}

// Fanout connects a mempool to the validators (ARCHITECTURE.md §3 step 4):
// txs submitted through the API are admitted and sent to every validator's
// node; batches of txs that other nodes sent are admitted (AdmitBatch, the
// p2p layer's tx validator); txs that wait are sent again.
type Fanout struct {
	Pool *Mempool
	Host Sender
	// Preverify, if set, verifies the signatures of a batch of txs as one
	// batch and remembers those that verify, so that admitting each tx
	// finds its verdict (exec.PreverifyTxs with the node's signature
	// cache). It judges nothing: admission does.
	Preverify func(txs [][]byte)
	// Submitted is called after a submitted tx is admitted (the mempool
	// gauges); Sent after every tx handed to Host (a test build's faults).
	Submitted func()
	Sent      func(tx []byte)
	Log       *slog.Logger
}

// StateDependent reports whether the checker refused a tx for what this
// node's committed state says: a nonce used since, a signer not registered
// here yet or suspended since, a role changed, a size limit changed, a
// grant revoked or expired since (CONSENT_REQUIRED), a record erased or
// revoked since (CONFLICT). The
// peer that sent it may have checked it at another height, so it proves
// nothing against the peer and must not cost it score: a few rejected
// frames graylist a peer for minutes, and an honest validator then drops
// out of the quorum (a chaos schedule stalled on it). A bad signature
// stays a rejection: only a key rotation racing the tx makes an honest
// peer send one, and one rejection costs it little.
func StateDependent(err error) bool {
	var r Refusal
	if !errors.As(err, &r) {
		return false
	}
	switch r.ResultCode() {
	case pb.ResultCode_RESULT_CODE_BAD_NONCE, pb.ResultCode_RESULT_CODE_UNKNOWN_SIGNER,
		pb.ResultCode_RESULT_CODE_SIGNER_INACTIVE, pb.ResultCode_RESULT_CODE_UNAUTHORIZED,
		pb.ResultCode_RESULT_CODE_NOT_FOUND, pb.ResultCode_RESULT_CODE_TOO_LARGE,
		pb.ResultCode_RESULT_CODE_CONSENT_REQUIRED, pb.ResultCode_RESULT_CODE_CONFLICT:
		return true
	}
	return false
}

// Submit admits a tx from the API and sends it to the validators.
func (f *Fanout) Submit(ctx context.Context, tx []byte) ([]byte, error) {
	hash, err := f.Pool.Add(tx)
	if err != nil {
		return hash, err
	}
	f.Submitted()
	f.Pool.MarkGossiped(hash, time.Now())
	f.send(tx)
	return hash, nil
}

func (f *Fanout) send(tx []byte) {
	if err := f.Host.SendTx(tx); err != nil {
		// The tx is in our mempool and reaches the chain through our own
		// proposals or a later re-send; the client need not resubmit.
		f.Log.Debug("send tx", "err", err)
	}
	f.Sent(tx)
}

// Run sends again txs that wait in the mempool without committing, and
// expires queued ones, until ctx ends.
func (f *Fanout) Run(ctx context.Context) {
	t := time.NewTicker(resendPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		// Queued txs (behind a nonce gap) expire here, so one goes
		// between queued_ttl_ms and that plus resendPeriod after it was
		// first queued.
		if k := f.Pool.Expire(now); k > 0 {
			f.Log.Debug("expired queued txs", "txs", k)
		}
		for _, tx := range f.Pool.Regossip(now.Add(-resendAge), now, resendMax) {
			f.send(tx)
		}
	}
}
