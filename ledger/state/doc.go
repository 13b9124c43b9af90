// Package state is govnode's authenticated key-value state (ARCHITECTURE.md §5, "State
// commitment"): a versioned, binary, compressed sparse Merkle tree in the
// style of Diem's Jellyfish Merkle tree, stored in LevelDB.
//
// # Tree shape and hashing
//
// A key k sits on the 256-bit path SHA-256(k), read most significant bit
// first; bit 0 chooses the child at the root (0 = left, 1 = right). Hashes:
//
//	leaf     = SHA-256(0x00 || SHA-256(key) || SHA-256(value))
//	internal = SHA-256(0x01 || left || right)
//	empty    = 32 zero bytes
//
// A subtree holding exactly one key is replaced by that key's leaf (the
// "compressed" part), so a key sits at the depth where its path first
// separates from every other key: about log2(n) for n random keys, and a
// proof carries about that many sibling hashes (≈20 at a million keys).
// Because the leaf hash does not depend on its depth, leaves move up and down
// on inserts and deletes without being rewritten.
//
// # Versions and storage
//
// The binary tree is stored in pages of four binary levels (16 slots, like
// Jellyfish's 16-ary nodes; see node.go), so a lookup reads about log16(n)
// records and a block's update rewrites about log16(n) pages per change,
// not log2(n) nodes. Hashes and proofs are those of the binary tree.
//
// Records are keyed by the version that wrote them and their place in the
// tree, as Jellyfish keys its nodes (keys.go): a page by (version, nibble
// path), a leaf by (version, key hash), and a page slot carries the
// version of its child's record, so a lookup forms each child's key. A
// version's records all sort after every earlier version's, so a block's
// writes append to the tree's key range, and in a LevelDB of their own
// (as the block store keeps them) compactions move them down instead of
// rewriting them. A record is never changed or deleted: every committed
// version stays readable for record history (nothing is pruned; see Tree
// for the reason). A version is a root record naming its root node.
// Trees written before version keys (content-addressed records, keyed by
// hash) are read as they are and go on with version-keyed records
// (Options.Legacy). Computing and writing are split so the block store
// can commit a block and its state in synced LevelDB batches:
//
//	root, w, err := tree.Stage(h, changes) // pure computation, reads only
//	w.ApplyTo(batch)                        // node and root records
//	db.Write(batch, &opt.WriteOptions{Sync: true})
//	tree.Committed(h, root)                 // now the latest version
//
// # Proofs
//
// GetWithProof returns an inclusion proof for a present key and a
// non-inclusion proof for an absent one: the sibling hashes from the root
// down to where the key's path ends, at an empty subtree or at the leaf of
// another key whose path shares every bit above it. Verify checks a proof
// with nothing but the root, key and value, for light clients and the CLI.
// Proofs have a compact, canonical binary encoding (Proof.Marshal,
// UnmarshalProof).
//
// # Determinism
//
// Stage sorts changes by key hash and refuses duplicate keys, so the root
// depends only on the set of changes, never on their order; nothing reads a
// clock or iterates a map into state.
package state
