// Package store is govnode's block store (ARCHITECTURE.md §5, "Storage"): one LevelDB
// per node holding blocks by height and by hash, commit certificates, the
// results of every transaction, a transaction index, the committed height,
// and the authenticated state (package ledger/state) with a plain copy of
// the latest value of every key for fast reads and prefix scans.
//
// # Atomic commit
//
// Commit writes the block's state tree records in one synced batch into
// the tree's own LevelDB (the directory "state" inside the ledger's), then
// everything else the block changes (block, certificate, results, tx
// index, latest values, the new state root and the new height) in ONE
// batch written with Sync into the main LevelDB. LevelDB applies a batch
// from its journal entirely or not at all, and the main batch, which moves
// the head, is written only once the tree's is durable: a node killed at
// any instant reopens at the previous or at the new height, never a mix;
// a tree left one version ahead is discarded at open and written again by
// the block's commit. The crash tests (crash_test.go, layout_test.go) show
// it by SIGKILLing a committing child process and by stopping between
// the two writes.
//
// The tree has its own LevelDB because its version-keyed records append
// to their key range (ledger/state keys.go): alone, LevelDB moves their
// tables down the levels; beside the store's hash-keyed records (tx index,
// latest values), every compaction would span the whole key space and
// rewrite them (docs/BENCHMARKS.md, "State tree layout").
//
// # Bytes, not messages
//
// Blocks, certificates and results are stored as the exact bytes the
// caller gives (serialized pb.Block, pb.CommitCert, pb.TxResult). Protobuf
// encoding is not canonical, so the store never re-encodes what was hashed
// or signed; callers decode with proto.Unmarshal.
//
// # Layout (schema govnode-ledger/2)
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
//	\x01 t ...                → schema /1 only: the state tree's
//	                            content-addressed records (package state)
//	state/ (a LevelDB)        → the state tree: \x01 t ... (package state)
//
// A ledger of schema govnode-ledger/1 kept its whole state tree in the main
// database. A read-write Open upgrades it: it creates the tree's database,
// writes the schema record /2, and the tree goes on there while reading
// its earlier versions where they are. A read-only Open reads it as it is.
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
