package proof

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Proof proves that a key has a value, or has none, under a root.
//
// Siblings[d] is the hash of the sibling at depth d on the key's path, from
// the root down. The path ends at the key's own leaf (inclusion), at an
// empty subtree, or at Leaf, the leaf of another key whose path shares the
// first len(Siblings) bits (both non-inclusion).
type Proof struct {
	Siblings []Hash
	Leaf     *ProofLeaf
}

// ProofLeaf is the leaf where a non-inclusion proof's path ends.
type ProofLeaf struct {
	KeyHash   Hash
	ValueHash Hash
}

// Errors returned by Verify; all wrap ErrInvalidProof.
var (
	ErrInvalidProof = errors.New("state: invalid proof")
	ErrRootMismatch = fmt.Errorf("%w: root mismatch", ErrInvalidProof)
)

// Verify checks proof for key under root, in a tree hashed with h: that
// key has value, or, when value is nil, that key is absent. It needs no
// store. An empty non-nil value is a present, empty value.
func (h Hasher) Verify(root Hash, key, value []byte, proof *Proof) error {
	if proof == nil {
		return fmt.Errorf("%w: no proof", ErrInvalidProof)
	}
	n := len(proof.Siblings)
	if n > MaxProofDepth {
		return fmt.Errorf("%w: %d siblings, at most %d", ErrInvalidProof, n, MaxProofDepth)
	}
	kh := h.KeyHash(key)
	var cur Hash
	switch {
	case value != nil:
		if proof.Leaf != nil {
			return fmt.Errorf("%w: a non-inclusion proof cannot prove a value", ErrInvalidProof)
		}
		cur = h.LeafHash(kh, h.ValueHash(value))
	case proof.Leaf == nil:
		cur = EmptyRoot
	default:
		if proof.Leaf.KeyHash == kh {
			return fmt.Errorf("%w: the proof's leaf is the key itself", ErrInvalidProof)
		}
		if CommonPrefixBits(&proof.Leaf.KeyHash, &kh) < n {
			return fmt.Errorf("%w: the proof's leaf is not on the key's path", ErrInvalidProof)
		}
		cur = h.LeafHash(proof.Leaf.KeyHash, proof.Leaf.ValueHash)
	}
	for d := n - 1; d >= 0; d-- {
		if Bit(&kh, d) == 0 {
			cur = h.InternalHash(cur, proof.Siblings[d])
		} else {
			cur = h.InternalHash(proof.Siblings[d], cur)
		}
	}
	if cur != root {
		return ErrRootMismatch
	}
	return nil
}

// Encoding (canonical; UnmarshalProof accepts nothing else):
//
//	flags     1 byte: bit 0 = Leaf present; other bits zero
//	n         uvarint, minimal, ≤ MaxProofDepth
//	bitmap    ceil(n/8) bytes, bit d (MSB first) = Siblings[d] is not empty;
//	          padding bits zero
//	siblings  32 bytes for each non-empty sibling, in order; never all zero
//	leaf      64 bytes (KeyHash, ValueHash) if flagged
//	no trailing bytes

const flagLeaf = 1

// MaxProofSize is the largest encoded proof.
const MaxProofSize = 1 + 2 + MaxProofDepth/8 + MaxProofDepth*32 + 64

// Marshal encodes the proof. It panics if the proof has more than
// MaxProofDepth siblings, which no Tree produces and UnmarshalProof refuses.
func (p *Proof) Marshal() []byte {
	n := len(p.Siblings)
	if n > MaxProofDepth {
		panic(fmt.Sprintf("state: proof with %d siblings", n))
	}
	nonEmpty := 0
	for i := range p.Siblings {
		if p.Siblings[i] != EmptyRoot {
			nonEmpty++
		}
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen16+(n+7)/8+32*nonEmpty+64)
	var flags byte
	if p.Leaf != nil {
		flags |= flagLeaf
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(n))
	bm := len(b)
	b = append(b, make([]byte, (n+7)/8)...)
	for d := range p.Siblings {
		if p.Siblings[d] != EmptyRoot {
			b[bm+d/8] |= 0x80 >> uint(d%8)
			b = append(b, p.Siblings[d][:]...)
		}
	}
	if p.Leaf != nil {
		b = append(b, p.Leaf.KeyHash[:]...)
		b = append(b, p.Leaf.ValueHash[:]...)
	}
	return b
}

// UnmarshalProof decodes a proof encoded by Marshal, refusing anything
// malformed, oversized, non-canonical or followed by trailing bytes.
func UnmarshalProof(b []byte) (*Proof, error) {
	if len(b) > MaxProofSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidProof, len(b), MaxProofSize)
	}
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes", ErrInvalidProof, len(b))
	}
	flags := b[0]
	if flags&^flagLeaf != 0 {
		return nil, fmt.Errorf("%w: unknown flags %#x", ErrInvalidProof, flags)
	}
	n64, k := binary.Uvarint(b[1:])
	if k <= 0 || n64 > MaxProofDepth {
		return nil, fmt.Errorf("%w: bad sibling count", ErrInvalidProof)
	}
	if k != len(binary.AppendUvarint(nil, n64)) {
		return nil, fmt.Errorf("%w: non-minimal sibling count", ErrInvalidProof)
	}
	n := int(n64)
	b = b[1+k:]
	bmLen := (n + 7) / 8
	if len(b) < bmLen {
		return nil, fmt.Errorf("%w: truncated bitmap", ErrInvalidProof)
	}
	bm := b[:bmLen]
	b = b[bmLen:]
	if n%8 != 0 && bm[bmLen-1]&(0xff>>uint(n%8)) != 0 {
		return nil, fmt.Errorf("%w: padding bits set", ErrInvalidProof)
	}
	p := &Proof{Siblings: make([]Hash, n)}
	for d := 0; d < n; d++ {
		if bm[d/8]&(0x80>>uint(d%8)) == 0 {
			continue
		}
		if len(b) < 32 {
			return nil, fmt.Errorf("%w: truncated sibling %d", ErrInvalidProof, d)
		}
		copy(p.Siblings[d][:], b[:32])
		b = b[32:]
		if p.Siblings[d] == EmptyRoot {
			return nil, fmt.Errorf("%w: sibling %d flagged non-empty is empty", ErrInvalidProof, d)
		}
	}
	if flags&flagLeaf != 0 {
		if len(b) < 64 {
			return nil, fmt.Errorf("%w: truncated leaf", ErrInvalidProof)
		}
		p.Leaf = &ProofLeaf{}
		copy(p.Leaf.KeyHash[:], b[:32])
		copy(p.Leaf.ValueHash[:], b[32:64])
		b = b[64:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrInvalidProof, len(b))
	}
	return p, nil
}
