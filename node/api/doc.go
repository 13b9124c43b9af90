// Package api serves a node's NodeService API (Connect, gRPC and
// gRPC-Web over HTTP/1 and h2c): submitting txs, reading blocks, txs and
// state with proofs, the node's status and the event stream. It also owns
// the node's HTTP listeners (the API, metrics and pprof) and the bounds
// each one sets on its clients (listen.go). Every RPC passes a gate first:
// the caller resolved from its TLS client certificate against committed
// state (auth.go; CallerFrom gives it to handlers), then the per-identity
// and per-address rate limits (ratelimit.go).
//
// The package never reaches into the node: it reads the ledger, the
// mempool and the node's status through the small interfaces and funcs of
// Deps, and learns of commits from a HeightNotifier the committer sets.
package api
