// Package lightclient checks what a node proves, trusting no node
// (ARCHITECTURE.md §6, "Proof bundles"; §4, "Proofs across set changes";
// §5, "State commitment"): state proofs against committed headers, the
// validator sets that certify them from the genesis set on, and proof
// bundles, a record's whole history with its proofs, verifiable offline
// from the chain's genesis hash alone (VerifyBundle).
//
// It is the one verifier: `govnode query … --prove`, `govnode query record
// --bundle`, `govnode verify` and the public portal (compiled to
// WebAssembly) all call it. So it imports no storage, network or OS
// facility: only consensus (the commit rule), crypto, proto and the state
// tree's proof verification (ledger/state/proof); `GOOS=js GOARCH=wasm go
// build ./ledger/lightclient` builds, and TestWasmDependencies keeps it so.
//
// Every input is bounded before it is decoded (MaxBundleBytes, MaxVersions,
// MaxAccessEntries, MaxAnchors, MaxValidatorSets, consensus.MaxCertChain).
package lightclient
