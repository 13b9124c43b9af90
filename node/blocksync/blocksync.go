// Package blocksync is how a node catches up: it asks its peers for their
// status, takes committed blocks by height from the most advanced one,
// accepts each only with a commit certificate that verifies against the
// validator set and chains it to the node's own head, and commits them
// (ARCHITECTURE.md §4 "Block sync"). It also tells a validator when it has
// fallen far enough behind to leave consensus and sync (LagWatch).
package blocksync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/ledger/blockexec"
	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Tuning.
const (
	// LagThreshold: a validator whose peers are this many blocks ahead, at
	// two checks in a row, stops consensus and catches up by block sync.
	LagThreshold = 8
	// stuckChecks: a validator that commits nothing for this many checks
	// in a row while a peer is ahead catches up by block sync too.
	stuckChecks = 3
	// Batch is how many blocks one request asks for.
	Batch = 64
	// statusTimeout bounds one peer's status answer, requestTimeout one
	// batch of blocks.
	statusTimeout  = 2 * time.Second
	requestTimeout = 20 * time.Second
)

// Peers is what block sync needs from the p2p host (*p2p.Host).
type Peers interface {
	Peers() []p2p.PeerInfo
	RequestStatus(ctx context.Context, p peer.ID) (*pb.SyncStatus, error)
	RequestBlocks(ctx context.Context, p peer.ID, from, to uint64) ([]*pb.CommittedBlock, error)
}

// Ledger is what block sync reads of the node's ledger (*store.Store).
type Ledger interface {
	Height() (uint64, bool)
	BlockByHeight(h uint64) ([32]byte, []byte, error)
}

// Config is a Syncer's fixed facts and collaborators.
type Config struct {
	// Consensus is the chain's consensus configuration: ChainID,
	// GenesisHash, Validators and FaultModel are what commit certificates
	// are checked against.
	Consensus consensus.Config
	// Epoch, if set, is the validator set in force above the ledger's head
	// (the block executor's): commit certificates are checked against it,
	// a governed change of it taking effect between two blocks of a batch
	// (ARCHITECTURE.md §4, "Reconfiguration"). Nil: Consensus's set.
	Epoch  func() (consensus.Epoch, error)
	Peers  Peers
	Ledger Ledger
	// Commit executes and stores verified blocks (the block executor's
	// Commit); Committed is told of them afterwards (the mempool drops
	// their txs). Synced counts them.
	Commit    func([]consensus.CommittedBlock) error
	Committed func([]consensus.CommittedBlock)
	Synced    interface{ Add(float64) }
	Logger    *slog.Logger
}

// Syncer takes committed blocks from peers. Safe for use by one goroutine
// at a time (the node's consensus goroutine, or its observer loop).
type Syncer struct {
	c Config
}

// New checks cfg's collaborators and returns a Syncer.
func New(cfg Config) (*Syncer, error) {
	if cfg.Peers == nil || cfg.Ledger == nil || cfg.Commit == nil || cfg.Committed == nil || cfg.Synced == nil || cfg.Logger == nil {
		return nil, errors.New("blocksync: New needs peers, a ledger, commit and committed callbacks, a counter and a logger")
	}
	return &Syncer{c: cfg}, nil
}

// CatchUp takes committed blocks from peers until no peer is ahead.
func (s *Syncer) CatchUp(ctx context.Context) error {
	for {
		progressed, err := s.SyncOnce(ctx)
		if err != nil {
			return err
		}
		if !progressed || ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// BestPeer asks every connected peer for its status and returns the
// highest committed height of a peer on our chain, and that peer.
func (s *Syncer) BestPeer(ctx context.Context) (uint64, string) {
	best, id, _ := s.PeerHeights(ctx)
	return best, id
}

// PeerHeights is BestPeer that also counts the peers that answered.
func (s *Syncer) PeerHeights(ctx context.Context) (best uint64, bestPeer string, answered int) {
	s.eachStatus(ctx, false, func(id peer.ID, st *pb.SyncStatus) {
		answered++
		if st.GetHeight() > best {
			best, bestPeer = st.GetHeight(), id.String()
		}
	})
	return best, bestPeer, answered
}

// PeerViews asks every connected validator of this chain for its status
// and returns the highest view reported and how many answered.
func (s *Syncer) PeerViews(ctx context.Context) (view uint64, answered int) {
	s.eachStatus(ctx, true, func(_ peer.ID, st *pb.SyncStatus) {
		answered++
		view = max(view, st.GetView())
	})
	return view, answered
}

// eachStatus calls fn with the status of every connected peer (members
// only, if membersOnly) that answers in time and is on this chain.
func (s *Syncer) eachStatus(ctx context.Context, membersOnly bool, fn func(peer.ID, *pb.SyncStatus)) {
	cc := &s.c.Consensus
	for _, p := range s.c.Peers.Peers() {
		if !p.Connected || (membersOnly && !p.Member) {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, statusTimeout)
		st, err := s.c.Peers.RequestStatus(sctx, p.ID)
		cancel()
		if err != nil {
			s.c.Logger.Debug("status request", "peer", p.ID.String(), "err", err)
			continue
		}
		if st.GetChainId() != cc.ChainID || !bytes.Equal(st.GetGenesisHash(), cc.GenesisHash) {
			s.c.Logger.Warn("peer is on another chain", "peer", p.ID.String(), "chain_id", st.GetChainId())
			continue
		}
		fn(p.ID, st)
	}
}

// WaitForPeers waits until want peers answer a status request, or d
// passes, or ctx ends.
func (s *Syncer) WaitForPeers(ctx context.Context, want int, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, _, answered := s.PeerHeights(ctx); answered >= want {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// SyncOnce takes one batch of committed blocks from the most advanced
// peer, verifying each against its commit certificate and the validator
// set, and commits them. It reports whether it committed any.
func (s *Syncer) SyncOnce(ctx context.Context) (bool, error) {
	best, bestID := s.BestPeer(ctx)
	ours, _ := s.c.Ledger.Height()
	if best <= ours || bestID == "" {
		return false, nil
	}
	pid, err := peer.Decode(bestID)
	if err != nil {
		return false, nil
	}
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	blocks, err := s.c.Peers.RequestBlocks(rctx, pid, ours+1, min(best, ours+Batch))
	if err != nil {
		s.c.Logger.Debug("block sync", "peer", bestID, "err", err)
		return false, nil
	}
	// Verify against the set in force, commit, and go on with the rest
	// of the batch: the set in force may change after a committed block,
	// and the blocks after it are checked against the new one.
	var done []consensus.CommittedBlock
	for len(blocks) > 0 {
		before, _ := s.config()
		cbs, err := s.Verify(ours, blocks)
		if len(cbs) == 0 {
			if err != nil {
				s.c.Logger.Warn("block sync: refused blocks", "peer", bestID, "err", err)
			}
			break
		}
		if err := s.c.Commit(cbs); err != nil {
			return false, err
		}
		// The executor stops after a block that ends an epoch.
		now, _ := s.c.Ledger.Height()
		if now <= ours {
			break
		}
		n := int(now - ours)
		done = append(done, cbs[:min(n, len(cbs))]...)
		blocks, ours = blocks[min(n, len(blocks)):], now
		if after, _ := s.config(); after.Epoch != before.Epoch {
			continue // the rest is checked against the set now in force
		}
		if n >= len(cbs) && err != nil {
			s.c.Logger.Warn("block sync: refused blocks", "peer", bestID, "err", err)
			break
		}
	}
	if len(done) == 0 {
		return false, nil
	}
	s.c.Committed(done)
	s.c.Synced.Add(float64(len(done)))
	return true, nil
}

// config is the consensus configuration commit certificates above the
// ledger's head are checked against.
func (s *Syncer) config() (consensus.Config, error) {
	if s.c.Epoch == nil {
		return s.c.Consensus, nil
	}
	ep, err := s.c.Epoch()
	if err != nil {
		return consensus.Config{}, err
	}
	return s.c.Consensus.WithEpoch(ep, -1), nil
}

// Verify checks blocks ours+1.. from a peer: each extends the one before
// by parent hash, and is proven committed by a certificate, its own or a
// later block's through the chain of headers in between: the chain the
// certificate carries (the ledger stores one with every block committed
// indirectly: an epoch's last block may be committed by a block of the old
// set's suffix, which no ledger holds, ARCHITECTURE.md §4
// "Reconfiguration"), else the later blocks of the batch. It returns the verified prefix, and why it
// stopped early. A block proven through later blocks of the batch is
// returned only with them, so the executor can store its certificate with
// their headers (blockexec Executor.Commit).
func (s *Syncer) Verify(ours uint64, blocks []*pb.CommittedBlock) ([]consensus.CommittedBlock, error) {
	out, err := s.verify(ours, blocks)
	if err != nil {
		for len(out) > 0 && !provenWithin(out) {
			out = out[:len(out)-1]
		}
	}
	return out, err
}

// provenWithin reports whether every block of out whose certificate
// carries no chain is certified at or below out's last height.
func provenWithin(out []consensus.CommittedBlock) bool {
	last := out[len(out)-1].Height
	for _, cb := range out {
		if len(cb.Cert.GetChain()) == 0 && cb.Cert.GetHeight() > last {
			return false
		}
	}
	return true
}

func (s *Syncer) verify(ours uint64, blocks []*pb.CommittedBlock) ([]consensus.CommittedBlock, error) {
	var prevHash []byte
	if ours > 0 {
		h, _, err := s.c.Ledger.BlockByHeight(ours)
		if err != nil {
			return nil, err
		}
		prevHash = h[:]
	} else {
		prevHash = s.c.Consensus.GenesisHash
	}
	hdrs := make([]*pb.Header, len(blocks))
	for i, cb := range blocks {
		hdrs[i] = &pb.Header{}
		if err := proto.Unmarshal(cb.GetBlock().GetHeader(), hdrs[i]); err != nil {
			return nil, fmt.Errorf("block %d: header: %w", ours+1+uint64(i), err)
		}
	}
	cfg, err := s.config()
	if err != nil {
		return nil, err
	}
	var out []consensus.CommittedBlock
	for i, cb := range blocks {
		h := ours + 1 + uint64(i)
		hdr := hdrs[i]
		hash := s.c.Consensus.Suite.Hash(cb.GetBlock().GetHeader())
		if hdr.GetHeight() != h || !bytes.Equal(hdr.GetParentHash(), prevHash) {
			return out, fmt.Errorf("block %d does not extend our chain", h)
		}
		cert := cb.GetCert()
		if cert.GetHeight() < h {
			return out, fmt.Errorf("block %d: certificate for lower height %d", h, cert.GetHeight())
		}
		var chain [][]byte
		if len(cert.GetChain()) == 0 {
			d := cert.GetHeight() - ours - 1
			if d >= uint64(len(blocks)) {
				return out, fmt.Errorf("block %d: certificate's block %d is not in this batch", h, cert.GetHeight())
			}
			for j := i + 1; j <= int(d); j++ {
				chain = append(chain, blocks[j].GetBlock().GetHeader())
			}
		}
		if err := consensus.VerifyCommit(cfg, cb.GetBlock(), cert, chain); err != nil {
			return out, fmt.Errorf("block %d: %w", h, err)
		}
		if err := blockexec.CheckBlockTxs(s.c.Consensus.Suite, cb.GetBlock(), hdr); err != nil {
			return out, fmt.Errorf("block %d: %w", h, err)
		}
		out = append(out, consensus.CommittedBlock{Height: h, Hash: hash, Block: cb.GetBlock(), Header: hdr, Cert: cert})
		prevHash = hash
	}
	return out, nil
}

// LagWatch decides, from one check every few seconds, when a validator
// should leave consensus and catch up by block sync: when its best peer is
// more than LagThreshold blocks ahead at two checks in a row, or when a
// peer is ahead and this node has committed nothing for stuckChecks checks
// (a node a few blocks behind that no longer hears the consensus, because
// its peers graylisted it (p2p's peer scores) or it missed the
// proposals, would otherwise wait forever on an idle chain).
type LagWatch struct {
	behind, stuck int
	last          uint64 // our height at the previous check
}

// NewLagWatch starts a watch at our height.
func NewLagWatch(ours uint64) *LagWatch { return &LagWatch{last: ours} }

// FellBehind records one check and reports whether to leave consensus.
func (w *LagWatch) FellBehind(ours, best uint64) bool {
	if best > ours+LagThreshold {
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

// recoveryPoll spaces the status rounds of ViewFloor.
const recoveryPoll = 500 * time.Millisecond

// ViewFloor is the floor of a validator recovering a lost safety state:
// the highest view among its committed head and the validators that
// answer a status request, once want of them answer (as many as form a
// quorum with this node). It waits for them (the driver is not running
// meanwhile, so the node casts no vote) until done closes.
func (s *Syncer) ViewFloor(done <-chan struct{}, head *pb.Block, want int) (uint64, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	var floor uint64
	if head != nil {
		hdr := new(pb.Header)
		if err := proto.Unmarshal(head.GetHeader(), hdr); err != nil {
			return 0, fmt.Errorf("decode committed head: %w", err)
		}
		floor = hdr.GetView()
	}
	lastLog := time.Now()
	for {
		view, answered := s.PeerViews(ctx)
		if answered >= want {
			return max(floor, view), nil
		}
		if time.Since(lastLog) >= 10*time.Second {
			s.c.Logger.Warn("recovering a lost safety state: waiting for validators to report their view",
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
