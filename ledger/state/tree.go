package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// ErrNotFound is returned for an absent key or an unknown version. The
// block store returns the same sentinel.
var ErrNotFound = errors.New("not found")

// ErrCorrupt wraps every inconsistency found in stored tree data: a missing
// node, a node that does not match its hash, a malformed record.
var ErrCorrupt = errors.New("state: corrupt tree data")

const (
	tagNode = 'n'
	tagRoot = 'r'
)

// Options tune a Tree.
type Options struct {
	// CachePages bounds the in-memory page cache: up to two generations of
	// this many pages (a page is at most about 1 KiB, most far less, plus
	// up to 15 cached inner hashes). The pages a block rewrites replace
	// their old versions in it, so it holds the latest version's pages:
	// all of them up to about CachePages (a million random keys make
	// about 330,000 pages, about 130 MB with the default), and the upper
	// levels, which every update and proof reads, beyond. A page that is
	// not in it costs a LevelDB read in every update below it.
	CachePages int
}

// DefaultOptions returns the options Open uses.
func DefaultOptions() Options { return Options{CachePages: 1 << 18} }

// Validate reports nonsense options.
func (o Options) Validate() error {
	if o.CachePages < 16 || o.CachePages > 1<<24 {
		return fmt.Errorf("state: CachePages %d out of range [16, 16777216]", o.CachePages)
	}
	return nil
}

// Tree is a versioned sparse Merkle tree stored in a LevelDB under a prefix.
//
// Concurrency: reads (Root, Get, GetWithProof, CheckIntegrity) may run from
// any goroutine, also while a block commits. Stage and Committed belong to a
// single writer (the block store), which calls them in order.
//
// Nothing is ever deleted: nodes are content-addressed and shared between
// versions, so pruning needs reference counts or a mark-and-sweep over the
// retained roots; records history reads old versions, so all versions are
// kept and Prune is left out on purpose.
type Tree struct {
	db     *leveldb.DB
	prefix []byte

	mu        sync.RWMutex
	hasLatest bool
	latest    uint64
	latestRt  Hash

	cmu       sync.RWMutex
	cache     map[Hash]cached
	cacheOld  map[Hash]cached
	cacheSize int
	// staged is the last version Stage computed; when Committed makes it
	// the latest, the pages it replaced leave the cache.
	staged *Writes
}

// Open opens the tree stored under prefix in db with DefaultOptions,
// reading its latest version. db stays owned by the caller; Tree never
// writes to it directly.
func Open(db *leveldb.DB, prefix []byte) (*Tree, error) {
	return OpenWithOptions(db, prefix, DefaultOptions())
}

// OpenWithOptions is Open with options.
func OpenWithOptions(db *leveldb.DB, prefix []byte, o Options) (*Tree, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	t := &Tree{
		db:        db,
		prefix:    append([]byte(nil), prefix...),
		cache:     make(map[Hash]cached),
		cacheSize: o.CachePages,
	}
	it := db.NewIterator(util.BytesPrefix(t.key(tagRoot, nil)), nil)
	defer it.Release()
	if it.Last() {
		v, root, err := t.decodeRootRecord(it.Key(), it.Value())
		if err != nil {
			return nil, err
		}
		t.hasLatest, t.latest, t.latestRt = true, v, root
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("state: read latest version: %w", err)
	}
	return t, nil
}

func (t *Tree) key(tag byte, suffix []byte) []byte {
	k := make([]byte, 0, len(t.prefix)+1+len(suffix))
	k = append(k, t.prefix...)
	k = append(k, tag)
	return append(k, suffix...)
}

func (t *Tree) nodeKey(h Hash) []byte { return t.key(tagNode, h[:]) }

func (t *Tree) rootKey(version uint64) []byte {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], version)
	return t.key(tagRoot, v[:])
}

func (t *Tree) decodeRootRecord(k, v []byte) (uint64, Hash, error) {
	if len(k) != len(t.prefix)+9 || len(v) != 32 {
		return 0, Hash{}, fmt.Errorf("%w: root record %x of %d bytes", ErrCorrupt, k, len(v))
	}
	var root Hash
	copy(root[:], v)
	return binary.BigEndian.Uint64(k[len(t.prefix)+1:]), root, nil
}

// LatestVersion returns the latest committed version; ok is false while the
// tree holds no version at all.
func (t *Tree) LatestVersion() (version uint64, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.latest, t.hasLatest
}

// Root returns the root hash of a committed version, ErrNotFound if there
// is no such version.
func (t *Tree) Root(version uint64) (Hash, error) {
	t.mu.RLock()
	if t.hasLatest && version == t.latest {
		r := t.latestRt
		t.mu.RUnlock()
		return r, nil
	}
	t.mu.RUnlock()
	v, err := t.db.Get(t.rootKey(version), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return Hash{}, fmt.Errorf("state: version %d: %w", version, ErrNotFound)
	}
	if err != nil {
		return Hash{}, fmt.Errorf("state: read root of version %d: %w", version, err)
	}
	if len(v) != 32 {
		return Hash{}, fmt.Errorf("%w: root of version %d has %d bytes", ErrCorrupt, version, len(v))
	}
	var r Hash
	copy(r[:], v)
	return r, nil
}

// Committed makes version, with the given root, the latest version. The
// caller has written the batch that Stage's Writes went into; Committed
// checks that the root record is there.
func (t *Tree) Committed(version uint64, root Hash) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.hasLatest && version != t.latest+1 {
		return fmt.Errorf("state: commit version %d after %d", version, t.latest)
	}
	v, err := t.db.Get(t.rootKey(version), nil)
	if err != nil {
		return fmt.Errorf("state: committed version %d: read root record: %w", version, err)
	}
	if !bytes.Equal(v, root[:]) {
		return fmt.Errorf("%w: committed version %d: stored root %x, want %x", ErrCorrupt, version, v, root)
	}
	t.hasLatest, t.latest, t.latestRt = true, version, root
	t.cmu.Lock()
	if w := t.staged; w != nil && w.version == version && w.root == root {
		// Only the latest version is updated, so a replaced page is read
		// again only by a lookup at an older version, which finds it in
		// LevelDB. Keeping the cache to the live pages is what lets it
		// hold the whole upper tree (and, up to CachePages, all of it).
		for _, h := range w.replaced {
			delete(t.cache, h)
			delete(t.cacheOld, h)
		}
		// The new pages, with their inner hashes: the next block's
		// update reads most of them again. Content-addressed, so a page
		// is the same whatever version reaches it.
		for i := range w.nodes {
			if n := &w.nodes[i]; n.enc[0] == pageTag {
				t.cachePutLocked(n.h, cached{enc: n.enc, inner: n.inner})
			}
		}
	}
	t.staged = nil
	t.cmu.Unlock()
	return nil
}

// cached is a page in the page cache: its record and, once an update has
// needed them, the hashes of its internal binary nodes (page.inner), so that
// rewriting the page rehashes only the paths above its changed slots.
type cached struct {
	enc   []byte
	inner []Hash
}

// cacheGet looks h up in the cache, promoting it from the old generation.
func (t *Tree) cacheGet(h Hash) (cached, bool) {
	t.cmu.RLock()
	c, ok := t.cache[h]
	t.cmu.RUnlock()
	if ok {
		return c, true
	}
	t.cmu.Lock()
	defer t.cmu.Unlock()
	if c, ok = t.cache[h]; !ok {
		if c, ok = t.cacheOld[h]; ok {
			t.cachePutLocked(h, c)
		}
	}
	return c, ok
}

// readNode returns the record of node h, from the cache or LevelDB.
func (t *Tree) readNode(h Hash) (cached, error) {
	if c, ok := t.cacheGet(h); ok {
		return c, nil
	}
	b, err := t.db.Get(t.nodeKey(h), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return cached{}, fmt.Errorf("%w: missing node %x", ErrCorrupt, h)
	}
	if err != nil {
		return cached{}, fmt.Errorf("state: read node %x: %w", h, err)
	}
	c := cached{enc: b}
	if len(b) > 0 && b[0] == pageTag {
		// Only pages: leaves are read once per lookup, pages by
		// every lookup and update below them.
		t.cachePut(h, c)
	}
	return c, nil
}

// loadNode reads and decodes the node with hash h. The node is checked
// against h only by CheckIntegrity; reads trust LevelDB's block checksums.
func (t *Tree) loadNode(h Hash) (node, error) {
	c, err := t.readNode(h)
	if err != nil {
		return node{}, err
	}
	n, err := decodeNode(c.enc)
	if err != nil {
		return node{}, fmt.Errorf("%w: node %x: %v", ErrCorrupt, h, err)
	}
	return n, nil
}

// loadPageNodes returns the binary nodes (page.binaryNodes) of the page
// with hash h, for an update. The hashes of the internal ones come from the
// cache when an earlier update left them there; otherwise they are computed
// once and cached with the page.
func (t *Tree) loadPageNodes(h Hash) ([32]ref, error) {
	c, err := t.readNode(h)
	if err != nil {
		return [32]ref{}, err
	}
	n, err := decodeNode(c.enc)
	if err != nil {
		return [32]ref{}, fmt.Errorf("%w: node %x: %v", ErrCorrupt, h, err)
	}
	if n.leaf {
		return [32]ref{}, fmt.Errorf("%w: node %x is a leaf, its parent names a page", ErrCorrupt, h)
	}
	if bn, ok := n.page.withInner(c.inner); ok {
		return bn, nil
	}
	bn := n.page.binaryNodes()
	if bn[1].h != h || bn[1].k != kindInternal {
		// The record does not hash to its name: leave it to
		// CheckIntegrity to report, and do not cache hashes for it.
		return bn, nil
	}
	t.cachePut(h, cached{enc: c.enc, inner: innerHashes(&bn)})
	return bn, nil
}

func (t *Tree) cachePut(h Hash, c cached) {
	t.cmu.Lock()
	t.cachePutLocked(h, c)
	t.cmu.Unlock()
}

func (t *Tree) cachePutLocked(h Hash, c cached) {
	if len(t.cache) >= t.cacheSize {
		t.cacheOld = t.cache
		t.cache = make(map[Hash]cached, t.cacheSize)
	}
	t.cache[h] = c
}

// Get returns the value of key at version, ErrNotFound if the key is absent
// there or the version does not exist. The returned slice is the caller's.
func (t *Tree) Get(version uint64, key []byte) ([]byte, error) {
	v, _, err := t.lookup(version, key, false)
	return v, err
}

// GetWithProof returns the value of key at version and a proof against
// Root(version): an inclusion proof for a present key, a non-inclusion
// proof (with a nil value and a nil error) for an absent one.
func (t *Tree) GetWithProof(version uint64, key []byte) ([]byte, *Proof, error) {
	v, p, err := t.lookup(version, key, true)
	if errors.Is(err, ErrNotFound) && p != nil {
		return nil, p, nil
	}
	return v, p, err
}

// rootRef loads enough of the node named by root to know its kind.
func (t *Tree) rootRef(root Hash) (ref, error) {
	if root == EmptyRoot {
		return emptyRef, nil
	}
	n, err := t.loadNode(root)
	if err != nil {
		return ref{}, err
	}
	if n.leaf {
		return ref{h: root, k: kindLeaf, kh: n.keyHash}, nil
	}
	return ref{h: root, k: kindInternal}, nil
}

func (t *Tree) lookup(version uint64, key []byte, prove bool) ([]byte, *Proof, error) {
	root, err := t.Root(version)
	if err != nil {
		return nil, nil, err
	}
	kh := KeyHash(key)
	var p *Proof
	if prove {
		p = &Proof{Siblings: make([]Hash, 0, 24)}
	}
	notFound := func() ([]byte, *Proof, error) {
		return nil, p, fmt.Errorf("state: key %x at version %d: %w", key, version, ErrNotFound)
	}
	// atLeaf ends the walk at leaf r.
	atLeaf := func(r ref) ([]byte, *Proof, error) {
		if r.kh != kh && !prove {
			return notFound()
		}
		n, err := t.loadNode(r.h)
		if err != nil {
			return nil, nil, fmt.Errorf("state: get %x at version %d: %w", key, version, err)
		}
		if !n.leaf || n.keyHash != r.kh {
			return nil, nil, fmt.Errorf("%w: node %x is not the leaf its parent names", ErrCorrupt, r.h)
		}
		if n.keyHash != kh {
			p.Leaf = &ProofLeaf{KeyHash: n.keyHash, ValueHash: ValueHash(n.value)}
			return notFound()
		}
		v := make([]byte, len(n.value))
		copy(v, n.value)
		return v, p, nil
	}
	cur, err := t.rootRef(root)
	if err != nil {
		return nil, nil, fmt.Errorf("state: get %x at version %d: %w", key, version, err)
	}
	for d := 0; ; d++ {
		switch cur.k {
		case kindEmpty:
			return notFound()
		case kindLeaf:
			return atLeaf(cur)
		}
		if d >= MaxProofDepth/4 {
			return nil, nil, fmt.Errorf("%w: path of key %x deeper than %d bits", ErrCorrupt, key, MaxProofDepth)
		}
		n, err := t.loadNode(cur.h)
		if err != nil {
			return nil, nil, fmt.Errorf("state: get %x at version %d: %w", key, version, err)
		}
		if n.leaf {
			return nil, nil, fmt.Errorf("%w: node %x is a leaf, its parent names a page", ErrCorrupt, cur.h)
		}
		if !prove {
			cur = n.page[nibble(&kh, d)]
			continue
		}
		bn := n.page.binaryNodes()
		i := 1
		for j := 0; j < 4; j++ {
			if bn[i].k != kindInternal {
				break // a lone leaf or nothing below: the walk ends there
			}
			b := int(bit(&kh, 4*d+j))
			p.Siblings = append(p.Siblings, bn[2*i+1-b].h)
			i = 2*i + b
		}
		cur = bn[i]
		if i < 16 {
			// The walk ended inside the page.
			if cur.k == kindEmpty {
				return notFound()
			}
			return atLeaf(cur)
		}
	}
}

// CheckIntegrity walks the whole tree of version, reading every record,
// recomputing every hash from the leaves up and checking that each leaf sits
// on its own path and that every page holds at least two keys. It returns
// the number of keys. It reads every record, so it is meant for tests,
// audits and repair tools, not for every start.
func (t *Tree) CheckIntegrity(version uint64) (int, error) {
	root, err := t.Root(version)
	if err != nil {
		return 0, err
	}
	if root == EmptyRoot {
		return 0, nil
	}
	r, err := t.rootRef(root)
	if err != nil {
		return 0, fmt.Errorf("check version %d: %w", version, err)
	}
	var path Hash
	n, err := t.check(r, 0, &path)
	if err != nil {
		return 0, fmt.Errorf("check version %d: %w", version, err)
	}
	return n, nil
}

// check verifies the subtree r whose path starts with the first 4d bits of
// path and returns the number of keys in it.
func (t *Tree) check(r ref, d int, path *Hash) (int, error) {
	n, err := t.loadNode(r.h)
	if err != nil {
		return 0, err
	}
	if r.k == kindLeaf {
		if !n.leaf || n.keyHash != r.kh {
			return 0, fmt.Errorf("%w: node %x is not the leaf its parent names", ErrCorrupt, r.h)
		}
		if got := n.leafHash(); got != r.h {
			return 0, fmt.Errorf("%w: leaf %x hashes to %x", ErrCorrupt, r.h, got)
		}
		if commonPrefixBits(&n.keyHash, path) < 4*d {
			return 0, fmt.Errorf("%w: leaf %x off its path at nibble depth %d", ErrCorrupt, r.h, d)
		}
		return 1, nil
	}
	if n.leaf {
		return 0, fmt.Errorf("%w: node %x is a leaf, its parent names a page", ErrCorrupt, r.h)
	}
	if d >= MaxProofDepth/4 {
		return 0, fmt.Errorf("%w: tree deeper than %d bits", ErrCorrupt, MaxProofDepth)
	}
	if got := n.page.root(); got.k != kindInternal || got.h != r.h {
		return 0, fmt.Errorf("%w: page %x hashes to %x", ErrCorrupt, r.h, got.h)
	}
	total := 0
	for sl, c := range n.page {
		if c.k == kindEmpty {
			continue
		}
		setNibble(path, d, sl)
		cnt, err := t.check(c, d+1, path)
		setNibble(path, d, 0)
		if err != nil {
			return 0, err
		}
		total += cnt
	}
	if total < 2 {
		return 0, fmt.Errorf("%w: page %x holds %d keys", ErrCorrupt, r.h, total)
	}
	return total, nil
}

func setNibble(p *Hash, d, v int) {
	if d&1 == 0 {
		p[d>>1] = p[d>>1]&0x0f | byte(v)<<4
	} else {
		p[d>>1] = p[d>>1]&0xf0 | byte(v)
	}
}

// CheckRoot is the cheap check made at every start: the root record of
// version exists, its record and the records of its children are present
// and hash to what their parent names. CheckIntegrity is the full walk.
func (t *Tree) CheckRoot(version uint64) error {
	root, err := t.Root(version)
	if err != nil {
		return err
	}
	if root == EmptyRoot {
		return nil
	}
	n, err := t.loadNode(root)
	if err != nil {
		return fmt.Errorf("check root of version %d: %w", version, err)
	}
	if n.leaf {
		if got := n.leafHash(); got != root {
			return fmt.Errorf("%w: root leaf of version %d hashes to %x, want %x", ErrCorrupt, version, got, root)
		}
		return nil
	}
	if got := n.page.root(); got.k != kindInternal || got.h != root {
		return fmt.Errorf("%w: root page of version %d hashes to %x, want %x", ErrCorrupt, version, got.h, root)
	}
	for _, c := range n.page {
		if c.k == kindEmpty {
			continue
		}
		cn, err := t.loadNode(c.h)
		if err != nil {
			return fmt.Errorf("check root of version %d: %w", version, err)
		}
		var got Hash
		if cn.leaf {
			got = cn.leafHash()
		} else {
			got = cn.page.root().h
		}
		if got != c.h || cn.leaf != (c.k == kindLeaf) {
			return fmt.Errorf("%w: child %x of the root of version %d does not match", ErrCorrupt, c.h, version)
		}
	}
	return nil
}
