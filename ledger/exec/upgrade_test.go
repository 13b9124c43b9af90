package exec_test

import (
	"strings"
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func upgrade(name string, halt uint64) func(*pb.SubmitProposal) {
	return func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_ScheduleUpgrade{ScheduleUpgrade: &pb.ScheduleUpgrade{Name: name, HaltHeight: halt, Info: "release notes"}}
	}
}

// pass submits a proposal and has the three departments approve it.
func pass(e *env, id string, end uint64, change func(*pb.SubmitProposal)) *exec.BlockResult {
	e.t.Helper()
	e.ok("d0.admin", propose(id, end, change))
	e.ok("d0.admin", vote(id, true))
	e.ok("d1.admin", vote(id, true))
	return e.block(e.s("d2.admin").Tx(vote(id, true)))
}

func govAction(res *exec.BlockResult, action string) *pb.GovernanceEvent {
	for _, ev := range res.Events {
		if g := ev.GetGovernance(); g.GetAction() == action {
			return g
		}
	}
	return nil
}

// A governed upgrade: the plan is recorded when the proposal passes,
// replaced by a later one, cancelled by name; the block above its halt
// height applies it (kept as done, announced) in every replica's state,
// and its name cannot be planned again.
func TestScheduleUpgrade(t *testing.T) {
	e := newEnv(t, 3)
	res := pass(e, "u1", 100, upgrade("v2", 200))
	if g := govAction(res, "upgrade_scheduled"); g == nil || g.GetEffectiveHeight() != 200 {
		t.Fatalf("events %v", res.Events)
	}
	p, err := exec.PendingUpgrade(e.c.Store)
	if err != nil || p.GetName() != "v2" || p.GetHaltHeight() != 200 || p.GetProposalId() != "u1" || p.GetDecidedHeight() != e.c.Height || p.GetInfo() != "release notes" {
		t.Fatalf("plan %v %v", p, err)
	}
	// A later plan replaces it; cancelling another name is refused.
	pass(e, "u2", 100, upgrade("v2b", 150))
	if p, _ := exec.PendingUpgrade(e.c.Store); p.GetName() != "v2b" || p.GetHaltHeight() != 150 {
		t.Fatalf("plan after replacement %v", p)
	}
	e.refuse("d0.admin", codeNotFound, propose("u3", 100, upgrade("v2", 0)))
	res = pass(e, "u4", 100, upgrade("v2b", 0))
	if p, _ := exec.PendingUpgrade(e.c.Store); p != nil || govAction(res, "upgrade_cancelled") == nil {
		t.Fatalf("plan after cancel %v, events %v", p, res.Events)
	}

	// Applied by the block above the halt height, not before.
	halt := e.c.Height + 8
	pass(e, "u5", e.c.Height+4, upgrade("v3", halt))
	for e.c.Height < halt {
		if res := e.block(); govAction(res, "upgrade_applied") != nil {
			t.Fatalf("applied at %d, halt height %d", e.c.Height, halt)
		}
	}
	res = e.block()
	g := govAction(res, "upgrade_applied")
	if g == nil || g.GetEffectiveHeight() != halt+1 || g.GetProposalId() != "u5" {
		t.Fatalf("block %d above the halt height: events %v", e.c.Height, res.Events)
	}
	if p, _ := exec.PendingUpgrade(e.c.Store); p != nil {
		t.Fatalf("plan still pending after it applied: %v", p)
	}
	done, err := exec.AppliedUpgrades(e.c.Store)
	if err != nil || len(done) != 1 || done[0].GetName() != "v3" || done[0].GetAppliedHeight() != halt+1 || done[0].GetHaltHeight() != halt {
		t.Fatalf("applied upgrades %v %v", done, err)
	}
	e.refuse("d0.admin", codeExists, propose("u6", e.c.Height+10, upgrade("v3", e.c.Height+20)))
}

// Plans refused at submission, in a block, nothing planned.
func TestScheduleUpgradeRefusals(t *testing.T) {
	e := newEnv(t, 3)
	for name, c := range map[string]struct {
		change func(*pb.SubmitProposal)
		end    uint64
		want   pb.ResultCode
	}{
		"bad name":               {upgrade("V 2", 200), 100, codeInvalid},
		"empty name":             {upgrade("", 200), 100, codeInvalid},
		"halt not after voting":  {upgrade("v2", 100), 100, codeInvalid},
		"halt before the voting": {upgrade("v2", 50), 100, codeInvalid},
		"empty":                  {func(p *pb.SubmitProposal) { p.Change = &pb.SubmitProposal_ScheduleUpgrade{} }, 100, codeInvalid},
		"long info": {func(p *pb.SubmitProposal) {
			upgrade("v2", 200)(p)
			p.GetScheduleUpgrade().Info = strings.Repeat("x", exec.MaxTextBytes+1)
		}, 100, codeTooLarge},
		"cancel nothing": {upgrade("v2", 0), 100, codeNotFound},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.refuse("d0.admin", c.want, propose("p-"+strings.ReplaceAll(name, " ", "-"), c.end, c.change))
			t.Log(r.GetReason())
		})
	}
	e.refuse("d0.issuer", codeUnauthorized, propose("p-issuer", 100, upgrade("v2", 200)))
	if p, _ := exec.PendingUpgrade(e.c.Store); p != nil {
		t.Fatalf("a refused proposal planned %v", p)
	}

	// A plan cannot be decided at or past its halt height: it must halt
	// above its voting end, and a proposal is decided by then or expires.
	h := e.c.Height
	res := pass(e, "last", h+4, upgrade("v9", h+5))
	if p, _ := exec.PendingUpgrade(e.c.Store); p.GetHaltHeight() <= p.GetDecidedHeight() || govAction(res, "upgrade_scheduled") == nil {
		t.Fatalf("plan %v decided at or past its halt height", p)
	}
}
