// Package keystore reads and writes govnode key files.
//
// A key file is a small versioned JSON envelope:
//
//	{
//	  "version": 1,
//	  "kind": "validator",            // "validator", "node" or "account"
//	  "scheme": "ed25519",            // crypto.SchemeName of the key: "ed25519" or "sm2"
//	  "public_key": "<base64>",       // readable without the passphrase
//	  "encrypted": true,
//	  "data": "<base64>"
//	}
//
// When encrypted is true, data is the standard base64 of a binary age file
// (https://age-encryption.org/v1) encrypted to an age scrypt recipient made
// from the passphrase; its plaintext is the private key bytes as written by
// crypto.PrivateKey.Bytes (for ed25519, the 32-byte seed; for sm2, the
// 32-byte big-endian private scalar d, with public_key the 65-byte point
// 04 || X || Y). When encrypted is false, data is the standard base64 of
// those private key bytes themselves: this is the documented plain form that
// `govnode keys export --unencrypted` writes and `govnode keys import` reads,
// and what a local test network uses.
//
// age is used rather than a home-made construction: scrypt derives the key
// that wraps a random file key, and the payload is ChaCha20-Poly1305, so a
// wrong passphrase and a changed byte are both detected. age cannot tell a
// wrong passphrase from a damaged wrapped key (both fail the same MAC), so
// that one case is reported as ErrWrongPassphrase naming both causes. Load
// also checks that the decrypted private key belongs to the public key in the
// envelope, so an edited public_key field is caught.
//
// Files are written with mode 0600 in directories created with mode 0700,
// through a temporary file and a rename, so a crash never leaves half a key.
// Load and LoadPublic read only a regular file of at most MaxFileBytes (a
// key path that names /dev/zero, a directory or a large unrelated file is
// refused with an error naming the path and the bound), and report the
// file's permission bits in Info.Perm; CheckPerm says when group or others
// have access, for the caller to warn.
//
// Consensus and account keys are crypto.PrivateKey values. The node key (the
// libp2p host identity) is an ed25519 crypto.PrivateKey stored the same way;
// NodeKeyToLibp2p converts it for libp2p and PeerIDFromPublicKey derives the
// peer id from the public key alone, so `keys show` can print it without the
// passphrase.
//
// The package reads no environment variables and prompts for nothing: the
// passphrase is a value its caller obtained (cmd/govnode reads it from a
// terminal, a file or GOVNODE_PASSPHRASE).
package keystore
