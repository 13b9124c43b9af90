package sim_test

import (
	"testing"

	"github.com/govnode/govnode/consensus/sim"
)

// TestByzantineAttacksReachLaterEpochs: in byz-4-members runs the
// Byzantine replica's made-up messages (forgeries, wrong views, replays,
// twins, double votes, forks) are tagged and signed for the epoch its own
// core runs (ARCHITECTURE.md §4, "Reconfiguration"), so correct replicas
// step some of them in the epochs after a set change, and refuse the
// provably invalid ones there; the attacks do not stay in the genesis
// set's epoch; and the double votes it signs there are caught as
// equivocation evidence naming that epoch.
func TestByzantineAttacksReachLaterEpochs(t *testing.T) {
	c, err := sim.ConfigurationByName("byz-4-members")
	if err != nil {
		t.Fatal(err)
	}
	var jobs []sim.Options
	for i := 1; i <= 20; i++ {
		jobs = append(jobs, sim.Options{Config: c, Seed: uint64(i)})
	}
	var tot sim.Stats
	for _, r := range sim.RunMany(jobs, 2) {
		if r.Failed() {
			t.Errorf("seed %d: safety %v, liveness %q\nreplay: %s", r.Seed, r.Safety, r.Liveness, r.ReplayCommand())
		}
		tot.Crafted += r.Stats.Crafted
		tot.CraftedStepped += r.Stats.CraftedStepped
		tot.CraftedLater += r.Stats.CraftedLater
		tot.CraftedLaterInvalid += r.Stats.CraftedLaterInvalid
		tot.CraftedOtherEpoch += r.Stats.CraftedOtherEpoch
		tot.CraftedLeft += r.Stats.CraftedLeft
		tot.Evidence += r.Stats.Evidence
		tot.EvidenceLater += r.Stats.EvidenceLater
	}
	t.Logf("%d runs: %d crafted, %d stepped in their epoch (%d of a later epoch, %d of those refused as invalid), %d dropped as another epoch's; %d made up after the set removed it; %d evidence (%d of a later epoch)",
		len(jobs), tot.Crafted, tot.CraftedStepped, tot.CraftedLater, tot.CraftedLaterInvalid, tot.CraftedOtherEpoch, tot.CraftedLeft, tot.Evidence, tot.EvidenceLater)
	if tot.CraftedLater == 0 || tot.CraftedLaterInvalid == 0 || tot.EvidenceLater == 0 {
		t.Errorf("the Byzantine attacks stayed in the genesis epoch: %d crafted messages of a later epoch stepped by correct replicas, %d refused as invalid, %d evidence of a later epoch",
			tot.CraftedLater, tot.CraftedLaterInvalid, tot.EvidenceLater)
	}
}
