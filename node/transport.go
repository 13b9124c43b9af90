package node

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus/driver"
	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Transport sizes.
const (
	inboxSize        = 8192
	blockRequestSize = 64
	maxFetchInFlight = 16
	fetchTimeout     = 5 * time.Second
)

// transport carries consensus messages over the p2p layer's consensus
// topic (consensus.Transport). Messages to one validator are published to
// all: at consortium sizes a broadcast costs little, and every replica
// forms QCs sooner. Proposals travel hash-only and are resolved on receipt
// (hashonly.go). Block fetches use the sync protocol.
type transport struct {
	n        *Node
	inbox    chan *pb.ConsensusMessage
	requests chan driver.BlockRequest
	fetches  chan struct{} // semaphore bounding fetches in flight
	nonce    atomic.Uint64
	resolver *proposalResolver
}

var _ driver.Transport = (*transport)(nil)

// newTransport makes n's transport; maxTxHashes is the p2p layer's
// MaxTxHashesPerRequest. It reaches n.host only once the node runs.
func newTransport(n *Node, maxTxHashes int) *transport {
	t := &transport{
		n:        n,
		inbox:    make(chan *pb.ConsensusMessage, inboxSize),
		requests: make(chan driver.BlockRequest, blockRequestSize),
		fetches:  make(chan struct{}, maxFetchInFlight),
	}
	// The nonce starts at a random point: a node restarted within gossip's
	// seen-cache TTL would otherwise number its messages 1, 2, ... again,
	// and a restarted node's first timeout, identical to the one it sent
	// before the restart, would be dropped as already seen.
	t.nonce.Store(rand.Uint64())
	t.resolver = &proposalResolver{
		pool:       n.mempool,
		fetcher:    hostTxs{n},
		out:        t.inbox,
		chunk:      maxTxHashes,
		maxTxs:     n.consCfg.MaxBlockTxs,
		timeout:    resolveTimeout,
		outcomes:   n.metrics.HashOnlyProposals,
		fetchedTxs: n.metrics.FetchedTxs,
		log:        n.log.With("part", "transport"),
		wg:         &n.wg,
		inFlight:   make(chan struct{}, maxResolveInFlight),
	}
	return t
}

// hostTxs fetches txs through the node's p2p host, which New starts after
// the transport is made.
type hostTxs struct{ n *Node }

func (h hostTxs) RequestTxs(ctx context.Context, p peer.ID, hashes [][]byte) ([][]byte, error) {
	return h.n.host.RequestTxs(ctx, p, hashes)
}

func (t *transport) Send(to int, m *pb.ConsensusMessage) error { return t.Broadcast(m) }

// Broadcast gossips m; a proposal goes hash-only (hashOnlyProposal), its
// txs having reached every validator by tx gossip already.
func (t *transport) Broadcast(m *pb.ConsensusMessage) error {
	err := t.publish(hashOnlyProposal(m))
	t.n.byz.consensusSent(m)
	return err
}

// publish gossips m, as it is, on the consensus topic.
func (t *transport) publish(m *pb.ConsensusMessage) error {
	// A copy with a fresh nonce: the core may send the same message again
	// (a timeout retransmitted after a loss), and gossip drops what it has
	// seen; the core's messages are not modified.
	b, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	// Appending field 7 to the encoding sets it (the last value of a
	// scalar field wins) without copying the message.
	b = protowire.AppendTag(b, 7, protowire.VarintType)
	b = protowire.AppendVarint(b, t.nonce.Add(1))
	t.n.metrics.ConsensusMsgs.WithLabelValues("out", msgKind(m)).Inc()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return t.n.host.Publish(ctx, p2p.TopicConsensus, b)
}

// Fetch asks validator from for the block with hash and its ancestors, in
// the background; the blocks come back on the inbox as proposals.
func (t *transport) Fetch(from int, hash []byte) error {
	id, ok := t.n.validatorPeer(from)
	if !ok {
		return errors.New("fetch: unknown validator")
	}
	select {
	case t.fetches <- struct{}{}:
	default:
		return errors.New("fetch: too many in flight")
	}
	h := append([]byte(nil), hash...)
	t.n.wg.Add(1)
	go func() {
		defer t.n.wg.Done()
		defer func() { <-t.fetches }()
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		go func() {
			select {
			case <-t.n.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		blocks, err := t.n.host.RequestBlockByHash(ctx, id, h)
		if err != nil {
			t.n.log.Debug("fetch block", "from", from, "err", err)
			return
		}
		for _, b := range blocks {
			var hdr pb.Header
			if err := proto.Unmarshal(b.GetHeader(), &hdr); err != nil {
				t.n.log.Info("fetched block refused", "from", from, "err", err)
				return
			}
			if err := checkBlockTxs(b, &hdr); err != nil {
				t.n.log.Info("fetched block refused", "from", from, "height", hdr.GetHeight(), "err", err)
				return
			}
			m := &pb.ConsensusMessage{Sender: uint32(from), Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{Block: b}}}
			select {
			case t.inbox <- m:
			case <-t.n.done:
				return
			}
		}
	}()
	return nil
}

func (t *transport) Inbox() <-chan *pb.ConsensusMessage        { return t.inbox }
func (t *transport) BlockRequests() <-chan driver.BlockRequest { return t.requests }

// pump moves validated gossip into the driver's inbox until ctx ends. Tx
// gossip needs nothing more: its validator already admitted it to the
// mempool.
func (t *transport) pump(ctx context.Context) {
	cons := t.n.host.Messages(p2p.TopicConsensus)
	txs := t.n.host.Messages(p2p.TopicTx)
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-cons:
			if !ok {
				return
			}
			if m.Consensus == nil {
				continue
			}
			t.n.metrics.ConsensusMsgs.WithLabelValues("in", msgKind(m.Consensus)).Inc()
			if isHashOnly(m.Consensus) {
				// Resolved from the mempool it is delivered here, in
				// order; otherwise the resolver delivers it later, or
				// drops it.
				if full := t.resolver.resolve(ctx, m.Consensus, t.txPeers(m)); full != nil {
					t.deliver(full)
				}
				continue
			}
			t.deliver(m.Consensus)
		case _, ok := <-txs:
			if !ok {
				return
			}
			txs, bytes := t.n.mempool.Size()
			t.n.metrics.MempoolTxs.Set(float64(txs))
			t.n.metrics.MempoolBytes.Set(float64(bytes))
		}
	}
}

// deliver hands m to the driver without waiting.
func (t *transport) deliver(m *pb.ConsensusMessage) {
	select {
	case t.inbox <- m:
	default:
		// The driver is far behind; the protocol recovers what is lost
		// through timeouts and fetches.
		t.n.metrics.ConsensusMsgs.WithLabelValues("dropped", msgKind(m)).Inc()
	}
}

// txPeers are the peers asked for the txs of hash-only proposal m that the
// mempool lacks: its proposer, which reaped them from its own mempool,
// then the peer that relayed it to us.
func (t *transport) txPeers(m p2p.Message) []peer.ID {
	self := t.n.host.ID()
	var peers []peer.ID
	if id, ok := t.n.validatorPeer(int(m.Consensus.GetSender())); ok && id != self {
		peers = append(peers, id)
	}
	if r := m.ReceivedFrom; r != "" && r != self && (len(peers) == 0 || peers[0] != r) {
		peers = append(peers, r)
	}
	return peers
}

func msgKind(m *pb.ConsensusMessage) string {
	switch m.GetMsg().(type) {
	case *pb.ConsensusMessage_Proposal:
		return "proposal"
	case *pb.ConsensusMessage_Vote:
		return "vote"
	case *pb.ConsensusMessage_Timeout:
		return "timeout"
	case *pb.ConsensusMessage_TimeoutCert:
		return "timeout_cert"
	case *pb.ConsensusMessage_Heartbeat:
		return "heartbeat"
	default:
		return "unknown"
	}
}

// validatorPeer maps a validator index to its peer id.
func (n *Node) validatorPeer(i int) (peer.ID, bool) {
	vs, _ := n.app.validators()
	if i < 0 || i >= len(vs.GetValidators()) {
		return "", false
	}
	id, err := peer.Decode(vs.GetValidators()[i].GetPeerId())
	return id, err == nil
}

// blockSource serves block sync from the ledger, and block fetches from
// the ledger or, for blocks not committed yet, the consensus core.
type blockSource struct{ n *Node }

var _ p2p.BlockSource = blockSource{}

func (s blockSource) Height() uint64 {
	h, _ := s.n.store.Height()
	return h
}

func (s blockSource) BlocksRange(from, to uint64) ([]*pb.CommittedBlock, error) {
	var out []*pb.CommittedBlock
	for h := from; h <= to; h++ {
		cb, err := s.n.committedBlock(h)
		if err != nil {
			return out, err
		}
		out = append(out, cb)
	}
	return out, nil
}

func (s blockSource) TxsByHash(hashes [][]byte) [][]byte {
	var out [][]byte
	for _, h := range hashes {
		if tx, ok := s.n.mempool.Get(h); ok {
			out = append(out, tx)
		}
	}
	return out
}

func (s blockSource) Status() *pb.SyncStatus {
	h, _ := s.n.store.Height()
	st := &pb.SyncStatus{ChainId: s.n.genesis.GetChainId(), Height: h, GenesisHash: s.n.genesisHash}
	if h > 0 {
		if hash, _, err := s.n.store.BlockByHeight(h); err == nil {
			st.LastBlockHash = hash[:]
		}
	}
	if cs := s.n.status.Load(); cs != nil {
		st.View = cs.View
	}
	return st
}

// BlocksByHash returns the block with hash and up to maxAncestors of its
// ancestors, oldest first: from the consensus core's tree (asked through
// the driver, which owns it) or from the ledger.
func (s blockSource) BlocksByHash(hash []byte, maxAncestors int) []*pb.Block {
	var chain []*pb.Block
	for i := 0; i <= maxAncestors && len(hash) == 32; i++ {
		b := s.blockByHash(hash)
		if b == nil {
			break
		}
		chain = append(chain, b)
		hdr := &pb.Header{}
		if proto.Unmarshal(b.GetHeader(), hdr) != nil || hdr.GetHeight() <= 1 {
			break
		}
		hash = hdr.GetParentHash()
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain
}

func (s blockSource) blockByHash(hash []byte) *pb.Block {
	var h [32]byte
	copy(h[:], hash)
	if height, raw, err := s.n.store.BlockByHash(h); err == nil && height > 0 {
		b := &pb.Block{}
		if proto.Unmarshal(raw, b) == nil {
			return b
		}
	}
	reply := make(chan *pb.Block, 1)
	select {
	case s.n.transport.requests <- driver.BlockRequest{Hash: hash, Reply: reply}:
	default:
		return nil
	}
	select {
	case b := <-reply:
		return b
	case <-time.After(time.Second):
		return nil
	case <-s.n.done:
		return nil
	}
}
