package p2p_test

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/govnode/govnode/p2p"
	"github.com/govnode/govnode/p2p/p2ptest"
)

// Resource limits (issue item 6): one peer cannot hold more than 8 sync
// streams open against a node; the 9th is refused by the resource manager
// while the 8 are open, and others are served meanwhile.
func TestSyncStreamsCappedPerPeer(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	nw := p2ptest.NewNetwork(t, 2, 8)
	hog := p2ptest.Identities(t, 1, 88)[0]
	cfg0 := nw.Config(0)
	cfg0.Observers = []peer.ID{hog.PeerID}
	server := nw.Start(0, cfg0, p2p.WithBlockSource(p2ptest.NewBlocks(t, 5, 10)))
	client := nw.Start(1, nw.Config(1))
	nw.WaitConnected(10 * time.Second)

	hh := rawHost(t, hog)
	if err := hh.Connect(ctx, peer.AddrInfo{ID: server.ID(), Addrs: server.Addrs()}); err != nil {
		t.Fatal(err)
	}
	proto := p2p.SyncProtocol(p2ptest.ChainID)
	open := func() (network.Stream, error) {
		s, err := hh.NewStream(ctx, server.ID(), proto)
		if err != nil {
			return nil, err
		}
		// Half a length prefix: the server's handler waits for the rest.
		if _, err := s.Write([]byte{0x80}); err != nil {
			_ = s.Reset()
			return nil, err
		}
		return s, nil
	}
	inbound := func() int {
		var n int
		_ = server.Host().Network().ResourceManager().ViewProtocol(proto, func(s network.ProtocolScope) error {
			n = s.Stat().NumStreamsInbound
			return nil
		})
		return n
	}
	var held []network.Stream
	for range 8 {
		s, err := open()
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, s)
	}
	p2ptest.Eventually(t, 10*time.Second, "8 sync streams open at the server", func() bool { return inbound() == 8 })

	s, err := open()
	if err == nil {
		_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = s.Read(make([]byte, 1))
	}
	if err == nil {
		t.Fatal("a 9th sync stream from one peer was accepted")
	}
	t.Logf("9th stream refused: %v", err)

	// Other peers are still served.
	if _, err := client.RequestStatus(ctx, server.ID()); err != nil {
		t.Fatalf("another member refused while one peer holds its cap: %v", err)
	}
	for _, s := range held {
		_ = s.Reset()
	}
	p2ptest.Eventually(t, 10*time.Second, "held streams released", func() bool { return inbound() == 0 })
}
