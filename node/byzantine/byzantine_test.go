//go:build byzantine

package byzantine

import (
	"bytes"
	"crypto/rand"
	"log/slog"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func TestParseByzantine(t *testing.T) {
	cases := []struct {
		in   string
		want byzBehaviours
		bad  bool
	}{
		{"equivocate", byzBehaviours{equivocate: true}, false},
		{"doublevote, badsig", byzBehaviours{doubleVote: true, badSig: true}, false},
		{"garbage,", byzBehaviours{garbage: true}, false},
		{"all", byzBehaviours{true, true, true, true}, false},
		{"equivocate,lies", byzBehaviours{}, true},
	}
	for _, c := range cases {
		got, err := parseByzantine(c.in)
		if (err != nil) != c.bad {
			t.Fatalf("%q: err %v", c.in, err)
		}
		if !c.bad && got != c.want {
			t.Fatalf("%q: %+v, want %+v", c.in, got, c.want)
		}
	}
	d := Deps{Logger: slog.New(slog.DiscardHandler)}
	if _, err := New("all", d); err == nil {
		t.Fatal("an observer (no validator key) was allowed to misbehave")
	}
	if b, err := New("", d); err != nil || b != (Honest{}) {
		t.Fatalf("no behaviours: %T, %v", b, err)
	}
}

// The equivocating block and the conflicting vote are validly signed (so
// gossip and the consensus core accept them) and conflict with the original.
func TestTwinBlockAndConflictingVote(t *testing.T) {
	key, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.Header{ChainId: "c", View: 7, Height: 3, TimeUnixMs: 1000})
	blk := &pb.Block{Header: hb, Txs: [][]byte{[]byte("tx")}}
	twin, hdr, err := twinBlock("c", key, blk)
	if err != nil {
		t.Fatal(err)
	}
	th := crypto.Ed25519SHA256.Hash(twin.GetHeader())
	if bytes.Equal(th, crypto.Ed25519SHA256.Hash(hb)) || hdr.GetView() != 7 || hdr.GetHeight() != 3 {
		t.Fatalf("twin is not a different block for the same slot: %v", hdr)
	}
	if err := crypto.Verify(key.Public(), crypto.ProposalSignBytes("c", th), twin.GetSignature()); err != nil {
		t.Fatalf("twin signature: %v", err)
	}
	v, err := signedVote("c", key, 2, 7, 3, th)
	if err != nil {
		t.Fatal(err)
	}
	if err := crypto.Verify(key.Public(), crypto.VoteSignBytes("c", 7, 3, th), v.GetSignature()); err != nil {
		t.Fatalf("vote signature: %v", err)
	}

	// badsig: the corrupted copy no longer verifies; the original is intact.
	m := &pb.ConsensusMessage{Sender: 2, Msg: &pb.ConsensusMessage_Vote{Vote: v}}
	bad := corruptConsensus(m).GetVote()
	if crypto.Verify(key.Public(), crypto.VoteSignBytes("c", 7, 3, th), bad.GetSignature()) == nil {
		t.Fatal("corrupted vote still verifies")
	}
	if crypto.Verify(key.Public(), crypto.VoteSignBytes("c", 7, 3, th), v.GetSignature()) != nil {
		t.Fatal("corruptConsensus modified the original")
	}
}
