package state

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/syndtr/goleveldb/leveldb"
)

// Change sets Key to Value, or deletes Key when Delete is set. Value must
// not be nil unless Delete is set (an empty, non-nil value is allowed).
type Change struct {
	Key    []byte
	Value  []byte
	Delete bool
}

// Writes are the records that commit one staged version: new nodes and the
// root record. They are computed by Stage and written by the caller.
type Writes struct {
	version uint64
	root    ref
	// prefix is the tree's key prefix; keys are built by ApplyTo in a
	// scratch buffer (the batch copies them) rather than allocated for
	// every record.
	prefix []byte
	// recVersion is the version the new records are keyed by, or
	// legacyVersion when they are content-addressed (Tree.contentAddressed).
	recVersion uint64
	nodes      []nodeRec
	// replaced are the pages of the base version that this version
	// rewrites: Committed drops them from the page cache, where they would
	// otherwise crowd out the pages of the latest version.
	replaced []Hash
}

// Version is the version these writes commit.
func (w *Writes) Version() uint64 { return w.version }

// Root is the root hash of the staged version.
func (w *Writes) Root() Hash { return w.root.h }

// nodeRec is a node record: the node's hash and its encoding, where it
// is (a leaf's key hash, or a page's path and nibble depth), and for a
// page the hashes of its internal binary nodes (innerHashes), which go
// into the page cache with it when the version is committed.
type nodeRec struct {
	h     Hash
	enc   []byte
	inner []Hash
	leaf  bool
	path  Hash // leaf: its key hash; page: pathTo(path, d)
	d     uint8
}

// Len is the number of records ApplyTo adds.
func (w *Writes) Len() int { return len(w.nodes) + 1 }

// Size is about the number of bytes ApplyTo adds to a batch, so the caller
// can size it once (a growing leveldb.Batch copies itself many times).
func (w *Writes) Size() int {
	n := len(w.prefix) + 10 + 73 + 11 // the root record
	for i := range w.nodes {
		n += len(w.prefix) + 43 + len(w.nodes[i].enc) + 11
	}
	return n
}

// compare orders records by key (keys.go): by hash when content-addressed;
// else leaves ('l') before pages ('p'), leaves by key hash, pages by depth
// then path.
func (w *Writes) compare(x, y *nodeRec) int {
	if w.recVersion == legacyVersion {
		// The first 8 bytes of random hashes nearly always decide.
		if c := cmp.Compare(binary.BigEndian.Uint64(x.h[:8]), binary.BigEndian.Uint64(y.h[:8])); c != 0 {
			return c
		}
		return bytes.Compare(x.h[8:], y.h[8:])
	}
	switch {
	case x.leaf != y.leaf:
		if x.leaf {
			return -1
		}
		return 1
	case !x.leaf && x.d != y.d:
		return cmp.Compare(x.d, y.d)
	}
	return bytes.Compare(x.path[:], y.path[:])
}

// ApplyTo adds the node records and the root record to b. b keeps
// references to the records; they are not changed afterwards.
//
// The records go in key order: LevelDB's memtable is a skip list, and
// inserting thousands of keys in order walks it with far fewer cache
// misses. The root record sorts last.
func (w *Writes) ApplyTo(b *leveldb.Batch) {
	slices.SortFunc(w.nodes, func(x, y nodeRec) int { return w.compare(&x, &y) })
	k := make([]byte, 0, len(w.prefix)+43)
	if w.recVersion == legacyVersion {
		k = append(k, w.prefix...)
		k = append(k, tagLegacyNode)
		for i := range w.nodes {
			b.Put(append(k, w.nodes[i].h[:]...), w.nodes[i].enc)
		}
		k = append(k[:len(w.prefix)], tagLegacyRoot)
		k = binary.BigEndian.AppendUint64(k, w.version)
		b.Put(k, w.root.h[:])
		return
	}
	for i := range w.nodes {
		n := &w.nodes[i]
		if n.leaf {
			k = appendLeafKey(k[:0], w.prefix, w.version, &n.path)
		} else {
			k = appendPageKey(k[:0], w.prefix, w.version, &n.path, int(n.d))
		}
		b.Put(k, n.enc)
	}
	k = versionKey(k[:0], w.prefix, w.version)
	b.Put(append(k, recRoot), encodeRoot(w.root))
}

type op struct {
	kh    Hash
	value []byte
	del   bool
}

type stager struct {
	t *Tree
	w *Writes
}

// ref is the ref of a node this stage writes.
func (s *stager) ref(h Hash, k kind, kh Hash) ref {
	return ref{h: h, k: k, kh: kh, v: s.w.recVersion}
}

// Stage computes version from the latest committed version and changes,
// without writing anything: it returns the new root and the records to
// write. version must be LatestVersion()+1, or any version while the tree
// is empty (the genesis). The result does not depend on the order of
// changes; two changes to one key are refused, as is a nil Value without
// Delete. Deleting an absent key is a no-op.
func (t *Tree) Stage(version uint64, changes []Change) (Hash, *Writes, error) {
	t.mu.RLock()
	has, latest, base := t.hasLatest, t.latest, t.latestRt
	if !has {
		base = emptyRef
	}
	t.mu.RUnlock()
	if has && version != latest+1 {
		return Hash{}, nil, fmt.Errorf("state: stage version %d: latest is %d", version, latest)
	}
	ops := make([]op, len(changes))
	for i, c := range changes {
		if !c.Delete && c.Value == nil {
			return Hash{}, nil, fmt.Errorf("state: stage version %d: nil value for key %x (use Delete)", version, c.Key)
		}
		ops[i] = op{kh: t.h.KeyHash(c.Key), value: c.Value, del: c.Delete}
	}
	slices.SortFunc(ops, func(a, b op) int { return bytes.Compare(a.kh[:], b.kh[:]) })
	for i := 1; i < len(ops); i++ {
		if ops[i].kh == ops[i-1].kh {
			return Hash{}, nil, fmt.Errorf("state: stage version %d: two changes to one key (key hash %x)", version, ops[i].kh)
		}
	}
	s := &stager{t: t, w: &Writes{version: version, prefix: t.prefix, recVersion: version}}
	if t.contentAddressed {
		s.w.recVersion = legacyVersion
	}
	s.w.nodes = make([]nodeRec, 0, 3*len(ops)+2)
	root, err := t.resolve(base)
	if err != nil {
		return Hash{}, nil, fmt.Errorf("state: stage version %d: %w", version, err)
	}
	nr, err := s.update(root, 0, ops)
	if err != nil {
		return Hash{}, nil, fmt.Errorf("state: stage version %d: %w", version, err)
	}
	s.w.root = nr
	t.cmu.Lock()
	t.staged = s.w
	t.cmu.Unlock()
	return nr.h, s.w, nil
}

// putLeaf adds a leaf record.
func (s *stager) putLeaf(h, kh Hash, enc []byte) {
	s.w.nodes = append(s.w.nodes, nodeRec{h: h, enc: enc, leaf: true, path: kh})
}

// update applies ops (sorted, all under the subtree's path) to the
// subtree r at nibble depth d.
func (s *stager) update(r ref, d int, ops []op) (ref, error) {
	if len(ops) == 0 {
		return r, nil
	}
	switch r.k {
	case kindEmpty:
		return s.build(d, nil, ops)
	case kindLeaf:
		return s.build(d, &r, ops)
	}
	if d >= MaxProofDepth/4 {
		return ref{}, fmt.Errorf("%w: tree deeper than %d bits", ErrCorrupt, MaxProofDepth)
	}
	bn, err := s.t.loadPageNodes(r, &ops[0].kh, d)
	if err != nil {
		return ref{}, err
	}
	np := page(bn[16:])
	if err := s.slots(d, ops, &np); err != nil {
		return ref{}, err
	}
	if np == page(bn[16:]) {
		return r, nil
	}
	s.w.replaced = append(s.w.replaced, r.h)
	nn := np.rehash(s.t.h, &bn)
	return s.storePage(&np, &nn, d, &ops[0].kh), nil
}

// parallelMin is the number of changes from which the root page's slots
// are staged concurrently: hashing and reading pages dominate a block's
// commit, and the 16 subtrees under the root are independent.
const parallelMin = 256

// slots applies ops (sorted, under the path of a page at nibble depth d) to
// the slots of that page in p: a slot with ops becomes update(slot, d+1,
// its ops). At the root, with many ops, the slots are computed by one
// goroutine per CPU (parallelSlots).
//
// Neither p nor anything else here is shared with goroutines, so a page
// and its binary nodes stay on the stack of update or build.
func (s *stager) slots(d int, ops []op, p *page) error {
	var bounds [17]int
	lo := 0
	for sl := 0; sl < 16; sl++ {
		bounds[sl] = lo
		for lo < len(ops) && nibble(&ops[lo].kh, d) == sl {
			lo++
		}
	}
	bounds[16] = len(ops)
	if lo != len(ops) {
		return fmt.Errorf("state: changes out of order at nibble depth %d", d)
	}
	if workers := min(runtime.GOMAXPROCS(0), 16); d == 0 && len(ops) >= parallelMin && workers >= 2 {
		np, err := s.parallelSlots(d, ops, bounds, *p, workers)
		if err != nil {
			return err
		}
		*p = np
		return nil
	}
	for sl := 0; sl < 16; sl++ {
		if bounds[sl] < bounds[sl+1] {
			nr, err := s.update(p[sl], d+1, ops[bounds[sl]:bounds[sl+1]])
			if err != nil {
				return err
			}
			p[sl] = nr
		}
	}
	return nil
}

// parallelSlots is slots on several goroutines, each slot with its own
// Writes, merged in slot order so the records stay in a deterministic
// order.
func (s *stager) parallelSlots(d int, ops []op, bounds [17]int, p page, workers int) (page, error) {
	var (
		subs [16]*stager
		errs [16]error
		next atomic.Int32
		wg   sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				sl := int(next.Add(1) - 1)
				if sl >= 16 {
					return
				}
				if bounds[sl] == bounds[sl+1] {
					continue
				}
				subs[sl] = &stager{t: s.t, w: &Writes{recVersion: s.w.recVersion}}
				p[sl], errs[sl] = subs[sl].update(p[sl], d+1, ops[bounds[sl]:bounds[sl+1]])
			}
		}()
	}
	wg.Wait()
	for sl := 0; sl < 16; sl++ {
		if errs[sl] != nil {
			return page{}, errs[sl]
		}
		if subs[sl] != nil {
			s.w.nodes = append(s.w.nodes, subs[sl].w.nodes...)
			s.w.replaced = append(s.w.replaced, subs[sl].w.replaced...)
		}
	}
	return p, nil
}

// build makes the subtree at nibble depth d that holds the existing leaf ex
// (if any) with ops applied. ops are sorted by key hash.
func (s *stager) build(d int, ex *ref, ops []op) (ref, error) {
	exLive := ex != nil
	sets := 0
	var lone *op
	for i := range ops {
		if ex != nil && ops[i].kh == ex.kh {
			exLive = false
		}
		if !ops[i].del {
			sets++
			lone = &ops[i]
		}
	}
	switch {
	case sets == 0 && !exLive:
		return emptyRef, nil
	case sets == 0 && exLive:
		return *ex, nil
	case sets == 1 && !exLive:
		h := s.t.h.LeafHash(lone.kh, s.t.h.ValueHash(lone.value))
		if ex != nil && ex.kh == lone.kh && ex.h == h {
			return *ex, nil // set to the value it has: nothing to write
		}
		s.putLeaf(h, lone.kh, encodeLeaf(lone.kh, lone.value))
		return s.ref(h, kindLeaf, lone.kh), nil
	}
	if d >= MaxProofDepth/4 {
		return ref{}, fmt.Errorf("%w: tree deeper than %d bits", ErrCorrupt, MaxProofDepth)
	}
	var p page
	if exLive {
		p[nibble(&ex.kh, d)] = *ex // pushed down one level, unchanged
	}
	// A slot with ops is update(slot, ...), which builds from the leaf
	// pushed down there, or from nothing.
	if err := s.slots(d, ops, &p); err != nil {
		return ref{}, err
	}
	n := p.binaryNodes(s.t.h)
	return s.storePage(&p, &n, d, &ops[0].kh), nil
}

// storePage stores page p at nibble depth d on path (its first d nibbles
// count), whose binary nodes n are computed, and returns it as a subtree,
// unless it holds a single leaf or nothing, which move up instead.
func (s *stager) storePage(p *page, n *[32]ref, d int, path *Hash) ref {
	r := n[1]
	if r.k != kindInternal {
		return r
	}
	// Committed puts the page in the cache: nothing can reach it before,
	// and the stagers running in parallel need not share the cache's lock
	// for it.
	s.w.nodes = append(s.w.nodes, nodeRec{
		h: r.h, enc: p.encode(s.w.recVersion == legacyVersion), inner: innerHashes(n),
		path: pathTo(path, d), d: uint8(d),
	})
	return s.ref(r.h, kindInternal, Hash{})
}
