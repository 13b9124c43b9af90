package main

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/state"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// companyOf is the test network's first company (a bidder).
func companyOf(t *testing.T, sum *testnetSummary) testnetAccount {
	t.Helper()
	for _, a := range sum.Accounts {
		if a.Kind == pb.IdentityKind_IDENTITY_KIND_COMPANY.String() {
			return a
		}
	}
	t.Fatal("the test network has no company")
	return testnetAccount{}
}

// keysOf are the keys of a JSON object, in any order.
func keysOf(m any) []string {
	var ks []string
	for k := range m.(map[string]any) {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func wantKeys(t *testing.T, what string, m any, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := keysOf(m); !slices.Equal(got, want) {
		t.Errorf("%s: keys %v, want %v", what, got, want)
	}
}

func TestQueryBudgetAndAccountJSON(t *testing.T) {
	_, sum, f := testnetFixture(t, 2)
	addr := f.serve(t, 0)
	q := func(args ...string) map[string]any {
		t.Helper()
		return jsonObject(t, mustRun(t, nil, append(append([]string{"query"}, args...), "--node", addr, "--output", "json")...).out)
	}

	// The opening budget of the test network's genesis.
	m := q("budget", "dept0")
	wantKeys(t, "budget", m, "height", "found", "budget")
	wantKeys(t, "budget.budget", m["budget"], "department_id", "balance", "funded", "updated_height")
	b := m["budget"].(map[string]any)
	if m["found"] != true || b["department_id"] != "dept0" || b["balance"] != float64(testnetBudget) || b["funded"] != float64(testnetBudget) || b["updated_height"] != float64(0) {
		t.Errorf("budget json: %v", m)
	}
	// A member never funded: balance 0, every field still there.
	f.mu.Lock()
	delete(f.kv, string(exec.BudgetKey("dept1")))
	f.mu.Unlock()
	m = q("budget", "dept1")
	if b := m["budget"].(map[string]any); m["found"] != false || b["department_id"] != "dept1" || b["balance"] != float64(0) || b["funded"] != float64(0) {
		t.Errorf("unfunded budget json: %v", m)
	}
	txt := mustRun(t, nil, "query", "budget", "dept0", "--node", addr).out
	if !strings.Contains(txt, "balance: 1000000000") || !strings.Contains(txt, "department_id: dept0") {
		t.Errorf("budget text:\n%s", txt)
	}

	co := companyOf(t, sum).ID
	f.put(exec.AccountKey(co), &pb.Account{IdentityId: co, Balance: 294000, UpdatedHeight: 7})
	m = q("account", co)
	wantKeys(t, "account", m, "height", "found", "account")
	wantKeys(t, "account.account", m["account"], "identity_id", "balance", "updated_height")
	if a := m["account"].(map[string]any); m["found"] != true || a["identity_id"] != co || a["balance"] != float64(294000) || a["updated_height"] != float64(7) {
		t.Errorf("account json: %v", m)
	}
	m = q("account", sum.Accounts[0].ID)
	if a := m["account"].(map[string]any); m["found"] != false || a["balance"] != float64(0) {
		t.Errorf("unpaid account json: %v", m)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"budget", "ghost"}, "no department ghost on chain"},
		{[]string{"account", "nobody"}, "no identity nobody on chain"},
		{[]string{"budget"}, "accepts 1 arg"},
	} {
		r := run(t, nil, append(append([]string{"query"}, tc.args...), "--node", addr)...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("query %v: %v, want %q", tc.args, r.err, tc.want)
		}
	}
}

func TestQueryContractMoneyAndDeadlines(t *testing.T) {
	f := newFakeChain("c1")
	addr := f.serve(t, 0)
	f.put(exec.TemplateKey(exec.TenderTemplateID), exec.TenderTemplate())
	ct := &pb.Contract{
		Id: "k1", TemplateId: exec.TenderTemplateID, State: "active", TenderId: "t1",
		Fields: []*pb.ContractField{
			{Name: "amount", Value: &pb.ContractField_IntValue{IntValue: 420000}},
			{Name: "delivery_deadline", Value: &pb.ContractField_IntValue{IntValue: 1900000000}},
			{Name: "grace_seconds", Value: &pb.ContractField_IntValue{IntValue: 86400}},
		},
		History: []*pb.ContractHistoryEntry{{Transition: "award", To: "active", Height: 12, TimeUnixMs: 1800000000123}},
		Amount:  420000, Escrow: 126000, BuyerDepartmentId: "dept0",
		Payments: []*pb.Payment{
			{Kind: "escrow", Amount: 420000, From: "budget/dept0", To: "escrow", Height: 12},
			{Kind: "milestone", Amount: 294000, From: "escrow", To: "company1", MilestoneId: "goods_delivered", Height: 20},
		},
	}
	f.contract = &pb.QueryContractResponse{Contract: ct, Height: 21}
	m := jsonObject(t, mustRun(t, nil, "query", "contract", "k1", "--node", addr, "--output", "json").out)
	wantKeys(t, "contract answer", m, "height", "contract", "state", "deadlines", "amount", "escrow", "buyer_department_id", "tender_id", "payments")
	if m["state"] != "active" || m["amount"] != float64(420000) || m["escrow"] != float64(126000) || m["buyer_department_id"] != "dept0" || m["tender_id"] != "t1" {
		t.Errorf("contract json: %v", m)
	}
	dls := m["deadlines"].([]any)
	if len(dls) != 1 {
		t.Fatalf("deadlines: %v", dls)
	}
	wantKeys(t, "deadline", dls[0], "state", "at", "transition", "penalty", "due_unix", "due_time")
	if d := dls[0].(map[string]any); d["due_unix"] != float64(1900086400) || d["due_time"] != "2030-03-18T17:46:40Z" ||
		d["transition"] != "terminate_for_breach" || d["penalty"] != "fields.amount / 10" {
		t.Errorf("deadline: %v", d)
	}
	pays := m["payments"].([]any)
	if len(pays) != 2 {
		t.Fatalf("payments: %v", pays)
	}
	wantKeys(t, "payment", pays[0], "kind", "amount", "from", "to", "milestone_id", "reason", "height")
	if p := pays[1].(map[string]any); p["kind"] != "milestone" || p["amount"] != float64(294000) || p["to"] != "company1" || p["milestone_id"] != "goods_delivered" || p["height"] != float64(20) {
		t.Errorf("payment: %v", p)
	}
	if c := m["contract"].(map[string]any); c["id"] != "k1" || c["escrow"] != float64(126000) {
		t.Errorf("contract view: %v", c)
	}

	// A deadline over now is due from the block that entered the state;
	// one the fields cannot compute says why.
	f.put(exec.TemplateKey("timed"), &pb.ContractTemplate{Id: "timed", FinalStates: []string{"done"}, Deadlines: []*pb.Deadline{
		{State: "active", At: "now + 3600", Transition: "lapse"},
		{State: "active", At: "fields.missing + 1", Transition: "lapse"},
		{State: "draft", At: "now", Transition: "lapse"},
	}})
	timed := proto.Clone(ct).(*pb.Contract)
	timed.TemplateId = "timed"
	f.contract = &pb.QueryContractResponse{Contract: timed, Height: 21}
	m = jsonObject(t, mustRun(t, nil, "query", "contract", "k1", "--node", addr, "--output", "json").out)
	dls = m["deadlines"].([]any)
	if len(dls) != 2 || dls[0].(map[string]any)["due_unix"] != float64(1800000000+3600) || dls[1].(map[string]any)["due_error"] == nil {
		t.Errorf("deadlines over now and a missing field: %v", dls)
	}
	// A final state has none; a template not on chain shows none, with a warning.
	timed.State = "done"
	m = jsonObject(t, mustRun(t, nil, "query", "contract", "k1", "--node", addr, "--output", "json").out)
	if len(m["deadlines"].([]any)) != 0 {
		t.Errorf("deadlines of a final state: %v", m["deadlines"])
	}
	timed.TemplateId = "gone"
	r := mustRun(t, nil, "query", "contract", "k1", "--node", addr, "--output", "json")
	if m := jsonObject(t, r.out); len(m["deadlines"].([]any)) != 0 || !strings.Contains(r.errOut, "contract template gone is not on chain") {
		t.Errorf("missing template: %v, stderr %q", m["deadlines"], r.errOut)
	}
	// A contract without money: zeros, every field there.
	f.contract = &pb.QueryContractResponse{Contract: &pb.Contract{Id: "k2", TemplateId: exec.TenderTemplateID, State: "draft"}, Height: 3}
	m = jsonObject(t, mustRun(t, nil, "query", "contract", "k2", "--node", addr, "--output", "json").out)
	if m["amount"] != float64(0) || m["escrow"] != float64(0) || len(m["payments"].([]any)) != 0 || len(m["deadlines"].([]any)) != 0 {
		t.Errorf("contract without money: %v", m)
	}
}

func TestQueryMoneyProve(t *testing.T) {
	enc := func(m proto.Message) []byte {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	budget := &pb.Budget{DepartmentId: "dept0", Balance: 750, Funded: 1000, UpdatedHeight: 1}
	w := newProofWorld(t, map[string][]byte{
		string(exec.BudgetKey("dept0")):     enc(budget),
		string(exec.DepartmentKey("dept1")): enc(&pb.Department{Id: "dept1"}),
		string(exec.AccountKey("company0")): enc(&pb.Account{IdentityId: "company0", Balance: 250, UpdatedHeight: 1}),
	})
	f := newFakeChain(w.chainID)
	f.status = &pb.StatusResponse{ChainId: w.chainID, Height: 4}
	var lie func(key, value []byte) []byte
	f.state = func(key []byte, prove bool) (*pb.QueryStateResponse, error) {
		v, err := w.tree.Get(1, key)
		if errors.Is(err, state.ErrNotFound) {
			v, err = nil, nil
		}
		if err != nil {
			return nil, connect.NewError(connect.CodeInternal, err)
		}
		res := &pb.QueryStateResponse{Found: v != nil, Value: v, Height: 4}
		if prove {
			res.Proof = w.prove(t, key, 3)
		}
		if lie != nil {
			res.Value = lie(key, v)
		}
		return res, nil
	}
	addr := f.serve(t, 0)
	prove := func(args ...string) map[string]any {
		t.Helper()
		return jsonObject(t, mustRun(t, nil, append(append([]string{"query"}, args...), "--prove", "--genesis", w.genesis, "--node", addr, "--output", "json")...).out)
	}
	m := prove("budget", "dept0")
	if p := m["proof"].(map[string]any); p["verified"] != true || p["present"] != true || m["budget"].(map[string]any)["balance"] != float64(750) {
		t.Errorf("proven budget: %v", m)
	}
	// The absence of a member's budget is proven too.
	m = prove("budget", "dept1")
	if p := m["proof"].(map[string]any); p["verified"] != true || p["present"] != false || m["found"] != false {
		t.Errorf("proven absent budget: %v", m)
	}
	m = prove("account", "company0")
	if p := m["proof"].(map[string]any); p["verified"] != true || m["account"].(map[string]any)["balance"] != float64(250) {
		t.Errorf("proven account: %v", m)
	}
	txt := mustRun(t, nil, "query", "budget", "dept0", "--prove", "--genesis", w.genesis, "--node", addr).out
	if !strings.Contains(txt, "proof verified against block 3 (commit certificate signed by 3 of 4 validators)") {
		t.Errorf("proven budget text: %s", txt)
	}

	// A node that inflates a budget is caught; nothing is printed.
	lie = func(key, v []byte) []byte {
		if string(key) == string(exec.BudgetKey("dept0")) {
			return enc(&pb.Budget{DepartmentId: "dept0", Balance: 999999, Funded: 1000, UpdatedHeight: 1})
		}
		return v
	}
	r := run(t, nil, "query", "budget", "dept0", "--prove", "--genesis", w.genesis, "--node", addr)
	if r.err == nil || !strings.Contains(r.err.Error(), "proof NOT verified") || strings.Contains(r.out, "999999") {
		t.Errorf("inflated budget: %v\n%s", r.err, r.out)
	}
}
