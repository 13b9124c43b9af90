package exec_test

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// loopTemplate is a money template whose contracts can go round
// active → review → active, so deadlines (and their penalties) fire again
// and again; its penalties may exceed the escrow, be negative, or fail to
// evaluate; its shares sum to the whole amount.
func loopTemplate() *pb.ContractTemplate {
	return &pb.ContractTemplate{
		Id: "loop.v1", Name: "Looping service contract",
		Roles: []string{"buyer", "supplier"}, FieldNames: []string{"amount", "due", "period"},
		DraftState: "draft", ActiveState: "active", FinalStates: []string{"done", "cancelled", "voided"},
		AmountField: "amount", BuyerRole: "buyer", SupplierRole: "supplier",
		Transitions: []*pb.Transition{
			{Name: "void", From: []string{"draft"}, To: "voided", Roles: []string{"buyer"}},
			{Name: "expire_draft", From: []string{"draft"}, To: "voided"},
			{Name: "submit_review", From: []string{"active"}, To: "review", Roles: []string{"supplier"}},
			{Name: "lapse", From: []string{"active"}, To: "review"},
			{Name: "reopen", From: []string{"review"}, To: "active", Roles: []string{"buyer"}},
			{Name: "finish", From: []string{"review"}, To: "done", Roles: []string{"buyer"}, Guard: "milestones.m3.accepted"},
			{Name: "cancel", From: []string{"active", "review"}, To: "cancelled", Roles: []string{"buyer"}},
		},
		Deadlines: []*pb.Deadline{
			// In draft the escrow is empty: the penalty is capped to 0.
			{State: "draft", At: "fields.due", Transition: "expire_draft", Penalty: "-fields.amount"},
			// Fails to evaluate (division by zero) when period % 5 == 0:
			// the deadline lapses.
			{State: "active", At: "now + fields.period", Transition: "lapse", Penalty: "fields.amount / (fields.period % 5)"},
			// Twice the amount: capped by the escrow.
			{State: "review", At: "now + 2 * fields.period", Transition: "reopen", Penalty: "fields.amount * 2"},
		},
		Milestones: []*pb.MilestoneSpec{
			{Id: "m1", SubmitterRole: "supplier", AcceptorRole: "buyer", State: "active", PaymentBps: 3333},
			{Id: "m2", SubmitterRole: "supplier", AcceptorRole: "buyer", State: "review", PaymentBps: 3333},
			{Id: "m3", SubmitterRole: "supplier", AcceptorRole: "buyer", State: "review", PaymentBps: 3334},
		},
	}
}

// moneyGen produces random, often refused, transactions about money:
// funding proposals and votes, money contracts created, signed, moved,
// their milestones submitted and accepted (sometimes by the wrong party),
// buyers suspended and reinstated.
type moneyGen struct {
	rng       *rand.Rand
	templates map[string]*pb.ContractTemplate
	f         *exectest.Fixture
	st        *exectest.Store
	ctrs      []string
	props     []string
	n         int
	pending   map[string]uint64
}

func (g *moneyGen) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

func (g *moneyGen) signAs(id string, body *pb.TxBody) []byte {
	next, _ := exec.Nonce(g.st, id)
	next += g.pending[id] + 1
	g.pending[id]++
	body.ChainId, body.Signer, body.Nonce = exectest.ChainID, id, next
	return exectest.SignBody(g.f.S(id).Key, body)
}

func (g *moneyGen) amount() int64 {
	switch n := g.rng.IntN(100); {
	case n < 55:
		return 1 + g.rng.Int64N(1_000_000)
	case n < 85:
		return 1_000_000_000 + g.rng.Int64N(40_000_000_000)
	case n < 95:
		return exectest.DeptBudget + g.rng.Int64N(exectest.DeptBudget) // more than an opening budget
	default:
		return []int64{0, -1, math.MaxInt64}[g.rng.IntN(3)]
	}
}

func (g *moneyGen) fundAmount() int64 {
	switch n := g.rng.IntN(100); {
	case n < 70:
		return 1 + g.rng.Int64N(10_000_000_000)
	case n < 80:
		return []int64{0, -5}[g.rng.IntN(2)]
	case n < 90:
		return math.MaxInt64 - g.rng.Int64N(1000) // refused: the budget would overflow
	default:
		return 3_000_000_000_000_000_000 // fits two or three times, not more
	}
}

func (g *moneyGen) party(c *pb.Contract, role string) string {
	for _, p := range c.GetParties() {
		if p.GetRole() == role {
			return p.GetIdentityId()
		}
	}
	return "cit0"
}

// contract picks a committed contract for which ok holds, or (now and
// then, or when there is none) any contract, or one that does not exist.
func (g *moneyGen) contract(ok func(*pb.Contract, *pb.ContractTemplate) bool) (*pb.Contract, *pb.ContractTemplate) {
	var fit, all []*pb.Contract
	for _, id := range g.ctrs {
		c, err := exec.Contract(g.st, id)
		if err != nil {
			continue
		}
		all = append(all, c)
		if ok(c, g.templates[c.GetTemplateId()]) {
			fit = append(fit, c)
		}
	}
	switch n := g.rng.IntN(20); {
	case n == 0 || len(all) == 0:
		return &pb.Contract{Id: "none", TemplateId: exec.TenderTemplateID}, g.templates[exec.TenderTemplateID]
	case n < 4 || len(fit) == 0:
		c := all[g.rng.IntN(len(all))]
		return c, g.templates[c.GetTemplateId()]
	default:
		c := fit[g.rng.IntN(len(fit))]
		return c, g.templates[c.GetTemplateId()]
	}
}

// openMilestone is a milestone of c's state not accepted yet (submitted
// if submitted is set), or any milestone id.
func (g *moneyGen) openMilestone(c *pb.Contract, t *pb.ContractTemplate, submitted bool) string {
	var fit []string
	for _, m := range c.GetMilestones() {
		for _, spec := range t.GetMilestones() {
			if spec.GetId() == m.GetId() && spec.GetState() == c.GetState() && !m.GetAccepted() && (!submitted || m.GetSubmitted()) {
				fit = append(fit, m.GetId())
			}
		}
	}
	if len(fit) == 0 || g.rng.IntN(8) == 0 {
		return g.pick(milestoneIDs(c))
	}
	return g.pick(fit)
}

func (g *moneyGen) tx(nowSec int64, height uint64) []byte {
	r := g.rng
	depts := g.f.Depts
	switch r.IntN(20) {
	case 0: // a funding proposal, valid or not
		g.n++
		id := fmt.Sprintf("f%d", g.n)
		g.props = append(g.props, id)
		dept := g.pick(depts)
		if r.IntN(8) == 0 {
			dept = "nowhere"
		}
		signer := g.pick(depts) + ".admin"
		if r.IntN(10) == 0 {
			signer = g.pick(depts) + ".issuer"
		}
		return g.signAs(signer, propose(id, height+uint64(r.IntN(30))-2, fund(dept, g.fundAmount())))
	case 1, 2: // votes, mostly on a proposal still voting
		var voting []string
		for _, id := range g.props {
			if p, err := exec.Proposal(g.st, id); err == nil && p.GetStatus() == pb.ProposalStatus_PROPOSAL_STATUS_VOTING {
				voting = append(voting, id)
			}
		}
		id := g.pick(append(g.props, "none"))
		if len(voting) > 0 && r.IntN(5) > 0 {
			id = g.pick(voting)
		}
		return g.signAs(g.pick(depts)+".admin", vote(id, r.IntN(6) > 0))
	case 3, 4: // a contract
		g.n++
		id := fmt.Sprintf("c%d", g.n)
		g.ctrs = append(g.ctrs, id)
		d := g.pick(depts)
		buyer := d + ".issuer"
		switch r.IntN(10) {
		case 0:
			buyer = d + ".admin"
		case 1:
			buyer = g.pick([]string{d + ".registrar", "cit0"})
		}
		supplier := g.pick([]string{"co0", "co0", "co0", "cit1", g.pick(depts) + ".issuer", buyer})
		var b *pb.TxBody
		if r.IntN(2) == 0 {
			b = createFrom(exec.TenderTemplateID, id, buyer, supplier, g.amount(), nowSec+int64(r.IntN(4*day)), int64(r.IntN(day)))
		} else {
			b = &pb.TxBody{Action: &pb.TxBody_CreateContract{CreateContract: &pb.CreateContract{
				ContractId: id, TemplateId: "loop.v1", Title: "Service",
				Parties: []*pb.ContractParty{{Role: "buyer", IdentityId: buyer}, {Role: "supplier", IdentityId: supplier}},
				Fields: []*pb.ContractField{
					intField("amount", g.amount()), intField("due", nowSec+int64(r.IntN(2*day))), intField("period", 1+int64(r.IntN(day))),
				},
			}}}
		}
		return g.signAs(buyer, b)
	case 5, 6, 7: // signatures, mostly of a party yet to sign
		c, _ := g.contract(func(c *pb.Contract, t *pb.ContractTemplate) bool { return c.GetState() == t.GetDraftState() })
		signer := g.party(c, g.pick([]string{"buyer", "supplier"}))
		for _, p := range c.GetParties() {
			if !slices.Contains(c.GetSignedBy(), p.GetIdentityId()) && r.IntN(5) > 0 {
				signer = p.GetIdentityId()
			}
		}
		return g.signAs(signer, sign(c.GetId()))
	case 8, 9, 10: // milestones submitted
		c, t := g.contract(func(c *pb.Contract, t *pb.ContractTemplate) bool {
			return !slices.Contains(t.GetFinalStates(), c.GetState())
		})
		return g.signAs(g.party(c, "supplier"), submitMS(c.GetId(), g.openMilestone(c, t, false)))
	case 11, 12, 13: // milestones accepted, now and then by the wrong party
		c, t := g.contract(func(c *pb.Contract, t *pb.ContractTemplate) bool {
			return !slices.Contains(t.GetFinalStates(), c.GetState())
		})
		role := "buyer"
		if r.IntN(5) == 0 {
			role = "supplier"
		}
		return g.signAs(g.party(c, role), acceptMS(c.GetId(), g.openMilestone(c, t, true)))
	case 14, 15, 16: // transitions, mostly ones that leave the contract's state
		c, t := g.contract(func(c *pb.Contract, t *pb.ContractTemplate) bool {
			return !slices.Contains(t.GetFinalStates(), c.GetState())
		})
		var names, leaving []string
		for _, tr := range t.GetTransitions() {
			names = append(names, tr.GetName())
			if slices.Contains(tr.GetFrom(), c.GetState()) && len(tr.GetRoles()) > 0 {
				leaving = append(leaving, tr.GetName())
			}
		}
		name := g.pick(names)
		if len(leaving) > 0 && r.IntN(4) > 0 {
			name = g.pick(leaving)
		}
		return g.signAs(g.party(c, g.pick([]string{"buyer", "buyer", "supplier"})), fire(c.GetId(), name))
	default: // a buyer suspended now and then, and reinstated
		d := g.pick(depts)
		st := active
		if r.IntN(4) == 0 {
			st = suspended
		}
		return g.signAs(d+".admin", setStatus(d+".issuer", st, "review"))
	}
}

func milestoneIDs(c *pb.Contract) []string {
	var out []string
	for _, m := range c.GetMilestones() {
		out = append(out, m.GetId())
	}
	return append(out, "nope")
}

// moneyLedger checks the money invariants of a state.
type moneyLedger struct {
	expected *big.Int // genesis budgets + governed funding
	funds    map[string]int64
	seen     map[string]int // what the mix exercised
}

func bigSum(xs ...int64) *big.Int {
	s := new(big.Int)
	for _, x := range xs {
		s.Add(s, big.NewInt(x))
	}
	return s
}

func (ml *moneyLedger) check(t *testing.T, st *exectest.Store, height uint64, res *exec.BlockResult) {
	t.Helper()
	// Governed funding decided in this block: proposals that passed (and
	// stayed PASSED: executed) now.
	for id, amount := range ml.funds {
		p, err := exec.Proposal(st, id)
		if err != nil {
			continue // refused at submission
		}
		if p.GetDecidedHeight() != height {
			continue
		}
		switch p.GetStatus() {
		case pb.ProposalStatus_PROPOSAL_STATUS_PASSED:
			ml.expected.Add(ml.expected, big.NewInt(amount))
			ml.seen["funding executed"]++
		case pb.ProposalStatus_PROPOSAL_STATUS_FAILED:
			ml.seen["funding failed at execution"]++
		}
	}
	var fundingEvents, fundingExpected int64
	for _, ev := range res.Events {
		if pe := ev.GetPayment(); pe != nil {
			if pe.GetAmount() <= 0 {
				t.Fatalf("height %d: payment event of %d: %v", height, pe.GetAmount(), pe)
			}
			ml.seen["event "+pe.GetKind()]++
			if pe.GetKind() == exec.PaymentFunding {
				fundingEvents += pe.GetAmount()
				if !strings.HasPrefix(pe.GetFrom(), "proposal/") || pe.GetContractId() != "" {
					t.Fatalf("height %d: funding event %v", height, pe)
				}
				id := strings.TrimPrefix(pe.GetFrom(), "proposal/")
				if ml.funds[id] != pe.GetAmount() {
					t.Fatalf("height %d: funding event %v, proposal %s was for %d", height, pe, id, ml.funds[id])
				}
				fundingExpected += ml.funds[id]
			}
		}
		if ev.GetContract().GetAction() == "deadline" {
			ml.seen["deadline fired"]++
		}
	}
	if fundingEvents != fundingExpected {
		t.Fatalf("height %d: funding events %d, proposals %d", height, fundingEvents, fundingExpected)
	}

	budgets := map[string]*pb.Budget{}
	var balances []int64
	perDept := map[string]*big.Int{} // balance + escrows + paid out, per buyer department
	var accounts []int64
	var paidToAccounts []int64
	for _, k := range st.Keys() {
		switch {
		case strings.HasPrefix(k, "budget/"):
			b, err := exec.Budget(st, k[len("budget/"):])
			if err != nil {
				t.Fatal(err)
			}
			if b.GetBalance() < 0 || b.GetFunded() < b.GetBalance() {
				t.Fatalf("height %d: budget %v", height, b)
			}
			budgets[b.GetDepartmentId()] = b
			balances = append(balances, b.GetBalance())
			if perDept[b.GetDepartmentId()] == nil {
				perDept[b.GetDepartmentId()] = new(big.Int)
			}
			perDept[b.GetDepartmentId()].Add(perDept[b.GetDepartmentId()], big.NewInt(b.GetBalance()))
		case strings.HasPrefix(k, "account/"):
			a, err := exec.Account(st, k[len("account/"):])
			if err != nil {
				t.Fatal(err)
			}
			if a.GetBalance() < 0 {
				t.Fatalf("height %d: account %v", height, a)
			}
			accounts = append(accounts, a.GetBalance())
		}
	}
	var escrows []int64
	for _, k := range st.Keys() {
		if !strings.HasPrefix(k, "ctr/") {
			continue
		}
		c, err := exec.Contract(st, k[len("ctr/"):])
		if err != nil {
			t.Fatal(err)
		}
		escrows = append(escrows, c.GetEscrow())
		ml.checkContract(t, height, c)
		if d := c.GetBuyerDepartmentId(); d != "" {
			if perDept[d] == nil {
				perDept[d] = new(big.Int)
			}
			perDept[d].Add(perDept[d], big.NewInt(c.GetEscrow()))
			for _, p := range c.GetPayments() {
				if p.GetKind() == exec.PaymentMilestone {
					perDept[d].Add(perDept[d], big.NewInt(p.GetAmount()))
					paidToAccounts = append(paidToAccounts, p.GetAmount())
				}
			}
		}
	}
	total := new(big.Int).Add(bigSum(balances...), bigSum(accounts...))
	total.Add(total, bigSum(escrows...))
	if total.Cmp(ml.expected) != 0 {
		t.Fatalf("height %d: budgets %v + accounts %v + escrows %v = %s, want %s (genesis + governed funding)",
			height, bigSum(balances...), bigSum(accounts...), bigSum(escrows...), total, ml.expected)
	}
	// Accounts are paid by milestones only.
	if bigSum(accounts...).Cmp(bigSum(paidToAccounts...)) != 0 {
		t.Fatalf("height %d: accounts hold %s, milestones paid %s", height, bigSum(accounts...), bigSum(paidToAccounts...))
	}
	// Per department: what it holds, holds in escrow and paid out is what
	// it was funded.
	for d, got := range perDept {
		b := budgets[d]
		if b == nil || got.Cmp(big.NewInt(b.GetFunded())) != 0 {
			t.Fatalf("height %d: department %s: balance + escrows + paid = %s, funded %d", height, d, got, b.GetFunded())
		}
	}
}

// checkContract: the escrow is what the payments say, within [0, amount];
// a final contract holds nothing; every payment is positive.
func (ml *moneyLedger) checkContract(t *testing.T, height uint64, c *pb.Contract) {
	t.Helper()
	final := slices.Contains(exec.TenderTemplate().GetFinalStates(), c.GetState()) || slices.Contains(loopTemplate().GetFinalStates(), c.GetState())
	if c.GetEscrow() < 0 || c.GetEscrow() > c.GetAmount() || final && c.GetEscrow() != 0 {
		t.Fatalf("height %d: contract %s (%s) escrow %d of %d", height, c.GetId(), c.GetState(), c.GetEscrow(), c.GetAmount())
	}
	if len(c.GetPayments()) == 0 {
		if c.GetAmount() != 0 || c.GetBuyerDepartmentId() != "" {
			t.Fatalf("height %d: contract %s has money and no payments", height, c.GetId())
		}
		return
	}
	var in, out int64
	for i, p := range c.GetPayments() {
		if p.GetAmount() <= 0 {
			t.Fatalf("height %d: contract %s payment %v", height, c.GetId(), p)
		}
		switch p.GetKind() {
		case exec.PaymentEscrow:
			if i != 0 || p.GetAmount() != c.GetAmount() {
				t.Fatalf("height %d: contract %s escrow payment %d: %v", height, c.GetId(), i, p)
			}
			in += p.GetAmount()
		case exec.PaymentMilestone, exec.PaymentPenalty, exec.PaymentRefund:
			out += p.GetAmount()
			if p.GetKind() == exec.PaymentPenalty && p.GetAmount() == c.GetPayments()[0].GetAmount() {
				ml.seen["penalty of the whole escrow"]++
			}
		default:
			t.Fatalf("height %d: contract %s payment kind %q", height, c.GetId(), p.GetKind())
		}
	}
	if in-out != c.GetEscrow() {
		t.Fatalf("height %d: contract %s: escrowed %d, paid out %d, holds %d", height, c.GetId(), in, out, c.GetEscrow())
	}
}

// TestMoneyConservation runs seeded random money histories and checks
// after every block that money is conserved (ARCHITECTURE.md §5, "Budgets
// and payments"): budgets + accounts + escrows = genesis budgets + governed
// funding, per department too, and no balance is ever negative.
func TestMoneyConservation(t *testing.T) {
	seeds := []uint64{1, 7, 19, 2026}
	blocks := 200
	if testing.Short() {
		seeds, blocks = seeds[:2], 120
	}
	total := map[string]int{}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			f := exectest.NewFixture(4)
			f.Genesis.ContractTemplates = append(f.Genesis.ContractTemplates, loopTemplate())
			c, err := f.NewChain(exec.DefaultConfig(exectest.ChainID))
			if err != nil {
				t.Fatal(err)
			}
			g := &moneyGen{rng: rand.New(rand.NewPCG(seed, seed^0x6d6f6e6579)), f: f, st: c.Store, templates: map[string]*pb.ContractTemplate{}}
			for _, tm := range f.Genesis.GetContractTemplates() {
				g.templates[tm.GetId()] = tm
			}
			ml := &moneyLedger{expected: new(big.Int), funds: map[string]int64{}, seen: map[string]int{}}
			for _, b := range f.Genesis.GetBudgets() {
				ml.expected.Add(ml.expected, big.NewInt(b.GetBalance()))
			}
			ml.check(t, c.Store, 0, &exec.BlockResult{})
			codes := map[string]int{}
			for range blocks {
				step := int64(1000 + g.rng.IntN(5000))
				if g.rng.IntN(6) == 0 {
					step += int64(g.rng.IntN(day)) * 1000
				}
				t0 := c.TimeMs + step
				g.pending = map[string]uint64{}
				txs := make([][]byte, g.rng.IntN(20))
				for i := range txs {
					txs[i] = g.tx(t0/1000, c.Height+1)
				}
				for _, tx := range txs {
					_, body, err := exec.DecodeTx(tx)
					if err != nil {
						t.Fatal(err)
					}
					if fb := body.GetSubmitProposal().GetFundBudget(); fb != nil {
						ml.funds[body.GetSubmitProposal().GetProposalId()] = fb.GetAmount()
					}
				}
				res, err := c.ApplyAt(t0, txs...)
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range res.Results {
					if r.GetCode() == codeBadNonce || r.GetCode() == codeBadSig || r.GetCode() == codeInactive {
						continue
					}
					_, body, _ := exec.DecodeTx(txs[i])
					kind := fmt.Sprintf("%T", body.GetAction())
					kind = kind[strings.LastIndex(kind, "_")+1:]
					codes[kind+" "+strings.TrimPrefix(r.GetCode().String(), "RESULT_CODE_")]++
					switch {
					case r.GetCode() == codeConflict && strings.Contains(r.GetReason(), "less than contract"):
						ml.seen["activation refused: budget too small"]++
					case strings.Contains(r.GetReason(), "int64 range"):
						ml.seen["refused: int64 range"]++
					case r.GetCode() == codeUnauthorized && body.GetAcceptMilestone() != nil:
						ml.seen["milestone accepted by the wrong party"]++
					}
				}
				ml.check(t, c.Store, c.Height, res)
			}
			t.Logf("seen %v", ml.seen)
			t.Logf("results %v", codes)
			for k, v := range ml.seen {
				total[k] += v
			}
		})
	}
	for _, k := range []string{
		"funding executed", "event funding", "event escrow", "event milestone", "event penalty", "event refund",
		"deadline fired", "penalty of the whole escrow", "activation refused: budget too small", "refused: int64 range",
		"milestone accepted by the wrong party",
	} {
		if total[k] == 0 {
			t.Errorf("the mix never exercised %q: %v", k, total)
		}
	}
}
