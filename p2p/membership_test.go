package p2p_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/govnode/govnode/p2p"
	"github.com/govnode/govnode/p2p/p2ptest"
)

// peerInfo is n's PeerInfo of id, if it tracks id.
func peerInfo(n *p2p.Host, id peer.ID) (p2p.PeerInfo, bool) {
	for _, pi := range n.Peers() {
		if pi.ID == id {
			return pi, true
		}
	}
	return p2p.PeerInfo{}, false
}

// hostConnected is the libp2p host's own word, for peers the peer manager
// does not track.
func hostConnected(n *p2p.Host, id peer.ID) bool {
	return n.Host().Network().Connectedness(id) == network.Connected
}

func sorted(ids ...peer.ID) []peer.ID {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// Issue 17 item 2: a department added by governance. Its node is refused
// while outside the consortium; once every member's SetMembership admits
// it, the members dial it, and txs flow both ways.
func TestSetMembershipAddsMember(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	nw := p2ptest.NewNetwork(t, 3, 21)
	two := func(i int) p2p.Config {
		cfg := nw.Config(i)
		cfg.Members = cfg.Members[:2]
		return cfg
	}
	n0 := nw.Start(0, two(0))
	n1 := nw.Start(1, two(1))
	nw.WaitConnected(10 * time.Second)
	// The newcomer believes itself a member (its config lists all three)
	// and keeps dialing the others; they refuse it.
	n2 := nw.Start(2, nw.Config(2))
	p2ptest.Eventually(t, 10*time.Second, "the newcomer refused by both members", func() bool {
		return n0.Stats().ConnsRefused > 0 && n1.Stats().ConnsRefused > 0
	})
	if hostConnected(n0, n2.ID()) || hostConnected(n1, n2.ID()) {
		t.Fatal("a member is connected to the newcomer before it is admitted")
	}
	if _, ok := peerInfo(n0, n2.ID()); ok {
		t.Fatal("the newcomer is tracked before it is admitted")
	}

	dials0 := n0.Stats().Dials
	all := nw.Members(0, 1, 2)
	for _, n := range []*p2p.Host{n0, n1} {
		if err := n.SetMembership(all, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*p2p.Host{n0, n1} {
		pi, ok := peerInfo(n, n2.ID())
		if !ok || !pi.Member || pi.ValidatorIndex != 2 {
			t.Fatalf("the newcomer's PeerInfo after SetMembership: %+v (tracked %v)", pi, ok)
		}
	}
	nw.WaitConnected(10 * time.Second)
	if n0.Stats().Dials == dials0 {
		t.Fatal("member 0 did not dial the newcomer")
	}
	if want := sorted(n0.ID(), n1.ID(), n2.ID()); !slices.Equal(p2p.AllowedPeers(n0), want) {
		t.Fatalf("allowed set %v, want %v", p2p.AllowedPeers(n0), want)
	}

	tx := p2ptest.Tx(t, 1, 100)
	if err := n2.SendTx(tx); err != nil {
		t.Fatal(err)
	}
	for i, n := range []*p2p.Host{n0, n1} {
		if m := recv(ctx, t, n.Messages(p2p.TopicTx)); !bytes.Equal(m.Data, tx) {
			t.Fatalf("member %d got %x from the newcomer", i, m.Data)
		}
	}
	tx = p2ptest.Tx(t, 2, 100)
	if err := n0.SendTx(tx); err != nil {
		t.Fatal(err)
	}
	if m := recv(ctx, t, n2.Messages(p2p.TopicTx)); !bytes.Equal(m.Data, tx) {
		t.Fatalf("the newcomer got %x", m.Data)
	}
}

// Issue 17 item 3: a department removed by governance. Its connections are
// closed by the time SetMembership returns, its redials are refused and
// counted, it is no longer tracked or dialed, and the remaining members
// still gossip.
func TestSetMembershipRemovesMember(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	nw := p2ptest.NewNetwork(t, 3, 22)
	nw.StartAll()
	n0, n1, n2 := nw.Nodes[0], nw.Nodes[1], nw.Nodes[2]
	nw.WaitConnected(10 * time.Second)

	refused0 := n0.Stats().ConnsRefused
	kept := nw.Members(0, 1)
	start := time.Now()
	for _, n := range []*p2p.Host{n0, n1} {
		if err := n.SetMembership(kept, nil); err != nil {
			t.Fatal(err)
		}
	}
	// ClosePeer has run when SetMembership returns; the connection events
	// may lag a little behind.
	p2ptest.Eventually(t, 2*time.Second, "the removed member disconnected", func() bool {
		return !hostConnected(n0, n2.ID()) && !hostConnected(n1, n2.ID())
	})
	t.Logf("removed member disconnected from both in %v", time.Since(start))
	for _, n := range []*p2p.Host{n0, n1} {
		if _, ok := peerInfo(n, n2.ID()); ok {
			t.Fatal("the removed member is still tracked")
		}
	}
	// The removed node still counts 0 as a member and redials it (backoff
	// at most 1 s in the test config): refused and counted each time.
	p2ptest.Eventually(t, 10*time.Second, "the removed member's redial refused", func() bool {
		return n0.Stats().ConnsRefused > refused0
	})
	// Hold it for a while: no redial gets through, and neither remaining
	// member dials it. The removed node itself may glimpse a connection
	// for the moment between the handshake its redial completes (QUIC
	// finishes it on the dialer's side first) and member 0's gater
	// closing it; what counts is that no member holds one, and that the
	// removed node does not keep one.
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if hostConnected(n0, n2.ID()) || hostConnected(n1, n2.ID()) {
			t.Fatal("the removed member got a connection through")
		}
		time.Sleep(20 * time.Millisecond)
	}
	p2ptest.Eventually(t, 3*time.Second, "the removed member holds no connection to member 0", func() bool {
		return !p2ptest.Connected(n2, n0.ID())
	})
	if want := sorted(n0.ID(), n1.ID()); !slices.Equal(p2p.AllowedPeers(n0), want) {
		t.Fatalf("allowed set %v, want %v", p2p.AllowedPeers(n0), want)
	}

	// The remaining members still send each other txs.
	tx := p2ptest.Tx(t, 3, 100)
	if err := n1.SendTx(tx); err != nil {
		t.Fatal(err)
	}
	if m := recv(ctx, t, n0.Messages(p2p.TopicTx)); !bytes.Equal(m.Data, tx) {
		t.Fatalf("member 0 got %x", m.Data)
	}
}

// Issue 17 item 8: observers admitted by governance are admitted and never
// dialed; the operator's static Config.Observers stay admitted across
// calls; an observer dropped by a later call is disconnected and refused.
func TestSetMembershipObservers(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	nw := p2ptest.NewNetwork(t, 2, 23)
	obs := p2ptest.Identities(t, 2, 123)
	static, governed := obs[0], obs[1]
	cfg0 := nw.Config(0)
	cfg0.Observers = []peer.ID{static.PeerID}
	n0 := nw.Start(0, cfg0)
	nw.Start(1, nw.Config(1))
	nw.WaitConnected(10 * time.Second)

	gh := rawHost(t, governed, p2ptest.TCP)
	sh := rawHost(t, static, p2ptest.TCP)
	// n0 knows the governed observer's address: were it dialed, the dial
	// would succeed, and the observer would see an inbound connection.
	n0.Host().Peerstore().AddAddrs(governed.PeerID, gh.Addrs(), peerstore.PermanentAddrTTL)
	members := nw.Members(0, 1)
	if err := n0.SetMembership(members, []peer.ID{governed.PeerID}); err != nil {
		t.Fatal(err)
	}
	want := sorted(n0.ID(), nw.Nodes[1].ID(), static.PeerID, governed.PeerID)
	if got := p2p.AllowedPeers(n0); !slices.Equal(got, want) {
		t.Fatalf("allowed set %v, want %v", got, want)
	}
	time.Sleep(500 * time.Millisecond) // ten times BackoffMin
	if len(gh.Network().ConnsToPeer(n0.ID())) != 0 {
		t.Fatal("the node dialed a governed observer")
	}
	if pi, ok := peerInfo(n0, governed.PeerID); !ok || pi.Member {
		t.Fatalf("governed observer's PeerInfo: %+v (tracked %v)", pi, ok)
	}
	for _, h := range []struct {
		name string
		id   p2ptest.Identity
		dial func() error
	}{
		{"governed", governed, func() error { return gh.Connect(ctx, peer.AddrInfo{ID: n0.ID(), Addrs: n0.Addrs()}) }},
		{"static", static, func() error { return sh.Connect(ctx, peer.AddrInfo{ID: n0.ID(), Addrs: n0.Addrs()}) }},
	} {
		if err := h.dial(); err != nil {
			t.Fatalf("%s observer: %v", h.name, err)
		}
		p2ptest.Eventually(t, 5*time.Second, h.name+" observer connected", func() bool {
			return p2ptest.Connected(n0, h.id.PeerID)
		})
	}

	// Governance drops its observer; the static one stays.
	refused := n0.Stats().ConnsRefused
	if err := n0.SetMembership(members, nil); err != nil {
		t.Fatal(err)
	}
	want = sorted(n0.ID(), nw.Nodes[1].ID(), static.PeerID)
	if got := p2p.AllowedPeers(n0); !slices.Equal(got, want) {
		t.Fatalf("allowed set %v, want %v", got, want)
	}
	p2ptest.Eventually(t, 2*time.Second, "the dropped observer disconnected", func() bool {
		return !hostConnected(n0, governed.PeerID) && gh.Network().Connectedness(n0.ID()) != network.Connected
	})
	if !hostConnected(n0, static.PeerID) || !p2ptest.Connected(n0, static.PeerID) {
		t.Fatal("the static observer was disconnected")
	}
	_ = gh.Network().ClosePeer(n0.ID())
	if err := gh.Connect(ctx, peer.AddrInfo{ID: n0.ID(), Addrs: n0.Addrs()}); err == nil {
		p2ptest.Eventually(t, 5*time.Second, "the dropped observer's new connection closed", func() bool {
			return gh.Network().Connectedness(n0.ID()) != network.Connected
		})
	}
	p2ptest.Eventually(t, 5*time.Second, "the dropped observer's redial refused", func() bool {
		return n0.Stats().ConnsRefused > refused
	})
	if _, ok := peerInfo(n0, governed.PeerID); ok {
		t.Fatal("the dropped observer is still tracked")
	}
}

// A bad SetMembership call returns an error naming the problem and changes
// nothing: the allowed set and the tracked peers stay as they were.
func TestSetMembershipRefusesBadInput(t *testing.T) {
	nw := p2ptest.NewNetwork(t, 2, 24)
	stat := p2ptest.Identities(t, 1, 124)[0]
	cfg0 := nw.Config(0)
	cfg0.Observers = []peer.ID{stat.PeerID}
	n0 := nw.Start(0, cfg0)
	nw.Start(1, nw.Config(1))
	nw.WaitConnected(10 * time.Second)

	ids := p2ptest.Identities(t, 3, 224)
	good := nw.Members(0, 1)
	other := ids[0].PeerID
	mk := func(f func(ms []p2p.Member) []p2p.Member) []p2p.Member {
		ms := nw.Members(0, 1)
		return f(ms)
	}
	addr := func(s string) ma.Multiaddr {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	many := make([]p2p.Member, p2p.MaxMembers+1)
	for i := range many {
		many[i] = p2p.Member{PeerID: p2ptest.Identities(t, 1, uint64(1000+i))[0].PeerID, ValidatorIndex: uint32(i)}
	}
	cases := []struct {
		name      string
		members   []p2p.Member
		observers []peer.ID
		want      string
	}{
		{"no members", nil, nil, "no members"},
		{"too many members", many, nil, "at most 64"},
		{"bad member peer id", mk(func(ms []p2p.Member) []p2p.Member { ms[1].PeerID = ""; return ms }), nil, "member 1: peer id"},
		{"duplicate member", mk(func(ms []p2p.Member) []p2p.Member {
			return append(ms, p2p.Member{PeerID: ms[0].PeerID, ValidatorIndex: 2})
		}), nil, "already listed as member 0"},
		{"index not the position", mk(func(ms []p2p.Member) []p2p.Member { ms[0].ValidatorIndex, ms[1].ValidatorIndex = 1, 0; return ms }),
			nil, "member 0: validator index 1, want 0"},
		{"address of another peer", mk(func(ms []p2p.Member) []p2p.Member {
			ms[1].Addrs = []ma.Multiaddr{addr("/ip4/127.0.0.1/tcp/1/p2p/" + other.String())}
			return ms
		}), nil, "names peer " + other.String()},
		{"address without transport", mk(func(ms []p2p.Member) []p2p.Member {
			ms[1].Addrs = []ma.Multiaddr{addr("/p2p/" + ms[1].PeerID.String())}
			return ms
		}), nil, "no transport part"},
		{"observer is a member", good, []peer.ID{nw.Validators[1].PeerID}, "observer 0: peer id " + nw.Validators[1].PeerID.String() + " already listed as member 1"},
		{"duplicate observer", good, []peer.ID{other, other}, "observer 1: peer id " + other.String() + " already listed as observer 0"},
		{"bad observer peer id", good, []peer.ID{""}, "observer 0: peer id"},
		{"self as observer", nw.Members(1), []peer.ID{n0.ID()}, "is this node"},
	}
	allowed, peers := p2p.AllowedPeers(n0), n0.Peers()
	strip := func(ps []p2p.PeerInfo) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = fmt.Sprintf("%s member=%v index=%d", p.ID, p.Member, p.ValidatorIndex)
		}
		return out
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := n0.SetMembership(tc.members, tc.observers)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "p2p: membership: ") {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if got := p2p.AllowedPeers(n0); !slices.Equal(got, allowed) {
				t.Fatalf("allowed set changed: %v, was %v", got, allowed)
			}
			if got := strip(n0.Peers()); !slices.Equal(got, strip(peers)) {
				t.Fatalf("tracked peers changed: %v, were %v", got, strip(peers))
			}
		})
	}
	if !p2ptest.Connected(n0, nw.Validators[1].PeerID) {
		t.Fatal("a refused call disturbed the members' connection")
	}
	// A good call still works, and after Close every call is refused.
	if err := n0.SetMembership(good, []peer.ID{other}); err != nil {
		t.Fatal(err)
	}
	if err := n0.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n0.SetMembership(good, nil); !errors.Is(err, p2p.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

// Concurrent SetMembership calls, Peers() and gossip checks are
// race-free (run with -race), and the end state is one of the calls'
// whole, in the gater and the peer manager alike.
func TestSetMembershipConcurrent(t *testing.T) {
	nw := p2ptest.NewNetwork(t, 3, 25)
	n0 := nw.Start(0, nw.Config(0))
	nw.Start(1, nw.Config(1))
	nw.Start(2, nw.Config(2))
	nw.WaitConnected(10 * time.Second)
	obs := p2ptest.Identities(t, 1, 125)[0].PeerID
	sets := []struct {
		members   []p2p.Member
		observers []peer.ID
	}{
		{nw.Members(0, 1, 2), nil},
		{nw.Members(0, 2), []peer.ID{obs}},
		{nw.Members(2, 1, 0), nil},
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 10 {
				s := sets[(g+i)%len(sets)]
				if err := n0.SetMembership(s.members, s.observers); err != nil {
					t.Error(err)
				}
				_ = n0.Peers()
			}
		})
	}
	wg.Wait()
	final := sets[0]
	if err := n0.SetMembership(final.members, final.observers); err != nil {
		t.Fatal(err)
	}
	if want := sorted(n0.ID(), nw.Nodes[1].ID(), nw.Nodes[2].ID()); !slices.Equal(p2p.AllowedPeers(n0), want) {
		t.Fatalf("allowed set %v, want %v", p2p.AllowedPeers(n0), want)
	}
	for _, pi := range n0.Peers() {
		want := map[peer.ID]uint32{nw.Nodes[1].ID(): 1, nw.Nodes[2].ID(): 2}
		if idx, ok := want[pi.ID]; !ok || !pi.Member || pi.ValidatorIndex != idx {
			t.Fatalf("PeerInfo %+v after the final call", pi)
		}
	}
	// Member 1 was removed and added back many times; it is reconnected.
	p2ptest.Eventually(t, 10*time.Second, "members reconnected", func() bool {
		return p2ptest.Connected(n0, nw.Nodes[1].ID()) && p2ptest.Connected(n0, nw.Nodes[2].ID())
	})
}
