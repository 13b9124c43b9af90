package consensus_test

import (
	"strings"
	"testing"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/sim"
)

// TestCheckerCatchesBrokenRules switches off one safety rule at a time and
// shows the simulator reports a safety violation for each (the checker can
// fail). Each hunt stops at the first violating seed. Forgetting the
// persisted safety state on restart needs a precise crash point to matter
// and is shown by the directed simulation in forget_test.go.
func TestCheckerCatchesBrokenRules(t *testing.T) {
	cases := []struct {
		name    string
		bugs    consensus.Bugs
		configs []string
		faults  float64
	}{
		{"skip TC check on a view's first block", consensus.Bugs{SkipTCCheck: true}, []string{"byz-4", "byz-7"}, 1},
		{"accept a TC of q-1 timeouts", consensus.Bugs{WeakTC: true}, []string{"crash-3", "crash-5"}, 2},
		{"commit on a one-chain", consensus.Bugs{OneChainCommit: true}, []string{"crash-3", "crash-5"}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmpl := consensus.WithBugs(consensus.DefaultConfig(), tc.bugs)
			const maxSeeds = 300
			for seed := uint64(1); seed <= maxSeeds; seed++ {
				for _, name := range tc.configs {
					c, err := sim.ConfigurationByName(name)
					if err != nil {
						t.Fatal(err)
					}
					r := sim.Run(sim.Options{Config: c, Seed: seed, Template: &tmpl, Faults: tc.faults})
					for _, v := range r.Safety {
						// A fork, not only a commit certificate that fails
						// to verify (which the one-chain bug also gives).
						if strings.Contains(v, "agreement") || strings.Contains(v, "safety fault") {
							t.Logf("caught at %s seed %d: %s", name, seed, v)
							return
						}
					}
				}
			}
			t.Fatalf("no safety violation in %d seeds with the rule switched off", maxSeeds)
		})
	}
}
