package state

import "github.com/govnode/govnode/ledger/state/proof"

// The hashes live in package proof, which a light client imports without
// the tree's storage (ledger/lightclient); these are the same functions.

// Hash is a digest of the chain suite's hash: a node hash, a root, a key
// or value hash.
type Hash = proof.Hash

// Hasher is the tree's hash function (proof.Hasher): SHA-256 or SM3, the
// chain's crypto suite's (Options.Hasher).
type Hasher = proof.Hasher

// EmptyRoot is the root of the tree that holds no key.
var EmptyRoot Hash

// leafDomain is the first byte of a leaf's hash input, and of a leaf's
// stored record (node.go).
const leafDomain = 0x00

// MaxProofDepth bounds the siblings in a proof: a key path has 256 bits.
const MaxProofDepth = proof.MaxProofDepth

// bit returns bit d (0 = most significant bit of byte 0) of a path.
func bit(p *Hash, d int) byte { return proof.Bit(p, d) }

// commonPrefixBits is the number of leading bits a and b share.
func commonPrefixBits(a, b *Hash) int { return proof.CommonPrefixBits(a, b) }

// SHA256 is the Hasher of an "ed25519-sha256" chain (proof.SHA256).
var SHA256 = proof.SHA256
