package consensus_test

import (
	"testing"

	"github.com/govnode/govnode/consensus"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"google.golang.org/protobuf/proto"
)

// FuzzStep: any bytes decoded as a ConsensusMessage and stepped into a core
// never panic, whatever state the core is in (DESIGN §7 "Every bad input
// gets a clear error and changes nothing").
func FuzzStep(f *testing.F) {
	h := newHarness(f, 4, consensus.Byzantine)
	h.pending[0] = true
	h.deliver()
	for _, ms := range h.sent {
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
		h := newHarness(t, 4, consensus.Byzantine)
		c := h.cores[3]
		_ = c.Step(m)
		c.Tick()
		_ = c.Ready()
		// Also in a core that has made progress.
		_ = h.cores[1].Step(m)
	})
}
