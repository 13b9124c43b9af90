package consensus

import (
	"errors"
	"fmt"
	"google.golang.org/protobuf/proto"
	"math"
	"sort"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// errVoteRefused wraps the reasons the vote rule refuses a block.
var errVoteRefused = errors.New("vote refused")

// voteCase is the input of the vote rule: everything it looks at, so the
// rule is a pure function with table tests (vote_test.go).
type voteCase struct {
	View                           uint64 // the replica's view
	LastVotedView, LastVotedHeight uint64
	BlockView, BlockHeight         uint64
	ProposerIsLeader               bool
	JustifyView, JustifyHeight     uint64
	HasTC                          bool
	TCView                         uint64
	TCHighView, TCHighHeight       uint64
}

// voteRule is ARCHITECTURE.md §4 "Vote": in view v vote for B only if B.view = v, B
// comes from L(v), (v, B.height) is above the last (view, height) voted,
// B.height = justify.height + 1, and either B.justify.view = v (normal path)
// or B is the first block of view v: the replica has not voted in v yet,
// B carries TC(v-1), and B.justify is at least the highest QC in that TC.
//
// "First block of view v" is read from the voter's side: a replica takes the
// TC path at most once per view (LastVotedView < v). Without that, a leader
// could start a second chain in v after one already committed a block.
func voteRule(c voteCase, skipTCCheck bool) error {
	if c.BlockView != c.View {
		return fmt.Errorf("%w: block of view %d in view %d", errVoteRefused, c.BlockView, c.View)
	}
	if !c.ProposerIsLeader {
		return fmt.Errorf("%w: proposer is not L(%d)", errVoteRefused, c.View)
	}
	if !posLess(c.LastVotedView, c.LastVotedHeight, c.BlockView, c.BlockHeight) {
		return fmt.Errorf("%w: (%d,%d) is not above last voted (%d,%d)", errVoteRefused, c.BlockView, c.BlockHeight, c.LastVotedView, c.LastVotedHeight)
	}
	if c.BlockHeight != c.JustifyHeight+1 {
		return fmt.Errorf("%w: height %d does not follow justify height %d", errVoteRefused, c.BlockHeight, c.JustifyHeight)
	}
	if c.JustifyView == c.View {
		return nil // normal path
	}
	if c.JustifyView > c.View {
		return fmt.Errorf("%w: justify from a later view", errVoteRefused)
	}
	if skipTCCheck {
		return nil // broken rule, tests only
	}
	if c.LastVotedView >= c.View {
		return fmt.Errorf("%w: already voted in view %d, not its first block", errVoteRefused, c.View)
	}
	if !c.HasTC || c.TCView+1 != c.View {
		return fmt.Errorf("%w: first block of view %d without TC(%d)", errVoteRefused, c.View, c.View-1)
	}
	if posLess(c.JustifyView, c.JustifyHeight, c.TCHighView, c.TCHighHeight) {
		return fmt.Errorf("%w: justify (%d,%d) below TC high QC (%d,%d)", errVoteRefused, c.JustifyView, c.JustifyHeight, c.TCHighView, c.TCHighHeight)
	}
	return nil
}

func (c *Core) voteCaseFor(x *node) voteCase {
	j := x.block.GetJustify()
	vc := voteCase{
		View: c.view, LastVotedView: c.lastVV, LastVotedHeight: c.lastVH,
		BlockView: x.view, BlockHeight: x.height,
		ProposerIsLeader: int(x.hdr.GetProposer()) == c.cfg.Leader(x.view),
		JustifyView:      j.GetView(), JustifyHeight: j.GetHeight(),
	}
	if tc := x.block.GetTc(); tc != nil {
		vc.HasTC, vc.TCView = true, tc.GetView()
		vc.TCHighView, vc.TCHighHeight = tc.GetHighQc().GetView(), tc.GetHighQc().GetHeight()
	}
	return vc
}

// considerVote votes for x if the vote rule allows and the application has
// accepted it, or asks the application first. Preconditions: x is in the
// tree and connected to the committed head.
func (c *Core) considerVote(x *node) {
	if c.self < 0 || x.block == nil || x.view != c.view || x.validation == validationBad {
		return
	}
	if err := voteRule(c.voteCaseFor(x), c.bugs.SkipTCCheck); err != nil {
		return
	}
	switch x.validation {
	case validationOK:
		c.castVote(x)
	case validationNone:
		x.validation = validationPending
		req := ValidationRequest{Hash: x.hash, Block: x.block, Header: x.hdr, StateHeight: x.stateHeight}
		if p := c.blocks[x.parent]; p != nil {
			req.ParentHeader = p.hdr
		}
		c.out.ToValidate = append(c.out.ToValidate, req)
	}
}

// castVote records the vote in the safety state (saved before the vote is
// sent, see Ready) and broadcasts it.
func (c *Core) castVote(x *node) {
	c.lastVV, c.lastVH, c.lastVotedKey = x.view, x.height, x.key
	c.safetyDirty = true
	sig := c.sign(crypto.VoteSignBytes(c.cfg.Domain(), x.view, x.height, x.hash))
	v := &pb.Vote{View: x.view, Height: x.height, BlockHash: x.hash, Voter: uint32(c.self), Signature: sig}
	c.stats.Votes++
	c.broadcast(&pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Vote{Vote: v}})
	c.addVote(v)
}

// timedOut reports whether the replica has given up on view w (it sent a
// timeout for w or voted in a later view).
func (c *Core) timedOut(w uint64) bool {
	return c.lastVV > w || (c.lastVV == w && c.lastVH == math.MaxUint64)
}

type votePos struct {
	voter  uint32
	view   uint64
	height uint64
}

type voteKey struct {
	view, height uint64
	hash         string
}

// voteWindow bounds how far above the committed height a vote may be.
const voteWindow = 1024

func (c *Core) onVote(sender uint32, v *pb.Vote) error {
	if v.GetVoter() != sender {
		return invalid("vote by %d sent as %d", v.GetVoter(), sender)
	}
	if v.GetView() < c.view || v.GetHeight() <= c.committedHeight {
		c.stats.Ignored++
		return nil
	}
	if v.GetHeight() > c.committedHeight+voteWindow {
		c.stats.Dropped++
		return nil
	}
	if v.GetView() > c.view {
		c.buffer(sender, v.GetView(), &pb.ConsensusMessage{Sender: sender, Msg: &pb.ConsensusMessage_Vote{Vote: v}})
		return nil
	}
	if err := c.ver.vote(v); err != nil {
		return err
	}
	pos := votePos{v.GetVoter(), v.GetView(), v.GetHeight()}
	if prev, ok := c.seenVotes[pos]; ok {
		if string(prev.GetBlockHash()) != string(v.GetBlockHash()) && !c.evidenceSeen[pos] {
			c.evidenceSeen[pos] = true
			c.stats.Evidence++
			c.out.Evidence = append(c.out.Evidence, &pb.EquivocationEvidence{VoteA: prev, VoteB: v, Epoch: proto.Uint64(c.cfg.Epoch)})
		}
		c.stats.Ignored++
		return nil
	}
	c.addVote(v)
	return nil
}

// addVote counts a verified vote and forms the QC at q votes.
func (c *Core) addVote(v *pb.Vote) {
	pos := votePos{v.GetVoter(), v.GetView(), v.GetHeight()}
	if _, ok := c.seenVotes[pos]; ok {
		return
	}
	c.seenVotes[pos] = v
	k := voteKey{v.GetView(), v.GetHeight(), string(v.GetBlockHash())}
	set := c.votes[k]
	if set == nil {
		set = map[uint32][]byte{}
		c.votes[k] = set
	}
	set[v.GetVoter()] = v.GetSignature()
	if len(set) != c.q {
		return // below quorum, or the QC is already formed
	}
	qc := &pb.QuorumCert{View: v.GetView(), Height: v.GetHeight(), BlockHash: v.GetBlockHash()}
	for idx, sig := range set {
		qc.Sigs = append(qc.Sigs, &pb.ValidatorSig{Validator: idx, Signature: sig})
	}
	sort.Slice(qc.Sigs, func(i, j int) bool { return qc.Sigs[i].Validator < qc.Sigs[j].Validator })
	c.onVerifiedQC(qc, int(v.GetVoter()))
}
