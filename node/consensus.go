package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/driver"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node/blocksync"
	"github.com/govnode/govnode/node/mempool"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Consensus and block-sync timing.
const (
	lagCheckPeriod = 2 * time.Second
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
	n.sync.WaitForPeers(ctx, consensus.Quorum(n.consCfg.FaultModel, len(n.consCfg.Validators))-1, startPeerWait)
	for {
		n.syncing.Store(true)
		if err := n.sync.CatchUp(ctx); err != nil {
			return err
		}
		n.syncing.Store(false)
		if err := n.runDriver(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !errors.Is(err, errFellBehind) {
				return err
			}
			n.log.Info("fell behind the network: catching up by block sync")
		}
	}
}

var errFellBehind = errors.New("fell behind")

// startPeerWait bounds the wait for peers at start.
const startPeerWait = 5 * time.Second

// runDriver runs one consensus driver until ctx ends, the driver fails, or
// the node falls behind its peers.
func (n *Node) runDriver(ctx context.Context) error {
	drv, err := driver.New(n.consCfg, n.signer, driver.Deps{
		TickInterval: tickInterval,
		Transport:    n.transport,
		Store:        n.safety,
		Executor:     n.app,
		Mempool:      mempoolAdapter{n},
		Evidence:     n.evidence,
		Logger:       n.log.With("part", "consensus"),
		Wake:         n.mempool.Woken(),
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

// runObserver follows the chain by block sync only.
func (n *Node) runObserver(ctx context.Context) error {
	t := time.NewTicker(observerPoll)
	defer t.Stop()
	for {
		if err := n.sync.CatchUp(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func committedTxsOf(cbs []consensus.CommittedBlock) []mempool.CommittedTx {
	var out []mempool.CommittedTx
	for _, cb := range cbs {
		for _, tx := range cb.Block.GetTxs() {
			c := mempool.CommittedTx{Hash: crypto.Hash(tx)}
			// A committed tx that does not decode used no nonce; it
			// changes nothing the mempool tracks.
			if _, body, err := exec.DecodeTx(tx); err == nil {
				c.Signer, c.Nonce, c.Admission = body.GetSigner(), body.GetNonce(), exec.AffectsAdmission(body)
			}
			out = append(out, c)
		}
	}
	return out
}

// mempoolAdapter is the mempool as the consensus driver sees it.
type mempoolAdapter struct{ n *Node }

var _ driver.Mempool = mempoolAdapter{}

// reapLimit is the most txs the leader may propose: the consensus core's
// limit, fixed when the driver started, or the chain's max_block_txs now
// if governance has lowered it since. Every validator checks a proposal
// against the current parameters, so a leader reaping with the old limit
// would have every block refused and stall the chain.
func reapLimit(driverMax int, p *pb.Params) int {
	if live := p.GetMaxBlockTxs(); live > 0 && uint64(live) < uint64(driverMax) {
		return int(live)
	}
	return driverMax
}

func (m mempoolAdapter) Reap(max int, exclude []*pb.Block) [][]byte {
	skip := map[string]bool{}
	for _, b := range exclude {
		for _, tx := range b.GetTxs() {
			skip[string(crypto.Hash(tx))] = true
		}
	}
	params := m.n.app.Params()
	max = reapLimit(max, params)
	maxBytes := int(params.GetMaxBlockBytes())
	txs := m.n.mempool.Reap(max+len(skip), maxBytes)
	out := txs[:0:0]
	for _, tx := range txs {
		if len(out) >= max {
			break
		}
		if !skip[string(crypto.Hash(tx))] {
			out = append(out, tx)
		}
	}
	return out
}

func (m mempoolAdapter) Update(blocks []consensus.CommittedBlock) {
	m.n.mempool.Update(committedTxsOf(blocks))
	txs, bytes := m.n.mempool.Size()
	m.n.metrics.MempoolTxs.Set(float64(txs))
	m.n.metrics.MempoolBytes.Set(float64(bytes))
}

// Pending reports txs the leader could propose now; txs behind a nonce gap
// must not keep the chain making empty blocks.
func (m mempoolAdapter) Pending() bool { return m.n.mempool.Ready() }

// recoveryPoll spaces the status rounds of recoveryView.
const recoveryPoll = 500 * time.Millisecond

// recoveryView is the floor of a validator recovering a lost safety state:
// the highest view among its committed head and the validators that
// answer a status request, once as many answer as form a quorum with this
// node. It waits for them (the driver is not running meanwhile, so the
// node casts no vote) until the node closes.
func (n *Node) recoveryView() (uint64, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-n.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	var floor uint64
	head, err := n.app.Head()
	if err != nil {
		return 0, err
	}
	if head != nil {
		hdr := new(pb.Header)
		if err := proto.Unmarshal(head.GetHeader(), hdr); err != nil {
			return 0, fmt.Errorf("decode committed head: %w", err)
		}
		floor = hdr.GetView()
	}
	want := consensus.Quorum(n.consCfg.FaultModel, len(n.consCfg.Validators)) - 1
	lastLog := time.Now()
	for {
		view, answered := n.sync.PeerViews(ctx)
		if answered >= want {
			return max(floor, view), nil
		}
		if time.Since(lastLog) >= 10*time.Second {
			n.log.Warn("recovering a lost safety state: waiting for validators to report their view",
				"answered", answered, "want", want)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return 0, errors.New("node closing")
		case <-time.After(recoveryPoll):
		}
	}
}
