package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus/driver"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node/metrics"
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

// Config sizes the transport.
type Config struct {
	// MaxTxHashes is the most tx hashes asked of a peer in one request:
	// the p2p layer's p2p.Config.MaxTxHashesPerRequest, which refuses more.
	MaxTxHashes int
	// MaxBlockTxs is the most txs a block holds (consensus.Config's
	// MaxBlockTxs; 0 for no limit): a hash-only proposal naming more is
	// refused before its txs are looked up.
	MaxBlockTxs int
}

// Validate names the first bad value.
func (c Config) Validate() error {
	if c.MaxTxHashes < 1 {
		return fmt.Errorf("transport: MaxTxHashes %d, want at least 1", c.MaxTxHashes)
	}
	if c.MaxBlockTxs < 0 {
		return fmt.Errorf("transport: MaxBlockTxs %d, want 0 (no limit) or more", c.MaxBlockTxs)
	}
	return nil
}

// Host is the p2p host the transport carries consensus messages over
// (*p2p.Host): gossip on the consensus and tx topics, and the sync
// protocol's requests for blocks and txs by hash.
type Host interface {
	// ID is this node's peer id.
	ID() peer.ID
	// Publish gossips data on the topic of kind.
	Publish(ctx context.Context, kind p2p.TopicKind, data []byte) error
	// Messages are the validated messages of the topic of kind, closed
	// when the host stops.
	Messages(kind p2p.TopicKind) <-chan p2p.Message
	// RequestBlockByHash asks p for the block with hash and some of its
	// ancestors, oldest first.
	RequestBlockByHash(ctx context.Context, p peer.ID, hash []byte) ([]*pb.Block, error)
	txFetcher
}

// Mempool is the mempool as the transport sees it: where a hash-only
// proposal's txs are looked up first, and whose size the mempool gauges
// show, updated as tx gossip arrives.
type Mempool interface {
	TxPool
	// Size is the number of txs held and their bytes.
	Size() (txs, bytes int)
}

// Faults is the fault-injection seam of a byzantine test build (package
// node/byzantine): ConsensusSent is told of each consensus message the
// transport published, from the consensus driver's goroutine, and may
// follow it with messages of its own through publish, which gossips a
// message as it is (a proposal keeps its txs). It must not modify m nor
// keep it long.
type Faults interface {
	ConsensusSent(m *pb.ConsensusMessage, publish func(*pb.ConsensusMessage) error)
}

// Deps are what the transport works with. All are required but Faults and
// Logger.
type Deps struct {
	Host Host
	// Source is the block source this node's peers are served from; the
	// driver answers its requests for blocks not yet committed
	// (BlockRequests).
	Source *BlockSource
	Pool   Mempool
	// Validators returns the current validator set, whose order maps a
	// validator index to its node's peer id. It is read at each use and
	// must be safe for concurrent use.
	Validators func() *pb.ValidatorSet
	// CheckTxs checks that a block's txs are those its header commits to
	// (tx_count, tx_root); a fetched block that fails it is dropped.
	CheckTxs func(b *pb.Block, hdr *pb.Header) error
	// Epoch is the epoch of the validator set consensus runs now
	// (consensus.Config.Epoch): blocks fetched for the core are tagged
	// with it. Nil: the genesis set's.
	Epoch func() uint64
	// Known is the node's table of txs decoded at admission
	// (exec.Known): a proposal's tx hashes are taken from it. Optional.
	Known   *exec.Known
	Faults  Faults
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// Done is closed when the node stops: fetches in flight end.
	Done <-chan struct{}
	// WG counts the goroutines the transport starts (block fetches and
	// hash-only proposal resolutions); the node waits for it at Close.
	WG *sync.WaitGroup
}

// Transport carries consensus messages over the p2p layer's consensus
// topic (driver.Transport). Messages to one validator are published to
// all: at consortium sizes a broadcast costs little, and every replica
// forms QCs sooner. Proposals travel hash-only and are resolved on receipt
// (hashonly.go). Block fetches use the sync protocol.
type Transport struct {
	host       Host
	pool       Mempool
	validators func() *pb.ValidatorSet
	checkTxs   func(b *pb.Block, hdr *pb.Header) error
	known      *exec.Known
	epoch      func() uint64
	faults     Faults
	metrics    *metrics.Metrics
	log        *slog.Logger
	done       <-chan struct{}
	wg         *sync.WaitGroup

	inbox    chan *pb.ConsensusMessage
	requests chan driver.BlockRequest // the source's
	fetches  chan struct{}            // semaphore bounding fetches in flight
	nonce    atomic.Uint64
	resolver *proposalResolver
}

var _ driver.Transport = (*Transport)(nil)

// New makes the transport of the node whose p2p host is d.Host. Run starts
// taking messages from the host.
func New(cfg Config, d Deps) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Host == nil || d.Source == nil || d.Pool == nil || d.Validators == nil || d.CheckTxs == nil ||
		d.Metrics == nil || d.Done == nil || d.WG == nil {
		return nil, errors.New("transport: needs a host, block source, mempool, validator set, tx check, metrics, done channel and wait group")
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Transport{
		host:       d.Host,
		pool:       d.Pool,
		validators: d.Validators,
		checkTxs:   d.CheckTxs,
		known:      d.Known,
		epoch:      d.Epoch,
		faults:     d.Faults,
		metrics:    d.Metrics,
		log:        log,
		done:       d.Done,
		wg:         d.WG,
		inbox:      make(chan *pb.ConsensusMessage, inboxSize),
		requests:   d.Source.requests,
		fetches:    make(chan struct{}, maxFetchInFlight),
	}
	// The nonce starts at a random point: a node restarted within gossip's
	// seen-cache TTL would otherwise number its messages 1, 2, ... again,
	// and a restarted node's first timeout, identical to the one it sent
	// before the restart, would be dropped as already seen.
	t.nonce.Store(rand.Uint64())
	t.resolver = &proposalResolver{
		pool:       d.Pool,
		fetcher:    d.Host,
		out:        t.inbox,
		chunk:      cfg.MaxTxHashes,
		maxTxs:     cfg.MaxBlockTxs,
		timeout:    resolveTimeout,
		outcomes:   d.Metrics.HashOnlyProposals,
		fetchedTxs: d.Metrics.FetchedTxs,
		log:        log.With("part", "transport"),
		wg:         d.WG,
		inFlight:   make(chan struct{}, maxResolveInFlight),
	}
	return t, nil
}

func (t *Transport) Send(to int, m *pb.ConsensusMessage) error { return t.Broadcast(m) }

// Broadcast gossips m; a proposal goes hash-only (hashOnlyProposal), its
// txs having reached every validator by tx gossip already.
func (t *Transport) Broadcast(m *pb.ConsensusMessage) error {
	err := t.publish(hashOnlyProposal(m, t.known))
	if t.faults != nil {
		t.faults.ConsensusSent(m, t.publish)
	}
	return err
}

// publish gossips m, as it is, on the consensus topic.
func (t *Transport) publish(m *pb.ConsensusMessage) error {
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
	t.metrics.ConsensusMsgs.WithLabelValues("out", msgKind(m)).Inc()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return t.host.Publish(ctx, p2p.TopicConsensus, b)
}

// Fetch asks validator from for the block with hash and its ancestors, in
// the background; the blocks come back on the inbox as proposals.
func (t *Transport) Fetch(from int, hash []byte) error {
	id, ok := t.validatorPeer(from)
	if !ok {
		return errors.New("fetch: unknown validator")
	}
	select {
	case t.fetches <- struct{}{}:
	default:
		return errors.New("fetch: too many in flight")
	}
	h := append([]byte(nil), hash...)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer func() { <-t.fetches }()
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		go func() {
			select {
			case <-t.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		blocks, err := t.host.RequestBlockByHash(ctx, id, h)
		if err != nil {
			t.log.Debug("fetch block", "from", from, "err", err)
			return
		}
		for _, b := range blocks {
			var hdr pb.Header
			if err := proto.Unmarshal(b.GetHeader(), &hdr); err != nil {
				t.log.Info("fetched block refused", "from", from, "err", err)
				return
			}
			if err := t.checkTxs(b, &hdr); err != nil {
				t.log.Info("fetched block refused", "from", from, "height", hdr.GetHeight(), "err", err)
				return
			}
			m := &pb.ConsensusMessage{Sender: uint32(from), Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{Block: b}}}
			if t.epoch != nil {
				m.Epoch = t.epoch()
			}
			select {
			case t.inbox <- m:
			case <-t.done:
				return
			}
		}
	}()
	return nil
}

func (t *Transport) Inbox() <-chan *pb.ConsensusMessage        { return t.inbox }
func (t *Transport) BlockRequests() <-chan driver.BlockRequest { return t.requests }

// Run moves validated gossip into the driver's inbox until ctx ends or the
// host stops. Tx gossip needs nothing more: its validator already admitted
// it to the mempool.
func (t *Transport) Run(ctx context.Context) {
	cons := t.host.Messages(p2p.TopicConsensus)
	txs := t.host.Messages(p2p.TopicTx)
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
			t.metrics.ConsensusMsgs.WithLabelValues("in", msgKind(m.Consensus)).Inc()
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
			txs, bytes := t.pool.Size()
			t.metrics.MempoolTxs.Set(float64(txs))
			t.metrics.MempoolBytes.Set(float64(bytes))
		}
	}
}

// deliver hands m to the driver without waiting.
func (t *Transport) deliver(m *pb.ConsensusMessage) {
	select {
	case t.inbox <- m:
	default:
		// The driver is far behind; the protocol recovers what is lost
		// through timeouts and fetches.
		t.metrics.ConsensusMsgs.WithLabelValues("dropped", msgKind(m)).Inc()
	}
}

// txPeers are the peers asked for the txs of hash-only proposal m that the
// mempool lacks: its proposer, which reaped them from its own mempool,
// then the peer that relayed it to us.
func (t *Transport) txPeers(m p2p.Message) []peer.ID {
	self := t.host.ID()
	var peers []peer.ID
	if id, ok := t.validatorPeer(int(m.Consensus.GetSender())); ok && id != self {
		peers = append(peers, id)
	}
	if r := m.ReceivedFrom; r != "" && r != self && (len(peers) == 0 || peers[0] != r) {
		peers = append(peers, r)
	}
	return peers
}

// validatorPeer maps a validator index to its peer id.
func (t *Transport) validatorPeer(i int) (peer.ID, bool) {
	vs := t.validators()
	if i < 0 || i >= len(vs.GetValidators()) {
		return "", false
	}
	id, err := peer.Decode(vs.GetValidators()[i].GetPeerId())
	return id, err == nil
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
