package exec_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestEraseRecordContent: the subject with a legal basis, or an issuer of
// the type in the issuing department, erases a protected record's
// content (ARCHITECTURE.md §5 "Erasing personal data"): the record says
// so, its versions and their hashes stay, an "erased" event is emitted.
func TestEraseRecordContent(t *testing.T) {
	e := newPersonalEnv(t, 3)
	e.ok("d1.issuer", createBirthCert("bc1", "cit0", ""))
	e.ok("d1.issuer", amendHash("bc1", 1, hash("v2")))
	e.ok("d1.issuer", createBirthCert("bc2", "cit1", ""))
	before, err := exec.RecordVersions(e.c.Store, "bc1")
	if err != nil {
		t.Fatal(err)
	}

	r := e.ok("cit0", erase("bc1", "I moved abroad", "GDPR art. 17(1)(a)"))
	h := e.c.Height
	rec, err := exec.Record(e.c.Store, "bc1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.GetErasedHeight() != h || rec.GetErasedBy() != "cit0" || rec.GetEraseReason() != "I moved abroad" ||
		rec.GetEraseLegalBasis() != "GDPR art. 17(1)(a)" || rec.GetUpdatedHeight() != h || rec.GetVersion() != 2 ||
		rec.GetStatus() != pb.RecordStatus_RECORD_STATUS_ACTIVE {
		t.Fatalf("record %v", rec)
	}
	after, err := exec.RecordVersions(e.c.Store, "bc1")
	if err != nil || len(after) != len(before) {
		t.Fatalf("versions %v %v", after, err)
	}
	for i := range after {
		if !bytes.Equal(after[i].GetContentHash(), before[i].GetContentHash()) {
			t.Fatalf("version %d's hash changed", i+1)
		}
	}
	ev := r.GetEvents()[0].GetRecord()
	if len(r.GetEvents()) != 1 || ev.GetAction() != "erased" || ev.GetVersion() != 2 || ev.GetActorId() != "cit0" ||
		ev.GetDepartmentId() != "" || ev.GetRecordId() != "bc1" || ev.GetSubjectId() != "cit0" {
		t.Fatalf("events %v", r.GetEvents())
	}

	// An issuer of the type in the issuing department, with no legal basis.
	r = e.ok("d1.issuer", erase("bc2", "issued in error", ""))
	if ev := r.GetEvents()[0].GetRecord(); ev.GetAction() != "erased" || ev.GetActorId() != "d1.issuer" || ev.GetDepartmentId() != "d1" || ev.GetVersion() != 1 {
		t.Fatalf("event %v", ev)
	}
	if rec, _ := exec.Record(e.c.Store, "bc2"); rec.GetErasedBy() != "d1.issuer" || rec.GetErasedHeight() != e.c.Height {
		t.Fatalf("record %v", rec)
	}
}

// TestEraseRecordContentRefused: every refusal of an erasure, at
// admission and in a block.
func TestEraseRecordContentRefused(t *testing.T) {
	e := newPersonalEnv(t, 3)
	e.ok("d1.issuer", createBirthCert("bc1", "cit0", "cit1"))
	e.ok("d1.issuer", createBirthCert("bc2", "cit0", ""))
	e.ok("d1.issuer", createRecHash("mf1", medicalFile, "cit0", hash("x")))
	e.ok("d0.issuer", createRec("lt1", exectest.LandTitle, "cit0", []byte("parcel 7")))
	e.ok("d1.issuer", createRec("bl1", exectest.BusinessLicense, "co0", []byte("bakery")))
	e.ok("d1.issuer", erase("bc2", "duplicate", ""))
	erasedAt := e.c.Height
	e.ok("d1.admin", regOfficial("d1.lt", "d1", roleIssuer, exectest.BusinessLicense))
	cases := []struct {
		name   string
		signer string
		body   *pb.TxBody
		code   pb.ResultCode
		reason string
	}{
		{"issuer of another department", "d0.issuer", erase("bc1", "x", ""), codeUnauthorized,
			"d0.issuer is neither the subject of record bc1 nor an issuer of record type birth_cert in its issuing department d1"},
		{"auditor of the issuing department", "d1.auditor", erase("bc1", "x", "Act"), codeUnauthorized, "d1.auditor is neither the subject"},
		{"admin of the issuing department", "d1.admin", erase("bc1", "x", "Act"), codeUnauthorized, "d1.admin is neither the subject"},
		{"issuer of another type", "d1.lt", erase("bc1", "x", ""), codeUnauthorized, "d1.lt is neither the subject"},
		{"holder", "cit1", erase("bc1", "x", "GDPR"), codeUnauthorized, "cit1 is neither the subject"},
		{"subject without a legal basis", "cit0", erase("bc1", "please", ""), codeInvalid, "cit0, the subject of record bc1, needs a legal basis"},
		{"subject with a blank legal basis", "cit0", erase("bc1", "please", " \t"), codeInvalid, "needs a legal basis"},
		{"public type on chain", "d0.issuer", erase("lt1", "x", ""), codeInvalid, "record type land_title is public: its content is in the chain and cannot be erased"},
		{"public type, subject", "co0", erase("bl1", "x", "GDPR"), codeInvalid, "record type business_license is public"},
		{"twice", "d1.issuer", erase("bc2", "again", ""), codeConflict, fmt.Sprintf("content of record bc2 was already erased at height %d", erasedAt)},
		{"twice, by the subject", "cit0", erase("bc2", "again", "GDPR"), codeConflict, "already erased"},
		{"unknown record", "d1.issuer", erase("nope", "x", ""), codeNotFound, "record nope not found"},
		{"bad record id", "d1.issuer", erase("No/pe", "x", ""), codeInvalid, "record id"},
		{"reason too long", "d1.issuer", erase("bc1", strings.Repeat("r", exec.MaxTextBytes+1), ""), codeTooLarge, "reason is"},
		{"legal basis too long", "cit0", erase("bc1", "x", strings.Repeat("l", exec.MaxTextBytes+1)), codeTooLarge, "legal basis is"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// An unknown record may still be created by a pending tx:
			// admission leaves it to the block.
			wantCheck := tc.code
			if tc.name == "unknown record" {
				wantCheck = codeOK
			}
			if r := e.checkCopy(e.c.Store, tc.signer, tc.body); r.Code != wantCheck || wantCheck != codeOK && !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("CheckTx %v %q, want %v ...%s...", r.Code, r.Reason, wantCheck, tc.reason)
			}
			if r := e.refuse(tc.signer, tc.code, tc.body); !strings.Contains(r.GetReason(), tc.reason) {
				t.Fatalf("block: %v %q, want ...%s...", r.GetCode(), r.GetReason(), tc.reason)
			}
		})
	}
	if rec, _ := exec.Record(e.c.Store, "bc1"); rec.GetErasedHeight() != 0 {
		t.Fatalf("bc1 erased by a refused tx: %v", rec)
	}
}

// TestEraseThenAmendTransferRevoke: an erased record's content cannot be
// amended (at admission or in a block); it can still be transferred and
// revoked, and its erasure stays.
func TestEraseThenAmendTransferRevoke(t *testing.T) {
	e := newPersonalEnv(t, 2)
	e.ok("d1.issuer", createRecHash("mf1", medicalFile, "cit0", hash("v1")))
	amend := amendHash("mf1", 1, hash("v2"))
	if r := e.checkCopy(e.c.Store, "d1.issuer", amend); !r.OK() {
		t.Fatalf("CheckTx before erasure: %v %s", r.Code, r.Reason)
	}
	e.ok("cit0", erase("mf1", "", "GDPR art. 17"))
	h := e.c.Height
	want := fmt.Sprintf("content of record mf1 was erased at height %d: it cannot be amended", h)
	if r := e.checkCopy(e.c.Store, "d1.issuer", amend); r.Code != codeConflict || r.Reason != want {
		t.Fatalf("CheckTx %v %q", r.Code, r.Reason)
	}
	if r := e.refuse("d1.issuer", codeConflict, amend); r.GetReason() != want {
		t.Fatalf("reason %q", r.GetReason())
	}
	r := e.ok("d1.issuer", transfer("mf1", "cit1"))
	if ev := r.GetEvents()[0].GetRecord(); ev.GetAction() != "transferred" || ev.GetHolderId() != "cit1" {
		t.Fatalf("event %v", ev)
	}
	e.ok("d1.issuer", revokeRec("mf1", "superseded"))
	rec, err := exec.Record(e.c.Store, "mf1")
	if err != nil || rec.GetErasedHeight() != h || rec.GetVersion() != 3 || rec.GetHolderId() != "cit1" || rec.GetStatus() != pb.RecordStatus_RECORD_STATUS_REVOKED {
		t.Fatalf("record %v %v", rec, err)
	}
	// The holder after the transfer reads nothing: the content is gone.
	e.refuse(vid("d1"), codeNotFound, recordAccesses(release("mf1", "cit1", "own copy", "", exec.ChannelQuery)))
}

func amendHash(id string, expect uint64, h []byte) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_AmendRecord{AmendRecord: &pb.AmendRecord{RecordId: id, ExpectedVersion: expect, ContentHash: h, Reason: "correction"}}}
}
