package proof

import (
	"crypto/sha256"
)

// Hash is a digest of the chain suite's hash (SHA-256 or SM3, both 32
// bytes): a node hash, a root, a key or value hash.
type Hash = [32]byte

// Hasher is the tree's hash function: the chain's crypto suite hash
// (crypto.Suite.Sum256; ARCHITECTURE.md §6, "Crypto suites"). Every hash
// of the tree and its proofs is one of its methods, so one tree is all
// SHA-256 or all SM3. The package names SHA256 only, to stay free of
// anything but the standard library; the SM3 hasher comes from the suite.
type Hasher func(b []byte) Hash

// SHA256 is the Hasher of an "ed25519-sha256" chain.
var SHA256 Hasher = sha256.Sum256

// EmptyRoot is the root of the tree that holds no key.
var EmptyRoot Hash

const (
	leafDomain     = 0x00
	internalDomain = 0x01

	// MaxProofDepth bounds the siblings in a proof: a key path has 256 bits.
	MaxProofDepth = 256
)

// KeyHash is the path of key in the tree.
func (h Hasher) KeyHash(key []byte) Hash { return h(key) }

// ValueHash is the digest of a value that a leaf commits to.
func (h Hasher) ValueHash(value []byte) Hash { return h(value) }

// LeafHash is the hash of the leaf for a key hash and a value hash.
func (h Hasher) LeafHash(keyHash, valueHash Hash) Hash {
	var buf [1 + 64]byte
	buf[0] = leafDomain
	copy(buf[1:], keyHash[:])
	copy(buf[33:], valueHash[:])
	return h(buf[:])
}

// InternalHash is the hash of an internal node with two children.
func (h Hasher) InternalHash(left, right Hash) Hash {
	var buf [1 + 64]byte
	buf[0] = internalDomain
	copy(buf[1:], left[:])
	copy(buf[33:], right[:])
	return h(buf[:])
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
