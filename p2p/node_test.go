package p2p_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
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
