package consensus_test

import (
	"testing"
	"time"

	"github.com/govnode/govnode/consensus"
)

// BenchmarkCoreSteps measures core steps per second: one op is one Step of
// a network message into a core of a 4-replica byzantine cluster that
// commits blocks continuously, with the Ready it produces carried out
// (signing, verifying each signature once, QC formation, commits).
func BenchmarkCoreSteps(b *testing.B) {
	h := newHarness(b, 4, consensus.Byzantine)
	start := time.Now()
	steps := 0
	for b.Loop() {
		for len(h.queue) == 0 {
			h.pending[0] = true
			for i, c := range h.cores {
				c.Tick()
				h.process(i)
			}
		}
		m := h.queue[0]
		h.queue = h.queue[1:]
		_ = h.cores[m.to].Step(m.m)
		h.process(m.to)
		steps++
	}
	b.ReportMetric(float64(steps)/time.Since(start).Seconds(), "steps/s")
	b.ReportMetric(float64(h.cores[1].Status().CommittedHeight)/float64(steps)*1000, "commits/1000steps")
}
