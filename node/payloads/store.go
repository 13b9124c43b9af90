package payloads

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// SchemaVersion is the payload database's schema record.
const SchemaVersion = "govnode-payloads/1"

// MaxContentCap is the hard cap on a payload's content, whatever the
// caller asks for: the largest max_content_bytes the state machine allows
// a protected record type (exec.HardMaxTxBytes, ARCHITECTURE.md §5 "Who
// can read what"), so that every valid type's payloads can be stored.
const MaxContentCap = exec.HardMaxTxBytes

// Errors that callers test for.
var (
	// ErrNotFound: the store holds no payload with that commitment.
	ErrNotFound = errors.New("payloads: not found")
	// ErrBadPayload: a payload that does not open its commitment, or
	// whose content is over the store's limit.
	ErrBadPayload = errors.New("payloads: bad payload")
	// ErrNotPayloadDB: the directory holds a database that is not a
	// payload store (another schema, or keys without a schema record).
	ErrNotPayloadDB = errors.New("payloads: not a govnode payload database")
)

// StoreOptions configure a Store.
type StoreOptions struct {
	// MaxContentBytes bounds a payload's content: 1 to MaxContentCap; 0
	// is MaxContentCap.
	MaxContentBytes int
	// Now is the clock of the stored-at times; nil is time.Now.
	Now func() time.Time
	// Suite is the chain's crypto suite, whose commitments payloads
	// open (the zero value is ed25519-sha256).
	Suite crypto.Suite
}

// Key layout. Keys hold commitments and record ids, which are on chain
// anyway; only values under tagPayload hold content.
//
//	\x00schema                   → SchemaVersion
//	c                            → the Manager's cursor: last height processed (8 bytes)
//	p commitment                 → serialized pb.Payload
//	m commitment                 → stored-at unix ms (8) || flags (1: bit 0 bound)
//	r commitment record id       → "": a committed version of a record not
//	                               erased commits to it (binds it)
//	e commitment                 → erased height (8): erased, no record binds it
//	w commitment                 → record id: wanted, to fetch from member peers
const (
	tagCursor  = 'c'
	tagPayload = 'p'
	tagMeta    = 'm'
	tagRef     = 'r'
	tagErased  = 'e'
	tagWant    = 'w'

	flagBound = 1
)

var schemaKey = []byte("\x00schema")

func key(tag byte, parts ...[]byte) []byte {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	k = append(k, tag)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func payloadKey(c []byte) []byte         { return key(tagPayload, c) }
func metaKey(c []byte) []byte            { return key(tagMeta, c) }
func refKey(c []byte, rec string) []byte { return key(tagRef, c, []byte(rec)) }
func erasedKey(c []byte) []byte          { return key(tagErased, c) }
func wantKey(c []byte) []byte            { return key(tagWant, c) }

var cursorKey = []byte{tagCursor}

// meta is a payload's small record beside it.
type meta struct {
	storedAtMs int64
	bound      bool
}

func (m meta) encode() []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 9), uint64(m.storedAtMs))
	var f byte
	if m.bound {
		f |= flagBound
	}
	return append(b, f)
}

func decodeMeta(b []byte) (meta, bool) {
	if len(b) != 9 {
		return meta{}, false
	}
	return meta{storedAtMs: int64(binary.BigEndian.Uint64(b)), bound: b[8]&flagBound != 0}, true
}

// Store is the payload database: protected payloads by commitment, in a
// LevelDB of their own beside the ledger (<data dir>/payloads,
// ARCHITECTURE.md §5 "Erasing personal data"), so that deleting one can
// take its bytes off the disk (Delete compacts) without touching the
// ledger. Safe for concurrent use.
//
// Reads take the read side of mu and Delete the write side: LevelDB keeps
// a deleted value in the files while a snapshot (every Get and iterator
// holds one) may still see it, so Delete's compaction runs with no read in
// flight.
type Store struct {
	dir        string
	suite      crypto.Suite
	db         *leveldb.DB
	maxContent int
	now        func() time.Time

	mu     sync.RWMutex
	closed bool
}

var syncWrite = &opt.WriteOptions{Sync: true}

// OpenStore opens the payload database in dir, creating it if dir is
// missing or empty. A LevelDB that is not a payload database is refused
// (ErrNotPayloadDB) and left as it is.
func OpenStore(dir string, o StoreOptions) (*Store, error) {
	if o.MaxContentBytes < 0 || o.MaxContentBytes > MaxContentCap {
		return nil, fmt.Errorf("payloads: MaxContentBytes %d out of range [1, %d]", o.MaxContentBytes, MaxContentCap)
	}
	if o.MaxContentBytes == 0 {
		o.MaxContentBytes = MaxContentCap
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	db, err := leveldb.OpenFile(dir, &opt.Options{
		BlockCacheCapacity: 8 * opt.MiB,
		WriteBuffer:        4 * opt.MiB,
		Filter:             filter.NewBloomFilter(10),
		// Uncompressed: an operator (and the tests) can check with a plain
		// search of the files that an erased content is gone; salted
		// personal data compresses little anyway.
		Compression: opt.NoCompression,
	})
	if err != nil {
		return nil, fmt.Errorf("open payload database %s: %w", dir, err)
	}
	if err := checkSchema(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open payload database %s: %w", dir, err)
	}
	return &Store{dir: dir, suite: o.Suite, db: db, maxContent: o.MaxContentBytes, now: o.Now}, nil
}

// checkSchema checks the schema record, writing it into an empty database.
func checkSchema(db *leveldb.DB) error {
	v, err := db.Get(schemaKey, nil)
	switch {
	case errors.Is(err, leveldb.ErrNotFound):
		it := db.NewIterator(nil, nil)
		any := it.First()
		it.Release()
		if any {
			return fmt.Errorf("%w: keys present but no schema record", ErrNotPayloadDB)
		}
		if err := db.Put(schemaKey, []byte(SchemaVersion), syncWrite); err != nil {
			return fmt.Errorf("write schema: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("read schema record: %w", err)
	case string(v) != SchemaVersion:
		return fmt.Errorf("%w: schema %q, this node reads %q", ErrNotPayloadDB, v, SchemaVersion)
	}
	return nil
}

// Dir is the database's directory.
func (s *Store) Dir() string { return s.dir }

// MaxContentBytes is the largest content Put accepts.
func (s *Store) MaxContentBytes() int { return s.maxContent }

// check reports whether p opens commitment and fits the store.
func (s *Store) check(commitment []byte, p *pb.Payload) error {
	if p == nil {
		return fmt.Errorf("%w: no payload", ErrBadPayload)
	}
	if n := len(p.GetContent()); n > s.maxContent {
		return fmt.Errorf("%w: content of %d bytes, at most %d", ErrBadPayload, n, s.maxContent)
	}
	if err := s.suite.CheckPayload(commitment, p.GetSalt(), p.GetContent()); err != nil {
		return fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	return nil
}

// Put stores p under commitment, unbound (as a payload accepted ahead of
// its transaction), with a synced write. It refuses a payload that does
// not open commitment (crypto.Suite.CheckPayload) or whose content is over
// MaxContentBytes. Storing a payload already held changes nothing.
func (s *Store) Put(commitment []byte, p *pb.Payload) error {
	if err := s.check(commitment, p); err != nil {
		return err
	}
	if held, err := s.Has(commitment); err != nil || held {
		return err
	}
	b := new(leveldb.Batch)
	if err := s.putBatch(b, commitment, p, false, s.now()); err != nil {
		return err
	}
	return s.write(b)
}

// putBatch adds p to b with its meta, stored at now; the caller has
// checked it.
func (s *Store) putBatch(b *leveldb.Batch, commitment []byte, p *pb.Payload, bound bool, now time.Time) error {
	v, err := proto.Marshal(&pb.Payload{Salt: p.GetSalt(), Content: p.GetContent()})
	if err != nil {
		return fmt.Errorf("payloads: encode: %w", err)
	}
	b.Put(payloadKey(commitment), v)
	b.Put(metaKey(commitment), meta{storedAtMs: now.UnixMilli(), bound: bound}.encode())
	return nil
}

// Get returns the payload with commitment, or ErrNotFound.
func (s *Store) Get(commitment []byte) (*pb.Payload, error) {
	v, err := s.get(payloadKey(commitment))
	if err != nil {
		return nil, err
	}
	p := &pb.Payload{}
	if err := proto.Unmarshal(v, p); err != nil {
		return nil, fmt.Errorf("payloads: decode %x: %w", commitment, err)
	}
	return p, nil
}

// Has reports whether the store holds the payload with commitment.
func (s *Store) Has(commitment []byte) (bool, error) {
	return s.has(payloadKey(commitment))
}

// Payloads returns the payloads held for commitments, in the order asked,
// leaving out those it lacks (or cannot read): p2p.PayloadSource, what the
// node serves member peers.
func (s *Store) Payloads(commitments [][]byte) []*pb.Payload {
	var out []*pb.Payload
	for _, c := range commitments {
		if p, err := s.Get(c); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Delete deletes the payloads of commitments (and their meta) with a synced
// write, then compacts each one's key range so that the content leaves the
// database's files: LevelDB's CompactRange first rotates the memtable when
// the range overlaps it (a new journal; the old one, which holds the value
// and the deletion, is removed once the memtable is written to a table),
// then merges the range's tables down to the lowest level that holds it,
// where the deletion drops the value; the tables that held it are removed.
// Deleting a payload not held is not an error.
func (s *Store) Delete(commitments [][]byte) error {
	return s.deleteWith(new(leveldb.Batch), commitments)
}

// deleteWith writes b, with the deletion of commitments' payloads and
// meta added, and compacts the payloads' ranges. The write side of mu is
// held throughout: no snapshot can keep a deleted value alive.
func (s *Store) deleteWith(b *leveldb.Batch, commitments [][]byte) error {
	for _, c := range commitments {
		b.Delete(payloadKey(c))
		b.Delete(metaKey(c))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return leveldb.ErrClosed
	}
	if err := s.db.Write(b, syncWrite); err != nil {
		return fmt.Errorf("payloads: delete: %w", err)
	}
	for _, c := range commitments {
		k := payloadKey(c)
		if err := s.db.CompactRange(util.Range{Start: k, Limit: append(bytes.Clone(k), 0)}); err != nil {
			return fmt.Errorf("payloads: compact after deleting %x: %w", c, err)
		}
	}
	return nil
}

// Close closes the database. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}

// write writes b with sync.
func (s *Store) write(b *leveldb.Batch) error { return s.writeOpt(b, syncWrite) }

// writeOpt writes b with the write options o.
func (s *Store) writeOpt(b *leveldb.Batch, o *opt.WriteOptions) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return leveldb.ErrClosed
	}
	if err := s.db.Write(b, o); err != nil {
		return fmt.Errorf("payloads: write: %w", err)
	}
	return nil
}

func (s *Store) get(k []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, leveldb.ErrClosed
	}
	v, err := s.db.Get(k, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("payloads: read: %w", err)
	}
	return v, nil
}

func (s *Store) has(k []byte) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false, leveldb.ErrClosed
	}
	ok, err := s.db.Has(k, nil)
	if err != nil {
		return false, fmt.Errorf("payloads: read: %w", err)
	}
	return ok, nil
}

// scan calls fn for each key under prefix (without the prefix) and its
// value, in order, until fn returns false. fn must not call the store's
// writers (it runs under the read lock) and must copy what it keeps.
func (s *Store) scan(prefix []byte, fn func(k, v []byte) bool) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return leveldb.ErrClosed
	}
	it := s.db.NewIterator(util.BytesPrefix(prefix), nil)
	defer it.Release()
	for it.Next() {
		if !fn(it.Key()[len(prefix):], it.Value()) {
			break
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("payloads: scan: %w", err)
	}
	return nil
}

// meta returns the meta of commitment; ok false when absent.
func (s *Store) meta(c []byte) (meta, bool, error) {
	v, err := s.get(metaKey(c))
	if errors.Is(err, ErrNotFound) {
		return meta{}, false, nil
	}
	if err != nil {
		return meta{}, false, err
	}
	m, ok := decodeMeta(v)
	if !ok {
		return meta{}, false, fmt.Errorf("payloads: meta of %x is %d bytes", c, len(v))
	}
	return m, true, nil
}

// bound reports whether a record binds commitment (a ref exists), other
// than except.
func (s *Store) bound(c []byte, except string) (bool, error) {
	found := false
	err := s.scan(key(tagRef, c), func(k, _ []byte) bool {
		if string(k) != except {
			found = true
			return false
		}
		return true
	})
	return found, err
}

// cursor is the last height the Manager processed, 0 on a fresh store.
func (s *Store) cursor() (uint64, error) {
	v, err := s.get(cursorKey)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("payloads: cursor of %d bytes", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}
