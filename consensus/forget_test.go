package consensus_test

import (
	"testing"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/sim"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"google.golang.org/protobuf/proto"
)

// forgetScenario is ARCHITECTURE.md §4 "Persist before you speak" as a directed
// simulation (crash, n=3): replica 0 commits B3 on QC(B4), which only it
// holds; replica 2 voted B4 (so it holds the lock QC(B3)) but committed only
// B2; replica 1 saw B3 but not B4. Replica 0 dies and replica 2 restarts.
// With its lock persisted, TC(0) carries QC(B3) and the next leader must
// extend B3; without it, replica 1 can fork B3 away.
func forgetScenario(t *testing.T, cfg consensus.Config) []string {
	t.Helper()
	c, err := sim.ConfigurationByName("crash-3")
	if err != nil {
		t.Fatal(err)
	}
	sc := sim.NewScenario(sim.Options{Config: c, Seed: 1, Template: &cfg})
	sc.Filter(func(from, to int, m *pb.ConsensusMessage) bool {
		if m.GetVote() != nil && to != 0 {
			return true // only replica 0 forms QCs
		}
		if to == 1 {
			p := m.GetProposal()
			if p == nil {
				return true
			}
			h := new(pb.Header)
			_ = proto.Unmarshal(p.GetBlock().GetHeader(), h)
			return h.GetHeight() > 3
		}
		return false
	})
	sc.Submit(1)
	if !sc.RunUntil(func() bool { return sc.Committed(0) >= 3 }, 500) {
		t.Fatalf("replica 0 did not commit B3 (at %d)", sc.Committed(0))
	}
	if sc.Committed(2) != 2 || sc.Committed(1) > 2 {
		t.Fatalf("setup: replicas committed %d %d %d, want 3 ≤2 2", sc.Committed(0), sc.Committed(1), sc.Committed(2))
	}
	sc.Crash(0)
	sc.Crash(2)
	sc.Restart(2)
	sc.Filter(nil)
	sc.RunUntil(func() bool { return len(sc.Safety()) > 0 }, 3000)
	return sc.Safety()
}

func TestForgetScenarioSafeWithPersistedState(t *testing.T) {
	if v := forgetScenario(t, consensus.DefaultConfig()); len(v) > 0 {
		t.Fatalf("violation with the safety state persisted: %v", v)
	}
}

func TestCheckerCatchesForgottenSafetyState(t *testing.T) {
	cfg := consensus.WithBugs(consensus.DefaultConfig(), consensus.Bugs{ForgetSafety: true})
	v := forgetScenario(t, cfg)
	if len(v) == 0 {
		t.Fatal("no safety violation with the persisted vote and lock forgotten")
	}
	t.Logf("caught: %s", v[0])
}
