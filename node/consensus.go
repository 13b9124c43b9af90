package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/driver"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/blockexec"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node/mempool"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Block sync tuning.
const (
	// lagThreshold: a validator whose peers are this many blocks ahead, at
	// two checks in a row, stops consensus and catches up by block sync.
	lagThreshold   = 8
	lagCheckPeriod = 2 * time.Second
	// stuckChecks: a validator that commits nothing for this many checks
	// in a row while a peer is ahead catches up by block sync too.
	stuckChecks = 3
	// observerPoll is how often an observer asks peers for new blocks.
	observerPoll = 500 * time.Millisecond
	syncBatch    = 64
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
	n.waitForPeers(ctx, startPeerWait)
	for {
		n.syncing.Store(true)
		if err := n.catchUp(ctx); err != nil {
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

// lagWatch decides, from one check every lagCheckPeriod, when a validator
// should leave consensus and catch up by block sync: when its best peer is
// more than lagThreshold blocks ahead at two checks in a row, or when a
// peer is ahead and this node has committed nothing for stuckChecks checks
// (a node a few blocks behind that no longer hears the consensus, because
// its peers' gossip scoring dropped it or it missed the proposals, would
// otherwise wait forever on an idle chain).
type lagWatch struct {
	behind, stuck int
	last          uint64 // our height at the previous check
}

func (w *lagWatch) fellBehind(ours, best uint64) bool {
	if best > ours+lagThreshold {
		w.behind++
	} else {
		w.behind = 0
	}
	if best > ours && ours == w.last {
		w.stuck++
	} else {
		w.stuck = 0
	}
	w.last = ours
	return w.behind >= 2 || w.stuck >= stuckChecks
}

// startPeerWait bounds the wait for peers at start.
const startPeerWait = 5 * time.Second

// waitForPeers waits until enough of the other validators to form a quorum
// with us answer a status request, or d passes.
func (n *Node) waitForPeers(ctx context.Context, d time.Duration) {
	want := consensus.Quorum(n.consCfg.FaultModel, len(n.consCfg.Validators)) - 1
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, _, answered := n.peerHeights(ctx); answered >= want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

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
		watch := lagWatch{last: ours}
		t := time.NewTicker(lagCheckPeriod)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ours, _ := n.store.Height()
			best, _ := n.bestPeer(dctx)
			if watch.fellBehind(ours, best) {
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
	// Views change only through timeout certificates (DESIGN §4), so each
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
		if err := n.catchUp(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// catchUp takes committed blocks from peers until no peer is ahead.
func (n *Node) catchUp(ctx context.Context) error {
	for {
		progressed, err := n.syncOnce(ctx)
		if err != nil {
			return err
		}
		if !progressed || ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// bestPeer asks every connected peer for its status and returns the
// highest committed height of a peer on our chain, and that peer.
func (n *Node) bestPeer(ctx context.Context) (uint64, string) {
	best, id, _ := n.peerHeights(ctx)
	return best, id
}

// peerHeights is bestPeer that also counts the peers that answered.
func (n *Node) peerHeights(ctx context.Context) (best uint64, bestPeer string, answered int) {
	for _, p := range n.host.Peers() {
		if !p.Connected {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := n.host.RequestStatus(sctx, p.ID)
		cancel()
		if err != nil {
			n.log.Debug("status request", "peer", p.ID.String(), "err", err)
			continue
		}
		if st.GetChainId() != n.genesis.GetChainId() || !bytes.Equal(st.GetGenesisHash(), n.genesisHash) {
			n.log.Warn("peer is on another chain", "peer", p.ID.String(), "chain_id", st.GetChainId())
			continue
		}
		answered++
		if st.GetHeight() > best {
			best, bestPeer = st.GetHeight(), p.ID.String()
		}
	}
	return best, bestPeer, answered
}

// syncOnce takes one batch of committed blocks from the most advanced
// peer, verifying each against its commit certificate and the validator
// set, and commits them. It reports whether it committed any.
func (n *Node) syncOnce(ctx context.Context) (bool, error) {
	best, bestID := n.bestPeer(ctx)
	ours, _ := n.store.Height()
	if best <= ours || bestID == "" {
		return false, nil
	}
	pid, ok := n.peerByString(bestID)
	if !ok {
		return false, nil
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	blocks, err := n.host.RequestBlocks(rctx, pid, ours+1, min(best, ours+syncBatch))
	if err != nil {
		n.log.Debug("block sync", "peer", bestID, "err", err)
		return false, nil
	}
	cbs, err := n.verifySynced(ours, blocks)
	if len(cbs) == 0 {
		if err != nil {
			n.log.Warn("block sync: refused blocks", "peer", bestID, "err", err)
		}
		return false, nil
	}
	if err := n.app.Commit(cbs); err != nil {
		return false, err
	}
	n.mempool.Update(committedTxsOf(cbs))
	n.metrics.SyncedBlocks.Add(float64(len(cbs)))
	return true, nil
}

// verifySynced checks blocks ours+1.. from a peer: each extends the one
// before by parent hash, and is proven committed by a certificate, its own
// or a later block's through the chain of headers in between. It returns
// the verified prefix, and why it stopped early.
func (n *Node) verifySynced(ours uint64, blocks []*pb.CommittedBlock) ([]consensus.CommittedBlock, error) {
	var prevHash []byte
	if ours > 0 {
		h, _, err := n.store.BlockByHeight(ours)
		if err != nil {
			return nil, err
		}
		prevHash = h[:]
	} else {
		prevHash = n.genesisHash
	}
	hdrs := make([]*pb.Header, len(blocks))
	for i, cb := range blocks {
		hdrs[i] = &pb.Header{}
		if err := proto.Unmarshal(cb.GetBlock().GetHeader(), hdrs[i]); err != nil {
			return nil, fmt.Errorf("block %d: header: %w", ours+1+uint64(i), err)
		}
	}
	var out []consensus.CommittedBlock
	for i, cb := range blocks {
		h := ours + 1 + uint64(i)
		hdr := hdrs[i]
		hash := crypto.Hash(cb.GetBlock().GetHeader())
		if hdr.GetHeight() != h || !bytes.Equal(hdr.GetParentHash(), prevHash) {
			return out, fmt.Errorf("block %d does not extend our chain", h)
		}
		cert := cb.GetCert()
		if cert.GetHeight() < h {
			return out, fmt.Errorf("block %d: certificate for lower height %d", h, cert.GetHeight())
		}
		d := cert.GetHeight() - ours - 1
		if d >= uint64(len(blocks)) {
			return out, fmt.Errorf("block %d: certificate's block %d is not in this batch", h, cert.GetHeight())
		}
		end := int(d)
		var chain [][]byte
		for j := i + 1; j <= end; j++ {
			chain = append(chain, blocks[j].GetBlock().GetHeader())
		}
		if err := consensus.VerifyCommit(n.consCfg, cb.GetBlock(), cert, chain); err != nil {
			return out, fmt.Errorf("block %d: %w", h, err)
		}
		if err := blockexec.CheckBlockTxs(cb.GetBlock(), hdr); err != nil {
			return out, fmt.Errorf("block %d: %w", h, err)
		}
		out = append(out, consensus.CommittedBlock{Height: h, Hash: hash, Block: cb.GetBlock(), Header: hdr, Cert: cert})
		prevHash = hash
	}
	return out, nil
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

func (m mempoolAdapter) Reap(max int, exclude []*pb.Block) [][]byte {
	skip := map[string]bool{}
	for _, b := range exclude {
		for _, tx := range b.GetTxs() {
			skip[string(crypto.Hash(tx))] = true
		}
	}
	params := m.n.app.Params()
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
		view, answered := n.peerViews(ctx)
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

// peerViews asks every connected validator of this chain for its status and
// returns the highest view reported and how many answered.
func (n *Node) peerViews(ctx context.Context) (view uint64, answered int) {
	for _, p := range n.host.Peers() {
		if !p.Connected || !p.Member {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := n.host.RequestStatus(sctx, p.ID)
		cancel()
		if err != nil || st.GetChainId() != n.genesis.GetChainId() || !bytes.Equal(st.GetGenesisHash(), n.genesisHash) {
			continue
		}
		answered++
		view = max(view, st.GetView())
	}
	return view, answered
}
