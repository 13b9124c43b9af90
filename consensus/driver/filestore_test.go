package driver_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/driver"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"google.golang.org/protobuf/proto"
)

func TestFileSafetyStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "safety")
	s := driver.NewFileSafetyStore(path)
	st, err := s.Load()
	if err != nil || st.View != 0 || st.HighQC != nil {
		t.Fatalf("fresh load: %+v %v", st, err)
	}
	want := consensus.SafetyState{View: 7, LastVotedView: 7, LastVotedHeight: math.MaxUint64,
		HighQC: &pb.QuorumCert{View: 6, Height: 40, BlockHash: crypto.Hash([]byte("b")), Sigs: []*pb.ValidatorSig{{Validator: 1, Signature: []byte("s")}}},
		Blocks: []*pb.Block{{Header: []byte("h1"), Txs: [][]byte{[]byte("tx")}}, {Header: []byte("h2"), Signature: []byte("sig")}}}
	for i := 0; i < 3; i++ {
		want.View += uint64(i)
		if err := s.Save(want); err != nil {
			t.Fatal(err)
		}
	}
	got, err := driver.NewFileSafetyStore(path).Load()
	if err != nil {
		t.Fatal(err)
	}
	if got.View != want.View || got.LastVotedView != want.LastVotedView || got.LastVotedHeight != want.LastVotedHeight || !proto.Equal(got.HighQC, want.HighQC) ||
		len(got.Blocks) != 2 || !proto.Equal(got.Blocks[0], want.Blocks[0]) || !proto.Equal(got.Blocks[1], want.Blocks[1]) {
		t.Fatalf("round trip: got %+v want %+v", got, want)
	}
	// Only the state file is left: no temp files.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries", len(ents))
	}
	// A corrupt file is an error, never a guess.
	b, _ := os.ReadFile(path)
	for _, bad := range [][]byte{b[:len(b)-1], append([]byte("XXXX"), b[4:]...), func() []byte { c := append([]byte(nil), b...); c[10] ^= 1; return c }()} {
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(); !errors.Is(err, driver.ErrCorruptSafetyState) {
			t.Fatalf("corrupt file: %v", err)
		}
	}
	// Save into a missing directory fails and says so.
	if err := driver.NewFileSafetyStore(filepath.Join(dir, "nope", "safety")).Save(want); err == nil {
		t.Fatal("save into a missing directory succeeded")
	}
}
