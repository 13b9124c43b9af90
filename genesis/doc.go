// Package genesis reads, writes, hashes and validates the genesis document
// (govnode.v1.GenesisDoc), and holds the rules that follow from the fault
// model (Quorum, MaxFaults).
//
// Format. The document is JSON written by protojson with proto field names
// (chain_id, not chainId) and indentation; Unmarshal rejects unknown fields,
// so a misspelt key is an error rather than a silently missing setting.
//
// Hash. Hash is SHA-256 of the deterministic binary protobuf encoding of the
// parsed document, so neither JSON whitespace nor key order changes it: two
// departments who reformat the same file agree on its hash.
//
// Validation. Validate reports every problem at once, each as a Problem naming
// the field path (validators[2].peer_id) and the reason, joined in a
// *ValidationError. Conditions that are legal but unwise (a Byzantine network
// too small to tolerate a fault, a department without an admin) are returned
// apart as warnings. The checks are structural: contract guards and
// assignments are CEL, compiled by the state machine, not here.
//
// Quorums (ARCHITECTURE.md §4): crash ⌊n/2⌋+1, byzantine ⌊2n/3⌋+1.
package genesis
