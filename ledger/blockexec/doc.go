// Package blockexec is the block executor: the application side of
// consensus (consensus/driver.Executor). It executes committed blocks with
// the state machine (ledger/exec) and writes them to the ledger store
// (ledger/store), checks proposals before this node votes for them, builds
// the application fields of this node's own proposals, and checks txs
// against committed state for the mempool.
//
// It reads the clock only to stamp and bound block times, never while
// executing; the node passes its Clock and Metrics in, and learns of
// commits through OnCommit.
package blockexec
