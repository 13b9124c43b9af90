package state

import (
	"bytes"
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
	root    Hash
	keys    [][]byte
	vals    [][]byte
}

// Version is the version these writes commit.
func (w *Writes) Version() uint64 { return w.version }

// Root is the root hash of the staged version.
func (w *Writes) Root() Hash { return w.root }

// Len is the number of records ApplyTo adds.
func (w *Writes) Len() int { return len(w.keys) + 1 }

// Size is about the number of bytes ApplyTo adds to a batch, so the caller
// can size it once (a growing leveldb.Batch copies itself many times).
func (w *Writes) Size() int {
	n := 0
	for i := range w.keys {
		n += len(w.keys[i]) + len(w.vals[i]) + 11
	}
	return n
}

// ApplyTo adds the node records and the root record to b. b keeps
// references to the records; they are not changed afterwards.
//
// The records go in key order: LevelDB's memtable is a skip list, and
// inserting thousands of random keys in order walks it with far fewer cache
// misses.
func (w *Writes) ApplyTo(b *leveldb.Batch) {
	idx := make([]int, len(w.keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(i, j int) int { return bytes.Compare(w.keys[i], w.keys[j]) })
	for _, i := range idx {
		b.Put(w.keys[i], w.vals[i])
	}
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

// Stage computes version from the latest committed version and changes,
// without writing anything: it returns the new root and the records to
// write. version must be LatestVersion()+1, or any version while the tree
// is empty (the genesis). The result does not depend on the order of
// changes; two changes to one key are refused, as is a nil Value without
// Delete. Deleting an absent key is a no-op.
func (t *Tree) Stage(version uint64, changes []Change) (Hash, *Writes, error) {
	t.mu.RLock()
	has, latest, base := t.hasLatest, t.latest, t.latestRt
	t.mu.RUnlock()
	if has && version != latest+1 {
		return Hash{}, nil, fmt.Errorf("state: stage version %d: latest is %d", version, latest)
	}
	ops := make([]op, len(changes))
	for i, c := range changes {
		if !c.Delete && c.Value == nil {
			return Hash{}, nil, fmt.Errorf("state: stage version %d: nil value for key %x (use Delete)", version, c.Key)
		}
		ops[i] = op{kh: KeyHash(c.Key), value: c.Value, del: c.Delete}
	}
	slices.SortFunc(ops, func(a, b op) int { return bytes.Compare(a.kh[:], b.kh[:]) })
	for i := 1; i < len(ops); i++ {
		if ops[i].kh == ops[i-1].kh {
			return Hash{}, nil, fmt.Errorf("state: stage version %d: two changes to one key (key hash %x)", version, ops[i].kh)
		}
	}
	s := &stager{t: t, w: &Writes{version: version}}
	s.w.keys = make([][]byte, 0, 3*len(ops)+2)
	s.w.vals = make([][]byte, 0, 3*len(ops)+2)
	root, err := t.rootRef(base)
	if err != nil {
		return Hash{}, nil, fmt.Errorf("state: stage version %d: %w", version, err)
	}
	nr, err := s.update(root, 0, ops)
	if err != nil {
		return Hash{}, nil, fmt.Errorf("state: stage version %d: %w", version, err)
	}
	s.w.root = nr.h
	s.w.keys = append(s.w.keys, t.rootKey(version))
	s.w.vals = append(s.w.vals, append([]byte(nil), nr.h[:]...))
	return nr.h, s.w, nil
}

func (s *stager) put(h Hash, enc []byte) {
	s.w.keys = append(s.w.keys, s.t.nodeKey(h))
	s.w.vals = append(s.w.vals, enc)
	// Content-addressed: h names enc wherever it is read from, so caching a
	// page before its batch is written is safe; it is only reached through
	// a root that references it, and such a root is written with it.
	if enc[0] == pageTag {
		s.t.cachePut(h, enc)
	}
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
	n, err := s.t.loadNode(r.h)
	if err != nil {
		return ref{}, err
	}
	if n.leaf {
		return ref{}, fmt.Errorf("%w: node %x is a leaf, its parent names a page", ErrCorrupt, r.h)
	}
	p := n.page
	var np page
	if err := s.slots(d, ops, func(sub *stager, sl int, sops []op) (ref, error) {
		return sub.update(p[sl], d+1, sops)
	}, &np, func(sl int) ref { return p[sl] }); err != nil {
		return ref{}, err
	}
	if np == p {
		return r, nil
	}
	return s.makePage(&np), nil
}

// parallelMin is the number of changes from which the root page's slots
// are staged concurrently: hashing and reading pages dominate a block's
// commit, and the 16 subtrees under the root are independent.
const parallelMin = 256

// slots computes the 16 slots of a page at nibble depth d: slots with ops
// get f's result, the others keep(sl). At the root, with many ops, the
// slots are computed by one goroutine per CPU, each with its own Writes,
// merged in slot order so the records stay in a deterministic order.
func (s *stager) slots(d int, ops []op, f func(sub *stager, sl int, sops []op) (ref, error), out *page, keep func(sl int) ref) error {
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
	workers := min(runtime.GOMAXPROCS(0), 16)
	if d != 0 || len(ops) < parallelMin || workers < 2 {
		for sl := 0; sl < 16; sl++ {
			out[sl] = keep(sl)
			if bounds[sl] < bounds[sl+1] {
				nr, err := f(s, sl, ops[bounds[sl]:bounds[sl+1]])
				if err != nil {
					return err
				}
				out[sl] = nr
			}
		}
		return nil
	}
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
				out[sl] = keep(sl)
				if bounds[sl] == bounds[sl+1] {
					continue
				}
				subs[sl] = &stager{t: s.t, w: &Writes{}}
				out[sl], errs[sl] = f(subs[sl], sl, ops[bounds[sl]:bounds[sl+1]])
			}
		}()
	}
	wg.Wait()
	for sl := 0; sl < 16; sl++ {
		if errs[sl] != nil {
			return errs[sl]
		}
		if subs[sl] != nil {
			s.w.keys = append(s.w.keys, subs[sl].w.keys...)
			s.w.vals = append(s.w.vals, subs[sl].w.vals...)
		}
	}
	return nil
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
		h := LeafHash(lone.kh, ValueHash(lone.value))
		s.put(h, encodeLeaf(lone.kh, lone.value))
		return ref{h: h, k: kindLeaf, kh: lone.kh}, nil
	}
	if d >= MaxProofDepth/4 {
		return ref{}, fmt.Errorf("%w: tree deeper than %d bits", ErrCorrupt, MaxProofDepth)
	}
	var p page
	exSlot := -1
	if exLive {
		exSlot = nibble(&ex.kh, d)
	}
	keep := func(sl int) ref {
		if sl == exSlot {
			return *ex // pushed down one level, unchanged
		}
		return emptyRef
	}
	if err := s.slots(d, ops, func(sub *stager, sl int, sops []op) (ref, error) {
		var sex *ref
		if sl == exSlot {
			sex = ex
		}
		return sub.build(d+1, sex, sops)
	}, &p, keep); err != nil {
		return ref{}, err
	}
	return s.makePage(&p), nil
}

// makePage stores p and returns it as a subtree, unless it holds a single
// leaf or nothing, which move up instead.
func (s *stager) makePage(p *page) ref {
	r := p.root()
	if r.k != kindInternal {
		return r
	}
	s.put(r.h, p.encode())
	return r
}
