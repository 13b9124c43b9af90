package mempool

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/govnode/govnode/ledger/exec"
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
	// cache). It judges nothing: admission does. It returns the txs hashed
	// and decoded (nil if it could not), which admission then takes as
	// they are (Mempool.AddTx).
	Preverify func(txs [][]byte) []*exec.Tx
	// Submitted is called after a submitted tx is admitted (the mempool
	// gauges); Sent after every tx handed to Host (a test build's faults).
	Submitted func()
	Sent      func(tx []byte)
	Log       *slog.Logger
}

// Provable reports whether the checker's refusal of a tx that a peer sent
// proves the peer wrong, whatever height either node is at: only a tx that
// does not decode (MALFORMED) or is for another chain (WRONG_CHAIN). No
// honest node admits such a tx, so it never sends one; AdmitBatch rejects
// it, which penalises the peer's tx score (p2p, penalty.go).
//
// Everything else proves nothing and is ignored, because the peer checked
// the tx against its own committed state, which may be a block ahead of or
// behind ours: a nonce used since, a signer registered or suspended since,
// a role or grant changed, a size limit changed, a record or tender that
// exists now (ALREADY_EXISTS: a client sent the same tx to two nodes
// around a commit) or was erased since (CONFLICT), an argument the
// current parameters refuse (INVALID_ARGUMENT), and any code added later.
// A checker error that is no Refusal (a storage read failed here) says
// nothing about the peer either. Before issue 20's review the rule was
// the other way round (a list of state-dependent codes), and an honest
// validator racing a commit was graylisted (ARCHITECTURE.md §7).
//
// BAD_SIGNATURE is not provable: a key rotation committed here but not yet
// at the peer (or the other way round) makes an honest peer send a tx
// whose signature does not verify with the key this node has registered.
// Penalising it would protect nothing either: every tx of a batch costs
// its signature verification (Preverify) before any verdict, whether it
// then fails on its signature or on a stale nonce, which costs nothing.
//
// MALFORMED includes an action this node's software does not know: in a
// consortium that upgrades node by node, a newer node's txs cost it tx
// score at the older ones, which only stops its tx batches there, never
// its consensus messages (p2p keeps the two scores apart).
func Provable(err error) bool {
	var r Refusal
	if !errors.As(err, &r) {
		return false
	}
	switch r.ResultCode() {
	case pb.ResultCode_RESULT_CODE_MALFORMED, pb.ResultCode_RESULT_CODE_WRONG_CHAIN:
		return true
	}
	return false
}

// StateDependent reports whether err, a refusal of a tx, may come from what
// this node's state says rather than from the tx itself: !Provable(err).
func StateDependent(err error) bool { return !Provable(err) }

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
