package consensus

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// ErrInvalid wraps every reason a message or certificate is rejected as
// provably bad (the sender may be penalised).
var ErrInvalid = errors.New("consensus: invalid message")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// verifier checks signatures and certificates against a validator set,
// through a SigCache, so a vote seen alone and again inside a QC is checked
// once.
type verifier struct {
	chainID    string
	suite      crypto.Suite
	domain     string         // sign domain of the epoch (Config.Domain)
	root       *pb.QuorumCert // the epoch's root QC (Config.RootQC)
	validators []*pb.PublicKey
	q          int
	weakTC     bool

	cache    *crypto.SigCache
	verified *uint64
	hits     *uint64
}

func newVerifier(cfg *Config, verified, hits *uint64) *verifier {
	cache := cfg.SigCache
	if cache == nil {
		cache = crypto.NewSigCache(cfg.VerifyCacheSize)
	}
	return &verifier{
		chainID: cfg.ChainID, suite: cfg.Suite, domain: cfg.Domain(), root: cfg.RootQC(), validators: cfg.Validators,
		q: cfg.quorum(), weakTC: cfg.bug().WeakTC,
		cache: cache, verified: verified, hits: hits,
	}
}

// sig verifies one signature by validator idx over msg.
func (v *verifier) sig(kind crypto.Kind, idx uint32, msg, sig []byte) error {
	if int(idx) >= len(v.validators) {
		return invalid("%s signer %d out of range", kind, idx)
	}
	hit, err := v.cache.Verify(v.validators[idx], msg, sig)
	if hit {
		*v.hits++
		return nil
	}
	*v.verified++
	if err != nil {
		return invalid("%s signature of validator %d: %v", kind, idx, err)
	}
	return nil
}

func (v *verifier) isRootQC(qc *pb.QuorumCert) bool {
	return qc.GetHeight() == v.root.GetHeight() && qc.GetView() == v.root.GetView() && bytes.Equal(qc.GetBlockHash(), v.root.GetBlockHash())
}

// qc checks a quorum certificate: the epoch's root QC (the genesis QC for
// the genesis set), or at least q distinct in-range signers whose vote
// signatures verify. Nothing at or below the root is certified by this
// epoch's set: the root is taken as it is, anything else there refused.
func (v *verifier) qc(qc *pb.QuorumCert) error {
	if qc == nil {
		return invalid("missing QC")
	}
	if len(qc.GetBlockHash()) != crypto.HashSize {
		return invalid("QC block hash is %d bytes", len(qc.GetBlockHash()))
	}
	if qc.GetHeight() <= v.root.GetHeight() {
		if !v.isRootQC(qc) || len(qc.GetSigs()) != 0 {
			return invalid("QC at height %d is not the root QC (height %d) of this validator set", qc.GetHeight(), v.root.GetHeight())
		}
		return nil
	}
	if len(qc.GetSigs()) > len(v.validators) {
		return invalid("QC has %d signatures for %d validators", len(qc.GetSigs()), len(v.validators))
	}
	if len(qc.GetSigs()) < v.q {
		return invalid("QC has %d signatures, quorum is %d", len(qc.GetSigs()), v.q)
	}
	msg := crypto.VoteSignBytes(v.domain, qc.GetView(), qc.GetHeight(), qc.GetBlockHash())
	seen := make(map[uint32]bool, len(qc.GetSigs()))
	for _, s := range qc.GetSigs() {
		if seen[s.GetValidator()] {
			return invalid("QC signer %d twice", s.GetValidator())
		}
		seen[s.GetValidator()] = true
		if err := v.sig(crypto.KindVote, s.GetValidator(), msg, s.GetSignature()); err != nil {
			return err
		}
	}
	return nil
}

// tc checks a timeout certificate: q distinct signers over their own high QC
// positions, a valid high QC, and that high QC is exactly the highest
// position signed (so a TC cannot hide a higher QC).
func (v *verifier) tc(tc *pb.TimeoutCert) error {
	if tc == nil {
		return invalid("missing TC")
	}
	need := v.q
	if v.weakTC {
		need-- // broken rule for tests only
	}
	if len(tc.GetSigs()) > len(v.validators) || len(tc.GetSigs()) < need {
		return invalid("TC has %d signatures, quorum is %d", len(tc.GetSigs()), v.q)
	}
	hq := tc.GetHighQc()
	if err := v.qc(hq); err != nil {
		return fmt.Errorf("TC high QC: %w", err)
	}
	if hq.GetView() > tc.GetView() {
		return invalid("TC(%d) high QC from view %d", tc.GetView(), hq.GetView())
	}
	var maxV, maxH uint64
	seen := make(map[uint32]bool, len(tc.GetSigs()))
	for _, s := range tc.GetSigs() {
		if seen[s.GetValidator()] {
			return invalid("TC signer %d twice", s.GetValidator())
		}
		seen[s.GetValidator()] = true
		if posLess(maxV, maxH, s.GetHighQcView(), s.GetHighQcHeight()) {
			maxV, maxH = s.GetHighQcView(), s.GetHighQcHeight()
		}
		msg := crypto.TimeoutSignBytes(v.domain, tc.GetView(), s.GetHighQcView(), s.GetHighQcHeight())
		if err := v.sig(crypto.KindTimeout, s.GetValidator(), msg, s.GetSignature()); err != nil {
			return err
		}
	}
	if maxV != hq.GetView() || maxH != hq.GetHeight() {
		return invalid("TC(%d) high QC (%d,%d) is not the highest signed (%d,%d)", tc.GetView(), hq.GetView(), hq.GetHeight(), maxV, maxH)
	}
	return nil
}

func (v *verifier) vote(vt *pb.Vote) error {
	if len(vt.GetBlockHash()) != crypto.HashSize {
		return invalid("vote block hash is %d bytes", len(vt.GetBlockHash()))
	}
	if vt.GetHeight() <= v.root.GetHeight() {
		return invalid("vote at height %d, at or below the root %d", vt.GetHeight(), v.root.GetHeight())
	}
	return v.sig(crypto.KindVote, vt.GetVoter(), crypto.VoteSignBytes(v.domain, vt.GetView(), vt.GetHeight(), vt.GetBlockHash()), vt.GetSignature())
}

func (v *verifier) timeout(t *pb.Timeout) error {
	if err := v.qc(t.GetHighQc()); err != nil {
		return fmt.Errorf("timeout high QC: %w", err)
	}
	if t.GetHighQc().GetView() > t.GetView() {
		return invalid("timeout(%d) with high QC of view %d", t.GetView(), t.GetHighQc().GetView())
	}
	msg := crypto.TimeoutSignBytes(v.domain, t.GetView(), t.GetHighQc().GetView(), t.GetHighQc().GetHeight())
	return v.sig(crypto.KindTimeout, t.GetVoter(), msg, t.GetSignature())
}

func (v *verifier) heartbeat(h *pb.Heartbeat) error {
	if err := v.qc(h.GetHighQc()); err != nil {
		return fmt.Errorf("heartbeat high QC: %w", err)
	}
	msg := crypto.HeartbeatSignBytes(v.domain, h.GetView(), h.GetSeq(), h.GetHighQc().GetView(), h.GetHighQc().GetHeight())
	return v.sig(crypto.KindHeartbeat, h.GetLeader(), msg, h.GetSignature())
}

// decodedBlock is a structurally valid, signature-checked block.
type decodedBlock struct {
	hash   []byte
	block  *pb.Block
	header *pb.Header
}

// blockLimits are the size bounds for a proposal.
type blockLimits struct {
	maxTxs, maxTxBytes, maxHeader int
}

// block checks a proposed block: sizes, header decoding, consensus fields
// against the justify QC, the proposer's leadership and signature, and the
// QC and TC it carries. It does not apply the vote rule.
func (v *verifier) block(b *pb.Block, lim blockLimits) (*decodedBlock, error) {
	if b == nil {
		return nil, invalid("missing block")
	}
	if len(b.GetHeader()) == 0 || len(b.GetHeader()) > lim.maxHeader {
		return nil, invalid("header is %d bytes", len(b.GetHeader()))
	}
	if len(b.GetTxs()) > lim.maxTxs {
		return nil, invalid("block has %d txs, max %d", len(b.GetTxs()), lim.maxTxs)
	}
	for _, tx := range b.GetTxs() {
		if len(tx) > lim.maxTxBytes {
			return nil, invalid("tx of %d bytes", len(tx))
		}
	}
	hdr := new(pb.Header)
	if err := proto.Unmarshal(b.GetHeader(), hdr); err != nil {
		return nil, invalid("decode header: %v", err)
	}
	if hdr.GetChainId() != v.chainID {
		return nil, invalid("header chain id %q", hdr.GetChainId())
	}
	if hdr.GetCryptoSuite() != v.suite.HeaderName() {
		return nil, invalid("header names crypto suite %q, the chain's is %s", hdr.GetCryptoSuite(), v.suite)
	}
	if hdr.GetHeight() <= v.root.GetHeight() {
		return nil, invalid("block at height %d, at or below the root %d", hdr.GetHeight(), v.root.GetHeight())
	}
	n := uint64(len(v.validators))
	if uint64(hdr.GetProposer()) != hdr.GetView()%n {
		return nil, invalid("proposer %d is not the leader of view %d", hdr.GetProposer(), hdr.GetView())
	}
	j := b.GetJustify()
	if j == nil || hdr.GetHeight() != j.GetHeight()+1 || !bytes.Equal(hdr.GetParentHash(), j.GetBlockHash()) {
		return nil, invalid("justify does not certify the parent")
	}
	if j.GetView() > hdr.GetView() {
		return nil, invalid("justify from view %d in a block of view %d", j.GetView(), hdr.GetView())
	}
	hash := v.suite.Hash(b.GetHeader())
	if err := v.sig(crypto.KindProposal, hdr.GetProposer(), crypto.ProposalSignBytes(v.domain, hash), b.GetSignature()); err != nil {
		return nil, err
	}
	if err := v.qc(j); err != nil {
		return nil, fmt.Errorf("justify: %w", err)
	}
	if tc := b.GetTc(); tc != nil {
		if tc.GetView()+1 != hdr.GetView() {
			return nil, invalid("block of view %d carries TC(%d)", hdr.GetView(), tc.GetView())
		}
		if err := v.tc(tc); err != nil {
			return nil, fmt.Errorf("block TC: %w", err)
		}
	}
	return &decodedBlock{hash: hash, block: b, header: hdr}, nil
}

// posLess orders (view, height) positions.
func posLess(v1, h1, v2, h2 uint64) bool {
	return v1 < v2 || (v1 == v2 && h1 < h2)
}

// qcLess orders QCs by (view, height); nil is the lowest.
func qcLess(a, b *pb.QuorumCert) bool {
	return posLess(a.GetView(), a.GetHeight(), b.GetView(), b.GetHeight())
}
