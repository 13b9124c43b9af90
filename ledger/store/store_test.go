package store_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"

	"github.com/govnode/govnode/ledger/state"
	"github.com/govnode/govnode/ledger/store"
)

var spec = chainSpec{txsPerBlock: 10, keys: 400}

// storeAt opens a store in dir holding spec's genesis and its blocks
// 1..h.
func storeAt(tb testing.TB, dir string, h uint64) *store.Store {
	tb.Helper()
	s := openStore(tb, dir)
	if err := s.InitGenesis(spec.genesis()); err != nil {
		tb.Fatal(err)
	}
	for i := uint64(1); i <= h; i++ {
		if err := s.Commit(spec.block(i)); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

func TestCommitAndRead(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	if _, ok := s.Height(); ok {
		t.Fatal("fresh store has a height")
	}
	if err := s.Commit(spec.block(1)); !errors.Is(err, store.ErrNoGenesis) {
		t.Fatalf("commit before genesis: %v", err)
	}
	if err := s.InitGenesis(spec.genesis()); err != nil {
		t.Fatal(err)
	}
	if err := s.InitGenesis(nil); !errors.Is(err, store.ErrHeight) {
		t.Fatalf("second genesis: %v", err)
	}
	for h := uint64(1); h <= 5; h++ {
		if err := s.Commit(spec.block(h)); err != nil {
			t.Fatal(err)
		}
	}
	if h, ok := s.Height(); !ok || h != 5 {
		t.Fatalf("height %d %v", h, ok)
	}
	d := spec.block(3)
	hash, blk, err := s.BlockByHeight(3)
	if err != nil || hash != d.BlockHash || !bytes.Equal(blk, d.Block) {
		t.Fatalf("BlockByHeight(3): %v", err)
	}
	if h, blk, err := s.BlockByHash(d.BlockHash); err != nil || h != 3 || !bytes.Equal(blk, d.Block) {
		t.Fatalf("BlockByHash: %d %v", h, err)
	}
	if c, err := s.CommitCert(3); err != nil || !bytes.Equal(c, d.Cert) {
		t.Fatalf("CommitCert: %v", err)
	}
	if ev, err := s.BlockEvents(3); err != nil || ev != nil {
		t.Fatalf("BlockEvents(3) of a block without events = %q, %v", ev, err)
	}
	if ev, err := s.BlockEvents(4); err != nil || !bytes.Equal(ev, spec.block(4).BlockEvents) {
		t.Fatalf("BlockEvents(4) = %q, %v", ev, err)
	}
	if _, err := s.BlockEvents(6); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("BlockEvents above the head: %v", err)
	}
	loc, res, err := s.TxByHash(d.Txs[4].Hash)
	if err != nil || loc != (store.TxLocation{Height: 3, Index: 4}) || !bytes.Equal(res, d.Txs[4].Result) {
		t.Fatalf("TxByHash = %v %q %v", loc, res, err)
	}
	rs, err := s.Results(3)
	if err != nil || len(rs) != len(d.Txs) {
		t.Fatalf("Results: %d %v", len(rs), err)
	}
	for i := range rs {
		if rs[i].Hash != d.Txs[i].Hash || !bytes.Equal(rs[i].Result, d.Txs[i].Result) {
			t.Fatalf("result %d differs", i)
		}
	}
	if _, _, err := s.BlockByHeight(6); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("BlockByHeight(6): %v", err)
	}
	if _, _, err := s.BlockByHeight(0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("BlockByHeight(0): %v", err)
	}
	if _, _, err := s.TxByHash([32]byte{9}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TxByHash(absent): %v", err)
	}

	// Latest values agree with the tree at the head, and proofs verify
	// against the stored root.
	root, _ := s.StateRoot(5)
	n := 0
	err = s.IteratePrefix([]byte("acct/"), func(k, v []byte) bool {
		tv, err := s.State().Get(5, k)
		if err != nil || !bytes.Equal(tv, v) {
			t.Fatalf("key %s: latest %q, tree %q %v", k, v, tv, err)
		}
		n++
		return true
	})
	if err != nil || n == 0 {
		t.Fatalf("IteratePrefix: %d keys, %v", n, err)
	}
	for i := 0; i < spec.keys; i++ {
		v, p, err := s.GetWithProof(5, stateKey(i))
		if err != nil {
			t.Fatal(err)
		}
		if err := state.Verify(state.SHA256, root, stateKey(i), v, p); err != nil {
			t.Fatalf("proof of key %d: %v", i, err)
		}
		lv, err := s.Get(stateKey(i))
		if (v == nil) != errors.Is(err, store.ErrNotFound) || !bytes.Equal(lv, v) {
			t.Fatalf("Get(key %d) = %q %v, tree %q", i, lv, err, v)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	if h, _ := s.Height(); h != 5 {
		t.Fatalf("reopened at %d", h)
	}
	if err := s.Commit(spec.block(6)); err != nil {
		t.Fatal(err)
	}
}

// A tx committed again in a later block (a replay, recorded as failed)
// keeps its index on the first inclusion: looking it up never shows a
// committed tx as the failed replay.
func TestTxIndexKeepsFirstInclusion(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	if err := s.InitGenesis(spec.genesis()); err != nil {
		t.Fatal(err)
	}
	first := spec.block(1)
	if err := s.Commit(first); err != nil {
		t.Fatal(err)
	}
	replay := spec.block(2)
	replay.Txs[1] = store.TxResult{Hash: first.Txs[3].Hash, Result: []byte("failed: bad nonce")}
	if err := s.Commit(replay); err != nil {
		t.Fatal(err)
	}
	loc, res, err := s.TxByHash(first.Txs[3].Hash)
	if err != nil || loc != (store.TxLocation{Height: 1, Index: 3}) || !bytes.Equal(res, first.Txs[3].Result) {
		t.Fatalf("TxByHash of the replayed tx = %v %q %v, want the first inclusion", loc, res, err)
	}
	rs, err := s.Results(2)
	if err != nil || !bytes.Equal(rs[1].Result, replay.Txs[1].Result) {
		t.Fatalf("the replay's own result at 2/1: %q %v", rs, err)
	}
	if loc, _, err := s.TxByHash(replay.Txs[2].Hash); err != nil || loc != (store.TxLocation{Height: 2, Index: 2}) {
		t.Fatalf("a new tx of the block: %v %v", loc, err)
	}
}

func TestCommitRefusals(t *testing.T) {
	s := storeAt(t, t.TempDir(), 1)
	defer s.Close()
	dup := spec.block(2)
	dup.Txs = append(dup.Txs, dup.Txs[0])
	sameHash := spec.block(2)
	sameHash.BlockHash = spec.block(1).BlockHash
	badChange := spec.block(2)
	badChange.Changes = append(badChange.Changes, badChange.Changes[0])
	noCert := spec.block(2)
	noCert.Cert = nil
	cases := map[string]struct {
		d    *store.CommitData
		want error
	}{
		"gap":                  {spec.block(3), store.ErrHeight},
		"again":                {spec.block(1), store.ErrHeight},
		"duplicate tx":         {dup, store.ErrInvalid},
		"block hash reused":    {sameHash, store.ErrInvalid},
		"two changes, one key": {badChange, store.ErrInvalid},
		"no certificate":       {noCert, store.ErrInvalid},
	}
	root1, _ := s.StateRoot(1)
	for name, c := range cases {
		if err := s.Commit(c.d); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if h, _ := s.Height(); h != 1 {
		t.Fatalf("height %d after refusals", h)
	}
	if r, _ := s.State().Root(1); r != root1 {
		t.Fatal("state changed by a refused commit")
	}
	if _, err := s.StateRoot(2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("records at height 2 after refusals: %v", err)
	}
	if err := s.Commit(spec.block(2)); err != nil {
		t.Fatal(err)
	}
}

// snapshotDir returns every file's name and bytes under dir.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = fmt.Sprintf("%x", sha256.Sum256(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// treeRootKey is the key of the state tree's root record of version v in
// the tree's database (ledger/state keys.go).
func treeRootKey(v uint64) []byte {
	return append(binary.BigEndian.AppendUint64([]byte("\x01tv"), v), 'r')
}

// rootPageKey is the key of the root page of version v in the tree's
// database.
func rootPageKey(t *testing.T, db *leveldb.DB, v uint64) []byte {
	t.Helper()
	r, err := db.Get(treeRootKey(v), nil)
	if err != nil || len(r) != 41 {
		t.Fatalf("root record of %d: %x, %v", v, r, err)
	}
	return append(append([]byte("\x01tv"), r[32:40]...), 'p', 0)
}

// TestOpenRefusesDamage checks ARCHITECTURE.md §5 / issue item 4: a foreign, newer or
// damaged database is refused with a clear error and not written to.
func TestOpenRefusesDamage(t *testing.T) {
	build := func(t *testing.T) string {
		dir := t.TempDir()
		storeAt(t, dir, 3).Close()
		return dir
	}
	// damage opens the raw LevelDB and changes it.
	damage := func(t *testing.T, dir string, f func(db *leveldb.DB)) {
		db, err := leveldb.OpenFile(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		f(db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		prep func(t *testing.T) string
		want error
		msg  string
	}{
		{"foreign leveldb", func(t *testing.T) string {
			dir := t.TempDir()
			damage(t, dir, func(db *leveldb.DB) { db.Put([]byte("hello"), []byte("world"), nil) })
			return dir
		}, store.ErrNotLedger, "no schema record"},
		{"not a leveldb", func(t *testing.T) string {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("my files"), 0o644)
			return dir
		}, store.ErrNotLedger, "not a govnode ledger"},
		{"newer schema", func(t *testing.T) string {
			dir := build(t)
			damage(t, dir, func(db *leveldb.DB) { db.Put([]byte("\x00schema"), []byte("govnode-ledger/3"), nil) })
			return dir
		}, store.ErrSchema, "govnode-ledger/3"},
		{"schema record removed", func(t *testing.T) string {
			dir := build(t)
			damage(t, dir, func(db *leveldb.DB) { db.Delete([]byte("\x00schema"), nil) })
			return dir
		}, store.ErrNotLedger, "no schema record"},
		{"head meta missing", func(t *testing.T) string {
			dir := build(t)
			damage(t, dir, func(db *leveldb.DB) { db.Delete(append([]byte("\x01m"), 0, 0, 0, 0, 0, 0, 0, 3), nil) })
			return dir
		}, store.ErrCorrupt, "head 3"},
		{"head block missing", func(t *testing.T) string {
			dir := build(t)
			damage(t, dir, func(db *leveldb.DB) { db.Delete(append([]byte("\x01b"), 0, 0, 0, 0, 0, 0, 0, 3), nil) })
			return dir
		}, store.ErrCorrupt, "read block"},
		{"state root differs", func(t *testing.T) string {
			dir := build(t)
			damage(t, dir, func(db *leveldb.DB) {
				k := append([]byte("\x01m"), 0, 0, 0, 0, 0, 0, 0, 3)
				v, _ := db.Get(k, nil)
				v[40] ^= 1
				db.Put(k, v, nil)
			})
			return dir
		}, store.ErrCorrupt, "recorded state root"},
		{"state root node missing", func(t *testing.T) string {
			dir := build(t)
			damage(t, filepath.Join(dir, "state"), func(db *leveldb.DB) {
				db.Delete(rootPageKey(t, db, 3), nil)
			})
			return dir
		}, store.ErrCorrupt, "missing node"},
		{"state root node altered", func(t *testing.T) string {
			dir := build(t)
			damage(t, filepath.Join(dir, "state"), func(db *leveldb.DB) {
				k := rootPageKey(t, db, 3)
				v, _ := db.Get(k, nil)
				v[5] ^= 1
				db.Put(k, v, nil)
			})
			return dir
		}, store.ErrCorrupt, "hashes to"},
		{"state tree database missing", func(t *testing.T) string {
			dir := build(t)
			os.RemoveAll(filepath.Join(dir, "state"))
			return dir
		}, store.ErrCorrupt, "state tree at version"},
		{"tree two versions ahead of head", func(t *testing.T) string {
			dir := build(t)
			damage(t, filepath.Join(dir, "state"), func(db *leveldb.DB) {
				db.Put(treeRootKey(4), make([]byte, 32), nil)
				db.Put(treeRootKey(5), make([]byte, 32), nil)
			})
			return dir
		}, store.ErrCorrupt, "state tree at version 5"},
		{"content-addressed tree version ahead of head", func(t *testing.T) string {
			// Only the tree's own database can be ahead (a crash
			// between its batch and the blocks'); content-addressed
			// versions were written with the blocks.
			dir := build(t)
			damage(t, dir, func(db *leveldb.DB) {
				db.Put(append([]byte("\x01tr"), 0, 0, 0, 0, 0, 0, 0, 4), make([]byte, 32), nil)
			})
			return dir
		}, store.ErrCorrupt, "content-addressed version 4"},
		{"data without head", func(t *testing.T) string {
			dir := build(t)
			damage(t, dir, func(db *leveldb.DB) { db.Delete([]byte("\x01H"), nil) })
			return dir
		}, store.ErrCorrupt, "without a head"},
		{"records above head", func(t *testing.T) string {
			dir := build(t)
			damage(t, dir, func(db *leveldb.DB) {
				db.Put(append([]byte("\x01m"), 0, 0, 0, 0, 0, 0, 0, 4), make([]byte, 68), nil)
			})
			return dir
		}, store.ErrCorrupt, "above the head"},
		{"leveldb file truncated", func(t *testing.T) string {
			dir := build(t)
			m, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
			if len(m) == 0 {
				t.Fatal("no manifest")
			}
			os.WriteFile(m[0], []byte("garbage"), 0o644)
			return dir
		}, store.ErrNotLedger, "not a govnode ledger"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := c.prep(t)
			before := snapshotDir(t, dir)
			s, err := store.Open(dir, store.DefaultOptions())
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q, want %v containing %q", err, c.want, c.msg)
			}
			after := snapshotDir(t, dir)
			if fmt.Sprint(before) != fmt.Sprint(after) {
				t.Fatalf("refused open changed the directory:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	s.InitGenesis(spec.genesis())
	s.Commit(spec.block(1))
	s.Close()
	before := snapshotDir(t, dir)
	o := store.DefaultOptions()
	o.ReadOnly = true
	r, err := store.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := r.Height(); h != 1 {
		t.Fatalf("height %d", h)
	}
	if err := r.Commit(spec.block(2)); err == nil {
		t.Fatal("commit on a read-only store")
	}
	r.Close()
	if fmt.Sprint(before) != fmt.Sprint(snapshotDir(t, dir)) {
		t.Fatal("read-only open changed the directory")
	}
	if _, err := store.Open(filepath.Join(dir, "missing"), o); err == nil {
		t.Fatal("read-only open of a missing ledger")
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := store.DefaultOptions().Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(t.TempDir(), store.Options{}); err == nil {
		t.Fatal("zero options accepted")
	}
}

// TestReadsDuringCommits reads from another goroutine while blocks commit
// (run with -race): readers see whole heights, proofs verify against the
// root of the height they read.
func TestReadsDuringCommits(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	if err := s.InitGenesis(spec.genesis()); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			h, _ := s.Height()
			root, err := s.StateRoot(h)
			if err != nil {
				errc <- err
				return
			}
			k := stateKey(i % spec.keys)
			v, p, err := s.GetWithProof(h, k)
			if err == nil {
				err = state.Verify(state.SHA256, root, k, v, p)
			}
			if err != nil {
				errc <- fmt.Errorf("height %d key %s: %w", h, k, err)
				return
			}
			s.Get(k)
		}
	}()
	for h := uint64(1); h <= 20; h++ {
		if err := s.Commit(spec.block(h)); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := s.Audit(); err != nil {
		t.Fatal(err)
	}
}

// A creation killed before LevelDB wrote CURRENT leaves only LevelDB's own
// files: such a directory opens as a fresh ledger, while one with anything
// else in it is still refused.
func TestOpenAfterKilledCreation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ledger")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"LOCK", "LOG", "MANIFEST-000000", "000001.log"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := store.Open(dir, store.DefaultOptions())
	if err != nil {
		t.Fatalf("half-created ledger refused: %v", err)
	}
	if err := s.InitGenesis(spec.genesis()); err != nil {
		t.Fatal(err)
	}
	s.Close()

	foreign := filepath.Join(t.TempDir(), "ledger")
	if err := os.MkdirAll(foreign, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"LOCK", "MANIFEST-000000", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(foreign, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.Open(foreign, store.DefaultOptions()); !errors.Is(err, store.ErrNotLedger) {
		t.Fatalf("foreign directory: %v", err)
	}
}

// Get serves latest values from a cache (on by default): after every
// commit it must return exactly what the chain says, never an older value,
// while other goroutines read (and fill the cache) during the commits.
func TestGetCacheCoherent(t *testing.T) {
	sp := chainSpec{txsPerBlock: 10, keys: 60}
	s := openStore(t, t.TempDir())
	defer s.Close()
	if err := s.InitGenesis(sp.genesis()); err != nil {
		t.Fatal(err)
	}
	model := map[string]string{}
	for _, c := range sp.genesis() {
		model[string(c.Key)] = string(c.Value)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Go(func() {
			for i := r; ; i += 7 {
				select {
				case <-done:
					return
				default:
				}
				s.Get(stateKey(i % sp.keys))
			}
		})
	}
	defer wg.Wait()
	defer close(done)
	for h := uint64(1); h <= 80; h++ {
		d := sp.block(h)
		if err := s.Commit(d); err != nil {
			t.Fatal(err)
		}
		for _, c := range d.Changes {
			if c.Delete {
				delete(model, string(c.Key))
			} else {
				model[string(c.Key)] = string(c.Value)
			}
		}
		for i := range sp.keys {
			k := stateKey(i)
			v, err := s.Get(k)
			want, ok := model[string(k)]
			switch {
			case ok && (err != nil || string(v) != want):
				t.Fatalf("height %d: Get(%s) = %q, %v; want %q", h, k, v, err, want)
			case !ok && !errors.Is(err, store.ErrNotFound):
				t.Fatalf("height %d: Get(%s) = %q, %v; want not found", h, k, v, err)
			}
		}
	}
}
