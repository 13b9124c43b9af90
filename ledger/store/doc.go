// Package store is govnode's block store (ARCHITECTURE.md §5, "Storage"): one LevelDB
// per node holding blocks by height and by hash, commit certificates, the
// results of every transaction, a transaction index, the committed height,
// and the authenticated state (package ledger/state) with a plain copy of
// the latest value of every key for fast reads and prefix scans.
//
// # Atomic commit
//
// Commit writes everything a block changes (block, certificate, results,
// tx index, state tree nodes, latest values, the new state root and the new
// height) in ONE LevelDB batch written with Sync. LevelDB applies a batch
// from its journal entirely or not at all, so a node killed at any instant
// reopens at the previous or at the new height, never a mix. The crash test
// (crash_test.go) shows it by SIGKILLing a committing child process.
//
// # Bytes, not messages
//
// Blocks, certificates and results are stored as the exact bytes the
// caller gives (serialized pb.Block, pb.CommitCert, pb.TxResult). Protobuf
// encoding is not canonical, so the store never re-encodes what was hashed
// or signed; callers decode with proto.Unmarshal.
//
// # Layout (schema govnode-ledger/1)
//
//	\x00schema                → "govnode-ledger/1"
//	\x01 H                    → head height (8 bytes, big endian)
//	\x01 m height             → meta: block hash(32) || state root(32) || tx count(4)
//	\x01 b height             → block bytes
//	\x01 c height             → commit certificate bytes
//	\x01 h block hash         → height
//	\x01 r height index       → tx hash(32) || result bytes
//	\x01 x tx hash            → height(8) || index(4)
//	\x01 k key                → latest value of a state key
//	\x01 t ...                → the state tree (package state)
//
// Heights and indexes are big endian so LevelDB orders them numerically.
// Every data key starts with the schema byte \x01; a later schema can live
// beside it under \x02 while a migration runs. Height 0 is the genesis: its
// state and no block.
//
// # Refusing damage
//
// Open reads the database read-only first and checks the schema record and
// the head (meta, block, certificate, and the state tree's root at the head
// against the recorded state root). A foreign, newer or damaged database is
// refused with an error wrapping ErrNotLedger, ErrSchema or ErrCorrupt, and
// nothing is written to it. Audit is the full check (every height, every
// index entry, the whole state tree) for tests and `govnode verify`.
package store
