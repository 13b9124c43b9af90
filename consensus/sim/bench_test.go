package sim_test

import (
	"testing"
	"time"

	"github.com/govnode/govnode/consensus/sim"
)

// BenchmarkSimCommits measures simulated commits per second of wall time:
// n replicas (no faults, network delay 1-3 ticks) with a tx always
// pending; one op is one block committed by replica 0.
func BenchmarkSimCommits(b *testing.B) {
	for _, name := range []string{"byz-4", "byz-7"} {
		b.Run(name, func(b *testing.B) {
			c, err := sim.ConfigurationByName(name)
			if err != nil {
				b.Fatal(err)
			}
			sc := sim.NewScenario(sim.Options{Config: c, Seed: 1})
			start, t0 := time.Now(), sc.Now()
			commits := 0
			for b.Loop() {
				h := sc.Committed(0)
				sc.Submit(1)
				if !sc.RunUntil(func() bool { return sc.Committed(0) > h }, 1000) {
					b.Fatal("no commit")
				}
				commits += int(sc.Committed(0) - h)
			}
			if len(sc.Safety()) > 0 {
				b.Fatal(sc.Safety())
			}
			b.ReportMetric(float64(commits)/time.Since(start).Seconds(), "commits/s")
			b.ReportMetric(float64(sc.Now()-t0)/float64(commits), "ticks/commit")
		})
	}
}
