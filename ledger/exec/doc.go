// Package exec is govnode's state machine (ARCHITECTURE.md §5): it executes blocks
// of signed transactions against the ledger state and checks transactions
// for the mempool, with the same code.
//
// # Shape
//
// The executor is a pure function of (committed state, header, txs): it
// reads state through the small Reader interface and returns a BlockResult
// (one TxResult per tx, the sorted state Changes, typed Events, a validator
// set update and new Params). It writes nothing itself; the node commits
// the changes with the block in one batch. It holds no clock or
// randomness: block time comes from the header, every map is sorted
// before it reaches state, CEL is restricted (see cel.go) and there is no
// floating point. Its only goroutines verify a block's signatures in
// parallel batches (sigs.go), whose verdicts are the single ones whatever
// the batching (batch verification draws random coefficients, which
// change its cost, never its verdict). Two nodes applying the same blocks to the same genesis
// produce byte-identical changes, results and events.
//
// Inside a block, writes go to an overlay over the Reader, so later
// transactions see earlier ones; each action writes to its own overlay,
// merged only if it succeeds.
//
// # A block
//
//  1. Due contract deadlines fire (entries keyed by time, so only due ones
//     are scanned).
//  2. The signatures not verified before (SigCache), as one batch; then
//     each transaction in order: envelope checks (checkEnvelope), then its
//     action.
//  3. Governance at commit: proposals passed in the block execute, those
//     whose voting ended expire.
//
// # Nonce policy
//
// A transaction failing an envelope check (size, decoding, chain id,
// unknown or inactive signer, nonce, signature) changes nothing. A
// transaction that passes them consumes its nonce even when its action is
// refused: the signer did sign it, so it must never be replayable later,
// and the signer's already-numbered next transactions are not blocked. The
// refused action's writes are discarded and it emits no events; its
// TxResult carries the code and reason.
//
// # Time
//
// Block time is the header's time_unix_ms. Every time field of the schema
// that a user sets (valid_until, expires_at, a deadline's `at`) and CEL's
// `now` are unix SECONDS; fields the executor stamps (time_unix_ms,
// activated_at) are milliseconds. A deadline at t fires at the first block
// with time_unix_ms > t*1000.
//
// # Events
//
// event_index numbers a block's events from 0. Events with an empty tx_hash
// (tx_index 0) come from the block itself: deadlines fired before its
// transactions, governance executed or expired after them.
//
// # Files
//
// keys.go has the state key layout; store.go the Reader, Change and the
// overlay; tx.go decoding and envelope checks; sigs.go signature checks
// (the SigCache, batches, PreverifyTxs); executor.go ApplyBlock and
// CheckTx; identity.go, records.go, contracts.go (with cel.go) and
// governance.go the modules, each starting with its permission rules
// (access.go and erase.go the protected records': who may read their
// content, node-recorded releases, erasure);
// money.go budgets, escrows and payments (ARCHITECTURE.md §5, "Budgets
// and payments"); genesis.go InitGenesis; validate.go the field limits and the one rule
// for ids and display names (ValidID, ValidName); params.go the bounds of
// the chain parameters (ValidateParams); query.go read helpers for the
// API; tender.go the reference procurement template. Package exectest holds the test helpers
// (a sorted in-memory Reader, signers, a genesis fixture, a chain driver).
package exec
