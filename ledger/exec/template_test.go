package exec_test

import (
	"strings"
	"testing"

	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// The structural template rule has one home, exec.TemplateProblems: the
// refusals genesis validation always made (a state no transition enters, a
// final state nothing reaches, a transition back to draft, a milestone in a
// final state) now refuse a governance install too, which used to accept
// them. (genesis's TestValidateErrors checks that genesis reports them
// with their field paths through the same function.)
func TestTemplateRuleSharedByGovernance(t *testing.T) {
	for _, tmpl := range []*pb.ContractTemplate{exec.TenderTemplate(), genesis.SampleProcurementTemplate()} {
		if ps := exec.TemplateProblems(tmpl); len(ps) != 0 {
			t.Fatalf("template %s: %v", tmpl.GetId(), ps)
		}
	}
	bad := map[string]struct {
		mutate func(*pb.ContractTemplate)
		field  string
	}{
		"state never entered":   {func(t *pb.ContractTemplate) { t.Transitions[0].From = []string{"limbo"} }, "transitions[0].from[0]"},
		"final never reached":   {func(t *pb.ContractTemplate) { t.FinalStates = append(t.FinalStates, "archived") }, "\"archived\" is not the target"},
		"back to draft":         {func(t *pb.ContractTemplate) { t.Transitions[1].To = t.DraftState }, "transitions[1].to"},
		"milestone final state": {func(t *pb.ContractTemplate) { t.Milestones[0].State = t.FinalStates[0] }, "milestones[0].state"},
	}
	e := newEnv(t, 3)
	n := 0
	for name, b := range bad {
		tmpl := exec.TenderTemplate()
		tmpl.Id = "bad-" + strings.ReplaceAll(name, " ", "-")
		b.mutate(tmpl)
		ps := exec.TemplateProblems(tmpl)
		if len(ps) == 0 {
			t.Fatalf("%s: no problem found", name)
		}
		n++
		r := e.refuse("d2.admin", codeInvalid, propose(tmpl.Id, 50, func(p *pb.SubmitProposal) {
			p.Change = &pb.SubmitProposal_InstallContractTemplate{InstallContractTemplate: tmpl}
		}))
		if !strings.Contains(r.GetReason(), b.field) {
			t.Errorf("%s: reason %q does not name %s", name, r.GetReason(), b.field)
		}
	}
	if n != len(bad) {
		t.Fatal("not every case ran")
	}
}
