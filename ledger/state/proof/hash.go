package proof

import (
	"crypto/sha256"
)

// Hash is a SHA-256 digest: a node hash, a root, a key or value hash.
type Hash = [32]byte

// EmptyRoot is the root of the tree that holds no key.
var EmptyRoot Hash

const (
	leafDomain     = 0x00
	internalDomain = 0x01

	// MaxProofDepth bounds the siblings in a proof: a key path has 256 bits.
	MaxProofDepth = 256
)

// KeyHash is the path of key in the tree.
func KeyHash(key []byte) Hash { return sha256.Sum256(key) }

// ValueHash is the digest of a value that a leaf commits to.
func ValueHash(value []byte) Hash { return sha256.Sum256(value) }

// LeafHash is the hash of the leaf for a key hash and a value hash.
func LeafHash(keyHash, valueHash Hash) Hash {
	var buf [1 + 64]byte
	buf[0] = leafDomain
	copy(buf[1:], keyHash[:])
	copy(buf[33:], valueHash[:])
	return sha256.Sum256(buf[:])
}

// InternalHash is the hash of an internal node with two children.
func InternalHash(left, right Hash) Hash {
	var buf [1 + 64]byte
	buf[0] = internalDomain
	copy(buf[1:], left[:])
	copy(buf[33:], right[:])
	return sha256.Sum256(buf[:])
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
