package genesis

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func sm2Key(t *testing.T) crypto.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_SM2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sm2Doc is validDoc on an "sm2-sm3" chain: every key SM2, every validator
// bound to its peer id. It returns the validators' consensus keys too.
func sm2Doc(t *testing.T) (*pb.GenesisDoc, []crypto.PrivateKey) {
	t.Helper()
	doc := validDoc(t)
	doc.CryptoSuite = crypto.SuiteNameSM2SM3
	var keys []crypto.PrivateKey
	for _, d := range doc.Validators {
		k := sm2Key(t)
		keys = append(keys, k)
		d.ConsensusKey = k.Public()
		b, err := BindPeer(k, doc.ChainId, d.Id, d.PeerId)
		if err != nil {
			t.Fatal(err)
		}
		d.PeerBinding = b
	}
	for _, id := range doc.Identities {
		id.PublicKey = sm2Key(t).Public()
	}
	return doc, keys
}

func TestSM2GenesisValid(t *testing.T) {
	doc, _ := sm2Doc(t)
	if warns, err := Validate(doc); err != nil || len(warns) != 0 {
		t.Fatalf("valid sm2-sm3 genesis: %v %v", warns, err)
	}
	for i, d := range doc.Validators {
		if err := CheckPeerBinding(crypto.SM2SM3, doc.ChainId, d); err != nil {
			t.Fatalf("validators[%d]: %v", i, err)
		}
	}
}

// Every key of a genesis is of its suite's scheme, and a validator's peer
// binding follows the suite's rule; each refusal names the field and, for a
// binding, the validator.
func TestGenesisSuiteKeysAndBindings(t *testing.T) {
	edDoc := func(t *testing.T) *pb.GenesisDoc { return validDoc(t) }
	smDoc := func(t *testing.T) *pb.GenesisDoc { d, _ := sm2Doc(t); return d }
	for _, tc := range []struct {
		name   string
		doc    func(t *testing.T) *pb.GenesisDoc
		mutate func(t *testing.T, d *pb.GenesisDoc)
		field  string
		want   []string
	}{
		{"ed25519 consensus key on sm2-sm3", smDoc, func(t *testing.T, d *pb.GenesisDoc) { d.Validators[2].ConsensusKey = pubKey(t) },
			"validators[2].consensus_key", []string{"a ed25519 key on a sm2-sm3 chain", "takes sm2 keys"}},
		{"sm2 consensus key on ed25519-sha256", edDoc, func(t *testing.T, d *pb.GenesisDoc) { d.Validators[1].ConsensusKey = sm2Key(t).Public() },
			"validators[1].consensus_key", []string{"a sm2 key on a ed25519-sha256 chain"}},
		{"sm2 consensus key on a genesis naming no suite", edDoc, func(t *testing.T, d *pb.GenesisDoc) {
			d.CryptoSuite = ""
			d.Validators[0].ConsensusKey = sm2Key(t).Public()
		}, "validators[0].consensus_key", []string{"a sm2 key on a ed25519-sha256 chain"}},
		{"ed25519 identity key on sm2-sm3", smDoc, func(t *testing.T, d *pb.GenesisDoc) { d.Identities[5].PublicKey = pubKey(t) },
			"identities[5].public_key", []string{"a ed25519 key on a sm2-sm3 chain"}},
		{"sm2 identity key on ed25519-sha256", edDoc, func(t *testing.T, d *pb.GenesisDoc) { d.Identities[4].PublicKey = sm2Key(t).Public() },
			"identities[4].public_key", []string{"a sm2 key on a ed25519-sha256 chain"}},
		{"bad sm2 key encoding", smDoc, func(t *testing.T, d *pb.GenesisDoc) {
			d.Identities[0].PublicKey.Key = d.Identities[0].PublicKey.Key[:10]
		},
			"identities[0].public_key", []string{"bad key encoding"}},
		{"ed25519 key in key_history on sm2-sm3", smDoc, func(t *testing.T, d *pb.GenesisDoc) {
			d.Identities[1].KeyHistory = []*pb.KeyChange{{PublicKey: pubKey(t)}}
		}, "identities[1].key_history[0].public_key", []string{"a ed25519 key on a sm2-sm3 chain"}},
		{"missing binding", smDoc, func(t *testing.T, d *pb.GenesisDoc) { d.Validators[1].PeerBinding = nil },
			"validators[1].peer_binding", []string{`validator "dept1"`, "missing peer binding"}},
		{"binding by another key", smDoc, func(t *testing.T, d *pb.GenesisDoc) {
			d.Validators[3].PeerBinding = mustBind(t, sm2Key(t), d.ChainId, "dept3", d.Validators[3].PeerId)
		}, "validators[3].peer_binding", []string{`validator "dept3"`, "does not verify"}},
		{"binding of another peer id", smDoc, func(t *testing.T, d *pb.GenesisDoc) {
			d.Validators[0].PeerBinding = d.Validators[1].PeerBinding
		}, "validators[0].peer_binding", []string{`validator "dept0"`, "does not verify"}},
		{"binding for another chain", smDoc, func(t *testing.T, d *pb.GenesisDoc) { d.ChainId = "other-chain" },
			"validators[0].peer_binding", []string{"does not verify"}},
		{"binding after the peer id changed", smDoc, func(t *testing.T, d *pb.GenesisDoc) { d.Validators[2].PeerId = peerID(t) },
			"validators[2].peer_binding", []string{`validator "dept2"`, "does not verify"}},
		{"binding on ed25519-sha256", edDoc, func(t *testing.T, d *pb.GenesisDoc) { d.Validators[2].PeerBinding = []byte{1, 2, 3} },
			"validators[2].peer_binding", []string{`validator "dept2"`, "peer binding on a chain whose suite takes none"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.doc(t)
			tc.mutate(t, d)
			_, err := Validate(d)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate: %v, want a ValidationError", err)
			}
			for _, p := range ve.Problems {
				if p.Field != tc.field {
					continue
				}
				for _, w := range tc.want {
					if !strings.Contains(p.Reason, w) {
						t.Fatalf("%s: %q lacks %q", p.Field, p.Reason, w)
					}
				}
				return
			}
			t.Fatalf("no problem at %s; got:\n%v", tc.field, err)
		})
	}
}

func mustBind(t *testing.T, k crypto.PrivateKey, chain, dept, peerID string) []byte {
	t.Helper()
	b, err := BindPeer(k, chain, dept, peerID)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// AddValidator applies the suite: on an sm2-sm3 document it takes a bound
// SM2 validator and refuses an unbound one or an Ed25519 one.
func TestAddValidatorSM2(t *testing.T) {
	doc, _ := sm2Doc(t)
	k := sm2Key(t)
	d := &pb.Department{Id: "dept4", Name: "D4", ConsensusKey: k.Public(), PeerId: peerID(t), Addrs: []string{"/ip4/10.0.0.5/tcp/1"}}
	unbound := proto.Clone(d).(*pb.Department)
	if err := AddValidator(doc, unbound); err == nil || !strings.Contains(err.Error(), "validators[4].peer_binding") {
		t.Fatalf("unbound validator: %v", err)
	}
	ed := proto.Clone(d).(*pb.Department)
	ed.ConsensusKey = pubKey(t)
	if err := AddValidator(doc, ed); err == nil || !strings.Contains(err.Error(), "a ed25519 key on a sm2-sm3 chain") {
		t.Fatalf("ed25519 validator: %v", err)
	}
	if len(doc.Validators) != 4 {
		t.Fatal("a refused validator was added")
	}
	d.PeerBinding = mustBind(t, k, doc.ChainId, d.Id, d.PeerId)
	if err := AddValidator(doc, d); err != nil {
		t.Fatal(err)
	}
}
