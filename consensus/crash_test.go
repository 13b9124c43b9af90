package consensus_test

import (
	"fmt"
	"testing"

	"github.com/govnode/govnode/consensus"
)

// TestRecoversFromCrashBeforeCommitStored: replicas lose power in the
// middle of a Ready that commits blocks: the safety state (with the QC
// that commits them) is synced and the messages sent, the ledger never
// stores the blocks. A lone validator has no peer to fetch them from, and
// neither does a network that loses power all at once; each must recover
// from its own safety state, commit the lost blocks again with the same
// hashes, and go on committing. (A lone validator's dev chain stalled for
// good here: the blocks were left out of the safety state once committed.)
func TestRecoversFromCrashBeforeCommitStored(t *testing.T) {
	for _, tc := range []struct {
		n     int
		model consensus.FaultModel
	}{{1, consensus.Crash}, {4, consensus.Crash}, {4, consensus.Byzantine}} {
		t.Run(fmt.Sprintf("%d-%s", tc.n, tc.model), func(t *testing.T) {
			h := newHarness(t, tc.n, tc.model)
			for round := range 3 {
				h.pending[0] = true
				h.deliver()
				h.tick(h.cfg.HeartbeatTicks)
				for i := range h.cores {
					h.crashAtCommit[i] = true
				}
				before := make([]int, tc.n)
				for i := range h.cores {
					before[i] = len(h.committed[i])
				}
				h.pending[0] = true
				for i := range h.cores {
					h.pending[i] = true
				}
				h.deliver()
				h.tick(4 * h.cfg.HeartbeatTicks)
				for i, c := range h.cores {
					if c != nil {
						t.Fatalf("round %d: replica %d never reached a commit to crash at", round, i)
					}
				}
				// Power comes back everywhere. Each replica commits the lost
				// blocks again from its own safety state, before it hears
				// from anyone.
				for i := range h.cores {
					h.start(i)
					h.process(i)
					if got := len(h.committed[i]); got <= before[i] {
						t.Fatalf("round %d: replica %d did not commit the lost blocks at restart (%d committed before, %d now)", round, i, before[i], got)
					}
				}
				h.pending[0] = true
				h.deliver()
				h.tick(20 * h.cfg.BaseTimeoutTicks)
				for i := range h.cores {
					if got := len(h.committed[i]); got <= before[i]+1 {
						t.Fatalf("round %d: replica %d committed %d blocks before the crash and %d after restart: stalled", round, i, before[i], got)
					}
				}
			}
			// Every replica committed the same chain.
			for i := 1; i < tc.n; i++ {
				m := min(len(h.committed[0]), len(h.committed[i]))
				for k := range m {
					if string(h.committed[0][k].Hash) != string(h.committed[i][k].Hash) {
						t.Fatalf("replicas 0 and %d differ at height %d", i, h.committed[0][k].Height)
					}
				}
			}
		})
	}
}
