package mempool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Re-gossip of waiting txs: a tx is published again once it has waited
// regossipAge since it was last gossiped (gossip drops repeats it saw
// within p2p's SeenTTL, which is shorter).
const (
	regossipAge    = 45 * time.Second
	regossipPeriod = 5 * time.Second
	regossipMax    = 512
)

// Publisher publishes on a gossip topic (*p2p.Host).
type Publisher interface {
	Publish(ctx context.Context, topic p2p.TopicKind, data []byte) error
}

// Refusal is the checker's refusal of a tx, with the state machine's code
// (blockexec.TxRefusal).
type Refusal interface {
	error
	ResultCode() pb.ResultCode
}

// Gossip connects a mempool to the tx topic: txs submitted through the API
// are admitted and published, gossiped txs are admitted by the topic's
// validator, and txs that wait are published again.
type Gossip struct {
	Pool *Mempool
	Host Publisher
	// Submitted is called after a submitted tx is admitted (the mempool
	// gauges); Sent after every publication (a test build's faults).
	Submitted func()
	Sent      func(tx []byte)
	Log       *slog.Logger
}

// Validate is the gossip validator of the tx topic: the mempool's
// admission. A tx we already hold is accepted (it may be ours, published
// after admission); a stale one is ignored; an invalid one rejected, which
// penalises the peer that relayed it.
func (g *Gossip) Validate(ctx context.Context, data []byte) error {
	hash, err := g.Pool.Add(data)
	switch {
	case err == nil, errors.Is(err, ErrDuplicateTx):
		g.Pool.MarkGossiped(hash, time.Now())
		return nil
	// Refusals that depend on this node (its committed state, its fill,
	// its own mempool.max_tx_bytes, which may be below the chain's limit)
	// prove nothing against the peer that relayed the tx: ignored.
	case errors.Is(err, ErrStaleNonce), errors.Is(err, ErrNonceTaken), errors.Is(err, ErrMempoolFull), errors.Is(err, ErrNonceTooFar),
		errors.Is(err, ErrTxTooLarge), StateDependent(err):
		return fmt.Errorf("%w: %v", p2p.ErrIgnore, err)
	default:
		return err
	}
}

// StateDependent reports whether the checker refused a tx for what this
// node's committed state says: a nonce used since, a signer not registered
// here yet or suspended since, a role changed, a size limit changed, a
// grant revoked or expired since (CONSENT_REQUIRED), a record erased or
// revoked since (CONFLICT). The
// peer that gossiped it may have checked it at another height, so it
// proves nothing against the peer and must not cost it score: a few
// rejected messages graylist a peer for minutes, and an honest validator
// then drops out of the quorum (a chaos schedule stalled on it). A bad
// signature stays a rejection: only a key rotation racing the gossip makes
// an honest peer send one, and one rejection costs it little.
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

// Submit admits a tx from the API and gossips it.
func (g *Gossip) Submit(ctx context.Context, tx []byte) ([]byte, error) {
	hash, err := g.Pool.Add(tx)
	if err != nil {
		return hash, err
	}
	g.Submitted()
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	g.Pool.MarkGossiped(hash, time.Now())
	if err := g.Host.Publish(pctx, p2p.TopicTx, tx); err != nil {
		// The tx is in our mempool and reaches the chain through our own
		// proposals or a later gossip; the client need not resubmit.
		g.Log.Debug("gossip tx", "err", err)
	}
	g.Sent(tx)
	return hash, nil
}

// Run publishes txs that wait in the mempool without committing, and
// expires queued ones, until ctx ends.
func (g *Gossip) Run(ctx context.Context) {
	t := time.NewTicker(regossipPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		// Queued txs (behind a nonce gap) expire here, so one goes
		// between queued_ttl_ms and that plus regossipPeriod after it
		// was first queued.
		if k := g.Pool.Expire(now); k > 0 {
			g.Log.Debug("expired queued txs", "txs", k)
		}
		for _, tx := range g.Pool.Regossip(now.Add(-regossipAge), now, regossipMax) {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if err := g.Host.Publish(pctx, p2p.TopicTx, tx); err != nil {
				g.Log.Debug("re-gossip tx", "err", err)
			}
			cancel()
			g.Sent(tx)
		}
	}
}
