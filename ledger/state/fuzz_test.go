package state_test

import (
	"bytes"
	"testing"

	"github.com/govnode/govnode/ledger/state"
)

// FuzzUnmarshalProof checks that the decoder never panics, that whatever it
// accepts re-encodes to the same bytes (the encoding is canonical), and that
// Verify never panics on a decoded proof.
func FuzzUnmarshalProof(f *testing.F) {
	db, tr := newTree(f)
	var changes []state.Change
	for i := 0; i < 64; i++ {
		changes = append(changes, set(string(rune('a'+i%26))+string(rune('A'+i/26)), "v"))
	}
	root := commit(f, db, tr, 0, changes)
	for _, k := range []string{"aA", "zz", "bB", "nope"} {
		_, p, err := tr.GetWithProof(0, []byte(k))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p.Marshal(), []byte(k))
	}
	f.Add([]byte{0, 0}, []byte("x"))
	f.Add([]byte{1, 0}, []byte("x"))
	f.Fuzz(func(t *testing.T, b, key []byte) {
		p, err := state.UnmarshalProof(b)
		if err != nil {
			return
		}
		if got := p.Marshal(); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, got)
		}
		_ = state.Verify(state.SHA256, root, key, nil, p)
		_ = state.Verify(state.SHA256, root, key, []byte("v"), p)
	})
}
