package consensus_test

import (
	"testing"

	"github.com/govnode/govnode/consensus"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"google.golang.org/protobuf/proto"
)

// FuzzStep: any bytes decoded as a ConsensusMessage and stepped into a core
// never panic, whatever state the core is in (ARCHITECTURE.md §7 "Every bad input
// gets a clear error and changes nothing"): a fresh core, and one that has
// committed blocks, holds votes and a high QC, and leads or follows.
func FuzzStep(f *testing.F) {
	seed := progressed(f)
	for _, ms := range seed.sent {
		for _, m := range ms {
			b, _ := proto.Marshal(m)
			f.Add(b)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x12, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(pb.ConsensusMessage)
		if proto.Unmarshal(data, m) != nil {
			return
		}
		fresh := newHarness(t, 4, consensus.Byzantine)
		c := fresh.cores[3]
		_ = c.Step(m)
		c.Tick()
		_ = c.Ready()

		// A network that has made progress: step the message into a
		// follower and the leader, then let the network run on, which
		// must still commit (a bad message changes nothing).
		h := progressed(t)
		before := h.cores[1].Status().CommittedHeight
		for _, i := range []int{1, 0} {
			_ = h.cores[i].Step(m)
			h.process(i)
		}
		h.pending[0] = true
		h.deliver()
		h.tick(2 * h.cfg.HeartbeatTicks)
		if got := h.cores[1].Status().CommittedHeight; got < before {
			t.Fatalf("committed height went from %d to %d", before, got)
		}
	})
}

// progressed is a 4-replica network that has committed a tx block and
// the blocks that finalize it.
func progressed(t testing.TB) *harness {
	h := newHarness(t, 4, consensus.Byzantine)
	h.pending[0] = true
	h.deliver()
	h.tick(3 * h.cfg.HeartbeatTicks)
	if h.cores[1].Status().CommittedHeight == 0 {
		t.Fatal("setup: nothing committed")
	}
	return h
}
