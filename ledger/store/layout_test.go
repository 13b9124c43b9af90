package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/govnode/govnode/ledger/state"
	"github.com/govnode/govnode/ledger/store"
)

// v1Spec is the chain of testdata/ledger-v1: heights 0..12 written by the
// block store of commit e9ea491 (schema govnode-ledger/1, the state tree
// content-addressed in the main database), then compacted.
var v1Spec = chainSpec{txsPerBlock: 8, keys: 400}

const v1Height = 12

// copyV1 copies the fixture ledger into a fresh directory (opening it
// read-write changes it).
func copyV1(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ledger")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("testdata/ledger-v1")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata/ledger-v1", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func schemaOf(t *testing.T, dir string) string {
	t.Helper()
	db, err := leveldb.OpenFile(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, err := db.Get([]byte("\x00schema"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(v)
}

// countTreeRecords counts the state tree's records in the main database
// (\x01t…).
func countTreeRecords(t *testing.T, dir string) int {
	t.Helper()
	db, err := leveldb.OpenFile(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	it := db.NewIterator(util.BytesPrefix([]byte("\x01t")), nil)
	defer it.Release()
	n := 0
	for it.Next() {
		n++
	}
	return n
}

// TestSchemaV1LedgerReadAndUpgraded: a ledger written before version keys
// (ARCHITECTURE.md §5 "State commitment", ledger/state keys.go) is read as
// it is, read-only without a change; a read-write open upgrades it to
// govnode-ledger/2 and the chain goes on, the new versions' records in the
// tree's own database and naming the old content-addressed subtrees. At
// every height, old and new, roots and proofs are those of a replay of the
// same chain, the whole ledger audits, and the old records stay where
// they were.
func TestSchemaV1LedgerReadAndUpgraded(t *testing.T) {
	dir := copyV1(t)
	ref := newRefTree(t, v1Spec)
	treeRecords := countTreeRecords(t, dir) // a read-write open: before the snapshot
	before := snapshotDir(t, dir)

	ro, err := store.Open(dir, store.Options{BlockCacheMiB: 8, WriteBufferMiB: 4, StateCachePages: 64, ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open of a v1 ledger: %v", err)
	}
	if h, ok := ro.Height(); !ok || h != v1Height {
		t.Fatalf("v1 ledger at height %d (%v), want %d", h, ok, v1Height)
	}
	ref.check(ro, v1Height, 3)
	if err := ro.Audit(); err != nil {
		t.Fatal(err)
	}
	if err := ro.Commit(v1Spec.block(v1Height + 1)); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("commit on a read-only store: %v", err)
	}
	ro.Close()
	if after := snapshotDir(t, dir); fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("read-only open changed the ledger:\nbefore %v\nafter  %v", before, after)
	}

	openStore(t, dir).Close()
	if got := schemaOf(t, dir); got != store.SchemaVersion {
		t.Fatalf("schema after a read-write open %q, want %q", got, store.SchemaVersion)
	}
	s := openStore(t, dir)
	const top = v1Height + 15
	for h := uint64(v1Height + 1); h <= top; h++ {
		if err := s.Commit(v1Spec.block(h)); err != nil {
			t.Fatal(err)
		}
	}
	ref.check(s, top, 2)
	if err := s.Audit(); err != nil {
		t.Fatal(err)
	}
	// Every version's full walk, across both layouts.
	for h := uint64(0); h <= top; h++ {
		if _, err := s.State().CheckIntegrity(h); err != nil {
			t.Fatalf("CheckIntegrity(%d): %v", h, err)
		}
	}
	s.Close()
	if n := countTreeRecords(t, dir); n != treeRecords {
		t.Fatalf("main database holds %d tree records after the upgrade, %d before: new ones belong in the tree's database", n, treeRecords)
	}

	// Reopened, read-write and read-only.
	s = openStore(t, dir)
	ref.check(s, top, 5)
	if err := s.Audit(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	ro, err = store.Open(dir, store.Options{BlockCacheMiB: 8, WriteBufferMiB: 4, StateCachePages: 64, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ref.check(ro, top, 7)
	ro.Close()
}

// TestTreeAheadOfBlocks is the crash between the two synced batches of a
// commit (Store.write): the tree's records of h+1 are durable, the blocks'
// are not. Open discards the tree's version h+1, the ledger audits at h,
// and committing block h+1 again gives the replayed root. The same holds
// for the genesis (the tree at version 0, no head). A read-only open
// leaves the files alone and does not show version h+1.
func TestTreeAheadOfBlocks(t *testing.T) {
	ref := newRefTree(t, spec)
	// stageAhead writes version v of the tree into dir's tree database as
	// Commit's first write does, and stops there.
	stageAhead := func(t *testing.T, dir string, v uint64, changes []state.Change) state.Hash {
		t.Helper()
		main, err := leveldb.OpenFile(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer main.Close()
		tdb, err := leveldb.OpenFile(filepath.Join(dir, "state"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tdb.Close()
		o := state.DefaultOptions()
		o.Legacy = main
		tr, err := state.OpenWithOptions(tdb, []byte("\x01t"), o)
		if err != nil {
			t.Fatal(err)
		}
		root, w, err := tr.Stage(v, changes)
		if err != nil {
			t.Fatal(err)
		}
		b := new(leveldb.Batch)
		w.ApplyTo(b)
		if err := tdb.Write(b, nil); err != nil {
			t.Fatal(err)
		}
		return root
	}

	t.Run("genesis", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "ledger")
		s := openStore(t, dir)
		s.Close()
		ref.advance(0)
		if root := stageAhead(t, dir, 0, spec.genesis()); root != ref.roots[0] {
			t.Fatalf("staged genesis root %x, replayed %x", root, ref.roots[0])
		}
		s = openStore(t, dir)
		defer s.Close()
		if h, ok := s.Height(); ok {
			t.Fatalf("height %d after a genesis that never reached the blocks", h)
		}
		if _, ok := s.State().LatestVersion(); ok {
			t.Fatal("tree version 0 kept without a genesis")
		}
		if err := s.InitGenesis(spec.genesis()); err != nil {
			t.Fatal(err)
		}
		ref.check(s, 0, 7)
	})

	t.Run("block", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "ledger")
		s := openStore(t, dir)
		if err := s.InitGenesis(spec.genesis()); err != nil {
			t.Fatal(err)
		}
		for h := uint64(1); h <= 5; h++ {
			if err := s.Commit(spec.block(h)); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		ref.advance(6)
		if root := stageAhead(t, dir, 6, spec.block(6).Changes); root != ref.roots[6] {
			t.Fatalf("staged root %x, replayed %x", root, ref.roots[6])
		}

		before := snapshotDir(t, dir)
		ro, err := store.Open(dir, store.Options{BlockCacheMiB: 8, WriteBufferMiB: 4, StateCachePages: 64, ReadOnly: true})
		if err != nil {
			t.Fatalf("read-only open with the tree ahead: %v", err)
		}
		if h, _ := ro.Height(); h != 5 {
			t.Fatalf("read-only height %d", h)
		}
		if _, err := ro.State().Root(6); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("read-only store shows the tree's version 6: %v", err)
		}
		ref.check(ro, 5, 11)
		ro.Close()
		if after := snapshotDir(t, dir); fmt.Sprint(before) != fmt.Sprint(after) {
			t.Fatal("read-only open changed the ledger")
		}

		s = openStore(t, dir)
		defer s.Close()
		if h, _ := s.Height(); h != 5 {
			t.Fatalf("height %d", h)
		}
		if v, _ := s.State().LatestVersion(); v != 5 {
			t.Fatalf("tree at version %d after open, want 5", v)
		}
		if err := s.Audit(); err != nil {
			t.Fatal(err)
		}
		for h := uint64(6); h <= 8; h++ {
			if err := s.Commit(spec.block(h)); err != nil {
				t.Fatal(err)
			}
		}
		ref.check(s, 8, 5)
		if err := s.Audit(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestTreeRecordsAppend: the tree's records of a block sort after every
// record of the blocks before it (ledger/state keys.go), which is what
// lets LevelDB move the tree's tables down instead of rewriting them.
func TestTreeRecordsAppend(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ledger")
	s := openStore(t, dir)
	if err := s.InitGenesis(spec.genesis()); err != nil {
		t.Fatal(err)
	}
	// lastKey is the last key of the tree's database.
	lastKey := func() []byte {
		s.Close()
		db, err := leveldb.OpenFile(filepath.Join(dir, "state"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		it := db.NewIterator(nil, nil)
		defer it.Release()
		if !it.Last() {
			t.Fatal("no tree records")
		}
		return bytes.Clone(it.Key())
	}
	last := lastKey()
	for h := uint64(1); h <= 6; h++ {
		s = openStore(t, dir)
		if err := s.Commit(spec.block(h)); err != nil {
			t.Fatal(err)
		}
		s.Close()
		db, err := leveldb.OpenFile(filepath.Join(dir, "state"), nil)
		if err != nil {
			t.Fatal(err)
		}
		it := db.NewIterator(nil, nil)
		if !it.Seek(last) || !bytes.Equal(it.Key(), last) {
			t.Fatalf("height %d: the last key of height %d is gone", h, h-1)
		}
		n := 0
		for it.Next() {
			if k := it.Key(); !bytes.HasPrefix(k, []byte("\x01tv")) || !bytes.Equal(k[3:11], be64(h)) {
				t.Fatalf("height %d: record %x after the records of height %d", h, k, h-1)
			}
			n++
			last = bytes.Clone(it.Key())
		}
		it.Release()
		db.Close()
		if n == 0 {
			t.Fatalf("height %d wrote no tree record", h)
		}
	}
}

func be64(v uint64) []byte {
	return []byte{byte(v >> 56), byte(v >> 48), byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}
