package exec

import (
	"bytes"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Tender rules (ARCHITECTURE.md §5 "Tenders"): a sealed-bid call for
// bids whose award is checked against the rule published with it.
//   - PublishTender: by an active official (ROLE_ISSUER or ROLE_ADMIN) of a
//     member department, the buyer department; budget > 0 and at most the
//     buyer's budget balance at publish (funds move only at award);
//     bid_deadline after the block time, reveal_deadline after
//     bid_deadline; the template exists and is a money template whose only
//     roles are its buyer and supplier roles; scoring is ScoringLowestPrice
//     or a CEL int expression over `price` and `fields` compiled under the
//     cost limit; contract_fields are the template's, without its
//     amount_field (the price fills it), and give every deadline.
//   - SubmitBid: by an active company, while block time < bid_deadline, a
//     32-byte commitment (crypto.BidCommitment); one bid per company: a
//     later one replaces it and goes to the end of the list, so the list is
//     in bid order; at most MaxBidsPerTender bidders.
//   - RevealBid: by the bidder, while bid_deadline <= block time <
//     reveal_deadline, once; crypto.BidCommitment(tender, bidder, salt,
//     price, BidFieldsBytes(fields)) must equal the commitment. The terms
//     go into the bid, readable by all; a price over the budget, or a
//     score the rule cannot compute, makes the bid void (void_reason).
//   - AwardTender: by an official (ROLE_ISSUER or ROLE_ADMIN) of the buyer
//     department, block time >= reveal_deadline, to TenderWinner: the
//     highest score among revealed, non-void bids, ties to the earliest
//     bid; unrevealed bids are void. It creates the contract, active
//     (signed by the awarding official as buyer and the winner as
//     supplier: the bid is the supplier's signature), its amount_field the
//     price, its escrow funded from the buyer's budget (fundEscrow), its
//     deadlines scheduled; the tender becomes AWARDED.
//
// Times are block times in unix seconds, like every time of the schema.

// ScoringLowestPrice is the scoring rule under which the lowest valid
// price wins (score = -price).
const ScoringLowestPrice = "lowest_price"

const (
	// MaxBidsPerTender bounds the bidders of one tender.
	MaxBidsPerTender = 256
	// MaxRequirementsBytes bounds a tender's requirements text.
	MaxRequirementsBytes = 4096
	// MaxBidFieldsBytes bounds a revealed bid's fields (BidFieldsBytes),
	// so a tender with every bid revealed stays a small state object.
	MaxBidFieldsBytes = 4096
)

// BidFieldsBytes is the encoding of a bid's fields that its commitment
// covers (crypto.BidCommitment's fields argument): the deterministic
// protobuf encoding of a RevealBid holding only those fields. Bidders
// compute their commitment with it; RevealBid is checked with it. It is
// nil for fields that cannot be encoded (a string value that is not valid
// UTF-8, which no decoded transaction holds).
func BidFieldsBytes(fields []*pb.ContractField) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.RevealBid{Fields: fields})
	if err != nil {
		return nil
	}
	return b
}

// TenderWinner is the published rule's winner of t: the revealed bid
// without a void_reason with the highest score, ties to the earliest bid
// (the bids are kept in bid order). false if no bid is valid.
func TenderWinner(t *pb.Tender) (*pb.Bid, bool) {
	var best *pb.Bid
	for _, b := range t.GetBids() {
		if !b.GetRevealed() || b.GetVoidReason() != "" {
			continue
		}
		if best == nil || b.GetScore() > best.GetScore() {
			best = b
		}
	}
	return best, best != nil
}

// validateBody is validateAction with the tender actions.
func (e *Executor) validateBody(body *pb.TxBody) error {
	switch body.GetAction().(type) {
	case *pb.TxBody_PublishTender, *pb.TxBody_SubmitBid, *pb.TxBody_RevealBid, *pb.TxBody_AwardTender:
		return e.validateTenderAction(body)
	}
	return e.validateAction(body)
}

// validateTenderAction is the stateless check of a tender action's
// arguments (the scoring expression compiled).
func (e *Executor) validateTenderAction(body *pb.TxBody) error {
	switch a := body.GetAction().(type) {
	case *pb.TxBody_PublishTender:
		p := a.PublishTender
		if err := checkID("tender id", p.GetTenderId()); err != nil {
			return err
		}
		if err := checkName("title", p.GetTitle()); err != nil {
			return err
		}
		if err := checkText("requirements", p.GetRequirements(), MaxRequirementsBytes, false); err != nil {
			return err
		}
		if p.GetBudget() <= 0 {
			return invalid("budget %d: a tender's budget is a positive amount of minor units", p.GetBudget())
		}
		if p.GetBidDeadline() <= 0 {
			return invalid("bid deadline %d: a time in unix seconds is required", p.GetBidDeadline())
		}
		if p.GetRevealDeadline() <= p.GetBidDeadline() {
			return invalid("reveal deadline %d is not after the bid deadline %d", p.GetRevealDeadline(), p.GetBidDeadline())
		}
		if err := e.checkScoring(p.GetScoring()); err != nil {
			return err
		}
		if err := checkID("template id", p.GetTemplateId()); err != nil {
			return err
		}
		return checkFields("contract field", p.GetContractFields())
	case *pb.TxBody_SubmitBid:
		if err := checkID("tender id", a.SubmitBid.GetTenderId()); err != nil {
			return err
		}
		return checkHash("commitment", a.SubmitBid.GetCommitment())
	case *pb.TxBody_RevealBid:
		r := a.RevealBid
		if err := checkID("tender id", r.GetTenderId()); err != nil {
			return err
		}
		if r.GetPrice() <= 0 {
			return invalid("price %d: a bid's price is a positive amount of minor units", r.GetPrice())
		}
		if len(r.GetSalt()) != crypto.PayloadSaltSize {
			return invalid("salt is %d bytes, want %d", len(r.GetSalt()), crypto.PayloadSaltSize)
		}
		if err := checkFields("bid field", r.GetFields()); err != nil {
			return err
		}
		if n := len(BidFieldsBytes(r.GetFields())); n > MaxBidFieldsBytes {
			return fail(pb.ResultCode_RESULT_CODE_TOO_LARGE, "bid fields are %d bytes, limit %d", n, MaxBidFieldsBytes)
		}
		return nil
	case *pb.TxBody_AwardTender:
		w := a.AwardTender
		if err := checkID("tender id", w.GetTenderId()); err != nil {
			return err
		}
		if err := checkID("bidder id", w.GetBidderId()); err != nil {
			return err
		}
		return checkID("contract id", w.GetContractId())
	}
	return nil
}

// checkScoring checks a tender's scoring rule: ScoringLowestPrice, or a
// CEL int expression over price and fields within the cost limit.
func (e *Executor) checkScoring(s string) error {
	if s == "" {
		return invalid("scoring is required: %q or a CEL int expression over price and fields", ScoringLowestPrice)
	}
	if s == ScoringLowestPrice {
		return nil
	}
	if err := e.cel.compileScore(s); err != nil {
		return invalid("scoring %q: %v", s, err)
	}
	return nil
}

// score is a revealed price's score under t's rule.
func (e *Executor) score(t *pb.Tender, price int64, fields []*pb.ContractField) (int64, error) {
	if t.GetScoring() == ScoringLowestPrice {
		return -price, nil
	}
	return e.cel.evalScore(t.GetScoring(), price, fieldMap(fields))
}

func (tc *txCtx) tenderEvent(t *pb.Tender, action, bidder, contract string, price int64) {
	tc.emit(&pb.Event{Kind: &pb.Event_Tender{Tender: &pb.TenderEvent{
		TenderId: t.GetId(), Action: action, BidderId: bidder, ContractId: contract, Price: price,
	}}})
}

func loadTender(st *overlay, id string) (*pb.Tender, error) {
	t := &pb.Tender{}
	ok, err := st.getMsg(kTender(id), t)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound("tender %s not found", id)
	}
	return t, nil
}

// openTender loads a tender that is still open.
func openTender(st *overlay, id string) (*pb.Tender, error) {
	t, err := loadTender(st, id)
	if err != nil {
		return nil, err
	}
	if t.GetStatus() != pb.TenderStatus_TENDER_STATUS_OPEN {
		return nil, conflict("tender %s is %s", id, tenderStatusName(t.GetStatus()))
	}
	return t, nil
}

func tenderStatusName(s pb.TenderStatus) string {
	switch s {
	case pb.TenderStatus_TENDER_STATUS_OPEN:
		return "open"
	case pb.TenderStatus_TENDER_STATUS_AWARDED:
		return "awarded"
	default:
		return "in no valid status"
	}
}

// tenderTemplate checks that template t can make a tender's contract: a
// money template whose only roles are its buyer and supplier roles, and
// fields that are its own, without its amount_field.
func tenderTemplate(t *pb.ContractTemplate, fields []*pb.ContractField) error {
	if t.GetAmountField() == "" || t.GetBuyerRole() == "" || t.GetSupplierRole() == "" {
		return invalid("template %s has no amount_field, buyer_role and supplier_role: a tender needs a money template", t.GetId())
	}
	if len(t.GetRoles()) != 2 || t.GetBuyerRole() == t.GetSupplierRole() {
		return invalid("template %s has roles %v: a tender's contract has only the buyer (%s) and the supplier (%s)", t.GetId(), t.GetRoles(), t.GetBuyerRole(), t.GetSupplierRole())
	}
	for _, f := range fields {
		if f.GetName() == t.GetAmountField() {
			return invalid("contract field %s is the template's amount_field: the winning price sets it", f.GetName())
		}
		if !slices.Contains(t.GetFieldNames(), f.GetName()) {
			return invalid("template %s has no field %s", t.GetId(), f.GetName())
		}
	}
	return nil
}

// tenderContractFields are the fields of the contract awarded at price.
func tenderContractFields(tn *pb.Tender, t *pb.ContractTemplate, price int64) []*pb.ContractField {
	fs := make([]*pb.ContractField, 0, len(tn.GetContractFields())+1)
	fs = append(fs, tn.GetContractFields()...)
	return append(fs, &pb.ContractField{Name: t.GetAmountField(), Value: &pb.ContractField_IntValue{IntValue: price}})
}

func (tc *txCtx) publishTender(a *pb.PublishTender) error {
	dept, err := requireOfficial(tc.st, tc.signer, pb.Role_ROLE_ISSUER, pb.Role_ROLE_ADMIN)
	if err != nil {
		return err
	}
	if ok, err := tc.st.has(kTender(a.GetTenderId())); err != nil {
		return err
	} else if ok {
		return exists("tender %s already exists", a.GetTenderId())
	}
	if now := tc.nowSec(); a.GetBidDeadline() <= now {
		return invalid("bid deadline %d is not after the block time %d", a.GetBidDeadline(), now)
	}
	t, err := tc.loadTemplate(a.GetTemplateId())
	if err != nil {
		return err
	}
	if err := tenderTemplate(t, a.GetContractFields()); err != nil {
		return err
	}
	tn := &pb.Tender{
		Id: a.GetTenderId(), BuyerDepartmentId: dept.GetId(), BuyerId: tc.actor(), Title: a.GetTitle(),
		Requirements: a.GetRequirements(), Budget: a.GetBudget(), BidDeadline: a.GetBidDeadline(),
		RevealDeadline: a.GetRevealDeadline(), Scoring: a.GetScoring(), TemplateId: t.GetId(),
		ContractFields: a.GetContractFields(), Status: pb.TenderStatus_TENDER_STATUS_OPEN, PublishedHeight: tc.b.height,
	}
	// Every deadline of the contract must be computable from the fields,
	// so an award cannot get stuck (the budget stands in for the price).
	probe := &pb.Contract{Fields: tenderContractFields(tn, t, a.GetBudget())}
	for _, d := range t.GetDeadlines() {
		if _, err := tc.e.cel.evalInt(d.GetAt(), celVars(probe, nil, tc.nowSec())); err != nil {
			return invalid("contract fields do not give the deadline of state %s: %v", d.GetState(), err)
		}
	}
	b, err := tc.loadBudget(dept.GetId())
	if err != nil {
		return err
	}
	if a.GetBudget() > b.GetBalance() {
		return conflict("tender budget %d exceeds department %s's budget balance %d", a.GetBudget(), dept.GetId(), b.GetBalance())
	}
	tc.tenderEvent(tn, "published", "", "", tn.GetBudget())
	return tc.st.putMsg(kTender(tn.GetId()), tn)
}

// checkBidder refuses a bid by anyone but a company (an identity's kind
// never changes, so CheckTx decides it too).
func checkBidder(signer *pb.Identity) error {
	if signer.GetKind() != pb.IdentityKind_IDENTITY_KIND_COMPANY {
		return unauthorized("%s is not a company: only registered companies bid", signer.GetId())
	}
	return nil
}

func (tc *txCtx) submitBid(a *pb.SubmitBid) error {
	if err := checkBidder(tc.signer); err != nil {
		return err
	}
	tn, err := openTender(tc.st, a.GetTenderId())
	if err != nil {
		return err
	}
	if now := tc.nowSec(); now >= tn.GetBidDeadline() {
		return conflict("tender %s: bids closed at %d (block time %d)", tn.GetId(), tn.GetBidDeadline(), now)
	}
	i := slices.IndexFunc(tn.GetBids(), func(b *pb.Bid) bool { return b.GetBidderId() == tc.actor() })
	if i >= 0 {
		tn.Bids = slices.Delete(tn.Bids, i, i+1)
	} else if len(tn.GetBids()) >= MaxBidsPerTender {
		return conflict("tender %s has %d bidders, limit %d", tn.GetId(), len(tn.GetBids()), MaxBidsPerTender)
	}
	tn.Bids = append(tn.Bids, &pb.Bid{BidderId: tc.actor(), Commitment: a.GetCommitment(), Height: tc.b.height})
	tc.tenderEvent(tn, "bid", tc.actor(), "", 0)
	return tc.st.putMsg(kTender(tn.GetId()), tn)
}

// checkReveal checks a reveal against the bidder's bid: one not revealed,
// whose commitment the reveal opens.
func checkReveal(suite crypto.Suite, tn *pb.Tender, bidder string, a *pb.RevealBid) (*pb.Bid, error) {
	i := slices.IndexFunc(tn.GetBids(), func(b *pb.Bid) bool { return b.GetBidderId() == bidder })
	if i < 0 {
		return nil, notFound("tender %s has no bid by %s", tn.GetId(), bidder)
	}
	bid := tn.GetBids()[i]
	if bid.GetRevealed() {
		return nil, conflict("%s's bid in tender %s is already revealed", bidder, tn.GetId())
	}
	c := suite.BidCommitment(tn.GetId(), bidder, a.GetSalt(), a.GetPrice(), BidFieldsBytes(a.GetFields()))
	if !bytes.Equal(c, bid.GetCommitment()) {
		return nil, invalid("reveal does not match its commitment: %s's bid in tender %s committed to other terms (price, fields or salt)", bidder, tn.GetId())
	}
	return bid, nil
}

func (tc *txCtx) revealBid(a *pb.RevealBid) error {
	tn, err := openTender(tc.st, a.GetTenderId())
	if err != nil {
		return err
	}
	now := tc.nowSec()
	if now < tn.GetBidDeadline() {
		return conflict("tender %s: bids are sealed until %d (block time %d); reveal from then until %d", tn.GetId(), tn.GetBidDeadline(), now, tn.GetRevealDeadline())
	}
	if now >= tn.GetRevealDeadline() {
		return conflict("tender %s: reveals closed at %d (block time %d)", tn.GetId(), tn.GetRevealDeadline(), now)
	}
	bid, err := checkReveal(tc.e.cfg.Suite, tn, tc.actor(), a)
	if err != nil {
		return err
	}
	bid.Revealed, bid.Price, bid.Fields, bid.Salt = true, a.GetPrice(), a.GetFields(), a.GetSalt()
	if bid.GetPrice() > tn.GetBudget() {
		bid.VoidReason = "price exceeds the tender's budget"
	} else if s, err := tc.e.score(tn, bid.GetPrice(), bid.GetFields()); err != nil {
		// Deterministic (CEL errors and cost are the same on every
		// node): the terms stay readable, the bid does not count.
		bid.VoidReason = "scoring failed: " + err.Error()
		if len(bid.VoidReason) > MaxTextBytes {
			bid.VoidReason = strings.ToValidUTF8(bid.VoidReason[:MaxTextBytes], "")
		}
	} else {
		bid.Score = s
	}
	tc.tenderEvent(tn, "revealed", tc.actor(), "", bid.GetPrice())
	return tc.st.putMsg(kTender(tn.GetId()), tn)
}

// checkAwarder refuses an award signed by anyone but an official of the
// tender's buyer department (requireOfficial checked the role).
func checkAwarder(tn *pb.Tender, signer *pb.Identity) error {
	if signer.GetDepartmentId() != tn.GetBuyerDepartmentId() {
		return unauthorized("%s (department %s) is not an official of tender %s's buyer department %s", signer.GetId(), signer.GetDepartmentId(), tn.GetId(), tn.GetBuyerDepartmentId())
	}
	return nil
}

// voidInactiveBidders voids, in tn (the caller stores it with the award),
// the counting bids of bidders no longer active (suspended or revoked
// since they revealed): the award goes to the best bid of an active
// company, so one bidder's suspension cannot leave a tender impossible to
// award. It depends only on committed state, so every node agrees.
func voidInactiveBidders(st *overlay, tn *pb.Tender) error {
	for _, b := range tn.GetBids() {
		if !b.GetRevealed() || b.GetVoidReason() != "" {
			continue
		}
		idn := &pb.Identity{}
		ok, err := st.getMsg(kIdentity(b.GetBidderId()), idn)
		if err != nil {
			return err
		}
		if !ok {
			b.VoidReason = "bidder no longer registered at award"
		} else if idn.GetStatus() != pb.IdentityStatus_IDENTITY_STATUS_ACTIVE {
			b.VoidReason = "bidder " + statusName(idn.GetStatus()) + " at award"
		}
	}
	return nil
}

// checkWinner refuses an award to anyone but TenderWinner.
func checkWinner(tn *pb.Tender, bidder string) (*pb.Bid, error) {
	w, ok := TenderWinner(tn)
	if !ok {
		return nil, conflict("tender %s has no valid bid: there is no winner to award", tn.GetId())
	}
	if w.GetBidderId() != bidder {
		return nil, conflict("award breaks the published rule: the winner is %s (tender %s, scoring %s)", w.GetBidderId(), tn.GetId(), tn.GetScoring())
	}
	return w, nil
}

func (tc *txCtx) awardTender(a *pb.AwardTender) error {
	if _, err := requireOfficial(tc.st, tc.signer, pb.Role_ROLE_ISSUER, pb.Role_ROLE_ADMIN); err != nil {
		return err
	}
	tn, err := openTender(tc.st, a.GetTenderId())
	if err != nil {
		return err
	}
	if err := checkAwarder(tn, tc.signer); err != nil {
		return err
	}
	if now := tc.nowSec(); now < tn.GetRevealDeadline() {
		return conflict("tender %s: reveals are open until %d (block time %d); award from then", tn.GetId(), tn.GetRevealDeadline(), now)
	}
	if err := voidInactiveBidders(tc.st, tn); err != nil {
		return err
	}
	w, err := checkWinner(tn, a.GetBidderId())
	if err != nil {
		return err
	}
	supplier, err := tc.loadIdentity(w.GetBidderId())
	if err != nil {
		return fmtInvariant("tender %s: bidder %s: %v", tn.GetId(), w.GetBidderId(), err)
	}
	if supplier.GetStatus() != pb.IdentityStatus_IDENTITY_STATUS_ACTIVE {
		return conflict("the winner %s is %s: tender %s cannot be awarded to it", supplier.GetId(), statusName(supplier.GetStatus()), tn.GetId())
	}
	if ok, err := tc.st.has(kContract(a.GetContractId())); err != nil {
		return err
	} else if ok {
		return exists("contract %s already exists", a.GetContractId())
	}
	t, err := tc.loadTemplate(tn.GetTemplateId())
	if err != nil {
		return err
	}
	if err := tenderTemplate(t, tn.GetContractFields()); err != nil {
		return err // the template was re-installed since the publication
	}
	var parties []*pb.ContractParty
	for _, r := range t.GetRoles() {
		id := tc.actor()
		if r == t.GetSupplierRole() {
			id = supplier.GetId()
		}
		parties = append(parties, &pb.ContractParty{Role: r, IdentityId: id})
	}
	c := &pb.Contract{
		Id: a.GetContractId(), TemplateId: t.GetId(), Title: tn.GetTitle(), Parties: parties,
		Fields: tenderContractFields(tn, t, w.GetPrice()), SignedBy: []string{tc.actor(), supplier.GetId()},
		CreatedHeight: tc.b.height, ActivatedAt: tc.b.timeMs, CreatorId: tc.actor(), TenderId: tn.GetId(),
	}
	for _, m := range t.GetMilestones() {
		c.Milestones = append(c.Milestones, &pb.MilestoneStatus{Id: m.GetId()})
	}
	// The bid was the supplier's signature and the award is the buyer's:
	// the contract starts active, with its escrow funded.
	if err := tc.moveTo(c, t, "award", t.GetActiveState(), "activated", "awarded by tender "+tn.GetId()); err != nil {
		return err
	}
	if err := tc.fundEscrow(c, t); err != nil {
		return err
	}
	if err := tc.st.putMsg(kContract(c.GetId()), c); err != nil {
		return err
	}
	for _, b := range tn.GetBids() {
		if !b.GetRevealed() {
			b.VoidReason = "not revealed"
		}
	}
	tn.Status, tn.AwardedBidderId, tn.ContractId, tn.DecidedHeight = pb.TenderStatus_TENDER_STATUS_AWARDED, supplier.GetId(), c.GetId(), tc.b.height
	tc.tenderEvent(tn, "awarded", supplier.GetId(), c.GetId(), w.GetPrice())
	return tc.st.putMsg(kTender(tn.GetId()), tn)
}

// precheckTender is CheckTx's check of a tender action against committed
// state, for what no pending transaction can change: a bid by anyone but a
// company; an action on a tender decided already; a bid, reveal or award
// on the wrong side of a deadline the last block's time has passed (when
// r knows it, TimeReader: block times never go back); the buyer
// department of an award; a reveal that does not open the committed bid
// when no earlier transaction of the bidder is pending (only the bidder
// can replace its bid); an award to anyone but the winner once reveals are
// closed. What depends on the block's own time or on objects still
// pending is left to ApplyBlock.
func precheckTender(suite crypto.Suite, st *overlay, r Reader, env *envelope) error {
	lastSec, timeKnown := int64(0), false
	if tr, ok := r.(TimeReader); ok {
		if ms, ok := tr.TimeUnixMs(); ok {
			lastSec, timeKnown = floorDiv(ms, 1000), true
		}
	}
	// tender returns the committed tender id names, nil if there is none
	// (it may be pending) or it is decided (then the error).
	tender := func(id string) (*pb.Tender, error) {
		tn, err := openTender(st, id)
		if te, ok := asTxError(err); ok && te.code == pb.ResultCode_RESULT_CODE_NOT_FOUND {
			return nil, nil
		}
		return tn, err
	}
	switch a := env.body.GetAction().(type) {
	case *pb.TxBody_PublishTender:
		if ok, err := st.has(kTender(a.PublishTender.GetTenderId())); err != nil {
			return err
		} else if ok {
			return exists("tender %s already exists", a.PublishTender.GetTenderId())
		}
		if timeKnown && a.PublishTender.GetBidDeadline() <= lastSec {
			return invalid("bid deadline %d is not after the last block's time %d", a.PublishTender.GetBidDeadline(), lastSec)
		}
	case *pb.TxBody_SubmitBid:
		if err := checkBidder(env.signer); err != nil {
			return err
		}
		tn, err := tender(a.SubmitBid.GetTenderId())
		if tn == nil || err != nil {
			return err
		}
		if timeKnown && lastSec >= tn.GetBidDeadline() {
			return conflict("tender %s: bids closed at %d (last block time %d)", tn.GetId(), tn.GetBidDeadline(), lastSec)
		}
	case *pb.TxBody_RevealBid:
		tn, err := tender(a.RevealBid.GetTenderId())
		if tn == nil || err != nil {
			return err
		}
		if timeKnown && lastSec >= tn.GetRevealDeadline() {
			return conflict("tender %s: reveals closed at %d (last block time %d)", tn.GetId(), tn.GetRevealDeadline(), lastSec)
		}
		if env.body.GetNonce() == env.next {
			_, err := checkReveal(suite, tn, env.signer.GetId(), a.RevealBid)
			return err
		}
	case *pb.TxBody_AwardTender:
		tn, err := tender(a.AwardTender.GetTenderId())
		if tn == nil || err != nil {
			return err
		}
		if err := checkAwarder(tn, env.signer); err != nil {
			return err
		}
		if timeKnown && lastSec >= tn.GetRevealDeadline() {
			if err := voidInactiveBidders(st, tn); err != nil {
				return err
			}
			_, err := checkWinner(tn, a.AwardTender.GetBidderId())
			return err
		}
	}
	return nil
}
