package node

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/driver"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/node/blocksync"
	"github.com/govnode/govnode/node/mempool"
)

// Consensus and block-sync timing.
const (
	lagCheckPeriod = 2 * time.Second
	// maxPace bounds how long a leader waits between proposals to let a
	// block grow (consensus/driver pace.go).
	maxPace = 20 * time.Millisecond
	// observerPoll is how often an observer asks peers for new blocks.
	observerPoll = 500 * time.Millisecond
)

// runConsensus runs the consensus driver, and block sync around it: first
// catch up with peers, then run consensus until the node falls far behind
// (then sync again) or ctx ends. An observer only syncs.
func (n *Node) runConsensus(ctx context.Context) error {
	if n.signer == nil {
		return n.runObserver(ctx)
	}
	// At start, give the p2p layer a moment to connect so that a
	// restarted validator catches up by block sync rather than by fetching
	// blocks one proposal at a time.
	n.syncing.Store(true)
	if ep, err := n.app.Epoch(); err == nil {
		n.sync.WaitForPeers(ctx, consensus.Quorum(ep.FaultModel, len(ep.Validators))-1, startPeerWait)
	}
	// Catching up, as readiness reports it: the first catch-up, the one
	// after falling behind, and any that lasts past observerSlowSync; not
	// the polls of a validator out of the set in force, which made it
	// flap (trackSync).
	surely := true
	for {
		if err := trackSync(&n.syncing, surely, observerSlowSync, func() error { return n.sync.CatchUp(ctx) }); err != nil {
			return err
		}
		surely = false
		if !n.inForce() {
			// Not (or not yet, or no longer) in the set in force: follow
			// by block sync, and join when a governed change names this
			// node's key (ARCHITECTURE.md §4, "Reconfiguration").
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(observerPoll):
			}
			continue
		}
		if err := n.runDriver(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !errors.Is(err, errFellBehind) {
				return err
			}
			n.log.Info("fell behind the network: catching up by block sync")
			surely = true
		}
	}
}

var errFellBehind = errors.New("fell behind")

// inForce reports whether the set in force above the ledger's head names
// one of this node's validator keys.
func (n *Node) inForce() bool {
	ep, err := n.app.Epoch()
	if err != nil {
		return false
	}
	for _, v := range ep.Validators {
		for _, k := range n.validatorKeys() {
			if crypto.PublicKeyEqual(v, k.Public()) {
				return true
			}
		}
	}
	return false
}

// validatorKeys are the consensus keys this node holds: its validator
// key, then pending ones put in place for a governed rotation.
func (n *Node) validatorKeys() []consensus.Signer {
	keys := []consensus.Signer{n.signer}
	for _, k := range n.pendingKeys {
		keys = append(keys, k)
	}
	return keys
}

// startPeerWait bounds the wait for peers at start.
const startPeerWait = 5 * time.Second

// runDriver runs one consensus driver until ctx ends, the driver fails, or
// the node falls behind its peers.
func (n *Node) runDriver(ctx context.Context) error {
	drv, err := driver.New(n.consCfg, n.signer, driver.Deps{
		TickInterval: tickInterval,
		Transport:    n.transport,
		Store:        n.safety,
		Executor:     timedExecutor{n.app},
		Mempool: mempool.ForDriver{Pool: n.mempool, ParamsAt: n.app.ParamsAt, Updated: func() {
			txs, bytes := n.mempool.Size()
			n.metrics.MempoolTxs.Set(float64(txs))
			n.metrics.MempoolBytes.Set(float64(bytes))
		}, Log: n.log.With("part", "mempool")},
		Evidence: n.evidence,
		Logger:   n.log.With("part", "consensus"),
		Wake:     n.mempool.Woken(),
		Keys:     n.validatorKeys()[1:],
		// Deadlines are due by the clock that stamps this node's block
		// times (the executor is a driver.Deadlines).
		Now:     n.app.Now,
		MaxPace: maxPace,
	})
	if err != nil {
		return err
	}
	dctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	var lag sync.WaitGroup
	lag.Add(1)
	go func() {
		defer lag.Done()
		ours, _ := n.store.Height()
		watch := blocksync.NewLagWatch(ours)
		t := time.NewTicker(lagCheckPeriod)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ours, _ := n.store.Height()
			best, _ := n.sync.BestPeer(dctx)
			if watch.FellBehind(ours, best) {
				cancel(errFellBehind)
				return
			}
		}
	}()
	err = drv.RunWithStatus(dctx, n.setStatus)
	cause := context.Cause(dctx)
	close(done)
	cancel(nil)
	lag.Wait() // it reads the store, which Close closes after this returns
	if errors.Is(cause, errFellBehind) && ctx.Err() == nil {
		return errFellBehind
	}
	return err
}

func (n *Node) setStatus(st consensus.Status) {
	// Views change only through timeout certificates (ARCHITECTURE.md §4), so each
	// step up is a view change.
	if prev := n.status.Load(); prev == nil || st.View != prev.View {
		if prev != nil && st.View > prev.View {
			n.metrics.ViewChanges.Add(float64(st.View - prev.View))
			n.log.Info("view change", "view", st.View, "leader", st.Leader, "committed", st.CommittedHeight,
				"high_qc_view", st.HighQCView, "high_qc_height", st.HighQCHeight)
		}
		n.metrics.View.Set(float64(st.View))
	}
	n.status.Store(&st)
}

// runObserver follows the chain by block sync only. It waits a moment
// for a peer first, as a validator does, so that its first catch-up is
// not a no-op that reports it caught up with nobody.
func (n *Node) runObserver(ctx context.Context) error {
	n.syncing.Store(true)
	n.sync.WaitForPeers(ctx, 1, startPeerWait)
	return observe(ctx, n.sync.CatchUp, &n.syncing, observerPoll, observerSlowSync)
}

// observerSlowSync: a catch-up of an observer that lasts longer than this
// is catching up from behind, not fetching the few blocks committed since
// its last poll (milliseconds).
const observerSlowSync = 2 * time.Second

// observe runs catchUp every poll until ctx ends or it fails, and keeps
// syncing (what /readyz and the readiness metrics report as catching up
// by block sync) true during the first catch-up and during any that lasts
// longer than slow. An observer never set it, so one that started far
// behind, or came back after a partition, reported itself ready while it
// served state thousands of blocks old.
func observe(ctx context.Context, catchUp func(context.Context) error, syncing *atomic.Bool, poll, slow time.Duration) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	for first := true; ; first = false {
		if err := trackSync(syncing, first, slow, func() error { return catchUp(ctx) }); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// trackSync runs the catch-up f with syncing true throughout when surely,
// else from when it has lasted slow, and false once it returns.
func trackSync(syncing *atomic.Bool, surely bool, slow time.Duration, f func() error) error {
	var mu sync.Mutex
	done := false
	if surely {
		syncing.Store(true)
	} else {
		mark := time.AfterFunc(slow, func() {
			mu.Lock()
			defer mu.Unlock()
			if !done {
				syncing.Store(true)
			}
		})
		defer mark.Stop()
	}
	err := f()
	mu.Lock()
	done = true
	syncing.Store(false)
	mu.Unlock()
	return err
}

// recoveryView is the view floor of a validator recovering a lost safety
// state (home.RecoveringSafety): see blocksync.Syncer.ViewFloor.
func (n *Node) recoveryView() (uint64, error) {
	head, err := n.app.Head()
	if err != nil {
		return 0, err
	}
	// The set in force now: governance may have changed it since start.
	vs, _ := n.app.Validators()
	return n.sync.ViewFloor(n.done, head, consensus.Quorum(consensus.FaultModel(vs.GetFaultModel()), len(vs.GetValidators()))-1)
}
