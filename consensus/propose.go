package consensus

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// awaitingQC reports whether the leader's last proposal in this view is not
// certified yet (pipelining: one block in flight, the next follows its QC).
func (c *Core) awaitingQC() bool {
	return c.hasProposed && c.proposedView == c.view && c.proposedHeight > c.highQC.GetHeight()
}

// canPropose reports whether the leader holds what a proposal on its high
// QC needs: TC(v-1) when the high QC is from an earlier view, and the high
// QC's block. A leader that cannot propose does not heartbeat either, so
// the view times out and a leader that can takes over (e.g. after a restart
// that lost TC(v-1)).
func (c *Core) canPropose() bool {
	hq := c.highQC
	if hq.GetView() < c.view && c.tcs[c.view-1] == nil {
		return false
	}
	return c.blocks[string(hq.GetBlockHash())] != nil
}

// maybePropose offers a ProposeSlot when this replica leads the view, has
// nothing in flight, and has something to propose: transactions, or an
// empty block to finalize the last block with transactions (until its state
// is attested by a committed header). An idle leader heartbeats instead.
func (c *Core) maybePropose() {
	if c.self < 0 || c.cfg.Leader(c.view) != c.self || c.timedOut(c.view) || c.slot != nil || c.awaitingQC() {
		return
	}
	hq := c.highQC
	if hq.GetView() < c.view && c.tcs[c.view-1] == nil {
		return // entered by a QC jump or restart without TC(v-1): wait for the timeout
	}
	parent := c.blocks[string(hq.GetBlockHash())]
	if parent == nil {
		c.requestFetch(hq.GetBlockHash(), hq.GetHeight(), c.cfg.Leader(hq.GetView()))
		return
	}
	if !c.mempoolPending && parent.lastTx <= c.attested {
		return
	}
	var unc []*pb.Block
	for x := parent; x != nil && !x.committed; x = c.blocks[x.parent] {
		unc = append(unc, x.block)
	}
	for i, j := 0, len(unc)-1; i < j; i, j = i+1, j-1 {
		unc[i], unc[j] = unc[j], unc[i]
	}
	c.slot = &ProposeSlot{View: c.view, Height: hq.GetHeight() + 1, Parent: hq.GetBlockHash(),
		StateHeight: childStateHeight(parent), Uncommitted: unc}
	c.slotTick = c.tick
	s := *c.slot
	c.out.ProposeSlot = &s
}

// Propose fills the current ProposeSlot with the application's payload: the
// core sets the header's consensus fields, signs the block, broadcasts it
// and votes for it.
func (c *Core) Propose(p Payload) error {
	defer c.afterInput()
	s := c.slot
	if s == nil || s.View != c.view || c.timedOut(c.view) || c.fault != nil {
		return ErrNoSlot
	}
	if len(p.Txs) > c.cfg.MaxBlockTxs {
		return fmt.Errorf("consensus: payload of %d txs, max %d", len(p.Txs), c.cfg.MaxBlockTxs)
	}
	hdr := &pb.Header{}
	if p.Header != nil {
		hdr = proto.Clone(p.Header).(*pb.Header)
	}
	hdr.ChainId, hdr.View, hdr.Height, hdr.ParentHash, hdr.Proposer = c.cfg.ChainID, s.View, s.Height, s.Parent, uint32(c.self)
	hdr.CryptoSuite = c.cfg.Suite.HeaderName()
	hb, err := proto.MarshalOptions{Deterministic: true}.Marshal(hdr)
	if err != nil {
		return fmt.Errorf("consensus: encode header: %w", err)
	}
	if len(hb) > c.cfg.MaxHeaderBytes {
		return fmt.Errorf("consensus: header of %d bytes, max %d", len(hb), c.cfg.MaxHeaderBytes)
	}
	hash := c.cfg.Suite.Hash(hb)
	b := &pb.Block{Header: hb, Txs: p.Txs, Justify: c.highQC,
		Signature: c.sign(crypto.ProposalSignBytes(c.cfg.Domain(), hash))}
	if c.highQC.GetView() < c.view {
		b.Tc = c.tcs[c.view-1]
	}
	parent := c.blocks[string(s.Parent)]
	if parent == nil || string(c.highQC.GetBlockHash()) != string(s.Parent) {
		c.slot = nil
		return ErrNoSlot
	}
	c.slot = nil
	c.hasProposed, c.proposedView, c.proposedHeight = true, s.View, s.Height
	c.stats.Proposals++
	c.broadcast(&pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{Block: b}}})
	x := c.newNode(&decodedBlock{hash: hash, block: b, header: hdr}, parent)
	x.validation = validationOK
	c.connect(x)
	return nil
}

func (c *Core) sendHeartbeat() {
	c.hbSeq++
	hq := c.highQC
	h := &pb.Heartbeat{View: c.view, Leader: uint32(c.self), HighQc: hq, Seq: c.hbSeq,
		Signature: c.sign(crypto.HeartbeatSignBytes(c.cfg.Domain(), c.view, c.hbSeq, hq.GetView(), hq.GetHeight()))}
	c.lastHeartbeat = c.tick
	c.deadline = c.tick + c.duration()
	c.stats.Heartbeats++
	c.broadcast(&pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Heartbeat{Heartbeat: h}})
}

// onHeartbeat: a valid heartbeat from L(v) keeps followers from timing out,
// unless transactions have waited in our mempool for a view timeout while
// the leader only heartbeats (a censoring leader is replaced).
func (c *Core) onHeartbeat(sender uint32, h *pb.Heartbeat) error {
	if h.GetLeader() != sender || int(h.GetLeader()) != c.cfg.Leader(h.GetView()) {
		return invalid("heartbeat from %d for view %d", h.GetLeader(), h.GetView())
	}
	if h.GetView() < c.view || (h.GetView() == c.view && h.GetSeq() <= c.hbSeen) {
		c.stats.Ignored++
		return nil
	}
	if err := c.ver.heartbeat(h); err != nil {
		return err
	}
	c.onVerifiedQC(h.GetHighQc(), int(sender))
	if h.GetView() > c.view {
		c.buffer(sender, h.GetView(), &pb.ConsensusMessage{Sender: sender, Msg: &pb.ConsensusMessage_Heartbeat{Heartbeat: h}})
		return nil
	}
	c.hbSeen = h.GetSeq()
	if c.self >= 0 && c.self != int(sender) && !c.timedOut(c.view) {
		censored := c.mempoolPending && c.tick-c.pendingSince >= uint64(c.cfg.BaseTimeoutTicks)
		if !censored {
			c.deadline = c.tick + c.duration()
		}
	}
	return nil
}
