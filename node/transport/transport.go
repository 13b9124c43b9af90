package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus/driver"
	"github.com/govnode/govnode/crypto"
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
	// Suite is the chain's crypto suite, whose hash names txs (the zero
	// value is ed25519-sha256).
	Suite crypto.Suite
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
// (*p2p.Host): the direct protocol to the validators, and the sync
// protocol's requests for blocks and txs by hash.
type Host interface {
	// ID is this node's peer id.
	ID() peer.ID
	// BroadcastConsensus sends a serialized consensus message to every
	// validator's node; SendConsensus to the nodes to only. Neither
	// blocks.
	BroadcastConsensus(data []byte) error
	SendConsensus(data []byte, to ...peer.ID) error
	// FlushTxs sends the txs this node has batched but not sent yet,
	// ahead of any message sent after it returns.
	FlushTxs(ctx context.Context) error
	// Messages are the validated messages of kind that peers sent.
	Messages(kind p2p.TopicKind) <-chan p2p.Message
	// RequestBlockByHash asks p for the block with hash and some of its
	// ancestors, oldest first.
	RequestBlockByHash(ctx context.Context, p peer.ID, hash []byte) ([]*pb.Block, error)
	txFetcher
}

// Mempool is the mempool as the transport sees it: where a hash-only
// proposal's txs are looked up first, and whose size the mempool gauges
// show, updated as peers' txs arrive.
type Mempool interface {
	TxPool
	// Size is the number of txs held and their bytes.
	Size() (txs, bytes int)
}

// Faults is the fault-injection seam of a byzantine test build (package
// node/byzantine): ConsensusSent is told of each consensus message the
// transport sent, from the consensus driver's goroutine, and may follow it
// with messages of its own through publish, which sends a message as it
// is (a proposal keeps its txs) to every validator. It must not modify m nor
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
	// (exec.Known): a proposal's tx hashes are taken from it. Nil: an
	// empty table of the chain's suite (every hash computed).
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

// Transport carries consensus messages over the p2p layer's direct
// protocol (driver.Transport): a broadcast goes to every validator's node
// once, a message to one validator to its node only (ARCHITECTURE.md §3
// step 4). Proposals travel hash-only and are resolved on receipt
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
	if d.Known == nil {
		d.Known = exec.NewKnown(cfg.Suite)
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
	t.resolver = &proposalResolver{
		suite:      cfg.Suite,
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

// Send sends m to validator to's node only; a message to this node, or
// to an index outside the set, goes nowhere (the core steps its own
// messages itself).
func (t *Transport) Send(to int, m *pb.ConsensusMessage) error {
	id, ok := t.validatorPeer(to)
	if !ok {
		return fmt.Errorf("send: no validator %d", to)
	}
	if id == t.host.ID() {
		return nil
	}
	return t.send(hashOnlyProposal(m, t.known), id)
}

// Broadcast sends m to every validator's node; a proposal goes hash-only
// (hashOnlyProposal), after the txs this node batched but has not sent
// yet, so that each validator holds them when the proposal names them
// (the other validators' txs came to it from their own nodes).
func (t *Transport) Broadcast(m *pb.ConsensusMessage) error {
	if len(m.GetProposal().GetBlock().GetTxs()) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := t.host.FlushTxs(ctx); err != nil {
			t.log.Debug("flush txs before a proposal", "err", err)
		}
		cancel()
	}
	err := t.send(hashOnlyProposal(m, t.known), "")
	if t.faults != nil {
		t.faults.ConsensusSent(m, func(m *pb.ConsensusMessage) error { return t.send(m, "") })
	}
	return err
}

// send sends m, as it is, to the node to, or to every validator's node
// when to is empty.
func (t *Transport) send(m *pb.ConsensusMessage, to peer.ID) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	t.metrics.ConsensusMsgs.WithLabelValues("out", msgKind(m)).Inc()
	if to == "" {
		return t.host.BroadcastConsensus(b)
	}
	return t.host.SendConsensus(b, to)
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

// Run moves validated consensus messages into the driver's inbox until ctx
// ends. Peers' txs need nothing more: p2p's tx validator already admitted
// them to the mempool; they only update the mempool gauges here.
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
// then every other validator's node, in validator order. Each tx goes from
// the node it was submitted to straight to every validator (nothing is
// relayed), so a tx the proposer's batch did not bring yet (it came from
// a third node whose batch is late) is held by that node and by most
// validators.
func (t *Transport) txPeers(m p2p.Message) []peer.ID {
	self := t.host.ID()
	var peers []peer.ID
	proposer, ok := t.validatorPeer(int(m.Consensus.GetSender()))
	if ok && proposer != self {
		peers = append(peers, proposer)
	}
	if r := m.ReceivedFrom; r != "" && r != self && r != proposer {
		peers = append(peers, r)
	}
	for i := range t.validators().GetValidators() {
		if id, ok := t.validatorPeer(i); ok && id != self && !slices.Contains(peers, id) {
			peers = append(peers, id)
		}
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
