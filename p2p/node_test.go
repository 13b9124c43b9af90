package p2p_test

import (
	"bytes"
	"context"
	"errors"
	"github.com/govnode/govnode/crypto"
	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/govnode/govnode/p2p"
	"github.com/govnode/govnode/p2p/p2ptest"
)

// testCtx is a context that ends before the test's own deadline.
func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func recv(ctx context.Context, t *testing.T, ch <-chan p2p.Message) p2p.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-ctx.Done():
		t.Fatalf("no message: %v", ctx.Err())
		return p2p.Message{}
	}
}

// rawHost is a plain libp2p host (no gater) for strangers and attackers.
func rawHost(t *testing.T, id p2ptest.Identity, listen ...string) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(id.NodeKey), libp2p.ListenAddrStrings(listen...), libp2p.DisableMetrics(), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// logBuffer collects log records for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// ARCHITECTURE.md §2 (p2p: permissioned connection gater): a member connects, a
// stranger is refused during the handshake on TCP and on QUIC, and the
// refusal is logged with its peer id and address.
func TestGaterAdmitsMembersRefusesStrangers(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	nw := p2ptest.NewNetwork(t, 2, 1)
	var logs logBuffer
	n0 := nw.Start(0, nw.Config(0), p2p.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	n1 := nw.Start(1, nw.Config(1))
	nw.WaitConnected(10 * time.Second)
	if !p2ptest.Connected(n1, n0.ID()) {
		t.Fatal("member not connected")
	}

	stranger := p2ptest.Identities(t, 1, 99)[0]
	sh := rawHost(t, stranger)
	for _, a := range n0.Addrs() {
		proto := "tcp"
		if _, err := a.ValueForProtocol(ma.P_QUIC_V1); err == nil {
			proto = "quic"
		}
		t.Run(proto, func(t *testing.T) {
			before := n0.Stats().ConnsRefused
			err := sh.Connect(ctx, peer.AddrInfo{ID: n0.ID(), Addrs: []ma.Multiaddr{a}})
			if err == nil {
				// On QUIC the dialer may finish its side of the handshake
				// before the listener's gater closes the connection; then no
				// stream may ever open and the connection must go away.
				if s, serr := sh.NewStream(ctx, n0.ID(), p2p.SyncProtocol(p2ptest.ChainID)); serr == nil {
					_ = s.Reset()
					t.Fatal("stranger opened a stream")
				}
				p2ptest.Eventually(t, 5*time.Second, "stranger's connection closed", func() bool {
					return sh.Network().Connectedness(n0.ID()) != network.Connected
				})
			}
			p2ptest.Eventually(t, 5*time.Second, "refusal counted", func() bool {
				return n0.Stats().ConnsRefused > before
			})
		})
	}
	out := logs.String()
	if !strings.Contains(out, "refused connection") || !strings.Contains(out, "peer="+stranger.PeerID.String()) || !strings.Contains(out, "remote_addr=/ip4/127.0.0.1/") {
		t.Fatalf("refusal not logged with peer id and address:\n%s", out)
	}
	for _, pi := range n0.Peers() {
		if pi.ID == stranger.PeerID {
			t.Fatal("stranger listed as a peer")
		}
	}
	// Nor do we ever dial a stranger.
	if err := n0.Host().Connect(ctx, peer.AddrInfo{ID: stranger.PeerID, Addrs: sh.Addrs()}); err == nil {
		t.Fatal("dialed a stranger")
	}
}

// ARCHITECTURE.md §3 (gossip): a transaction and a consensus message published by one
// member reach every other member, and not the publisher itself.
func TestGossipReachesEveryMember(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	nw := p2ptest.NewNetwork(t, 4, 2)
	nw.StartAll()
	nw.WaitConnected(10 * time.Second)
	nw.WaitTopic(p2p.TopicTx, 10*time.Second)
	nw.WaitTopic(p2p.TopicConsensus, 10*time.Second)

	tx := p2ptest.Tx(t, 1, 200)
	if err := nw.Nodes[0].Publish(ctx, p2p.TopicTx, tx); err != nil {
		t.Fatal(err)
	}
	vote := p2ptest.Vote(t, nw.Validators[2].ValKey, 2, 7, 11)
	if err := nw.Nodes[2].Publish(ctx, p2p.TopicConsensus, vote); err != nil {
		t.Fatal(err)
	}
	for i, n := range nw.Nodes {
		if i != 0 {
			m := recv(ctx, t, n.Messages(p2p.TopicTx))
			if !bytes.Equal(m.Data, tx) || m.ReceivedFrom == "" || m.ReceivedFrom == n.ID() || m.Kind != p2p.TopicTx {
				t.Fatalf("node %d got tx %+v", i, m)
			}
		}
		if i != 2 {
			m := recv(ctx, t, n.Messages(p2p.TopicConsensus))
			if !bytes.Equal(m.Data, vote) || m.Consensus.GetVote().GetHeight() != 11 {
				t.Fatalf("node %d got consensus message %+v", i, m)
			}
		}
	}
	// Our own publications are not echoed back.
	select {
	case m := <-nw.Nodes[0].Messages(p2p.TopicTx):
		t.Fatalf("publisher got its own tx back: %+v", m)
	default:
	}
	// A node refuses to publish what its peers would reject.
	bad := p2ptest.Vote(t, nw.Validators[1].ValKey, 3, 7, 11) // signed by 1, sent as 3
	if err := nw.Nodes[0].Publish(ctx, p2p.TopicConsensus, bad); err == nil {
		t.Fatal("published a vote signed by another validator")
	}
	// Four peers share 127.0.0.1, above the IP-colocation threshold of 3:
	// the loopback whitelist keeps their scores from going negative.
	p2ptest.Eventually(t, 10*time.Second, "members scored, none negative", func() bool {
		for _, n := range nw.Nodes {
			for _, m := range nw.Nodes {
				if m == n {
					continue
				}
				if s, ok := n.PeerScore(m.ID()); !ok || s < 0 {
					return false
				}
			}
		}
		return true
	})
	// Ping measures round-trip times.
	p2ptest.Eventually(t, 10*time.Second, "RTT measured", func() bool {
		for _, pi := range nw.Nodes[0].Peers() {
			if pi.Member && (pi.RTT <= 0 || pi.LastSeen.IsZero()) {
				return false
			}
		}
		return true
	})
}

// ARCHITECTURE.md §3 ("invalid data dies at the first hop"): a peer that floods
// invalid consensus messages has them rejected, never relayed, and its
// score falls.
func TestInvalidGossipDroppedAndPenalised(t *testing.T) {
	ctx := testCtx(t, 40*time.Second)
	nw := p2ptest.NewNetwork(t, 2, 3)
	attacker := p2ptest.Identities(t, 1, 77)[0]
	// A admits the attacker as an observer; B does not know it, so the only
	// path from the attacker to B is through A.
	cfgA := nw.Config(0)
	cfgA.Observers = []peer.ID{attacker.PeerID}
	a := nw.Start(0, cfgA)
	b := nw.Start(1, nw.Config(1))
	nw.WaitConnected(10 * time.Second)
	nw.WaitTopic(p2p.TopicConsensus, 10*time.Second)

	mh := rawHost(t, attacker, p2ptest.TCP)
	// No validators: it publishes anything. Flood publishing sends to A
	// before the mesh forms.
	ps, err := pubsub.NewGossipSub(ctx, mh, pubsub.WithFloodPublish(true),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(func(m *pubsubpb.Message) string { return string(crypto.Hash(m.GetData())) }))
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(p2p.TopicName(p2ptest.ChainID, p2p.TopicConsensus))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := topic.Subscribe(); err != nil {
		t.Fatal(err)
	}
	if err := mh.Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: a.Addrs()}); err != nil {
		t.Fatal(err)
	}
	p2ptest.Eventually(t, 10*time.Second, "attacker meshed with A", func() bool {
		return len(topic.ListPeers()) == 1 && contains(a.MeshPeers(p2p.TopicConsensus), attacker.PeerID) &&
			contains(a.MeshPeers(p2p.TopicConsensus), b.ID())
	})

	// A valid message from the attacker travels attacker → A → B: the path
	// works, so what B does not get below was not relayed.
	good := p2ptest.Vote(t, nw.Validators[0].ValKey, 0, 1, 1)
	if err := topic.Publish(ctx, good); err != nil {
		t.Fatal(err)
	}
	if m := recv(ctx, t, b.Messages(p2p.TopicConsensus)); !bytes.Equal(m.Data, good) {
		t.Fatal("B got the wrong message")
	}
	recv(ctx, t, a.Messages(p2p.TopicConsensus))
	scoreBefore, _ := a.PeerScore(attacker.PeerID)

	invalid := [][]byte{
		[]byte("not a protobuf \xff\xff\xff"),
		p2ptest.Vote(t, nw.Validators[1].ValKey, 0, 1, 2),               // signed by 1, names 0
		p2ptest.Vote(t, attacker.ValKey, 1, 1, 3),                       // not validator 1's key
		p2ptest.Vote(t, nw.Validators[0].ValKey, 9, 1, 4),               // no validator 9
		append(p2ptest.Vote(t, nw.Validators[0].ValKey, 0, 1, 5), 0xff), // trailing garbage
	}
	for _, m := range invalid {
		if err := topic.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	p2ptest.Eventually(t, 10*time.Second, "A rejects the flood", func() bool {
		return a.Stats().Consensus.Rejected >= 3
	})
	p2ptest.Eventually(t, 10*time.Second, "attacker's score falls below zero", func() bool {
		s, ok := a.PeerScore(attacker.PeerID)
		return ok && s < 0 && s < scoreBefore
	})
	if st := b.Stats().Consensus; st.Rejected != 0 || st.Accepted != 1 {
		t.Fatalf("B saw relayed invalid messages: %+v", st)
	}
	select {
	case m := <-b.Messages(p2p.TopicConsensus):
		t.Fatalf("B received %x", m.Data)
	default:
	}
	// A negative score prunes the attacker from A's mesh at the next
	// heartbeat; below the graylist threshold all it sends is dropped unread.
	p2ptest.Eventually(t, 5*time.Second, "attacker pruned from A's mesh", func() bool {
		return !contains(a.MeshPeers(p2p.TopicConsensus), attacker.PeerID)
	})
	s, _ := a.PeerScore(attacker.PeerID)
	t.Logf("attacker score at A: before %.2f, after %.2f; A stats %+v", scoreBefore, s, a.Stats().Consensus)
}

func contains(ids []peer.ID, id peer.ID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// ARCHITECTURE.md §4 (a dropped connection comes back): closing a member's
// connection is followed by a redial, on TCP and on QUIC.
func TestDroppedConnectionComesBack(t *testing.T) {
	for _, listen := range []string{p2ptest.TCP, p2ptest.QUIC} {
		t.Run(strings.Split(listen, "/")[3], func(t *testing.T) {
			nw := p2ptest.NewNetwork(t, 2, 4)
			nw.Listen = []string{listen}
			nw.StartAll()
			nw.WaitConnected(10 * time.Second)
			n0, n1 := nw.Nodes[0], nw.Nodes[1]

			if err := n0.Host().Network().ClosePeer(n1.ID()); err != nil {
				t.Fatal(err)
			}
			p2ptest.Eventually(t, 15*time.Second, "reconnected", func() bool {
				return n0.Stats().Reconnects+n1.Stats().Reconnects >= 1 &&
					p2ptest.Connected(n0, n1.ID()) && p2ptest.Connected(n1, n0.ID()) &&
					n0.Host().Network().Connectedness(n1.ID()) == network.Connected
			})
			// And it carries traffic.
			ctx := testCtx(t, 10*time.Second)
			if _, err := n1.RequestStatus(ctx, n0.ID()); err == nil || !errors.As(err, new(*p2p.RemoteError)) {
				t.Fatalf("status over the new connection: %v (want a refusal: no block source)", err)
			}
		})
	}
}

// A connection no event reported (one made before the peer manager
// subscribed, at start; or an event the bus reported wrongly) must not leave
// the member marked disconnected: redialing a connected peer returns at
// once, so the manager would spin on dials and the status would lie. Here a
// stale "not connected" event is emitted while the connection stays up.
func TestStaleDisconnectEventResynced(t *testing.T) {
	nw := p2ptest.NewNetwork(t, 2, 4)
	nw.StartAll()
	nw.WaitConnected(10 * time.Second)
	n0, n1 := nw.Nodes[0], nw.Nodes[1]

	em, err := n0.Host().EventBus().Emitter(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	before := n0.Stats().Dials
	if err := em.Emit(event.EvtPeerConnectednessChanged{Peer: n1.ID(), Connectedness: network.NotConnected}); err != nil {
		t.Fatal(err)
	}
	p2ptest.Eventually(t, 10*time.Second, "member marked connected again", func() bool {
		return p2ptest.Connected(n0, n1.ID())
	})
	time.Sleep(500 * time.Millisecond)
	if d := n0.Stats().Dials - before; d > 3 {
		t.Fatalf("%d dials to a peer that stayed connected; want at most 3", d)
	}
	if !p2ptest.Connected(n0, n1.ID()) || n0.Host().Network().Connectedness(n1.ID()) != network.Connected {
		t.Fatal("member not connected at the end")
	}
}

// gossipsub gives up a peer whose streams keep failing (4 tries within 10
// minutes) and takes it back only on a new connection, so two members
// that stay connected can stop hearing each other for good (a chaos
// schedule stalled on it after a paused node). The peer manager notices a
// connected member that gossipsub no longer knows and closes the
// connection; the redial brings gossip back. Here the gossip streams are
// reset until gossipsub gives up.
func TestGossipComesBackAfterGossipsubDropsAPeer(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	nw := p2ptest.NewNetwork(t, 2, 6)
	for i := range 2 {
		cfg := nw.Config(i)
		cfg.GossipCheckInterval = 200 * time.Millisecond
		nw.Start(i, cfg)
	}
	nw.WaitConnected(10 * time.Second)
	nw.WaitTopic(p2p.TopicConsensus, 10*time.Second)
	n0, n1 := nw.Nodes[0], nw.Nodes[1]

	resetGossip := func() {
		for _, c := range n0.Host().Network().ConnsToPeer(n1.ID()) {
			for _, s := range c.GetStreams() {
				if strings.HasPrefix(string(s.Protocol()), "/meshsub/") {
					_ = s.Reset()
				}
			}
		}
	}
	// Three seconds of failing streams: gossipsub retries after 0.1, 0.2,
	// 0.4 and 0.8 s, then gives up. Without the peer manager's check the
	// two never gossip again.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		resetGossip()
		time.Sleep(10 * time.Millisecond)
	}
	// Gossip flows again, both ways.
	for i, pair := range [][2]*p2p.Host{{n0, n1}, {n1, n0}} {
		from, to := pair[0], pair[1]
		idx := uint32(i)
		p2ptest.Eventually(t, 20*time.Second, "gossip flows again", func() bool {
			vote := p2ptest.Vote(t, nw.Validators[idx].ValKey, idx, 50+uint64(time.Now().UnixNano()%1000), 9)
			if err := from.Publish(ctx, p2p.TopicConsensus, vote); err != nil {
				return false
			}
			select {
			case m := <-to.Messages(p2p.TopicConsensus):
				return bytes.Equal(m.Data, vote)
			case <-time.After(200 * time.Millisecond):
				return false
			}
		})
	}
	if n0.Stats().GossipResets+n1.Stats().GossipResets == 0 {
		t.Fatal("gossip came back without a gossip reset; the test did not make gossipsub drop the peer")
	}
}

// A host without a consensus check would reject every consensus message
// and penalise every honest peer for it: New refuses to build one.
func TestNewRequiresConsensusCheck(t *testing.T) {
	nw := p2ptest.NewNetwork(t, 1, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := p2p.New(ctx, nw.Config(0), p2p.WithIdentity(nw.Validators[0].NodeKey), p2p.WithValidatorSet(nw.VSet))
	if err == nil {
		_ = h.Close()
		t.Fatal("a host without WithConsensusCheck was built")
	}
	if !strings.Contains(err.Error(), "WithConsensusCheck") {
		t.Fatalf("error %q does not name the missing option", err)
	}
}
