package state

import "encoding/binary"

// Record keys (ARCHITECTURE.md §5, "State commitment"). A record is keyed
// by the version that wrote it and its place in the tree, as Jellyfish
// keys its nodes:
//
//	prefix || 'v' || version(8) || 'l' || keyHash(32)          → leaf
//	prefix || 'v' || version(8) || 'p' || depth(1) || path     → page
//	prefix || 'v' || version(8) || 'r'                         → root record
//
// path is the page's first depth nibbles, packed two to a byte (the last
// byte's low nibble zero for an odd depth). Versions are big endian, so
// every record a version writes sorts after every record of an earlier
// version: a block's batch appends to the tree's key range, and LevelDB's
// compactions of it find no overlap in the next level and move tables
// down instead of merging and rewriting them (docs/BENCHMARKS.md, "State
// tree layout"). A leaf is keyed by its key hash, not its path, because a
// leaf moves up and down on inserts and deletes: its slot ref keeps naming
// the same record.
//
// A root record is root hash(32) || version(8) || kind(1), followed by the
// key hash for a root that is a leaf: the ref of the root node. The empty
// tree's root record is 32 zero bytes.
//
// Before version keys (the content-addressed layout, ledgers written
// until 2026-12), a record was keyed by its hash and a root record was the
// root hash alone:
//
//	prefix || 'n' || hash        → leaf or 0x02 page
//	prefix || 'r' || version(8)  → root hash
//
// Those records are read as they are (a slot or root naming one carries
// legacyVersion), never rewritten: a tree goes on from a content-addressed
// version with version-keyed records, whose pages keep naming the
// untouched content-addressed subtrees by hash.
const (
	tagLegacyNode = 'n'
	tagLegacyRoot = 'r'
	tagVersion    = 'v'

	recLeaf = 'l'
	recPage = 'p'
	recRoot = 'r'
)

func (t *Tree) key(tag byte, suffix []byte) []byte {
	k := make([]byte, 0, len(t.prefix)+1+len(suffix))
	k = append(k, t.prefix...)
	k = append(k, tag)
	return append(k, suffix...)
}

func (t *Tree) legacyNodeKey(h Hash) []byte { return t.key(tagLegacyNode, h[:]) }

func (t *Tree) legacyRootKey(version uint64) []byte {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], version)
	return t.key(tagLegacyRoot, v[:])
}

// versionKey is prefix || 'v' || version, the start of every key a version
// writes.
func versionKey(dst, prefix []byte, version uint64) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, tagVersion)
	return binary.BigEndian.AppendUint64(dst, version)
}

func (t *Tree) rootKey(version uint64) []byte {
	k := versionKey(make([]byte, 0, len(t.prefix)+10), t.prefix, version)
	return append(k, recRoot)
}

// appendLeafKey appends the key of the leaf record of keyHash written by
// version.
func appendLeafKey(dst, prefix []byte, version uint64, keyHash *Hash) []byte {
	dst = versionKey(dst, prefix, version)
	dst = append(dst, recLeaf)
	return append(dst, keyHash[:]...)
}

// appendPageKey appends the key of the page at nibble depth d on path
// (only its first d nibbles count) written by version.
func appendPageKey(dst, prefix []byte, version uint64, path *Hash, d int) []byte {
	dst = versionKey(dst, prefix, version)
	dst = append(dst, recPage, byte(d))
	if d == 0 {
		return dst // the root page: path may be nil
	}
	dst = append(dst, path[:(d+1)/2]...)
	if d&1 == 1 {
		dst[len(dst)-1] &= 0xf0
	}
	return dst
}

// pathTo is the first d nibbles of p, the rest zero: the path of the page
// at depth d above p.
func pathTo(p *Hash, d int) Hash {
	var out Hash
	copy(out[:d/2], p[:d/2])
	if d&1 == 1 {
		out[d/2] = p[d/2] & 0xf0
	}
	return out
}

// encodeRoot is a root record: the ref of the root node.
func encodeRoot(r ref) []byte {
	if r.k == kindEmpty {
		return make([]byte, 32)
	}
	b := make([]byte, 0, 32+9+32)
	b = append(b, r.h[:]...)
	b = binary.BigEndian.AppendUint64(b, r.v)
	b = append(b, byte(r.k))
	if r.k == kindLeaf {
		b = append(b, r.kh[:]...)
	}
	return b
}

// decodeRoot decodes a version-keyed root record; ok is false if it is
// malformed.
func decodeRoot(b []byte) (r ref, ok bool) {
	switch {
	case len(b) == 32:
		copy(r.h[:], b)
		return r, r.h == EmptyRoot
	case len(b) == 41 && kind(b[40]) == kindInternal:
	case len(b) == 73 && kind(b[40]) == kindLeaf:
		copy(r.kh[:], b[41:])
	default:
		return ref{}, false
	}
	copy(r.h[:], b)
	r.v = binary.BigEndian.Uint64(b[32:])
	r.k = kind(b[40])
	return r, r.h != EmptyRoot
}
