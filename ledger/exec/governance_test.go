package exec_test

import (
	"google.golang.org/protobuf/proto"

	"fmt"
	"strings"
	"testing"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func addDept(id string) func(*pb.SubmitProposal) {
	return func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_AddDepartment{AddDepartment: &pb.AddDepartment{
			Department: &pb.Department{Id: id, Name: "Dept " + id, ConsensusKey: newPub("consensus/" + id), PeerId: exectest.PeerID("node/" + id)},
			Admin: &pb.RegisterOfficial{
				IdentityId: id + ".admin", DepartmentId: id, DisplayName: "admin", Roles: roleAdmin, PublicKey: newPub(id + ".admin"),
			},
		}}
	}
}

func removeDept(id string) func(*pb.SubmitProposal) {
	return func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_RemoveDepartment{RemoveDepartment: &pb.RemoveDepartment{DepartmentId: id}}
	}
}

func proposalOf(t *testing.T, e *env, id string) *pb.GovProposal {
	t.Helper()
	p, err := exec.Proposal(e.c.Store, id)
	if err != nil {
		t.Fatalf("proposal %s: %v", id, err)
	}
	return p
}

func TestAddDepartment(t *testing.T) {
	e := newEnv(t, 4)
	e.ok("d0.admin", propose("p1", 100, addDept("d4")))
	e.ok("d0.admin", vote("p1", true))
	e.ok("d1.admin", vote("p1", true))
	if p := proposalOf(t, e, "p1"); p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_VOTING {
		t.Fatalf("2 of 4 decided it: %v", p.GetStatus())
	}
	res := e.block(e.s("d2.admin").Tx(vote("p1", true)))
	if res.Results[0].GetCode() != codeOK {
		t.Fatalf("vote: %v", res.Results[0])
	}
	h := e.c.Height
	if res.ValidatorUpdate == nil || len(res.ValidatorUpdate.GetValidators()) != 5 || res.ValidatorUpdate.GetEffectiveHeight() != h+delay {
		t.Fatalf("validator update %v", res.ValidatorUpdate)
	}
	var actions []string
	for _, ev := range res.Events {
		if g := ev.GetGovernance(); g != nil {
			actions = append(actions, g.GetAction())
		}
	}
	want := []string{"voted", "passed", "validator_set_changed", "executed"}
	if len(actions) != len(want) {
		t.Fatalf("governance events %v, want %v", actions, want)
	}
	for i, ev := range res.Events {
		if ev.GetEventIndex() != uint32(i) {
			t.Fatalf("event %d has index %d", i, ev.GetEventIndex())
		}
	}
	p := proposalOf(t, e, "p1")
	if p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_PASSED || p.GetDecidedHeight() != h {
		t.Fatalf("proposal %v", p)
	}
	vs, err := exec.ValidatorSet(e.c.Store)
	if err != nil || vs.GetEffectiveHeight() != h+delay {
		t.Fatalf("valset %v %v", vs, err)
	}
	// The new department's node has its own identity, keyed by its
	// consensus key, to sign the evidence it finds (as genesis gives).
	vid, err := exec.Identity(e.c.Store, exec.ValidatorIdentityID("d4"))
	if err != nil || !proto.Equal(vid.GetPublicKey(), newPub("consensus/d4")) || vid.GetDepartmentId() != "d4" ||
		vid.GetStatus() != pb.IdentityStatus_IDENTITY_STATUS_ACTIVE || len(vid.GetRoles()) != 0 {
		t.Fatalf("validator identity of d4: %v %v", vid, err)
	}
	if old, _ := exec.ValidatorSetAt(e.c.Store, h+1); len(old.GetValidators()) != 4 {
		t.Fatalf("set at h+1 has %d validators", len(old.GetValidators()))
	}
	if _, err := exec.Department(e.c.Store, "d4"); err != nil {
		t.Fatal(err)
	}
	// The new department's admin can act, and votes count from now on (5 departments: 4 approvals needed).
	e.ok("d4.admin", regOfficial("d4.registrar", "d4", roleRegistrar))
	for e.c.Height+1 < h+delay {
		e.block() // a second change waits until d4 is in force (one-step bound)
	}
	e.ok("d4.admin", propose("p2", 100, addDept("d5")))
	for _, d := range []string{"d0", "d1", "d2"} {
		e.ok(d+".admin", vote("p2", true))
	}
	if p := proposalOf(t, e, "p2"); p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_VOTING {
		t.Fatalf("3 of 5 decided it: %v", p.GetStatus())
	}
	e.ok("d4.admin", vote("p2", true))
	if p := proposalOf(t, e, "p2"); p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_PASSED {
		t.Fatalf("4 of 5: %v", p.GetStatus())
	}
}

func TestRemoveDepartmentAndParams(t *testing.T) {
	e := newEnv(t, 5) // a byzantine set may shrink to 4, not below (quorum.go)
	// A tx over the fixture's 64 KiB max_tx_bytes is refused before the
	// change and fits after it.
	bigTx := func() []byte {
		big := regSubject("big", citizen)
		big.GetRegisterSubject().Attributes = nil
		for i := range exec.MaxListLen {
			big.GetRegisterSubject().Attributes = append(big.GetRegisterSubject().Attributes,
				&pb.Attribute{Name: fmt.Sprintf("a%d", i), Value: strings.Repeat("v", exec.MaxAttrValueBytes)})
		}
		return e.s("d0.registrar").Tx(big)
	}
	e.tx(codeTooLarge, bigTx())
	e.s("d0.registrar").Nonce-- // an envelope refusal consumes no nonce
	newParams := exectest.DefaultParams()
	newParams.MaxTxBytes = 128 << 10
	newParams.ValidatorChangeDelay = 5
	e.ok("d0.admin", propose("params", 100, func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_UpdateParams{UpdateParams: newParams}
	}))
	e.ok("d0.admin", propose("rm4", 100, removeDept("d4")))
	var res *exec.BlockResult
	for _, d := range []string{"d0", "d1", "d2", "d3"} {
		res = e.block(e.s(d+".admin").Tx(vote("params", true)), e.s(d+".admin").Tx(vote("rm4", true)))
	}
	if res.Params == nil || res.Params.GetMaxTxBytes() != 128<<10 {
		t.Fatalf("params %v", res.Params)
	}
	// Params passed first in the block, so the removal uses the new delay.
	if res.ValidatorUpdate == nil || len(res.ValidatorUpdate.GetValidators()) != 4 || res.ValidatorUpdate.GetEffectiveHeight() != e.c.Height+5 {
		t.Fatalf("validator update %v", res.ValidatorUpdate)
	}
	if p, _ := exec.Params(e.c.Store); p.GetValidatorChangeDelay() != 5 {
		t.Fatalf("params %v", p)
	}
	// d4's officials are no longer officials of a member department.
	e.refuse("d4.admin", codeUnauthorized, vote("params", true))
	e.refuse("d4.registrar", codeUnauthorized, regSubject("zed", citizen))
	// The new size limit applies.
	e.tx(codeOK, bigTx())
}

func TestInstallRecordTypeAndTemplate(t *testing.T) {
	e := newEnv(t, 3)
	rt := &pb.RecordType{Id: "vehicle", Name: "Vehicle registration", CreateDepartments: []string{"d2"}, OnChainContent: true, MaxContentBytes: 512, Transferable: true, TransferDepartments: []string{"d2"}}
	e.ok("d2.admin", propose("rt", 50, func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_InstallRecordType{InstallRecordType: rt}
	}))
	tmpl := exec.TenderTemplate()
	tmpl.Id = "tender.v2"
	e.ok("d2.admin", propose("tm", 50, func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_InstallContractTemplate{InstallContractTemplate: tmpl}
	}))
	for _, d := range []string{"d0", "d1", "d2"} {
		e.block(e.s(d+".admin").Tx(vote("rt", true)), e.s(d+".admin").Tx(vote("tm", true)))
	}
	if _, err := exec.RecordType(e.c.Store, "vehicle"); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Template(e.c.Store, "tender.v2"); err != nil {
		t.Fatal(err)
	}
	e.ok("d2.admin", setRoles("d2.issuer", roleIssuer, "vehicle"))
	e.ok("d2.issuer", createRec("car1", "vehicle", "cit0", []byte("VIN 123")))

	// Refusals at submission.
	e.refuse("d2.admin", codeExists, propose("tm2", 50, func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_InstallContractTemplate{InstallContractTemplate: exec.TenderTemplate()}
	}))
	badT := exec.TenderTemplate()
	badT.Id = "bad"
	badT.Transitions[1].Guard = "(("
	e.refuse("d2.admin", codeInvalid, propose("tm3", 50, func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_InstallContractTemplate{InstallContractTemplate: badT}
	}))
	e.refuse("d2.admin", codeNotFound, propose("rt2", 50, func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_InstallRecordType{InstallRecordType: &pb.RecordType{Id: "x", Name: "x", CreateDepartments: []string{"d9"}}}
	}))
	e.refuse("d2.admin", codeConflict, propose("rt3", 50, func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_InstallRecordType{InstallRecordType: &pb.RecordType{Id: "vehicle", Name: "x", CreateDepartments: []string{"d2"}}}
	}))
	e.refuse("d2.admin", codeInvalid, propose("rt4", 50, func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_InstallRecordType{InstallRecordType: &pb.RecordType{Id: "y", Name: "y", CreateDepartments: []string{"d2"}, TransferNeedsConsent: true}}
	}))
	e.refuse("d2.admin", codeInvalid, propose("rt5", 50, func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_InstallRecordType{InstallRecordType: &pb.RecordType{Id: "y", Name: "y", CreateDepartments: []string{"d2"}, OnChainContent: true}}
	}))
	e.refuse("d2.admin", codeInvalid, propose("rt6", 50, func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_InstallRecordType{InstallRecordType: &pb.RecordType{Id: "y", Name: "y"}}
	}))
	e.refuse("d2.admin", codeInvalid, propose("pp", 50, func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_UpdateParams{UpdateParams: &pb.Params{}}
	}))
}

func TestProposalRefusals(t *testing.T) {
	e := newEnv(t, 4)
	e.ok("d0.admin", propose("p1", 100, addDept("d4")))
	e.refuse("d0.registrar", codeUnauthorized, propose("p2", 100, addDept("d5")))
	e.refuse("cit0", codeUnauthorized, propose("p2", 100, addDept("d5")))
	e.refuse("d0.admin", codeExists, propose("p1", 100, addDept("d5")))
	e.refuse("d0.admin", codeInvalid, propose("p2", 1, addDept("d5")))
	e.refuse("d0.admin", codeExists, propose("p2", 100, addDept("d1")))
	e.refuse("d0.admin", codeNotFound, propose("p2", 100, removeDept("d9")))
	e.refuse("d0.admin", codeInvalid, propose("p2", 100, func(*pb.SubmitProposal) {}))
	e.refuse("d0.admin", codeExists, propose("p2", 100, func(p *pb.SubmitProposal) {
		addDept("d5")(p)
		p.GetAddDepartment().Admin.IdentityId = "cit0"
	}))
	e.refuse("d0.admin", codeConflict, propose("p2", 100, func(p *pb.SubmitProposal) {
		addDept("d5")(p)
		p.GetAddDepartment().Department.ConsensusKey = e.f.Consensus[0].Public()
	}))
	e.refuse("d0.admin", codeInvalid, propose("p2", 100, func(p *pb.SubmitProposal) {
		addDept("d5")(p)
		p.GetAddDepartment().Admin.Roles = roleRegistrar
	}))
	e.refuse("d0.admin", codeInvalid, propose("p2", 100, func(p *pb.SubmitProposal) {
		addDept("d5")(p)
		p.GetAddDepartment().Admin.DepartmentId = "d0"
	}))
	e.refuse("d0.admin", codeInvalid, propose("p2", 100, func(p *pb.SubmitProposal) {
		addDept("d5")(p)
		p.GetAddDepartment().Admin.Roles = []pb.Role{pb.Role_ROLE_ADMIN, pb.Role_ROLE_ISSUER}
		p.GetAddDepartment().Admin.IssuerRecordTypes = []string{"land_title"}
	}))

	// Votes.
	e.ok("d0.admin", vote("p1", false))
	e.refuse("d0.admin", codeConflict, vote("p1", true))
	e.refuse("d0.registrar", codeUnauthorized, vote("p1", true))
	e.refuse("d0.admin", codeNotFound, vote("nope", true))
	// A second no from 4 departments: 2 approvals at most left, so rejected.
	r := e.ok("d1.admin", vote("p1", false))
	if r.GetEvents()[1].GetGovernance().GetAction() != "rejected" {
		t.Fatalf("events %v", r.GetEvents())
	}
	e.refuse("d2.admin", codeConflict, vote("p1", true))
}

func TestProposalExpiryAndFailure(t *testing.T) {
	e := newEnv(t, 4)
	end := e.c.Height + 3
	e.ok("d0.admin", propose("p1", end, addDept("d4")))
	e.ok("d1.admin", vote("p1", true))
	for e.c.Height < end-1 {
		e.block()
	}
	res := e.block() // block `end`: the proposal expires at its end
	if len(res.Events) != 1 || res.Events[0].GetGovernance().GetAction() != "expired" {
		t.Fatalf("events %v", res.Events)
	}
	if p := proposalOf(t, e, "p1"); p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_EXPIRED {
		t.Fatalf("status %v", p.GetStatus())
	}
	e.refuse("d2.admin", codeConflict, vote("p1", true))

	// Two proposals adding the same department: the second fails at execution.
	e.ok("d0.admin", propose("a", 100, addDept("d4")))
	e.ok("d0.admin", propose("b", 100, func(p *pb.SubmitProposal) {
		addDept("d4")(p)
		p.GetAddDepartment().Department.ConsensusKey = newPub("other")
		p.GetAddDepartment().Admin.IdentityId = "d4.boss"
	}))
	for _, d := range []string{"d0", "d1", "d2"} {
		e.block(e.s(d+".admin").Tx(vote("a", true)), e.s(d+".admin").Tx(vote("b", true)))
	}
	if p := proposalOf(t, e, "a"); p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_PASSED {
		t.Fatalf("a: %v", p)
	}
	if p := proposalOf(t, e, "b"); p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_FAILED || p.GetFailureReason() == "" {
		t.Fatalf("b: %v", p)
	}
	if _, err := exec.Identity(e.c.Store, "d4.boss"); err == nil {
		t.Fatal("a failed proposal changed state")
	}
}

func TestRemoveDepartmentsDownToMinimum(t *testing.T) {
	e := newEnv(t, 5)
	e.ok("d0.admin", propose("rm4", 100, removeDept("d4")))
	for _, d := range []string{"d0", "d1", "d2", "d3"} {
		e.ok(d+".admin", vote("rm4", true))
	}
	if _, err := exec.Department(e.c.Store, "d4"); err == nil {
		t.Fatal("d4 still a member")
	}
	// 4 validators are the byzantine minimum: no more removals
	// (quorum_test.go has the rules' cases).
	if r := e.refuse("d0.admin", codeConflict, propose("rm0", 100, removeDept("d0"))); !strings.Contains(r.GetReason(), "would leave 3 validators") {
		t.Fatalf("reason %q", r.GetReason())
	}
	// A removed department's id is not reused.
	if r := e.refuse("d0.admin", codeConflict, propose("re4", 100, addDept("d4"))); !strings.Contains(r.GetReason(), "not reused") {
		t.Fatalf("reason %q", r.GetReason())
	}
}

func signedVote(t *testing.T, key crypto.PrivateKey, voter uint32, view, height uint64, block string) *pb.Vote {
	t.Helper()
	h := hash(block)
	sig, err := key.Sign(crypto.VoteSignBytes(exectest.ChainID, view, height, h))
	if err != nil {
		t.Fatal(err)
	}
	return &pb.Vote{View: view, Height: height, BlockHash: h, Voter: voter, Signature: sig}
}

func evidence(a, b *pb.Vote) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_SubmitEvidence{SubmitEvidence: &pb.SubmitEvidence{Evidence: &pb.EquivocationEvidence{VoteA: a, VoteB: b}}}}
}

func TestSubmitEvidence(t *testing.T) {
	e := newEnv(t, 4)
	k2 := e.f.Consensus[2]
	va := signedVote(t, k2, 2, 7, 5, "A")
	vb := signedVote(t, k2, 2, 7, 5, "B")
	r := e.ok("cit0", evidence(vb, va))
	if g := r.GetEvents()[0].GetGovernance(); g.GetAction() != "evidence_recorded" || g.GetDepartmentId() != "d2" {
		t.Fatalf("event %v", g)
	}
	ev, err := exec.Evidence(e.c.Store, "d2", 7, 5)
	if err != nil || ev.GetVoteA().GetBlockHash()[0] > ev.GetVoteB().GetBlockHash()[0] {
		t.Fatalf("evidence %v, %v (want canonical order)", ev, err)
	}
	e.refuse("cit1", codeExists, evidence(va, vb))
	e.refuse("cit1", codeInvalid, evidence(va, va))
	e.refuse("cit1", codeInvalid, evidence(va, signedVote(t, k2, 2, 7, 6, "B")))
	e.refuse("cit1", codeInvalid, evidence(va, signedVote(t, k2, 2, 8, 5, "B")))
	e.refuse("cit1", codeInvalid, evidence(va, signedVote(t, k2, 1, 7, 5, "B")))
	e.refuse("cit1", codeInvalid, evidence(va, nil))
	// Signed by another validator's key.
	e.refuse("cit1", codeBadSig, evidence(signedVote(t, e.f.Consensus[1], 2, 9, 5, "A"), signedVote(t, k2, 2, 9, 5, "B")))
	e.refuse("cit1", codeInvalid, evidence(signedVote(t, k2, 9, 9, 5, "A"), signedVote(t, k2, 9, 9, 5, "B")))
	short := signedVote(t, k2, 2, 9, 5, "A")
	short.BlockHash = []byte{1}
	e.refuse("cit1", codeInvalid, evidence(short, signedVote(t, k2, 2, 9, 5, "B")))
}

// A department added by governance gets the validator identity
// "<dept>-validator"; a proposal whose admin would take that id is refused
// at submit, changing nothing but the nonce.
func TestAddDepartmentValidatorIdentityIDTaken(t *testing.T) {
	e := newEnv(t, 4)
	r := e.refuse("d0.admin", pb.ResultCode_RESULT_CODE_INVALID_ARGUMENT, propose("p1", 100, func(p *pb.SubmitProposal) {
		addDept("d4")(p)
		p.GetAddDepartment().Admin.IdentityId = exec.ValidatorIdentityID("d4")
	}))
	if !strings.Contains(r.GetReason(), "validator identity") {
		t.Fatalf("reason %q", r.GetReason())
	}
}

// After a validator-set change, votes are signed over the new set's domain
// ("chain@E"): evidence of an equivocation there is checked in that domain,
// and a pair signed in the genesis domain does not verify.
func TestSubmitEvidenceAfterSetChange(t *testing.T) {
	e := newEnv(t, 4)
	start := e.addD4InForce(t, 1)
	k2 := e.f.Consensus[2]
	in := func(domain string, view uint64, block string) *pb.Vote {
		h := hash(block)
		sig, err := k2.Sign(crypto.VoteSignBytes(domain, view, start, h))
		if err != nil {
			t.Fatal(err)
		}
		return &pb.Vote{View: view, Height: start, BlockHash: h, Voter: 2, Signature: sig}
	}
	newDomain := consensus.SignDomain(exectest.ChainID, start)
	e.refuse("cit1", codeBadSig, evidence(in(exectest.ChainID, 3, "A"), in(exectest.ChainID, 3, "B")))
	if g := e.ok("cit0", evidence(in(newDomain, 3, "A"), in(newDomain, 3, "B"))).GetEvents()[0].GetGovernance(); g.GetDepartmentId() != "d2" {
		t.Fatalf("event %v", g)
	}
}

// An equivocation in an epoch's suffix (ARCHITECTURE.md §4): votes of the
// genesis set at heights where the next set is in force. Evidence naming
// its epoch is checked against that set, over its domain, and recorded;
// without the epoch it is checked against the set in force at the height
// and refused. An epoch that never took effect, one not yet in force, and
// a vote below its epoch's first height are refused.
func TestSubmitEvidenceOfASuffix(t *testing.T) {
	e := newEnv(t, 4)
	start := e.addD4InForce(t, 2)
	k2 := e.f.Consensus[2]
	suffix := func(view, height uint64, block string) *pb.Vote {
		h := hash(block)
		sig, err := k2.Sign(crypto.VoteSignBytes(exectest.ChainID, view, height, h)) // the genesis set's domain
		if err != nil {
			t.Fatal(err)
		}
		return &pb.Vote{View: view, Height: height, BlockHash: h, Voter: 2, Signature: sig}
	}
	of := func(epoch *uint64, a, b *pb.Vote) *pb.TxBody {
		body := evidence(a, b)
		body.GetSubmitEvidence().Evidence.Epoch = epoch
		return body
	}
	a, b := suffix(4, start+1, "A"), suffix(4, start+1, "B")
	e.refuse("cit1", codeBadSig, of(nil, a, b))
	e.refuse("cit1", codeBadSig, of(proto.Uint64(start), a, b))
	e.refuse("cit1", codeInvalid, of(proto.Uint64(start-1), a, b))       // no set took effect there
	e.refuse("cit1", codeInvalid, of(proto.Uint64(e.c.Height+50), a, b)) // not in force yet
	below := func(block string) *pb.Vote {
		h := hash(block)
		sig, err := k2.Sign(crypto.VoteSignBytes(consensus.SignDomain(exectest.ChainID, start), 4, start-1, h))
		if err != nil {
			t.Fatal(err)
		}
		return &pb.Vote{View: 4, Height: start - 1, BlockHash: h, Voter: 2, Signature: sig}
	}
	e.refuse("cit1", codeInvalid, of(proto.Uint64(start), below("A"), below("B")))
	if g := e.ok("cit0", of(proto.Uint64(0), a, b)).GetEvents()[0].GetGovernance(); g.GetAction() != "evidence_recorded" || g.GetDepartmentId() != "d2" {
		t.Fatalf("event %v", g)
	}
	if ev, err := exec.Evidence(e.c.Store, "d2", 4, start+1); err != nil || ev.GetEpoch() != 0 || ev.Epoch == nil {
		t.Fatalf("recorded evidence %v, %v", ev, err)
	}
}

// addD4InForce passes the addition of department d4 and applies empty
// blocks up to past its effective height, which it returns: the chain is
// then at that height + past.
func (e *env) addD4InForce(t *testing.T, past uint64) uint64 {
	t.Helper()
	e.ok("d0.admin", propose("p1", 100, addDept("d4")))
	for _, a := range []string{"d0.admin", "d1.admin", "d2.admin"} {
		e.ok(a, vote("p1", true))
	}
	vs, err := exec.ValidatorSet(e.c.Store)
	if err != nil {
		t.Fatal(err)
	}
	start := vs.GetEffectiveHeight()
	for e.c.Height < start+past {
		if _, err := e.c.Apply(); err != nil {
			t.Fatal(err)
		}
	}
	return start
}
