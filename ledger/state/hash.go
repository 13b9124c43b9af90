package state

import "github.com/govnode/govnode/ledger/state/proof"

// The hashes live in package proof, which a light client imports without
// the tree's storage (ledger/lightclient); these are the same functions.

// Hash is a SHA-256 digest: a node hash, a root, a key or value hash.
type Hash = proof.Hash

// EmptyRoot is the root of the tree that holds no key.
var EmptyRoot Hash

// leafDomain is the first byte of a leaf's hash input, and of a leaf's
// stored record (node.go).
const leafDomain = 0x00

// MaxProofDepth bounds the siblings in a proof: a key path has 256 bits.
const MaxProofDepth = proof.MaxProofDepth

// KeyHash is the path of key in the tree.
func KeyHash(key []byte) Hash { return proof.KeyHash(key) }

// ValueHash is the digest of a value that a leaf commits to.
func ValueHash(value []byte) Hash { return proof.ValueHash(value) }

// LeafHash is the hash of the leaf for a key hash and a value hash.
func LeafHash(keyHash, valueHash Hash) Hash { return proof.LeafHash(keyHash, valueHash) }

// InternalHash is the hash of an internal node with two children.
func InternalHash(left, right Hash) Hash { return proof.InternalHash(left, right) }

// bit returns bit d (0 = most significant bit of byte 0) of a path.
func bit(p *Hash, d int) byte { return proof.Bit(p, d) }

// commonPrefixBits is the number of leading bits a and b share.
func commonPrefixBits(a, b *Hash) int { return proof.CommonPrefixBits(a, b) }
