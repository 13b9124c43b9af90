package p2p

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// errReject marks a provably bad message: gossipsub rejects it and counts an
// invalid delivery against the peer that sent it.
var errReject = errors.New("p2p: reject message")

func rejectf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errReject}, args...)...)
}

// checkTx is p2p's own check of a gossiped transaction, before the node's:
// size, then decoding, then the envelope's shape.
func checkTx(data []byte, max int) error {
	if len(data) > max {
		return rejectf("tx of %d bytes, limit %d", len(data), max)
	}
	var tx pb.SignedTx
	if err := proto.Unmarshal(data, &tx); err != nil {
		return rejectf("tx does not decode: %v", err)
	}
	if len(tx.GetBody()) == 0 || len(tx.GetSignature()) == 0 {
		return rejectf("tx without body or signature")
	}
	return nil
}

// checkConsensus decodes a gossiped consensus message and checks that the
// validator it names in sender signed it, against the snapshot vs. Cheap
// checks come first, the signature last. The full certificate checks (a
// proposal's justify QC, a TC's quorum) stay in consensus.
//
// What "signed by the sender" means per kind:
//   - vote, timeout: the voter is the sender and its signature verifies;
//   - heartbeat: the leader is the sender and its signature verifies;
//   - proposal: the header decodes, names this chain and the sender as
//     proposer, and the block signature verifies over the block hash;
//   - timeout certificate: an aggregate with no single signer; when the
//     sender is one of its signers its own timeout inside it must verify,
//     otherwise every signature in it must.
func checkConsensus(chainID string, vs *ValidatorSet, sigs *crypto.SigCache, data []byte, max int) (*pb.ConsensusMessage, error) {
	if len(data) > max {
		return nil, rejectf("consensus message of %d bytes, limit %d", len(data), max)
	}
	msg := new(pb.ConsensusMessage)
	if err := proto.Unmarshal(data, msg); err != nil {
		return nil, rejectf("consensus message does not decode: %v", err)
	}
	if msg.GetMsg() == nil {
		return nil, rejectf("consensus message of unknown kind")
	}
	sender := msg.GetSender()
	key, ok := vs.Key(sender)
	if !ok {
		return nil, rejectf("sender %d not in the validator set of %d", sender, vs.Len())
	}
	var signBytes, sig []byte
	switch m := msg.GetMsg().(type) {
	case *pb.ConsensusMessage_Vote:
		v := m.Vote
		if v.GetVoter() != sender {
			return nil, rejectf("vote by %d sent as %d", v.GetVoter(), sender)
		}
		if len(v.GetBlockHash()) != crypto.HashSize {
			return nil, rejectf("vote block hash of %d bytes", len(v.GetBlockHash()))
		}
		signBytes = crypto.VoteSignBytes(chainID, v.GetView(), v.GetHeight(), v.GetBlockHash())
		sig = v.GetSignature()
	case *pb.ConsensusMessage_Timeout:
		t := m.Timeout
		if t.GetVoter() != sender {
			return nil, rejectf("timeout by %d sent as %d", t.GetVoter(), sender)
		}
		signBytes = crypto.TimeoutSignBytes(chainID, t.GetView(), t.GetHighQc().GetView(), t.GetHighQc().GetHeight())
		sig = t.GetSignature()
	case *pb.ConsensusMessage_Heartbeat:
		h := m.Heartbeat
		if h.GetLeader() != sender {
			return nil, rejectf("heartbeat by %d sent as %d", h.GetLeader(), sender)
		}
		signBytes = crypto.HeartbeatSignBytes(chainID, h.GetView(), h.GetSeq(), h.GetHighQc().GetView(), h.GetHighQc().GetHeight())
		sig = h.GetSignature()
	case *pb.ConsensusMessage_Proposal:
		b := m.Proposal.GetBlock()
		if b == nil {
			return nil, rejectf("proposal without block")
		}
		for i, h := range m.Proposal.GetTxHashes() {
			if len(h) != crypto.HashSize {
				return nil, rejectf("proposal tx hash %d of %d bytes", i, len(h))
			}
		}
		var hdr pb.Header
		if err := proto.Unmarshal(b.GetHeader(), &hdr); err != nil {
			return nil, rejectf("proposal header does not decode: %v", err)
		}
		if hdr.GetChainId() != chainID {
			return nil, rejectf("proposal for chain %q", hdr.GetChainId())
		}
		if hdr.GetProposer() != sender {
			return nil, rejectf("proposal by %d sent as %d", hdr.GetProposer(), sender)
		}
		// The signature covers the header only, and the txs (or their
		// hashes) travel beside it unsigned: any relay could swap them.
		// They must be the ones the header commits to, or a node would
		// store a block whose txs are not the ones the quorum certified.
		if err := checkProposalTxs(m.Proposal, &hdr); err != nil {
			return nil, err
		}
		signBytes = crypto.ProposalSignBytes(chainID, crypto.Hash(b.GetHeader()))
		sig = b.GetSignature()
	case *pb.ConsensusMessage_TimeoutCert:
		tc := m.TimeoutCert
		var own *pb.TimeoutSig
		for _, s := range tc.GetSigs() {
			if s.GetValidator() == sender {
				own = s
				break
			}
		}
		if own == nil {
			// A replica hands a peer that is behind the TC that moves it
			// on, and a TC may have formed from others' timeouts only. No
			// signature in it is the sender's: it passes if all verify.
			if err := checkTCSigs(chainID, vs, sigs, tc); err != nil {
				return nil, err
			}
			return msg, nil
		}
		signBytes = crypto.TimeoutSignBytes(chainID, tc.GetView(), own.GetHighQcView(), own.GetHighQcHeight())
		sig = own.GetSignature()
	default:
		return nil, rejectf("consensus message of unknown kind %T", m)
	}
	if _, err := sigs.Verify(key, signBytes, sig); err != nil {
		return nil, rejectf("sender %d: %v", sender, err)
	}
	return msg, nil
}

// checkTCSigs checks a timeout certificate that carries no timeout of its
// sender: at least one signature, none above the set's size, no validator
// twice, and every signature verifying. Whether they make a quorum is the
// core's check.
func checkTCSigs(chainID string, vs *ValidatorSet, cache *crypto.SigCache, tc *pb.TimeoutCert) error {
	sigs := tc.GetSigs()
	if len(sigs) == 0 || len(sigs) > vs.Len() {
		return rejectf("timeout certificate with %d signatures, validator set of %d", len(sigs), vs.Len())
	}
	seen := make(map[uint32]bool, len(sigs))
	for _, s := range sigs {
		key, ok := vs.Key(s.GetValidator())
		if !ok || seen[s.GetValidator()] {
			return rejectf("timeout certificate signed by validator %d twice or outside the set", s.GetValidator())
		}
		seen[s.GetValidator()] = true
		if _, err := cache.Verify(key, crypto.TimeoutSignBytes(chainID, tc.GetView(), s.GetHighQcView(), s.GetHighQcHeight()), s.GetSignature()); err != nil {
			return rejectf("timeout certificate, validator %d: %v", s.GetValidator(), err)
		}
	}
	return nil
}

// checkProposalTxs checks that a proposal's txs, or in a hash-only
// proposal its tx hashes, are exactly those its header's tx_count and
// tx_root commit to.
func checkProposalTxs(p *pb.Proposal, hdr *pb.Header) error {
	txs, hashes := p.GetBlock().GetTxs(), p.GetTxHashes()
	if len(txs) > 0 && len(hashes) > 0 {
		return rejectf("proposal with both txs and tx hashes")
	}
	if len(hashes) == 0 {
		hashes = make([][]byte, len(txs))
		for i, tx := range txs {
			hashes[i] = crypto.Hash(tx)
		}
	}
	if uint64(len(hashes)) != uint64(hdr.GetTxCount()) || !bytes.Equal(crypto.MerkleRoot(hashes), hdr.GetTxRoot()) {
		return rejectf("proposal txs do not match the header's tx_count and tx_root")
	}
	return nil
}
