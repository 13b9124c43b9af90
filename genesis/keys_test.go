package genesis

import (
	"strings"
	"testing"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Every key a genesis names, consensus keys, identity keys and the node
// keys inside peer ids, is refused when it is a small-order Ed25519 point:
// a signature of zeros verifies for such a key (crypto/ed25519key.go).
func TestGenesisRefusesSmallOrderKeys(t *testing.T) {
	zero := make([]byte, 32)
	ident := append([]byte{1}, make([]byte, 31)...)
	zeroPeer := func(t *testing.T, raw []byte) string {
		pk, err := lcrypto.UnmarshalEd25519PublicKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPublicKey(pk)
		if err != nil {
			t.Fatal(err)
		}
		return id.String()
	}
	edKey := func(raw []byte) *pb.PublicKey {
		return &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_ED25519, Key: raw}
	}
	cases := []struct {
		name   string
		mutate func(t *testing.T, d *pb.GenesisDoc)
		field  string
	}{
		{"zero consensus key", func(t *testing.T, d *pb.GenesisDoc) { d.Validators[1].ConsensusKey = edKey(zero) }, "validators[1].consensus_key"},
		{"identity consensus key", func(t *testing.T, d *pb.GenesisDoc) { d.Validators[1].ConsensusKey = edKey(ident) }, "validators[1].consensus_key"},
		{"zero identity key", func(t *testing.T, d *pb.GenesisDoc) { d.Identities[0].PublicKey = edKey(zero) }, "identities[0].public_key"},
		{"zero node key", func(t *testing.T, d *pb.GenesisDoc) { d.Validators[2].PeerId = zeroPeer(t, zero) }, "validators[2].peer_id"},
		{"identity node key", func(t *testing.T, d *pb.GenesisDoc) { d.Validators[2].PeerId = zeroPeer(t, ident) }, "validators[2].peer_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := validDoc(t)
			tc.mutate(t, d)
			_, err := Validate(d)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), "small-order") {
				t.Fatalf("error does not name %s and the small-order key: %v", tc.field, err)
			}
		})
	}
}
