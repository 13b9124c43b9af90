package exec_test

import (
	"errors"
	"testing"

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
