package exec_test

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

const tenderAmount = 125_000_00 // createTender's amount

func budgetOf(t *testing.T, e *env, dept string) int64 {
	t.Helper()
	b, err := exec.Budget(e.c.Store, dept)
	if errors.Is(err, exec.ErrNotFound) {
		return 0
	}
	if err != nil {
		t.Fatalf("budget %s: %v", dept, err)
	}
	if b.GetDepartmentId() != dept || b.GetBalance() < 0 {
		t.Fatalf("budget %s: %v", dept, b)
	}
	return b.GetBalance()
}

func accountOf(t *testing.T, e *env, id string) int64 {
	t.Helper()
	a, err := exec.Account(e.c.Store, id)
	if errors.Is(err, exec.ErrNotFound) {
		return 0
	}
	if err != nil {
		t.Fatalf("account %s: %v", id, err)
	}
	if a.GetIdentityId() != id || a.GetBalance() < 0 {
		t.Fatalf("account %s: %v", id, a)
	}
	return a.GetBalance()
}

func TestGenesisBudgets(t *testing.T) {
	e := newEnv(t, 2)
	for _, d := range e.f.Depts {
		b, err := exec.Budget(e.c.Store, d)
		if err != nil || b.GetBalance() != exectest.DeptBudget || b.GetFunded() != exectest.DeptBudget || b.GetUpdatedHeight() != 0 {
			t.Fatalf("budget %s: %v %v", d, b, err)
		}
		if v, err := e.c.Store.Get(exec.BudgetKey(d)); err != nil || len(v) == 0 {
			t.Fatalf("no value at BudgetKey(%s)", d)
		}
	}
	if _, err := exec.Account(e.c.Store, "co0"); !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("account before any payment: %v", err)
	}

	ex, err := exec.New(exec.DefaultConfig(exectest.ChainID))
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(d *pb.GenesisDoc){
		"unknown department": func(d *pb.GenesisDoc) { d.Budgets[0].DepartmentId = "nope" },
		"zero":               func(d *pb.GenesisDoc) { d.Budgets[0].Balance = 0 },
		"negative":           func(d *pb.GenesisDoc) { d.Budgets[0].Balance = -1 },
		"duplicate":          func(d *pb.GenesisDoc) { d.Budgets[1].DepartmentId = d.Budgets[0].GetDepartmentId() },
		"funded differs":     func(d *pb.GenesisDoc) { d.Budgets[0].Funded = 7 },
		"height":             func(d *pb.GenesisDoc) { d.Budgets[0].UpdatedHeight = 3 },
		"null":               func(d *pb.GenesisDoc) { d.Budgets[0] = nil },
	}
	for name, mutate := range bad {
		t.Run(name, func(t *testing.T) {
			f := exectest.NewFixture(2)
			mutate(f.Genesis)
			if _, err := ex.InitGenesis(f.Genesis); !errors.Is(err, exec.ErrInvalidGenesis) {
				t.Fatalf("InitGenesis: %v, want ErrInvalidGenesis", err)
			}
		})
	}
	// funded may be given, equal to the balance; no budget at all is fine.
	f := exectest.NewFixture(2)
	f.Genesis.Budgets[0].Funded = f.Genesis.Budgets[0].GetBalance()
	if _, err := ex.InitGenesis(f.Genesis); err != nil {
		t.Fatal(err)
	}
	f.Genesis.Budgets = nil
	if _, err := ex.InitGenesis(f.Genesis); err != nil {
		t.Fatal(err)
	}
}

func TestEscrowFundedAtActivation(t *testing.T) {
	e := newEnv(t, 2)
	now := exectest.GenesisTimeMs / 1000
	e.ok("d0.issuer", createTender("t1", "d0.issuer", "co0", now+10*day, day))
	e.ok("d0.issuer", sign("t1"))
	if c := contractOf(t, e, "t1"); c.GetEscrow() != 0 || c.GetAmount() != 0 || len(c.GetPayments()) != 0 || budgetOf(t, e, "d0") != exectest.DeptBudget {
		t.Fatalf("escrow before activation: %v", c)
	}
	r := e.ok("co0", sign("t1"))
	pe := r.GetEvents()[2].GetPayment()
	if pe.GetKind() != exec.PaymentEscrow || pe.GetAmount() != tenderAmount || pe.GetContractId() != "t1" || pe.GetFrom() != "budget/d0" || pe.GetTo() != "escrow/t1" {
		t.Fatalf("escrow event %v", pe)
	}
	c := contractOf(t, e, "t1")
	if c.GetState() != "active" || c.GetAmount() != tenderAmount || c.GetEscrow() != tenderAmount || c.GetBuyerDepartmentId() != "d0" {
		t.Fatalf("contract %v", c)
	}
	if len(c.GetPayments()) != 1 || c.GetPayments()[0].GetKind() != exec.PaymentEscrow || c.GetPayments()[0].GetAmount() != tenderAmount || c.GetPayments()[0].GetHeight() != e.c.Height {
		t.Fatalf("payments %v", c.GetPayments())
	}
	if got := budgetOf(t, e, "d0"); got != exectest.DeptBudget-tenderAmount {
		t.Fatalf("budget d0 %d", got)
	}
	if got := budgetOf(t, e, "d1"); got != exectest.DeptBudget {
		t.Fatalf("budget d1 %d", got)
	}
	b, _ := exec.Budget(e.c.Store, "d0")
	if b.GetFunded() != exectest.DeptBudget || b.GetUpdatedHeight() != e.c.Height {
		t.Fatalf("budget %v", b)
	}
}

func TestEscrowInsufficientBudget(t *testing.T) {
	e := newEnv(t, 2)
	now := exectest.GenesisTimeMs / 1000
	b := createTender("t1", "d1.issuer", "co0", now+10*day, day)
	b.GetCreateContract().Fields[0] = intField("amount", exectest.DeptBudget+1)
	e.ok("d1.issuer", b)
	e.ok("d1.issuer", sign("t1"))
	r := e.refuse("co0", codeConflict, sign("t1"))
	t.Log(r.GetReason())
	c := contractOf(t, e, "t1")
	if c.GetState() != "draft" || len(c.GetSignedBy()) != 1 || c.GetEscrow() != 0 || budgetOf(t, e, "d1") != exectest.DeptBudget {
		t.Fatalf("a refused activation changed %v", c)
	}
	// The whole budget is fine.
	b = createTender("t2", "d1.issuer", "co0", now+10*day, day)
	b.GetCreateContract().Fields[0] = intField("amount", exectest.DeptBudget)
	e.ok("d1.issuer", b)
	e.ok("d1.issuer", sign("t2"))
	e.ok("co0", sign("t2"))
	if budgetOf(t, e, "d1") != 0 || contractOf(t, e, "t2").GetEscrow() != exectest.DeptBudget {
		t.Fatal("whole budget not in escrow")
	}
}

func TestMoneyContractTerms(t *testing.T) {
	e := newEnv(t, 2)
	now := exectest.GenesisTimeMs / 1000
	for name, c := range map[string]struct {
		signer string
		body   *pb.TxBody
		want   pb.ResultCode
	}{
		"no amount":        {"d0.issuer", withoutField(createTender("x", "d0.issuer", "co0", now+day, 0), "amount"), codeInvalid},
		"string amount":    {"d0.issuer", withField(createTender("x", "d0.issuer", "co0", now+day, 0), strField("amount", "12")), codeInvalid},
		"zero amount":      {"d0.issuer", withField(createTender("x", "d0.issuer", "co0", now+day, 0), intField("amount", 0)), codeInvalid},
		"negative amount":  {"d0.issuer", withField(createTender("x", "d0.issuer", "co0", now+day, 0), intField("amount", -5)), codeInvalid},
		"citizen buyer":    {"cit0", createTender("x", "cit0", "co0", now+day, 0), codeUnauthorized},
		"registrar buyer":  {"d0.registrar", createTender("x", "d0.registrar", "co0", now+day, 0), codeUnauthorized},
		"buyer = supplier": {"d0.issuer", createTender("x", "d0.issuer", "d0.issuer", now+day, 0), codeInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.refuse(c.signer, c.want, c.body)
			t.Log(r.GetReason())
		})
	}
	// An admin may buy; the buyer suspended after creation cannot activate.
	e.ok("d1.admin", createTender("a1", "d1.admin", "co0", now+day, 0))
	e.ok("d1.admin", sign("a1"))
	e.ok("d0.issuer", createTender("s1", "d0.issuer", "co0", now+day, 0))
	e.ok("d0.issuer", sign("s1"))
	e.ok("d0.admin", setStatus("d0.issuer", suspended, "inquiry"))
	e.refuse("co0", codeConflict, sign("s1"))
	if budgetOf(t, e, "d0") != exectest.DeptBudget {
		t.Fatal("budget moved")
	}
	e.ok("co0", sign("a1"))
	if budgetOf(t, e, "d1") != exectest.DeptBudget-tenderAmount {
		t.Fatal("admin's escrow not funded")
	}
}

func withoutField(b *pb.TxBody, field string) *pb.TxBody {
	c := b.GetCreateContract()
	for i, f := range c.GetFields() {
		if f.GetName() == field {
			c.Fields = append(c.Fields[:i], c.Fields[i+1:]...)
			break
		}
	}
	return b
}

func withField(b *pb.TxBody, f *pb.ContractField) *pb.TxBody {
	c := b.GetCreateContract()
	for i, g := range c.GetFields() {
		if g.GetName() == f.GetName() {
			c.Fields[i] = f
			return b
		}
	}
	c.Fields = append(c.Fields, f)
	return b
}

// moneyEnv is a chain whose genesis also holds variants of the tender
// template (ids as given).
func moneyEnv(t *testing.T, depts int, variants ...*pb.ContractTemplate) *env {
	t.Helper()
	f := exectest.NewFixture(depts)
	f.Genesis.ContractTemplates = append(f.Genesis.ContractTemplates, variants...)
	c, err := f.NewChain(exec.DefaultConfig(exectest.ChainID))
	if err != nil {
		t.Fatalf("new chain: %v", err)
	}
	return &env{t: t, f: f, c: c}
}

func tenderVariant(id string, mutate func(*pb.ContractTemplate)) *pb.ContractTemplate {
	tm := exec.TenderTemplate()
	tm.Id = id
	mutate(tm)
	return tm
}

func createFrom(tmpl, id, buyer, supplier string, amount, deadline, grace int64) *pb.TxBody {
	b := createTender(id, buyer, supplier, deadline, grace)
	b.GetCreateContract().TemplateId = tmpl
	b.GetCreateContract().Fields[0] = intField("amount", amount)
	return b
}

// ledgerTotal is the sum of every budget, account and escrow.
func ledgerTotal(t *testing.T, st *exectest.Store) (budgets, accounts, escrows int64) {
	t.Helper()
	for _, k := range st.Keys() {
		switch {
		case len(k) > 7 && k[:7] == "budget/":
			b, err := exec.Budget(st, k[7:])
			if err != nil {
				t.Fatal(err)
			}
			budgets += b.GetBalance()
		case len(k) > 8 && k[:8] == "account/":
			a, err := exec.Account(st, k[8:])
			if err != nil {
				t.Fatal(err)
			}
			accounts += a.GetBalance()
		case len(k) > 4 && k[:4] == "ctr/":
			c, err := exec.Contract(st, k[4:])
			if err != nil {
				t.Fatal(err)
			}
			escrows += c.GetEscrow()
		}
	}
	return
}

func TestMilestonePaymentsAndRefund(t *testing.T) {
	e := newEnv(t, 2)
	now := exectest.GenesisTimeMs / 1000
	const amount = 1_000_003 // shares round down; the refund takes the rest
	e.ok("d0.issuer", createFrom(exec.TenderTemplateID, "t1", "d0.issuer", "co0", amount, now+10*day, day))
	e.ok("d0.issuer", sign("t1"))
	e.ok("co0", sign("t1"))
	e.ok("co0", submitMS("t1", "goods_delivered"))

	// The wrong role cannot accept, and nothing moves.
	e.refuse("co0", codeUnauthorized, acceptMS("t1", "goods_delivered"))
	if c := contractOf(t, e, "t1"); c.GetEscrow() != amount || len(c.GetPayments()) != 1 || accountOf(t, e, "co0") != 0 || budgetOf(t, e, "d0") != exectest.DeptBudget-amount {
		t.Fatalf("a refused acceptance moved money: %v", c)
	}

	r := e.ok("d0.issuer", acceptMS("t1", "goods_delivered"))
	first := int64(amount * 7000 / 10000)
	if len(r.GetEvents()) != 2 {
		t.Fatalf("events %v", r.GetEvents())
	}
	if pe := r.GetEvents()[1].GetPayment(); pe.GetKind() != exec.PaymentMilestone || pe.GetAmount() != first || pe.GetFrom() != "escrow/t1" || pe.GetTo() != "account/co0" {
		t.Fatalf("milestone payment %v", pe)
	}
	c := contractOf(t, e, "t1")
	if c.GetEscrow() != amount-first || accountOf(t, e, "co0") != first {
		t.Fatalf("escrow %d, account %d", c.GetEscrow(), accountOf(t, e, "co0"))
	}
	if p := c.GetPayments()[1]; p.GetKind() != exec.PaymentMilestone || p.GetMilestoneId() != "goods_delivered" || p.GetAmount() != first || p.GetHeight() != e.c.Height {
		t.Fatalf("payment %v", p)
	}
	e.ok("co0", fire("t1", "deliver"))
	e.ok("co0", submitMS("t1", "final_inspection"))
	e.ok("d0.issuer", acceptMS("t1", "final_inspection"))
	second := int64(amount * 3000 / 10000)
	if accountOf(t, e, "co0") != first+second || contractOf(t, e, "t1").GetEscrow() != amount-first-second {
		t.Fatalf("after the second milestone: account %d", accountOf(t, e, "co0"))
	}
	r = e.ok("d0.issuer", fire("t1", "complete"))
	rest := int64(amount - first - second)
	if rest == 0 {
		t.Fatal("the amount was meant to leave a rounding rest")
	}
	if pe := r.GetEvents()[1].GetPayment(); pe.GetKind() != exec.PaymentRefund || pe.GetAmount() != rest || pe.GetTo() != "budget/d0" {
		t.Fatalf("refund %v", r.GetEvents())
	}
	c = contractOf(t, e, "t1")
	if c.GetState() != "completed" || c.GetEscrow() != 0 || len(c.GetPayments()) != 4 {
		t.Fatalf("contract %v", c)
	}
	kinds := []string{exec.PaymentEscrow, exec.PaymentMilestone, exec.PaymentMilestone, exec.PaymentRefund}
	for i, p := range c.GetPayments() {
		if p.GetKind() != kinds[i] {
			t.Fatalf("payment %d is %s, want %s", i, p.GetKind(), kinds[i])
		}
	}
	if budgetOf(t, e, "d0") != exectest.DeptBudget-first-second {
		t.Fatalf("budget %d", budgetOf(t, e, "d0"))
	}
	b, a, esc := ledgerTotal(t, e.c.Store)
	if b+a+esc != 2*exectest.DeptBudget {
		t.Fatalf("money not conserved: %d + %d + %d", b, a, esc)
	}
}

func TestWithdrawnAndTerminatedRefund(t *testing.T) {
	e := newEnv(t, 2)
	now := exectest.GenesisTimeMs / 1000
	// Withdrawn before activation: no escrow, nothing to refund.
	e.ok("d0.issuer", createTender("w1", "d0.issuer", "co0", now+10*day, day))
	r := e.ok("d0.issuer", fire("w1", "withdraw"))
	if len(r.GetEvents()) != 1 || len(contractOf(t, e, "w1").GetPayments()) != 0 {
		t.Fatalf("withdraw %v", r.GetEvents())
	}
	// Terminated by the buyer by hand after the delivery deadline: no
	// penalty (penalties are the deadline's), the whole escrow refunded.
	activeTender(t, e, "t1", now+day, day)
	e.c.TimeMs = (now + day + 10) * 1000
	r = e.ok("d0.issuer", fire("t1", "terminate_for_breach"))
	if len(r.GetEvents()) != 2 || r.GetEvents()[1].GetPayment().GetKind() != exec.PaymentRefund || r.GetEvents()[1].GetPayment().GetAmount() != tenderAmount {
		t.Fatalf("events %v", r.GetEvents())
	}
	if budgetOf(t, e, "d0") != exectest.DeptBudget || accountOf(t, e, "co0") != 0 {
		t.Fatal("not all refunded")
	}
}

func TestDeadlinePenalty(t *testing.T) {
	e := newEnv(t, 2)
	now := exectest.GenesisTimeMs / 1000
	activeTender(t, e, "t1", now+10*day, day)
	res := e.blockAt((now+11*day)*1000 + 1)
	pen := int64(tenderAmount / 10)
	if pe := res.Events[0].GetPayment(); pe.GetKind() != exec.PaymentPenalty || pe.GetAmount() != pen || pe.GetFrom() != "escrow/t1" || pe.GetTo() != "budget/d0" || len(res.Events[0].GetTxHash()) != 0 {
		t.Fatalf("penalty event %v", res.Events[0])
	}
	c := contractOf(t, e, "t1")
	if c.GetState() != "terminated" || c.GetEscrow() != 0 || len(c.GetPayments()) != 3 {
		t.Fatalf("contract %v", c)
	}
	if p := c.GetPayments()[1]; p.GetKind() != exec.PaymentPenalty || p.GetAmount() != pen || p.GetReason() == "" {
		t.Fatalf("penalty %v", p)
	}
	if p := c.GetPayments()[2]; p.GetKind() != exec.PaymentRefund || p.GetAmount() != tenderAmount-pen {
		t.Fatalf("refund %v", p)
	}
	if budgetOf(t, e, "d0") != exectest.DeptBudget {
		t.Fatalf("budget %d", budgetOf(t, e, "d0"))
	}
}

// A deadline's penalty is capped by the escrow, a negative one is 0, and
// one that fails to evaluate makes the deadline lapse with nothing moved.
func TestPenaltyCapsAndLapses(t *testing.T) {
	loop := func(id, penalty string) *pb.ContractTemplate {
		return tenderVariant(id, func(tm *pb.ContractTemplate) {
			// The breach leads to a non-final state, so a penalty's effect
			// is seen without the refund.
			tm.Transitions = append(tm.Transitions, &pb.Transition{Name: "dispute", From: []string{"active"}, To: "disputed", Roles: []string{"buyer"}},
				&pb.Transition{Name: "settle", From: []string{"disputed"}, To: "terminated", Roles: []string{"buyer"}})
			tm.Deadlines = []*pb.Deadline{{State: "active", At: "fields.delivery_deadline", Transition: "dispute", Penalty: penalty}}
		})
	}
	e := moneyEnv(t, 2,
		loop("over", "fields.amount * 3"),
		loop("negative", "-fields.amount"),
		loop("missing", "fields.nope"),
		loop("overflow", "fields.amount * 9223372036854775807"),
		loop("partial", "fields.amount - 1"),
	)
	now := exectest.GenesisTimeMs / 1000
	const amount = 1000
	for _, id := range []string{"over", "negative", "missing", "overflow", "partial"} {
		e.ok("d0.issuer", createFrom(id, id, "d0.issuer", "co0", amount, now+day, 0))
		e.ok("d0.issuer", sign(id))
		e.ok("co0", sign(id))
	}
	// "partial" pays its supplier first: 700 left in escrow.
	e.ok("co0", submitMS("partial", "goods_delivered"))
	e.ok("d0.issuer", acceptMS("partial", "goods_delivered"))
	e.blockAt((now+day)*1000 + 1)
	check := func(id, state string, escrow int64, payments int) {
		t.Helper()
		c := contractOf(t, e, id)
		if c.GetState() != state || c.GetEscrow() != escrow || len(c.GetPayments()) != payments {
			t.Fatalf("%s: state %s escrow %d payments %v", id, c.GetState(), c.GetEscrow(), c.GetPayments())
		}
	}
	check("over", "disputed", 0, 2)          // capped: the whole escrow
	check("negative", "disputed", amount, 1) // 0: no payment recorded
	check("missing", "active", amount, 1)    // lapsed
	check("overflow", "active", amount, 1)   // lapsed
	check("partial", "disputed", 0, 3)       // 999 capped by the 300 left
	if p := contractOf(t, e, "partial").GetPayments()[2]; p.GetKind() != exec.PaymentPenalty || p.GetAmount() != 300 {
		t.Fatalf("partial penalty %v", p)
	}
	if p := contractOf(t, e, "over").GetPayments()[1]; p.GetAmount() != amount {
		t.Fatalf("capped penalty %v", p)
	}
	// over: 1000 back; partial: 300 back, 700 paid; negative, missing, overflow: 3000 in escrow.
	if got, want := budgetOf(t, e, "d0"), exectest.DeptBudget-5*amount+amount+300; got != want {
		t.Fatalf("budget %d, want %d", got, want)
	}
	if accountOf(t, e, "co0") != 700 {
		t.Fatalf("account %d", accountOf(t, e, "co0"))
	}
	b, a, esc := ledgerTotal(t, e.c.Store)
	if b+a+esc != 2*exectest.DeptBudget {
		t.Fatalf("money not conserved: %d + %d + %d", b, a, esc)
	}
}

func fund(dept string, amount int64) func(*pb.SubmitProposal) {
	return func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_FundBudget{FundBudget: &pb.FundBudget{DepartmentId: dept, Amount: amount, Reason: "supplementary budget"}}
	}
}

func TestFundBudget(t *testing.T) {
	e := newEnv(t, 3)
	e.ok("d1.admin", propose("f1", 50, fund("d2", 5_000)))
	e.ok("d0.admin", vote("f1", true))
	e.ok("d1.admin", vote("f1", true))
	if budgetOf(t, e, "d2") != exectest.DeptBudget {
		t.Fatal("funded before passing")
	}
	res := e.block(e.s("d2.admin").Tx(vote("f1", true)))
	var pe *pb.PaymentEvent
	var funded bool
	for _, ev := range res.Events {
		if p := ev.GetPayment(); p != nil {
			pe = p
		}
		if g := ev.GetGovernance(); g.GetAction() == "budget_funded" && g.GetDepartmentId() == "d2" {
			funded = true
		}
	}
	if pe == nil || pe.GetKind() != exec.PaymentFunding || pe.GetAmount() != 5_000 || pe.GetContractId() != "" || pe.GetFrom() != "proposal/f1" || pe.GetTo() != "budget/d2" || !funded {
		t.Fatalf("events %v", res.Events)
	}
	b, err := exec.Budget(e.c.Store, "d2")
	if err != nil || b.GetBalance() != exectest.DeptBudget+5_000 || b.GetFunded() != exectest.DeptBudget+5_000 || b.GetUpdatedHeight() != e.c.Height {
		t.Fatalf("budget %v %v", b, err)
	}
	if p := proposalOf(t, e, "f1"); p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_PASSED {
		t.Fatalf("proposal %v", p)
	}
}

// There is no transaction that funds a budget: only a proposal, checked
// at submission (and by CheckTx) and again at execution.
func TestFundBudgetRefusals(t *testing.T) {
	e := newEnv(t, 3)
	for name, c := range map[string]struct {
		signer string
		change func(*pb.SubmitProposal)
		want   pb.ResultCode
	}{
		"zero":         {"d0.admin", fund("d1", 0), codeInvalid},
		"negative":     {"d0.admin", fund("d1", -10), codeInvalid},
		"bad id":       {"d0.admin", fund("D1", 10), codeInvalid},
		"not a member": {"d0.admin", fund("d9", 10), codeNotFound},
		"overflow":     {"d0.admin", fund("d1", math.MaxInt64), codeConflict},
		"not an admin": {"d0.issuer", fund("d1", 10), codeUnauthorized},
		"empty": {"d0.admin", func(p *pb.SubmitProposal) {
			p.Change = &pb.SubmitProposal_FundBudget{}
		}, codeInvalid},
		"long reason": {"d0.admin", func(p *pb.SubmitProposal) {
			fund("d1", 10)(p)
			p.GetFundBudget().Reason = strings.Repeat("x", exec.MaxTextBytes+1)
		}, codeTooLarge},
	} {
		t.Run(name, func(t *testing.T) {
			body := propose("p-"+strings.ReplaceAll(name, " ", "-"), 50, c.change)
			if c.want == codeInvalid || c.want == codeTooLarge || c.want == codeUnauthorized {
				// CheckTx refuses it before any block.
				s := e.s(c.signer)
				r, err := e.c.Exec.CheckTx(e.c.Store, s.Tx(proto.Clone(body).(*pb.TxBody)))
				s.Nonce--
				if err != nil || r.Code != c.want {
					t.Fatalf("CheckTx: %v %v", r, err)
				}
			}
			r := e.refuse(c.signer, c.want, body)
			t.Log(r.GetReason())
		})
	}
	for _, d := range e.f.Depts {
		if budgetOf(t, e, d) != exectest.DeptBudget {
			t.Fatalf("budget of %s moved", d)
		}
	}

	// Each fits alone; the second to execute no longer does: FAILED, with
	// the reason, and nothing moves.
	room := math.MaxInt64 - exectest.DeptBudget
	e.ok("d0.admin", propose("big", 50, fund("d1", room)))
	e.ok("d0.admin", propose("one", 50, fund("d1", 1)))
	for _, d := range e.f.Depts {
		e.ok(d+".admin", vote("big", true))
	}
	if budgetOf(t, e, "d1") != math.MaxInt64 {
		t.Fatalf("budget %d", budgetOf(t, e, "d1"))
	}
	for _, d := range e.f.Depts {
		e.ok(d+".admin", vote("one", true))
	}
	p := proposalOf(t, e, "one")
	if p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_FAILED || !strings.Contains(p.GetFailureReason(), "int64") {
		t.Fatalf("proposal %v", p)
	}
	if budgetOf(t, e, "d1") != math.MaxInt64 {
		t.Fatalf("budget %d", budgetOf(t, e, "d1"))
	}

	// A department removed between submission and execution is not funded.
	e2 := newEnv(t, 5)
	e2.ok("d0.admin", propose("f", 50, fund("d4", 10)))
	e2.ok("d0.admin", propose("rm", 50, removeDept("d4")))
	for _, d := range []string{"d0", "d1", "d2", "d3"} {
		e2.ok(d+".admin", vote("rm", true))
	}
	for _, d := range []string{"d0", "d1", "d2"} { // 3 of the 4 left
		e2.ok(d+".admin", vote("f", true))
	}
	if p := proposalOf(t, e2, "f"); p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_FAILED || !strings.Contains(p.GetFailureReason(), "not a member") {
		t.Fatalf("proposal %v", p)
	}
	if budgetOf(t, e2, "d4") != exectest.DeptBudget {
		t.Fatal("a removed department was funded")
	}
}

// Every sum is checked: an account or a budget at the int64 limit refuses
// the payment that would pass it, and nothing moves.
func TestPaymentOverflowRefused(t *testing.T) {
	e := newEnv(t, 3)
	now := exectest.GenesisTimeMs / 1000
	room := math.MaxInt64 - exectest.DeptBudget
	for _, d := range []string{"d0", "d1"} {
		e.ok("d0.admin", propose("f"+d, 50, fund(d, room)))
		for _, v := range e.f.Depts {
			e.ok(v+".admin", vote("f"+d, true))
		}
	}
	// Two contracts of the whole int64 range each; shares computed on 128
	// bits (MaxInt64 * 7000 overflows int64).
	for i, d := range []string{"d0", "d1"} {
		id := fmt.Sprintf("big%d", i)
		e.ok(d+".issuer", createFrom(exec.TenderTemplateID, id, d+".issuer", "co0", math.MaxInt64, now+10*day, day))
		e.ok(d+".issuer", sign(id))
		e.ok("co0", sign(id))
		e.ok("co0", submitMS(id, "goods_delivered"))
	}
	share := int64(new(big.Int).Div(new(big.Int).Mul(big.NewInt(math.MaxInt64), big.NewInt(7000)), big.NewInt(10000)).Int64())
	e.ok("d0.issuer", acceptMS("big0", "goods_delivered"))
	if accountOf(t, e, "co0") != share {
		t.Fatalf("account %d, want %d", accountOf(t, e, "co0"), share)
	}
	// The second share would take co0's account past MaxInt64.
	r := e.refuse("d1.issuer", codeConflict, acceptMS("big1", "goods_delivered"))
	if !strings.Contains(r.GetReason(), "account of co0") {
		t.Fatalf("reason %q", r.GetReason())
	}
	if c := contractOf(t, e, "big1"); c.GetEscrow() != math.MaxInt64 || c.GetMilestones()[0].GetAccepted() || accountOf(t, e, "co0") != share {
		t.Fatalf("a refused payment moved money: %v", c)
	}
	// A budget's funded total is at the limit: no more funding. (So a
	// refund or a penalty, which only returns to a budget what it put in
	// escrow, cannot pass the limit either: balance <= funded.)
	r = e.refuse("d2.admin", codeConflict, propose("refill", 50, fund("d0", 1)))
	if !strings.Contains(r.GetReason(), "funding of department d0") {
		t.Fatalf("reason %q", r.GetReason())
	}
	e.c.TimeMs = (now + 10*day + 10) * 1000
	e.ok("d1.issuer", fire("big1", "terminate_for_breach"))
	if budgetOf(t, e, "d1") != math.MaxInt64 {
		t.Fatalf("budget %d", budgetOf(t, e, "d1"))
	}
}

func TestMoneyTemplateValidation(t *testing.T) {
	ex, err := exec.New(exec.DefaultConfig(exectest.ChainID))
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]struct {
		mutate func(*pb.ContractTemplate)
		field  string
	}{
		"amount only":       {func(t *pb.ContractTemplate) { t.BuyerRole, t.SupplierRole = "", "" }, "buyer_role"},
		"no amount field":   {func(t *pb.ContractTemplate) { t.AmountField = "" }, "amount_field"},
		"unknown amount":    {func(t *pb.ContractTemplate) { t.AmountField = "price" }, "amount_field"},
		"unknown buyer":     {func(t *pb.ContractTemplate) { t.BuyerRole = "mayor" }, "buyer_role"},
		"unknown supplier":  {func(t *pb.ContractTemplate) { t.SupplierRole = "mayor" }, "supplier_role"},
		"buyer is supplier": {func(t *pb.ContractTemplate) { t.SupplierRole = "buyer" }, "supplier_role"},
		"bps over 10000":    {func(t *pb.ContractTemplate) { t.Milestones[1].PaymentBps = 3001 }, "payment_bps sum to 10001"},
		"bps huge":          {func(t *pb.ContractTemplate) { t.Milestones[0].PaymentBps = math.MaxUint32 }, "payment_bps sum"},
		"amount assigned":   {func(t *pb.ContractTemplate) { t.Transitions[2].Set[0].Field = "amount" }, "transitions[2].set[0].field"},
		"bps without money": {func(t *pb.ContractTemplate) {
			t.AmountField, t.BuyerRole, t.SupplierRole, t.Deadlines[0].Penalty = "", "", "", ""
		}, "milestones[0].payment_bps"},
		"penalty no money": {func(t *pb.ContractTemplate) {
			t.AmountField, t.BuyerRole, t.SupplierRole = "", "", ""
			t.Milestones = nil
		}, "deadlines[0].penalty"},
		"penalty not int":     {func(t *pb.ContractTemplate) { t.Deadlines[0].Penalty = "'ten'" }, "penalty"},
		"penalty bool":        {func(t *pb.ContractTemplate) { t.Deadlines[0].Penalty = "fields.amount > 10" }, "penalty"},
		"penalty syntax":      {func(t *pb.ContractTemplate) { t.Deadlines[0].Penalty = "fields.amount /" }, "penalty"},
		"penalty unknown var": {func(t *pb.ContractTemplate) { t.Deadlines[0].Penalty = "budget / 10" }, "penalty"},
		"bad amount id":       {func(t *pb.ContractTemplate) { t.AmountField = "Amount" }, "amount field"},
		// A money contract may leave draft only by its parties'
		// signatures (which fund the escrow) or to a final state.
		"draft to active unfunded": {func(t *pb.ContractTemplate) {
			t.Transitions = append(t.Transitions, &pb.Transition{Name: "start", From: []string{"draft"}, To: "active", Roles: []string{"buyer"}})
		}, "transitions[4].to"},
	}
	e := newEnv(t, 3)
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			f := exectest.NewFixture(2)
			tmpl := exec.TenderTemplate()
			b.mutate(tmpl)
			f.Genesis.ContractTemplates = []*pb.ContractTemplate{tmpl}
			if _, err := ex.InitGenesis(f.Genesis); !errors.Is(err, exec.ErrInvalidGenesis) {
				t.Fatalf("InitGenesis: %v, want ErrInvalidGenesis", err)
			}
			tmpl.Id = "bad-" + strings.ReplaceAll(name, " ", "-")
			r := e.refuse("d2.admin", codeInvalid, propose(tmpl.Id, 50, func(p *pb.SubmitProposal) {
				p.Change = &pb.SubmitProposal_InstallContractTemplate{InstallContractTemplate: tmpl}
			}))
			if !strings.Contains(r.GetReason(), b.field) {
				t.Errorf("reason %q does not name %s", r.GetReason(), b.field)
			}
		})
	}
	// Shares may sum to less than the whole (the rest is refunded) and a
	// template may have no money at all.
	for _, mutate := range []func(*pb.ContractTemplate){
		func(t *pb.ContractTemplate) { t.Milestones[1].PaymentBps = 0 },
		func(t *pb.ContractTemplate) {
			t.AmountField, t.BuyerRole, t.SupplierRole, t.Deadlines[0].Penalty = "", "", "", ""
			t.Milestones[0].PaymentBps, t.Milestones[1].PaymentBps = 0, 0
		},
	} {
		tmpl := exec.TenderTemplate()
		mutate(tmpl)
		if ps := exec.TemplateProblems(tmpl); len(ps) != 0 {
			t.Fatalf("problems %v", ps)
		}
		f := exectest.NewFixture(2)
		f.Genesis.ContractTemplates = []*pb.ContractTemplate{tmpl}
		if _, err := ex.InitGenesis(f.Genesis); err != nil {
			t.Fatal(err)
		}
	}
}

// A template without money moves no money, whoever the parties are.
func TestTemplateWithoutMoney(t *testing.T) {
	plain := tenderVariant("plain", func(tm *pb.ContractTemplate) {
		tm.AmountField, tm.BuyerRole, tm.SupplierRole, tm.Deadlines[0].Penalty = "", "", "", ""
		tm.Milestones[0].PaymentBps, tm.Milestones[1].PaymentBps = 0, 0
	})
	e := moneyEnv(t, 2, plain)
	now := exectest.GenesisTimeMs / 1000
	e.ok("cit0", createFrom("plain", "p1", "cit0", "co0", -4, now+day, 0))
	e.ok("cit0", sign("p1"))
	e.ok("co0", sign("p1"))
	e.ok("co0", submitMS("p1", "goods_delivered"))
	e.ok("cit0", acceptMS("p1", "goods_delivered"))
	e.blockAt((now + 3*day) * 1000)
	c := contractOf(t, e, "p1")
	if c.GetAmount() != 0 || c.GetEscrow() != 0 || len(c.GetPayments()) != 0 || accountOf(t, e, "co0") != 0 {
		t.Fatalf("contract %v", c)
	}
}
