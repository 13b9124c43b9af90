package consensus_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/consensustest"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// harness runs cores in lock step with a FIFO network and checks, on every
// Ready, that the safety state covering each outgoing vote or timeout is
// persisted first (ARCHITECTURE.md §4 "Persist before you speak").
type harness struct {
	t         testing.TB
	cfg       consensus.Config
	keys      []crypto.PrivateKey
	cores     []*consensus.Core
	stores    []consensus.SafetyState
	heads     []*pb.Block
	committed [][]consensus.CommittedBlock
	pending   []bool
	queue     []hmsg
	drop      func(from, to int, m *pb.ConsensusMessage) bool
	reject    map[string]bool // block hashes the application refuses
	// crashAtCommit[i]: replica i stops at its next Ready with committed
	// blocks, after its safety state is saved and its messages sent but
	// before the ledger stores the blocks (power lost mid-Ready).
	crashAtCommit []bool
	sent          [][]*pb.ConsensusMessage
	// rewrite, if set, may replace a message on its way (nil: drop it).
	rewrite func(from, to int, m *pb.ConsensusMessage) *pb.ConsensusMessage
	// trace, if set, receives one line per outgoing message, commit,
	// persisted state and piece of evidence (trace_test.go).
	trace func(format string, args ...any)
}

func (h *harness) tracef(format string, args ...any) {
	if h.trace != nil {
		h.trace(format, args...)
	}
}

type hmsg struct {
	from, to int
	m        *pb.ConsensusMessage
}

func newHarness(t testing.TB, n int, model consensus.FaultModel) *harness {
	t.Helper()
	keys := consensustest.Keys(n, 7)
	return newHarnessFrom(t, keys, consensustest.Config(keys, model), nil, consensus.SafetyState{})
}

// newHarnessFrom starts a replica per key with cfg, each from the
// committed head (nil: genesis) and the safety state given.
func newHarnessFrom(t testing.TB, keys []crypto.PrivateKey, cfg consensus.Config, head *pb.Block, st consensus.SafetyState) *harness {
	t.Helper()
	n := len(keys)
	h := &harness{t: t, cfg: cfg, keys: keys, reject: map[string]bool{}}
	h.cores = make([]*consensus.Core, n)
	h.stores = make([]consensus.SafetyState, n)
	h.heads = make([]*pb.Block, n)
	h.committed = make([][]consensus.CommittedBlock, n)
	h.pending = make([]bool, n)
	h.sent = make([][]*pb.ConsensusMessage, n)
	h.crashAtCommit = make([]bool, n)
	for i := range n {
		h.heads[i], h.stores[i] = head, st.Clone()
		h.start(i)
	}
	return h
}

func (h *harness) start(i int) {
	h.t.Helper()
	cfg := h.cfg
	cfg.Self = i
	c, err := consensus.NewCore(cfg, h.keys[i], consensus.RestartState{Safety: h.stores[i], Head: h.heads[i]})
	if err != nil {
		h.t.Fatal(err)
	}
	h.cores[i] = c
}

func posLE(v1, h1, v2, h2 uint64) bool { return v1 < v2 || (v1 == v2 && h1 <= h2) }

// process carries out core i's Ready until it has none.
func (h *harness) process(i int) {
	c := h.cores[i]
	if c == nil {
		return
	}
	c.ReportMempool(h.pending[i])
	for c.HasReady() {
		rd := c.Ready()
		if rd.Fault != nil {
			h.t.Fatalf("replica %d: %v", i, rd.Fault)
		}
		if rd.Safety != nil {
			h.stores[i] = rd.Safety.Clone()
			h.tracef("r%d persist view=%d voted=(%d,%s) high_qc=(%d,%d) blocks=%s", i, rd.Safety.View, rd.Safety.LastVotedView,
				voteHeight(rd.Safety.LastVotedHeight), rd.Safety.HighQC.GetView(), rd.Safety.HighQC.GetHeight(), blockHeights(rd.Safety.Blocks))
		}
		st := h.stores[i]
		for _, e := range rd.Messages {
			if e.To == consensus.Broadcast {
				h.tracef("r%d -> all: %s", i, describe(e.Msg))
			} else {
				h.tracef("r%d -> r%d: %s", i, e.To, describe(e.Msg))
			}
			if v := e.Msg.GetVote(); v != nil && !posLE(v.GetView(), v.GetHeight(), st.LastVotedView, st.LastVotedHeight) {
				h.t.Fatalf("replica %d sends vote (%d,%d) before persisting it (stored %d,%d)", i, v.GetView(), v.GetHeight(), st.LastVotedView, st.LastVotedHeight)
			}
			if to := e.Msg.GetTimeout(); to != nil && !posLE(to.GetView(), math.MaxUint64, st.LastVotedView, st.LastVotedHeight) {
				h.t.Fatalf("replica %d sends timeout(%d) before persisting it", i, to.GetView())
			}
			h.sent[i] = append(h.sent[i], e.Msg)
			for to := range h.cores {
				if to != i && (e.To == consensus.Broadcast || e.To == to) {
					h.queue = append(h.queue, hmsg{i, to, e.Msg})
				}
			}
		}
		for _, f := range rd.Fetch {
			if b := h.cores[f.From].Block(f.Hash); b != nil {
				h.queue = append(h.queue, hmsg{f.From, i, &pb.ConsensusMessage{Sender: uint32(f.From), Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{Block: b}}}})
			}
		}
		for _, ev := range rd.Evidence {
			h.tracef("r%d evidence: validator %d voted twice at (%d,%d)", i, ev.GetVoteA().GetVoter(), ev.GetVoteA().GetView(), ev.GetVoteA().GetHeight())
		}
		if len(rd.Committed) > 0 && h.crashAtCommit[i] {
			h.crashAtCommit[i] = false
			h.cores[i] = nil
			h.tracef("r%d crashes before storing heights %d..%d", i, rd.Committed[0].Height, rd.Committed[len(rd.Committed)-1].Height)
			return
		}
		for _, cb := range rd.Committed {
			if head := h.heads[i]; head != nil && cb.Block.GetJustify().GetHeight() != h.committedHeight(i) {
				h.t.Fatalf("replica %d: committed height %d on a ledger at %d", i, cb.Height, h.committedHeight(i))
			}
			h.committed[i] = append(h.committed[i], cb)
			h.heads[i] = cb.Block
			h.tracef("r%d commit h=%d txs=%d (child qc (%d,%d))", i, cb.Height, len(cb.Block.GetTxs()), cb.Cert.GetChildQc().GetView(), cb.Cert.GetChildQc().GetHeight())
			if len(cb.Block.GetTxs()) > 0 {
				h.pending[i] = false
			}
		}
		if len(rd.Committed) > 0 {
			c.Applied(rd.Committed[len(rd.Committed)-1].Height)
		}
		for _, req := range rd.ToValidate {
			ok := !h.reject[string(req.Hash)]
			if !ok {
				h.tracef("r%d refuses block h=%d", i, req.Header.GetHeight())
			}
			c.Validated(req.Hash, ok)
		}
		if s := rd.ProposeSlot; s != nil {
			var txs [][]byte
			inFlight := false
			for _, b := range s.Uncommitted {
				inFlight = inFlight || len(b.GetTxs()) > 0
			}
			if h.pending[i] && !inFlight {
				txs = [][]byte{[]byte("tx")}
			}
			_ = c.Propose(consensus.Payload{Txs: txs, Header: &pb.Header{StateHeight: s.StateHeight}})
		}
		c.ReportMempool(h.pending[i])
	}
}

// deliver runs the network until it is empty.
func (h *harness) deliver() {
	for i := range h.cores {
		h.process(i)
	}
	for len(h.queue) > 0 {
		m := h.queue[0]
		h.queue = h.queue[1:]
		if h.cores[m.to] == nil || (h.drop != nil && h.drop(m.from, m.to, m.m)) {
			continue
		}
		msg := m.m
		if h.rewrite != nil {
			if msg = h.rewrite(m.from, m.to, msg); msg == nil {
				continue
			}
		}
		if err := h.cores[m.to].Step(msg); err != nil {
			h.tracef("r%d refuses %s from r%d: %v", m.to, describe(msg), m.from, err)
		}
		h.process(m.to)
	}
}

// tick ticks every running core n times, delivering after each.
func (h *harness) tick(n int) {
	for range n {
		for i, c := range h.cores {
			if c != nil {
				c.Tick()
				h.process(i)
			}
		}
		h.deliver()
	}
}

func (h *harness) heights() []uint64 {
	var hs []uint64
	for _, c := range h.cores {
		if c == nil {
			hs = append(hs, 0)
			continue
		}
		hs = append(hs, c.Status().CommittedHeight)
	}
	return hs
}

// committedHeight is the height of replica i's ledger head.
func (h *harness) committedHeight(i int) uint64 {
	if h.heads[i] == nil {
		return 0
	}
	return h.heads[i].GetJustify().GetHeight() + 1
}

// describe is a one-line summary of a consensus message for traces: kinds,
// views and heights, never hashes or signatures.
func describe(m *pb.ConsensusMessage) string {
	switch {
	case m.GetProposal() != nil:
		b := m.GetProposal().GetBlock()
		hdr := new(pb.Header)
		_ = proto.Unmarshal(b.GetHeader(), hdr)
		s := fmt.Sprintf("proposal v=%d h=%d txs=%d justify=(%d,%d)", hdr.GetView(), hdr.GetHeight(), len(b.GetTxs()),
			b.GetJustify().GetView(), b.GetJustify().GetHeight())
		if tc := b.GetTc(); tc != nil {
			s += fmt.Sprintf(" tc=%d", tc.GetView())
		}
		if hdr.GetTimeUnixMs() != 0 {
			s += fmt.Sprintf(" time=%d", hdr.GetTimeUnixMs())
		}
		return s
	case m.GetVote() != nil:
		v := m.GetVote()
		return fmt.Sprintf("vote v=%d h=%d", v.GetView(), v.GetHeight())
	case m.GetTimeout() != nil:
		to := m.GetTimeout()
		return fmt.Sprintf("timeout v=%d high_qc=(%d,%d)", to.GetView(), to.GetHighQc().GetView(), to.GetHighQc().GetHeight())
	case m.GetTimeoutCert() != nil:
		tc := m.GetTimeoutCert()
		return fmt.Sprintf("tc v=%d sigs=%d high_qc=(%d,%d)", tc.GetView(), len(tc.GetSigs()), tc.GetHighQc().GetView(), tc.GetHighQc().GetHeight())
	case m.GetHeartbeat() != nil:
		hb := m.GetHeartbeat()
		return fmt.Sprintf("heartbeat v=%d seq=%d high_qc=(%d,%d)", hb.GetView(), hb.GetSeq(), hb.GetHighQc().GetView(), hb.GetHighQc().GetHeight())
	}
	return "empty message"
}

// voteHeight prints a last-voted height; a timeout records MaxUint64.
func voteHeight(h uint64) string {
	if h == math.MaxUint64 {
		return "timeout"
	}
	return fmt.Sprint(h)
}

// blockHeights lists persisted blocks by height.
func blockHeights(bs []*pb.Block) string {
	hs := make([]string, len(bs))
	for i, b := range bs {
		hdr := new(pb.Header)
		_ = proto.Unmarshal(b.GetHeader(), hdr)
		hs[i] = fmt.Sprint(hdr.GetHeight())
	}
	return "[" + strings.Join(hs, " ") + "]"
}
