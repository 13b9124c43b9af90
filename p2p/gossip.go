package p2p

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Message is a validated gossip message, as delivered on Messages.
type Message struct {
	Kind TopicKind
	// Data is the message as published; the receiver owns it.
	Data []byte
	// ReceivedFrom is the peer that relayed it to us. Messages carry no
	// author: who signed a payload is in the payload.
	ReceivedFrom peer.ID
	// Consensus is Data decoded, for TopicConsensus; shared, do not modify.
	Consensus *pb.ConsensusMessage
}

type topicState struct {
	kind  TopicKind
	name  string
	max   int
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	out   chan Message
}

// gossip runs the chain's two gossipsub topics.
type gossip struct {
	n      *Host
	ps     *pubsub.PubSub
	topics [numTopics]*topicState
	scores atomic.Pointer[map[peer.ID]*pubsub.PeerScoreSnapshot]
	tracer *meshTracer
}

// Peer-score thresholds. A peer below zero is pruned from the mesh at the
// next heartbeat; below gossipThreshold we stop gossiping with it, below
// publishThreshold we stop publishing to it, and below graylistThreshold
// everything it sends is dropped unread.
const (
	gossipThreshold    = -10
	publishThreshold   = -50
	graylistThreshold  = -80
	invalidMsgWeight   = -10  // P4: score falls by 10·n² for n invalid messages
	invalidMsgDecay    = 0.99 // per second: a half-life of about 70 s
	scoreDecayInterval = time.Second
)

// scoreParams returns the gossipsub peer scoring of a consortium network.
//
// What counts: an invalid message delivery (a message our validator
// rejected) costs invalidMsgWeight·n², so three of them take a peer below
// the graylist threshold; first deliveries earn a small, capped reward; time
// in the mesh a smaller one. The mesh-delivery-rate penalty (P3) is off: on
// a quiet chain honest peers deliver little, and P3 would prune them for it.
//
// IP colocation (P6) stays on, with loopback whitelisted: on one machine
// every peer shares 127.0.0.1, and local networks and tests must not look
// like a Sybil attack. Elsewhere up to IPColocationThreshold peers may
// share an address (departments behind one NAT) before the penalty.
func scoreParams(cfg *Config, topics []string) (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	_, loop4, _ := net.ParseCIDR("127.0.0.0/8")
	_, loop6, _ := net.ParseCIDR("::1/128")
	p := &pubsub.PeerScoreParams{
		Topics:                      make(map[string]*pubsub.TopicScoreParams),
		TopicScoreCap:               20,
		AppSpecificScore:            func(peer.ID) float64 { return 0 },
		AppSpecificWeight:           1,
		IPColocationFactorWeight:    -20,
		IPColocationFactorThreshold: cfg.IPColocationThreshold,
		IPColocationFactorWhitelist: []*net.IPNet{loop4, loop6},
		BehaviourPenaltyWeight:      -10,
		BehaviourPenaltyThreshold:   6,
		BehaviourPenaltyDecay:       pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:               scoreDecayInterval,
		DecayToZero:                 pubsub.DefaultDecayToZero,
		RetainScore:                 10 * time.Minute,
	}
	for _, t := range topics {
		p.Topics[t] = &pubsub.TopicScoreParams{
			TopicWeight:                    1,
			TimeInMeshWeight:               0.01,
			TimeInMeshQuantum:              time.Second,
			TimeInMeshCap:                  300,
			FirstMessageDeliveriesWeight:   0.5,
			FirstMessageDeliveriesDecay:    pubsub.ScoreParameterDecay(10 * time.Minute),
			FirstMessageDeliveriesCap:      20,
			InvalidMessageDeliveriesWeight: invalidMsgWeight,
			InvalidMessageDeliveriesDecay:  invalidMsgDecay,
		}
	}
	th := &pubsub.PeerScoreThresholds{
		GossipThreshold:             gossipThreshold,
		PublishThreshold:            publishThreshold,
		GraylistThreshold:           graylistThreshold,
		AcceptPXThreshold:           100, // peer exchange is off anyway
		OpportunisticGraftThreshold: 1,
	}
	return p, th
}

func newGossip(ctx context.Context, n *Host, o *options) (*gossip, error) {
	g := &gossip{n: n, tracer: newMeshTracer(&n.counters.rpcsDropped)}
	cfg := &n.cfg
	names := make([]string, numTopics)
	for k := range numTopics {
		names[k] = TopicName(cfg.ChainID, k)
	}
	params, thresholds := scoreParams(cfg, names)
	maxMsg := max(cfg.MaxTxBytes, cfg.MaxConsensusBytes)

	psOpts := []pubsub.Option{
		// Message id = hash of the data: the same transaction or vote
		// published by two nodes is one message.
		pubsub.WithMessageIdFn(func(m *pubsubpb.Message) string {
			h := sha256.Sum256(m.GetData())
			return string(h[:])
		}),
		// No gossipsub-level signatures (as in Ethereum's consensus layer):
		// every payload carries its own signature, checked by our
		// validators (a transaction's signer, a validator's vote), the
		// links are authenticated (Noise/TLS) and gated to members, and a
		// rejected message is charged to the peer that relayed it. A
		// second, per-message author signature would double the ed25519
		// verifications per hop for nothing the node uses (profiled: they
		// were a third of the CPU in BenchmarkGossip).
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithPeerScore(params, thresholds),
		pubsub.WithPeerScoreInspect(pubsub.ExtendedPeerScoreInspectFn(g.onScores), cfg.ScoreInspectPeriod),
		pubsub.WithPeerExchange(false),
		pubsub.WithFloodPublish(true),
		pubsub.WithSeenMessagesTTL(cfg.SeenTTL),
		// Room for the largest message plus the RPC envelope (signature,
		// key, ids, control messages).
		pubsub.WithMaxMessageSize(maxMsg + 64<<10),
		pubsub.WithSubscriptionFilter(pubsub.NewAllowlistSubscriptionFilter(names...)),
		pubsub.WithValidateQueueSize(1024),
		// Gossip is bursty (a block's worth of transactions at once); the
		// default queue of 32 RPCs per peer drops messages under a burst.
		pubsub.WithPeerOutboundQueueSize(512),
		pubsub.WithLogger(n.log.With("component", "gossipsub")),
		pubsub.WithRawTracer(g.tracer),
	}
	if cfg.DirectPeering && isValidator(cfg, n.host.ID()) {
		var direct []peer.AddrInfo
		for _, m := range cfg.Members {
			if m.PeerID != n.host.ID() {
				direct = append(direct, peer.AddrInfo{ID: m.PeerID, Addrs: transportAddrs(m.Addrs)})
			}
		}
		psOpts = append(psOpts, pubsub.WithDirectPeers(direct))
	}
	ps, err := pubsub.NewGossipSub(ctx, n.host, psOpts...)
	if err != nil {
		return nil, fmt.Errorf("p2p: gossipsub: %w", err)
	}
	g.ps = ps

	limits := [numTopics]int{TopicTx: cfg.MaxTxBytes, TopicConsensus: cfg.MaxConsensusBytes}
	for k := range numTopics {
		ts := &topicState{kind: k, name: names[k], max: limits[k], out: make(chan Message, cfg.MessageBuffer)}
		if prev := o.successorOf; prev != nil {
			ts.out = prev.gossip.topics[k].out
		}
		if err := ps.RegisterTopicValidator(ts.name, g.validator(ts, o)); err != nil {
			return nil, fmt.Errorf("p2p: validator for %s: %w", ts.name, err)
		}
		if ts.topic, err = ps.Join(ts.name); err != nil {
			return nil, fmt.Errorf("p2p: join %s: %w", ts.name, err)
		}
		if ts.sub, err = ts.topic.Subscribe(pubsub.WithBufferSize(256)); err != nil {
			return nil, fmt.Errorf("p2p: subscribe %s: %w", ts.name, err)
		}
		g.topics[k] = ts
	}
	return g, nil
}

func isValidator(cfg *Config, id peer.ID) bool {
	for _, m := range cfg.Members {
		if m.PeerID == id {
			return true
		}
	}
	return false
}

// validator is the gossipsub validator of one topic. It runs for messages
// we publish as well as those we receive, so a node cannot gossip what its
// peers would reject.
func (g *gossip) validator(ts *topicState, o *options) pubsub.ValidatorEx {
	c := &g.n.counters.topics[ts.kind]
	txVal, consCheck := o.txVal, o.consCheck
	return func(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
		var err error
		switch ts.kind {
		case TopicTx:
			// The node's validator decodes the tx itself, once, at its
			// admission (ARCHITECTURE.md §3): with one, p2p bounds the
			// size only; without one, it checks the envelope too.
			if txVal == nil {
				err = checkTx(msg.GetData(), ts.max)
			} else if err = checkTxSize(msg.GetData(), ts.max); err == nil {
				err = txVal(ctx, msg.GetData())
			}
		case TopicConsensus:
			var cm *pb.ConsensusMessage
			cm, err = checkConsensus(g.n.vset.Load(), consCheck, msg.GetData(), ts.max)
			if err == nil {
				msg.ValidatorData = cm
			}
		}
		switch {
		case err == nil:
			c.accepted.Add(1)
			return pubsub.ValidationAccept
		case errors.Is(err, ErrIgnore):
			c.ignored.Add(1)
			g.n.log.Debug("p2p: gossip ignored", "topic", ts.kind.String(), "from", from.String(), "err", err)
			return pubsub.ValidationIgnore
		default:
			c.rejected.Add(1)
			g.n.log.Info("p2p: gossip rejected", "topic", ts.kind.String(), "from", from.String(), "err", err)
			return pubsub.ValidationReject
		}
	}
}

// start runs one reader per topic that moves validated messages from
// gossipsub to the topic's Messages channel.
func (g *gossip) start(ctx context.Context, wg *sync.WaitGroup) {
	self := g.n.host.ID()
	for _, ts := range g.topics {
		c := &g.n.counters.topics[ts.kind]
		wg.Go(func() {
			for {
				m, err := ts.sub.Next(ctx)
				if err != nil {
					return
				}
				if m.ReceivedFrom == self {
					continue // our own publication
				}
				out := Message{Kind: ts.kind, Data: m.GetData(), ReceivedFrom: m.ReceivedFrom}
				if cm, ok := m.ValidatorData.(*pb.ConsensusMessage); ok {
					out.Consensus = cm
				}
				if deliverDropOldest(ts.out, out) {
					c.dropped.Add(1)
				}
				c.delivered.Add(1)
			}
		})
	}
}

// deliverDropOldest sends m on ch, which only this goroutine sends on; when
// ch is full it drops the oldest message to make room and reports it.
func deliverDropOldest(ch chan Message, m Message) (dropped bool) {
	for {
		select {
		case ch <- m:
			return dropped
		default:
		}
		select {
		case <-ch:
			dropped = true
		default:
		}
	}
}

func (g *gossip) close() {
	for _, ts := range g.topics {
		if ts != nil && ts.sub != nil {
			ts.sub.Cancel()
		}
	}
}

// topicPeers returns, per topic, the peers gossipsub knows to be
// subscribed to it (those it has a stream with).
func (g *gossip) topicPeers() [numTopics]map[peer.ID]bool {
	var out [numTopics]map[peer.ID]bool
	for k, ts := range g.topics {
		out[k] = map[peer.ID]bool{}
		for _, p := range ts.topic.ListPeers() {
			out[k][p] = true
		}
	}
	return out
}

func (g *gossip) onScores(s map[peer.ID]*pubsub.PeerScoreSnapshot) {
	g.scores.Store(&s)
}

func (g *gossip) scoreSnapshot() map[peer.ID]*pubsub.PeerScoreSnapshot {
	if s := g.scores.Load(); s != nil {
		return *s
	}
	return nil
}

// Publish gossips data on the topic kind. The data goes through the same
// validator as received messages first; an invalid message is refused with
// an error and never leaves the node.
func (n *Host) Publish(ctx context.Context, kind TopicKind, data []byte) error {
	if kind >= numTopics {
		return fmt.Errorf("p2p: unknown topic %v", kind)
	}
	select {
	case <-n.peers.done:
		return ErrClosed
	default:
	}
	n.counters.topics[kind].published.Add(1)
	if err := n.gossip.topics[kind].topic.Publish(ctx, data); err != nil {
		return fmt.Errorf("p2p: publish on %s: %w", kind, err)
	}
	return nil
}

// Messages is the channel of validated messages on the topic kind that
// other nodes published; the node reads it. It is bounded (MessageBuffer):
// when full, the oldest message is dropped for the newest (Stats counts
// it). It is never closed; stop reading when the node is closed.
func (n *Host) Messages(kind TopicKind) <-chan Message {
	if kind >= numTopics {
		return nil
	}
	return n.gossip.topics[kind].out
}

// PeerScore is p's gossipsub score as of the last inspection (every
// ScoreInspectPeriod), and whether p was scored then.
func (n *Host) PeerScore(p peer.ID) (float64, bool) {
	s, ok := n.gossip.scoreSnapshot()[p]
	if !ok {
		return 0, false
	}
	return s.Score, true
}

// TopicPeers are the peers we know to be subscribed to the topic kind.
func (n *Host) TopicPeers(kind TopicKind) []peer.ID {
	if kind >= numTopics {
		return nil
	}
	return n.gossip.topics[kind].topic.ListPeers()
}
