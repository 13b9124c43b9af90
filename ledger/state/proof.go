package state

import "github.com/govnode/govnode/ledger/state/proof"

// The proof type, its encoding and its verification live in package proof,
// which a light client imports without the tree's storage
// (ledger/lightclient); these are the same types and functions.

// Proof proves that a key has a value, or has none, under a root; see
// proof.Proof.
type Proof = proof.Proof

// ProofLeaf is the leaf where a non-inclusion proof's path ends.
type ProofLeaf = proof.ProofLeaf

// Errors returned by Verify; all wrap ErrInvalidProof.
var (
	ErrInvalidProof = proof.ErrInvalidProof
	ErrRootMismatch = proof.ErrRootMismatch
)

// MaxProofSize is the largest encoded proof.
const MaxProofSize = proof.MaxProofSize

// Verify checks proof for key under root: that key has value, or, when
// value is nil, that key is absent, in a tree hashed with h (proof.Hasher.Verify).
func Verify(h Hasher, root Hash, key, value []byte, p *Proof) error {
	return h.Verify(root, key, value, p)
}

// UnmarshalProof decodes a proof encoded by Proof.Marshal, refusing
// anything malformed, oversized, non-canonical or followed by trailing
// bytes (proof.UnmarshalProof).
func UnmarshalProof(b []byte) (*Proof, error) { return proof.UnmarshalProof(b) }
