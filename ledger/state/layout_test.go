package state_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"

	"github.com/govnode/govnode/ledger/internal/ledgertest"
	"github.com/govnode/govnode/ledger/state"
)

// layoutChain is a deterministic history: version v's changes (sets,
// updates, deletes, values set to what they were) over a key universe.
func layoutChain(v uint64) []state.Change {
	rng := rand.New(rand.NewPCG(v, 0x1a7))
	n := 1 + rng.IntN(60)
	if v == 0 {
		n = 200
	}
	seen := map[int]bool{}
	var ch []state.Change
	for j := 0; j < n; j++ {
		i := rng.IntN(300)
		if seen[i] {
			continue
		}
		seen[i] = true
		k := fmt.Sprint("lk/", i)
		switch {
		case v > 0 && rng.IntN(4) == 0:
			ch = append(ch, del(k))
		case rng.IntN(5) == 0:
			ch = append(ch, set(k, fmt.Sprint("same-", i))) // often set to what it was
		default:
			ch = append(ch, set(k, fmt.Sprint(v, "/", rng.Uint64())))
		}
	}
	return ch
}

// sameProofs checks that a and b give the same root, values and proof
// bytes for every key of layoutChain's universe (and some never used) at
// version v.
func sameProofs(t *testing.T, a, b *state.Tree, v uint64) {
	t.Helper()
	ra, erra := a.Root(v)
	rb, errb := b.Root(v)
	if erra != nil || errb != nil || ra != rb {
		t.Fatalf("version %d: roots %x (%v) and %x (%v)", v, ra, erra, rb, errb)
	}
	for i := 0; i < 310; i++ {
		k := []byte(fmt.Sprint("lk/", i))
		va, pa, erra := a.GetWithProof(v, k)
		vb, pb, errb := b.GetWithProof(v, k)
		if erra != nil || errb != nil || !bytes.Equal(va, vb) || (va == nil) != (vb == nil) || !bytes.Equal(pa.Marshal(), pb.Marshal()) {
			t.Fatalf("version %d key %s: %q %v vs %q %v", v, k, va, erra, vb, errb)
		}
		if err := state.Verify(state.SHA256, ra, k, va, pa); err != nil {
			t.Fatalf("version %d key %s: %v", v, k, err)
		}
	}
}

// TestVersionKeysAgainstContentAddressed (keys.go): a version-keyed tree
// and a content-addressed one given the same history have the same roots
// and the same proofs, byte for byte, at every version, also at old
// versions read after many later ones, also with a cold cache; and a
// tree that goes on with version keys from a content-addressed history
// (an upgraded ledger), in the same database or with the old records in
// another (Options.Legacy), agrees with both.
func TestVersionKeysAgainstContentAddressed(t *testing.T) {
	const versions, switchAt = 40, 15
	caDB := ledgertest.MemDB(t)
	ca, err := state.OpenContentAddressed(caDB, prefix)
	if err != nil {
		t.Fatal(err)
	}
	vkDB, vk := newTree(t)
	mixDB := ledgertest.MemDB(t)
	mix, err := state.OpenContentAddressed(mixDB, prefix)
	if err != nil {
		t.Fatal(err)
	}
	// split: the content-addressed versions in oldDB, the rest in newDB.
	oldDB, newDB := ledgertest.MemDB(t), ledgertest.MemDB(t)
	split, err := state.OpenContentAddressed(oldDB, prefix)
	if err != nil {
		t.Fatal(err)
	}
	splitDB := oldDB
	model := map[string][]byte{}
	for v := uint64(0); v < versions; v++ {
		if v == switchAt {
			if mix, err = state.Open(mixDB, prefix); err != nil {
				t.Fatal(err)
			}
			o := state.DefaultOptions()
			o.Legacy = oldDB
			if split, err = state.OpenWithOptions(newDB, prefix, o); err != nil {
				t.Fatal(err)
			}
			if got, ok := split.LatestVersion(); !ok || got != switchAt-1 {
				t.Fatalf("split tree opens at version %d (%v)", got, ok)
			}
			splitDB = newDB
		}
		ch := layoutChain(v)
		for _, c := range ch {
			if c.Delete {
				delete(model, string(c.Key))
			} else {
				model[string(c.Key)] = c.Value
			}
		}
		want := ledgertest.ReferenceRoot(model)
		for name, got := range map[string]state.Hash{
			"content-addressed": commit(t, caDB, ca, v, ch),
			"version-keyed":     commit(t, vkDB, vk, v, ch),
			"mixed":             commit(t, mixDB, mix, v, ch),
			"split":             commit(t, splitDB, split, v, ch),
		} {
			if got != want {
				t.Fatalf("version %d, %s: root %x, reference %x", v, name, got, want)
			}
		}
	}
	// Old versions, after all the later ones; then again from trees
	// opened afresh (no page cached).
	o := state.DefaultOptions()
	o.Legacy = oldDB
	coldSplit, err := state.OpenWithOptions(newDB, prefix, o)
	if err != nil {
		t.Fatal(err)
	}
	coldVK, err := state.Open(vkDB, prefix)
	if err != nil {
		t.Fatal(err)
	}
	coldMix, err := state.Open(mixDB, prefix)
	if err != nil {
		t.Fatal(err)
	}
	for v := uint64(0); v < versions; v++ {
		for _, tr := range []*state.Tree{vk, mix, split, coldVK, coldMix, coldSplit} {
			sameProofs(t, ca, tr, v)
			if _, err := tr.CheckIntegrity(v); err != nil {
				t.Fatalf("CheckIntegrity(%d): %v", v, err)
			}
			if err := tr.CheckRoot(v); err != nil {
				t.Fatalf("CheckRoot(%d): %v", v, err)
			}
		}
	}
	// Without the old records' database, the split tree finds its old
	// versions' records missing: an error, never a wrong answer.
	blind, err := state.Open(newDB, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blind.CheckIntegrity(versions - 1); !errors.Is(err, state.ErrCorrupt) {
		t.Fatalf("CheckIntegrity without the content-addressed records: %v", err)
	}
	if _, err := blind.Root(0); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("Root(0) without the content-addressed records: %v", err)
	}
}

// TestRewindAndDiscard: what the block store does at open when a crash
// left the tree one version ahead of the blocks.
func TestRewindAndDiscard(t *testing.T) {
	db, tr := newTree(t)
	var roots []state.Hash
	for v := uint64(0); v < 5; v++ {
		roots = append(roots, commit(t, db, tr, v, layoutChain(v)))
	}
	if err := tr.Rewind(5); err == nil {
		t.Fatal("rewound to a version never committed")
	}
	if err := tr.Rewind(3); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Root(4); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("Root(4) after Rewind(3): %v", err)
	}
	if _, err := tr.Get(4, []byte("lk/1")); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("Get at 4 after Rewind(3): %v", err)
	}
	if r, err := tr.Root(3); err != nil || r != roots[3] {
		t.Fatalf("Root(3) = %x, %v", r, err)
	}
	// Discard version 4's records, reopen, and commit it again.
	b := new(leveldb.Batch)
	n, err := tr.DiscardFrom(4, b)
	if err != nil || n == 0 {
		t.Fatalf("DiscardFrom(4) = %d, %v", n, err)
	}
	if err := db.Write(b, nil); err != nil {
		t.Fatal(err)
	}
	tr, err = state.Open(db, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := tr.LatestVersion(); v != 3 {
		t.Fatalf("latest %d after discarding 4", v)
	}
	if got := commit(t, db, tr, 4, layoutChain(4)); got != roots[4] {
		t.Fatalf("version 4 again: root %x, was %x", got, roots[4])
	}
	for v := uint64(0); v < 5; v++ {
		if _, err := tr.CheckIntegrity(v); err != nil {
			t.Fatal(err)
		}
	}
	// Content-addressed versions are never discarded.
	caDB := ledgertest.MemDB(t)
	ca, err := state.OpenContentAddressed(caDB, prefix)
	if err != nil {
		t.Fatal(err)
	}
	commit(t, caDB, ca, 0, layoutChain(0))
	if _, err := ca.DiscardFrom(0, new(leveldb.Batch)); err == nil {
		t.Fatal("discarded a content-addressed version")
	}
}
