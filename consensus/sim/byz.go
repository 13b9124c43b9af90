package sim

import (
	"sort"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"google.golang.org/protobuf/proto"
)

// Byzantine behaviours. Each Byzantine replica runs the real core and
// driver, and rewrites or adds to what it sends.
type behaviour uint16

const (
	// bSilent sends nothing.
	bSilent behaviour = 1 << iota
	// bEquivocate sends one block to half the replicas and a twin to the
	// other half.
	bEquivocate
	// bDoubleVote signs a second vote for another block at each (view,
	// height) it votes at.
	bDoubleVote
	// bWrongView signs votes and timeouts for views it is not in.
	bWrongView
	// bForge sends invalid signatures, QCs and TCs and undecodable junk.
	bForge
	// bReplay resends old messages.
	bReplay
	// bBadPayload proposes headers with a wrong state root.
	bBadPayload
	// bForkLeader, on the first block of a view it leads, proposes on a
	// QC below the TC's high QC and drives that fork on with the votes it
	// gets (the attack the TC check stops).
	bForkLeader
	// bCensor heartbeats as leader but never proposes.
	bCensor
	bAll = bSilent<<9 - 1
)

type byzantine struct {
	s    *simulation
	r    *replica
	b    behaviour
	seen []*pb.ConsensusMessage // recent inbound, for replay
	qcs  map[string]*pb.QuorumCert
	blks map[string]*pb.Block
	tcs  []*pb.TimeoutCert

	touts map[uint64]map[uint32]*pb.Timeout // valid timeouts received, by view

	twins map[string]*pb.Block
	forks map[string]*pb.Block // original proposal hash -> fork block
	fork  *forkState
}

type forkState struct {
	view  uint64
	tip   *pb.Block
	hdr   *pb.Header
	hash  []byte
	votes map[uint32][]byte
	len   int
}

func newByzantine(s *simulation, r *replica) *byzantine {
	z := &byzantine{s: s, r: r, qcs: map[string]*pb.QuorumCert{}, blks: map[string]*pb.Block{},
		touts: map[uint64]map[uint32]*pb.Timeout{}, twins: map[string]*pb.Block{}, forks: map[string]*pb.Block{}}
	// A seeded mix: silence alone one run in eight, else a random set.
	if s.rng.IntN(8) == 0 {
		z.b = bSilent
	} else {
		z.b = behaviour(1+s.rng.IntN(int(bAll))) &^ bSilent
		if s.rng.IntN(2) == 0 {
			z.b |= bForkLeader
		}
	}
	return z
}

func (z *byzantine) has(b behaviour) bool { return z.b&b != 0 }

func (z *byzantine) sign(msg []byte) []byte {
	sig, _ := z.s.keys[z.r.id].Sign(msg)
	return sig
}

func (z *byzantine) send(to int, m *pb.ConsensusMessage) {
	z.s.stats.ByzantineSent++
	z.s.net(z.r.id, to, m)
}

func (z *byzantine) broadcast(m *pb.ConsensusMessage) {
	for to := range z.s.replicas {
		if to != z.r.id {
			z.send(to, m)
		}
	}
}

func (z *byzantine) record(b *pb.Block) {
	if b == nil || b.GetHeader() == nil {
		return
	}
	z.blks[string(crypto.Hash(b.GetHeader()))] = b
	if j := b.GetJustify(); j != nil && j.GetHeight() > 0 {
		z.qcs[string(j.GetBlockHash())] = j
	}
	if tc := b.GetTc(); tc != nil {
		z.tcs = append(z.tcs, tc)
	}
}

// inbound sees every message delivered to the Byzantine replica. The
// crafted attacks work in the genesis set's epoch (its keys, indexes and
// domain); after a set change the replica's own core goes on running, and
// its crafted messages, tagged and signed for the genesis set, are other
// replicas' noise.
func (z *byzantine) inbound(m *pb.ConsensusMessage) {
	if m.GetEpoch() != 0 {
		return
	}
	if len(z.seen) < 64 {
		z.seen = append(z.seen, m)
	} else {
		z.seen[z.s.rng.IntN(64)] = m
	}
	switch {
	case m.GetProposal() != nil:
		z.record(m.GetProposal().GetBlock())
	case m.GetTimeoutCert() != nil:
		z.tcs = append(z.tcs, m.GetTimeoutCert())
	case m.GetTimeout() != nil && z.has(bForkLeader):
		t := m.GetTimeout()
		if t.GetVoter() == m.GetSender() && int(t.GetVoter()) < len(z.s.cfg.Validators) && t.GetHighQc() != nil &&
			crypto.Verify(z.s.cfg.Validators[t.GetVoter()], crypto.TimeoutSignBytes(z.s.cfg.ChainID, t.GetView(), t.GetHighQc().GetView(), t.GetHighQc().GetHeight()), t.GetSignature()) == nil {
			if z.touts[t.GetView()] == nil {
				z.touts[t.GetView()] = map[uint32]*pb.Timeout{}
			}
			z.touts[t.GetView()][t.GetVoter()] = t
		}
	case m.GetVote() != nil && z.fork != nil:
		v := m.GetVote()
		if string(v.GetBlockHash()) == string(z.fork.hash) && v.GetVoter() == m.GetSender() {
			if crypto.Verify(z.s.cfg.Validators[v.GetVoter()], crypto.VoteSignBytes(z.s.cfg.ChainID, v.GetView(), v.GetHeight(), v.GetBlockHash()), v.GetSignature()) == nil {
				z.fork.votes[v.GetVoter()] = v.GetSignature()
				z.extendFork()
			}
		}
	}
}

func (z *byzantine) tick() {}

// outbound rewrites one message the Byzantine core sends to `to`.
func (z *byzantine) outbound(to int, m *pb.ConsensusMessage) {
	if z.has(bSilent) {
		return
	}
	s := z.s
	if z.has(bWrongView) && s.rng.IntN(30) == 0 {
		z.wrongView(to)
	}
	if z.has(bForge) && s.rng.IntN(16) == 0 {
		z.forge(to)
	}
	if z.has(bReplay) && s.rng.IntN(16) == 0 && len(z.seen) > 0 {
		old := proto.Clone(z.seen[s.rng.IntN(len(z.seen))]).(*pb.ConsensusMessage)
		old.Sender = uint32(z.r.id)
		z.send(to, old)
	}
	if p := m.GetProposal(); p != nil {
		b := p.GetBlock()
		z.record(b)
		hash := string(crypto.Hash(b.GetHeader()))
		if z.has(bForkLeader) && b.GetTc() != nil {
			if f := z.forkOf(hash, b); f != nil {
				z.send(to, &pb.ConsensusMessage{Sender: uint32(z.r.id), Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{Block: f}}})
				return
			}
		}
		if z.fork != nil && decodeHeader(b.GetHeader()).GetView() == z.fork.view {
			return // the fork is the only chain it leads in this view
		}
		if z.has(bEquivocate) && to >= len(s.replicas)/2 {
			z.send(to, &pb.ConsensusMessage{Sender: uint32(z.r.id), Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{Block: z.twin(hash, b)}}})
			return
		}
	}
	if v := m.GetVote(); v != nil && z.has(bDoubleVote) {
		other := crypto.Hash([]byte{byte(v.GetHeight()), byte(v.GetView()), 0xee})
		z.send(to, m)
		z.send(to, &pb.ConsensusMessage{Sender: uint32(z.r.id), Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{
			View: v.GetView(), Height: v.GetHeight(), BlockHash: other, Voter: v.GetVoter(),
			Signature: z.sign(crypto.VoteSignBytes(s.cfg.ChainID, v.GetView(), v.GetHeight(), other))}}})
		return
	}
	z.send(to, m)
}

// twin is another block at the same (view, height): same payload, another
// time, signed.
func (z *byzantine) twin(hash string, b *pb.Block) *pb.Block {
	if t := z.twins[hash]; t != nil {
		return t
	}
	h := decodeHeader(b.GetHeader())
	h.TimeUnixMs++
	hb, _ := proto.MarshalOptions{Deterministic: true}.Marshal(h)
	t := proto.Clone(b).(*pb.Block)
	t.Header = hb
	t.Signature = z.sign(crypto.ProposalSignBytes(z.s.cfg.ChainID, crypto.Hash(hb)))
	z.twins[hash] = t
	return t
}

// childStateHeight mirrors the core: the height committed by the ancestry
// of a child of (hdr, justify view).
func childStateHeight(h *pb.Header, justifyView uint64) uint64 {
	sh := h.GetStateHeight()
	if h.GetHeight() > 0 && justifyView == h.GetView() && h.GetHeight()-1 > sh {
		sh = h.GetHeight() - 1
	}
	return sh
}

// forkOf builds, once per original first block, a block of the same view
// on a QC below the TC's high QC.
func (z *byzantine) forkOf(hash string, orig *pb.Block) *pb.Block {
	if f, ok := z.forks[hash]; ok {
		return f
	}
	z.forks[hash] = nil
	oh := decodeHeader(orig.GetHeader())
	if z.s.rng.IntN(2) == 0 {
		if f := z.lowForkOf(oh.GetView()); f != nil {
			z.forks[hash] = f
			return f
		}
	}
	tcHigh := orig.GetTc().GetHighQc()
	// Half the time the fork starts exactly at the TC's high QC (allowed,
	// even if the leader knows a higher QC), else just below it (refused by
	// the TC check).
	target := tcHigh.GetHeight() - uint64(z.s.rng.IntN(3))
	var base *pb.QuorumCert
	for _, k := range sortedKeys(z.qcs) {
		qc := z.qcs[k]
		if qc.GetHeight() <= target && qc.GetHeight() >= 1 && z.blks[k] != nil && !qcLess(tcHigh, qc) && (base == nil || qcLess(base, qc)) {
			base = qc
		}
	}
	if base == nil {
		return nil
	}
	bb := z.blks[string(base.GetBlockHash())]
	bh := decodeHeader(bb.GetHeader())
	sh := childStateHeight(bh, bb.GetJustify().GetView())
	if sh > z.r.ledger.height() {
		return nil
	}
	f := z.startFork(oh.GetView(), base, orig.GetTc())
	z.forks[hash] = f
	return f
}

func (z *byzantine) startFork(view uint64, base *pb.QuorumCert, tc *pb.TimeoutCert) *pb.Block {
	bb := z.blks[string(base.GetBlockHash())]
	if bb == nil {
		return nil
	}
	bh := decodeHeader(bb.GetHeader())
	sh := childStateHeight(bh, bb.GetJustify().GetView())
	if sh > z.r.ledger.height() {
		return nil
	}
	f := z.block(view, base, tc, sh, z.r.ledger.roots[sh])
	z.fork = &forkState{view: view, tip: f, hdr: decodeHeader(f.GetHeader()), hash: crypto.Hash(f.GetHeader()), votes: map[uint32][]byte{}, len: 1}
	z.voteFork()
	return f
}

// lowForkOf builds its own TC(view-1) from the q-1 received timeouts with
// the lowest high QCs plus a lying timeout of its own, and forks from that
// TC's high QC: a valid block that ignores any higher QC the leader knows.
// Persisted locks make every such TC hold the highest committed QC.
func (z *byzantine) lowForkOf(view uint64) *pb.Block {
	q := consensus.Quorum(z.s.cfg.FaultModel, len(z.s.cfg.Validators))
	set := z.touts[view-1]
	var ts []*pb.Timeout
	for i := range z.s.replicas {
		if t := set[uint32(i)]; t != nil && i != z.r.id {
			ts = append(ts, t)
		}
	}
	if len(ts) < q-1 {
		return nil
	}
	sort.Slice(ts, func(i, j int) bool { return qcLess(ts[i].GetHighQc(), ts[j].GetHighQc()) })
	ts = ts[:q-1]
	low := ts[0].GetHighQc()
	high := ts[len(ts)-1].GetHighQc()
	if z.blks[string(high.GetBlockHash())] == nil {
		return nil
	}
	me := uint32(z.r.id)
	tc := &pb.TimeoutCert{View: view - 1, HighQc: high}
	ts = append(ts, &pb.Timeout{View: view - 1, HighQc: low, Voter: me,
		Signature: z.sign(crypto.TimeoutSignBytes(z.s.cfg.ChainID, view-1, low.GetView(), low.GetHeight()))})
	sort.Slice(ts, func(i, j int) bool { return ts[i].GetVoter() < ts[j].GetVoter() })
	for _, t := range ts {
		tc.Sigs = append(tc.Sigs, &pb.TimeoutSig{Validator: t.GetVoter(), HighQcView: t.GetHighQc().GetView(), HighQcHeight: t.GetHighQc().GetHeight(), Signature: t.GetSignature()})
	}
	return z.startFork(view, high, tc)
}

func (z *byzantine) block(view uint64, justify *pb.QuorumCert, tc *pb.TimeoutCert, sh uint64, root []byte) *pb.Block {
	h := &pb.Header{ChainId: z.s.cfg.ChainID, View: view, Height: justify.GetHeight() + 1, ParentHash: justify.GetBlockHash(),
		Proposer: uint32(z.r.id), TimeUnixMs: int64(z.s.now), TxRoot: txRoot(nil), StateHeight: sh, StateRoot: root,
		ValidatorSetHash: z.r.ledger.setHash()}
	hb, _ := proto.MarshalOptions{Deterministic: true}.Marshal(h)
	return &pb.Block{Header: hb, Justify: justify, Tc: tc, Signature: z.sign(crypto.ProposalSignBytes(z.s.cfg.ChainID, crypto.Hash(hb)))}
}

func (z *byzantine) voteFork() {
	f := z.fork
	sig := z.sign(crypto.VoteSignBytes(z.s.cfg.ChainID, f.view, f.hdr.GetHeight(), f.hash))
	f.votes[uint32(z.r.id)] = sig
	z.broadcast(&pb.ConsensusMessage{Sender: uint32(z.r.id), Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{
		View: f.view, Height: f.hdr.GetHeight(), BlockHash: f.hash, Voter: uint32(z.r.id), Signature: sig}}})
}

// extendFork proposes the fork's next block once its tip has a quorum.
func (z *byzantine) extendFork() {
	f := z.fork
	if len(f.votes) < consensus.Quorum(z.s.cfg.FaultModel, len(z.s.cfg.Validators)) || f.len >= 2 {
		return
	}
	qc := &pb.QuorumCert{View: f.view, Height: f.hdr.GetHeight(), BlockHash: f.hash}
	for i := range z.s.replicas {
		if sig, ok := f.votes[uint32(i)]; ok {
			qc.Sigs = append(qc.Sigs, &pb.ValidatorSig{Validator: uint32(i), Signature: sig})
		}
	}
	next := z.block(f.view, qc, nil, f.hdr.GetStateHeight(), f.hdr.GetStateRoot())
	z.fork = &forkState{view: f.view, tip: next, hdr: decodeHeader(next.GetHeader()), hash: crypto.Hash(next.GetHeader()), votes: map[uint32][]byte{}, len: f.len + 1}
	z.broadcast(&pb.ConsensusMessage{Sender: uint32(z.r.id), Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{Block: next}}})
	z.voteFork()
}

// wrongView signs a vote and a timeout for views it is not in.
func (z *byzantine) wrongView(to int) {
	s := z.s
	view := z.r.drv.Core().Status().View + 1 + uint64(s.rng.IntN(20))
	h := uint64(1 + s.rng.IntN(50))
	hash := crypto.Hash([]byte{byte(view), byte(h), 0xbb})
	z.send(to, &pb.ConsensusMessage{Sender: uint32(z.r.id), Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{
		View: view, Height: h, BlockHash: hash, Voter: uint32(z.r.id), Signature: z.sign(crypto.VoteSignBytes(s.cfg.ChainID, view, h, hash))}}})
	gq := &pb.QuorumCert{BlockHash: s.genesis}
	z.send(to, &pb.ConsensusMessage{Sender: uint32(z.r.id), Msg: &pb.ConsensusMessage_Timeout{Timeout: &pb.Timeout{
		View: view, HighQc: gq, Voter: uint32(z.r.id), Signature: z.sign(crypto.TimeoutSignBytes(s.cfg.ChainID, view, 0, 0))}}})
}

// forge sends one provably invalid message.
func (z *byzantine) forge(to int) {
	s := z.s
	me := uint32(z.r.id)
	var m *pb.ConsensusMessage
	switch s.rng.IntN(8) {
	case 0: // a vote with a random signature
		hash := crypto.Hash([]byte("forged"))
		sig := make([]byte, 64)
		for i := range sig {
			sig[i] = byte(s.rng.IntN(256))
		}
		m = &pb.ConsensusMessage{Sender: me, Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{View: 1, Height: 1, BlockHash: hash, Voter: me, Signature: sig}}}
	case 1, 2, 3: // a recorded block with a forged justify QC
		b := z.anyBlock()
		if b == nil || b.GetJustify().GetHeight() == 0 || len(b.GetJustify().GetSigs()) == 0 {
			return
		}
		b = proto.Clone(b).(*pb.Block)
		j := b.Justify
		switch s.rng.IntN(3) {
		case 0:
			j.Sigs = append(j.Sigs, j.Sigs[0]) // duplicate signer
			j.Sigs = j.Sigs[1:]
		case 1:
			j.Sigs = j.Sigs[:len(j.Sigs)-1] // one short of a quorum
			if len(j.Sigs) >= consensus.Quorum(s.cfg.FaultModel, len(s.cfg.Validators)) {
				j.Sigs[0].Signature = append([]byte(nil), j.Sigs[0].Signature...)
				j.Sigs[0].Signature[3] ^= 0x40
			}
		default:
			j.Sigs[0] = &pb.ValidatorSig{Validator: uint32(len(s.cfg.Validators) + 3), Signature: j.Sigs[0].Signature} // out of range
		}
		m = &pb.ConsensusMessage{Sender: me, Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{Block: b}}}
	case 4, 5: // a TC one short of a quorum, or with a lowered high QC
		if len(z.tcs) == 0 {
			return
		}
		tc := proto.Clone(z.tcs[s.rng.IntN(len(z.tcs))]).(*pb.TimeoutCert)
		if s.rng.IntN(2) == 0 {
			tc.Sigs = tc.Sigs[:len(tc.Sigs)-1]
		} else {
			tc.HighQc = &pb.QuorumCert{BlockHash: s.genesis}
		}
		tc.View += uint64(s.rng.IntN(3))
		m = &pb.ConsensusMessage{Sender: me, Msg: &pb.ConsensusMessage_TimeoutCert{TimeoutCert: tc}}
	case 6: // a heartbeat for a view it does not lead
		v := uint64(len(s.cfg.Validators))*uint64(1+s.rng.IntN(5)) + uint64((int(me)+1)%len(s.cfg.Validators))
		m = &pb.ConsensusMessage{Sender: me, Msg: &pb.ConsensusMessage_Heartbeat{Heartbeat: &pb.Heartbeat{
			View: v, Leader: me, HighQc: &pb.QuorumCert{BlockHash: s.genesis}, Seq: 1,
			Signature: z.sign(crypto.HeartbeatSignBytes(s.cfg.ChainID, v, 1, 0, 0))}}}
	default: // random bytes that happen to decode
		junk := make([]byte, 1+s.rng.IntN(80))
		for i := range junk {
			junk[i] = byte(s.rng.IntN(256))
		}
		m = new(pb.ConsensusMessage)
		if proto.Unmarshal(junk, m) != nil {
			return
		}
		m.Sender = me
	}
	z.send(to, m)
}

func (z *byzantine) anyBlock() *pb.Block {
	ks := sortedKeys(z.blks)
	if len(ks) == 0 {
		return nil
	}
	return z.blks[ks[z.s.rng.IntN(len(ks))]]
}

func qcLess(a, b *pb.QuorumCert) bool {
	return a.GetView() < b.GetView() || (a.GetView() == b.GetView() && a.GetHeight() < b.GetHeight())
}

func decodeHeader(b []byte) *pb.Header {
	h := new(pb.Header)
	if proto.Unmarshal(b, h) != nil {
		return nil
	}
	return h
}
