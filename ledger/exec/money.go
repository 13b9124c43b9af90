package exec

import (
	"math"
	"math/bits"
	"slices"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Budgets and payments (ARCHITECTURE.md §5, "Budgets and payments"):
//   - Amounts are int64 minor units. Every sum, difference and share is
//     checked (addI64, subI64, mulDiv): one that would leave the int64
//     range refuses the action, it never wraps.
//   - budget/<department> is a department's Budget, account/<identity> an
//     identity's Account. Money enters only by genesis (GenesisDoc.budgets,
//     opening balances of member departments) and by a passed FundBudget
//     proposal (a member department, amount > 0, checked at submission and
//     again at execution); every other movement is between a budget, a
//     contract's escrow and an account, so the sum of budget balances,
//     account balances and escrows changes only by funding.
//   - A money template names amount_field (one of its fields), buyer_role
//     and supplier_role (two different roles of it), all three or none; its
//     milestones' payment_bps sum to at most 10000; a deadline's penalty is
//     a CEL int expression; no transition assigns amount_field.
//   - A money contract's amount field holds an int > 0, its buyer party is
//     an active official holding ROLE_ISSUER or ROLE_ADMIN of a member
//     department (whose budget pays), and its supplier is another identity;
//     checked at creation and again at activation.
//   - Escrow: when the contract becomes active (its last signature, or a
//     tender's award) the amount moves from the buyer's department budget to
//     the contract's escrow (fundEscrow); a budget that holds less refuses
//     the activating transaction.
//   - A milestone accepted with payment_bps > 0 pays amount*bps/10000
//     (rounded down), capped by the escrow, to the supplier's account.
//   - A deadline with a penalty evaluates it (the guard's variables) when
//     it fires; a negative value is 0; that much, capped by the escrow, goes
//     back to the buyer's budget, then the transition fires. The penalty and
//     the transition are one step: if either fails (an evaluation error, a
//     false guard) the deadline lapses and nothing moves.
//   - A contract entering a final state refunds what its escrow holds to
//     the buyer's budget.
//   - Every movement appends a Payment to the contract (escrow, milestone,
//     penalty, refund) and emits a PaymentEvent; a funding emits one with
//     no contract. Zero amounts are not recorded.

// maxBps is the whole amount in basis points.
const maxBps = 10000

// Payment kinds.
const (
	PaymentFunding   = "funding"
	PaymentEscrow    = "escrow"
	PaymentMilestone = "milestone"
	PaymentPenalty   = "penalty"
	PaymentRefund    = "refund"
)

// The ends of a movement, as Payment and PaymentEvent name them: the
// budget and account ends are their state keys.
func budgetEnd(dept string) string     { return prefixBudget + dept }
func accountEnd(id string) string      { return prefixAccount + id }
func escrowEnd(contract string) string { return "escrow/" + contract }
func proposalEnd(id string) string     { return "proposal/" + id }

// addI64 is a+b, refused if it leaves the int64 range.
func addI64(a, b int64) (int64, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, conflict("%d + %d is outside the int64 range of an amount", a, b)
	}
	return s, nil
}

// subI64 is a-b, refused if it leaves the int64 range.
func subI64(a, b int64) (int64, error) {
	d := a - b
	if (b > 0 && d > a) || (b < 0 && d < a) {
		return 0, conflict("%d - %d is outside the int64 range of an amount", a, b)
	}
	return d, nil
}

// mulDiv is a*b/d rounded down, for a, b >= 0 and d > 0, computed on 128
// bits; refused if an operand is out of range or the result leaves int64.
func mulDiv(a, b, d int64) (int64, error) {
	if a < 0 || b < 0 || d <= 0 {
		return 0, conflict("%d * %d / %d: operands out of range", a, b, d)
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(d) {
		return 0, conflict("%d * %d / %d is outside the int64 range of an amount", a, b, d)
	}
	q, _ := bits.Div64(hi, lo, uint64(d))
	if q > math.MaxInt64 {
		return 0, conflict("%d * %d / %d is outside the int64 range of an amount", a, b, d)
	}
	return int64(q), nil
}

// within prefixes a refusal's reason with what was being done.
func within(err error, what string) error {
	if te, ok := asTxError(err); ok {
		return fail(te.code, "%s: %s", what, te.reason)
	}
	return err
}

func isMoneyTemplate(t *pb.ContractTemplate) bool { return t.GetAmountField() != "" }

// loadBudget returns dept's budget; a department never funded has a zero
// one (not stored until it changes).
func (tc *txCtx) loadBudget(dept string) (*pb.Budget, error) {
	b := &pb.Budget{}
	if _, err := tc.st.getMsg(kBudget(dept), b); err != nil {
		return nil, err
	}
	b.DepartmentId = dept
	return b, nil
}

func (tc *txCtx) putBudget(b *pb.Budget) error {
	if b.GetBalance() < 0 || b.GetFunded() < 0 {
		return fmtInvariant("budget of %s would be negative (%d, funded %d)", b.GetDepartmentId(), b.GetBalance(), b.GetFunded())
	}
	b.UpdatedHeight = tc.b.height
	return tc.st.putMsg(kBudget(b.GetDepartmentId()), b)
}

func (tc *txCtx) loadAccount(id string) (*pb.Account, error) {
	a := &pb.Account{}
	if _, err := tc.st.getMsg(kAccount(id), a); err != nil {
		return nil, err
	}
	a.IdentityId = id
	return a, nil
}

func (tc *txCtx) putAccount(a *pb.Account) error {
	if a.GetBalance() < 0 {
		return fmtInvariant("account of %s would be negative (%d)", a.GetIdentityId(), a.GetBalance())
	}
	a.UpdatedHeight = tc.b.height
	return tc.st.putMsg(kAccount(a.GetIdentityId()), a)
}

// creditBudget adds amount (>= 0) to dept's budget balance.
func (tc *txCtx) creditBudget(dept string, amount int64) error {
	b, err := tc.loadBudget(dept)
	if err != nil {
		return err
	}
	if b.Balance, err = addI64(b.GetBalance(), amount); err != nil {
		return within(err, "budget of department "+dept)
	}
	return tc.putBudget(b)
}

func (tc *txCtx) paymentEvent(contract, kind string, amount int64, from, to string) {
	tc.emit(&pb.Event{Kind: &pb.Event_Payment{Payment: &pb.PaymentEvent{
		ContractId: contract, Kind: kind, Amount: amount, From: from, To: to,
	}}})
}

// record appends a contract's movement to its payments and emits it.
func (tc *txCtx) record(c *pb.Contract, kind string, amount int64, from, to, milestone, reason string) {
	c.Payments = append(c.Payments, &pb.Payment{
		Kind: kind, Amount: amount, From: from, To: to, MilestoneId: milestone, Reason: reason, Height: tc.b.height,
	})
	tc.paymentEvent(c.GetId(), kind, amount, from, to)
}

// partyOf is the identity holding role in c ("" if none).
func partyOf(c *pb.Contract, role string) string {
	for _, p := range c.GetParties() {
		if p.GetRole() == role {
			return p.GetIdentityId()
		}
	}
	return ""
}

// moneyTerms are what a money contract's escrow needs.
type moneyTerms struct {
	amount   int64
	dept     string // the buyer's department, whose budget pays
	supplier string
}

// moneyTerms checks a money contract's terms (at creation and again at
// activation): the amount field is an int > 0; the buyer party is an
// active official holding ROLE_ISSUER or ROLE_ADMIN of a member
// department, who may commit its budget; the supplier is someone else.
func (tc *txCtx) moneyTerms(c *pb.Contract, t *pb.ContractTemplate) (*moneyTerms, error) {
	i := slices.IndexFunc(c.GetFields(), func(f *pb.ContractField) bool { return f.GetName() == t.GetAmountField() })
	if i < 0 {
		return nil, invalid("field %s, the contract amount, is required", t.GetAmountField())
	}
	v, ok := c.GetFields()[i].GetValue().(*pb.ContractField_IntValue)
	if !ok {
		return nil, invalid("field %s, the contract amount, must be an int (minor units)", t.GetAmountField())
	}
	if v.IntValue <= 0 {
		return nil, invalid("field %s, the contract amount, is %d; it must be > 0", t.GetAmountField(), v.IntValue)
	}
	buyerID, supplier := partyOf(c, t.GetBuyerRole()), partyOf(c, t.GetSupplierRole())
	if buyerID == supplier {
		return nil, invalid("%s is both the %s and the %s: a department's budget does not pay its own buyer", buyerID, t.GetBuyerRole(), t.GetSupplierRole())
	}
	buyer, err := tc.loadIdentity(buyerID)
	if err != nil {
		return nil, err
	}
	if buyer.GetStatus() != pb.IdentityStatus_IDENTITY_STATUS_ACTIVE {
		return nil, conflict("the %s %s is %s", t.GetBuyerRole(), buyerID, statusName(buyer.GetStatus()))
	}
	dept, err := requireOfficial(tc.st, buyer, pb.Role_ROLE_ISSUER, pb.Role_ROLE_ADMIN)
	if err != nil {
		return nil, within(err, "the "+t.GetBuyerRole()+" "+buyerID+" cannot commit a department's budget")
	}
	return &moneyTerms{amount: v.IntValue, dept: dept.GetId(), supplier: supplier}, nil
}

// fundEscrow moves a money contract's amount from its buyer's department
// budget to its escrow, when the contract becomes active (the last
// SignContract, or a tender's award); nothing for a template without
// money. It sets c's amount, escrow, buyer department and first payment;
// the caller stores c. A budget holding less than the amount refuses the
// activation (CONFLICT).
func (tc *txCtx) fundEscrow(c *pb.Contract, t *pb.ContractTemplate) error {
	if !isMoneyTemplate(t) {
		return nil
	}
	if c.GetBuyerDepartmentId() != "" || c.GetEscrow() != 0 || len(c.GetPayments()) > 0 {
		return conflict("contract %s's escrow was funded already", c.GetId())
	}
	m, err := tc.moneyTerms(c, t)
	if err != nil {
		return err
	}
	b, err := tc.loadBudget(m.dept)
	if err != nil {
		return err
	}
	if b.GetBalance() < m.amount {
		return conflict("department %s's budget holds %d, less than contract %s's amount %d", m.dept, b.GetBalance(), c.GetId(), m.amount)
	}
	if b.Balance, err = subI64(b.GetBalance(), m.amount); err != nil {
		return within(err, "budget of department "+m.dept)
	}
	if err := tc.putBudget(b); err != nil {
		return err
	}
	c.Amount, c.Escrow, c.BuyerDepartmentId = m.amount, m.amount, m.dept
	tc.record(c, PaymentEscrow, m.amount, budgetEnd(m.dept), escrowEnd(c.GetId()), "", "contract activated")
	return nil
}

// payMilestone pays an accepted milestone's share of a money contract's
// amount, amount*payment_bps/10000 capped by the escrow, from the escrow
// to the supplier's account.
func (tc *txCtx) payMilestone(c *pb.Contract, t *pb.ContractTemplate, spec *pb.MilestoneSpec) error {
	if !isMoneyTemplate(t) || spec.GetPaymentBps() == 0 || c.GetEscrow() == 0 {
		return nil
	}
	share, err := mulDiv(c.GetAmount(), int64(spec.GetPaymentBps()), maxBps)
	if err != nil {
		return within(err, "share of milestone "+spec.GetId())
	}
	pay := min(share, c.GetEscrow())
	if pay <= 0 {
		return nil
	}
	supplier := partyOf(c, t.GetSupplierRole())
	acct, err := tc.loadAccount(supplier)
	if err != nil {
		return err
	}
	if acct.Balance, err = addI64(acct.GetBalance(), pay); err != nil {
		return within(err, "account of "+supplier)
	}
	if c.Escrow, err = subI64(c.GetEscrow(), pay); err != nil {
		return within(err, "escrow of contract "+c.GetId())
	}
	if err := tc.putAccount(acct); err != nil {
		return err
	}
	tc.record(c, PaymentMilestone, pay, escrowEnd(c.GetId()), accountEnd(supplier), spec.GetId(), "milestone "+spec.GetId()+" accepted")
	return nil
}

// applyPenalty evaluates a firing deadline's penalty (the guard's
// variables; a negative value is 0) and moves it, capped by the escrow,
// from the escrow to the buyer's budget. An evaluation error refuses the
// step (the deadline lapses).
func (tc *txCtx) applyPenalty(c *pb.Contract, t *pb.ContractTemplate, d *pb.Deadline, at string) error {
	if !isMoneyTemplate(t) || d.GetPenalty() == "" {
		return nil
	}
	v, err := tc.e.cel.evalInt(d.GetPenalty(), celVars(c, nil, tc.nowSec()))
	if err != nil {
		return fail(pb.ResultCode_RESULT_CODE_GUARD_FAILED, "penalty of the deadline in %s: %v", d.GetState(), err)
	}
	pen := min(max(v, 0), c.GetEscrow())
	if pen == 0 {
		return nil
	}
	if err := tc.creditBudget(c.GetBuyerDepartmentId(), pen); err != nil {
		return err
	}
	if c.Escrow, err = subI64(c.GetEscrow(), pen); err != nil {
		return within(err, "escrow of contract "+c.GetId())
	}
	tc.record(c, PaymentPenalty, pen, escrowEnd(c.GetId()), budgetEnd(c.GetBuyerDepartmentId()), "", "deadline "+at+" passed")
	return nil
}

// refundEscrow returns what a contract's escrow holds to the buyer's
// budget (the contract has reached a final state).
func (tc *txCtx) refundEscrow(c *pb.Contract, reason string) error {
	left := c.GetEscrow()
	if left == 0 {
		return nil
	}
	if left < 0 || c.GetBuyerDepartmentId() == "" {
		return fmtInvariant("contract %s holds escrow %d of department %q", c.GetId(), left, c.GetBuyerDepartmentId())
	}
	if err := tc.creditBudget(c.GetBuyerDepartmentId(), left); err != nil {
		return err
	}
	c.Escrow = 0
	tc.record(c, PaymentRefund, left, escrowEnd(c.GetId()), budgetEnd(c.GetBuyerDepartmentId()), "", reason)
	return nil
}

// Budget funding by governance (FundBudget).

// validateMoneyChangeShape is the stateless check of a FundBudget; ok is
// false for other changes.
func validateMoneyChangeShape(p *pb.SubmitProposal) (ok bool, err error) {
	f := p.GetFundBudget()
	if _, is := p.GetChange().(*pb.SubmitProposal_FundBudget); !is {
		return false, nil
	}
	if f == nil {
		return true, invalid("fund_budget is empty")
	}
	if err := checkID("department id", f.GetDepartmentId()); err != nil {
		return true, err
	}
	if f.GetAmount() <= 0 {
		return true, invalid("funding amount %d: it must be > 0", f.GetAmount())
	}
	return true, checkText("reason", f.GetReason(), MaxTextBytes, false)
}

// checkMoneyChange checks a FundBudget against the state, at submission
// and again at execution: a member department whose budget (balance and
// funded) stays within int64. ok is false for other changes.
func (tc *txCtx) checkMoneyChange(p *pb.SubmitProposal) (ok bool, err error) {
	f := p.GetFundBudget()
	if f == nil {
		return false, nil
	}
	if ok, err := tc.isMember(f.GetDepartmentId()); err != nil {
		return true, err
	} else if !ok {
		return true, notFound("department %s is not a member", f.GetDepartmentId())
	}
	b, err := tc.loadBudget(f.GetDepartmentId())
	if err != nil {
		return true, err
	}
	if _, err := addI64(b.GetBalance(), f.GetAmount()); err != nil {
		return true, within(err, "budget of department "+f.GetDepartmentId())
	}
	if _, err := addI64(b.GetFunded(), f.GetAmount()); err != nil {
		return true, within(err, "funding of department "+f.GetDepartmentId())
	}
	return true, nil
}

// applyMoneyChange executes a passed FundBudget; ok is false for other
// changes.
func (tc *txCtx) applyMoneyChange(p *pb.SubmitProposal) (ok bool, err error) {
	f := p.GetFundBudget()
	if f == nil {
		return false, nil
	}
	b, err := tc.loadBudget(f.GetDepartmentId())
	if err != nil {
		return true, err
	}
	if b.Balance, err = addI64(b.GetBalance(), f.GetAmount()); err != nil {
		return true, within(err, "budget of department "+f.GetDepartmentId())
	}
	if b.Funded, err = addI64(b.GetFunded(), f.GetAmount()); err != nil {
		return true, within(err, "funding of department "+f.GetDepartmentId())
	}
	if err := tc.putBudget(b); err != nil {
		return true, err
	}
	tc.paymentEvent("", PaymentFunding, f.GetAmount(), proposalEnd(p.GetProposalId()), budgetEnd(f.GetDepartmentId()))
	tc.govEvent(p.GetProposalId(), "budget_funded", f.GetDepartmentId(), pb.ProposalStatus_PROPOSAL_STATUS_PASSED, 0)
	return true, nil
}
