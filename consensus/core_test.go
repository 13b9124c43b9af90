package consensus_test

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestCommitAndFinalize: a tx block commits on a two-chain, the leader adds
// empty blocks only until a committed header attests the tx block's state,
// then heartbeats (ARCHITECTURE.md §4 "Commit", "Pipelining").
func TestCommitAndFinalize(t *testing.T) {
	for _, model := range []consensus.FaultModel{consensus.Crash, consensus.Byzantine} {
		t.Run(string(model), func(t *testing.T) {
			h := newHarness(t, 4, model)
			h.pending[0] = true
			h.deliver()
			h.tick(3 * h.cfg.HeartbeatTicks)
			for i := range h.cores {
				cs := h.committed[i]
				if len(cs) != 3 {
					t.Fatalf("replica %d committed %d blocks, want 3 (tx block, and two empties up to the attesting header)", i, len(cs))
				}
				if len(cs[0].Block.GetTxs()) != 1 || cs[2].Header.GetStateHeight() != 1 {
					t.Fatalf("replica %d: want tx at height 1 attested by header 3, got state_height %d", i, cs[2].Header.GetStateHeight())
				}
			}
			st := h.cores[0].Stats()
			if st.Proposals != 4 || st.Heartbeats == 0 {
				t.Fatalf("leader proposed %d blocks and sent %d heartbeats; want 4 and some", st.Proposals, st.Heartbeats)
			}
			// Idle with heartbeats: nobody times out.
			h.tick(5 * h.cfg.BaseTimeoutTicks)
			for i, c := range h.cores {
				if c.Stats().Timeouts != 0 || c.Status().View != 0 {
					t.Fatalf("replica %d timed out under heartbeats", i)
				}
			}
		})
	}
}

// TestCommitCertificates: every committed block verifies with VerifyCommit,
// and a tampered certificate does not.
func TestCommitCertificates(t *testing.T) {
	h := newHarness(t, 4, consensus.Byzantine)
	h.pending[0] = true
	h.deliver()
	cs := h.committed[1]
	if len(cs) == 0 {
		t.Fatal("nothing committed")
	}
	for i, cb := range cs {
		var chain [][]byte
		for _, later := range cs[i+1:] {
			if later.Height <= cb.Cert.GetHeight() {
				chain = append(chain, later.Block.GetHeader())
			}
		}
		if err := consensus.VerifyCommit(h.cfg, cb.Block, cb.Cert, chain); err != nil {
			t.Fatalf("height %d: %v", cb.Height, err)
		}
	}
	cb := cs[len(cs)-1]
	bad := proto.Clone(cb.Cert).(*pb.CommitCert)
	bad.ChildQc.Sigs = bad.ChildQc.Sigs[:2]
	if err := consensus.VerifyCommit(h.cfg, cb.Block, bad, nil); !errors.Is(err, consensus.ErrInvalid) {
		t.Fatalf("short QC: %v", err)
	}
	bad = proto.Clone(cb.Cert).(*pb.CommitCert)
	bad.BlockHash = crypto.Ed25519SHA256.Hash([]byte("other"))
	if err := consensus.VerifyCommit(h.cfg, cb.Block, bad, nil); !errors.Is(err, consensus.ErrInvalid) {
		t.Fatalf("other block: %v", err)
	}
	if err := consensus.VerifyCommit(h.cfg, cs[0].Block, cb.Cert, nil); !errors.Is(err, consensus.ErrInvalid) && cs[0].Height != cb.Height {
		t.Fatalf("ancestor without chain: %v", err)
	}
}

// TestRestartNeverVotesTwice: a replica restarted from its persisted state
// does not vote again at a (view, height) it voted at, for the same block
// or a twin (ARCHITECTURE.md §4 "Persist before you speak").
func TestRestartNeverVotesTwice(t *testing.T) {
	h := newHarness(t, 4, consensus.Byzantine)
	// Capture the leader's first proposal; only replica 1 sees it.
	h.drop = func(from, to int, m *pb.ConsensusMessage) bool { return to != 1 }
	h.pending[0] = true
	h.deliver()
	var prop *pb.ConsensusMessage
	for _, m := range h.sent[0] {
		if m.GetProposal() != nil {
			prop = m
			break
		}
	}
	if prop == nil || h.cores[1].Stats().Votes != 1 {
		t.Fatalf("setup: proposal %v, votes %d", prop != nil, h.cores[1].Stats().Votes)
	}
	// Twin: same (view, height), another header, signed by the leader.
	hdr := new(pb.Header)
	_ = proto.Unmarshal(prop.GetProposal().GetBlock().GetHeader(), hdr)
	hdr.TimeUnixMs = 99
	hb, _ := proto.Marshal(hdr)
	twin := proto.Clone(prop).(*pb.ConsensusMessage)
	twin.GetProposal().Block.Header = hb
	twin.GetProposal().Block.Signature, _ = h.keys[0].Sign(crypto.ProposalSignBytes(h.cfg.ChainID, crypto.Ed25519SHA256.Hash(hb)))

	h.cores[1] = nil
	h.start(1)
	for _, m := range []*pb.ConsensusMessage{prop, twin} {
		if err := h.cores[1].Step(m); err != nil {
			t.Fatal(err)
		}
		rd := h.cores[1].Ready()
		for _, v := range rd.ToValidate {
			h.cores[1].Validated(v.Hash, true)
		}
		rd = h.cores[1].Ready()
		for _, e := range rd.Messages {
			if e.Msg.GetVote() != nil {
				t.Fatalf("restarted replica voted again at (%d,%d)", e.Msg.GetVote().GetView(), e.Msg.GetVote().GetHeight())
			}
		}
	}
}

// TestApplicationRefusal: a block the application refuses gets no vote.
func TestApplicationRefusal(t *testing.T) {
	h := newHarness(t, 4, consensus.Byzantine)
	h.drop = func(from, to int, m *pb.ConsensusMessage) bool {
		if p := m.GetProposal(); p != nil {
			h.reject[string(crypto.Ed25519SHA256.Hash(p.GetBlock().GetHeader()))] = true
		}
		return false
	}
	h.pending[0] = true
	h.deliver()
	for i := 1; i < 4; i++ {
		if v := h.cores[i].Stats().Votes; v != 0 {
			t.Fatalf("replica %d voted %d times for refused blocks", i, v)
		}
	}
}

// TestCensoringLeaderReplaced: a follower whose mempool holds txs times out
// although the leader heartbeats; with an empty mempool it does not.
func TestCensoringLeaderReplaced(t *testing.T) {
	h := newHarness(t, 4, consensus.Byzantine)
	h.tick(4 * h.cfg.BaseTimeoutTicks)
	if h.cores[1].Stats().Timeouts != 0 {
		t.Fatal("idle follower timed out under heartbeats")
	}
	h.pending[1], h.pending[2], h.pending[3] = true, true, true // the leader's mempool stays empty
	h.tick(3 * h.cfg.BaseTimeoutTicks)
	if h.cores[1].Stats().Timeouts == 0 {
		t.Fatal("follower did not time out on a leader that heartbeats while txs wait")
	}
	if v := h.cores[1].Status().View; v == 0 {
		t.Fatalf("view did not change (view %d)", v)
	}
}

// TestViewChangeOnCrashedLeader: with the leader down, the others form a
// TC, move on, and the next leader commits (ARCHITECTURE.md §4 "Timeout", "New view").
func TestViewChangeOnCrashedLeader(t *testing.T) {
	for _, model := range []consensus.FaultModel{consensus.Crash, consensus.Byzantine} {
		t.Run(string(model), func(t *testing.T) {
			h := newHarness(t, 4, model)
			h.cores[0] = nil
			h.pending[1] = true
			h.tick(4 * h.cfg.BaseTimeoutTicks)
			for i := 1; i < 4; i++ {
				if h.cores[i].Status().View == 0 || h.cores[i].Status().CommittedHeight == 0 {
					t.Fatalf("replica %d: %+v", i, h.cores[i].Status())
				}
			}
		})
	}
}

func sign(t *testing.T, k crypto.PrivateKey, msg []byte) []byte {
	t.Helper()
	s, err := k.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestVerificationRejects: untrusted inputs that are provably bad are
// refused with ErrInvalid and counted, and change nothing.
func TestVerificationRejects(t *testing.T) {
	h := newHarness(t, 4, consensus.Byzantine)
	h.pending[0] = true
	h.deliver()
	var prop *pb.Block
	for _, m := range h.sent[0] {
		if p := m.GetProposal(); p != nil {
			prop = p.GetBlock() // the last proposal: its justify is a real QC
		}
	}
	chain := h.cfg.ChainID
	hash := crypto.Ed25519SHA256.Hash([]byte("x"))
	vote := func(voter uint32, sig []byte) *pb.ConsensusMessage {
		return &pb.ConsensusMessage{Sender: voter, Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{View: 0, Height: 50, BlockHash: hash, Voter: voter, Signature: sig}}}
	}
	goodSig := sign(t, h.keys[2], crypto.VoteSignBytes(chain, 0, 50, hash))
	// withBlock makes a fresh, validly signed block (unknown to the core)
	// and then breaks it with f.
	withBlock := func(f func(b *pb.Block)) *pb.ConsensusMessage {
		b := proto.Clone(prop).(*pb.Block)
		hdr := new(pb.Header)
		_ = proto.Unmarshal(b.Header, hdr)
		hdr.TimeUnixMs = 12345
		b.Header, _ = proto.Marshal(hdr)
		b.Signature = sign(t, h.keys[hdr.GetProposer()], crypto.ProposalSignBytes(chain, crypto.Ed25519SHA256.Hash(b.Header)))
		f(b)
		return &pb.ConsensusMessage{Sender: 2, Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{Block: b}}}
	}
	tcOf := func(n int, high *pb.QuorumCert) *pb.ConsensusMessage {
		tc := &pb.TimeoutCert{View: 0, HighQc: high}
		for i := 0; i < n; i++ {
			tc.Sigs = append(tc.Sigs, &pb.TimeoutSig{Validator: uint32(i), HighQcView: high.GetView(), HighQcHeight: high.GetHeight(),
				Signature: sign(t, h.keys[i], crypto.TimeoutSignBytes(chain, 0, high.GetView(), high.GetHeight()))})
		}
		return &pb.ConsensusMessage{Sender: 3, Msg: &pb.ConsensusMessage_TimeoutCert{TimeoutCert: tc}}
	}
	genesis := &pb.QuorumCert{BlockHash: h.cfg.GenesisHash}
	tests := []struct {
		name string
		m    *pb.ConsensusMessage
	}{
		{"nil", nil},
		{"empty", &pb.ConsensusMessage{Sender: 1}},
		{"sender out of range", &pb.ConsensusMessage{Sender: 9, Msg: vote(2, goodSig).Msg}},
		{"vote with a bad signature", vote(2, append([]byte{1}, goodSig[1:]...))},
		{"vote sent by another validator", &pb.ConsensusMessage{Sender: 1, Msg: vote(2, goodSig).Msg}},
		{"vote with a short hash", &pb.ConsensusMessage{Sender: 2, Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{Height: 50, BlockHash: []byte{1}, Voter: 2, Signature: goodSig}}}},
		{"proposal with a bad signature", withBlock(func(b *pb.Block) { b.Signature = append([]byte{0}, b.Signature[1:]...) })},
		{"QC with a duplicate signer", withBlock(func(b *pb.Block) { b.Justify.Sigs[1] = b.Justify.Sigs[0] })},
		{"QC one short of quorum", withBlock(func(b *pb.Block) { b.Justify.Sigs = b.Justify.Sigs[:2] })},
		{"QC signer out of range", withBlock(func(b *pb.Block) { b.Justify.Sigs[0].Validator = 40 })},
		{"QC for another block", withBlock(func(b *pb.Block) { b.Justify.BlockHash = hash })},
		{"oversized header", withBlock(func(b *pb.Block) { b.Header = make([]byte, 10000) })},
		{"undecodable header", withBlock(func(b *pb.Block) { b.Header = []byte{0xff, 0xff} })},
		{"too many txs", withBlock(func(b *pb.Block) { b.Txs = make([][]byte, h.cfg.MaxBlockTxs+1) })},
		{"TC one short of quorum", tcOf(2, genesis)},
		{"TC hiding a higher QC", func() *pb.ConsensusMessage {
			m := tcOf(3, genesis)
			m.GetTimeoutCert().Sigs[0] = &pb.TimeoutSig{Validator: 0, HighQcView: 0, HighQcHeight: 2,
				Signature: sign(t, h.keys[0], crypto.TimeoutSignBytes(chain, 0, 0, 2))}
			return m
		}()},
		{"heartbeat from a non-leader", &pb.ConsensusMessage{Sender: 2, Msg: &pb.ConsensusMessage_Heartbeat{Heartbeat: &pb.Heartbeat{View: 0, Leader: 2, HighQc: genesis, Seq: 100,
			Signature: sign(t, h.keys[2], crypto.HeartbeatSignBytes(chain, 0, 100, 0, 0))}}}},
		{"timeout with a forged signature", &pb.ConsensusMessage{Sender: 2, Msg: &pb.ConsensusMessage_Timeout{Timeout: &pb.Timeout{View: 0, HighQc: genesis, Voter: 2, Signature: goodSig}}}},
	}
	c := h.cores[3]
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, st := c.Status(), c.Stats()
			err := c.Step(tc.m)
			if !errors.Is(err, consensus.ErrInvalid) {
				t.Fatalf("Step = %v, want ErrInvalid", err)
			}
			if c.Stats().Invalid != st.Invalid+1 {
				t.Fatal("not counted")
			}
			if after := c.Status(); after.View != before.View || after.HighQCHeight != before.HighQCHeight || !bytes.Equal(after.CommittedHash, before.CommittedHash) {
				t.Fatalf("state changed: %+v -> %+v", before, after)
			}
			if rd := c.Ready(); len(rd.Messages) != 0 || len(rd.Committed) != 0 {
				t.Fatalf("bad input produced output: %+v", rd)
			}
		})
	}
}

// TestSignatureVerifiedOnce: a vote delivered twice, then inside a QC, is
// verified once (the cache).
func TestSignatureVerifiedOnce(t *testing.T) {
	h := newHarness(t, 4, consensus.Byzantine)
	c := h.cores[3]
	hash := crypto.Ed25519SHA256.Hash([]byte("b"))
	qc := &pb.QuorumCert{View: 0, Height: 1, BlockHash: hash}
	for i := 0; i < 3; i++ {
		qc.Sigs = append(qc.Sigs, &pb.ValidatorSig{Validator: uint32(i), Signature: sign(t, h.keys[i], crypto.VoteSignBytes(h.cfg.ChainID, 0, 1, hash))})
	}
	v := &pb.ConsensusMessage{Sender: 1, Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{View: 0, Height: 1, BlockHash: hash, Voter: 1, Signature: qc.Sigs[1].Signature}}}
	_ = c.Step(v)
	_ = c.Step(v)
	hb := &pb.ConsensusMessage{Sender: 0, Msg: &pb.ConsensusMessage_Heartbeat{Heartbeat: &pb.Heartbeat{View: 0, Leader: 0, HighQc: qc, Seq: 1,
		Signature: sign(t, h.keys[0], crypto.HeartbeatSignBytes(h.cfg.ChainID, 0, 1, 0, 1))}}}
	if err := c.Step(hb); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	// Verified: the vote, the 2 other QC signatures, the heartbeat. Cache
	// hits: the repeated vote and its signature inside the QC.
	if st.Verified != 4 || st.CacheHits != 2 {
		t.Fatalf("verified %d, cache hits %d; want 4 and 2", st.Verified, st.CacheHits)
	}
}

// TestEquivocationEvidence: two votes by one validator at one (view,
// height) for different blocks yield evidence, once.
func TestEquivocationEvidence(t *testing.T) {
	h := newHarness(t, 4, consensus.Byzantine)
	c := h.cores[3]
	for _, b := range []string{"a", "b", "c"} {
		hash := crypto.Ed25519SHA256.Hash([]byte(b))
		_ = c.Step(&pb.ConsensusMessage{Sender: 1, Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{View: 0, Height: 1, BlockHash: hash, Voter: 1,
			Signature: sign(t, h.keys[1], crypto.VoteSignBytes(h.cfg.ChainID, 0, 1, hash))}}})
	}
	rd := c.Ready()
	// It names its epoch (the genesis set's, 0), so it is checked
	// against that set even after another is in force.
	if len(rd.Evidence) != 1 || rd.Evidence[0].GetVoteA().GetVoter() != 1 || rd.Evidence[0].Epoch == nil || rd.Evidence[0].GetEpoch() != 0 {
		t.Fatalf("evidence: %v", rd.Evidence)
	}
}

// TestObserverFollows: a non-validator core fed the validators' messages
// commits the same blocks and sends nothing.
func TestObserverFollows(t *testing.T) {
	h := newHarness(t, 4, consensus.Byzantine)
	h.pending[0] = true
	h.deliver()
	cfg := h.cfg
	cfg.Self = -1
	obs, err := consensus.NewCore(cfg, nil, consensus.RestartState{})
	if err != nil {
		t.Fatal(err)
	}
	var got []consensus.CommittedBlock
	for round := 0; round < 2; round++ {
		for _, ms := range h.sent {
			for _, m := range ms {
				_ = obs.Step(m)
				obs.Tick()
				rd := obs.Ready()
				if len(rd.Messages) != 0 || len(rd.ToValidate) != 0 || rd.ProposeSlot != nil {
					t.Fatalf("observer acts: %+v", rd)
				}
				got = append(got, rd.Committed...)
			}
		}
	}
	want := h.committed[1]
	if len(got) != len(want) {
		t.Fatalf("observer committed %d blocks, validators %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].Hash, want[i].Hash) {
			t.Fatalf("height %d differs", got[i].Height)
		}
	}
}

// After many views that ended by timeout, a view lasts MaxTimeoutTicks; a
// replica whose timeout was lost retransmits it at the base timeout, not
// at that grown duration, so a TC forms soon after the loss (a partition
// healing, a peer restarting) instead of a whole view later.
func TestLostTimeoutRetransmittedAtBaseTimeout(t *testing.T) {
	h := newHarness(t, 4, consensus.Byzantine)
	// Only timeouts and TCs get through: every view ends by timeout.
	onlyTimeouts := func(from, to int, m *pb.ConsensusMessage) bool {
		return m.GetProposal() != nil || m.GetVote() != nil || m.GetHeartbeat() != nil
	}
	h.drop = onlyTimeouts
	for h.cores[0].Status().View < 5 {
		h.tick(1)
	}
	v := h.cores[0].Status().View
	// Replica 3 is down, so a TC for v needs replica 2's timeout, and the
	// first one replica 2 sends in v is lost.
	h.cores[3] = nil
	lost := false
	h.drop = func(from, to int, m *pb.ConsensusMessage) bool {
		if tm := m.GetTimeout(); tm != nil && from == 2 && tm.GetView() == v && !lost {
			return true
		}
		return onlyTimeouts(from, to, m)
	}
	for i := 0; h.cores[0].Status().View == v; i++ {
		if sent := h.sent[2]; !lost && len(sent) > 0 && sent[len(sent)-1].GetTimeout().GetView() == v {
			lost = true // its first timeout in v went out (and was dropped)
		}
		if i > h.cfg.MaxTimeoutTicks+2*h.cfg.BaseTimeoutTicks {
			t.Fatalf("no TC for view %d within %d ticks (view duration %d, base timeout %d)",
				v, i, h.cfg.MaxTimeoutTicks, h.cfg.BaseTimeoutTicks)
		}
		h.tick(1)
	}
	if !lost {
		t.Fatal("replica 2's timeout was never sent")
	}
}
