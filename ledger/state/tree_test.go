package state_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/govnode/govnode/ledger/internal/ledgertest"
	"github.com/govnode/govnode/ledger/state"
)

var prefix = []byte("t/")

// commit stages changes as version and writes them in one synced batch, the
// way the block store does.
func commit(tb testing.TB, db *leveldb.DB, tr *state.Tree, version uint64, changes []state.Change) state.Hash {
	tb.Helper()
	root, w, err := tr.Stage(version, changes)
	if err != nil {
		tb.Fatalf("stage %d: %v", version, err)
	}
	b := new(leveldb.Batch)
	w.ApplyTo(b)
	if err := db.Write(b, &opt.WriteOptions{Sync: true}); err != nil {
		tb.Fatalf("write %d: %v", version, err)
	}
	if err := tr.Committed(version, root); err != nil {
		tb.Fatalf("committed %d: %v", version, err)
	}
	return root
}

func set(k, v string) state.Change { return state.Change{Key: []byte(k), Value: []byte(v)} }
func del(k string) state.Change    { return state.Change{Key: []byte(k), Delete: true} }

func newTree(tb testing.TB) (*leveldb.DB, *state.Tree) {
	db := ledgertest.MemDB(tb)
	tr, err := state.Open(db, prefix)
	if err != nil {
		tb.Fatal(err)
	}
	return db, tr
}

func TestEmptyTree(t *testing.T) {
	db, tr := newTree(t)
	if _, ok := tr.LatestVersion(); ok {
		t.Fatal("empty tree has a version")
	}
	if _, err := tr.Root(0); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("Root(0) = %v, want ErrNotFound", err)
	}
	root := commit(t, db, tr, 0, nil)
	if root != state.EmptyRoot {
		t.Fatalf("empty root %x", root)
	}
	v, p, err := tr.GetWithProof(0, []byte("a"))
	if err != nil || v != nil {
		t.Fatalf("GetWithProof on empty tree = %q, %v", v, err)
	}
	if err := state.Verify(state.SHA256, root, []byte("a"), nil, p); err != nil {
		t.Fatalf("absence in empty tree: %v", err)
	}
	if err := state.Verify(state.SHA256, root, []byte("a"), []byte("x"), p); err == nil {
		t.Fatal("inclusion accepted in empty tree")
	}
}

func TestSingleKeyAndCollapse(t *testing.T) {
	db, tr := newTree(t)
	r0 := commit(t, db, tr, 0, []state.Change{set("a", "1")})
	if want := state.SHA256.LeafHash(state.SHA256.KeyHash([]byte("a")), state.SHA256.ValueHash([]byte("1"))); r0 != want {
		t.Fatalf("single-key root %x, want its leaf %x", r0, want)
	}
	r1 := commit(t, db, tr, 1, []state.Change{set("b", "2"), set("c", "3")})
	r2 := commit(t, db, tr, 2, []state.Change{del("b"), del("c")})
	if r2 != r0 {
		t.Fatalf("deleting back to one key: root %x, want %x", r2, r0)
	}
	r3 := commit(t, db, tr, 3, []state.Change{del("a"), del("never-set")})
	if r3 != state.EmptyRoot {
		t.Fatalf("all deleted: root %x", r3)
	}
	// Old versions stay readable.
	if v, err := tr.Get(1, []byte("c")); err != nil || string(v) != "3" {
		t.Fatalf("Get(1, c) = %q, %v", v, err)
	}
	if _, err := tr.Get(3, []byte("a")); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("Get(3, a) = %v, want ErrNotFound", err)
	}
	if got, _ := tr.Root(1); got != r1 {
		t.Fatalf("Root(1) = %x, want %x", got, r1)
	}
}

func TestStageRules(t *testing.T) {
	db, tr := newTree(t)
	commit(t, db, tr, 5, []state.Change{set("a", "1")})
	if _, _, err := tr.Stage(7, nil); err == nil {
		t.Fatal("staged version 7 after 5")
	}
	if _, _, err := tr.Stage(6, []state.Change{set("a", "1"), set("a", "2")}); err == nil {
		t.Fatal("two changes to one key accepted")
	}
	if _, _, err := tr.Stage(6, []state.Change{{Key: []byte("a")}}); err == nil {
		t.Fatal("nil value without Delete accepted")
	}
	// Stage writes nothing: an uncommitted stage leaves the tree as it was.
	if _, _, err := tr.Stage(6, []state.Change{set("z", "9")}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Root(6); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("Root(6) after Stage only: %v", err)
	}
	if err := tr.Committed(6, state.Hash{1}); err == nil {
		t.Fatal("Committed without the batch written")
	}
	// Empty value is a value.
	r := commit(t, db, tr, 6, []state.Change{{Key: []byte("e"), Value: []byte{}}})
	v, p, err := tr.GetWithProof(6, []byte("e"))
	if err != nil || v == nil || len(v) != 0 {
		t.Fatalf("empty value: %q, %v", v, err)
	}
	if err := state.Verify(state.SHA256, r, []byte("e"), []byte{}, p); err != nil {
		t.Fatal(err)
	}
	if err := state.Verify(state.SHA256, r, []byte("e"), nil, p); err == nil {
		t.Fatal("present empty value proved absent")
	}
}

func TestOrderIndependence(t *testing.T) {
	var changes []state.Change
	for i := 0; i < 200; i++ {
		changes = append(changes, set(fmt.Sprint("k", i), fmt.Sprint("v", i)))
	}
	db1, t1 := newTree(t)
	db2, t2 := newTree(t)
	r1 := commit(t, db1, t1, 0, changes)
	rev := make([]state.Change, len(changes))
	for i := range changes {
		rev[len(changes)-1-i] = changes[i]
	}
	r2 := commit(t, db2, t2, 0, rev)
	if r1 != r2 {
		t.Fatalf("order changed the root: %x vs %x", r1, r2)
	}
}

func TestReopen(t *testing.T) {
	db, tr := newTree(t)
	commit(t, db, tr, 0, []state.Change{set("a", "1")})
	r1 := commit(t, db, tr, 1, []state.Change{set("b", "2")})
	tr2, err := state.Open(db, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := tr2.LatestVersion(); !ok || v != 1 {
		t.Fatalf("reopened latest = %d, %v", v, ok)
	}
	if r, _ := tr2.Root(1); r != r1 {
		t.Fatal("reopened root differs")
	}
	if n, err := tr2.CheckIntegrity(1); err != nil || n != 2 {
		t.Fatalf("CheckIntegrity = %d, %v", n, err)
	}
}

func TestCheckIntegrityFindsDamage(t *testing.T) {
	// A leaf record of either layout (keys.go): version-keyed, and
	// content-addressed (a ledger written before version keys).
	isLeaf := map[string]func(k []byte) bool{
		"version-keyed": func(k []byte) bool {
			return bytes.HasPrefix(k, []byte("t/v")) && len(k) == len(prefix)+1+8+1+32 && k[len(prefix)+9] == 'l'
		},
		"content-addressed": func(k []byte) bool { return bytes.HasPrefix(k, []byte("t/n")) },
	}
	for name, leafKey := range isLeaf {
		t.Run(name, func(t *testing.T) {
			db := ledgertest.MemDB(t)
			open := state.Open
			if name == "content-addressed" {
				open = state.OpenContentAddressed
			}
			tr, err := open(db, prefix)
			if err != nil {
				t.Fatal(err)
			}
			var changes []state.Change
			for i := 0; i < 50; i++ {
				changes = append(changes, set(fmt.Sprint("k", i), "v"))
			}
			commit(t, db, tr, 0, changes)
			// Flip one byte in the value of one leaf record.
			it := db.NewIterator(nil, nil)
			var victim, val []byte
			for it.Next() {
				if leafKey(it.Key()) && it.Value()[0] == 0 {
					victim = append([]byte(nil), it.Key()...)
					val = append([]byte(nil), it.Value()...)
					break
				}
			}
			it.Release()
			if victim == nil {
				t.Fatal("no leaf record found")
			}
			val[len(val)-1] ^= 1
			if err := db.Put(victim, val, nil); err != nil {
				t.Fatal(err)
			}
			tr2, err := state.Open(db, prefix)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr2.CheckIntegrity(0); !errors.Is(err, state.ErrCorrupt) {
				t.Fatalf("CheckIntegrity = %v, want ErrCorrupt", err)
			}
			if err := db.Delete(victim, nil); err != nil {
				t.Fatal(err)
			}
			tr3, _ := state.Open(db, prefix)
			if _, err := tr3.CheckIntegrity(0); !errors.Is(err, state.ErrCorrupt) {
				t.Fatalf("CheckIntegrity with a node missing = %v, want ErrCorrupt", err)
			}
		})
	}
}
