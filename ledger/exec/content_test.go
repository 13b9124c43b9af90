package exec_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestCheckTxRefusesContentItsTypeRefuses: record content its type would
// refuse (over max_content_bytes, on a hash-only type, for an unknown
// type) is refused at admission, judged by the committed record type, so
// the plaintext never reaches a block; before, such a tx was committed as
// failed and its content stayed in the chain. The check at execution
// stays, since the type can change between admission and execution.
func TestCheckTxRefusesContentItsTypeRefuses(t *testing.T) {
	e := newEnv(t, 2)
	e.ok("d0.issuer", createRec("lt1", exectest.LandTitle, "cit0", []byte("v1")))
	const limit = 4096 // the fixture's land title max_content_bytes
	mismatch := createRec("r", exectest.LandTitle, "cit0", []byte("x"))
	mismatch.GetCreateRecord().ContentHash = hash("y")
	cases := []struct {
		name   string
		signer string
		body   *pb.TxBody
		code   pb.ResultCode
		want   string
	}{
		{"create at the limit", "d0.issuer", createRec("r", exectest.LandTitle, "cit0", make([]byte, limit)), codeOK, ""},
		{"create over the limit", "d0.issuer", createRec("r", exectest.LandTitle, "cit0", make([]byte, limit+1)), codeTooLarge,
			"content is 4097 bytes, record type land_title allows 4096"},
		{"create with content on a hash-only type", "d1.issuer", createRec("r", exectest.BirthCert, "cit0", []byte("secret")), codeInvalid,
			"keeps only content hashes; content must be empty"},
		{"create with content for an unknown type", "d0.issuer", createRec("r", "no_type", "cit0", []byte("secret")), codeNotFound,
			"record type no_type not found"},
		{"create without content for an unknown type", "d0.issuer", createRecHash("r", "no_type", "cit0", hash("x")), codeOK, ""},
		{"create without content on an on-chain type", "d0.issuer", createRec("r", exectest.LandTitle, "cit0", nil), codeInvalid, "content is empty"},
		{"create with a mismatched hash", "d0.issuer", mismatch, codeInvalid, "content_hash does not match"},
		{"amend at the limit", "d0.issuer", amendRec("lt1", 1, make([]byte, limit)), codeOK, ""},
		{"amend over the limit", "d0.issuer", amendRec("lt1", 1, make([]byte, limit+1)), codeTooLarge,
			"content is 4097 bytes, record type land_title allows 4096"},
		// Its create may still be pending in the mempool: the type is not
		// known yet, so ApplyBlock judges it.
		{"amend of a record not committed yet", "d0.issuer", amendRec("lt9", 1, make([]byte, limit+1)), codeOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.c.Exec.CheckTx(e.c.Store, e.s(tc.signer).Tx(tc.body))
			e.s(tc.signer).Nonce--
			if err != nil {
				t.Fatal(err)
			}
			if r.Code != tc.code || !strings.Contains(r.Reason, tc.want) {
				t.Fatalf("CheckTx %v %q, want %v ...%s...", r.Code, r.Reason, tc.code, tc.want)
			}
		})
	}

	// Admitted under the committed type, refused at execution after
	// governance lowered the type's limit in between.
	admitted := e.s("d0.issuer").Tx(createRec("lt2", exectest.LandTitle, "cit0", make([]byte, 2000)))
	if r, err := e.c.Exec.CheckTx(e.c.Store, admitted); err != nil || !r.OK() {
		t.Fatalf("CheckTx %v %v", r, err)
	}
	lower := proto.Clone(e.f.Genesis.GetRecordTypes()[0]).(*pb.RecordType)
	lower.MaxContentBytes = 1024
	e.ok("d0.admin", propose("lower", 100, func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_InstallRecordType{InstallRecordType: lower}
	}))
	e.ok("d0.admin", vote("lower", true))
	e.ok("d1.admin", vote("lower", true))
	if rt, err := exec.RecordType(e.c.Store, exectest.LandTitle); err != nil || rt.GetMaxContentBytes() != 1024 {
		t.Fatalf("record type %v %v", rt, err)
	}
	if r := e.tx(codeTooLarge, admitted); !strings.Contains(r.GetReason(), "allows 1024") {
		t.Fatalf("execution: %q", r.GetReason())
	}
}
