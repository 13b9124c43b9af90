package exec

import (
	"fmt"
	"slices"
	"strings"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TemplateProblem is one way a contract template's state machine is
// malformed: Field is the path inside the template ("transitions[2].from[0]"),
// Reason what is wrong there.
type TemplateProblem struct {
	Field, Reason string
}

// TemplateProblems is the one structural check of a contract template, for
// genesis and governance installs alike: the names it uses are declared and
// unique, every state a transition leaves can be entered, final states can
// be reached and are never left, no transition returns to draft, deadlines
// and milestones sit in non-final states that exist, and the roles they
// name are the template's; and its money (ARCHITECTURE.md §5, "Budgets and
// payments"): amount_field, buyer_role and supplier_role all set or none,
// naming one of its fields and two different roles of it, amount_field
// assigned by no transition, milestone payment_bps summing to at most
// 10000, and payment_bps and penalties only on a template with money. It
// does not check id syntax, list lengths or expressions (the executor's
// validateTemplate adds those, penalties compiled as int). It returns every
// problem found, in template order.
func TemplateProblems(t *pb.ContractTemplate) []TemplateProblem {
	var ps []TemplateProblem
	add := func(field, format string, args ...any) {
		ps = append(ps, TemplateProblem{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	unique := func(field, what string, xs []string) map[string]bool {
		set := map[string]bool{}
		for i, x := range xs {
			f := fmt.Sprintf("%s[%d]", field, i)
			if x == "" {
				add(f, "empty")
				continue
			}
			if set[x] {
				add(f, "duplicate %s %q", what, x)
			}
			set[x] = true
		}
		return set
	}
	roles := unique("roles", "role", t.GetRoles())
	if len(t.GetRoles()) == 0 {
		add("roles", "empty: a contract needs at least one party role")
	}
	fields := unique("field_names", "field name", t.GetFieldNames())
	draft, active := t.GetDraftState(), t.GetActiveState()
	if draft == "" {
		add("draft_state", "empty")
	}
	if active == "" {
		add("active_state", "empty")
	} else if active == draft {
		add("active_state", "same as draft_state %q", draft)
	}
	finals := unique("final_states", "final state", t.GetFinalStates())
	for j, s := range t.GetFinalStates() {
		if s == draft || s == active {
			add(fmt.Sprintf("final_states[%d]", j), "%q is the draft or active state", s)
		}
	}

	// entered: states a contract can be in. targets: states some transition enters.
	entered := map[string]bool{draft: true, active: true}
	targets := map[string]bool{}
	for _, tr := range t.GetTransitions() {
		if tr.GetTo() != "" {
			entered[tr.GetTo()] = true
			targets[tr.GetTo()] = true
		}
	}
	trans := map[string]*pb.Transition{}
	for j, tr := range t.GetTransitions() {
		tf := fmt.Sprintf("transitions[%d]", j)
		if tr == nil {
			add(tf, "null")
			continue
		}
		if tr.GetName() == "" {
			add(tf+".name", "empty")
		} else if trans[tr.GetName()] != nil {
			add(tf+".name", "duplicate transition %q", tr.GetName())
		} else {
			trans[tr.GetName()] = tr
		}
		if len(tr.GetFrom()) == 0 {
			add(tf+".from", "empty")
		}
		for k, s := range tr.GetFrom() {
			sf := fmt.Sprintf("%s.from[%d]", tf, k)
			switch {
			case s == "":
				add(sf, "empty")
			case finals[s]:
				add(sf, "%q is a final state: no transition leaves it", s)
			case !entered[s]:
				add(sf, "state %q is never entered (it is not the draft or active state nor the target of any transition)", s)
			}
		}
		if tr.GetTo() == "" {
			add(tf+".to", "empty")
		} else if tr.GetTo() == draft {
			add(tf+".to", "%q is the draft state: a contract does not return to draft", draft)
		}
		for k, r := range tr.GetRoles() {
			if !roles[r] {
				add(fmt.Sprintf("%s.roles[%d]", tf, k), "unknown role %q", r)
			}
		}
		for k, a := range tr.GetSet() {
			af := fmt.Sprintf("%s.set[%d]", tf, k)
			if !fields[a.GetField()] {
				add(af+".field", "unknown field %q", a.GetField())
			}
			if strings.TrimSpace(a.GetExpr()) == "" {
				add(af+".expr", "empty")
			}
		}
	}
	for j, s := range t.GetFinalStates() {
		if !targets[s] {
			add(fmt.Sprintf("final_states[%d]", j), "final state %q is not the target of any transition", s)
		}
	}
	for j, d := range t.GetDeadlines() {
		df := fmt.Sprintf("deadlines[%d]", j)
		if !entered[d.GetState()] || d.GetState() == "" {
			add(df+".state", "unknown state %q", d.GetState())
		} else if finals[d.GetState()] {
			add(df+".state", "%q is a final state", d.GetState())
		}
		if strings.TrimSpace(d.GetAt()) == "" {
			add(df+".at", "empty")
		}
		tr := trans[d.GetTransition()]
		switch {
		case tr == nil:
			add(df+".transition", "unknown transition %q", d.GetTransition())
		case !slices.Contains(tr.GetFrom(), d.GetState()):
			add(df+".transition", "transition %q does not leave state %q", d.GetTransition(), d.GetState())
		}
	}
	money := t.GetAmountField() != "" || t.GetBuyerRole() != "" || t.GetSupplierRole() != ""
	if money {
		for _, p := range []struct{ field, v string }{
			{"amount_field", t.GetAmountField()}, {"buyer_role", t.GetBuyerRole()}, {"supplier_role", t.GetSupplierRole()},
		} {
			if p.v == "" {
				add(p.field, "empty: amount_field, buyer_role and supplier_role are set together (all three or none)")
			}
		}
		if a := t.GetAmountField(); a != "" && !fields[a] {
			add("amount_field", "unknown field %q", a)
		}
		if r := t.GetBuyerRole(); r != "" && !roles[r] {
			add("buyer_role", "unknown role %q", r)
		}
		if r := t.GetSupplierRole(); r != "" && !roles[r] {
			add("supplier_role", "unknown role %q", r)
		} else if r != "" && r == t.GetBuyerRole() {
			add("supplier_role", "same role as buyer_role %q: the buyer's budget does not pay the buyer", r)
		}
		for j, tr := range t.GetTransitions() {
			for k, a := range tr.GetSet() {
				if a.GetField() != "" && a.GetField() == t.GetAmountField() {
					add(fmt.Sprintf("transitions[%d].set[%d].field", j, k), "%q is the amount_field: the amount is fixed when the escrow is funded", a.GetField())
				}
			}
			// The escrow is funded when the last party signs (or at a
			// tender's award): a transition out of draft to anything
			// but a final state would make a money contract run unfunded.
			if slices.Contains(tr.GetFrom(), t.GetDraftState()) && !slices.Contains(t.GetFinalStates(), tr.GetTo()) {
				add(fmt.Sprintf("transitions[%d].to", j), "%q leaves draft state %q for a state that is not final: a money contract becomes active only by its parties' signatures, which fund its escrow", tr.GetName(), t.GetDraftState())
			}
		}
	}
	for j, d := range t.GetDeadlines() {
		if d.GetPenalty() != "" && !money {
			add(fmt.Sprintf("deadlines[%d].penalty", j), "set on a template without money (amount_field)")
		}
	}
	var bps uint64
	for j, m := range t.GetMilestones() {
		bps += uint64(m.GetPaymentBps())
		if m.GetPaymentBps() > 0 && !money {
			add(fmt.Sprintf("milestones[%d].payment_bps", j), "set on a template without money (amount_field)")
		}
	}
	if bps > maxBps {
		add("milestones", "payment_bps sum to %d, above %d (the whole amount)", bps, maxBps)
	}
	ms := map[string]bool{}
	for j, m := range t.GetMilestones() {
		mf := fmt.Sprintf("milestones[%d]", j)
		if m.GetId() == "" {
			add(mf+".id", "empty")
		} else if ms[m.GetId()] {
			add(mf+".id", "duplicate milestone %q", m.GetId())
		}
		ms[m.GetId()] = true
		if !roles[m.GetSubmitterRole()] {
			add(mf+".submitter_role", "unknown role %q", m.GetSubmitterRole())
		}
		if !roles[m.GetAcceptorRole()] {
			add(mf+".acceptor_role", "unknown role %q", m.GetAcceptorRole())
		}
		if !entered[m.GetState()] || m.GetState() == "" {
			add(mf+".state", "unknown state %q", m.GetState())
		} else if finals[m.GetState()] {
			add(mf+".state", "%q is a final state", m.GetState())
		}
	}
	return ps
}
