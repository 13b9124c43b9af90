package driver_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/driver"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
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
		HighQC: &pb.QuorumCert{View: 6, Height: 40, BlockHash: crypto.Ed25519SHA256.Hash([]byte("b")), Sigs: []*pb.ValidatorSig{{Validator: 1, Signature: []byte("s")}}},
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
	// A file that is not a safety file, or whose slots are all broken, is
	// an error, never a guess.
	b, _ := os.ReadFile(path)
	breakSlots := func() []byte {
		c := slices.Clone(b)
		slot := (len(c) - 8) / 2
		c[8+20] ^= 1      // slot 0's record
		c[8+slot+20] ^= 1 // slot 1's
		return c
	}
	for _, bad := range [][]byte{b[:len(b)-1], append([]byte("XXXX"), b[4:]...), breakSlots(), b[:6]} {
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

func safetyState(view uint64, blocks int) consensus.SafetyState {
	st := consensus.SafetyState{View: view, LastVotedView: view, LastVotedHeight: view * 2,
		HighQC: &pb.QuorumCert{View: view - 1, Height: view, BlockHash: crypto.Ed25519SHA256.Hash([]byte{byte(view)})}}
	for i := range blocks {
		st.Blocks = append(st.Blocks, &pb.Block{Header: []byte{byte(i)}, Txs: [][]byte{make([]byte, 1000)}})
	}
	return st
}

func loadView(t *testing.T, path string) (uint64, int) {
	t.Helper()
	st, err := driver.NewFileSafetyStore(path).Load()
	if err != nil {
		t.Fatal(err)
	}
	return st.View, len(st.Blocks)
}

// Saves alternate between the two slots; a torn write of the newest slot
// (a crash inside Save) leaves the state of the Save before it; a state
// that outgrows the slots gets a new file with larger ones, and later
// saves go on from it; a store opened on an existing file goes on from
// its latest state.
func TestFileSafetyStoreSlots(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "safety")
	s := driver.NewFileSafetyStore(path)
	if _, err := s.Load(); err != nil {
		t.Fatal(err)
	}
	for v := uint64(1); v <= 5; v++ {
		if err := s.Save(safetyState(v, 1)); err != nil {
			t.Fatal(err)
		}
		if got, _ := loadView(t, path); got != v {
			t.Fatalf("after save %d: load gives view %d", v, got)
		}
	}
	// View 5 is in slot 1 (sequence 5), view 4 in slot 0. Tear slot 1.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	slot := (len(b) - 8) / 2
	torn := slices.Clone(b)
	torn[8+slot+100] ^= 0xff
	if err := os.WriteFile(path, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := loadView(t, path); got != 4 {
		t.Fatalf("newest slot torn: load gives view %d, want 4", got)
	}
	// A store reopened on it goes on from view 4: its next save goes to
	// the torn slot, and view 4 stays intact beside it.
	s = driver.NewFileSafetyStore(path)
	if v, _ := s.Load(); v.View != 4 {
		t.Fatalf("reopened at view %d", v.View)
	}
	if err := s.Save(safetyState(6, 1)); err != nil {
		t.Fatal(err)
	}
	if got, _ := loadView(t, path); got != 6 {
		t.Fatalf("after save 6: view %d", got)
	}
	// A state larger than a slot (70 blocks of 1 KB > 64 KiB / 2).
	if err := s.Save(safetyState(7, 70)); err != nil {
		t.Fatal(err)
	}
	if v, n := loadView(t, path); v != 7 || n != 70 {
		t.Fatalf("large state: view %d, %d blocks", v, n)
	}
	if fi, _ := os.Stat(path); fi.Size() <= int64(len(b)) {
		t.Fatalf("file of %d bytes did not grow for a large state", fi.Size())
	}
	for v := uint64(8); v <= 9; v++ {
		if err := s.Save(safetyState(v, 2)); err != nil {
			t.Fatal(err)
		}
	}
	// View 9 went into slot 1 over view 7's longer record, whose tail
	// stays behind it.
	if v, n := loadView(t, path); v != 9 || n != 2 {
		t.Fatalf("after the large state: view %d, %d blocks", v, n)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries", len(ents))
	}
}

// A file in the format before slots (one bare record) loads, and the next
// Save replaces it with a slotted file.
func TestFileSafetyStoreReadsBareRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "safety")
	s := driver.NewFileSafetyStore(path)
	if err := s.Save(safetyState(3, 1)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The bare record is slot 1's (sequence 1): after the 8-byte header
	// and slot 0, behind the sequence number and length.
	slot := (len(b) - 8) / 2
	n := int(b[8+slot+8])<<24 | int(b[8+slot+9])<<16 | int(b[8+slot+10])<<8 | int(b[8+slot+11])
	bare := b[8+slot+12 : 8+slot+12+n]
	if err := os.WriteFile(path, bare, 0o600); err != nil {
		t.Fatal(err)
	}
	s = driver.NewFileSafetyStore(path)
	if st, err := s.Load(); err != nil || st.View != 3 {
		t.Fatalf("bare record: %+v %v", st, err)
	}
	if err := s.Save(safetyState(4, 1)); err != nil {
		t.Fatal(err)
	}
	if got, _ := loadView(t, path); got != 4 {
		t.Fatalf("after save: view %d", got)
	}
	if b, _ := os.ReadFile(path); string(b[:4]) != "GVS2" {
		t.Fatalf("not rewritten with slots: %q", b[:4])
	}
}
