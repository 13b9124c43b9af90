package sim

import (
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
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
	ep   attack                 // the epoch it attacks in
	seen []*pb.ConsensusMessage // recent inbound of any epoch, for replay

	// What it collected in ep, and the forks and twins it built there. A
	// new ep starts them afresh: no fork or forgery mixes certificates,
	// timeouts or votes of two validator sets.
	qcs   map[string]*pb.QuorumCert
	blks  map[string]*pb.Block
	tcs   []*pb.TimeoutCert
	touts map[uint64]map[uint32]*pb.Timeout // valid timeouts received, by view
	twins map[string]*pb.Block
	forks map[string]*pb.Block // original proposal hash -> fork block
	fork  *forkState
}

// attack is an epoch as the Byzantine replica attacks in it
// (ARCHITECTURE.md §4, "Reconfiguration"): the config its core runs there
// (Epoch, Validators, its index Self), the key that set names (after a
// rotation, the new one), and the domain its signatures are made over.
type attack struct {
	cfg    consensus.Config
	key    crypto.PrivateKey
	domain string
}

func (a *attack) n() int        { return len(a.cfg.Validators) }
func (a *attack) quorum() int   { return consensus.Quorum(a.cfg.FaultModel, a.n()) }
func (a *attack) me() uint32    { return uint32(a.cfg.Self) }
func (a *attack) start() uint64 { return a.cfg.Epoch }

type forkState struct {
	view  uint64
	tip   *pb.Block
	hdr   *pb.Header
	hash  []byte
	votes map[uint32][]byte
	len   int
}

func newByzantine(s *simulation, r *replica) *byzantine {
	z := &byzantine{s: s, r: r}
	// Byzantine replicas are genesis validators: replica id r.id is the
	// index of key r.id in the genesis set.
	z.enter(s.cfg.WithEpoch(s.cfg.EpochOf(), r.id), s.keys[r.id])
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

// enter makes cfg's epoch, signed with key, the one it attacks in, and
// forgets what it collected in the one before.
func (z *byzantine) enter(cfg consensus.Config, key crypto.PrivateKey) {
	z.ep = attack{cfg: cfg, key: key, domain: cfg.Domain()}
	z.qcs, z.blks, z.tcs = map[string]*pb.QuorumCert{}, map[string]*pb.Block{}, nil
	z.touts = map[uint64]map[uint32]*pb.Timeout{}
	z.twins, z.forks, z.fork = map[string]*pb.Block{}, map[string]*pb.Block{}, nil
}

// epoch follows the replica's own core: when it runs another epoch than
// ep (it switched sets, or block sync brought it across), ep becomes that
// epoch, with the key of the replica's the set names and its index there
// (as the driver picks them). A set that names none of its keys removed
// it: it goes on attacking in the last epoch it was a member of, whose
// messages the others drop as another epoch's, or refuse.
func (z *byzantine) epoch() {
	if z.r.drv == nil {
		return
	}
	e := z.r.drv.Epoch()
	if e.Start == z.ep.start() {
		return
	}
	for _, k := range z.r.keys {
		for i, v := range e.Validators {
			if crypto.PublicKeyEqual(z.s.keys[k].Public(), v) {
				z.enter(z.s.cfg.WithEpoch(e, i), z.s.keys[k])
				return
			}
		}
	}
}

// left reports that the replica's core runs an epoch whose set does not
// name it.
func (z *byzantine) left() bool { return z.r.drv != nil && z.r.drv.Epoch().Start != z.ep.start() }

func (z *byzantine) sign(msg []byte) []byte {
	sig, _ := z.ep.key.Sign(msg)
	return sig
}

func (z *byzantine) send(to int, m *pb.ConsensusMessage) {
	z.s.stats.ByzantineSent++
	z.s.net(z.r.id, to, m)
}

// craft sends a message the replica made up (not its core's), from its
// index in ep and tagged with ep.
func (z *byzantine) craft(to int, m *pb.ConsensusMessage) {
	m.Sender, m.Epoch = z.ep.me(), z.ep.start()
	z.s.stats.Crafted++
	if z.left() {
		z.s.stats.CraftedLeft++
	}
	z.s.crafted[m] = true
	z.send(to, m)
}

func (z *byzantine) broadcast(m *pb.ConsensusMessage) {
	for to := range z.s.replicas {
		if to != z.r.id {
			z.craft(to, m)
		}
	}
}

func (z *byzantine) record(b *pb.Block) {
	if b == nil || b.GetHeader() == nil {
		return
	}
	z.blks[string(z.s.opts.Suite.Hash(b.GetHeader()))] = b
	if j := b.GetJustify(); j != nil && j.GetHeight() > 0 {
		z.qcs[string(j.GetBlockHash())] = j
	}
	if tc := b.GetTc(); tc != nil {
		z.tcs = append(z.tcs, tc)
	}
}

// inbound sees every message delivered to the Byzantine replica. It keeps
// any for replay, and collects blocks, certificates, timeouts and fork
// votes of the epoch it attacks in.
func (z *byzantine) inbound(m *pb.ConsensusMessage) {
	z.epoch()
	if len(z.seen) < 64 {
		z.seen = append(z.seen, m)
	} else {
		z.seen[z.s.rng.IntN(64)] = m
	}
	a := &z.ep
	if m.GetEpoch() != a.start() {
		return
	}
	switch {
	case m.GetProposal() != nil:
		z.record(m.GetProposal().GetBlock())
	case m.GetTimeoutCert() != nil:
		z.tcs = append(z.tcs, m.GetTimeoutCert())
	case m.GetTimeout() != nil && z.has(bForkLeader):
		t := m.GetTimeout()
		if t.GetVoter() == m.GetSender() && int(t.GetVoter()) < a.n() && t.GetHighQc() != nil &&
			crypto.Verify(a.cfg.Validators[t.GetVoter()], crypto.TimeoutSignBytes(a.domain, t.GetView(), t.GetHighQc().GetView(), t.GetHighQc().GetHeight()), t.GetSignature()) == nil {
			if z.touts[t.GetView()] == nil {
				z.touts[t.GetView()] = map[uint32]*pb.Timeout{}
			}
			z.touts[t.GetView()][t.GetVoter()] = t
		}
	case m.GetVote() != nil && z.fork != nil:
		v := m.GetVote()
		if string(v.GetBlockHash()) == string(z.fork.hash) && v.GetVoter() == m.GetSender() && int(v.GetVoter()) < a.n() {
			if crypto.Verify(a.cfg.Validators[v.GetVoter()], crypto.VoteSignBytes(a.domain, v.GetView(), v.GetHeight(), v.GetBlockHash()), v.GetSignature()) == nil {
				z.fork.votes[v.GetVoter()] = v.GetSignature()
				z.extendFork()
			}
		}
	}
}

// tick: a replica the set removed runs a core that sends nothing of its
// own; now and then it still attacks a random replica in the epoch it
// knows.
func (z *byzantine) tick() {
	if z.has(bSilent) {
		return
	}
	z.epoch()
	if !z.left() || z.s.rng.IntN(4) != 0 {
		return
	}
	if to := z.s.rng.IntN(len(z.s.replicas)); to != z.r.id {
		z.unprompted(to)
	}
}

// unprompted are the attacks not tied to a message of its core: wrong
// views, forgeries and replays, in ep. A replayed message of another epoch
// is tagged with ep's: its signatures are over another domain.
func (z *byzantine) unprompted(to int) {
	s := z.s
	if z.has(bWrongView) && s.rng.IntN(30) == 0 {
		z.wrongView(to)
	}
	if z.has(bForge) && s.rng.IntN(16) == 0 {
		z.forge(to)
	}
	if z.has(bReplay) && s.rng.IntN(16) == 0 && len(z.seen) > 0 {
		z.craft(to, proto.Clone(z.seen[s.rng.IntN(len(z.seen))]).(*pb.ConsensusMessage))
	}
}

// outbound rewrites one message the Byzantine core sends to `to`.
func (z *byzantine) outbound(to int, m *pb.ConsensusMessage) {
	if z.has(bSilent) {
		return
	}
	s := z.s
	z.epoch()
	z.unprompted(to)
	if m.GetEpoch() != z.ep.start() {
		// Its core's message of an epoch that does not name it: passed on.
		z.send(to, m)
		return
	}
	if p := m.GetProposal(); p != nil {
		b := p.GetBlock()
		z.record(b)
		hash := string(z.s.opts.Suite.Hash(b.GetHeader()))
		if z.has(bForkLeader) && b.GetTc() != nil {
			if f := z.forkOf(hash, b); f != nil {
				z.craft(to, &pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{Block: f}}})
				return
			}
		}
		if z.fork != nil && decodeHeader(b.GetHeader()).GetView() == z.fork.view {
			return // the fork is the only chain it leads in this view
		}
		if z.has(bEquivocate) && to >= len(s.replicas)/2 {
			z.craft(to, &pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{Block: z.twin(hash, b)}}})
			return
		}
	}
	if v := m.GetVote(); v != nil && z.has(bDoubleVote) {
		other := z.s.opts.Suite.Hash([]byte{byte(v.GetHeight()), byte(v.GetView()), 0xee})
		z.send(to, m)
		z.craft(to, &pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{
			View: v.GetView(), Height: v.GetHeight(), BlockHash: other, Voter: v.GetVoter(),
			Signature: z.sign(crypto.VoteSignBytes(z.ep.domain, v.GetView(), v.GetHeight(), other))}}})
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
	t.Signature = z.sign(crypto.ProposalSignBytes(z.ep.domain, z.s.opts.Suite.Hash(hb)))
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
	z.fork = &forkState{view: view, tip: f, hdr: decodeHeader(f.GetHeader()), hash: z.s.opts.Suite.Hash(f.GetHeader()), votes: map[uint32][]byte{}, len: 1}
	z.voteFork()
	return f
}

// lowForkOf builds its own TC(view-1) from the q-1 received timeouts with
// the lowest high QCs plus a lying timeout of its own, and forks from that
// TC's high QC: a valid block that ignores any higher QC the leader knows.
// Persisted locks make every such TC hold the highest committed QC.
func (z *byzantine) lowForkOf(view uint64) *pb.Block {
	a := &z.ep
	q := a.quorum()
	set := z.touts[view-1]
	var ts []*pb.Timeout
	for i := range a.n() {
		if t := set[uint32(i)]; t != nil && i != a.cfg.Self {
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
	tc := &pb.TimeoutCert{View: view - 1, HighQc: high}
	ts = append(ts, &pb.Timeout{View: view - 1, HighQc: low, Voter: a.me(),
		Signature: z.sign(crypto.TimeoutSignBytes(a.domain, view-1, low.GetView(), low.GetHeight()))})
	sort.Slice(ts, func(i, j int) bool { return ts[i].GetVoter() < ts[j].GetVoter() })
	for _, t := range ts {
		tc.Sigs = append(tc.Sigs, &pb.TimeoutSig{Validator: t.GetVoter(), HighQcView: t.GetHighQc().GetView(), HighQcHeight: t.GetHighQc().GetHeight(), Signature: t.GetSignature()})
	}
	return z.startFork(view, high, tc)
}

func (z *byzantine) block(view uint64, justify *pb.QuorumCert, tc *pb.TimeoutCert, sh uint64, root []byte) *pb.Block {
	a := &z.ep
	h := &pb.Header{ChainId: a.cfg.ChainID, View: view, Height: justify.GetHeight() + 1, ParentHash: justify.GetBlockHash(),
		Proposer: a.me(), TimeUnixMs: int64(z.s.now), TxRoot: txRoot(z.s.opts.Suite, nil), CryptoSuite: z.s.opts.Suite.HeaderName(), StateHeight: sh, StateRoot: root,
		ValidatorSetHash: setHashOf(a.cfg.Validators)}
	hb, _ := proto.MarshalOptions{Deterministic: true}.Marshal(h)
	return &pb.Block{Header: hb, Justify: justify, Tc: tc, Signature: z.sign(crypto.ProposalSignBytes(a.domain, z.s.opts.Suite.Hash(hb)))}
}

func (z *byzantine) voteFork() {
	f := z.fork
	me := z.ep.me()
	sig := z.sign(crypto.VoteSignBytes(z.ep.domain, f.view, f.hdr.GetHeight(), f.hash))
	f.votes[me] = sig
	z.broadcast(&pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{
		View: f.view, Height: f.hdr.GetHeight(), BlockHash: f.hash, Voter: me, Signature: sig}}})
}

// extendFork proposes the fork's next block once its tip has a quorum.
func (z *byzantine) extendFork() {
	f := z.fork
	if len(f.votes) < z.ep.quorum() || f.len >= 2 {
		return
	}
	qc := &pb.QuorumCert{View: f.view, Height: f.hdr.GetHeight(), BlockHash: f.hash}
	for i := range z.ep.n() {
		if sig, ok := f.votes[uint32(i)]; ok {
			qc.Sigs = append(qc.Sigs, &pb.ValidatorSig{Validator: uint32(i), Signature: sig})
		}
	}
	next := z.block(f.view, qc, nil, f.hdr.GetStateHeight(), f.hdr.GetStateRoot())
	z.fork = &forkState{view: f.view, tip: next, hdr: decodeHeader(next.GetHeader()), hash: z.s.opts.Suite.Hash(next.GetHeader()), votes: map[uint32][]byte{}, len: f.len + 1}
	z.broadcast(&pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{Block: next}}})
	z.voteFork()
}

// wrongView signs a vote and a timeout for views it is not in; the
// timeout's high QC is the epoch's root.
func (z *byzantine) wrongView(to int) {
	s, a := z.s, &z.ep
	view := z.r.drv.Core().Status().View + 1 + uint64(s.rng.IntN(20))
	h := uint64(1 + s.rng.IntN(50))
	hash := z.s.opts.Suite.Hash([]byte{byte(view), byte(h), 0xbb})
	z.craft(to, &pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{
		View: view, Height: h, BlockHash: hash, Voter: a.me(), Signature: z.sign(crypto.VoteSignBytes(a.domain, view, h, hash))}}})
	rq := a.cfg.RootQC()
	z.craft(to, &pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Timeout{Timeout: &pb.Timeout{
		View: view, HighQc: rq, Voter: a.me(), Signature: z.sign(crypto.TimeoutSignBytes(a.domain, view, rq.GetView(), rq.GetHeight()))}}})
}

// forge sends one provably invalid message.
func (z *byzantine) forge(to int) {
	s, a := z.s, &z.ep
	me := a.me()
	var m *pb.ConsensusMessage
	switch s.rng.IntN(8) {
	case 0: // a vote with a random signature
		hash := z.s.opts.Suite.Hash([]byte("forged"))
		sig := make([]byte, 64)
		for i := range sig {
			sig[i] = byte(s.rng.IntN(256))
		}
		m = &pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{View: 1, Height: 1, BlockHash: hash, Voter: me, Signature: sig}}}
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
			if len(j.Sigs) >= a.quorum() {
				j.Sigs[0].Signature = append([]byte(nil), j.Sigs[0].Signature...)
				j.Sigs[0].Signature[3] ^= 0x40
			}
		default:
			j.Sigs[0] = &pb.ValidatorSig{Validator: uint32(a.n() + 3), Signature: j.Sigs[0].Signature} // out of range
		}
		m = &pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{Block: b}}}
	case 4, 5: // a TC one short of a quorum, or with a lowered high QC
		if len(z.tcs) == 0 {
			return
		}
		tc := proto.Clone(z.tcs[s.rng.IntN(len(z.tcs))]).(*pb.TimeoutCert)
		if s.rng.IntN(2) == 0 {
			tc.Sigs = tc.Sigs[:len(tc.Sigs)-1]
		} else {
			tc.HighQc = a.cfg.RootQC()
		}
		tc.View += uint64(s.rng.IntN(3))
		m = &pb.ConsensusMessage{Msg: &pb.ConsensusMessage_TimeoutCert{TimeoutCert: tc}}
	case 6: // a heartbeat for a view it does not lead
		n := a.n()
		v := uint64(n)*uint64(1+s.rng.IntN(5)) + uint64((int(me)+1)%n)
		rq := a.cfg.RootQC()
		m = &pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Heartbeat{Heartbeat: &pb.Heartbeat{
			View: v, Leader: me, HighQc: rq, Seq: 1,
			Signature: z.sign(crypto.HeartbeatSignBytes(a.domain, v, 1, rq.GetView(), rq.GetHeight()))}}}
	default: // random bytes that happen to decode
		junk := make([]byte, 1+s.rng.IntN(80))
		for i := range junk {
			junk[i] = byte(s.rng.IntN(256))
		}
		m = new(pb.ConsensusMessage)
		if proto.Unmarshal(junk, m) != nil {
			return
		}
	}
	z.craft(to, m)
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
