// Package ledgertest holds test helpers shared by the ledger packages: an
// in-memory LevelDB and the reference computation of a sparse Merkle root
// that the tree is checked against. It is imported only by tests.
package ledgertest
