package exec

import (
	"bytes"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Governance rules (ARCHITECTURE.md §5, governance):
//   - SubmitProposal: an admin of a member department; the change is
//     checked when submitted and again when executed.
//   - VoteProposal: an admin votes for its department, once, until
//     voting_end_height (inclusive). Votes of departments that have since
//     left are not counted.
//   - With n member departments, a proposal passes when approvals*3 > 2n
//     and is rejected as soon as it no longer can ((n-rejections)*3 <= 2n).
//     A passed proposal executes at commit, at the end of its block, in the
//     order the proposals passed; if its change no longer applies (the
//     department was added meanwhile, …) it is FAILED with the reason.
//   - A proposal still voting at the end of block voting_end_height expires.
//   - Record types may be re-installed (upsert; on_chain_content may not
//     change, nor the visibility between public and protected); templates are immutable once installed (a new version is a
//     new id), since running contracts depend on them.
//   - A validator-set change committed at h takes effect at
//     h + params.validator_change_delay; BlockResult.ValidatorUpdate hands
//     the final set of the block to consensus.
//   - A validator-set change must keep a quorum safe (quorum.go): no
//     shrinking below 4 validators (byzantine) or 3 (crash), and in
//     byzantine mode at most max(1, ⌊(n-1)/3⌋) validators differing from
//     the set in force, counting the changes decided and not yet in force;
//     checked at submission (CheckTx too) and again at execution, where a
//     refusal makes the proposal FAILED.
//   - A removed department's id is never reused (its officials still exist
//     and would regain their powers); its officials fail every official
//     check from the removal on.
//   - Key rotations, the fault-model switch and observers: members.go.
//   - Budget funding (fund_budget): money.go.
//   - SubmitEvidence: any active identity; both votes must verify against
//     the validator set of the evidence's epoch (evidenceSet), over its
//     domain; recorded once per (validator, view, height).

func validateGovAction(e *Executor, body *pb.TxBody) error {
	switch a := body.GetAction().(type) {
	case *pb.TxBody_SubmitProposal:
		return e.validateProposalShape(a.SubmitProposal)
	case *pb.TxBody_VoteProposal:
		return checkID("proposal id", a.VoteProposal.GetProposalId())
	case *pb.TxBody_SubmitEvidence:
		ev := a.SubmitEvidence.GetEvidence()
		va, vb := ev.GetVoteA(), ev.GetVoteB()
		if va == nil || vb == nil {
			return invalid("evidence needs two votes")
		}
		if va.GetVoter() != vb.GetVoter() || va.GetView() != vb.GetView() || va.GetHeight() != vb.GetHeight() {
			return invalid("the votes are not by one validator at one (view, height)")
		}
		if bytes.Equal(va.GetBlockHash(), vb.GetBlockHash()) {
			return invalid("the votes are for the same block")
		}
		if len(va.GetBlockHash()) != crypto.HashSize || len(vb.GetBlockHash()) != crypto.HashSize {
			return invalid("block hashes must be %d bytes", crypto.HashSize)
		}
	}
	return nil
}

func (e *Executor) validateProposalShape(p *pb.SubmitProposal) error {
	if err := checkID("proposal id", p.GetProposalId()); err != nil {
		return err
	}
	if err := checkName("title", p.GetTitle()); err != nil {
		return err
	}
	if ok, err := validateMemberChangeShape(e.cfg.Suite, p); ok {
		return err
	}
	if ok, err := validateMoneyChangeShape(p); ok {
		return err
	}
	if ok, err := validateUpgradeShape(p); ok {
		return err
	}
	switch c := p.GetChange().(type) {
	case *pb.SubmitProposal_AddDepartment:
		d := c.AddDepartment.GetDepartment()
		if err := validateDepartment(e.cfg.Suite, d); err != nil {
			return err
		}
		// A department added by governance has a node to admit: its peer
		// id is required and checked (genesis checks its own).
		if err := checkPeerID("peer id", d.GetPeerId()); err != nil {
			return err
		}
		// On an sm2-sm3 chain its consensus key vouches for that node; on
		// an ed25519-sha256 chain there is no binding.
		if err := e.checkPeerBinding("department peer binding", d.GetId(), d.GetPeerId(), d.GetConsensusKey(), d.GetPeerBinding()); err != nil {
			return err
		}
		if err := checkNodeAddrs(d.GetPeerId(), d.GetAddrs()); err != nil {
			return err
		}
		adm := c.AddDepartment.GetAdmin()
		if err := validateOfficialShape(e.cfg.Suite, adm); err != nil {
			return err
		}
		if adm.GetDepartmentId() != "" && adm.GetDepartmentId() != c.AddDepartment.GetDepartment().GetId() {
			return invalid("the admin belongs to %s, not the new department", adm.GetDepartmentId())
		}
		if !slices.Contains(adm.GetRoles(), pb.Role_ROLE_ADMIN) {
			return invalid("the new department's admin lacks ROLE_ADMIN")
		}
		if len(adm.GetIssuerRecordTypes()) > 0 {
			return invalid("the new department's admin may not be given issuer record types here")
		}
	case *pb.SubmitProposal_RemoveDepartment:
		return checkID("department id", c.RemoveDepartment.GetDepartmentId())
	case *pb.SubmitProposal_UpdateParams:
		if err := ValidateParams(c.UpdateParams); err != nil {
			return invalid("%v", err)
		}
	case *pb.SubmitProposal_InstallRecordType:
		return validateRecordTypeShape(c.InstallRecordType)
	case *pb.SubmitProposal_InstallContractTemplate:
		return e.cel.validateTemplate(c.InstallContractTemplate)
	default:
		return invalid("proposal has no change")
	}
	return nil
}

func (tc *txCtx) govEvent(id, action, dept string, status pb.ProposalStatus, eff uint64) {
	tc.emit(&pb.Event{Kind: &pb.Event_Governance{Governance: &pb.GovernanceEvent{
		ProposalId: id, Action: action, DepartmentId: dept, Status: status, EffectiveHeight: eff,
	}}})
}

func (tc *txCtx) submitProposal(a *pb.SubmitProposal) error {
	dept, err := requireOfficial(tc.st, tc.signer, pb.Role_ROLE_ADMIN)
	if err != nil {
		return err
	}
	if ok, err := tc.st.has(kProposal(a.GetProposalId())); err != nil {
		return err
	} else if ok {
		return exists("proposal %s already exists", a.GetProposalId())
	}
	if a.GetVotingEndHeight() < tc.b.height {
		return invalid("voting_end_height %d is before this block %d", a.GetVotingEndHeight(), tc.b.height)
	}
	if err := checkProposer(dept.GetId(), a); err != nil {
		return err
	}
	if err := tc.checkChange(a); err != nil {
		return err
	}
	sub, err := marshalOpts.Marshal(a)
	if err != nil {
		return err
	}
	p := &pb.GovProposal{
		Id: a.GetProposalId(), Title: a.GetTitle(), ProposerId: tc.actor(), ProposerDepartmentId: dept.GetId(),
		Status: pb.ProposalStatus_PROPOSAL_STATUS_VOTING, SubmittedHeight: tc.b.height,
		VotingEndHeight: a.GetVotingEndHeight(), Submit: sub,
	}
	if err := tc.st.putMsg(kProposal(p.GetId()), p); err != nil {
		return err
	}
	tc.st.set(kPropOpen(p.GetVotingEndHeight(), p.GetId()), marker)
	tc.govEvent(p.GetId(), "submitted", dept.GetId(), p.GetStatus(), 0)
	return nil
}

// precheckGov is CheckTx's check of a proposal against committed state:
// the quorum-safety rules 1 and 2 (quorum.go) for a validator-set change,
// for the next block when r knows the committed height (HeightReader);
// and that a key rotation is proposed by the rotated department.
func precheckGov(st *overlay, r Reader, signer *pb.Identity, body *pb.TxBody) error {
	p := body.GetSubmitProposal()
	if p == nil {
		return nil
	}
	if err := checkProposer(signer.GetDepartmentId(), p); err != nil {
		return err
	}
	var next uint64
	known := false
	if hr, ok := r.(HeightReader); ok {
		if head, ok := hr.Height(); ok {
			next, known = head+1, true
		}
	}
	return checkQuorumSafety(st, next, known, p)
}

// checkChange checks a proposal's change against the current state; at
// submission, and again at execution.
func (tc *txCtx) checkChange(a *pb.SubmitProposal) error {
	if ok, err := tc.checkMemberChange(a); ok {
		return err
	}
	if ok, err := tc.checkMoneyChange(a); ok {
		return err
	}
	if ok, err := tc.checkUpgradeChange(a); ok {
		return err
	}
	switch c := a.GetChange().(type) {
	case *pb.SubmitProposal_UpdateParams:
		// Checked at submission too (validateProposalShape); again here
		// since a proposal admitted by an older, looser rule may still be
		// voting when a node with this rule executes it.
		if err := ValidateParams(c.UpdateParams); err != nil {
			return invalid("%v", err)
		}
	case *pb.SubmitProposal_AddDepartment:
		d := c.AddDepartment.GetDepartment()
		if ok, err := tc.isMember(d.GetId()); err != nil {
			return err
		} else if ok {
			return exists("department %s is already a member", d.GetId())
		}
		// A removed department's officials still exist; reusing its id
		// would give them their powers back.
		if ok, err := tc.st.has(kDeptRm(d.GetId())); err != nil {
			return err
		} else if ok {
			return conflict("department id %s belonged to a removed department and is not reused", d.GetId())
		}
		if err := checkKeyNeverUsed(tc.st, d.GetConsensusKey()); err != nil {
			return err
		}
		if err := tc.checkDepartmentPeer(d); err != nil {
			return err
		}
		for _, id := range []string{c.AddDepartment.GetAdmin().GetIdentityId(), ValidatorIdentityID(d.GetId())} {
			if ok, err := tc.st.has(kIdentity(id)); err != nil {
				return err
			} else if ok {
				return exists("identity %s already exists", id)
			}
		}
		if c.AddDepartment.GetAdmin().GetIdentityId() == ValidatorIdentityID(d.GetId()) {
			return invalid("admin id %s is the department's validator identity id", ValidatorIdentityID(d.GetId()))
		}
		return checkQuorumSafety(tc.st, tc.b.height, true, a)
	case *pb.SubmitProposal_RemoveDepartment:
		id := c.RemoveDepartment.GetDepartmentId()
		if ok, err := tc.isMember(id); err != nil {
			return err
		} else if !ok {
			return notFound("department %s is not a member", id)
		}
		n, err := countDepartments(tc.st)
		if err != nil {
			return err
		}
		if n <= 1 {
			return conflict("the last department cannot be removed")
		}
		return checkQuorumSafety(tc.st, tc.b.height, true, a)
	case *pb.SubmitProposal_InstallRecordType:
		t := c.InstallRecordType
		if err := validateRecordTypeDepartments(t, tc.isMember); err != nil {
			return err
		}
		old := &pb.RecordType{}
		if ok, err := tc.st.getMsg(kRecordType(t.GetId()), old); err != nil {
			return err
		} else if ok && old.GetOnChainContent() != t.GetOnChainContent() {
			return conflict("record type %s exists; on_chain_content cannot change", t.GetId())
		} else if ok && IsProtected(old) != IsProtected(t) {
			// A protected type's versions hold payload commitments whose
			// content only member nodes keep; made public, they would
			// still be hashes with no content anyone serves, and a public
			// type's hashes made protected name payloads nobody stored.
			return conflict("record type %s exists; it cannot change between public and protected", t.GetId())
		}
	case *pb.SubmitProposal_InstallContractTemplate:
		if ok, err := tc.st.has(kTemplate(c.InstallContractTemplate.GetId())); err != nil {
			return err
		} else if ok {
			return exists("contract template %s already exists; install a new version under a new id", c.InstallContractTemplate.GetId())
		}
	}
	return nil
}

func (tc *txCtx) voteProposal(a *pb.VoteProposal) error {
	dept, err := requireOfficial(tc.st, tc.signer, pb.Role_ROLE_ADMIN)
	if err != nil {
		return err
	}
	p := &pb.GovProposal{}
	ok, err := tc.st.getMsg(kProposal(a.GetProposalId()), p)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("proposal %s not found", a.GetProposalId())
	}
	if p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_VOTING {
		return conflict("proposal %s is no longer voting", p.GetId())
	}
	if tc.b.height > p.GetVotingEndHeight() {
		return conflict("voting on proposal %s ended at height %d", p.GetId(), p.GetVotingEndHeight())
	}
	for _, v := range p.GetVotes() {
		if v.GetDepartmentId() == dept.GetId() {
			return conflict("department %s has already voted on proposal %s", dept.GetId(), p.GetId())
		}
	}
	p.Votes = append(p.Votes, &pb.DepartmentVote{DepartmentId: dept.GetId(), Approve: a.GetApprove(), VoterId: tc.actor(), Height: tc.b.height})
	tc.govEvent(p.GetId(), "voted", dept.GetId(), p.GetStatus(), 0)
	if err := tc.tally(p); err != nil {
		return err
	}
	return tc.st.putMsg(kProposal(p.GetId()), p)
}

// tally decides p if its votes suffice.
func (tc *txCtx) tally(p *pb.GovProposal) error {
	depts, err := tc.st.keysWithPrefix(prefixDept)
	if err != nil {
		return err
	}
	n := uint64(len(depts))
	var yes, no uint64
	for _, v := range p.GetVotes() {
		if !slices.Contains(depts, kDept(v.GetDepartmentId())) {
			continue
		}
		if v.GetApprove() {
			yes++
		} else {
			no++
		}
	}
	switch {
	case yes*3 > 2*n:
		p.Status = pb.ProposalStatus_PROPOSAL_STATUS_PASSED
		tc.b.toExec = append(tc.b.toExec, p.GetId())
		tc.govEvent(p.GetId(), "passed", "", p.GetStatus(), 0)
	case (n-no)*3 <= 2*n:
		p.Status = pb.ProposalStatus_PROPOSAL_STATUS_REJECTED
		tc.govEvent(p.GetId(), "rejected", "", p.GetStatus(), 0)
	default:
		return nil
	}
	p.DecidedHeight = tc.b.height
	tc.st.del(kPropOpen(p.GetVotingEndHeight(), p.GetId()))
	return nil
}

func countDepartments(st *overlay) (int, error) {
	ks, err := st.keysWithPrefix(prefixDept)
	return len(ks), err
}

// currentValset is the last validator set decided (maybe not yet in force).
func currentValset(st *overlay) (*pb.ValidatorSet, error) {
	var last []byte
	var key string
	if err := st.iterate(prefixValset, prefixEnd(prefixValset), func(k string, v []byte) error {
		key, last = k, v
		return nil
	}); err != nil {
		return nil, err
	}
	if last == nil {
		return nil, fmtInvariant("no validator set in state")
	}
	vs := &pb.ValidatorSet{}
	if err := proto.Unmarshal(last, vs); err != nil {
		return nil, fmtInvariant("decode %q: %v", key, err)
	}
	return vs, nil
}

// valsetAt is the set in force at height h: the one with the highest
// effective height <= h (the first one for heights before it).
func valsetAt(st *overlay, h uint64) (*pb.ValidatorSet, error) {
	var found []byte
	if err := st.iterate(prefixValset, prefixEnd(prefixValset), func(k string, v []byte) error {
		if found == nil || k <= kValset(h) {
			found = v
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmtInvariant("no validator set in state")
	}
	vs := &pb.ValidatorSet{}
	if err := proto.Unmarshal(found, vs); err != nil {
		return nil, fmtInvariant("decode validator set: %v", err)
	}
	return vs, nil
}

// endBlock executes the proposals passed in this block and expires those
// whose voting ended.
func (e *Executor) endBlock(b *blockCtx) error {
	for _, id := range b.toExec {
		if err := e.executeProposal(b, id); err != nil {
			return err
		}
	}
	end := prefixPropOpen + num(b.height+1)
	var keys []string
	if err := b.st.iterate(prefixPropOpen, end, func(k string, _ []byte) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		tc := &txCtx{e: e, b: b, st: b.st}
		p := &pb.GovProposal{}
		ok, err := b.st.getMsg(kProposal(lastSegment(k)), p)
		if err != nil {
			return err
		}
		if !ok {
			return fmtInvariant("open proposal index %q without proposal", k)
		}
		b.st.del(k)
		p.Status, p.DecidedHeight = pb.ProposalStatus_PROPOSAL_STATUS_EXPIRED, b.height
		if err := b.st.putMsg(kProposal(p.GetId()), p); err != nil {
			return err
		}
		tc.govEvent(p.GetId(), "expired", "", p.GetStatus(), 0)
		b.events = append(b.events, tc.events...)
	}
	return nil
}

func (e *Executor) executeProposal(b *blockCtx, id string) error {
	p := &pb.GovProposal{}
	ok, err := b.st.getMsg(kProposal(id), p)
	if err != nil {
		return err
	}
	if !ok {
		return fmtInvariant("passed proposal %s missing", id)
	}
	sub := &pb.SubmitProposal{}
	if err := proto.Unmarshal(p.GetSubmit(), sub); err != nil {
		return fmtInvariant("proposal %s change: %v", id, err)
	}
	tc := &txCtx{e: e, b: b, st: newOverlay(b.st)}
	err = tc.checkChange(sub)
	if err == nil {
		err = tc.applyChange(sub)
	}
	if err != nil {
		te, ok := asTxError(err)
		if !ok {
			return err
		}
		tc = &txCtx{e: e, b: b, st: newOverlay(b.st)}
		p.Status, p.FailureReason = pb.ProposalStatus_PROPOSAL_STATUS_FAILED, te.reason
		tc.govEvent(p.GetId(), "failed", "", p.GetStatus(), 0)
	} else {
		tc.govEvent(p.GetId(), "executed", "", p.GetStatus(), 0)
	}
	if err := tc.st.putMsg(kProposal(id), p); err != nil {
		return err
	}
	tc.st.mergeInto(b.st)
	b.events = append(b.events, tc.events...)
	return nil
}

func (tc *txCtx) applyChange(sub *pb.SubmitProposal) error {
	if ok, err := tc.applyMemberChange(sub); ok {
		return err
	}
	if ok, err := tc.applyMoneyChange(sub); ok {
		return err
	}
	if ok, err := tc.applyUpgradeChange(sub); ok {
		return err
	}
	switch c := sub.GetChange().(type) {
	case *pb.SubmitProposal_AddDepartment:
		d := c.AddDepartment.GetDepartment()
		if err := tc.st.putMsg(kDept(d.GetId()), d); err != nil {
			return err
		}
		adm := c.AddDepartment.GetAdmin()
		if err := tc.putNewIdentity(&pb.Identity{
			Id: adm.GetIdentityId(), Kind: pb.IdentityKind_IDENTITY_KIND_OFFICIAL, DepartmentId: d.GetId(),
			DisplayName: adm.GetDisplayName(), PublicKey: adm.GetPublicKey(), Status: pb.IdentityStatus_IDENTITY_STATUS_ACTIVE,
			Roles: adm.GetRoles(),
		}); err != nil {
			return err
		}
		// Its node's own identity, which signs the equivocation evidence
		// the node finds, as genesis gives each of its departments.
		if err := tc.putNewIdentity(ValidatorIdentity(d)); err != nil {
			return err
		}
		return tc.changeValset(d.GetId(), sub)
	case *pb.SubmitProposal_RemoveDepartment:
		id := c.RemoveDepartment.GetDepartmentId()
		tc.st.del(kDept(id))
		tc.st.set(kDeptRm(id), marker)
		return tc.changeValset(id, sub)
	case *pb.SubmitProposal_UpdateParams:
		if err := tc.st.putMsg(keyParams, c.UpdateParams); err != nil {
			return err
		}
		tc.b.newParam = c.UpdateParams
		tc.govEvent(sub.GetProposalId(), "params_changed", "", pb.ProposalStatus_PROPOSAL_STATUS_PASSED, 0)
	case *pb.SubmitProposal_InstallRecordType:
		if err := tc.st.putMsg(kRecordType(c.InstallRecordType.GetId()), c.InstallRecordType); err != nil {
			return err
		}
		tc.govEvent(sub.GetProposalId(), "record_type_installed", "", pb.ProposalStatus_PROPOSAL_STATUS_PASSED, 0)
	case *pb.SubmitProposal_InstallContractTemplate:
		if err := tc.st.putMsg(kTemplate(c.InstallContractTemplate.GetId()), c.InstallContractTemplate); err != nil {
			return err
		}
		tc.govEvent(sub.GetProposalId(), "template_installed", "", pb.ProposalStatus_PROPOSAL_STATUS_PASSED, 0)
	}
	return nil
}

// changeValset decides the set sub's change leaves (validatorChange, the
// one computation the quorum-safety rules check too), in force from
// height + validator_change_delay, or from the effective height of the
// last set decided if that is later (a shorter delay decided meanwhile
// must not let this set, which includes that one's change, take over
// before it, and then be undone by it).
func (tc *txCtx) changeValset(dept string, sub *pb.SubmitProposal) error {
	vs, err := currentValset(tc.st)
	if err != nil {
		return err
	}
	_, f := validatorChange(sub)
	if f == nil {
		return fmtInvariant("proposal %s changes no validator", sub.GetProposalId())
	}
	params := &pb.Params{}
	if ok, err := tc.st.getMsg(keyParams, params); err != nil || !ok {
		return fmtInvariant("params missing: %v", err)
	}
	next := f(vs)
	next.EffectiveHeight = max(tc.b.height+params.GetValidatorChangeDelay(), vs.GetEffectiveHeight())
	if err := tc.st.putMsg(kValset(next.GetEffectiveHeight()), next); err != nil {
		return err
	}
	tc.b.valset = next
	tc.govEvent("", "validator_set_changed", dept, pb.ProposalStatus_PROPOSAL_STATUS_PASSED, next.GetEffectiveHeight())
	return nil
}

func (tc *txCtx) submitEvidence(a *pb.SubmitEvidence) error {
	va, vb := a.GetEvidence().GetVoteA(), a.GetEvidence().GetVoteB()
	vs, err := tc.evidenceSet(a.GetEvidence())
	if err != nil {
		return err
	}
	if int(va.GetVoter()) >= len(vs.GetValidators()) {
		return invalid("voter %d is not in the validator set of epoch %d (%d validators)", va.GetVoter(), EpochStart(vs), len(vs.GetValidators()))
	}
	val := vs.GetValidators()[va.GetVoter()]
	// Votes are signed over their validator set's domain: the chain id for
	// the genesis set, "chain@E" for the set in force from E
	// (ARCHITECTURE.md §4, "Reconfiguration").
	domain := consensus.SignDomain(tc.e.cfg.ChainID, EpochStart(vs))
	for _, v := range []*pb.Vote{va, vb} {
		msg := crypto.VoteSignBytes(domain, v.GetView(), v.GetHeight(), v.GetBlockHash())
		if err := crypto.Verify(val.GetConsensusKey(), msg, v.GetSignature()); err != nil {
			return fail(pb.ResultCode_RESULT_CODE_BAD_SIGNATURE, "vote for %x by %s does not verify: %v", v.GetBlockHash(), val.GetId(), err)
		}
	}
	key := kEvidence(val.GetId(), va.GetView(), va.GetHeight())
	if ok, err := tc.st.has(key); err != nil {
		return err
	} else if ok {
		return exists("equivocation by %s at view %d height %d is already recorded", val.GetId(), va.GetView(), va.GetHeight())
	}
	// Store the pair in a canonical order so the same proof is stored
	// whichever way it was submitted.
	ev := a.GetEvidence()
	if bytes.Compare(va.GetBlockHash(), vb.GetBlockHash()) > 0 {
		ev = &pb.EquivocationEvidence{VoteA: vb, VoteB: va}
	}
	if err := tc.st.putMsg(key, ev); err != nil {
		return err
	}
	tc.govEvent("", "evidence_recorded", val.GetId(), pb.ProposalStatus_PROPOSAL_STATUS_UNSPECIFIED, 0)
	return nil
}

// evidenceSet is the validator set ev's votes were signed in: the set of
// its epoch, or, for evidence without one, the set in force at the votes'
// height. The epoch must be a set that was in force (its effective height
// at or below this block: its record is final) and the votes at or above
// its first height; a vote above the epoch's end (the old set's suffix,
// ARCHITECTURE.md §4) is the set's own and counts.
func (tc *txCtx) evidenceSet(ev *pb.EquivocationEvidence) (*pb.ValidatorSet, error) {
	h := ev.GetVoteA().GetHeight()
	if ev.Epoch == nil {
		return valsetAt(tc.st, h)
	}
	e := ev.GetEpoch()
	if e > tc.b.height {
		return nil, invalid("evidence of epoch %d, not in force yet at height %d", e, tc.b.height)
	}
	if h < max(e, GenesisHeight+1) {
		return nil, invalid("a vote at height %d cannot belong to epoch %d, which certifies heights from %d", h, e, max(e, GenesisHeight+1))
	}
	vs, err := valsetAt(tc.st, e)
	if err != nil {
		return nil, err
	}
	if EpochStart(vs) != e {
		return nil, invalid("no validator set took effect at height %d: epoch %d does not exist", e, e)
	}
	return vs, nil
}

// validateAction is the stateless check of every action's arguments.
func (e *Executor) validateAction(body *pb.TxBody) error {
	switch body.GetAction().(type) {
	case *pb.TxBody_RegisterOfficial, *pb.TxBody_RegisterSubject, *pb.TxBody_RotateKey, *pb.TxBody_SetIdentityStatus,
		*pb.TxBody_SetRoles, *pb.TxBody_IssueCredential, *pb.TxBody_RevokeCredential:
		return validateIdentityAction(e.cfg.Suite, body)
	case *pb.TxBody_CreateRecord, *pb.TxBody_AmendRecord, *pb.TxBody_ConsentTransfer, *pb.TxBody_TransferRecord,
		*pb.TxBody_RevokeRecord, *pb.TxBody_AccessRecord, *pb.TxBody_GrantAccess, *pb.TxBody_RevokeGrant,
		*pb.TxBody_EraseRecordContent, *pb.TxBody_RecordAccesses:
		return validateRecordAction(body)
	case *pb.TxBody_CreateContract, *pb.TxBody_SignContract, *pb.TxBody_SubmitMilestone, *pb.TxBody_AcceptMilestone,
		*pb.TxBody_FireTransition:
		return validateContractAction(body)
	case *pb.TxBody_SubmitProposal, *pb.TxBody_VoteProposal, *pb.TxBody_SubmitEvidence:
		return validateGovAction(e, body)
	default:
		return fail(pb.ResultCode_RESULT_CODE_MALFORMED, "unknown action %T", body.GetAction())
	}
}
