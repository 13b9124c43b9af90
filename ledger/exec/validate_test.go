package exec_test

import (
	"strings"
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestArgumentRefusals checks the stateless argument checks of every action
// through CheckTx (the mempool refuses them before any block).
func TestArgumentRefusals(t *testing.T) {
	f := exectest.NewFixture(2)
	c, err := f.NewChain(exec.DefaultConfig(exectest.ChainID))
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", exec.MaxTextBytes+1)
	many := make([]string, exec.MaxListLen+1)
	for i := range many {
		many[i] = "t" + strings.Repeat("x", i)
	}
	mut := func(b *pb.TxBody, m func(*pb.TxBody)) *pb.TxBody { m(b); return b }
	cases := []struct {
		name string
		body *pb.TxBody
		code pb.ResultCode
	}{
		{"rotate bad id", rotate("", newPub("x"), ""), codeInvalid},
		{"rotate long reason", rotate("cit0", newPub("x"), long), codeTooLarge},
		{"status bad id", setStatus("a b", active, ""), codeInvalid},
		{"status long reason", setStatus("cit0", suspended, long), codeTooLarge},
		{"roles bad id", setRoles("", roleAuditor), codeInvalid},
		{"roles too many types", setRoles("x", roleIssuer, many...), codeTooLarge},
		{"roles dup type", setRoles("x", roleIssuer, "a", "a"), codeInvalid},
		{"cred bad id", issueCred("", "cit0", 0), codeInvalid},
		{"cred bad subject", issueCred("c", "", 0), codeInvalid},
		{"cred bad type", mut(issueCred("c", "cit0", 0), func(b *pb.TxBody) { b.GetIssueCredential().CredentialType = "" }), codeInvalid},
		{"cred bad claim", mut(issueCred("c", "cit0", 0), func(b *pb.TxBody) { b.GetIssueCredential().Claims = []*pb.Attribute{{Name: ""}} }), codeInvalid},
		{"revoke cred bad id", revokeCred("", "x"), codeInvalid},
		{"subject bad id", regSubject("", citizen), codeInvalid},
		{"subject bad key", mut(regSubject("s", citizen), func(b *pb.TxBody) { b.GetRegisterSubject().PublicKey = nil }), codeInvalid},
		{"create bad id", createRec("", "t", "s", nil), codeInvalid},
		{"create bad holder", mut(createRec("r", "t", "s", nil), func(b *pb.TxBody) { b.GetCreateRecord().HolderId = "a b" }), codeInvalid},
		{"create long content type", mut(createRec("r", "t", "s", nil), func(b *pb.TxBody) { b.GetCreateRecord().ContentType = long }), codeTooLarge},
		{"create bad metadata", mut(createRec("r", "t", "s", nil), func(b *pb.TxBody) { b.GetCreateRecord().Metadata = []*pb.Attribute{{Name: "a"}, {Name: "a"}} }), codeInvalid},
		{"amend bad id", amendRec("", 1, nil), codeInvalid},
		{"amend long reason", mut(amendRec("r", 1, nil), func(b *pb.TxBody) { b.GetAmendRecord().Reason = long }), codeTooLarge},
		{"amend bad metadata", mut(amendRec("r", 1, nil), func(b *pb.TxBody) { b.GetAmendRecord().Metadata = []*pb.Attribute{{}} }), codeInvalid},
		{"consent bad id", consent("", "x", 1), codeInvalid},
		{"consent bad holder", consent("r", "", 1), codeInvalid},
		{"transfer bad id", transfer("", "x"), codeInvalid},
		{"transfer bad holder", transfer("r", ""), codeInvalid},
		{"transfer long reason", mut(transfer("r", "x"), func(b *pb.TxBody) { b.GetTransferRecord().Reason = long }), codeTooLarge},
		{"revoke rec bad id", revokeRec("", "x"), codeInvalid},
		{"access bad id", access("", "x"), codeInvalid},
		{"access long basis", mut(access("r", "x"), func(b *pb.TxBody) { b.GetAccessRecord().LegalBasis = long }), codeTooLarge},
		{"grant bad id", grant("", "d1", "r", "", 1), codeInvalid},
		{"grant bad dept", grant("g", "", "r", "", 1), codeInvalid},
		{"grant bad record", grant("g", "d1", "a b", "", 1), codeInvalid},
		{"grant bad type", grant("g", "d1", "", "a b", 1), codeInvalid},
		{"grant long purpose", mut(grant("g", "d1", "r", "", 1), func(b *pb.TxBody) { b.GetGrantAccess().Purpose = long }), codeTooLarge},
		{"revoke grant bad id", revokeGrant(""), codeInvalid},
		{"contract bad id", createTender("", "a", "b", 1, 1), codeInvalid},
		{"contract bad template", mut(createTender("c", "a", "b", 1, 1), func(b *pb.TxBody) { b.GetCreateContract().TemplateId = "" }), codeInvalid},
		{"contract no title", mut(createTender("c", "a", "b", 1, 1), func(b *pb.TxBody) { b.GetCreateContract().Title = "" }), codeInvalid},
		{"contract bad role", mut(createTender("c", "a", "b", 1, 1), func(b *pb.TxBody) { b.GetCreateContract().Parties[0].Role = "" }), codeInvalid},
		{"contract bad party", mut(createTender("c", "a", "b", 1, 1), func(b *pb.TxBody) { b.GetCreateContract().Parties[0].IdentityId = "" }), codeInvalid},
		{"contract big field", mut(createTender("c", "a", "b", 1, 1), func(b *pb.TxBody) {
			b.GetCreateContract().Fields[1] = strField("currency", strings.Repeat("x", exec.MaxFieldBytes+1))
		}), codeTooLarge},
		{"contract big bytes", mut(createTender("c", "a", "b", 1, 1), func(b *pb.TxBody) {
			b.GetCreateContract().Fields[1] = &pb.ContractField{Name: "currency", Value: &pb.ContractField_BytesValue{BytesValue: make([]byte, exec.MaxFieldBytes+1)}}
		}), codeTooLarge},
		{"contract bad field name", mut(createTender("c", "a", "b", 1, 1), func(b *pb.TxBody) { b.GetCreateContract().Fields[1].Name = "" }), codeInvalid},
		{"sign bad id", sign(""), codeInvalid},
		{"submit bad id", submitMS("", "m"), codeInvalid},
		{"submit bad milestone", submitMS("c", ""), codeInvalid},
		{"submit long note", mut(submitMS("c", "m"), func(b *pb.TxBody) { b.GetSubmitMilestone().Note = long }), codeTooLarge},
		{"accept bad id", acceptMS("", "m"), codeInvalid},
		{"accept bad milestone", acceptMS("c", ""), codeInvalid},
		{"accept long note", mut(acceptMS("c", "m"), func(b *pb.TxBody) { b.GetAcceptMilestone().Note = long }), codeTooLarge},
		{"fire bad id", fire("", "t"), codeInvalid},
		{"fire bad transition", fire("c", ""), codeInvalid},
		{"fire long note", mut(fire("c", "t"), func(b *pb.TxBody) { b.GetFireTransition().Note = long }), codeTooLarge},
		{"vote bad id", vote("", true), codeInvalid},
		{"proposal bad id", propose("", 10, addDept("d9")), codeInvalid},
		{"proposal no title", mut(propose("p", 10, addDept("d9")), func(b *pb.TxBody) { b.GetSubmitProposal().Title = "" }), codeInvalid},
		{"proposal bad remove", propose("p", 10, removeDept("")), codeInvalid},
		{"proposal bad dept", propose("p", 10, func(p *pb.SubmitProposal) { addDept("d9")(p); p.GetAddDepartment().Department = nil }), codeInvalid},
		{"proposal bad admin", propose("p", 10, func(p *pb.SubmitProposal) { addDept("d9")(p); p.GetAddDepartment().Admin = nil }), codeInvalid},
		{"proposal bad peer", propose("p", 10, func(p *pb.SubmitProposal) {
			addDept("d9")(p)
			p.GetAddDepartment().Department.PeerId = long
		}), codeTooLarge},
		{"proposal bad dept id", propose("p", 10, func(p *pb.SubmitProposal) { addDept("d9")(p); p.GetAddDepartment().Department.Id = "" }), codeInvalid},
		{"proposal bad admin dept", propose("p", 10, func(p *pb.SubmitProposal) { addDept("d9")(p); p.GetAddDepartment().Admin.DepartmentId = "a b" }), codeInvalid},
		{"record type bad lists", propose("p", 10, func(p *pb.SubmitProposal) {
			p.Change = &pb.SubmitProposal_InstallRecordType{InstallRecordType: &pb.RecordType{Id: "x", Name: "x", CreateDepartments: []string{"d0", "d0"}}}
		}), codeInvalid},
		{"record type transfer depts", propose("p", 10, func(p *pb.SubmitProposal) {
			p.Change = &pb.SubmitProposal_InstallRecordType{InstallRecordType: &pb.RecordType{Id: "x", Name: "x", CreateDepartments: []string{"d0"}, TransferDepartments: []string{"d0"}}}
		}), codeInvalid},
		{"record type nil", propose("p", 10, func(p *pb.SubmitProposal) {
			p.Change = &pb.SubmitProposal_InstallRecordType{}
		}), codeInvalid},
		{"record type no name", propose("p", 10, func(p *pb.SubmitProposal) {
			p.Change = &pb.SubmitProposal_InstallRecordType{InstallRecordType: &pb.RecordType{Id: "x", CreateDepartments: []string{"d0"}}}
		}), codeInvalid},
		{"record type bad id", propose("p", 10, func(p *pb.SubmitProposal) {
			p.Change = &pb.SubmitProposal_InstallRecordType{InstallRecordType: &pb.RecordType{Id: "", Name: "x"}}
		}), codeInvalid},
		{"template nil", propose("p", 10, func(p *pb.SubmitProposal) {
			p.Change = &pb.SubmitProposal_InstallContractTemplate{}
		}), codeInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.Exec.CheckTx(c.Store, f.S("d0.admin").Tx(tc.body))
			f.S("d0.admin").Nonce--
			if err != nil {
				t.Fatal(err)
			}
			if r.Code != tc.code || r.Reason == "" {
				t.Fatalf("check %v (%s), want %v", r.Code, r.Reason, tc.code)
			}
		})
	}
}
