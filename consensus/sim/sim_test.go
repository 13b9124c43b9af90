package sim_test

import (
	"flag"
	"reflect"
	"testing"

	"github.com/govnode/govnode/consensus/sim"
	"github.com/govnode/govnode/crypto"
)

// seeds is the number of seeds per configuration in the default test run;
// `make sim` runs many more through cmd/simrun.
var seeds = flag.Int("sim.seeds", 40, "seeds per configuration")

// TestSimulation runs every configuration under random faults and checks
// agreement, validity, no lost commit across restarts, and liveness after
// the last fault heals (ARCHITECTURE.md §4, §7 "no fork and no lost committed
// transaction under any tested fault").
func TestSimulation(t *testing.T) {
	for _, c := range sim.Configurations {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			var jobs []sim.Options
			for i := 1; i <= *seeds; i++ {
				jobs = append(jobs, sim.Options{Config: c, Seed: uint64(i)})
			}
			var evidence, refused, crashes, powerCuts, byzMsgs, changes, catchUps, fewer int
			for _, r := range sim.RunMany(jobs, 1) {
				if r.Failed() {
					t.Errorf("seed %d: safety %v, liveness %q\nreplay: %s", r.Seed, r.Safety, r.Liveness, r.ReplayCommand())
				}
				evidence += r.Stats.Evidence
				refused += r.Stats.BadPayloadRefused
				crashes += r.Stats.Crashes
				powerCuts += r.Stats.PowerCuts
				byzMsgs += r.Stats.ByzantineSent
				changes += r.Stats.SetChanges
				catchUps += r.Stats.CatchUps
				if r.Stats.SetChanges == 0 {
					fewer++
				}
			}
			if c.Members {
				// Every run's changes (join, leave, rotate) took effect:
				// as three switches, or fewer when a slow chain decided
				// some in one block (one switch). Some replica crossed a
				// switch by block sync.
				t.Logf("%d set changes, %d catch-ups across epochs", changes, catchUps)
				if fewer > 0 || changes < 2*len(jobs) || catchUps == 0 {
					t.Errorf("membership schedules not exercised: %d set changes in %d runs (%d with none), %d catch-ups", changes, len(jobs), fewer, catchUps)
				}
			}
			if crashes == 0 || powerCuts == 0 {
				t.Errorf("%d crashes and %d power cuts during a commit were simulated; want some of each", crashes, powerCuts)
			}
			if c.Byzantine > 0 && (evidence == 0 || refused == 0 || byzMsgs == 0) {
				t.Errorf("byzantine behaviours not exercised: %d evidence, %d bad payloads refused, %d byzantine messages", evidence, refused, byzMsgs)
			}
		})
	}
}

// TestDeterministic: a seed replays to the same run, under both suites
// (SM2 signing is deterministic for that: crypto's RFC 6979 nonces).
func TestDeterministic(t *testing.T) {
	for _, suite := range []crypto.Suite{crypto.Ed25519SHA256, crypto.SM2SM3} {
		for _, name := range []string{"crash-5", "byz-7", "byz-4-members"} {
			c, err := sim.ConfigurationByName(name)
			if err != nil {
				t.Fatal(err)
			}
			a := sim.Run(sim.Options{Config: c, Seed: 99, Suite: suite})
			b := sim.Run(sim.Options{Config: c, Seed: 99, Suite: suite})
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("%s %s seed 99 differs between runs:\n%+v\n%+v", suite, name, a, b)
			}
		}
	}
}

// TestSimulationSM2 runs every configuration on an "sm2-sm3" chain: SM2
// keys sign every vote, timeout and proposal, SM3 names every block.
func TestSimulationSM2(t *testing.T) {
	for _, c := range sim.Configurations {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			var jobs []sim.Options
			for i := 1; i <= max(*seeds/4, 10); i++ {
				jobs = append(jobs, sim.Options{Config: c, Seed: uint64(i), Suite: crypto.SM2SM3})
			}
			commits := 0
			for _, r := range sim.RunMany(jobs, 1) {
				if r.Failed() {
					t.Errorf("seed %d: safety %v, liveness %q\nreplay: %s", r.Seed, r.Safety, r.Liveness, r.ReplayCommand())
				}
				commits += r.Commits
			}
			if commits == 0 {
				t.Error("no block committed on the sm2-sm3 chain")
			}
		})
	}
}

// TestCheckerCatchesReconfigurationBug plants a reconfiguration bug (the
// ledger executes the blocks the old validator set certified above its
// last height, instead of dropping them) and shows the checker reports it.
func TestCheckerCatchesReconfigurationBug(t *testing.T) {
	for _, name := range []string{"crash-4-members", "byz-4-members"} {
		c, err := sim.ConfigurationByName(name)
		if err != nil {
			t.Fatal(err)
		}
		caught := false
		for seed := uint64(1); seed <= 40 && !caught; seed++ {
			o := sim.Options{Config: c, Seed: seed}
			sim.WithSuffixBug(&o)
			if r := sim.Run(o); len(r.Safety) > 0 {
				t.Logf("caught at %s seed %d: %s", name, seed, r.Safety[0])
				caught = true
			}
		}
		if !caught {
			t.Errorf("%s: the planted reconfiguration bug went unnoticed in 40 seeds", name)
		}
	}
}
