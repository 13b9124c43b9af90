package exec

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// mapKV is a naive model of a committed state.
type mapKV map[string][]byte

func (m mapKV) get(k string) ([]byte, bool, error) { v, ok := m[k]; return v, ok, nil }
func (m mapKV) iterate(start, end string, fn func(string, []byte) error) error {
	var ks []string
	for k := range m {
		if k >= start && (end == "" || k < end) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	for _, k := range ks {
		if err := fn(k, m[k]); err != nil {
			return err
		}
	}
	return nil
}

// TestOverlayMatchesModel drives a block overlay and per-tx overlays with
// random writes, deletes, merges and range scans (past the fresh-key merge
// threshold), and compares every scan and the final changes with a model.
func TestOverlayMatchesModel(t *testing.T) {
	for seed := range uint64(5) {
		rng := rand.New(rand.NewPCG(seed, 7))
		base := mapKV{}
		for i := range 300 {
			base[fmt.Sprintf("k/%03d", i*3)] = []byte{byte(i)}
		}
		model := mapKV{}
		for k, v := range base {
			model[k] = v
		}
		blk := newOverlay(base)
		for range 200 {
			tx := newOverlay(blk)
			txModel := mapKV{}
			deleted := map[string]bool{}
			for range rng.IntN(20) {
				k := fmt.Sprintf("k/%03d", rng.IntN(1000))
				if rng.IntN(4) == 0 {
					tx.del(k)
					deleted[k] = true
					delete(txModel, k)
				} else {
					v := []byte{byte(rng.IntN(256))}
					tx.set(k, v)
					txModel[k] = v
					delete(deleted, k)
				}
			}
			if rng.IntN(3) > 0 {
				tx.mergeInto(blk)
				for k := range deleted {
					delete(model, k)
				}
				for k, v := range txModel {
					model[k] = v
				}
			}
			a := fmt.Sprintf("k/%03d", rng.IntN(1000))
			b := fmt.Sprintf("k/%03d", rng.IntN(1000))
			if b < a {
				a, b = b, a
			}
			var got, want []string
			if err := blk.iterate(a, b, func(k string, v []byte) error { got = append(got, k+string(v)); return nil }); err != nil {
				t.Fatal(err)
			}
			_ = model.iterate(a, b, func(k string, v []byte) error { want = append(want, k+string(v)); return nil })
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d: scan [%s,%s): %d keys, model %d", seed, a, b, len(got), len(want))
			}
		}
		ch, err := blk.changes()
		if err != nil {
			t.Fatal(err)
		}
		final := mapKV{}
		for k, v := range base {
			final[k] = v
		}
		for i, c := range ch {
			if i > 0 && string(ch[i-1].Key) >= string(c.Key) {
				t.Fatal("changes not sorted")
			}
			if c.Delete {
				if _, ok := base[string(c.Key)]; !ok {
					t.Fatalf("no-op delete %s", c.Key)
				}
				delete(final, string(c.Key))
			} else {
				final[string(c.Key)] = c.Value
			}
		}
		if len(final) != len(model) {
			t.Fatalf("seed %d: final %d keys, model %d", seed, len(final), len(model))
		}
		for k, v := range model {
			if string(final[k]) != string(v) {
				t.Fatalf("seed %d: key %s", seed, k)
			}
		}
	}
}

func TestHelpers(t *testing.T) {
	if floorDiv(-1, 1000) != -1 || floorDiv(1999, 1000) != 1 || floorDiv(-1000, 1000) != -1 {
		t.Fatal("floorDiv")
	}
	if _, err := decodeU64("k", []byte{1}); err == nil {
		t.Fatal("short counter accepted")
	}
	if prefixEnd("a/") != "a0" || prefixEnd("\xff\xff") != "" {
		t.Fatal("prefixEnd")
	}
	if fmtInvariant("x %d", 1).Error() != "broken invariant: x 1" {
		t.Fatal("fmtInvariant")
	}
	if statusName(0) == "" || (&txError{}).Error() == "" {
		t.Fatal("names")
	}
}
