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

	"github.com/govnode/govnode/ledger/state"
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
	path     string
	db       *leveldb.DB
	tree     *state.Tree
	readOnly bool

	commitMu sync.Mutex
	// batch is the batch buffer reused by commits (commitBatch), of
	// batchCap bytes; owned by the writer under commitMu.
	batch    *leveldb.Batch
	batchCap int

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
	empty, err := checkDB(ro)
	if cerr := ro.Close(); err == nil && cerr != nil {
		err = cerr
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
		return newStore(path, db, o, true)
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
	return newStore(path, db, o, false)
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
		if err := os.Remove(filepath.Join(path, e.Name())); err != nil {
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
	return newStore(path, db, o, false)
}

func newStore(path string, db *leveldb.DB, o Options, readOnly bool) (*Store, error) {
	// Check again on the database we keep (cheap), and load the head.
	if _, err := checkDB(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	tree, err := state.OpenWithOptions(db, treePrefix(), state.Options{CachePages: o.StateCachePages})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	s := &Store{path: path, db: db, tree: tree, readOnly: readOnly, values: newValueCache(o.ValueCacheMiB << 20)}
	h, ok, err := readHead(db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	s.hasHead, s.head = ok, h
	return s, nil
}

// checkDB checks the schema record and the head; empty reports a database
// without any key.
func checkDB(db *leveldb.DB) (empty bool, err error) {
	v, err := db.Get(schemaKey, nil)
	switch {
	case errors.Is(err, leveldb.ErrNotFound):
		it := db.NewIterator(nil, nil)
		any := it.First()
		it.Release()
		if !any {
			return true, nil
		}
		return false, fmt.Errorf("%w: keys present but no schema record", ErrNotLedger)
	case err != nil:
		return false, fmt.Errorf("read schema record: %w", err)
	case string(v) != SchemaVersion:
		return false, fmt.Errorf("%w: database has schema %q, this node reads %q", ErrSchema, v, SchemaVersion)
	}
	return false, checkHead(db)
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
func checkHead(db *leveldb.DB) error {
	h, ok, err := readHead(db)
	if err != nil {
		return err
	}
	if !ok {
		// Schema only: nothing else may be there.
		it := db.NewIterator(util.BytesPrefix([]byte{schemaByte}), nil)
		any := it.First()
		it.Release()
		if any {
			return fmt.Errorf("%w: data without a head record", ErrCorrupt)
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
	tree, err := state.Open(db, treePrefix())
	if err != nil {
		return fmt.Errorf("%w: head %d: %v", ErrCorrupt, h, err)
	}
	if v, ok := tree.LatestVersion(); !ok || v != h {
		return fmt.Errorf("%w: head %d but state tree at version %d (present %v)", ErrCorrupt, h, v, ok)
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

// Close closes the database.
func (s *Store) Close() error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	return s.db.Close()
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
