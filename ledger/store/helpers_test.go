package store_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"

	"github.com/govnode/govnode/ledger/internal/ledgertest"
	"github.com/govnode/govnode/ledger/state"
	"github.com/govnode/govnode/ledger/store"
)

// chainSpec generates a deterministic chain: every height's block, results
// and state changes follow from the height alone, so a checker can replay
// heights 1..h without asking the store.
type chainSpec struct {
	txsPerBlock int
	keys        int // size of the key universe
}

func (c chainSpec) genesis() []state.Change {
	var ch []state.Change
	for i := 0; i < c.keys/4; i++ {
		ch = append(ch, state.Change{Key: stateKey(i), Value: []byte(fmt.Sprint("genesis-", i))})
	}
	return ch
}

func stateKey(i int) []byte { return []byte(fmt.Sprintf("acct/%05d", i)) }

func (c chainSpec) block(h uint64) *store.CommitData {
	rng := rand.New(rand.NewPCG(h, 0xb10c))
	d := &store.CommitData{Height: h}
	body := []byte(fmt.Sprintf("block %d;", h))
	seen := map[int]bool{}
	for i := 0; i < c.txsPerBlock; i++ {
		tx := []byte(fmt.Sprintf("tx %d/%d %x", h, i, rng.Uint64()))
		body = append(body, tx...)
		d.Txs = append(d.Txs, store.TxResult{Hash: sha256.Sum256(tx), Result: []byte(fmt.Sprint("ok ", h, " ", i))})
		for w := 0; w < 3; w++ {
			k := rng.IntN(c.keys)
			if seen[k] {
				continue
			}
			seen[k] = true
			if rng.IntN(5) == 0 {
				d.Changes = append(d.Changes, state.Change{Key: stateKey(k), Delete: true})
			} else {
				d.Changes = append(d.Changes, state.Change{Key: stateKey(k), Value: []byte(fmt.Sprintf("v%d.%d.%d", h, i, w))})
			}
		}
	}
	d.Block = body
	d.BlockHash = sha256.Sum256(body)
	d.Cert = []byte(fmt.Sprintf("cert %d %x", h, d.BlockHash))
	if h%2 == 0 {
		d.BlockEvents = []byte(fmt.Sprintf("events of %d", h))
	}
	return d
}

func openStore(tb testing.TB, dir string) *store.Store {
	tb.Helper()
	s, err := store.Open(dir, store.DefaultOptions())
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	return s
}

// refTree replays a chainSpec's state changes into a memory tree: the
// roots and proofs every height must have, whatever the store's layout.
type refTree struct {
	tb    testing.TB
	spec  chainSpec
	db    *leveldb.DB
	tree  *state.Tree
	roots []state.Hash
}

func newRefTree(tb testing.TB, spec chainSpec) *refTree {
	db := ledgertest.MemDB(tb)
	tr, err := state.Open(db, []byte("ref/"))
	if err != nil {
		tb.Fatal(err)
	}
	return &refTree{tb: tb, spec: spec, db: db, tree: tr}
}

// advance replays the chain up to height h.
func (r *refTree) advance(h uint64) {
	for uint64(len(r.roots)) <= h {
		v := uint64(len(r.roots))
		changes := r.spec.genesis()
		if v > 0 {
			changes = r.spec.block(v).Changes
		}
		root, w, err := r.tree.Stage(v, changes)
		if err != nil {
			r.tb.Fatal(err)
		}
		b := new(leveldb.Batch)
		w.ApplyTo(b)
		if err := r.db.Write(b, nil); err != nil {
			r.tb.Fatal(err)
		}
		if err := r.tree.Committed(v, root); err != nil {
			r.tb.Fatal(err)
		}
		r.roots = append(r.roots, root)
	}
}

// check compares s with the replay at every height up to h: roots, and
// the value and proof bytes of every key of the spec's universe (one in
// step), present or absent.
func (r *refTree) check(s *store.Store, h uint64, step int) {
	r.tb.Helper()
	r.advance(h)
	for x := uint64(0); x <= h; x++ {
		if got, err := s.State().Root(x); err != nil || got != r.roots[x] {
			r.tb.Fatalf("height %d: root %x (%v), replayed %x", x, got, err, r.roots[x])
		}
		for i := 0; i < r.spec.keys; i += step {
			k := stateKey(i)
			v, p, err := s.GetWithProof(x, k)
			rv, rp, rerr := r.tree.GetWithProof(x, k)
			if err != nil || rerr != nil || !bytes.Equal(v, rv) || (v == nil) != (rv == nil) ||
				!bytes.Equal(p.Marshal(), rp.Marshal()) {
				r.tb.Fatalf("height %d key %s: %q %v, replayed %q %v (proofs equal: %v)", x, k, v, err, rv, rerr,
					err == nil && bytes.Equal(p.Marshal(), rp.Marshal()))
			}
			if err := state.Verify(state.SHA256, r.roots[x], k, v, p); err != nil {
				r.tb.Fatalf("height %d key %s: %v", x, k, err)
			}
		}
	}
}
