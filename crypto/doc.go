// Package crypto signs and verifies govnode messages.
//
// Every signature is made over domain-separated sign bytes: a fixed prefix,
// the message kind (tx, vote, timeout, proposal, heartbeat) and the chain id,
// then the kind's payload. A signature for one kind or one chain is therefore
// never valid for another.
//
// Keys are used through a scheme id (govnode.v1.KeyScheme). Ed25519 is the
// only scheme today; a national suite (SM2 with SM3) is added by giving it a
// scheme id and a case in the scheme table, without touching callers, which
// only ever hold a PrivateKey or a *pb.PublicKey.
//
// # One verification rule
//
// A signature's verdict is consensus-critical: two honest nodes that judge
// the same signature differently execute a block differently. So each
// scheme pins one exact rule, and every path uses it: Verify, and Batch,
// which checks many signatures at once for about half the CPU per
// signature and falls back to Verify for the entries of a failed batch.
// Ed25519's rule is ZIP-215 (github.com/hdevalence/ed25519consensus):
// canonical S, any encoding of a curve point for A and R, the cofactored
// equation. batch_test.go checks single against batch verdicts on ZIP-215's
// 196 edge-case vectors, non-canonical S, mixed batches with bad
// signatures, and against crypto/ed25519 on ordinary signatures.
//
// The package sits below consensus, p2p, ledger and genesis and imports
// nothing of govnode but the protobuf types.
package crypto
