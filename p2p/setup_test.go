package p2p_test

import (
	"strings"
	"testing"

	"github.com/govnode/govnode/p2p"
	"github.com/govnode/govnode/p2p/p2ptest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// ConfigFor builds members from the validator set and takes the node's own
// settings; each bad value is refused with an error naming it.
func TestConfigFor(t *testing.T) {
	nw := p2ptest.NewNetwork(t, 2, 9)
	vs := &pb.ValidatorSet{}
	for _, v := range nw.Validators {
		vs.Validators = append(vs.Validators, &pb.Department{PeerId: v.PeerID.String(), Addrs: []string{"/ip4/127.0.0.1/tcp/1"}})
	}
	params := &pb.Params{MaxTxBytes: 65536, MaxBlockBytes: 1 << 20}
	base := p2p.Setup{ChainID: "c", Validators: vs, Params: params, ListenAddrs: []string{p2ptest.TCP}, Self: nw.Validators[0].PeerID}
	c, err := p2p.ConfigFor(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Members) != 2 || c.Members[1].PeerID != nw.Validators[1].PeerID || len(c.Members[1].Addrs) != 1 || c.MaxTxBytes != 65536 {
		t.Fatalf("config %+v", c)
	}
	extra := base
	extra.PersistentPeers = []string{"/ip4/10.0.0.1/tcp/2/p2p/" + nw.Validators[1].PeerID.String()}
	if c, err := p2p.ConfigFor(extra); err != nil || len(c.Members[1].Addrs) != 2 {
		t.Fatalf("persistent peer address not added: %v", err)
	}
	// A persistent peer that is not a member now (removed by governance,
	// or not added yet) is skipped and reported, not an error: a member
	// must restart with the config it had.
	gone := base
	var skipped []string
	gone.Skipped = func(p string) { skipped = append(skipped, p) }
	gone.PersistentPeers = []string{"/ip4/10.0.0.1/tcp/2/p2p/12D3KooWAFVuBx4NkqWJhzoSvYwzLycDgnsoehcfCERDheEMi7G9"}
	if c, err := p2p.ConfigFor(gone); err != nil || len(skipped) != 1 || len(c.Members) != 2 {
		t.Fatalf("non-member persistent peer: %v, skipped %v", err, skipped)
	}
	bad := map[string]func(s *p2p.Setup){
		"p2p.persistent_peers": func(s *p2p.Setup) { s.PersistentPeers = []string{"not a multiaddr"} },
		"p2p.observers":        func(s *p2p.Setup) { s.Observers = []string{"nope"} },
		"validator 1 peer id": func(s *p2p.Setup) {
			s.Validators = &pb.ValidatorSet{Validators: []*pb.Department{vs.Validators[0], {PeerId: "x"}}}
		},
	}
	for want, mutate := range bad {
		s := base
		mutate(&s)
		if _, err := p2p.ConfigFor(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
}
