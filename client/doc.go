// Package client is the Go SDK of a govnode node's API (docs/ARCHITECTURE.md
// §6, "API"): what a department application needs to write to and read
// from the chain without trusting the node it talks to.
//
//   - Dial connects to a node's Connect API: a URL or host:port, TLS
//     verified against a CA file or pool, and optionally a client
//     certificate issued per connection from a Signer's identity key
//     (§6, "Authenticated callers"). Calls refused with resource_exhausted
//     and a retry hint (RetryInfo, Govnode-Retry-After-Ms, Retry-After) are
//     sent again after the hint, within the call's context.
//   - Client.Submit fills in the chain id (the node's, or the one
//     WithChainID pins), signer and next nonce (kept in a local cache,
//     reserved per tx so that concurrent Submits of one signer take
//     distinct ones, resynchronised from the node's state after a nonce
//     refusal), moves the content of a protected record into a payload
//     beside the tx (§5, "Erasing personal data"), signs the body
//     (crypto.TxSignBytes), submits it and optionally waits for its commit.
//     SubmitBatch sends many txs of a signer in one SubmitTxs request. Tx
//     wraps any action message of the TxBody oneof into a body (every
//     transaction kind: records, identities, contracts, tenders,
//     governance); NewSealedBid makes a tender's sealed bid and its reveal
//     (§5, "Tenders").
//   - Queries return the API's messages. The Verified variants ask for a
//     proof and check it with the light client (ledger/lightclient) against
//     an Anchor, the chain's genesis document pinned by its hash: the value
//     against the state root, the root against a committed header, the
//     header against a quorum of the validator set reached from genesis.
//     VerifyRecordBundle checks a record's whole history offline;
//     ContentChecker checks the protected contents a node releases
//     against their commitments.
//   - Follow streams committed blocks of events, reconnecting with backoff
//     after a disconnect and resuming at the block after the last one
//     delivered: no block is delivered twice and none is skipped.
//
// The runnable examples (example_test.go) are the documentation: each runs
// against an in-process node.
//
// The CLI (cmd/govnode) is built on this package: it parses flags, calls
// the SDK and formats the output.
package client
