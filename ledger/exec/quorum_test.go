package exec_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// vset is a validator set of the fault model with the given ids, each with
// the key newPub("consensus/"+id) unless the id ends in "'" (the same
// department with another key: a rotated key).
func vset(model string, ids ...string) *pb.ValidatorSet {
	vs := &pb.ValidatorSet{FaultModel: model}
	for _, id := range ids {
		seed := "consensus/" + id
		id = strings.TrimSuffix(id, "'")
		vs.Validators = append(vs.Validators, &pb.Department{Id: id, ConsensusKey: newPub(seed)})
	}
	return vs
}

// ids are d<from> … d<to-1>.
func ids(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("d%d", i))
	}
	return out
}

func plus(base []string, more ...string) []string { return append(slices.Clone(base), more...) }

func without(base []string, gone ...string) []string {
	return slices.DeleteFunc(slices.Clone(base), func(s string) bool { return slices.Contains(gone, s) })
}

const (
	byz   = "byzantine"
	crash = "crash"
)

func TestCheckSetChange(t *testing.T) {
	four, five, seven, ten := ids(0, 4), ids(0, 5), ids(0, 7), ids(0, 10)
	for _, tc := range []struct {
		name                   string
		model                  string
		inForce, decided, next []string
		rule                   string // "" when allowed
		reason                 string // part of the reason
	}{
		// Rule 1, minimum size.
		{"byzantine 5 to 4", byz, five, five, ids(0, 4), "", ""},
		{"byzantine 4 to 3", byz, four, four, ids(0, 3), exec.RuleMinValidators,
			"remove-department x would leave 3 validators; byzantine mode needs at least 4"},
		{"byzantine 5, pending 4, to 3", byz, five, four, ids(0, 3), exec.RuleMinValidators, "would leave 3 validators"},
		{"crash 4 to 3", crash, four, four, ids(0, 3), "", ""},
		{"crash 3 to 2", crash, ids(0, 3), ids(0, 3), ids(0, 2), exec.RuleMinValidators,
			"would leave 2 validators; crash mode needs at least 3"},
		{"crash 2 grows to 3", crash, ids(0, 2), ids(0, 2), ids(0, 3), "", ""},
		{"crash 1 grows to 2", crash, ids(0, 1), ids(0, 1), ids(0, 2), "", ""},
		{"crash 2 to 1", crash, ids(0, 2), ids(0, 2), ids(0, 1), exec.RuleMinValidators, "would leave 1 validators"},
		{"byzantine 1 grows to 2", byz, ids(0, 1), ids(0, 1), ids(0, 2), "", ""},
		{"byzantine 3 grows to 4", byz, ids(0, 3), ids(0, 3), ids(0, 4), "", ""},
		{"byzantine 2 to 1", byz, ids(0, 2), ids(0, 2), ids(0, 1), exec.RuleMinValidators, "would leave 1 validators; byzantine mode needs at least 4"},

		// Rule 2, one-step bound: max(1, ⌊(n-1)/3⌋) with n the set in force.
		{"byzantine 4, one add", byz, four, four, five, "", ""},
		{"byzantine 4, pending add, another add", byz, four, five, ids(0, 6), exec.RuleStepBound,
			"would make 2 validators differ from the 4 in force (+d4, +d5), with the changes decided and not yet in force (+d4); byzantine mode allows at most max(1, ⌊(4-1)/3⌋) = 1 per step"},
		{"byzantine 4, pending add, a removal", byz, four, five, without(five, "d0"), exec.RuleStepBound,
			"2 validators differ from the 4 in force (-d0, +d4)"},
		{"byzantine 5, pending removal, another removal", byz, five, four, ids(0, 3), exec.RuleMinValidators, ""},
		{"byzantine 6, pending removal, another removal", byz, ids(0, 6), five, four, exec.RuleStepBound,
			"2 validators differ from the 6 in force (-d4, -d5)"},
		{"byzantine 3, pending add, another add", byz, ids(0, 3), four, five, exec.RuleStepBound, "at most max(1, ⌊(3-1)/3⌋) = 1"},
		{"byzantine 7, pending add, another add", byz, seven, ids(0, 8), ids(0, 9), "", ""},
		{"byzantine 7, pending removal, another removal", byz, seven, ids(0, 6), ids(0, 5), "", ""},
		{"byzantine 7, two pending, a third", byz, seven, ids(0, 9), ids(0, 10), exec.RuleStepBound,
			"3 validators differ from the 7 in force (+d7, +d8, +d9)"},
		{"byzantine 10, two pending, a third", byz, ten, ids(0, 12), ids(0, 13), "", ""},
		{"byzantine 10, three pending, a fourth", byz, ten, ids(0, 13), ids(0, 14), exec.RuleStepBound, "at most max(1, ⌊(10-1)/3⌋) = 3"},
		{"byzantine 4, rotated key pending, an add", byz, four, plus(without(four, "d1"), "d1'"), plus(without(four, "d1"), "d1'", "d4"),
			exec.RuleStepBound, "(~d1, +d4)"},
		{"crash 3, pending add, another add", crash, ids(0, 3), four, five, "", ""},
		{"crash 6, pending removals, another removal", crash, ids(0, 6), four, ids(0, 3), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := exec.SetChange{What: "remove-department x", InForce: vset(tc.model, tc.inForce...),
				Decided: vset(tc.model, tc.decided...), Next: vset(tc.model, tc.next...)}
			err := exec.CheckSetChange(c)
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var qe *exec.QuorumError
			if !errors.As(err, &qe) {
				t.Fatalf("error %v, want a QuorumError", err)
			}
			if qe.Rule != tc.rule || !strings.Contains(qe.Reason, tc.reason) {
				t.Fatalf("rule %q reason %q, want %q containing %q", qe.Rule, qe.Reason, tc.rule, tc.reason)
			}
			if !strings.HasPrefix(err.Error(), "quorum safety, "+tc.rule+": ") {
				t.Fatalf("error %q does not name its rule", err)
			}
		})
	}
}

func TestCheckLiveQuorum(t *testing.T) {
	four, five := ids(0, 4), ids(0, 5)
	for _, tc := range []struct {
		name                   string
		model                  string
		inForce, decided, next []string
		live                   []string
		reason                 string // "" when allowed
	}{
		{"crash 4 live, add", crash, four, four, five, four, ""},
		{"crash 3 of 4 live, add", crash, four, four, five, ids(0, 3), ""},
		{"byzantine 4 live, add", byz, four, four, five, four, ""},
		{"byzantine 3 of 4 live, add", byz, four, four, five, ids(0, 3),
			"add-department d4 would leave 5 validators needing a quorum of 4 (byzantine), but only 3 of them are live now (d0, d1, d2; seen)"},
		{"byzantine 3 of 4 live, the new one said live", byz, four, four, five, []string{"d0", "d1", "d2", "d4"}, "only 3 of them"},
		{"byzantine 4 of 5 live, remove a live one", byz, five, five, without(five, "d0"), ids(0, 4), ""},
		{"byzantine 3 of 5 live, remove a live one", byz, five, five, without(five, "d0"), ids(0, 3),
			"would leave 4 validators needing a quorum of 3 (byzantine), but only 2 of them are live now (d1, d2; seen)"},
		{"byzantine 3 of 5 live, remove a dead one", byz, five, five, without(five, "d4"), ids(0, 3), ""},
		{"crash 2 of 3 live, add", crash, ids(0, 3), ids(0, 3), four, ids(0, 2), "needing a quorum of 3 (crash), but only 2"},
		{"crash 2 of 3 live, remove the dead one", crash, ids(0, 3), ids(0, 3), ids(0, 2), ids(0, 2), ""},
		{"crash 3 of 5 live, remove a dead one", crash, five, five, ids(0, 4), ids(0, 3), ""},
		{"crash 3 of 5 live, remove a live one", crash, five, five, without(five, "d0"), ids(0, 3), "quorum of 3 (crash), but only 2"},
		{"crash 3 of 5 live, add", crash, five, five, ids(0, 6), ids(0, 3), "quorum of 4 (crash), but only 3"},
		// A validator decided but not yet in force is not live yet.
		{"crash 3 live, pending add, add", crash, ids(0, 3), four, five, four, ""},
		{"byzantine 4 live, pending add, add", byz, four, five, ids(0, 6), five, "needing a quorum of 5 (byzantine), but only 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			what := "remove-department x"
			if len(tc.next) > len(tc.decided) {
				what = "add-department " + tc.next[len(tc.next)-1]
			}
			c := exec.SetChange{What: what, InForce: vset(tc.model, tc.inForce...),
				Decided: vset(tc.model, tc.decided...), Next: vset(tc.model, tc.next...)}
			live := map[string]bool{}
			for _, id := range tc.live {
				live[id] = true
			}
			err := exec.CheckLiveQuorum(c, live, "seen")
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var qe *exec.QuorumError
			if !errors.As(err, &qe) || qe.Rule != exec.RuleLiveQuorum || !strings.Contains(qe.Reason, tc.reason) {
				t.Fatalf("error %v, want the live-quorum rule with %q", err, tc.reason)
			}
		})
	}
}

// heightReader is the fixture's store with its committed height, as the
// node's reader gives it to CheckTx (exec.HeightReader).
type heightReader struct {
	*exectest.Store
	h uint64
}

func (r heightReader) Height() (uint64, bool) { return r.h, true }

// check runs CheckTx of body signed by id against r without using a nonce.
// It checks that CheckTx changed no state.
func (e *env) check(r exec.Reader, id string, body *pb.TxBody) *exec.CheckResult {
	e.t.Helper()
	s := e.s(id)
	tx := s.Tx(body)
	s.Nonce--
	before := e.c.Store.Hash()
	res, err := e.c.Exec.CheckTx(r, tx)
	if err != nil {
		e.t.Fatalf("check tx: %v", err)
	}
	if !bytes.Equal(e.c.Store.Hash(), before) {
		e.t.Fatal("CheckTx changed the state")
	}
	return res
}

func TestQuorumSafetyAtSubmit(t *testing.T) {
	e := newEnv(t, 4) // byzantine
	// CheckTx: the mempool refuses it with the rule and the numbers.
	res := e.check(e.c.Store, "d0.admin", propose("rm3", 100, removeDept("d3")))
	if res.Code != codeConflict || res.Reason != "quorum safety, minimum size: remove-department d3 would leave 3 validators; byzantine mode needs at least 4" {
		t.Fatalf("CheckTx: %v %q", res.Code, res.Reason)
	}
	// In a block: refused, only the nonce used (env.refuse checks it).
	e.refuse("d0.admin", codeConflict, propose("rm3", 100, removeDept("d3")))
	if _, err := exec.Proposal(e.c.Store, "rm3"); !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("refused proposal stored: %v", err)
	}

	// One add passes and is decided: d4 is in force from h+delay.
	e.ok("d0.admin", propose("add4", 100, addDept("d4")))
	for _, d := range []string{"d1", "d2", "d3"} {
		e.ok(d+".admin", vote("add4", true))
	}
	vs, err := exec.ValidatorSet(e.c.Store)
	if err != nil || len(vs.GetValidators()) != 5 || vs.GetEffectiveHeight() != e.c.Height+delay {
		t.Fatalf("decided set %v %v", vs, err)
	}
	add5 := func() *pb.TxBody { return propose("add5", 100, addDept("d5")) }
	// Within the delay another add would make 2 of the 4 in force differ.
	hr := heightReader{e.c.Store, e.c.Height}
	res = e.check(hr, "d0.admin", add5())
	want := "quorum safety, one-step change: add-department d5 would make 2 validators differ from the 4 in force (+d4, +d5), " +
		"with the changes decided and not yet in force (+d4); byzantine mode allows at most max(1, ⌊(4-1)/3⌋) = 1 per step, so wait until they are in force"
	if res.Code != codeConflict || res.Reason != want {
		t.Fatalf("CheckTx within the delay: %v %q", res.Code, res.Reason)
	}
	// A Reader without the height takes the decided set as in force: only
	// the step itself counts there (the block and the node check exactly).
	if res := e.check(e.c.Store, "d0.admin", add5()); res.Code != codeOK {
		t.Fatalf("CheckTx without a height: %v %q", res.Code, res.Reason)
	}
	r := e.refuse("d0.admin", codeConflict, add5())
	if r.GetReason() != want {
		t.Fatalf("in a block: %q", r.GetReason())
	}
	if _, err := exec.Proposal(e.c.Store, "add5"); !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("refused proposal stored: %v", err)
	}
	// Once d4 is in force the same proposal is one step again.
	e.block()
	if res := e.check(heightReader{e.c.Store, e.c.Height}, "d0.admin", add5()); res.Code != codeOK {
		t.Fatalf("CheckTx after the delay: %v %q", res.Code, res.Reason)
	}
	e.ok("d0.admin", add5())
}

// changedKeys lists the keys a block changed that start with one of prefixes.
func changedKeys(res *exec.BlockResult, prefixes ...string) []string {
	var out []string
	for _, c := range res.Changes {
		for _, p := range prefixes {
			if strings.HasPrefix(string(c.Key), p) {
				out = append(out, string(c.Key))
			}
		}
	}
	return out
}

func TestQuorumSafetyAtExecution(t *testing.T) {
	t.Run("two adds within the delay", func(t *testing.T) {
		e := newEnv(t, 4)
		// Each is one step when submitted.
		e.ok("d0.admin", propose("a", 100, addDept("d4")))
		e.ok("d0.admin", propose("b", 100, addDept("d5")))
		e.block(e.s("d0.admin").Tx(vote("a", true)), e.s("d0.admin").Tx(vote("b", true)),
			e.s("d1.admin").Tx(vote("a", true)), e.s("d1.admin").Tx(vote("b", true)))
		if res := e.block(e.s("d2.admin").Tx(vote("a", true))); res.ValidatorUpdate == nil {
			t.Fatal("a changed no validator")
		}
		decided, _ := exec.ValidatorSet(e.c.Store)
		// b passes within the delay (d4 is a member already: 4 approvals
		// of 5): 4 validators in force, d4 and d5 would differ.
		res := e.block(e.s("d2.admin").Tx(vote("b", true)), e.s("d3.admin").Tx(vote("b", true)))
		p := proposalOf(t, e, "b")
		if p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_FAILED || !strings.Contains(p.GetFailureReason(), "one-step change: add-department d5 would make 2 validators differ from the 4 in force") {
			t.Fatalf("b: %v %q", p.GetStatus(), p.GetFailureReason())
		}
		checkFailedChangedNothing(t, e, res, decided, "d5")
	})
	t.Run("two removals each fine alone", func(t *testing.T) {
		e := newEnv(t, 5)
		e.ok("d0.admin", propose("r3", 100, removeDept("d3")))
		e.ok("d0.admin", propose("r4", 100, removeDept("d4")))
		var txs [][]byte
		for _, d := range []string{"d0", "d1", "d2"} {
			txs = append(txs, e.s(d+".admin").Tx(vote("r3", true)), e.s(d+".admin").Tx(vote("r4", true)))
		}
		e.block(txs...)
		if res := e.block(e.s("d4.admin").Tx(vote("r3", true))); res.ValidatorUpdate == nil {
			t.Fatal("r3 changed no validator")
		}
		decided, _ := exec.ValidatorSet(e.c.Store)
		// 3 of the 4 members approved r4 already; d4's vote decides it.
		res := e.block(e.s("d4.admin").Tx(vote("r4", true)))
		p := proposalOf(t, e, "r4")
		if p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_FAILED ||
			p.GetFailureReason() != "quorum safety, minimum size: remove-department d4 would leave 3 validators; byzantine mode needs at least 4" {
			t.Fatalf("r4: %v %q", p.GetStatus(), p.GetFailureReason())
		}
		checkFailedChangedNothing(t, e, res, decided, "d4")
		if _, err := exec.Department(e.c.Store, "d4"); err != nil {
			t.Fatalf("d4 removed by a failed proposal: %v", err)
		}
	})
}

// checkFailedChangedNothing checks that a proposal that failed at execution
// in the block res changed no validator, department or identity of dept.
func checkFailedChangedNothing(t *testing.T, e *env, res *exec.BlockResult, decided *pb.ValidatorSet, dept string) {
	t.Helper()
	if res.ValidatorUpdate != nil {
		t.Fatalf("validator update %v", res.ValidatorUpdate)
	}
	if k := changedKeys(res, "valset/", "dept/", "deptrm/", "id/"+dept); len(k) != 0 {
		t.Fatalf("failed proposal changed %v", k)
	}
	if vs, _ := exec.ValidatorSet(e.c.Store); len(vs.GetValidators()) != len(decided.GetValidators()) {
		t.Fatalf("decided set %v, was %v", vs, decided)
	}
	var failed bool
	for _, ev := range res.Events {
		if g := ev.GetGovernance(); g != nil && g.GetAction() == "failed" {
			failed = true
		}
	}
	if !failed {
		t.Fatalf("no failed event in %v", res.Events)
	}
}

// TestProposedSetChange: the node's view of a proposal's change.
func TestProposedSetChange(t *testing.T) {
	e := newEnv(t, 4)
	e.ok("d0.admin", propose("add4", 100, addDept("d4")))
	for _, d := range []string{"d1", "d2", "d3"} {
		e.ok(d+".admin", vote("add4", true))
	}
	sub := propose("add5", 100, addDept("d5")).GetSubmitProposal()
	c, ok, err := exec.ProposedSetChange(e.c.Store, e.c.Height+1, sub)
	if err != nil || !ok {
		t.Fatalf("%v %v", ok, err)
	}
	if c.What != "add-department d5" || len(c.InForce.GetValidators()) != 4 || len(c.Decided.GetValidators()) != 5 ||
		len(c.Next.GetValidators()) != 6 || c.Next.GetFaultModel() != byz {
		t.Fatalf("change %+v", c)
	}
	if c, _, _ := exec.ProposedSetChange(e.c.Store, e.c.Height+delay, sub); len(c.InForce.GetValidators()) != 5 {
		t.Fatalf("at the effective height %d in force", len(c.InForce.GetValidators()))
	}
	params := propose("pp", 100, func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_UpdateParams{UpdateParams: exectest.DefaultParams()}
	}).GetSubmitProposal()
	if _, ok, err := exec.ProposedSetChange(e.c.Store, e.c.Height+1, params); ok || err != nil {
		t.Fatalf("params change: %v %v", ok, err)
	}
}
