package p2p_test

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/govnode/govnode/p2p"
	"github.com/govnode/govnode/p2p/p2ptest"
)

func mustPeerInfo(t *testing.T, n *p2p.Host, id peer.ID) p2p.PeerInfo {
	t.Helper()
	pi, ok := peerInfo(n, id)
	if !ok {
		t.Fatalf("peer %s not tracked", id)
	}
	return pi
}

// A peer that stops answering pings while its connection stays open (a
// killed process on a QUIC connection, a hung node) is reported
// unresponsive, not live, within UnresponsiveAfter ping intervals, and
// live again once it answers: what govnode status, govnode_p2p_peers and
// readiness show. The connection itself is left alone.
func TestPeerUnresponsiveWhenPingsGoUnanswered(t *testing.T) {
	nw := p2ptest.NewNetwork(t, 2, 41)
	nw.StartAll()
	nw.WaitConnected(10 * time.Second)
	a, b := nw.Nodes[0], nw.Nodes[1]
	interval := nw.Config(0).PingInterval
	p2ptest.Eventually(t, 5*time.Second, "b answered a ping", func() bool {
		pi := mustPeerInfo(t, a, b.ID())
		return pi.Live() && pi.RTT > 0
	})

	p2p.SetAnswersPings(b, false)
	stopped := time.Now()
	p2ptest.Eventually(t, 10*time.Second, "b reported unresponsive", func() bool {
		return !mustPeerInfo(t, a, b.ID()).Live()
	})
	took := time.Since(stopped)
	pi := mustPeerInfo(t, a, b.ID())
	if !pi.Connected || !pi.Unresponsive {
		t.Fatalf("b: connected %v, unresponsive %v; want a connection still open and reported unresponsive", pi.Connected, pi.Unresponsive)
	}
	// Not before its silence outlasted the window (LastSeen is the last
	// answer, at most one interval and a ping's time before the stop).
	if min := (p2p.UnresponsiveAfter - 1) * interval; took < min {
		t.Fatalf("b reported unresponsive %v after it stopped answering, before the %v window could have passed", took, min)
	}
	t.Logf("reported unresponsive %v after pings stopped being answered (interval %v)", took, interval)

	p2p.SetAnswersPings(b, true)
	p2ptest.Eventually(t, 10*time.Second, "b live again", func() bool {
		return mustPeerInfo(t, a, b.ID()).Live()
	})
}
