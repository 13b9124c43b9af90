package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// Storage unit. The tree is binary, but it is stored in pages of four
// binary levels (16 slots), as Jellyfish stores 16-ary nodes: a lookup or an
// update reads about log16(n) records instead of log2(n), which is what
// makes a block commit fast at a million keys. Hashes and proofs are those
// of the binary tree; the pages are only how its nodes are kept.
//
// A page sits at nibble depth D (bit depth 4D) where the subtree holds at
// least two keys; its 16 slots are the subtrees at bit depth 4D+4. A slot
// is empty, the lone leaf of its subtree, or a child page. Records:
//
//	leaf:   0x00 || keyHash(32) || value                    hash: LeafHash
//	page:   0x03 || occupied(2) || leaves(2) || slot records hash: the binary
//	        subtree's root, computed from the slots
//	legacy: 0x02 || occupied(2) || leaves(2) || slot records (content-addressed)
//
// occupied and leaves are bitmasks (bit s = slot s, big endian). A slot
// record is its hash, followed by the leaf's key hash for a leaf slot (so
// an update never reads a leaf to learn where it belongs), followed in a
// 0x03 page by the version that wrote the child's record (so a lookup can
// form the child's key, see keys.go). A 0x02 page is the layout before
// version keys (content-addressed, see keys.go): its slots carry no version
// and its children are read by hash.

type kind uint8

// The kinds' values are stored in root records (keys.go).
const (
	kindEmpty kind = iota
	kindLeaf
	kindInternal
	// kindUnresolved is the root of a content-addressed version until
	// its record is read: its root record holds only its hash.
	kindUnresolved
)

const (
	legacyPageTag = 0x02
	pageTag       = 0x03
)

// legacyVersion is the version of a ref to a content-addressed record (the
// layout before version keys): no tree reaches 2^64-1 versions.
const legacyVersion = ^uint64(0)

// ref names a binary subtree: its hash, the kind of its top node, for a
// leaf its key hash, and for a leaf or page the version that wrote its
// record (legacyVersion: content-addressed). The binary nodes inside a
// page have no record, and no version.
type ref struct {
	h  Hash
	k  kind
	kh Hash
	v  uint64
}

var emptyRef = ref{}

// page is a decoded page: its 16 slots.
type page [16]ref

var errBadNode = errors.New("malformed tree node")

func encodeLeaf(keyHash Hash, value []byte) []byte {
	b := make([]byte, 1+32+len(value))
	b[0] = leafDomain
	copy(b[1:], keyHash[:])
	copy(b[33:], value)
	return b
}

// encode returns the page's record: a 0x03 page, or with legacy the 0x02
// page of the content-addressed layout (whose slots are all legacy too).
func (p *page) encode(legacy bool) []byte {
	var occ, leaves uint16
	n, slot := 5, 40
	tag := byte(pageTag)
	if legacy {
		tag, slot = legacyPageTag, 32
	}
	for s := range p {
		switch p[s].k {
		case kindLeaf:
			occ |= 0x8000 >> s
			leaves |= 0x8000 >> s
			n += slot + 32
		case kindInternal:
			occ |= 0x8000 >> s
			n += slot
		}
	}
	b := make([]byte, 5, n)
	b[0] = tag
	binary.BigEndian.PutUint16(b[1:], occ)
	binary.BigEndian.PutUint16(b[3:], leaves)
	for s := range p {
		if p[s].k == kindEmpty {
			continue
		}
		b = append(b, p[s].h[:]...)
		if p[s].k == kindLeaf {
			b = append(b, p[s].kh[:]...)
		}
		if !legacy {
			b = binary.BigEndian.AppendUint64(b, p[s].v)
		}
	}
	return b
}

// node is a decoded record: a leaf or a page.
type node struct {
	leaf    bool
	keyHash Hash   // leaf
	value   []byte // leaf
	page    page   // page
}

func decodeNode(b []byte) (node, error) {
	if len(b) == 0 {
		return node{}, errBadNode
	}
	switch b[0] {
	case leafDomain:
		if len(b) < 33 {
			return node{}, fmt.Errorf("%w: leaf of %d bytes", errBadNode, len(b))
		}
		n := node{leaf: true, value: b[33:len(b):len(b)]}
		copy(n.keyHash[:], b[1:33])
		return n, nil
	case pageTag, legacyPageTag:
		if len(b) < 5 {
			return node{}, fmt.Errorf("%w: page of %d bytes", errBadNode, len(b))
		}
		occ, leaves := binary.BigEndian.Uint16(b[1:]), binary.BigEndian.Uint16(b[3:])
		if leaves&^occ != 0 || occ == 0 || (bits.OnesCount16(occ) == 1 && leaves != 0) {
			return node{}, fmt.Errorf("%w: page masks %04x/%04x", errBadNode, occ, leaves)
		}
		slot := 40
		if b[0] == legacyPageTag {
			slot = 32
		}
		if want := 5 + slot*bits.OnesCount16(occ) + 32*bits.OnesCount16(leaves); len(b) != want {
			return node{}, fmt.Errorf("%w: page of %d bytes, want %d", errBadNode, len(b), want)
		}
		var n node
		r := b[5:]
		for s := 0; s < 16; s++ {
			m := uint16(0x8000) >> s
			if occ&m == 0 {
				continue
			}
			sl := &n.page[s]
			copy(sl.h[:], r[:32])
			r = r[32:]
			sl.k = kindInternal
			if leaves&m != 0 {
				sl.k = kindLeaf
				copy(sl.kh[:], r[:32])
				r = r[32:]
			}
			sl.v = legacyVersion
			if b[0] == pageTag {
				sl.v = binary.BigEndian.Uint64(r)
				r = r[8:]
			}
			if sl.h == EmptyRoot {
				return node{}, fmt.Errorf("%w: slot %d has the empty hash", errBadNode, s)
			}
		}
		return n, nil
	default:
		return node{}, fmt.Errorf("%w: unknown record type %#x", errBadNode, b[0])
	}
}

// combine is the binary parent of a and b: empty if both are, a lone leaf
// moves up, anything else is an internal node.
func combine(h Hasher, a, b ref) ref {
	switch {
	case a.k == kindEmpty && b.k == kindEmpty:
		return emptyRef
	case a.k == kindEmpty && b.k == kindLeaf:
		return b
	case b.k == kindEmpty && a.k == kindLeaf:
		return a
	}
	return ref{h: h.InternalHash(a.h, b.h), k: kindInternal}
}

// binaryNodes computes the binary nodes of a page, heap-ordered: index 1 is
// the page's root (bit depth 4D), 2i and 2i+1 are the children of i, and
// 16..31 are the slots (bit depth 4D+4).
func (p *page) binaryNodes(h Hasher) [32]ref {
	var n [32]ref
	copy(n[16:], p[:])
	for i := 15; i >= 1; i-- {
		n[i] = combine(h, n[2*i], n[2*i+1])
	}
	return n
}

// innerHashes are the hashes of the internal nodes among n[1..15], in
// index order: with the slots, all that withInner needs to rebuild n.
func innerHashes(n *[32]ref) []Hash {
	c := 0
	for i := 1; i < 16; i++ {
		if n[i].k == kindInternal {
			c++
		}
	}
	in := make([]Hash, 0, c)
	for i := 1; i < 16; i++ {
		if n[i].k == kindInternal {
			in = append(in, n[i].h)
		}
	}
	return in
}

// withInner is binaryNodes without hashing, from the page's innerHashes;
// ok is false if inner is nil or does not fit the page.
func (p *page) withInner(inner []Hash) (n [32]ref, ok bool) {
	if inner == nil {
		return n, false
	}
	copy(n[16:], p[:])
	j := len(inner)
	for i := 15; i >= 1; i-- {
		a, b := &n[2*i], &n[2*i+1]
		switch {
		case a.k == kindEmpty && b.k == kindEmpty:
		case a.k == kindEmpty && b.k == kindLeaf:
			n[i] = *b
		case b.k == kindEmpty && a.k == kindLeaf:
			n[i] = *a
		default:
			if j == 0 {
				return n, false
			}
			j--
			n[i] = ref{h: inner[j], k: kindInternal}
		}
	}
	return n, j == 0
}

// rehash is binaryNodes of the page np that differs from the page of old
// (its binary nodes) in some slots: only the nodes above a changed slot are
// hashed again.
func (np *page) rehash(h Hasher, old *[32]ref) [32]ref {
	var n [32]ref
	copy(n[16:], np[:])
	var dirty uint32 // bit i: node i changed
	for s := range np {
		if np[s] != old[16+s] {
			dirty |= 1 << (16 + s)
		}
	}
	for i := 15; i >= 1; i-- {
		if dirty&(3<<(2*i)) == 0 {
			n[i] = old[i]
			continue
		}
		n[i] = combine(h, n[2*i], n[2*i+1])
		dirty |= 1 << i
	}
	return n
}

// root is the binary root of the page, or, when the page holds a single
// lone leaf (or nothing), that leaf (or empty): such a page is never stored.
func (p *page) root(h Hasher) ref {
	n := p.binaryNodes(h)
	return n[1]
}

// nibble returns the 4-bit slot index of path p at nibble depth d.
func nibble(p *Hash, d int) int {
	b := p[d>>1]
	if d&1 == 0 {
		return int(b >> 4)
	}
	return int(b & 0x0f)
}

// leafHash recomputes the hash a leaf record commits to.
func (n *node) leafHash(h Hasher) Hash { return h.LeafHash(n.keyHash, h.ValueHash(n.value)) }
