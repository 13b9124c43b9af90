package proof

import (
	"crypto/sha256"

	"github.com/emmansun/gmsm/sm3"
)

// Hash is a digest of the chain suite's hash (SHA-256 or SM3, both 32
// bytes): a node hash, a root, a key or value hash.
type Hash = [32]byte

// Hasher is the tree's hash function: the chain's crypto suite's
// (ARCHITECTURE.md §6, "Crypto suites"). Every hash of the tree and its
// proofs is one of its methods, so one tree is all SHA-256 or all SM3.
// Its values are crypto.Suite's (Ed25519SHA256 = SHA256, SM2SM3 = SM3), so
// a suite converts to its hasher: proof.Hasher(suite). It is a value, not
// a function: a static call lets the compiler keep each node's hash input
// on the stack (a function value made every input escape to the heap: 30%
// more time per block, BenchmarkStage3000At1M).
type Hasher uint8

// The hashers.
const (
	// SHA256 is the hasher of an "ed25519-sha256" chain.
	SHA256 Hasher = iota
	// SM3 is the hasher of an "sm2-sm3" chain (GB/T 32905).
	SM3
)

// Sum is the hash of b.
func (h Hasher) Sum(b []byte) Hash {
	if h == SM3 {
		return sm3.Sum(b)
	}
	return sha256.Sum256(b)
}

// EmptyRoot is the root of the tree that holds no key.
var EmptyRoot Hash

const (
	leafDomain     = 0x00
	internalDomain = 0x01

	// MaxProofDepth bounds the siblings in a proof: a key path has 256 bits.
	MaxProofDepth = 256
)

// KeyHash is the path of key in the tree.
func (h Hasher) KeyHash(key []byte) Hash { return h.Sum(key) }

// ValueHash is the digest of a value that a leaf commits to.
func (h Hasher) ValueHash(value []byte) Hash { return h.Sum(value) }

// LeafHash is the hash of the leaf for a key hash and a value hash.
func (h Hasher) LeafHash(keyHash, valueHash Hash) Hash {
	var buf [1 + 64]byte
	buf[0] = leafDomain
	copy(buf[1:], keyHash[:])
	copy(buf[33:], valueHash[:])
	return h.Sum(buf[:])
}

// InternalHash is the hash of an internal node with two children.
func (h Hasher) InternalHash(left, right Hash) Hash {
	var buf [1 + 64]byte
	buf[0] = internalDomain
	copy(buf[1:], left[:])
	copy(buf[33:], right[:])
	return h.Sum(buf[:])
}

// Bit returns bit d (0 = most significant bit of byte 0) of a path.
func Bit(p *Hash, d int) byte {
	return (p[d>>3] >> (7 - uint(d&7))) & 1
}

// CommonPrefixBits is the number of leading bits a and b share.
func CommonPrefixBits(a, b *Hash) int {
	for i := 0; i < len(a); i++ {
		if x := a[i] ^ b[i]; x != 0 {
			n := i * 8
			for x&0x80 == 0 {
				x <<= 1
				n++
			}
			return n
		}
	}
	return 256
}
