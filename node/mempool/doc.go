// Package mempool holds the transactions a node has admitted until they
// commit: it checks each against committed state through a TxChecker,
// bounds what the mempool and each signer may hold, releases each signer's
// txs in nonce order to the proposer, and drops txs queued behind a nonce
// gap when room is needed or their lifetime ends.
//
// The package knows neither the state machine nor the node: the node wires
// a TxChecker over its ledger, feeds Update the committed blocks' txs, and
// registers NewCollector with its metrics.
package mempool
