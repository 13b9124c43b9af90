// Package proof is the state tree's hashing and proof verification
// (ARCHITECTURE.md §5, "State commitment"), apart from the tree itself so
// that a light client can check proofs with no storage in its build: it
// imports nothing but the standard library and gmsm's SM3 (pure Go), and
// compiles to WebAssembly (ledger/lightclient). Package state re-exports what it defines here; the
// tree shape, hashes and proof encoding are documented in package state.
package proof
