package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/govnode/govnode/ledger/state/proof"
)

// ErrNotFound is returned for an absent key or an unknown version. The
// block store returns the same sentinel.
var ErrNotFound = errors.New("not found")

// ErrCorrupt wraps every inconsistency found in stored tree data: a missing
// node, a node that does not match its hash, a malformed record.
var ErrCorrupt = errors.New("state: corrupt tree data")

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
	// Legacy is the database holding the tree's content-addressed records
	// (keys.go), when they are not in the tree's own database: a ledger
	// written before version keys whose tree has moved on into a database
	// of its own. Records are only read from it. nil: the tree's database.
	Legacy *leveldb.DB
	// Hasher is the tree's hash, the chain's crypto suite's
	// (proof.Hasher(suite)); the zero value is SHA-256 (proof.SHA256), the
	// hash of "ed25519-sha256" chains. A tree is opened with the hash it was
	// written with: another gives other roots, and CheckIntegrity fails.
	Hasher Hasher
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
// Nothing is ever deleted: a version's records are shared by the later
// versions that did not change them (a page names each child by the
// version that wrote it), so pruning needs the versions at which each
// record was replaced (Jellyfish's stale-node index) and a policy for
// what to keep; records history reads old versions, so all versions are
// kept and Prune is left out on purpose.
type Tree struct {
	db     *leveldb.DB // version-keyed records
	h      Hasher      // the chain suite's hash (Options.Hasher)
	legacy *leveldb.DB // content-addressed records
	prefix []byte
	// contentAddressed makes Stage write the content-addressed layout of
	// ledgers written before version keys, so that tests and the layout
	// benchmark can make such a ledger with the code that reads it. Only
	// export_test.go sets it.
	contentAddressed bool

	mu        sync.RWMutex
	hasLatest bool
	latest    uint64
	latestRt  ref

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
	if o.Hasher != proof.SHA256 && o.Hasher != proof.SM3 {
		return nil, fmt.Errorf("state: unknown hasher %d", o.Hasher)
	}
	t := &Tree{
		h:         o.Hasher,
		db:        db,
		legacy:    o.Legacy,
		prefix:    append([]byte(nil), prefix...),
		cache:     make(map[Hash]cached),
		cacheSize: o.CachePages,
	}
	if t.legacy == nil {
		t.legacy = db
	}
	v, r, ok, err := t.lastVersion()
	if err != nil {
		return nil, err
	}
	t.hasLatest, t.latest, t.latestRt = ok, v, r
	return t, nil
}

// lastVersion finds the latest version: the last version-keyed record
// (the root record, last of its version's keys), or the last
// content-addressed root record.
func (t *Tree) lastVersion() (version uint64, root ref, ok bool, err error) {
	it := t.db.NewIterator(util.BytesPrefix(t.key(tagVersion, nil)), nil)
	if it.Last() {
		k := it.Key()
		if len(k) != len(t.prefix)+10 || k[len(k)-1] != recRoot {
			it.Release()
			return 0, ref{}, false, fmt.Errorf("%w: last record %x is not a root record", ErrCorrupt, k)
		}
		r, good := decodeRoot(it.Value())
		if !good {
			it.Release()
			return 0, ref{}, false, fmt.Errorf("%w: root record %x of %d bytes", ErrCorrupt, k, len(it.Value()))
		}
		version, root, ok = binary.BigEndian.Uint64(k[len(t.prefix)+1:]), r, true
	}
	it.Release()
	if err := it.Error(); err != nil {
		return 0, ref{}, false, fmt.Errorf("state: read latest version: %w", err)
	}
	it = t.legacy.NewIterator(util.BytesPrefix(t.key(tagLegacyRoot, nil)), nil)
	defer it.Release()
	if it.Last() {
		v, r, err := t.decodeLegacyRoot(it.Key(), it.Value())
		if err != nil {
			return 0, ref{}, false, err
		}
		if !ok || v > version {
			version, root, ok = v, r, true
		}
	}
	if err := it.Error(); err != nil {
		return 0, ref{}, false, fmt.Errorf("state: read latest version: %w", err)
	}
	return version, root, ok, nil
}

// decodeLegacyRoot decodes a content-addressed root record: the root's
// hash only, so its kind is known once its record is read (resolve).
func (t *Tree) decodeLegacyRoot(k, v []byte) (uint64, ref, error) {
	if len(k) != len(t.prefix)+9 || len(v) != 32 {
		return 0, ref{}, fmt.Errorf("%w: root record %x of %d bytes", ErrCorrupt, k, len(v))
	}
	r := ref{k: kindUnresolved, v: legacyVersion}
	copy(r.h[:], v)
	if r.h == EmptyRoot {
		r = emptyRef
	}
	return binary.BigEndian.Uint64(k[len(t.prefix)+1:]), r, nil
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
	r, err := t.rootAt(version)
	return r.h, err
}

// rootAt is the ref of the root node of version (kindUnresolved for a
// content-addressed root).
func (t *Tree) rootAt(version uint64) (ref, error) {
	t.mu.RLock()
	has, latest, lr := t.hasLatest, t.latest, t.latestRt
	t.mu.RUnlock()
	switch {
	case !has || version > latest:
		return ref{}, fmt.Errorf("state: version %d: %w", version, ErrNotFound)
	case version == latest:
		return lr, nil
	}
	v, err := t.db.Get(t.rootKey(version), nil)
	if err == nil {
		r, ok := decodeRoot(v)
		if !ok {
			return ref{}, fmt.Errorf("%w: root record of version %d of %d bytes", ErrCorrupt, version, len(v))
		}
		return r, nil
	}
	if !errors.Is(err, leveldb.ErrNotFound) {
		return ref{}, fmt.Errorf("state: read root of version %d: %w", version, err)
	}
	k := t.legacyRootKey(version)
	v, err = t.legacy.Get(k, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return ref{}, fmt.Errorf("state: version %d: %w", version, ErrNotFound)
	}
	if err != nil {
		return ref{}, fmt.Errorf("state: read root of version %d: %w", version, err)
	}
	_, r, err := t.decodeLegacyRoot(k, v)
	return r, err
}

// resolve reads the record of a content-addressed root to learn its kind.
func (t *Tree) resolve(r ref) (ref, error) {
	if r.k != kindUnresolved {
		return r, nil
	}
	n, err := t.loadNode(r, nil, 0)
	if err != nil {
		return ref{}, err
	}
	if n.leaf {
		return ref{h: r.h, k: kindLeaf, kh: n.keyHash, v: r.v}, nil
	}
	return ref{h: r.h, k: kindInternal, v: r.v}, nil
}

// Rewind forgets the versions above version in memory: Root, Get and
// Stage behave as if version were the latest. The block store, whose tree
// has a database of its own, calls it at open when a crash left the tree
// one version ahead of the blocks (its records are written first); a
// Stage of the next version then writes the same keys again.
func (t *Tree) Rewind(version uint64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.hasLatest || version > t.latest {
		return fmt.Errorf("state: rewind to version %d: latest is %d (present %v)", version, t.latest, t.hasLatest)
	}
	if version == t.latest {
		return nil
	}
	t.latest = version
	// Read the record while the lock keeps readers out (rootAt reads
	// below latest without it).
	v, err := t.db.Get(t.rootKey(version), nil)
	switch {
	case err == nil:
		r, ok := decodeRoot(v)
		if !ok {
			return fmt.Errorf("%w: root record of version %d of %d bytes", ErrCorrupt, version, len(v))
		}
		t.latestRt = r
	case errors.Is(err, leveldb.ErrNotFound):
		k := t.legacyRootKey(version)
		if v, err = t.legacy.Get(k, nil); err != nil {
			return fmt.Errorf("%w: rewind to version %d: read root: %v", ErrCorrupt, version, err)
		}
		if _, t.latestRt, err = t.decodeLegacyRoot(k, v); err != nil {
			return err
		}
	default:
		return fmt.Errorf("state: rewind to version %d: %w", version, err)
	}
	t.cmu.Lock()
	t.staged = nil
	// The cache may hold pages of the versions forgotten: start afresh.
	t.cache, t.cacheOld = make(map[Hash]cached), nil
	t.cmu.Unlock()
	return nil
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
	var rt ref
	if t.contentAddressed {
		v, err := t.db.Get(t.legacyRootKey(version), nil)
		if err != nil {
			return fmt.Errorf("state: committed version %d: read root record: %w", version, err)
		}
		if _, rt, err = t.decodeLegacyRoot(t.legacyRootKey(version), v); err != nil {
			return err
		}
	} else {
		v, err := t.db.Get(t.rootKey(version), nil)
		if err != nil {
			return fmt.Errorf("state: committed version %d: read root record: %w", version, err)
		}
		var ok bool
		if rt, ok = decodeRoot(v); !ok {
			return fmt.Errorf("%w: committed version %d: root record of %d bytes", ErrCorrupt, version, len(v))
		}
	}
	if rt.h != root {
		return fmt.Errorf("%w: committed version %d: stored root %x, want %x", ErrCorrupt, version, rt.h, root)
	}
	t.hasLatest, t.latest, t.latestRt = true, version, rt
	t.cmu.Lock()
	if w := t.staged; w != nil && w.version == version && w.root.h == root {
		t.latestRt = w.root
		// Only the latest version is updated, so a replaced page is read
		// again only by a lookup at an older version, which finds it in
		// LevelDB. Keeping the cache to the live pages is what lets it
		// hold the whole upper tree (and, up to CachePages, all of it).
		for _, h := range w.replaced {
			delete(t.cache, h)
			delete(t.cacheOld, h)
		}
		// The new pages, with their inner hashes: the next block's
		// update reads most of them again.
		for i := range w.nodes {
			if n := &w.nodes[i]; !n.leaf {
				t.cachePutLocked(n.h, cached{enc: n.enc, inner: n.inner, v: w.recVersion})
			}
		}
	}
	t.staged = nil
	t.cmu.Unlock()
	return nil
}

// cached is a page in the page cache: its record, the version that wrote
// it (a page with the same hash may be written again by a later version,
// naming other records of the same children), and, once an update has
// needed them, the hashes of its internal binary nodes (page.inner), so
// that rewriting the page rehashes only the paths above its changed slots.
type cached struct {
	enc   []byte
	inner []Hash
	v     uint64
}

// cacheGet looks up the page record r names, promoting it from the old
// generation.
func (t *Tree) cacheGet(r ref) (cached, bool) {
	t.cmu.RLock()
	c, ok := t.cache[r.h]
	t.cmu.RUnlock()
	if ok {
		return c, c.v == r.v
	}
	t.cmu.Lock()
	defer t.cmu.Unlock()
	if c, ok = t.cache[r.h]; !ok {
		if c, ok = t.cacheOld[r.h]; ok {
			t.cachePutLocked(r.h, c)
		}
	}
	return c, ok && c.v == r.v
}

// readNode returns the record r names, from the cache or LevelDB. path
// holds the first d nibbles of the path to r (the page's key has them);
// a leaf's key needs only its key hash, and a content-addressed record
// only its hash.
func (t *Tree) readNode(r ref, path *Hash, d int) (cached, error) {
	if r.k != kindLeaf {
		if c, ok := t.cacheGet(r); ok {
			return c, nil
		}
	}
	db, k := t.db, []byte(nil)
	switch {
	case r.v == legacyVersion:
		db, k = t.legacy, t.legacyNodeKey(r.h)
	case r.k == kindLeaf:
		k = appendLeafKey(nil, t.prefix, r.v, &r.kh)
	default:
		k = appendPageKey(nil, t.prefix, r.v, path, d)
	}
	b, err := db.Get(k, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return cached{}, fmt.Errorf("%w: missing node %x (record %x)", ErrCorrupt, r.h, k)
	}
	if err != nil {
		return cached{}, fmt.Errorf("state: read node %x: %w", r.h, err)
	}
	c := cached{enc: b, v: r.v}
	if len(b) > 0 && b[0] == t.pageTagFor(r) {
		// Only pages: leaves are read once per lookup, pages by
		// every lookup and update below them.
		t.cachePut(r.h, c)
	}
	return c, nil
}

// pageTagFor is the record type of a page that r names: a
// content-addressed page is a 0x02 page, whose children are
// content-addressed too.
func (t *Tree) pageTagFor(r ref) byte {
	if r.v == legacyVersion {
		return legacyPageTag
	}
	return pageTag
}

// loadNode reads and decodes the node r names (see readNode for path and
// d). The node is checked against r's hash only by CheckIntegrity and
// CheckRoot; reads trust LevelDB's block checksums.
func (t *Tree) loadNode(r ref, path *Hash, d int) (node, error) {
	c, err := t.readNode(r, path, d)
	if err != nil {
		return node{}, err
	}
	n, err := decodeNode(c.enc)
	if err != nil {
		return node{}, fmt.Errorf("%w: node %x: %v", ErrCorrupt, r.h, err)
	}
	if !n.leaf && c.enc[0] != t.pageTagFor(r) {
		return node{}, fmt.Errorf("%w: node %x: page of type %#x where its parent names type %#x", ErrCorrupt, r.h, c.enc[0], t.pageTagFor(r))
	}
	return n, nil
}

// loadPageNodes returns the binary nodes (page.binaryNodes) of the page r
// names, for an update. The hashes of the internal ones come from the
// cache when an earlier update left them there; otherwise they are
// computed once and cached with the page.
func (t *Tree) loadPageNodes(r ref, path *Hash, d int) ([32]ref, error) {
	c, err := t.readNode(r, path, d)
	if err != nil {
		return [32]ref{}, err
	}
	n, err := decodeNode(c.enc)
	if err != nil {
		return [32]ref{}, fmt.Errorf("%w: node %x: %v", ErrCorrupt, r.h, err)
	}
	if n.leaf || c.enc[0] != t.pageTagFor(r) {
		return [32]ref{}, fmt.Errorf("%w: node %x is not the page its parent names", ErrCorrupt, r.h)
	}
	if bn, ok := n.page.withInner(c.inner); ok {
		return bn, nil
	}
	bn := n.page.binaryNodes(t.h)
	if bn[1].h != r.h || bn[1].k != kindInternal {
		// The record does not hash to its name: leave it to
		// CheckIntegrity to report, and do not cache hashes for it.
		return bn, nil
	}
	t.cachePut(r.h, cached{enc: c.enc, inner: innerHashes(&bn), v: r.v})
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

func (t *Tree) lookup(version uint64, key []byte, prove bool) ([]byte, *Proof, error) {
	root, err := t.rootAt(version)
	if err != nil {
		return nil, nil, err
	}
	kh := t.h.KeyHash(key)
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
		n, err := t.loadNode(r, nil, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("state: get %x at version %d: %w", key, version, err)
		}
		if !n.leaf || n.keyHash != r.kh {
			return nil, nil, fmt.Errorf("%w: node %x is not the leaf its parent names", ErrCorrupt, r.h)
		}
		if n.keyHash != kh {
			p.Leaf = &ProofLeaf{KeyHash: n.keyHash, ValueHash: t.h.ValueHash(n.value)}
			return notFound()
		}
		v := make([]byte, len(n.value))
		copy(v, n.value)
		return v, p, nil
	}
	cur, err := t.resolve(root)
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
		n, err := t.loadNode(cur, &kh, d)
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
		bn := n.page.binaryNodes(t.h)
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
// on its own path, that every page holds at least two keys and that no
// record is named by a version older than the one that wrote it. It
// returns the number of keys. It reads every record, so it is meant for
// tests, audits and repair tools, not for every start.
func (t *Tree) CheckIntegrity(version uint64) (int, error) {
	root, err := t.rootAt(version)
	if err != nil {
		return 0, err
	}
	if root.k == kindEmpty {
		return 0, nil
	}
	r, err := t.resolve(root)
	if err != nil {
		return 0, fmt.Errorf("check version %d: %w", version, err)
	}
	if r.v != legacyVersion && r.v > version {
		return 0, fmt.Errorf("check version %d: %w: root written by version %d", version, ErrCorrupt, r.v)
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
	n, err := t.loadNode(r, path, d)
	if err != nil {
		return 0, err
	}
	if r.k == kindLeaf {
		if !n.leaf || n.keyHash != r.kh {
			return 0, fmt.Errorf("%w: node %x is not the leaf its parent names", ErrCorrupt, r.h)
		}
		if got := n.leafHash(t.h); got != r.h {
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
	if got := n.page.root(t.h); got.k != kindInternal || got.h != r.h {
		return 0, fmt.Errorf("%w: page %x hashes to %x", ErrCorrupt, r.h, got.h)
	}
	total := 0
	for sl, c := range n.page {
		if c.k == kindEmpty {
			continue
		}
		if c.v != legacyVersion && c.v > r.v {
			// A content-addressed page names only content-addressed
			// children (decodeNode), and a version-keyed one only
			// records written no later than itself.
			return 0, fmt.Errorf("%w: page %x of version %d names a child of version %d", ErrCorrupt, r.h, r.v, c.v)
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
	root, err := t.rootAt(version)
	if err != nil {
		return err
	}
	if root.k == kindEmpty {
		return nil
	}
	n, err := t.loadNode(root, nil, 0)
	if err != nil {
		return fmt.Errorf("check root of version %d: %w", version, err)
	}
	if n.leaf {
		if got := n.leafHash(t.h); got != root.h || (root.k == kindLeaf && n.keyHash != root.kh) {
			return fmt.Errorf("%w: root leaf of version %d hashes to %x, want %x", ErrCorrupt, version, got, root.h)
		}
		return nil
	}
	if root.k == kindLeaf {
		return fmt.Errorf("%w: root of version %d is a page, its root record names a leaf", ErrCorrupt, version)
	}
	if got := n.page.root(t.h); got.k != kindInternal || got.h != root.h {
		return fmt.Errorf("%w: root page of version %d hashes to %x, want %x", ErrCorrupt, version, got.h, root.h)
	}
	var path Hash
	for sl, c := range n.page {
		if c.k == kindEmpty {
			continue
		}
		setNibble(&path, 0, sl)
		cn, err := t.loadNode(c, &path, 1)
		if err != nil {
			return fmt.Errorf("check root of version %d: %w", version, err)
		}
		var got Hash
		if cn.leaf {
			got = cn.leafHash(t.h)
		} else {
			got = cn.page.root(t.h).h
		}
		if got != c.h || cn.leaf != (c.k == kindLeaf) {
			return fmt.Errorf("%w: child %x of the root of version %d does not match", ErrCorrupt, c.h, version)
		}
	}
	return nil
}

// DiscardFrom adds to b the deletion of every record of the versions from
// version on, and reports how many. Only version-keyed records can be
// discarded (a content-addressed record may be shared with earlier
// versions): it refuses if a content-addressed root record of such a
// version exists. The block store, whose tree has a database of its own,
// calls it at open to drop a version that a crash left written in the
// tree but not in the blocks; after writing b, reopen the tree.
func (t *Tree) DiscardFrom(version uint64, b *leveldb.Batch) (int, error) {
	if _, err := t.legacy.Get(t.legacyRootKey(version), nil); err == nil {
		return 0, fmt.Errorf("state: discard versions from %d: content-addressed version %d", version, version)
	}
	r := util.BytesPrefix(t.key(tagVersion, nil))
	r.Start = versionKey(nil, t.prefix, version)
	it := t.db.NewIterator(r, nil)
	defer it.Release()
	n := 0
	for it.Next() {
		b.Delete(it.Key())
		n++
	}
	if err := it.Error(); err != nil {
		return 0, fmt.Errorf("state: discard versions from %d: %w", version, err)
	}
	return n, nil
}
