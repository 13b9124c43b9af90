package exec_test

import (
	"testing"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

const (
	codeOK           = pb.ResultCode_RESULT_CODE_OK
	codeMalformed    = pb.ResultCode_RESULT_CODE_MALFORMED
	codeBadSig       = pb.ResultCode_RESULT_CODE_BAD_SIGNATURE
	codeWrongChain   = pb.ResultCode_RESULT_CODE_WRONG_CHAIN
	codeUnknown      = pb.ResultCode_RESULT_CODE_UNKNOWN_SIGNER
	codeInactive     = pb.ResultCode_RESULT_CODE_SIGNER_INACTIVE
	codeBadNonce     = pb.ResultCode_RESULT_CODE_BAD_NONCE
	codeTooLarge     = pb.ResultCode_RESULT_CODE_TOO_LARGE
	codeUnauthorized = pb.ResultCode_RESULT_CODE_UNAUTHORIZED
	codeNotFound     = pb.ResultCode_RESULT_CODE_NOT_FOUND
	codeExists       = pb.ResultCode_RESULT_CODE_ALREADY_EXISTS
	codeInvalid      = pb.ResultCode_RESULT_CODE_INVALID_ARGUMENT
	codeConflict     = pb.ResultCode_RESULT_CODE_CONFLICT
	codeConsent      = pb.ResultCode_RESULT_CODE_CONSENT_REQUIRED
	codeGuard        = pb.ResultCode_RESULT_CODE_GUARD_FAILED
)

// env is one test chain on the fixture.
type env struct {
	t *testing.T
	f *exectest.Fixture
	c *exectest.Chain
}

// delay is the fixture's validator_change_delay: a set decided at h is in
// force from h+delay.
var delay = exectest.DefaultParams().GetValidatorChangeDelay()

func newEnv(t *testing.T, depts int) *env {
	t.Helper()
	f := exectest.NewFixture(depts)
	c, err := f.NewChain(exec.DefaultConfig(exectest.ChainID))
	if err != nil {
		t.Fatalf("new chain: %v", err)
	}
	return &env{t: t, f: f, c: c}
}

func (e *env) s(id string) *exectest.Signer { return e.f.S(id) }

// block applies txs as one block and fails the test on a node error.
func (e *env) block(txs ...[]byte) *exec.BlockResult {
	e.t.Helper()
	res, err := e.c.Apply(txs...)
	if err != nil {
		e.t.Fatalf("apply block: %v", err)
	}
	return res
}

// tx applies one tx in its own block and checks its code.
func (e *env) tx(want pb.ResultCode, tx []byte) *pb.TxResult {
	e.t.Helper()
	res := e.block(tx)
	r := res.Results[0]
	if r.GetCode() != want {
		e.t.Fatalf("result %v (%s), want %v", r.GetCode(), r.GetReason(), want)
	}
	if want != codeOK && r.GetReason() == "" {
		e.t.Fatalf("refusal %v without a reason", r.GetCode())
	}
	return r
}

// ok signs body by id and expects success.
func (e *env) ok(id string, body *pb.TxBody) *pb.TxResult {
	e.t.Helper()
	return e.tx(codeOK, e.s(id).Tx(body))
}

// refuse signs body by id and expects code; a refused action still
// consumes the nonce and changes nothing else.
func (e *env) refuse(id string, want pb.ResultCode, body *pb.TxBody) *pb.TxResult {
	e.t.Helper()
	tx := e.s(id).Tx(body)
	res := e.block(tx)
	r := res.Results[0]
	if r.GetCode() != want {
		e.t.Fatalf("result %v (%s), want %v", r.GetCode(), r.GetReason(), want)
	}
	if r.GetReason() == "" {
		e.t.Fatalf("refusal %v without a reason", r.GetCode())
	}
	if len(r.GetEvents()) != 0 {
		e.t.Fatalf("refused tx emitted events: %v", r.GetEvents())
	}
	if len(res.Events) == 0 && (len(res.Changes) != 1 || string(res.Changes[0].Key) != string(exec.NonceKey(id))) {
		e.t.Fatalf("refused tx changed more than its nonce: %d changes", len(res.Changes))
	}
	return r
}

func newPub(seed string) *pb.PublicKey { return exectest.NewKey(seed).Public() }

func hash(s string) []byte { return crypto.Ed25519SHA256.Hash([]byte(s)) }

func mustIdentity(t *testing.T, r exec.Reader, id string) *pb.Identity {
	t.Helper()
	idn, err := exec.Identity(r, id)
	if err != nil {
		t.Fatalf("identity %s: %v", id, err)
	}
	return idn
}

// Action constructors.

func regOfficial(id, dept string, roles []pb.Role, types ...string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_RegisterOfficial{RegisterOfficial: &pb.RegisterOfficial{
		IdentityId: id, DepartmentId: dept, DisplayName: id, Roles: roles, PublicKey: newPub(id), IssuerRecordTypes: types,
	}}}
}

func regSubject(id string, kind pb.IdentityKind) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_RegisterSubject{RegisterSubject: &pb.RegisterSubject{
		IdentityId: id, Kind: kind, DisplayName: id, PublicKey: newPub(id),
		Attributes: []*pb.Attribute{{Name: "birth_year", Value: "1990"}},
	}}}
}

func rotate(id string, k *pb.PublicKey, reason string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_RotateKey{RotateKey: &pb.RotateKey{IdentityId: id, NewPublicKey: k, Reason: reason}}}
}

func setStatus(id string, s pb.IdentityStatus, reason string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_SetIdentityStatus{SetIdentityStatus: &pb.SetIdentityStatus{IdentityId: id, Status: s, Reason: reason}}}
}

func setRoles(id string, roles []pb.Role, types ...string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_SetRoles{SetRoles: &pb.SetRoles{IdentityId: id, Roles: roles, IssuerRecordTypes: types}}}
}

func issueCred(id, subj string, expires int64) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_IssueCredential{IssueCredential: &pb.IssueCredential{
		CredentialId: id, SubjectId: subj, CredentialType: "driving_licence", ExpiresAt: expires,
		Claims: []*pb.Attribute{{Name: "class", Value: "B"}},
	}}}
}

func revokeCred(id, reason string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_RevokeCredential{RevokeCredential: &pb.RevokeCredential{CredentialId: id, Reason: reason}}}
}

func createRec(id, typ, subj string, content []byte) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_CreateRecord{CreateRecord: &pb.CreateRecord{
		RecordId: id, RecordType: typ, SubjectId: subj, Content: content, ContentType: "text/plain",
		Metadata: []*pb.Attribute{{Name: "parcel", Value: id}},
	}}}
}

func createRecHash(id, typ, subj string, h []byte) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_CreateRecord{CreateRecord: &pb.CreateRecord{
		RecordId: id, RecordType: typ, SubjectId: subj, ContentHash: h,
	}}}
}

func amendRec(id string, expect uint64, content []byte) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_AmendRecord{AmendRecord: &pb.AmendRecord{RecordId: id, ExpectedVersion: expect, Content: content, Reason: "survey"}}}
}

func consent(id, to string, until int64) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_ConsentTransfer{ConsentTransfer: &pb.ConsentTransfer{RecordId: id, NewHolderId: to, ValidUntil: until}}}
}

func transfer(id, to string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_TransferRecord{TransferRecord: &pb.TransferRecord{RecordId: id, NewHolderId: to, Reason: "sale"}}}
}

func revokeRec(id, reason string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_RevokeRecord{RevokeRecord: &pb.RevokeRecord{RecordId: id, Reason: reason}}}
}

func access(id, purpose string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_AccessRecord{AccessRecord: &pb.AccessRecord{RecordId: id, Purpose: purpose, LegalBasis: "Act 12 s.3"}}}
}

func grant(id, dept, rec, typ string, until int64) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_GrantAccess{GrantAccess: &pb.GrantAccess{
		GrantId: id, GranteeDepartmentId: dept, RecordId: rec, RecordType: typ, Purpose: "benefit claim", ValidUntil: until,
	}}}
}

func revokeGrant(id string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_RevokeGrant{RevokeGrant: &pb.RevokeGrant{GrantId: id}}}
}

func intField(n string, v int64) *pb.ContractField {
	return &pb.ContractField{Name: n, Value: &pb.ContractField_IntValue{IntValue: v}}
}

func strField(n, v string) *pb.ContractField {
	return &pb.ContractField{Name: n, Value: &pb.ContractField_StringValue{StringValue: v}}
}

func createTender(id, buyer, supplier string, deadline, grace int64) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_CreateContract{CreateContract: &pb.CreateContract{
		ContractId: id, TemplateId: exec.TenderTemplateID, Title: "Road salt 2026",
		Parties: []*pb.ContractParty{{Role: "buyer", IdentityId: buyer}, {Role: "supplier", IdentityId: supplier}},
		Fields: []*pb.ContractField{
			intField("amount", 125_000_00), strField("currency", "EUR"),
			intField("delivery_deadline", deadline), intField("grace_seconds", grace),
		},
	}}}
}

func sign(id string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_SignContract{SignContract: &pb.SignContract{ContractId: id}}}
}

func submitMS(id, ms string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_SubmitMilestone{SubmitMilestone: &pb.SubmitMilestone{ContractId: id, MilestoneId: ms, EvidenceHash: hash(ms), Note: "done"}}}
}

func acceptMS(id, ms string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_AcceptMilestone{AcceptMilestone: &pb.AcceptMilestone{ContractId: id, MilestoneId: ms}}}
}

func fire(id, tr string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_FireTransition{FireTransition: &pb.FireTransition{ContractId: id, Transition: tr, Note: "n"}}}
}

func propose(id string, end uint64, change func(*pb.SubmitProposal)) *pb.TxBody {
	p := &pb.SubmitProposal{ProposalId: id, Title: "proposal " + id, VotingEndHeight: end}
	change(p)
	return &pb.TxBody{Action: &pb.TxBody_SubmitProposal{SubmitProposal: p}}
}

func vote(id string, yes bool) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_VoteProposal{VoteProposal: &pb.VoteProposal{ProposalId: id, Approve: yes}}}
}

func keyFor(seed string) crypto.PrivateKey { return exectest.NewKey(seed) }

// blockAt applies an empty block at time t (ms).
func (e *env) blockAt(t int64, txs ...[]byte) *exec.BlockResult {
	e.t.Helper()
	res, err := e.c.ApplyAt(t, txs...)
	if err != nil {
		e.t.Fatalf("apply block: %v", err)
	}
	return res
}
