package p2p

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/test"
)

// The direct service's memory (limits.go): a member that announces full
// frames on its streams and dribbles their bodies holds at most two full
// frames' reservations; and as many such members as a quorum tolerates
// being faulty, each holding all it may, still leave room for another
// member's full frame. Review of issue 20: the service held four frames
// for all peers, so two such members starved every honest frame.
func TestDirectMemoryHeldPerPeer(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ChainID = "limits"
	rm, err := resourceManager(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	frame := cfg.frameMax()
	// stream opens an inbound direct stream of p as handle does.
	stream := func(p peer.ID) network.StreamManagementScope {
		t.Helper()
		s, err := rm.OpenStream(p, network.DirInbound)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetProtocol(DirectProtocol(cfg.ChainID)); err != nil {
			t.Fatal(err)
		}
		if err := s.SetService(directServiceName); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Done)
		return s
	}
	for i := range MaxMembers / 3 {
		hog := test.RandPeerIDFatal(t)
		held := 0
		for range 4 { // the streams a peer may open
			if stream(hog).ReserveMemory(frame, network.ReservationPriorityAlways) == nil {
				held++
			}
		}
		if held != 2 {
			t.Fatalf("faulty member %d holds %d full frames, want 2", i, held)
		}
	}
	honest := test.RandPeerIDFatal(t)
	for i := range 2 {
		if err := stream(honest).ReserveMemory(frame, network.ReservationPriorityAlways); err != nil {
			t.Fatalf("an honest member's full frame %d refused while %d faulty members hold theirs: %v", i, MaxMembers/3, err)
		}
	}
}
