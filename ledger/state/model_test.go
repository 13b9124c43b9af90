package state_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/govnode/govnode/ledger/internal/ledgertest"
	"github.com/govnode/govnode/ledger/state"
)

// TestTreeAgainstModel applies random sets and deletes to the tree and to a
// plain map, version after version, and checks at every version: the root
// equals the reference root computed from the map, and for every key ever
// used (and a few never used) Get and a verified proof agree with the map.
// Old versions are checked again at the end (retained history).
func TestTreeAgainstModel(t *testing.T) {
	seeds := 8
	if testing.Short() {
		seeds = 2
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runModel(t, seed) })
	}
}

func runModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	db, tr := newTree(t)
	model := map[string][]byte{}
	var history []map[string][]byte
	var roots []state.Hash
	universe := 40 + rng.IntN(200)
	keyOf := func(i int) string { return fmt.Sprintf("k%03d", i) }
	for v := uint64(0); v < 25; v++ {
		n := rng.IntN(40)
		seen := map[int]bool{}
		var changes []state.Change
		for j := 0; j < n; j++ {
			i := rng.IntN(universe)
			if seen[i] {
				continue
			}
			seen[i] = true
			k := keyOf(i)
			if rng.IntN(3) == 0 {
				changes = append(changes, del(k))
				delete(model, k)
			} else {
				val := []byte(fmt.Sprint("v", rng.Uint32()))
				if rng.IntN(10) == 0 {
					val = []byte{}
				}
				changes = append(changes, state.Change{Key: []byte(k), Value: val})
				model[k] = val
			}
		}
		rng.Shuffle(len(changes), func(i, j int) { changes[i], changes[j] = changes[j], changes[i] })
		root := commit(t, db, tr, v, changes)
		if want := ledgertest.ReferenceRoot(model); root != want {
			t.Fatalf("version %d: root %x, reference %x", v, root, want)
		}
		snap := make(map[string][]byte, len(model))
		for k, val := range model {
			snap[k] = val
		}
		history = append(history, snap)
		roots = append(roots, root)
		checkVersion(t, tr, v, root, snap, universe)
	}
	for v := range history {
		checkVersion(t, tr, uint64(v), roots[v], history[v], universe)
		if n, err := tr.CheckIntegrity(uint64(v)); err != nil || n != len(history[v]) {
			t.Fatalf("CheckIntegrity(%d) = %d, %v; want %d keys", v, n, err, len(history[v]))
		}
	}
}

func checkVersion(t *testing.T, tr *state.Tree, v uint64, root state.Hash, model map[string][]byte, universe int) {
	t.Helper()
	for i := 0; i < universe+5; i++ {
		k := []byte(fmt.Sprintf("k%03d", i))
		want, present := model[string(k)]
		got, p, err := tr.GetWithProof(v, k)
		if err != nil {
			t.Fatalf("version %d key %s: %v", v, k, err)
		}
		if present != (got != nil) || !bytes.Equal(got, want) {
			t.Fatalf("version %d key %s: got %q, model %q (present %v)", v, k, got, want, present)
		}
		if err := state.Verify(state.SHA256, root, k, got, p); err != nil {
			t.Fatalf("version %d key %s: proof rejected: %v", v, k, err)
		}
		p2, err := state.UnmarshalProof(p.Marshal())
		if err != nil {
			t.Fatalf("version %d key %s: proof encoding: %v", v, k, err)
		}
		if err := state.Verify(state.SHA256, root, k, got, p2); err != nil {
			t.Fatalf("version %d key %s: decoded proof rejected: %v", v, k, err)
		}
		// The opposite claim must fail.
		if present {
			if state.Verify(state.SHA256, root, k, nil, p) == nil {
				t.Fatalf("version %d key %s: absence accepted for a present key", v, k)
			}
		} else if state.Verify(state.SHA256, root, k, []byte("x"), p) == nil {
			t.Fatalf("version %d key %s: presence accepted for an absent key", v, k)
		}
	}
}

// TestLargeStagesAgainstReference covers the concurrent staging of the
// root page's slots (used from 256 changes on): big versions of inserts,
// updates and deletes must give the reference root, and every key a valid
// proof.
func TestLargeStagesAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(99, 1))
	db, tr := newTree(t)
	model := map[string][]byte{}
	for v := uint64(0); v < 4; v++ {
		var changes []state.Change
		seen := map[int]bool{}
		for j := 0; j < 3000; j++ {
			i := rng.IntN(6000)
			if seen[i] {
				continue
			}
			seen[i] = true
			k := fmt.Sprint("big/", i)
			if v > 0 && rng.IntN(4) == 0 {
				changes = append(changes, del(k))
				delete(model, k)
			} else {
				val := []byte(fmt.Sprint(v, "/", rng.Uint64()))
				changes = append(changes, state.Change{Key: []byte(k), Value: val})
				model[k] = val
			}
		}
		root := commit(t, db, tr, v, changes)
		if want := ledgertest.ReferenceRoot(model); root != want {
			t.Fatalf("version %d: root %x, reference %x", v, root, want)
		}
		if n, err := tr.CheckIntegrity(v); err != nil || n != len(model) {
			t.Fatalf("CheckIntegrity(%d) = %d, %v; want %d", v, n, err, len(model))
		}
	}
	v, _ := tr.LatestVersion()
	root, _ := tr.Root(v)
	for i := 0; i < 6000; i += 7 {
		k := []byte(fmt.Sprint("big/", i))
		got, p, err := tr.GetWithProof(v, k)
		if err != nil || !bytes.Equal(got, model[string(k)]) {
			t.Fatalf("key %s: %q %v", k, got, err)
		}
		if err := state.Verify(state.SHA256, root, k, got, p); err != nil {
			t.Fatalf("key %s: %v", k, err)
		}
	}
}

// TestPageCacheAgainstReference checks the page cache, which keeps the
// inner hashes of each page so that an update rehashes only the changed
// paths: trees with a warm cache, with the smallest cache (pages evicted
// and read back from LevelDB, inner hashes recomputed), and a tree opened
// afresh before every version (cold cache) must all give the reference
// root. A version is staged once without being committed first, as a
// failed block write would leave it.
func TestPageCacheAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 3))
	warmDB, warm := newTree(t)
	smallDB := ledgertest.MemDB(t)
	small, err := state.OpenWithOptions(smallDB, prefix, state.Options{CachePages: 16})
	if err != nil {
		t.Fatal(err)
	}
	coldDB := ledgertest.MemDB(t)
	model := map[string][]byte{}
	for v := uint64(0); v < 12; v++ {
		var changes []state.Change
		seen := map[int]bool{}
		n := 5 + rng.IntN(600) // both sides of parallelMin
		for j := 0; j < n; j++ {
			i := rng.IntN(3000)
			if seen[i] {
				continue
			}
			seen[i] = true
			k := fmt.Sprint("c/", i)
			if v > 0 && rng.IntN(3) == 0 {
				changes = append(changes, del(k))
				delete(model, k)
			} else {
				val := []byte(fmt.Sprint(v, "/", rng.Uint64()))
				changes = append(changes, state.Change{Key: []byte(k), Value: val})
				model[k] = val
			}
		}
		want := ledgertest.ReferenceRoot(model)
		if _, _, err := warm.Stage(v, changes); err != nil { // not committed
			t.Fatal(err)
		}
		cold, err := state.Open(coldDB, prefix)
		if err != nil {
			t.Fatal(err)
		}
		for name, got := range map[string]state.Hash{
			"warm":  commit(t, warmDB, warm, v, changes),
			"small": commit(t, smallDB, small, v, changes),
			"cold":  commit(t, coldDB, cold, v, changes),
		} {
			if got != want {
				t.Fatalf("version %d, %s cache: root %x, reference %x", v, name, got, want)
			}
		}
	}
	if n, err := warm.CheckIntegrity(11); err != nil || n != len(model) {
		t.Fatalf("CheckIntegrity = %d, %v; want %d", n, err, len(model))
	}
}
