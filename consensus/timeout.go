package consensus

import (
	"math"
	"sort"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// maxTimeoutViewsPerSender bounds the views a sender may have timeouts in
// at once (a correct replica has one or two above ours).
const maxTimeoutViewsPerSender = 4

// sendTimeout gives up on view w (ARCHITECTURE.md §4 "Timeout"): it records
// (w, MaxUint64) as the last voted position, so nothing more is voted in w
// even after a restart, and broadcasts a timeout carrying the high QC.
func (c *Core) sendTimeout(w uint64) {
	if c.timedOut(w) {
		return
	}
	c.lastVV, c.lastVH = w, math.MaxUint64
	c.safetyDirty = true
	c.broadcastTimeout(w)
}

// broadcastTimeout signs and sends a timeout for w with the current high
// QC. Preconditions: the replica has given up on w (timedOut(w)), so a
// timeout for w carrying a QC at least as high may already exist; any of
// them is safe to send.
func (c *Core) broadcastTimeout(w uint64) {
	hq := c.highQC
	t := &pb.Timeout{View: w, HighQc: hq, Voter: uint32(c.self),
		Signature: c.sign(crypto.TimeoutSignBytes(c.cfg.Domain(), w, hq.GetView(), hq.GetHeight()))}
	c.ownTimeout = t
	c.stats.Timeouts++
	c.broadcast(&pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Timeout{Timeout: t}})
	c.addTimeout(t)
}

func (c *Core) onTimeout(sender uint32, t *pb.Timeout) error {
	if t.GetVoter() != sender {
		return invalid("timeout by %d sent as %d", t.GetVoter(), sender)
	}
	if t.GetView() < c.view {
		// A replica behind us: hand it the TC that moves it on.
		c.stats.Ignored++
		if c.highTC != nil && c.highTC.GetView() >= t.GetView() && int(sender) != c.self && c.self >= 0 {
			if err := c.ver.timeout(t); err != nil {
				return err
			}
			c.send(int(sender), &pb.ConsensusMessage{Msg: &pb.ConsensusMessage_TimeoutCert{TimeoutCert: c.highTC}})
		}
		return nil
	}
	if set := c.timeouts[t.GetView()]; set != nil && set[sender] != nil {
		c.stats.Ignored++
		return nil
	}
	views := 0
	for _, set := range c.timeouts {
		if set[sender] != nil {
			views++
		}
	}
	if views >= maxTimeoutViewsPerSender {
		c.stats.Dropped++
		return nil
	}
	if err := c.ver.timeout(t); err != nil {
		return err
	}
	c.onVerifiedQC(t.GetHighQc(), int(sender))
	if t.GetView() >= c.view {
		c.addTimeout(t)
	}
	return nil
}

// addTimeout counts a verified timeout: q form TC(w); f+1 for a view we
// have not given up on make us send ours (so views stay in step).
func (c *Core) addTimeout(t *pb.Timeout) {
	w := t.GetView()
	set := c.timeouts[w]
	if set == nil {
		set = map[uint32]*pb.Timeout{}
		c.timeouts[w] = set
	}
	if set[t.GetVoter()] != nil {
		return
	}
	set[t.GetVoter()] = t
	need := c.q
	if c.bugs.WeakTC {
		need-- // broken rule, tests only: form (and accept) TCs of q-1
	}
	if len(set) >= need {
		c.formTC(w)
		return
	}
	if len(set) >= c.f+1 && c.self >= 0 && w >= c.view && !c.timedOut(w) {
		c.sendTimeout(w)
	}
}

func (c *Core) formTC(w uint64) {
	if c.tcs[w] != nil {
		return
	}
	set := c.timeouts[w]
	tc := &pb.TimeoutCert{View: w}
	for _, t := range set {
		tc.Sigs = append(tc.Sigs, &pb.TimeoutSig{Validator: t.GetVoter(), HighQcView: t.GetHighQc().GetView(),
			HighQcHeight: t.GetHighQc().GetHeight(), Signature: t.GetSignature()})
		if tc.HighQc == nil || qcLess(tc.HighQc, t.GetHighQc()) {
			tc.HighQc = t.GetHighQc()
		}
	}
	sort.Slice(tc.Sigs, func(i, j int) bool { return tc.Sigs[i].Validator < tc.Sigs[j].Validator })
	if c.self >= 0 {
		c.broadcast(&pb.ConsensusMessage{Msg: &pb.ConsensusMessage_TimeoutCert{TimeoutCert: tc}})
	}
	c.onVerifiedTC(tc)
}

func (c *Core) onTC(tc *pb.TimeoutCert, from int) error {
	if tc.GetView() < c.view || c.tcs[tc.GetView()] != nil {
		c.stats.Ignored++
		return nil
	}
	if err := c.ver.tc(tc); err != nil {
		return err
	}
	c.onVerifiedTC(tc)
	return nil
}

// onVerifiedTC stores TC(w), takes its high QC and enters w+1 (the only way
// into a view other than a QC of that view).
func (c *Core) onVerifiedTC(tc *pb.TimeoutCert) {
	w := tc.GetView()
	if c.tcs[w] == nil {
		c.tcs[w] = tc
	}
	if c.highTC == nil || w > c.highTC.GetView() {
		c.highTC = tc
	}
	c.onVerifiedQC(tc.GetHighQc(), c.cfg.Leader(w))
	if w >= c.view {
		c.failures++
		c.enterView(w + 1)
	}
}

// enterView moves to view v > current view.
func (c *Core) enterView(v uint64) {
	if v <= c.view {
		return
	}
	c.view = v
	c.safetyDirty = true
	c.slot = nil
	c.progressHeight = 0
	c.deadline = c.tick + c.duration()
	c.hbSeq, c.hbSeen = 0, 0
	c.lastHeartbeat = c.tick
	for w := range c.timeouts {
		if w < v {
			delete(c.timeouts, w)
		}
	}
	for w := range c.tcs {
		if w+1 < v {
			delete(c.tcs, w)
		}
	}
	c.gcVotes()
	if len(c.future) > 0 {
		c.replayFuture = true
	}
}
