package crypto

import (
	"encoding/binary"
)

// Kind is a message kind; it separates the signing domains.
type Kind string

// The message kinds. Their strings are part of every signature: never change
// one without a new chain.
const (
	KindTx        Kind = "tx"
	KindVote      Kind = "vote"
	KindTimeout   Kind = "timeout"
	KindProposal  Kind = "proposal"
	KindHeartbeat Kind = "heartbeat"
	// KindPeerBinding: a department's consensus key vouches for its node's
	// libp2p peer id (an "sm2-sm3" chain's Department.peer_binding).
	KindPeerBinding Kind = "peer-binding"
)

// signPrefix starts every govnode sign-bytes string.
const signPrefix = "govnode/sign/v1"

// SignBytes returns prefix ‖ kind ‖ chain id ‖ payload, each of the first
// three length-prefixed so no two (kind, chain, payload) triples share bytes.
func SignBytes(kind Kind, chainID string, payload []byte) []byte {
	b := make([]byte, 0, 3*binary.MaxVarintLen64+len(signPrefix)+len(kind)+len(chainID)+len(payload))
	b = appendString(b, signPrefix)
	b = appendString(b, string(kind))
	b = appendString(b, chainID)
	return append(b, payload...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// TxSignBytes is what a transaction's signer signs: the exact body bytes.
func TxSignBytes(chainID string, body []byte) []byte {
	return SignBytes(KindTx, chainID, body)
}

// VoteSignBytes covers (chain_id, view, height, block_hash).
func VoteSignBytes(chainID string, view, height uint64, blockHash []byte) []byte {
	p := make([]byte, 16, 16+len(blockHash))
	binary.BigEndian.PutUint64(p[0:], view)
	binary.BigEndian.PutUint64(p[8:], height)
	return SignBytes(KindVote, chainID, append(p, blockHash...))
}

// TimeoutSignBytes covers (chain_id, view, high_qc.view, high_qc.height), so
// a TC cannot be replayed with lower QCs.
func TimeoutSignBytes(chainID string, view, highQCView, highQCHeight uint64) []byte {
	p := make([]byte, 24)
	binary.BigEndian.PutUint64(p[0:], view)
	binary.BigEndian.PutUint64(p[8:], highQCView)
	binary.BigEndian.PutUint64(p[16:], highQCHeight)
	return SignBytes(KindTimeout, chainID, p)
}

// ProposalSignBytes covers the block hash (SHA-256 of the header bytes, which
// hold the chain id, view and height).
func ProposalSignBytes(chainID string, blockHash []byte) []byte {
	return SignBytes(KindProposal, chainID, blockHash)
}

// HeartbeatSignBytes covers (chain_id, view, seq, high_qc.view,
// high_qc.height).
func HeartbeatSignBytes(chainID string, view, seq, highQCView, highQCHeight uint64) []byte {
	p := make([]byte, 32)
	binary.BigEndian.PutUint64(p[0:], view)
	binary.BigEndian.PutUint64(p[8:], seq)
	binary.BigEndian.PutUint64(p[16:], highQCView)
	binary.BigEndian.PutUint64(p[24:], highQCHeight)
	return SignBytes(KindHeartbeat, chainID, p)
}

// PeerBindingSignBytes is what a department's consensus key signs to bind
// its node's libp2p peer id (Department.peer_binding, ARCHITECTURE.md §7):
// (chain_id, department id, peer id), each length-prefixed.
func PeerBindingSignBytes(chainID, departmentID, peerID string) []byte {
	var p []byte
	p = appendString(p, departmentID)
	p = appendString(p, peerID)
	return SignBytes(KindPeerBinding, chainID, p)
}
