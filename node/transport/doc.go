// Package transport carries a node's consensus messages over its p2p host:
// Transport is the consensus driver's driver.Transport (consensus messages
// sent directly to the validators' nodes, hash-only proposals put back together from the mempool
// or fetched, block fetches), and BlockSource answers peers' block-sync,
// block-fetch and tx requests. It also holds TxSigCache, the cache of
// verified tx signatures shared by admission, validation and commit.
//
// The package never reaches into the node: it is given the p2p host, the
// mempool's lookups, the ledger's reads, the validator set and the metrics
// through the small interfaces and values of Deps and SourceDeps.
package transport
