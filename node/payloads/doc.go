// Package payloads keeps a member node's protected payloads beside the
// chain (ARCHITECTURE.md §5 "Erasing personal data"): the content of the
// versions of records of PROTECTED types, whose commitment
// (crypto.Suite.PayloadCommitment) is all the chain holds.
//
// Store is a LevelDB of its own (<data dir>/payloads) keyed by commitment,
// whose Delete compacts the deleted keys' ranges so that an erased
// content leaves the database's files, journal included. Manager puts it
// in step with the chain:
//
//   - Accept stores the payload SubmitTx brings ahead of its tx (pending;
//     deleted after a TTL if no committed version binds it);
//   - Run follows committed heights from a cursor kept in the payload
//     database (a fresh node starts at height 1): a created or amended
//     version of a protected type binds its payload, which a member node
//     fetches from member peers if it lacks it (in the background, with
//     backoff, never holding the cursor back); a record erased in
//     committed state now is skipped (a node syncing late never fetches
//     it); an erased record's payloads are deleted and compacted away as
//     its height is processed;
//   - Payload answers reads, fetching on demand what is not held.
//
// Observers (nodes of no department in the validator set in force) store
// and fetch nothing. The node serves the store to member peers through
// p2p (Store.Payloads is a p2p.PayloadSource) and fetches with p2p's
// RequestPayloads.
package payloads
