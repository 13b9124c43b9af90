package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/state"
	"github.com/govnode/govnode/ledger/state/proof"
)

// Errors that callers test for.
var (
	// ErrNotFound: no such block, height, transaction or key. It is
	// state.ErrNotFound, so one errors.Is serves both packages.
	ErrNotFound = state.ErrNotFound
	// ErrNotLedger: the path holds something that is not a govnode ledger.
	ErrNotLedger = errors.New("store: not a govnode ledger")
	// ErrSchema: a govnode ledger of another schema version.
	ErrSchema = errors.New("store: unsupported ledger schema")
	// ErrCorrupt: the ledger is damaged.
	ErrCorrupt = errors.New("store: ledger damaged")
	// ErrNoGenesis: the ledger has no height yet; call InitGenesis.
	ErrNoGenesis = errors.New("store: ledger has no genesis")
	// ErrHeight: a commit out of order.
	ErrHeight = errors.New("store: commit out of order")
	// ErrInvalid: CommitData that cannot be committed.
	ErrInvalid = errors.New("store: invalid commit data")
	// ErrPending: a block is prepared and not written (Prepare).
	ErrPending = errors.New("store: a prepared block is not written")
)

// Options configure a Store.
type Options struct {
	// BlockCacheMiB is LevelDB's table block cache.
	BlockCacheMiB int
	// WriteBufferMiB is LevelDB's memtable size. A block's batch must fit
	// in it comfortably: 1,000 transactions write about 3 MiB.
	WriteBufferMiB int
	// StateCachePages bounds the state tree's page cache (see
	// state.Options.CachePages).
	StateCachePages int
	// ValueCacheMiB bounds the cache of latest state values that Get
	// serves (see valueCache); 0 turns it off.
	ValueCacheMiB int
	// ReadOnly opens an existing ledger for reading only (audits, the CLI).
	ReadOnly bool
	// Suite is the chain's crypto suite, whose hash the state tree is
	// written with (the zero value is ed25519-sha256). A ledger must be
	// opened with its chain's suite: another gives other roots.
	Suite crypto.Suite
}

// DefaultOptions returns the options a node uses.
func DefaultOptions() Options {
	return Options{BlockCacheMiB: 64, WriteBufferMiB: 32, StateCachePages: state.DefaultOptions().CachePages, ValueCacheMiB: 32}
}

// Validate reports nonsense options.
func (o Options) Validate() error {
	if o.BlockCacheMiB < 1 || o.BlockCacheMiB > 1<<16 {
		return fmt.Errorf("store: BlockCacheMiB %d out of range [1, 65536]", o.BlockCacheMiB)
	}
	if o.WriteBufferMiB < 1 || o.WriteBufferMiB > 1<<12 {
		return fmt.Errorf("store: WriteBufferMiB %d out of range [1, 4096]", o.WriteBufferMiB)
	}
	if o.ValueCacheMiB < 0 || o.ValueCacheMiB > 1<<14 {
		return fmt.Errorf("store: ValueCacheMiB %d out of range [0, 16384]", o.ValueCacheMiB)
	}
	if err := (state.Options{CachePages: o.StateCachePages}).Validate(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func (o Options) leveldb(readOnly bool) *opt.Options {
	return &opt.Options{
		BlockCacheCapacity: o.BlockCacheMiB * opt.MiB,
		WriteBuffer:        o.WriteBufferMiB * opt.MiB,
		Filter:             filter.NewBloomFilter(10),
		// Tree records are hashes, which do not compress; snappy would
		// only cost CPU in every compaction.
		Compression: opt.NoCompression,
		// goleveldb writes each table block with its own write(2): at the
		// default 4 KiB, flushes and compactions spent 10% of a node's CPU
		// in write calls at saturation (docs/BENCHMARKS.md); 32 KiB
		// blocks and 8 MiB tables cut that to under 4%. Point reads are
		// served mostly by the value cache and the block cache.
		BlockSize:           32 * opt.KiB,
		CompactionTableSize: 8 * opt.MiB,
		ReadOnly:            readOnly,
		ErrorIfMissing:      readOnly,
	}
}

// Store is the block store. Reads may run from any goroutine; Commit and
// InitGenesis belong to one writer (the node's apply loop) and are
// serialised.
type Store struct {
	path  string
	suite crypto.Suite
	db    *leveldb.DB
	// treeDB is the state tree's own LevelDB (treeDir): its records are
	// keyed by version so that a block's batch appends to it, and alone
	// in their LevelDB they are moved down the levels instead of being
	// rewritten by compactions that the store's hash-keyed records
	// (tx index, latest values) would drag them into (docs/BENCHMARKS.md,
	// "State tree layout"). nil for a read-only ledger of schema
	// govnode-ledger/1, which has none.
	treeDB   *leveldb.DB
	tree     *state.Tree
	readOnly bool

	commitMu sync.Mutex
	// batch and treeBatch are the batch buffers reused by commits
	// (commitBatch), of batchCap and treeBatchCap bytes; owned by the
	// writer under commitMu.
	batch        *leveldb.Batch
	batchCap     int
	treeBatch    *leveldb.Batch
	treeBatchCap int
	// prepared is the block Prepare staged and Write has not written,
	// which holds the batch buffers above.
	prepared *Prepared

	mu      sync.RWMutex
	hasHead bool
	head    uint64

	// values caches latest state values for Get; nil when off.
	values *valueCache
}

var syncWrite = &opt.WriteOptions{Sync: true}

// Open opens the ledger at path, creating it if path is missing or an empty
// directory. An existing database is first opened read-only and checked
// (schema record, head records, state root at the head); if it is foreign,
// of another schema or damaged, Open returns an error wrapping
// ErrNotLedger, ErrSchema or ErrCorrupt and has written nothing.
//
// A ledger of schema govnode-ledger/1 (its state tree content-addressed in
// the main database) is upgraded by a read-write Open: the tree's own
// database is created, the schema record becomes govnode-ledger/2, and the
// tree goes on with version-keyed records there, reading its earlier
// versions where they are (state.Options.Legacy). Read-only, it is read
// as it is.
func Open(path string, o Options) (*Store, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	fresh, err := isFresh(path)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	if fresh {
		if o.ReadOnly {
			return nil, fmt.Errorf("open ledger %s read-only: %w", path, os.ErrNotExist)
		}
		return create(path, o)
	}

	// Check before writing anything: a read-only LevelDB open replays the
	// journal in memory and writes no file (it creates LOCK if missing, so
	// a directory without CURRENT is refused before it).
	if _, err := os.Stat(filepath.Join(path, "CURRENT")); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w: not a LevelDB database (%v)", path, ErrNotLedger, err)
	}
	ro, err := leveldb.OpenFile(path, o.leveldb(true))
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w (or in use by another process): %v", path, ErrNotLedger, err)
	}
	roTree, err := openTreeDB(path, o, true)
	if err != nil {
		ro.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	empty, schema, err := checkDB(ro, roTree, o.Suite)
	if cerr := ro.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if roTree != nil {
		if cerr := roTree.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	if o.ReadOnly {
		if empty {
			return nil, fmt.Errorf("open ledger %s read-only: %w: empty database", path, ErrNotLedger)
		}
		db, err := leveldb.OpenFile(path, o.leveldb(true))
		if err != nil {
			return nil, fmt.Errorf("open ledger %s: %w", path, err)
		}
		treeDB, err := openTreeDB(path, o, true)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("open ledger %s: %w", path, err)
		}
		return newStore(path, db, treeDB, o, true)
	}
	if empty {
		// A LevelDB with no key at all: created, then killed before the
		// schema record was written.
		return create(path, o)
	}
	db, err := leveldb.OpenFile(path, o.leveldb(false))
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	treeDB, err := openTreeDB(path, o, false)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	if schema != SchemaVersion {
		// Upgrade from govnode-ledger/1, now that the tree's database
		// exists: from here on, a node that reads only /1 refuses the
		// ledger (ErrSchema) rather than missing the tree's new versions.
		if err := db.Put(schemaKey, []byte(SchemaVersion), syncWrite); err != nil {
			treeDB.Close()
			db.Close()
			return nil, fmt.Errorf("open ledger %s: upgrade schema: %w", path, err)
		}
	}
	return newStore(path, db, treeDB, o, false)
}

// treeDir is the directory, inside the ledger's, of the state tree's
// LevelDB (see Store.treeDB).
const treeDir = "state"

// openTreeDB opens the state tree's LevelDB: read-only, only if it exists
// (nil if not: a ledger of schema govnode-ledger/1, or one whose creation
// stopped before the tree's database); read-write, creating it if missing.
func openTreeDB(path string, o Options, readOnly bool) (*leveldb.DB, error) {
	dir := filepath.Join(path, treeDir)
	if readOnly {
		if _, err := os.Stat(filepath.Join(dir, "CURRENT")); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	db, err := leveldb.OpenFile(dir, o.leveldb(readOnly))
	if err != nil {
		return nil, fmt.Errorf("%w: state tree database: %v", ErrCorrupt, err)
	}
	return db, nil
}

// isFresh reports whether path is missing or an empty directory (or holds
// only the lock and log files LevelDB creates first).
func isFresh(path string) (bool, error) {
	entries, err := os.ReadDir(path)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	// LevelDB writes CURRENT last when it creates a database, and accepts
	// no write before that: a directory holding only LevelDB's own files
	// and no CURRENT is a creation killed half way, with nothing in it.
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == "CURRENT":
			return false, nil
		case name == "LOCK", strings.HasPrefix(name, "LOG"), strings.HasPrefix(name, "MANIFEST-"),
			strings.HasPrefix(name, "CURRENT."), strings.HasSuffix(name, ".log"), strings.HasSuffix(name, ".tmp"):
		default:
			return false, nil
		}
	}
	return true, nil
}

func create(path string, o Options) (*Store, error) {
	// Remove what a killed creation left (isFresh allowed only LevelDB's
	// own files, and without CURRENT none of them holds data).
	entries, err := os.ReadDir(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("create ledger %s: %w", path, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(path, e.Name())); err != nil {
			return nil, fmt.Errorf("create ledger %s: remove leftover %s: %w", path, e.Name(), err)
		}
	}
	db, err := leveldb.OpenFile(path, o.leveldb(false))
	if err != nil {
		return nil, fmt.Errorf("create ledger %s: %w", path, err)
	}
	if err := db.Put(schemaKey, []byte(SchemaVersion), syncWrite); err != nil {
		db.Close()
		return nil, fmt.Errorf("create ledger %s: write schema: %w", path, err)
	}
	treeDB, err := openTreeDB(path, o, false)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("create ledger %s: %w", path, err)
	}
	return newStore(path, db, treeDB, o, false)
}

func newStore(path string, db, treeDB *leveldb.DB, o Options, readOnly bool) (*Store, error) {
	fail := func(err error) (*Store, error) {
		if treeDB != nil {
			treeDB.Close()
		}
		db.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	// Check again on the databases we keep (cheap), and load the head.
	if _, _, err := checkDB(db, treeDB, o.Suite); err != nil {
		return fail(err)
	}
	h, hasHead, err := readHead(db)
	if err != nil {
		return fail(err)
	}
	tree, err := openTree(db, treeDB, o.StateCachePages, o.Suite)
	if err != nil {
		return fail(err)
	}
	// The tree's batch is written before the blocks' (Store.write), so a
	// crash between the two leaves the tree one version ahead: forget
	// that version, which the block's commit writes again.
	if v, ok := tree.LatestVersion(); ok && (!hasHead || v > h) {
		if readOnly {
			if hasHead {
				if err := tree.Rewind(h); err != nil {
					return fail(err)
				}
			}
		} else {
			from := uint64(0)
			if hasHead {
				from = h + 1
			}
			b := new(leveldb.Batch)
			if _, err := tree.DiscardFrom(from, b); err != nil {
				return fail(fmt.Errorf("%w: %v", ErrCorrupt, err))
			}
			if err := treeDB.Write(b, syncWrite); err != nil {
				return fail(fmt.Errorf("discard state tree versions from %d: %w", from, err))
			}
			if tree, err = openTree(db, treeDB, o.StateCachePages, o.Suite); err != nil {
				return fail(err)
			}
		}
	}
	s := &Store{path: path, suite: o.Suite, db: db, treeDB: treeDB, tree: tree, readOnly: readOnly, values: newValueCache(o.ValueCacheMiB << 20)}
	s.hasHead, s.head = hasHead, h
	return s, nil
}

// openTree opens the state tree: its version-keyed records in treeDB, its
// content-addressed ones (schema govnode-ledger/1) in db. Without treeDB
// (a /1 ledger opened read-only) both are read from db.
func openTree(db, treeDB *leveldb.DB, cachePages int, suite crypto.Suite) (*state.Tree, error) {
	if treeDB == nil {
		treeDB = db
	}
	o := state.DefaultOptions()
	o.Legacy = db
	o.Hasher = proof.Hasher(suite)
	if cachePages != 0 {
		o.CachePages = cachePages
	}
	return state.OpenWithOptions(treeDB, treePrefix(), o)
}

// checkDB checks the schema record and the head; empty reports a database
// without any key, schema the schema record (SchemaVersion or
// SchemaVersion1).
func checkDB(db, treeDB *leveldb.DB, suite crypto.Suite) (empty bool, schema string, err error) {
	v, err := db.Get(schemaKey, nil)
	switch {
	case errors.Is(err, leveldb.ErrNotFound):
		it := db.NewIterator(nil, nil)
		any := it.First()
		it.Release()
		if !any {
			return true, "", nil
		}
		return false, "", fmt.Errorf("%w: keys present but no schema record", ErrNotLedger)
	case err != nil:
		return false, "", fmt.Errorf("read schema record: %w", err)
	case string(v) != SchemaVersion && string(v) != SchemaVersion1:
		return false, "", fmt.Errorf("%w: database has schema %q, this node reads %q and %q", ErrSchema, v, SchemaVersion1, SchemaVersion)
	case string(v) == SchemaVersion1 && treeDB != nil:
		// An upgrade stopped after creating the tree's database and
		// before the schema record: nothing can be in it yet.
		it := treeDB.NewIterator(nil, nil)
		any := it.First()
		it.Release()
		if any {
			return false, "", fmt.Errorf("%w: schema %q with records in the state tree's database", ErrCorrupt, v)
		}
	}
	return false, string(v), checkHead(db, treeDB, suite)
}

func readHead(db *leveldb.DB) (uint64, bool, error) {
	v, err := db.Get(headKey(), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read head: %w", err)
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("%w: head record of %d bytes", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v), true, nil
}

// checkHead checks that the records of the head height are all there and
// agree, and that the state tree's root at the head is the recorded one.
// treeDB is the tree's database, nil for a ledger of schema /1 without one.
func checkHead(db, treeDB *leveldb.DB, suite crypto.Suite) error {
	h, ok, err := readHead(db)
	if err != nil {
		return err
	}
	if !ok {
		// Schema only: nothing else may be there, but the genesis
		// version of the tree, written before a crash stopped the
		// genesis' blocks batch (newStore discards it).
		it := db.NewIterator(util.BytesPrefix([]byte{schemaByte}), nil)
		any := it.First()
		it.Release()
		if any {
			return fmt.Errorf("%w: data without a head record", ErrCorrupt)
		}
		if treeDB != nil {
			tree, err := openTree(db, treeDB, 0, suite)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
			if v, ok := tree.LatestVersion(); ok && v != 0 {
				return fmt.Errorf("%w: no head but state tree at version %d", ErrCorrupt, v)
			}
		}
		return nil
	}
	mb, err := db.Get(metaKey(h), nil)
	if err != nil {
		return fmt.Errorf("%w: head %d: read meta: %v", ErrCorrupt, h, err)
	}
	m, ok := decodeMeta(mb)
	if !ok {
		return fmt.Errorf("%w: head %d: meta of %d bytes", ErrCorrupt, h, len(mb))
	}
	if h > 0 {
		if _, err := db.Get(blockKey(h), nil); err != nil {
			return fmt.Errorf("%w: head %d: read block: %v", ErrCorrupt, h, err)
		}
		if _, err := db.Get(certKey(h), nil); err != nil {
			return fmt.Errorf("%w: head %d: read commit certificate: %v", ErrCorrupt, h, err)
		}
		hb, err := db.Get(hashKey(m.blockHash), nil)
		if err != nil || !bytes.Equal(hb, be64(h)) {
			return fmt.Errorf("%w: head %d: block hash %x not indexed to it", ErrCorrupt, h, m.blockHash)
		}
	}
	if _, err := db.Get(metaKey(h+1), nil); err == nil {
		return fmt.Errorf("%w: records above the head %d", ErrCorrupt, h)
	}
	tree, err := openTree(db, treeDB, 0, suite)
	if err != nil {
		return fmt.Errorf("%w: head %d: %v", ErrCorrupt, h, err)
	}
	// One version ahead is a crash between the tree's batch and the
	// blocks' (newStore discards it); more is damage.
	if v, ok := tree.LatestVersion(); !ok || v < h || v > h+1 || (v == h+1 && treeDB == nil) {
		return fmt.Errorf("%w: head %d but state tree at version %d (present %v)", ErrCorrupt, h, v, ok)
	}
	if v, _ := tree.LatestVersion(); v == h+1 {
		// Only a version-keyed version can be discarded (a dry run).
		if _, err := tree.DiscardFrom(h+1, new(leveldb.Batch)); err != nil {
			return fmt.Errorf("%w: head %d: %v", ErrCorrupt, h, err)
		}
	}
	if err := tree.Rewind(h); err != nil {
		return fmt.Errorf("%w: head %d: %v", ErrCorrupt, h, err)
	}
	root, err := tree.Root(h)
	if err != nil {
		return fmt.Errorf("%w: head %d: %v", ErrCorrupt, h, err)
	}
	if root != m.stateRoot {
		return fmt.Errorf("%w: head %d: state tree root %x, recorded state root %x", ErrCorrupt, h, root, m.stateRoot)
	}
	if err := tree.CheckRoot(h); err != nil {
		return fmt.Errorf("%w: head %d: %v", ErrCorrupt, h, err)
	}
	return nil
}

// Close closes the databases.
func (s *Store) Close() error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	err := s.db.Close()
	if s.treeDB != nil {
		if terr := s.treeDB.Close(); err == nil {
			err = terr
		}
	}
	return err
}

// Height returns the committed height; ok is false before InitGenesis.
func (s *Store) Height() (height uint64, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.head, s.hasHead
}

// State returns the authenticated state tree, for reads at any retained
// height and proofs. Its writes belong to the store.
func (s *Store) State() *state.Tree { return s.tree }
