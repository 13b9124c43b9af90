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
// The package sits below consensus, p2p, ledger and genesis and imports
// nothing of govnode but the protobuf types.
package crypto
