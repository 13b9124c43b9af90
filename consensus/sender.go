package consensus

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// ErrOtherEpoch marks a consensus message of another validator set
// (CheckSender): not provably bad, only not for this epoch.
var ErrOtherEpoch = errors.New("consensus: message of another epoch")

// ValidatorKeys is a validator set as CheckSender reads it: validator i's
// key, and the set's size. p2p's ValidatorSet implements it.
type ValidatorKeys interface {
	Key(i uint32) (*pb.PublicKey, bool)
	Len() int
}

// CheckSender is the check p2p's direct protocol runs on a consensus
// message as it arrives: the message names a sender in vs and is signed by
// that sender, so a peer that sends a forgery can be penalised and nothing
// unsigned reaches the core. It is the only definition of "signed by the
// sender" (p2p calls it through the node; the core checks
// certificates and the vote rule on delivery, not this). Cheap checks come
// first, the signature last; errors wrap ErrInvalid. cache may be nil.
//
// Per kind:
//   - vote, timeout: the voter is the sender and its signature verifies;
//   - heartbeat: the leader is the sender and its signature verifies;
//   - proposal: the header decodes, names this chain and the sender as
//     proposer, the txs (or, in a hash-only proposal, their hashes) are the
//     ones the header's tx_count and tx_root commit to (the signature covers
//     the header only, so a relay could otherwise swap them), and the block
//     signature verifies over the block hash;
//   - timeout certificate: an aggregate with no single signer; when the
//     sender is one of its signers its own timeout inside it must verify,
//     otherwise (a replica handing a lagging peer the TC that moves it on)
//     every signature in it must.
//
// vs is the validator set of epoch (Config.Epoch); a message of another
// epoch is refused with ErrOtherEpoch before anything else, since its
// sender index and signature are another set's: it proves nothing against
// the peer that relayed it.
func CheckSender(chainID string, suite crypto.Suite, epoch uint64, vs ValidatorKeys, cache *crypto.SigCache, m *pb.ConsensusMessage) error {
	if m.GetEpoch() != epoch {
		return fmt.Errorf("%w: message of epoch %d, this node is in epoch %d", ErrOtherEpoch, m.GetEpoch(), epoch)
	}
	if m.GetMsg() == nil {
		return invalid("consensus message of unknown kind")
	}
	domain := SignDomain(chainID, epoch)
	sender := m.GetSender()
	key, ok := vs.Key(sender)
	if !ok {
		return invalid("sender %d not in the validator set of %d", sender, vs.Len())
	}
	var signBytes, sig []byte
	switch x := m.GetMsg().(type) {
	case *pb.ConsensusMessage_Vote:
		v := x.Vote
		if v.GetVoter() != sender {
			return invalid("vote by %d sent as %d", v.GetVoter(), sender)
		}
		if len(v.GetBlockHash()) != crypto.HashSize {
			return invalid("vote block hash of %d bytes", len(v.GetBlockHash()))
		}
		signBytes = crypto.VoteSignBytes(domain, v.GetView(), v.GetHeight(), v.GetBlockHash())
		sig = v.GetSignature()
	case *pb.ConsensusMessage_Timeout:
		t := x.Timeout
		if t.GetVoter() != sender {
			return invalid("timeout by %d sent as %d", t.GetVoter(), sender)
		}
		signBytes = crypto.TimeoutSignBytes(domain, t.GetView(), t.GetHighQc().GetView(), t.GetHighQc().GetHeight())
		sig = t.GetSignature()
	case *pb.ConsensusMessage_Heartbeat:
		h := x.Heartbeat
		if h.GetLeader() != sender {
			return invalid("heartbeat by %d sent as %d", h.GetLeader(), sender)
		}
		signBytes = crypto.HeartbeatSignBytes(domain, h.GetView(), h.GetSeq(), h.GetHighQc().GetView(), h.GetHighQc().GetHeight())
		sig = h.GetSignature()
	case *pb.ConsensusMessage_Proposal:
		b := x.Proposal.GetBlock()
		if b == nil {
			return invalid("proposal without block")
		}
		for i, h := range x.Proposal.GetTxHashes() {
			if len(h) != crypto.HashSize {
				return invalid("proposal tx hash %d of %d bytes", i, len(h))
			}
		}
		var hdr pb.Header
		if err := proto.Unmarshal(b.GetHeader(), &hdr); err != nil {
			return invalid("proposal header does not decode: %v", err)
		}
		if hdr.GetChainId() != chainID {
			return invalid("proposal for chain %q", hdr.GetChainId())
		}
		if hdr.GetCryptoSuite() != suite.HeaderName() {
			return invalid("proposal header names crypto suite %q, the chain's is %s", hdr.GetCryptoSuite(), suite)
		}
		if hdr.GetProposer() != sender {
			return invalid("proposal by %d sent as %d", hdr.GetProposer(), sender)
		}
		if err := checkProposalTxs(suite, x.Proposal, &hdr); err != nil {
			return err
		}
		signBytes = crypto.ProposalSignBytes(domain, suite.Hash(b.GetHeader()))
		sig = b.GetSignature()
	case *pb.ConsensusMessage_TimeoutCert:
		tc := x.TimeoutCert
		var own *pb.TimeoutSig
		for _, s := range tc.GetSigs() {
			if s.GetValidator() == sender {
				own = s
				break
			}
		}
		if own == nil {
			return checkTCSigs(domain, vs, cache, tc)
		}
		signBytes = crypto.TimeoutSignBytes(domain, tc.GetView(), own.GetHighQcView(), own.GetHighQcHeight())
		sig = own.GetSignature()
	default:
		return invalid("consensus message of unknown kind %T", x)
	}
	if _, err := cache.Verify(key, signBytes, sig); err != nil {
		return invalid("sender %d: %v", sender, err)
	}
	return nil
}

// checkTCSigs checks a timeout certificate that carries no timeout of its
// sender: at least one signature, none above the set's size, no validator
// twice, and every signature verifying. Whether they make a quorum is the
// core's check.
func checkTCSigs(domain string, vs ValidatorKeys, cache *crypto.SigCache, tc *pb.TimeoutCert) error {
	sigs := tc.GetSigs()
	if len(sigs) == 0 || len(sigs) > vs.Len() {
		return invalid("timeout certificate with %d signatures, validator set of %d", len(sigs), vs.Len())
	}
	seen := make(map[uint32]bool, len(sigs))
	for _, s := range sigs {
		key, ok := vs.Key(s.GetValidator())
		if !ok || seen[s.GetValidator()] {
			return invalid("timeout certificate signed by validator %d twice or outside the set", s.GetValidator())
		}
		seen[s.GetValidator()] = true
		if _, err := cache.Verify(key, crypto.TimeoutSignBytes(domain, tc.GetView(), s.GetHighQcView(), s.GetHighQcHeight()), s.GetSignature()); err != nil {
			return invalid("timeout certificate, validator %d: %v", s.GetValidator(), err)
		}
	}
	return nil
}

// checkProposalTxs checks that a proposal's txs, or in a hash-only
// proposal its tx hashes, are exactly those its header's tx_count and
// tx_root commit to.
func checkProposalTxs(suite crypto.Suite, p *pb.Proposal, hdr *pb.Header) error {
	txs, hashes := p.GetBlock().GetTxs(), p.GetTxHashes()
	if len(txs) > 0 && len(hashes) > 0 {
		return invalid("proposal with both txs and tx hashes")
	}
	if len(hashes) == 0 {
		hashes = make([][]byte, len(txs))
		for i, tx := range txs {
			hashes[i] = suite.Hash(tx)
		}
	}
	if uint64(len(hashes)) != uint64(hdr.GetTxCount()) || !bytes.Equal(suite.MerkleRoot(hashes), hdr.GetTxRoot()) {
		return invalid("proposal txs do not match the header's tx_count and tx_root")
	}
	return nil
}
