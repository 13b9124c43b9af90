package exec_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Tender timeline of these tests: bids until bidDL, reveals until revealDL
// (unix seconds after the fixture's genesis).
const (
	bidDL    = exectest.GenesisTimeMs/1000 + 100
	revealDL = exectest.GenesisTimeMs/1000 + 200
)

func publishTender(id string, budget int64, scoring string) *pb.TxBody {
	now := exectest.GenesisTimeMs / 1000
	return &pb.TxBody{Action: &pb.TxBody_PublishTender{PublishTender: &pb.PublishTender{
		TenderId: id, Title: "Road salt 2026", Requirements: "2000 t of de-icing salt, EN 16811-1",
		Budget: budget, BidDeadline: bidDL, RevealDeadline: revealDL, Scoring: scoring, TemplateId: exec.TenderTemplateID,
		ContractFields: []*pb.ContractField{strField("currency", "EUR"), intField("delivery_deadline", now+30*day), intField("grace_seconds", day)},
	}}}
}

// bidTerms are one company's sealed terms.
type bidTerms struct {
	bidder string
	price  int64
	fields []*pb.ContractField
}

func (b bidTerms) salt() []byte {
	s := crypto.Ed25519SHA256.Hash([]byte("salt of " + b.bidder))
	return s[:crypto.PayloadSaltSize]
}

func (b bidTerms) commitment(tender string) []byte {
	return crypto.Ed25519SHA256.BidCommitment(tender, b.bidder, b.salt(), b.price, exec.BidFieldsBytes(b.fields))
}

func submitBid(tender string, commitment []byte) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_SubmitBid{SubmitBid: &pb.SubmitBid{TenderId: tender, Commitment: commitment}}}
}

func (b bidTerms) bid(tender string) *pb.TxBody { return submitBid(tender, b.commitment(tender)) }

func (b bidTerms) reveal(tender string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_RevealBid{RevealBid: &pb.RevealBid{TenderId: tender, Price: b.price, Fields: b.fields, Salt: b.salt()}}}
}

func awardTender(tender, bidder, contract string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_AwardTender{AwardTender: &pb.AwardTender{TenderId: tender, BidderId: bidder, ContractId: contract}}}
}

func tenderOf(t *testing.T, e *env, id string) *pb.Tender {
	t.Helper()
	tn, err := exec.Tender(e.c.Store, id)
	if err != nil {
		t.Fatalf("tender %s: %v", id, err)
	}
	return tn
}

func bidOf(t *testing.T, tn *pb.Tender, bidder string) *pb.Bid {
	t.Helper()
	for _, b := range tn.GetBids() {
		if b.GetBidderId() == bidder {
			return b
		}
	}
	t.Fatalf("tender %s has no bid by %s", tn.GetId(), bidder)
	return nil
}

// newTenderEnv is the fixture with companies co0..co3.
func newTenderEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, 2)
	for i := 1; i <= 3; i++ {
		e.ok("d0.registrar", regSubject(fmt.Sprintf("co%d", i), company))
	}
	return e
}

// refuseBoth expects body by id refused with code and a reason holding
// want, at admission (CheckTx against committed state) and in a block,
// where it changes nothing but the signer's nonce.
func (e *env) refuseBoth(id string, code pb.ResultCode, want string, body *pb.TxBody) {
	e.t.Helper()
	if r := e.checkCopy(e.c.Store, id, body); r.Code != code || !strings.Contains(r.Reason, want) {
		e.t.Fatalf("CheckTx: %v %q, want %v ...%s...", r.Code, r.Reason, code, want)
	}
	e.refuseWith(id, code, want, body)
}

// refuseWith is refuse with the reason holding want.
func (e *env) refuseWith(id string, code pb.ResultCode, want string, body *pb.TxBody) {
	e.t.Helper()
	if r := e.refuse(id, code, body); !strings.Contains(r.GetReason(), want) {
		e.t.Fatalf("reason %q, want ...%s...", r.GetReason(), want)
	}
}

// admits expects CheckTx to admit body by id.
func (e *env) admits(id string, body *pb.TxBody) {
	e.t.Helper()
	if r := e.checkCopy(e.c.Store, id, body); !r.OK() {
		e.t.Fatalf("CheckTx: %v %s", r.Code, r.Reason)
	}
}

func tenderEvents(r *pb.TxResult) []*pb.TenderEvent {
	var out []*pb.TenderEvent
	for _, ev := range r.GetEvents() {
		if te := ev.GetTender(); te != nil {
			out = append(out, te)
		}
	}
	return out
}

// TestTenderAwardLowestValidPrice: four sealed bids, one never revealed
// and one over budget (both void); the award goes to the lowest valid
// price, creates the contract active with its escrow funded from the
// buyer's budget, and every bid's terms stay readable.
func TestTenderAwardLowestValidPrice(t *testing.T) {
	e := newTenderEnv(t)
	budget0 := budgetOf(t, e, "d0")
	const budget = 100_000_00
	r := e.ok("d0.issuer", publishTender("t1", budget, exec.ScoringLowestPrice))
	if ev := tenderEvents(r); len(ev) != 1 || ev[0].GetAction() != "published" || ev[0].GetTenderId() != "t1" || ev[0].GetPrice() != budget {
		t.Fatalf("events %v", r.GetEvents())
	}
	if tn := tenderOf(t, e, "t1"); tn.GetStatus() != pb.TenderStatus_TENDER_STATUS_OPEN || tn.GetBuyerDepartmentId() != "d0" ||
		tn.GetBuyerId() != "d0.issuer" || tn.GetPublishedHeight() != e.c.Height || tn.GetBudget() != budget {
		t.Fatalf("tender %v", tn)
	}
	if budgetOf(t, e, "d0") != budget0 {
		t.Fatal("publishing moved money")
	}
	terms := map[string]bidTerms{
		"co0": {"co0", 90_000_00, []*pb.ContractField{intField("warranty_years", 1)}},
		"co1": {"co1", 70_000_00, nil},                                         // never revealed
		"co2": {"co2", 120_000_00, []*pb.ContractField{strField("note", "x")}}, // over budget
		"co3": {"co3", 95_000_00, []*pb.ContractField{intField("warranty_years", 3)}},
	}
	for _, id := range []string{"co0", "co1", "co2", "co3"} {
		e.admits(id, terms[id].bid("t1"))
		r := e.ok(id, terms[id].bid("t1"))
		if ev := tenderEvents(r); len(ev) != 1 || ev[0].GetAction() != "bid" || ev[0].GetBidderId() != id {
			t.Fatalf("events %v", r.GetEvents())
		}
	}
	tn := tenderOf(t, e, "t1")
	if len(tn.GetBids()) != 4 || bidOf(t, tn, "co0").GetRevealed() || !bytes.Equal(bidOf(t, tn, "co2").GetCommitment(), terms["co2"].commitment("t1")) {
		t.Fatalf("bids %v", tn.GetBids())
	}
	// Sealed: nothing of the terms is in state.
	if b := bidOf(t, tn, "co0"); b.GetPrice() != 0 || len(b.GetFields()) != 0 || len(b.GetSalt()) != 0 {
		t.Fatalf("sealed bid shows terms: %v", b)
	}

	e.blockAt(bidDL * 1000)
	for _, id := range []string{"co0", "co2", "co3"} {
		e.admits(id, terms[id].reveal("t1"))
		r := e.ok(id, terms[id].reveal("t1"))
		if ev := tenderEvents(r); len(ev) != 1 || ev[0].GetAction() != "revealed" || ev[0].GetBidderId() != id || ev[0].GetPrice() != terms[id].price {
			t.Fatalf("events %v", r.GetEvents())
		}
	}
	tn = tenderOf(t, e, "t1")
	for _, id := range []string{"co0", "co2", "co3"} {
		b := bidOf(t, tn, id)
		if !b.GetRevealed() || b.GetPrice() != terms[id].price || len(b.GetFields()) != len(terms[id].fields) || !bytes.Equal(b.GetSalt(), terms[id].salt()) {
			t.Fatalf("revealed bid %v", b)
		}
	}
	if b := bidOf(t, tn, "co2"); !strings.Contains(b.GetVoidReason(), "exceeds the tender's budget") {
		t.Fatalf("over-budget bid %v", b)
	}
	if b := bidOf(t, tn, "co0"); b.GetVoidReason() != "" || b.GetScore() != -90_000_00 {
		t.Fatalf("valid bid %v", b)
	}
	e.refuseWith("d0.issuer", codeConflict, "reveals are open until", awardTender("t1", "co0", "c1"))

	e.blockAt(revealDL * 1000)
	// CheckTx knows the winner once the last block's time closed reveals.
	tr := timeReader{e.c.Store, e.c.TimeMs}
	if r := e.checkCopy(tr, "d0.issuer", awardTender("t1", "co3", "c1")); r.Code != codeConflict || !strings.Contains(r.Reason, "the winner is co0") {
		t.Fatalf("CheckTx %v %s", r.Code, r.Reason)
	}
	e.refuseWith("d0.issuer", codeConflict, "award breaks the published rule: the winner is co0", awardTender("t1", "co3", "c1"))
	e.refuseWith("d0.issuer", codeConflict, "award breaks the published rule: the winner is co0", awardTender("t1", "co1", "c1"))
	e.refuseWith("d0.issuer", codeConflict, "award breaks the published rule: the winner is co0", awardTender("t1", "co2", "c1"))
	e.refuseBoth("d1.issuer", codeUnauthorized, "is not an official of tender t1's buyer department d0", awardTender("t1", "co0", "c1"))
	e.refuseBoth("d0.auditor", codeUnauthorized, "holds none of the roles", awardTender("t1", "co0", "c1"))

	e.admits("d0.admin", awardTender("t1", "co0", "c1"))
	r = e.ok("d0.admin", awardTender("t1", "co0", "c1"))
	var kinds []string
	for _, ev := range r.GetEvents() {
		switch {
		case ev.GetTender() != nil:
			kinds = append(kinds, "tender:"+ev.GetTender().GetAction())
			if te := ev.GetTender(); te.GetBidderId() != "co0" || te.GetContractId() != "c1" || te.GetPrice() != 90_000_00 {
				t.Fatalf("award event %v", te)
			}
		case ev.GetContract() != nil:
			kinds = append(kinds, "contract:"+ev.GetContract().GetAction())
		case ev.GetPayment() != nil:
			kinds = append(kinds, "payment:"+ev.GetPayment().GetKind())
			if p := ev.GetPayment(); p.GetAmount() != 90_000_00 || p.GetContractId() != "c1" {
				t.Fatalf("payment event %v", p)
			}
		}
	}
	if strings.Join(kinds, " ") != "contract:activated payment:escrow tender:awarded" {
		t.Fatalf("award events %v", kinds)
	}
	c := contractOf(t, e, "c1")
	if c.GetState() != "active" || c.GetTenderId() != "t1" || c.GetAmount() != 90_000_00 || c.GetEscrow() != 90_000_00 ||
		c.GetBuyerDepartmentId() != "d0" || c.GetActivatedAt() != e.c.TimeMs || c.GetCreatorId() != "d0.admin" || c.GetTitle() != "Road salt 2026" {
		t.Fatalf("contract %v", c)
	}
	if len(c.GetParties()) != 2 || c.GetParties()[0].GetIdentityId() != "d0.admin" || c.GetParties()[0].GetRole() != "buyer" ||
		c.GetParties()[1].GetIdentityId() != "co0" || c.GetParties()[1].GetRole() != "supplier" {
		t.Fatalf("parties %v", c.GetParties())
	}
	if strings.Join(c.GetSignedBy(), ",") != "d0.admin,co0" || len(c.GetHistory()) != 1 || c.GetHistory()[0].GetTo() != "active" ||
		len(c.GetMilestones()) != 2 || len(c.GetPayments()) != 1 || c.GetPayments()[0].GetKind() != "escrow" {
		t.Fatalf("contract %v", c)
	}
	fields := map[string]any{}
	for _, f := range c.GetFields() {
		fields[f.GetName()] = f.GetValue()
	}
	if v, ok := fields["amount"].(*pb.ContractField_IntValue); !ok || v.IntValue != 90_000_00 || len(fields) != 4 {
		t.Fatalf("fields %v", c.GetFields())
	}
	if got := budgetOf(t, e, "d0"); got != budget0-90_000_00 {
		t.Fatalf("budget %d, want %d", got, budget0-90_000_00)
	}
	// The breach deadline is scheduled.
	if dls := allKeys(e.c.Store, "dl/"); len(dls) != 1 || !strings.Contains(dls[0], "/c1/") {
		t.Fatalf("deadlines %v", dls)
	}
	tn = tenderOf(t, e, "t1")
	if tn.GetStatus() != pb.TenderStatus_TENDER_STATUS_AWARDED || tn.GetAwardedBidderId() != "co0" || tn.GetContractId() != "c1" ||
		tn.GetDecidedHeight() != e.c.Height {
		t.Fatalf("tender %v", tn)
	}
	if b := bidOf(t, tn, "co1"); b.GetVoidReason() != "not revealed" || b.GetRevealed() {
		t.Fatalf("unrevealed bid %v", b)
	}
	if b := bidOf(t, tn, "co3"); b.GetVoidReason() != "" || b.GetPrice() != 95_000_00 || b.GetFields()[0].GetIntValue() != 3 {
		t.Fatalf("losing bid %v", b)
	}
	// The contract runs like any other: the supplier is paid by milestone.
	e.ok("co0", submitMS("c1", "goods_delivered"))
	e.ok("d0.admin", acceptMS("c1", "goods_delivered"))
	if c := contractOf(t, e, "c1"); c.GetEscrow() != 27_000_00 {
		t.Fatalf("escrow after the first milestone %d", c.GetEscrow())
	}
	// Decided: nothing more on the tender, at admission too.
	e.refuseBoth("d0.issuer", codeConflict, "tender t1 is awarded", awardTender("t1", "co0", "c2"))
	e.refuseBoth("co3", codeConflict, "tender t1 is awarded", terms["co3"].reveal("t1"))
	e.refuseBoth("co1", codeConflict, "tender t1 is awarded", terms["co1"].bid("t1"))
}

// TestTenderCELScoring: a scoring expression over price and fields picks a
// price that is not the lowest; the award must follow it.
func TestTenderCELScoring(t *testing.T) {
	e := newTenderEnv(t)
	const scoring = "fields.warranty_years * 1000000 - price"
	e.ok("d0.issuer", publishTender("t1", 100_000_00, scoring))
	cheap := bidTerms{"co0", 90_000_00, []*pb.ContractField{intField("warranty_years", 1)}}
	long := bidTerms{"co1", 95_000_00, []*pb.ContractField{intField("warranty_years", 3)}}
	odd := bidTerms{"co2", 80_000_00, []*pb.ContractField{strField("warranty", "forever")}} // the rule cannot score it
	e.ok("co0", cheap.bid("t1"))
	e.ok("co1", long.bid("t1"))
	e.ok("co2", odd.bid("t1"))
	e.blockAt(bidDL * 1000)
	e.ok("co0", cheap.reveal("t1"))
	e.ok("co1", long.reveal("t1"))
	e.ok("co2", odd.reveal("t1"))
	tn := tenderOf(t, e, "t1")
	if b := bidOf(t, tn, "co0"); b.GetScore() != 1_000_000-90_000_00 {
		t.Fatalf("bid %v", b)
	}
	if b := bidOf(t, tn, "co1"); b.GetScore() != 3_000_000-95_000_00 {
		t.Fatalf("bid %v", b)
	}
	if b := bidOf(t, tn, "co2"); !strings.HasPrefix(b.GetVoidReason(), "scoring failed: ") || b.GetPrice() != 80_000_00 {
		t.Fatalf("unscorable bid %v", b)
	}
	if w, ok := exec.TenderWinner(tn); !ok || w.GetBidderId() != "co1" {
		t.Fatalf("winner %v", w)
	}
	e.blockAt(revealDL * 1000)
	e.refuseWith("d0.issuer", codeConflict, "the winner is co1", awardTender("t1", "co0", "c1"))
	e.refuseWith("d0.issuer", codeConflict, "the winner is co1", awardTender("t1", "co2", "c1"))
	e.ok("d0.issuer", awardTender("t1", "co1", "c1"))
	if c := contractOf(t, e, "c1"); c.GetAmount() != 95_000_00 || c.GetParties()[1].GetIdentityId() != "co1" {
		t.Fatalf("contract %v", c)
	}
}

// TestTenderWinnerTies: equal scores go to the earliest bid; a replaced
// bid counts from its replacement.
func TestTenderWinnerTies(t *testing.T) {
	e := newTenderEnv(t)
	e.ok("d0.issuer", publishTender("t1", 100_000_00, exec.ScoringLowestPrice))
	a := bidTerms{"co0", 50_000_00, nil}
	b := bidTerms{"co1", 50_000_00, nil}
	e.ok("co0", a.bid("t1"))
	e.ok("co1", b.bid("t1"))
	e.ok("co0", submitBid("t1", hash("an earlier thought"))) // replaced: now after co1
	e.ok("co0", a.bid("t1"))
	tn := tenderOf(t, e, "t1")
	if len(tn.GetBids()) != 2 || tn.GetBids()[0].GetBidderId() != "co1" || tn.GetBids()[1].GetHeight() != e.c.Height {
		t.Fatalf("bids %v", tn.GetBids())
	}
	e.blockAt(bidDL * 1000)
	e.ok("co0", a.reveal("t1"))
	e.ok("co1", b.reveal("t1"))
	e.blockAt(revealDL * 1000)
	e.refuseWith("d0.issuer", codeConflict, "the winner is co1", awardTender("t1", "co0", "c1"))
	e.ok("d0.issuer", awardTender("t1", "co1", "c1"))
}

// TestPublishTenderRefused: every refusal of a publication, with nothing
// changed.
func TestPublishTenderRefused(t *testing.T) {
	e := newTenderEnv(t)
	mod := func(f func(*pb.PublishTender)) *pb.TxBody {
		b := publishTender("t1", 100_000_00, exec.ScoringLowestPrice)
		f(b.GetPublishTender())
		return b
	}
	// Stateless, at admission too.
	e.refuseBoth("d0.issuer", codeInvalid, "budget 0", mod(func(p *pb.PublishTender) { p.Budget = 0 }))
	e.refuseBoth("d0.issuer", codeInvalid, "budget -5", mod(func(p *pb.PublishTender) { p.Budget = -5 }))
	e.refuseBoth("d0.issuer", codeInvalid, "reveal deadline", mod(func(p *pb.PublishTender) { p.RevealDeadline = p.BidDeadline }))
	e.refuseBoth("d0.issuer", codeInvalid, "tender id", mod(func(p *pb.PublishTender) { p.TenderId = "T1" }))
	e.refuseBoth("d0.issuer", codeInvalid, "title", mod(func(p *pb.PublishTender) { p.Title = "" }))
	e.refuseBoth("d0.issuer", codeTooLarge, "requirements", mod(func(p *pb.PublishTender) { p.Requirements = strings.Repeat("x", exec.MaxRequirementsBytes+1) }))
	e.refuseBoth("d0.issuer", codeInvalid, "scoring is required", mod(func(p *pb.PublishTender) { p.Scoring = "" }))
	e.refuseBoth("d0.issuer", codeInvalid, "scoring \"price <\"", mod(func(p *pb.PublishTender) { p.Scoring = "price <" }))
	e.refuseBoth("d0.issuer", codeInvalid, "scoring", mod(func(p *pb.PublishTender) { p.Scoring = "price > 5" })) // a bool, not an int
	e.refuseBoth("d0.issuer", codeInvalid, "scoring", mod(func(p *pb.PublishTender) { p.Scoring = "now - price" }))
	e.refuseBoth("d0.issuer", codeInvalid, "cost", mod(func(p *pb.PublishTender) { p.Scoring = expensiveScoring }))
	e.refuseBoth("d0.issuer", codeInvalid, "matches", mod(func(p *pb.PublishTender) { p.Scoring = "fields.a.matches('(.{1000}){3}') ? 1 : 0" }))
	// Who.
	e.refuseBoth("cit0", codeUnauthorized, "not an official", publishTender("t1", 100_000_00, exec.ScoringLowestPrice))
	e.refuseBoth("d0.auditor", codeUnauthorized, "holds none of the roles", publishTender("t1", 100_000_00, exec.ScoringLowestPrice))
	// State.
	e.refuseWith("d0.issuer", codeInvalid, "is not after the block time", mod(func(p *pb.PublishTender) {
		p.BidDeadline, p.RevealDeadline = e.c.TimeMs/1000, e.c.TimeMs/1000+100
	}))
	past := mod(func(p *pb.PublishTender) { p.BidDeadline, p.RevealDeadline = e.c.TimeMs/1000-10, e.c.TimeMs/1000+100 })
	if r := e.checkCopy(timeReader{e.c.Store, e.c.TimeMs}, "d0.issuer", past); r.Code != codeInvalid || !strings.Contains(r.Reason, "is not after the last block's time") {
		t.Fatalf("CheckTx %v %s", r.Code, r.Reason)
	}
	e.refuseWith("d0.issuer", codeInvalid, "is not after the block time", past)
	e.refuseWith("d0.issuer", codeConflict, "exceeds department d0's budget balance", mod(func(p *pb.PublishTender) { p.Budget = exectest.DeptBudget + 1 }))
	e.refuseWith("d0.issuer", codeNotFound, "template nope not found", mod(func(p *pb.PublishTender) { p.TemplateId = "nope" }))
	e.refuseWith("d0.issuer", codeInvalid, "amount_field", mod(func(p *pb.PublishTender) {
		p.ContractFields = append(p.ContractFields, intField("amount", 5))
	}))
	e.refuseWith("d0.issuer", codeInvalid, "has no field bonus", mod(func(p *pb.PublishTender) {
		p.ContractFields = append(p.ContractFields, intField("bonus", 5))
	}))
	e.refuseWith("d0.issuer", codeInvalid, "do not give the deadline", mod(func(p *pb.PublishTender) { p.ContractFields = p.ContractFields[:1] }))
	if _, err := exec.Tender(e.c.Store, "t1"); err == nil {
		t.Fatal("a refused publication left a tender")
	}
	e.ok("d0.issuer", publishTender("t1", exectest.DeptBudget, exec.ScoringLowestPrice))
	e.refuseBoth("d1.issuer", codeExists, "tender t1 already exists", publishTender("t1", 100, exec.ScoringLowestPrice))
}

// expensiveScoring is a scoring expression whose worst-case cost is over
// the limit: a `contains` of one bid field in another, each as large as a
// transaction may carry, many times.
var expensiveScoring = func() string {
	s := "price"
	for i := range 8 {
		s += fmt.Sprintf(" + (fields.a%d.contains(fields.b%d) ? 1 : 0)", i, i)
	}
	return s
}()

// TestBidAndRevealRefused: bids and reveals refused, with nothing changed.
func TestBidAndRevealRefused(t *testing.T) {
	e := newTenderEnv(t)
	e.ok("d0.issuer", publishTender("t1", 100_000_00, exec.ScoringLowestPrice))
	co0 := bidTerms{"co0", 90_000_00, []*pb.ContractField{intField("warranty_years", 2)}}
	co1 := bidTerms{"co1", 80_000_00, nil}
	// Only companies bid, at admission too.
	e.refuseBoth("cit0", codeUnauthorized, "cit0 is not a company", bidTerms{"cit0", 1, nil}.bid("t1"))
	e.refuseBoth("d0.issuer", codeUnauthorized, "d0.issuer is not a company", bidTerms{"d0.issuer", 1, nil}.bid("t1"))
	e.refuseWith("co0", codeNotFound, "tender t2 not found", co0.bid("t2"))
	e.refuseBoth("co0", codeInvalid, "commitment is 5 bytes", submitBid("t1", []byte("short")))
	// A suspended company cannot sign at all.
	e.ok("d0.registrar", setStatus("co3", suspended, "inquiry"))
	bad := bidTerms{"co3", 1, nil}.bid("t1")
	if r := e.checkCopy(e.c.Store, "co3", bad); r.Code != codeInactive || !strings.Contains(r.Reason, "co3 is suspended") {
		t.Fatalf("CheckTx %v %s", r.Code, r.Reason)
	}
	if r := e.block(e.s("co3").Tx(bad)).Results[0]; r.GetCode() != codeInactive {
		t.Fatalf("suspended bid: %v %s", r.GetCode(), r.GetReason())
	}
	e.s("co3").Nonce--
	e.ok("co0", co0.bid("t1"))
	e.ok("co1", co1.bid("t1"))
	// Co1 copies co0's commitment: it binds co0's id, so co1 cannot open it.
	e.ok("co2", submitBid("t1", co0.commitment("t1")))
	// Reveals before the bid deadline.
	e.refuseWith("co0", codeConflict, "bids are sealed until", co0.reveal("t1"))

	e.blockAt(bidDL * 1000)
	e.refuseWith("co1", codeConflict, "bids closed at", co1.bid("t1"))
	if r := e.checkCopy(timeReader{e.c.Store, e.c.TimeMs}, "co1", co1.bid("t1")); r.Code != codeConflict || !strings.Contains(r.Reason, "bids closed at") {
		t.Fatalf("CheckTx %v %s", r.Code, r.Reason)
	}
	// Reveals that do not open their commitment, at admission too.
	const mismatch = "reveal does not match its commitment"
	wrongPrice := co0
	wrongPrice.price = 89_000_00
	e.refuseBoth("co0", codeInvalid, mismatch, wrongPrice.reveal("t1"))
	wrongFields := co0
	wrongFields.fields = []*pb.ContractField{intField("warranty_years", 5)}
	e.refuseBoth("co0", codeInvalid, mismatch, wrongFields.reveal("t1"))
	wrongSalt := co0.reveal("t1")
	wrongSalt.GetRevealBid().Salt = bytes.Repeat([]byte{9}, crypto.PayloadSaltSize)
	e.refuseBoth("co0", codeInvalid, mismatch, wrongSalt)
	copied := co0.reveal("t1") // co0's terms, by co2 who copied co0's commitment
	e.refuseBoth("co2", codeInvalid, mismatch, copied)
	e.refuseBoth("cit1", codeNotFound, "tender t1 has no bid by cit1", co1.reveal("t1"))
	e.refuseBoth("co1", codeInvalid, "salt is 3 bytes", &pb.TxBody{Action: &pb.TxBody_RevealBid{RevealBid: &pb.RevealBid{TenderId: "t1", Price: 1, Salt: []byte("abc")}}})
	zero := co1
	zero.price = 0
	e.refuseBoth("co1", codeInvalid, "price 0", zero.reveal("t1"))
	if b := bidOf(t, tenderOf(t, e, "t1"), "co0"); b.GetRevealed() {
		t.Fatalf("refused reveals revealed %v", b)
	}
	e.ok("co0", co0.reveal("t1"))
	e.refuseBoth("co0", codeConflict, "already revealed", co0.reveal("t1"))
	// An award before the reveal deadline.
	e.refuseWith("d0.issuer", codeConflict, "reveals are open until", awardTender("t1", "co0", "c1"))

	e.blockAt(revealDL * 1000)
	e.refuseWith("co1", codeConflict, "reveals closed at", co1.reveal("t1"))
	if r := e.checkCopy(timeReader{e.c.Store, e.c.TimeMs}, "co1", co1.reveal("t1")); r.Code != codeConflict || !strings.Contains(r.Reason, "reveals closed at") {
		t.Fatalf("CheckTx %v %s", r.Code, r.Reason)
	}
	e.refuseWith("d0.issuer", codeNotFound, "tender t9 not found", awardTender("t9", "co0", "c1"))
	e.ok("d0.issuer", awardTender("t1", "co0", "c1"))
}

// TestAwardTenderRefused: an award with no valid bid, an award whose
// contract the buyer's budget can no longer fund, an award to a winner
// suspended since, an award onto an existing contract id.
func TestAwardTenderRefused(t *testing.T) {
	e := newTenderEnv(t)
	budget0 := budgetOf(t, e, "d0")
	// t1 and t2 may each use the whole budget; together they cannot.
	e.ok("d0.issuer", publishTender("t1", budget0, exec.ScoringLowestPrice))
	e.ok("d0.issuer", publishTender("t2", budget0, exec.ScoringLowestPrice))
	e.ok("d0.issuer", publishTender("t3", 100, exec.ScoringLowestPrice))
	e.ok("d0.issuer", publishTender("t4", budget0, exec.ScoringLowestPrice))
	big1 := bidTerms{"co0", budget0 - 10, nil}
	big2 := bidTerms{"co1", budget0 - 20, nil}
	over := bidTerms{"co2", 101, nil}
	later := bidTerms{"co3", 5, nil}
	runnerUp := bidTerms{"co1", 7, nil}
	e.ok("co0", big1.bid("t1"))
	e.ok("co1", big2.bid("t2"))
	e.ok("co2", over.bid("t3"))
	e.ok("co3", later.bid("t4"))
	e.ok("co1", runnerUp.bid("t4"))
	e.blockAt(bidDL * 1000)
	e.ok("co0", big1.reveal("t1"))
	e.ok("co1", big2.reveal("t2"))
	e.ok("co2", over.reveal("t3"))
	e.ok("co3", later.reveal("t4"))
	e.ok("co1", runnerUp.reveal("t4"))
	e.blockAt(revealDL * 1000)
	e.ok("d0.issuer", awardTender("t1", "co0", "c1"))
	if got := budgetOf(t, e, "d0"); got != 10 {
		t.Fatalf("budget %d", got)
	}
	e.refuseWith("d0.issuer", codeConflict, "department d0's budget holds 10", awardTender("t2", "co1", "c2"))
	if tn := tenderOf(t, e, "t2"); tn.GetStatus() != pb.TenderStatus_TENDER_STATUS_OPEN {
		t.Fatalf("tender %v", tn)
	}
	if _, err := exec.Contract(e.c.Store, "c2"); err == nil {
		t.Fatal("a refused award left a contract")
	}
	e.refuseWith("d0.issuer", codeConflict, "tender t3 has no valid bid", awardTender("t3", "co2", "c3"))
	e.refuseWith("d0.issuer", codeExists, "contract c1 already exists", awardTender("t4", "co3", "c1"))
	// The winner suspended since it revealed: its bid no longer counts,
	// and the award goes to the best bid of an active company, so the
	// tender can still be awarded.
	e.ok("d0.registrar", setStatus("co3", suspended, "inquiry"))
	e.refuseWith("d0.issuer", codeConflict, "the winner is co1", awardTender("t4", "co3", "c4"))
	e.ok("d0.issuer", awardTender("t4", "co1", "c4"))
	tn := tenderOf(t, e, "t4")
	for _, b := range tn.GetBids() {
		if b.GetBidderId() == "co3" && !strings.Contains(b.GetVoidReason(), "suspended") {
			t.Fatalf("the suspended winner's bid: %v", b)
		}
	}
	if tn.GetAwardedBidderId() != "co1" {
		t.Fatalf("awarded %s", tn.GetAwardedBidderId())
	}
}

// TestBidFieldsBytes: the encoding a commitment covers is deterministic
// and a RevealBid's fields.
func TestBidFieldsBytes(t *testing.T) {
	fs := []*pb.ContractField{intField("warranty_years", 3), strField("note", "x")}
	a, b := exec.BidFieldsBytes(fs), exec.BidFieldsBytes(fs)
	if !bytes.Equal(a, b) || len(a) == 0 {
		t.Fatalf("%x %x", a, b)
	}
	if len(exec.BidFieldsBytes(nil)) != 0 {
		t.Fatal("no fields encode to something")
	}
	if bytes.Equal(a, exec.BidFieldsBytes(fs[:1])) {
		t.Fatal("different fields, same bytes")
	}
}

// TestTenderBidLimit: at most MaxBidsPerTender bidders; a bidder already
// in may still replace its bid.
func TestTenderBidLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("registers MaxBidsPerTender companies")
	}
	e := newEnv(t, 2)
	e.ok("d0.issuer", publishTender("t1", 100, exec.ScoringLowestPrice))
	var txs [][]byte
	for i := range exec.MaxBidsPerTender + 1 {
		txs = append(txs, e.s("d0.registrar").Tx(regSubject(fmt.Sprintf("b%d", i), company)))
	}
	e.block(txs...)
	txs = txs[:0]
	for i := range exec.MaxBidsPerTender {
		id := fmt.Sprintf("b%d", i)
		txs = append(txs, e.s(id).Tx(bidTerms{id, 1, nil}.bid("t1")))
	}
	for i, r := range e.block(txs...).Results {
		if r.GetCode() != codeOK {
			t.Fatalf("bid %d: %v %s", i, r.GetCode(), r.GetReason())
		}
	}
	last := fmt.Sprintf("b%d", exec.MaxBidsPerTender)
	e.refuseWith(last, codeConflict, fmt.Sprintf("limit %d", exec.MaxBidsPerTender), bidTerms{last, 1, nil}.bid("t1"))
	e.ok("b0", bidTerms{"b0", 2, nil}.bid("t1"))
}

// tenderGen adds tender actions to the randomized test's blocks
// (random_test.go) with its own random stream, so the other actions'
// stream stays as it was: publications with deadlines days ahead, companies' registrations and bids, reveals (now and then of other
// terms) and awards (mostly to the winner), each mostly on a tender in the
// phase that lets it through.
type tenderGen struct {
	g       *gen
	rng     *rand.Rand
	tenders []string
	terms   map[string]bidTerms // commitment (hex) → the terms it seals
	cos     []string            // companies registered here
	n       int
}

func newTenderGen(seed uint64, g *gen) *tenderGen {
	return &tenderGen{g: g, rng: rand.New(rand.NewPCG(seed, seed^0x7e4de5)), terms: map[string]bidTerms{}}
}

// sign is gen.signAs on tg's stream: the signer's current key (now and
// then a wrong one) and its next nonce.
func (tg *tenderGen) sign(id string, body *pb.TxBody) []byte {
	g := tg.g
	key := exectest.NewKey("unknown/" + id)
	if idn, err := exec.Identity(g.st, id); err == nil {
		if k, ok := g.keys[string(idn.GetPublicKey().GetKey())]; ok {
			key = k
		}
	}
	next, _ := exec.Nonce(g.st, id)
	next += g.pending[id] + 1
	if tg.rng.IntN(50) == 0 {
		key = exectest.NewKey("wrong")
	} else {
		g.pending[id]++
	}
	body.ChainId, body.Signer, body.Nonce = exectest.ChainID, id, next
	return exectest.SignBody(key, body)
}

// txs is 0..3 tender actions for a block at nowSec.
func (tg *tenderGen) txs(nowSec int64) [][]byte {
	out := make([][]byte, tg.rng.IntN(4))
	for i := range out {
		out[i] = tg.tx(nowSec)
	}
	return out
}

func (tg *tenderGen) tx(nowSec int64) []byte {
	r, g := tg.rng, tg.g
	pick := func(xs []string) string {
		if len(xs) == 0 {
			return "none"
		}
		return xs[r.IntN(len(xs))]
	}
	// inPhase picks, mostly, an open tender whose committed deadlines let
	// the action through at nowSec.
	inPhase := func(ok func(t *pb.Tender) bool) (string, *pb.Tender) {
		var in []*pb.Tender
		for _, id := range tg.tenders {
			if t, err := exec.Tender(g.st, id); err == nil && t.GetStatus() == pb.TenderStatus_TENDER_STATUS_OPEN && ok(t) {
				in = append(in, t)
			}
		}
		if len(in) == 0 || r.IntN(6) == 0 {
			id := pick(tg.tenders)
			t, _ := exec.Tender(g.st, id)
			return id, t
		}
		t := in[r.IntN(len(in))]
		return t.GetId(), t
	}
	someone := pick([]string{"cit0", "d0.issuer", "co0"})
	var live []string // companies registered here, active in committed state
	for _, id := range tg.cos {
		if idn, err := exec.Identity(g.st, id); err == nil && idn.GetStatus() == active {
			live = append(live, id)
		}
	}
	op := r.IntN(10)
	if len(live) < 2 && op >= 2 && op <= 4 {
		op = 1
	}
	switch op {
	case 0:
		tg.n++
		id := fmt.Sprintf("tn%d", tg.n)
		tg.tenders = append(tg.tenders, id)
		b := publishTender(id, 1+r.Int64N(2_000_000), exec.ScoringLowestPrice)
		p := b.GetPublishTender()
		if r.IntN(3) == 0 {
			p.Scoring = "fields.w * 1000 - price"
		}
		// Phases of days: the randomized test's blocks are seconds apart,
		// with a jump of up to two days one time in ten, which a reveal
		// phase outlasts.
		p.BidDeadline = nowSec + day + int64(r.IntN(2*day))
		p.RevealDeadline = p.BidDeadline + 2*day + int64(r.IntN(2*day))
		if r.IntN(8) == 0 {
			p.BidDeadline = nowSec - 1
		}
		p.ContractFields[1] = intField("delivery_deadline", nowSec+int64(r.IntN(day)))
		return tg.sign(pick(append(g.officials(".issuer"), "d1.admin", someone)), b)
	case 1:
		tg.n++
		id := fmt.Sprintf("tco%d", tg.n)
		tg.cos = append(tg.cos, id)
		k := exectest.NewKey("tender company " + id)
		g.keys[string(k.Public().GetKey())] = k
		b := regSubject(id, company)
		b.GetRegisterSubject().PublicKey = k.Public()
		return tg.sign("d0.registrar", b)
	case 2, 3, 4:
		tn, _ := inPhase(func(t *pb.Tender) bool { return nowSec < t.GetBidDeadline() })
		bidder := pick(live)
		if r.IntN(8) == 0 {
			bidder = pick(append(tg.cos, someone))
		}
		terms := bidTerms{bidder, 1 + r.Int64N(2_500_000), []*pb.ContractField{intField("w", r.Int64N(10))}}
		tg.terms[hex.EncodeToString(terms.commitment(tn))] = terms
		return tg.sign(bidder, terms.bid(tn))
	case 5, 6, 7:
		tn, t := inPhase(func(t *pb.Tender) bool {
			return t.GetBidDeadline() <= nowSec && nowSec < t.GetRevealDeadline() &&
				slices.ContainsFunc(t.GetBids(), func(b *pb.Bid) bool { return !b.GetRevealed() })
		})
		if len(t.GetBids()) == 0 {
			return tg.sign(someone, bidTerms{someone, 1, nil}.reveal(tn))
		}
		b := t.GetBids()[r.IntN(len(t.GetBids()))]
		terms := tg.terms[hex.EncodeToString(b.GetCommitment())]
		if r.IntN(6) == 0 {
			terms.price++
		}
		return tg.sign(b.GetBidderId(), terms.reveal(tn))
	default:
		tn, t := inPhase(func(t *pb.Tender) bool {
			_, ok := exec.TenderWinner(t)
			return t.GetRevealDeadline() <= nowSec && ok
		})
		tg.n++
		ctr := fmt.Sprintf("tc%d", tg.n)
		bidder := someone
		if w, ok := exec.TenderWinner(t); ok && r.IntN(4) > 0 {
			bidder = w.GetBidderId()
		} else if len(t.GetBids()) > 0 {
			bidder = t.GetBids()[r.IntN(len(t.GetBids()))].GetBidderId()
		}
		dept := t.GetBuyerDepartmentId()
		if dept == "" || r.IntN(6) == 0 {
			dept = pick(g.f.Depts)
		}
		return tg.sign(pick([]string{dept + ".issuer", dept + ".admin"}), awardTender(tn, bidder, ctr))
	}
}

// tenderInvariants checks, after every block of the randomized test, that
// a bid lands only before its deadline and by a company, a reveal only in
// its window and opening its commitment, an award only after the reveal
// deadline, to the published rule's winner, with its contract at the
// winning price, and that a decided tender never changes again.
type tenderInvariants struct {
	steps   map[string]int
	decided map[string]*pb.Tender
}

func newTenderInvariants() *tenderInvariants {
	return &tenderInvariants{steps: map[string]int{}, decided: map[string]*pb.Tender{}}
}

func (ti *tenderInvariants) check(t *testing.T, after, before *exectest.Store, hdr *pb.Header, txs [][]byte, res *exec.BlockResult) {
	t.Helper()
	now := hdr.GetTimeUnixMs() / 1000
	for i, tx := range txs {
		if res.Results[i].GetCode() != codeOK {
			continue
		}
		_, body, err := exec.DecodeTx(tx)
		if err != nil {
			t.Fatal(err)
		}
		var id string
		switch a := body.GetAction().(type) {
		case *pb.TxBody_PublishTender:
			id = a.PublishTender.GetTenderId()
		case *pb.TxBody_SubmitBid:
			id = a.SubmitBid.GetTenderId()
		case *pb.TxBody_RevealBid:
			id = a.RevealBid.GetTenderId()
		case *pb.TxBody_AwardTender:
			id = a.AwardTender.GetTenderId()
		default:
			continue
		}
		ti.steps[strings.TrimPrefix(fmt.Sprintf("%T", body.GetAction()), "*govnodev1.TxBody_")]++
		tn, err := exec.Tender(after, id)
		if err != nil {
			t.Fatalf("height %d: tender %s: %v", hdr.GetHeight(), id, err)
		}
		switch a := body.GetAction().(type) {
		case *pb.TxBody_SubmitBid:
			if now >= tn.GetBidDeadline() {
				t.Fatalf("height %d: bid in tender %s at %d, bids closed at %d", hdr.GetHeight(), id, now, tn.GetBidDeadline())
			}
			if idn, err := exec.Identity(after, body.GetSigner()); err != nil || idn.GetKind() != company {
				t.Fatalf("height %d: %s bid, not a company", hdr.GetHeight(), body.GetSigner())
			}
		case *pb.TxBody_RevealBid:
			if now < tn.GetBidDeadline() || now >= tn.GetRevealDeadline() {
				t.Fatalf("height %d: reveal in tender %s at %d, outside [%d, %d)", hdr.GetHeight(), id, now, tn.GetBidDeadline(), tn.GetRevealDeadline())
			}
			r := a.RevealBid
			c := crypto.Ed25519SHA256.BidCommitment(id, body.GetSigner(), r.GetSalt(), r.GetPrice(), exec.BidFieldsBytes(r.GetFields()))
			if !slices.ContainsFunc(tn.GetBids(), func(b *pb.Bid) bool {
				return b.GetBidderId() == body.GetSigner() && b.GetRevealed() && bytes.Equal(b.GetCommitment(), c)
			}) {
				t.Fatalf("height %d: reveal of %s in tender %s does not open its commitment", hdr.GetHeight(), body.GetSigner(), id)
			}
		case *pb.TxBody_AwardTender:
			old, err := exec.Tender(before, id)
			if err != nil {
				t.Fatal(err)
			}
			w, ok := exec.TenderWinner(old)
			if !ok || w.GetBidderId() != a.AwardTender.GetBidderId() || now < tn.GetRevealDeadline() || tn.GetStatus() != pb.TenderStatus_TENDER_STATUS_AWARDED {
				t.Fatalf("height %d: tender %s awarded to %s at %d; winner %v, reveal deadline %d", hdr.GetHeight(), id, a.AwardTender.GetBidderId(), now, w, tn.GetRevealDeadline())
			}
			c, err := exec.Contract(after, a.AwardTender.GetContractId())
			if err != nil || c.GetTenderId() != id || c.GetAmount() != w.GetPrice() || c.GetParties()[1].GetIdentityId() != w.GetBidderId() {
				t.Fatalf("height %d: contract of tender %s: %v (%v)", hdr.GetHeight(), id, c, err)
			}
			ti.decided[id] = tn
		}
	}
	for id, tn := range ti.decided {
		if now, err := exec.Tender(after, id); err != nil || !proto.Equal(now, tn) {
			t.Fatalf("height %d: decided tender %s changed: %v", hdr.GetHeight(), id, now)
		}
	}
}

// done fails the test if the mix did not reach every tender action.
func (ti *tenderInvariants) done(t *testing.T) {
	t.Helper()
	t.Logf("tender steps %v", ti.steps)
	for _, k := range []string{"PublishTender", "SubmitBid", "RevealBid", "AwardTender"} {
		if ti.steps[k] == 0 {
			t.Fatalf("no successful %s", k)
		}
	}
}

// TestTenderAdmission: a reveal is checked against the committed bid at
// admission only when nothing earlier of its bidder is pending (a pending
// bid may replace the commitment); bids and reveals do not make the
// mempool recheck, publications and awards do.
func TestTenderAdmission(t *testing.T) {
	e := newTenderEnv(t)
	e.ok("d0.issuer", publishTender("t1", 100_000_00, exec.ScoringLowestPrice))
	old := bidTerms{"co0", 90_000_00, nil}
	e.ok("co0", old.bid("t1"))
	e.blockAt(bidDL * 1000)
	other := old
	other.price = 80_000_00
	// Next nonce: judged against the committed bid.
	if r := e.checkCopy(e.c.Store, "co0", other.reveal("t1")); r.Code != codeInvalid || !strings.Contains(r.Reason, "reveal does not match its commitment") {
		t.Fatalf("CheckTx %v %s", r.Code, r.Reason)
	}
	// A later nonce: an earlier tx of co0 is pending, left to the block.
	s := e.s("co0")
	b := other.reveal("t1")
	b.Nonce = s.Nonce + 2
	res, err := e.c.Exec.CheckTx(e.c.Store, s.Tx(b))
	if err != nil || !res.OK() {
		t.Fatalf("CheckTx %v %v", res, err)
	}
	for body, want := range map[*pb.TxBody]bool{
		publishTender("t2", 1, exec.ScoringLowestPrice): true,
		old.bid("t1"):                  false,
		old.reveal("t1"):               false,
		awardTender("t1", "co0", "c1"): true,
	} {
		if got := exec.AffectsAdmission(body); got != want {
			t.Errorf("AffectsAdmission(%T) = %v", body.GetAction(), got)
		}
	}
}
