package exec

import (
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Contract rules (ARCHITECTURE.md §5, contracts):
//   - CreateContract: by one of the parties; every template role has
//     exactly one party, an active identity; fields are the template's.
//     The contract starts in draft_state, with every template milestone
//     pending.
//   - SignContract: by a party that has not signed, in draft_state; the
//     last signature moves the contract to active_state.
//   - SubmitMilestone / AcceptMilestone: by a party holding the milestone's
//     submitter / acceptor role, while the contract is in the milestone's
//     state; a milestone is accepted once, and may be resubmitted until then.
//   - FireTransition: by a party holding one of the transition's roles,
//     from one of its from-states, when its guard is true; its `set`
//     assignments are evaluated on the state before and then applied.
//   - A contract in a final state never moves.
//   - Deadlines: entering a state schedules each of the template's deadlines
//     for that state at the time its `at` expression gives; at the first
//     block whose time is past it (block ms > at*1000), if the contract has
//     not moved since, the transition fires automatically (roles ignored,
//     guard still required). history holds one entry per state change, and
//     its length is the "generation" a deadline entry was scheduled in.
//   - Money (a template with amount_field): escrow at activation, milestone
//     payments, deadline penalties and the refund at a final state are
//     money.go's.

func validateContractAction(body *pb.TxBody) error {
	switch a := body.GetAction().(type) {
	case *pb.TxBody_CreateContract:
		c := a.CreateContract
		if err := checkID("contract id", c.GetContractId()); err != nil {
			return err
		}
		if err := checkID("template id", c.GetTemplateId()); err != nil {
			return err
		}
		if err := checkName("title", c.GetTitle()); err != nil {
			return err
		}
		if len(c.GetParties()) == 0 {
			return invalid("a contract needs parties")
		}
		if err := checkListLen("parties", len(c.GetParties())); err != nil {
			return err
		}
		for _, p := range c.GetParties() {
			if err := checkID("party role", p.GetRole()); err != nil {
				return err
			}
			if err := checkID("party identity", p.GetIdentityId()); err != nil {
				return err
			}
		}
		return checkFields("field", c.GetFields())
	case *pb.TxBody_SignContract:
		return checkID("contract id", a.SignContract.GetContractId())
	case *pb.TxBody_SubmitMilestone:
		m := a.SubmitMilestone
		if err := checkID("contract id", m.GetContractId()); err != nil {
			return err
		}
		if err := checkID("milestone id", m.GetMilestoneId()); err != nil {
			return err
		}
		if err := checkHash("evidence_hash", m.GetEvidenceHash()); err != nil {
			return err
		}
		return checkText("note", m.GetNote(), MaxTextBytes, false)
	case *pb.TxBody_AcceptMilestone:
		m := a.AcceptMilestone
		if err := checkID("contract id", m.GetContractId()); err != nil {
			return err
		}
		if err := checkID("milestone id", m.GetMilestoneId()); err != nil {
			return err
		}
		return checkText("note", m.GetNote(), MaxTextBytes, false)
	case *pb.TxBody_FireTransition:
		f := a.FireTransition
		if err := checkID("contract id", f.GetContractId()); err != nil {
			return err
		}
		if err := checkID("transition", f.GetTransition()); err != nil {
			return err
		}
		if err := checkFields("arg", f.GetArgs()); err != nil {
			return err
		}
		return checkText("note", f.GetNote(), MaxTextBytes, false)
	}
	return nil
}

// validateTemplate checks a template at install (genesis or governance):
// its id and name, the ids and list lengths of its parts, the structure of
// its state machine (TemplateProblems, the check genesis validation also
// reports), and that every expression compiles. A template that fails is
// refused.
func (c *celEngine) validateTemplate(t *pb.ContractTemplate) error {
	if t == nil {
		return invalid("template missing")
	}
	if err := checkID("template id", t.GetId()); err != nil {
		return err
	}
	if err := checkName("template name", t.GetName()); err != nil {
		return err
	}
	for _, l := range []struct {
		what string
		ids  []string
	}{{"role", t.GetRoles()}, {"field name", t.GetFieldNames()}, {"final state", t.GetFinalStates()}} {
		if err := checkIDList(l.what, l.ids); err != nil {
			return err
		}
	}
	if err := checkID("draft state", t.GetDraftState()); err != nil {
		return err
	}
	if err := checkID("active state", t.GetActiveState()); err != nil {
		return err
	}
	for _, m := range []struct{ what, id string }{
		{"amount field", t.GetAmountField()}, {"buyer role", t.GetBuyerRole()}, {"supplier role", t.GetSupplierRole()},
	} {
		if m.id != "" {
			if err := checkID(m.what, m.id); err != nil {
				return err
			}
		}
	}
	for _, n := range []int{len(t.GetTransitions()), len(t.GetDeadlines()), len(t.GetMilestones())} {
		if err := checkListLen("template entries", n); err != nil {
			return err
		}
	}
	for _, tr := range t.GetTransitions() {
		if err := checkID("transition name", tr.GetName()); err != nil {
			return err
		}
		if err := checkIDList("from-state", tr.GetFrom()); err != nil {
			return err
		}
		if err := checkID("to-state", tr.GetTo()); err != nil {
			return err
		}
		if err := checkIDList("transition role", tr.GetRoles()); err != nil {
			return err
		}
		if err := checkListLen("assignments", len(tr.GetSet())); err != nil {
			return err
		}
	}
	for _, m := range t.GetMilestones() {
		if err := checkID("milestone id", m.GetId()); err != nil {
			return err
		}
		if err := checkText("milestone description", m.GetDescription(), MaxTextBytes, false); err != nil {
			return err
		}
	}
	if ps := TemplateProblems(t); len(ps) > 0 {
		return invalid("template %s: %s: %s", t.GetId(), ps[0].Field, ps[0].Reason)
	}
	// Every expression under the cost budget (cel.go).
	return c.compileTemplateExprs(t)
}

func findTransition(t *pb.ContractTemplate, name string) *pb.Transition {
	for _, tr := range t.GetTransitions() {
		if tr.GetName() == name {
			return tr
		}
	}
	return nil
}

func fieldValue(f *pb.ContractField) any {
	switch v := f.GetValue().(type) {
	case *pb.ContractField_StringValue:
		return v.StringValue
	case *pb.ContractField_IntValue:
		return v.IntValue
	case *pb.ContractField_BoolValue:
		return v.BoolValue
	case *pb.ContractField_BytesValue:
		return v.BytesValue
	}
	return nil
}

func fieldMap(fs []*pb.ContractField) map[string]any {
	m := make(map[string]any, len(fs))
	for _, f := range fs {
		m[f.GetName()] = fieldValue(f)
	}
	return m
}

// celVars is the activation of a contract's expressions.
func celVars(c *pb.Contract, args []*pb.ContractField, nowSec int64) map[string]any {
	ms := make(map[string]any, len(c.GetMilestones()))
	for _, m := range c.GetMilestones() {
		ms[m.GetId()] = map[string]bool{"submitted": m.GetSubmitted(), "accepted": m.GetAccepted()}
	}
	return map[string]any{
		"fields": fieldMap(c.GetFields()), "args": fieldMap(args), "milestones": ms, "now": nowSec, "state": c.GetState(),
	}
}

func (tc *txCtx) loadTemplate(id string) (*pb.ContractTemplate, error) {
	t := &pb.ContractTemplate{}
	ok, err := tc.st.getMsg(kTemplate(id), t)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound("contract template %s not found", id)
	}
	return t, nil
}

func (tc *txCtx) loadContract(id string) (*pb.Contract, *pb.ContractTemplate, error) {
	c := &pb.Contract{}
	ok, err := tc.st.getMsg(kContract(id), c)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, notFound("contract %s not found", id)
	}
	t, err := tc.loadTemplate(c.GetTemplateId())
	if err != nil {
		return nil, nil, fmtInvariant("contract %s: %v", id, err)
	}
	return c, t, nil
}

func (tc *txCtx) contractEvent(c *pb.Contract, action, from, to, transition, milestone string) {
	tc.emit(&pb.Event{Kind: &pb.Event_Contract{Contract: &pb.ContractEvent{
		ContractId: c.GetId(), TemplateId: c.GetTemplateId(), Action: action, FromState: from, ToState: to,
		Transition: transition, ActorId: tc.actor(), MilestoneId: milestone,
	}}})
}

// partyRoles returns the template roles id holds in c.
func partyRoles(c *pb.Contract, id string) []string {
	var rs []string
	for _, p := range c.GetParties() {
		if p.GetIdentityId() == id {
			rs = append(rs, p.GetRole())
		}
	}
	return rs
}

func isFinal(t *pb.ContractTemplate, state string) bool {
	return slices.Contains(t.GetFinalStates(), state)
}

// moveTo changes the contract's state, records history, emits the event
// and schedules the new state's deadlines.
func (tc *txCtx) moveTo(c *pb.Contract, t *pb.ContractTemplate, transition, to, action, note string) error {
	from := c.GetState()
	c.State = to
	c.History = append(c.History, &pb.ContractHistoryEntry{
		Transition: transition, From: from, To: to, ActorId: tc.actor(), Height: tc.b.height,
		TimeUnixMs: tc.b.timeMs, Note: note, TxHash: tc.txHash,
	})
	tc.contractEvent(c, action, from, to, transition, "")
	// A final state refunds what the escrow holds (money.go).
	if isFinal(t, to) {
		if err := tc.refundEscrow(c, "final state "+to); err != nil {
			return err
		}
	}
	return tc.scheduleDeadlines(c, t)
}

func (tc *txCtx) scheduleDeadlines(c *pb.Contract, t *pb.ContractTemplate) error {
	if isFinal(t, c.GetState()) {
		return nil
	}
	gen := uint64(len(c.GetHistory()))
	for i, d := range t.GetDeadlines() {
		if d.GetState() != c.GetState() {
			continue
		}
		at, err := tc.e.cel.evalInt(d.GetAt(), celVars(c, nil, tc.nowSec()))
		if err != nil {
			return invalid("deadline of state %s: %v", d.GetState(), err)
		}
		if at < 0 {
			at = 0
		}
		v := &pb.Deadline{State: d.GetState(), At: strconv.FormatInt(at, 10), Transition: d.GetTransition()}
		if err := tc.st.putMsg(kDeadline(uint64(at), c.GetId(), gen, i), v); err != nil {
			return err
		}
	}
	return nil
}

func (tc *txCtx) createContract(a *pb.CreateContract) error {
	t, err := tc.loadTemplate(a.GetTemplateId())
	if err != nil {
		return err
	}
	if ok, err := tc.st.has(kContract(a.GetContractId())); err != nil {
		return err
	} else if ok {
		return exists("contract %s already exists", a.GetContractId())
	}
	var roles []string
	isParty := false
	for _, p := range a.GetParties() {
		if !slices.Contains(t.GetRoles(), p.GetRole()) {
			return invalid("template %s has no role %s", t.GetId(), p.GetRole())
		}
		if slices.Contains(roles, p.GetRole()) {
			return invalid("role %s given twice", p.GetRole())
		}
		roles = append(roles, p.GetRole())
		idn, err := tc.loadIdentity(p.GetIdentityId())
		if err != nil {
			return err
		}
		if idn.GetStatus() != pb.IdentityStatus_IDENTITY_STATUS_ACTIVE {
			return conflict("party %s is %s", idn.GetId(), statusName(idn.GetStatus()))
		}
		isParty = isParty || p.GetIdentityId() == tc.actor()
	}
	for _, r := range t.GetRoles() {
		if !slices.Contains(roles, r) {
			return invalid("no party for role %s", r)
		}
	}
	if !isParty {
		return unauthorized("%s is not a party of the contract it creates", tc.actor())
	}
	for _, f := range a.GetFields() {
		if !slices.Contains(t.GetFieldNames(), f.GetName()) {
			return invalid("template %s has no field %s", t.GetId(), f.GetName())
		}
	}
	c := &pb.Contract{
		Id: a.GetContractId(), TemplateId: t.GetId(), Title: a.GetTitle(), Parties: a.GetParties(), Fields: a.GetFields(),
		CreatedHeight: tc.b.height, CreatorId: tc.actor(),
	}
	for _, m := range t.GetMilestones() {
		c.Milestones = append(c.Milestones, &pb.MilestoneStatus{Id: m.GetId()})
	}
	// Every deadline must be computable from the fields given, so a
	// contract cannot get stuck at activation.
	for _, d := range t.GetDeadlines() {
		if _, err := tc.e.cel.evalInt(d.GetAt(), celVars(c, nil, tc.nowSec())); err != nil {
			return invalid("fields do not give deadline of state %s: %v", d.GetState(), err)
		}
	}
	// A money contract's terms are checked now, and again when its escrow
	// is funded (money.go).
	if isMoneyTemplate(t) {
		if _, err := tc.moneyTerms(c, t); err != nil {
			return err
		}
	}
	if err := tc.moveTo(c, t, "create", t.GetDraftState(), "created", ""); err != nil {
		return err
	}
	return tc.st.putMsg(kContract(c.GetId()), c)
}

func (tc *txCtx) signContract(a *pb.SignContract) error {
	c, t, err := tc.loadContract(a.GetContractId())
	if err != nil {
		return err
	}
	if len(partyRoles(c, tc.actor())) == 0 {
		return unauthorized("%s is not a party of contract %s", tc.actor(), c.GetId())
	}
	if c.GetState() != t.GetDraftState() {
		return conflict("contract %s is %s, not %s; it can no longer be signed", c.GetId(), c.GetState(), t.GetDraftState())
	}
	if slices.Contains(c.GetSignedBy(), tc.actor()) {
		return conflict("%s has already signed contract %s", tc.actor(), c.GetId())
	}
	c.SignedBy = append(c.SignedBy, tc.actor())
	tc.contractEvent(c, "signed", c.GetState(), c.GetState(), "", "")
	all := true
	for _, p := range c.GetParties() {
		all = all && slices.Contains(c.GetSignedBy(), p.GetIdentityId())
	}
	if all {
		c.ActivatedAt = tc.b.timeMs
		if err := tc.moveTo(c, t, "activate", t.GetActiveState(), "activated", ""); err != nil {
			return err
		}
		// A money contract's escrow is funded from the buyer's budget as
		// it becomes active (money.go).
		if err := tc.fundEscrow(c, t); err != nil {
			return err
		}
	}
	return tc.st.putMsg(kContract(c.GetId()), c)
}

func milestoneSpec(t *pb.ContractTemplate, id string) *pb.MilestoneSpec {
	for _, m := range t.GetMilestones() {
		if m.GetId() == id {
			return m
		}
	}
	return nil
}

func milestoneStatus(c *pb.Contract, id string) *pb.MilestoneStatus {
	for _, m := range c.GetMilestones() {
		if m.GetId() == id {
			return m
		}
	}
	return nil
}

// milestoneRef is a contract's milestone, with its template and spec.
type milestoneRef struct {
	c    *pb.Contract
	t    *pb.ContractTemplate
	spec *pb.MilestoneSpec
	ms   *pb.MilestoneStatus
}

// milestone loads a contract's milestone for an action by the party
// holding roleOf(spec), in the milestone's state, not yet accepted.
func (tc *txCtx) milestone(contractID, milestoneID string, roleOf func(*pb.MilestoneSpec) string) (*milestoneRef, error) {
	c, t, err := tc.loadContract(contractID)
	if err != nil {
		return nil, err
	}
	spec, ms := milestoneSpec(t, milestoneID), milestoneStatus(c, milestoneID)
	if spec == nil || ms == nil {
		return nil, notFound("contract %s has no milestone %s", c.GetId(), milestoneID)
	}
	if !slices.Contains(partyRoles(c, tc.actor()), roleOf(spec)) {
		return nil, unauthorized("%s is not the %s of contract %s", tc.actor(), roleOf(spec), c.GetId())
	}
	if c.GetState() != spec.GetState() {
		return nil, conflict("milestone %s belongs to state %s; contract %s is %s", spec.GetId(), spec.GetState(), c.GetId(), c.GetState())
	}
	if ms.GetAccepted() {
		return nil, conflict("milestone %s of contract %s is already accepted", spec.GetId(), c.GetId())
	}
	return &milestoneRef{c: c, t: t, spec: spec, ms: ms}, nil
}

func (tc *txCtx) submitMilestone(a *pb.SubmitMilestone) error {
	m, err := tc.milestone(a.GetContractId(), a.GetMilestoneId(), (*pb.MilestoneSpec).GetSubmitterRole)
	if err != nil {
		return err
	}
	c, ms := m.c, m.ms
	ms.Submitted, ms.EvidenceHash, ms.SubmittedHeight = true, a.GetEvidenceHash(), tc.b.height
	tc.contractEvent(c, "milestone_submitted", c.GetState(), c.GetState(), "", ms.GetId())
	return tc.st.putMsg(kContract(c.GetId()), c)
}

func (tc *txCtx) acceptMilestone(a *pb.AcceptMilestone) error {
	m, err := tc.milestone(a.GetContractId(), a.GetMilestoneId(), (*pb.MilestoneSpec).GetAcceptorRole)
	if err != nil {
		return err
	}
	c, ms := m.c, m.ms
	if !ms.GetSubmitted() {
		return conflict("milestone %s of contract %s has not been submitted", ms.GetId(), c.GetId())
	}
	ms.Accepted, ms.AcceptedHeight = true, tc.b.height
	tc.contractEvent(c, "milestone_accepted", c.GetState(), c.GetState(), "", ms.GetId())
	// Its share of a money contract's amount is paid (money.go).
	if err := tc.payMilestone(c, m.t, m.spec); err != nil {
		return err
	}
	return tc.st.putMsg(kContract(c.GetId()), c)
}

// fire runs transition tr on c (permission already checked): from-state,
// guard, assignments, move.
func (tc *txCtx) fire(c *pb.Contract, t *pb.ContractTemplate, tr *pb.Transition, args []*pb.ContractField, action, note string) error {
	if isFinal(t, c.GetState()) {
		return conflict("contract %s is in final state %s", c.GetId(), c.GetState())
	}
	if !slices.Contains(tr.GetFrom(), c.GetState()) {
		return conflict("transition %s does not leave state %s", tr.GetName(), c.GetState())
	}
	vars := celVars(c, args, tc.nowSec())
	if tr.GetGuard() != "" {
		ok, err := tc.e.cel.evalBool(tr.GetGuard(), vars)
		if err != nil {
			return fail(pb.ResultCode_RESULT_CODE_GUARD_FAILED, "guard of %s: %v", tr.GetName(), err)
		}
		if !ok {
			return fail(pb.ResultCode_RESULT_CODE_GUARD_FAILED, "guard of %s is false: %s", tr.GetName(), tr.GetGuard())
		}
	}
	newFields := make([]*pb.ContractField, 0, len(c.GetFields())+len(tr.GetSet()))
	newFields = append(newFields, c.GetFields()...)
	for _, s := range tr.GetSet() {
		v, err := tc.e.cel.eval(s.GetExpr(), nil, vars)
		if err != nil {
			return fail(pb.ResultCode_RESULT_CODE_GUARD_FAILED, "transition %s, field %s: %v", tr.GetName(), s.GetField(), err)
		}
		f := &pb.ContractField{Name: s.GetField()}
		switch x := v.Value().(type) {
		case int64:
			f.Value = &pb.ContractField_IntValue{IntValue: x}
		case string:
			f.Value = &pb.ContractField_StringValue{StringValue: x}
		case bool:
			f.Value = &pb.ContractField_BoolValue{BoolValue: x}
		case []byte:
			f.Value = &pb.ContractField_BytesValue{BytesValue: x}
		default:
			return fail(pb.ResultCode_RESULT_CODE_GUARD_FAILED, "transition %s, field %s: value of type %s cannot be stored", tr.GetName(), s.GetField(), v.Type())
		}
		if err := checkFields("field", []*pb.ContractField{f}); err != nil {
			return err
		}
		i := slices.IndexFunc(newFields, func(g *pb.ContractField) bool { return g.GetName() == f.GetName() })
		if i >= 0 {
			newFields[i] = f
		} else {
			newFields = append(newFields, f)
		}
	}
	c.Fields = newFields
	if err := tc.moveTo(c, t, tr.GetName(), tr.GetTo(), action, note); err != nil {
		return err
	}
	return tc.st.putMsg(kContract(c.GetId()), c)
}

func (tc *txCtx) fireTransition(a *pb.FireTransition) error {
	c, t, err := tc.loadContract(a.GetContractId())
	if err != nil {
		return err
	}
	tr := findTransition(t, a.GetTransition())
	if tr == nil {
		return notFound("template %s has no transition %s", t.GetId(), a.GetTransition())
	}
	if len(tr.GetRoles()) == 0 {
		return unauthorized("transition %s is automatic only", tr.GetName())
	}
	mine := partyRoles(c, tc.actor())
	if !slices.ContainsFunc(tr.GetRoles(), func(r string) bool { return slices.Contains(mine, r) }) {
		return unauthorized("%s holds none of the roles %v of transition %s", tc.actor(), tr.GetRoles(), tr.GetName())
	}
	return tc.fire(c, t, tr, a.GetArgs(), "transition", a.GetNote())
}

// fireDeadlines runs at the start of a block: every deadline entry due
// before the block time is removed and, if its contract has not moved
// since it was scheduled, its transition fires. Each firing is applied on
// its own, so one that fails (guard false) changes nothing but the entry.
func (e *Executor) fireDeadlines(b *blockCtx) error {
	// Due: at*1000 < time_ms, i.e. at < ceil(time_ms / 1000).
	if b.timeMs <= 0 {
		return nil
	}
	end := prefixDeadline + num(uint64(floorDiv(b.timeMs-1, 1000))+1)
	type due struct {
		key string
		val []byte
	}
	var dues []due
	if err := b.st.iterate(prefixDeadline, end, func(k string, v []byte) error {
		dues = append(dues, due{k, v})
		return nil
	}); err != nil {
		return err
	}
	for _, d := range dues {
		b.st.del(d.key)
		if err := e.fireDeadline(b, d.key, d.val); err != nil {
			return err
		}
	}
	return nil
}

func (e *Executor) fireDeadline(b *blockCtx, key string, val []byte) error {
	// key: dl/<at>/<contract>/<generation>/<i>
	parts := strings.Split(key[len(prefixDeadline):], "/")
	if len(parts) != 4 {
		return fmtInvariant("deadline key %q", key)
	}
	contractID := parts[1]
	gen, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return fmtInvariant("deadline key %q: %v", key, err)
	}
	idx, err := strconv.Atoi(parts[3])
	if err != nil {
		return fmtInvariant("deadline key %q: %v", key, err)
	}
	d := &pb.Deadline{}
	if err := proto.Unmarshal(val, d); err != nil {
		return fmtInvariant("deadline %q: %v", key, err)
	}
	tc := &txCtx{e: e, b: b, st: newOverlay(b.st)}
	c, t, err := tc.loadContract(contractID)
	if err != nil {
		if _, ok := asTxError(err); ok {
			return fmtInvariant("deadline for missing contract %s", contractID)
		}
		return err
	}
	if uint64(len(c.GetHistory())) != gen || c.GetState() != d.GetState() {
		return nil // the contract moved on; the entry is stale
	}
	tr := findTransition(t, d.GetTransition())
	if tr == nil {
		return fmtInvariant("template %s lost transition %s", t.GetId(), d.GetTransition())
	}
	if idx < 0 || idx >= len(t.GetDeadlines()) || t.GetDeadlines()[idx].GetState() != d.GetState() {
		return fmtInvariant("deadline key %q names no deadline of template %s", key, t.GetId())
	}
	// The penalty first (money.go), then the transition: one step, which
	// lapses whole if either fails.
	err = tc.applyPenalty(c, t, t.GetDeadlines()[idx], d.GetAt())
	if err == nil {
		err = tc.fire(c, t, tr, nil, "deadline", "deadline "+d.GetAt()+" passed")
	}
	if err != nil {
		if _, ok := asTxError(err); ok {
			return nil // guard false or similar: the deadline lapses
		}
		return err
	}
	tc.st.mergeInto(b.st)
	b.events = append(b.events, tc.events...)
	return nil
}
