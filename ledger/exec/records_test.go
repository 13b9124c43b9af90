package exec_test

import (
	"bytes"
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func TestCreateRecord(t *testing.T) {
	e := newEnv(t, 2)
	r := e.ok("d0.issuer", createRec("lt1", exectest.LandTitle, "cit0", []byte("parcel 12, 400 m2")))
	ev := r.GetEvents()[0].GetRecord()
	if ev.GetAction() != "created" || ev.GetVersion() != 1 || ev.GetHolderId() != "cit0" {
		t.Fatalf("event %v", ev)
	}
	rec, err := exec.Record(e.c.Store, "lt1")
	if err != nil || rec.GetIssuerDepartmentId() != "d0" || rec.GetStatus() != pb.RecordStatus_RECORD_STATUS_ACTIVE {
		t.Fatalf("record %v, %v", rec, err)
	}
	v1, err := exec.RecordVersion(e.c.Store, "lt1", 1)
	if err != nil || !bytes.Equal(v1.GetContentHash(), hash("parcel 12, 400 m2")) || v1.GetAction() != "created" {
		t.Fatalf("version %v, %v", v1, err)
	}
	// Hash-only type.
	e.ok("d1.issuer", createRecHash("bc1", exectest.BirthCert, "cit1", hash("pdf")))
	// Explicit holder, and a content hash that matches.
	b := createRec("lt2", exectest.LandTitle, "cit0", []byte("x"))
	b.GetCreateRecord().HolderId, b.GetCreateRecord().ContentHash = "co0", hash("x")
	e.ok("d0.issuer", b)

	big := make([]byte, 4097)
	e.refuse("d0.issuer", codeNotFound, createRec("r", "no_type", "cit0", []byte("x")))
	e.refuse("d0.auditor", codeUnauthorized, createRec("r", exectest.LandTitle, "cit0", []byte("x")))
	e.refuse("d1.issuer", codeUnauthorized, createRec("r", exectest.LandTitle, "cit0", []byte("x"))) // d1 may not create land titles
	e.refuse("cit0", codeUnauthorized, createRec("r", exectest.LandTitle, "cit0", []byte("x")))
	e.refuse("d0.issuer", codeExists, createRec("lt1", exectest.LandTitle, "cit0", []byte("x")))
	e.refuse("d0.issuer", codeNotFound, createRec("r", exectest.LandTitle, "nobody", []byte("x")))
	e.refuse("d0.issuer", codeTooLarge, createRec("r", exectest.LandTitle, "cit0", big))
	e.refuse("d0.issuer", codeInvalid, createRec("r", exectest.LandTitle, "cit0", nil))
	e.refuse("d1.issuer", codeInvalid, createRec("r", exectest.BirthCert, "cit0", []byte("x")))
	e.refuse("d1.issuer", codeInvalid, createRecHash("r", exectest.BirthCert, "cit0", []byte{1}))
	b = createRec("r", exectest.LandTitle, "cit0", []byte("x"))
	b.GetCreateRecord().ContentHash = hash("y")
	e.refuse("d0.issuer", codeInvalid, b)
	b = createRec("r", exectest.LandTitle, "cit0", []byte("x"))
	b.GetCreateRecord().HolderId = "nobody"
	e.refuse("d0.issuer", codeNotFound, b)
	e.ok("d0.registrar", setStatus("cit3", revoked, "gone"))
	e.refuse("d0.issuer", codeConflict, createRec("r", exectest.LandTitle, "cit3", []byte("x")))
	// An issuer without the type in its list.
	e.ok("d0.admin", regOfficial("d0.bl", "d0", roleIssuer, exectest.BusinessLicense))
	e.refuse("d0.bl", codeUnauthorized, createRec("r", exectest.LandTitle, "cit0", []byte("x")))
}

func TestAmendRecord(t *testing.T) {
	e := newEnv(t, 2)
	e.ok("d0.issuer", createRec("lt1", exectest.LandTitle, "cit0", []byte("v1")))
	e.ok("d0.issuer", amendRec("lt1", 1, []byte("v2")))
	b := amendRec("lt1", 2, []byte("v3"))
	b.GetAmendRecord().Metadata = []*pb.Attribute{{Name: "parcel", Value: "12a"}}
	e.ok("d0.issuer", b)
	vs, err := exec.RecordVersions(e.c.Store, "lt1")
	if err != nil || len(vs) != 3 || string(vs[0].GetContent()) != "v1" || string(vs[2].GetContent()) != "v3" || vs[1].GetContentType() != "text/plain" {
		t.Fatalf("versions %v, %v", vs, err)
	}
	if vs[1].GetMetadata()[0].GetValue() != "lt1" || vs[2].GetMetadata()[0].GetValue() != "12a" {
		t.Fatalf("metadata not carried/replaced: %v", vs)
	}
	e.refuse("d0.issuer", codeConflict, amendRec("lt1", 1, []byte("stale")))
	e.refuse("d0.issuer", codeInvalid, amendRec("lt1", 0, []byte("x")))
	e.refuse("d1.issuer", codeUnauthorized, amendRec("lt1", 3, []byte("x")))
	e.refuse("d0.issuer", codeNotFound, amendRec("nope", 1, []byte("x")))
	e.refuse("d0.issuer", codeTooLarge, amendRec("lt1", 3, make([]byte, 5000)))
	e.ok("d0.issuer", revokeRec("lt1", "duplicate"))
	e.refuse("d0.issuer", codeConflict, amendRec("lt1", 4, []byte("x")))
}

func TestTransferRecord(t *testing.T) {
	e := newEnv(t, 2)
	now := exectest.GenesisTimeMs / 1000
	e.ok("d0.issuer", createRec("lt1", exectest.LandTitle, "cit0", []byte("parcel")))
	// No consent yet.
	e.refuse("d0.issuer", codeConsent, transfer("lt1", "cit1"))
	// Consent refusals.
	e.refuse("cit1", codeUnauthorized, consent("lt1", "cit1", now+3600))
	e.refuse("cit0", codeInvalid, consent("lt1", "cit0", now+3600))
	e.refuse("cit0", codeInvalid, consent("lt1", "cit1", now-1))
	e.refuse("cit0", codeNotFound, consent("lt1", "nobody", now+3600))
	e.refuse("cit0", codeNotFound, consent("nope", "cit1", now+3600))
	e.ok("d1.issuer", createRecHash("bc1", exectest.BirthCert, "cit0", hash("x")))
	e.refuse("cit0", codeInvalid, consent("bc1", "cit1", now+3600))
	// Consent to cit1; a transfer to cit2 is refused, to cit1 by d1 too.
	e.ok("cit0", consent("lt1", "cit1", now+3600))
	if c, err := exec.TransferConsent(e.c.Store, "lt1"); err != nil || c.GetNewHolderId() != "cit1" {
		t.Fatalf("consent %v, %v", c, err)
	}
	e.refuse("d0.issuer", codeConsent, transfer("lt1", "cit2"))
	e.refuse("d1.issuer", codeUnauthorized, transfer("lt1", "cit1"))
	e.refuse("d0.issuer", codeInvalid, transfer("lt1", "cit0"))
	e.refuse("d0.issuer", codeNotFound, transfer("lt1", "nobody"))
	e.refuse("d1.issuer", codeInvalid, transfer("bc1", "cit1"))
	r := e.ok("d0.issuer", transfer("lt1", "cit1"))
	if ev := r.GetEvents()[0].GetRecord(); ev.GetAction() != "transferred" || ev.GetHolderId() != "cit1" || ev.GetVersion() != 2 {
		t.Fatalf("event %v", ev)
	}
	rec, _ := exec.Record(e.c.Store, "lt1")
	v2, _ := exec.RecordVersion(e.c.Store, "lt1", 2)
	if rec.GetHolderId() != "cit1" || v2.GetHolderId() != "cit1" || string(v2.GetContent()) != "parcel" {
		t.Fatalf("record %v version %v", rec, v2)
	}
	// The consent was used up.
	if _, err := exec.TransferConsent(e.c.Store, "lt1"); err == nil {
		t.Fatal("consent not consumed")
	}
	e.refuse("d0.issuer", codeConsent, transfer("lt1", "cit2"))
	// A consent from a former holder no longer counts; an expired one neither.
	e.ok("cit1", consent("lt1", "cit2", now+30))
	e.c.TimeMs += 60_000
	e.refuse("d0.issuer", codeConsent, transfer("lt1", "cit2"))
	// A consent left by a previous holder does not count for the new one.
	e.ok("cit1", consent("lt1", "cit2", e.c.TimeMs/1000+3600))
	e.ok("d0.issuer", transfer("lt1", "cit2"))
	e.ok("cit2", consent("lt1", "cit3", e.c.TimeMs/1000+3600))
	e.ok("d0.issuer", revokeRec("lt1", "court order"))
	e.refuse("d0.issuer", codeConflict, transfer("lt1", "cit3"))
	e.refuse("cit2", codeConflict, consent("lt1", "cit3", e.c.TimeMs/1000+3600))
}

func TestTransferConsentFromFormerHolder(t *testing.T) {
	e := newEnv(t, 2)
	now := exectest.GenesisTimeMs / 1000
	e.ok("d0.issuer", createRec("lt1", exectest.LandTitle, "cit0", []byte("parcel")))
	e.ok("d0.issuer", createRec("bl1", exectest.BusinessLicense, "co0", []byte("licence")))
	e.refuse("co0", codeInvalid, consent("bl1", "cit1", now+3600))
	e.ok("cit0", consent("lt1", "cit1", now+3600))
	e.ok("d0.issuer", transfer("lt1", "cit1"))
	e.ok("cit1", consent("lt1", "cit2", now+3600))
	e.ok("d0.issuer", transfer("lt1", "cit2"))
	// cit1 consented before, but is no longer the holder.
	e.refuse("cit1", codeUnauthorized, consent("lt1", "cit3", now+3600))
}

func TestRevokeRecord(t *testing.T) {
	e := newEnv(t, 2)
	e.ok("d0.issuer", createRec("lt1", exectest.LandTitle, "cit0", []byte("p")))
	e.refuse("d0.issuer", codeInvalid, revokeRec("lt1", ""))
	e.refuse("d1.issuer", codeUnauthorized, revokeRec("lt1", "x"))
	e.refuse("d0.issuer", codeNotFound, revokeRec("nope", "x"))
	r := e.ok("d0.issuer", revokeRec("lt1", "fraud"))
	if r.GetEvents()[0].GetRecord().GetAction() != "revoked" {
		t.Fatalf("event %v", r.GetEvents())
	}
	rec, _ := exec.Record(e.c.Store, "lt1")
	if rec.GetStatus() != pb.RecordStatus_RECORD_STATUS_REVOKED || rec.GetRevokeReason() != "fraud" || rec.GetVersion() != 2 {
		t.Fatalf("record %v", rec)
	}
	e.refuse("d0.issuer", codeConflict, revokeRec("lt1", "again"))
}

func TestAccessAndGrants(t *testing.T) {
	e := newEnv(t, 3)
	now := exectest.GenesisTimeMs / 1000
	e.ok("d0.issuer", createRec("lt1", exectest.LandTitle, "cit0", []byte("p")))
	e.ok("d0.issuer", createRec("lt2", exectest.LandTitle, "cit0", []byte("q")))
	e.ok("d0.issuer", createRec("bl1", exectest.BusinessLicense, "co0", []byte("l")))

	// The issuing department's auditor needs no grant; an open type neither.
	r := e.ok("d0.auditor", access("lt1", "annual audit"))
	if ev := r.GetEvents()[0].GetRecord(); ev.GetAction() != "accessed" || ev.GetPurpose() != "annual audit" {
		t.Fatalf("event %v", ev)
	}
	e.ok("d1.auditor", access("bl1", "tax check"))
	e.ok("d0.issuer", access("lt1", "correction"))
	// Another department without a grant is refused.
	e.refuse("d1.auditor", codeConsent, access("lt1", "benefit claim"))
	// Refusals of the access itself.
	e.refuse("cit1", codeUnauthorized, access("lt1", "curious"))
	e.refuse("d0.registrar", codeUnauthorized, access("lt1", "curious"))
	e.ok("d0.admin", regOfficial("d0.bl", "d0", roleIssuer, exectest.BusinessLicense))
	e.refuse("d0.bl", codeUnauthorized, access("lt1", "x")) // an issuer of another type
	e.refuse("d0.auditor", codeInvalid, access("lt1", ""))
	e.refuse("d0.auditor", codeNotFound, access("nope", "x"))

	// Grant refusals.
	e.refuse("cit1", codeUnauthorized, grant("g1", "d1", "lt1", "", now+3600))
	e.refuse("cit0", codeInvalid, grant("g1", "d1", "lt1", exectest.LandTitle, now+3600))
	e.refuse("cit0", codeInvalid, grant("g1", "d1", "", "", now+3600))
	e.refuse("cit0", codeNotFound, grant("g1", "d9", "lt1", "", now+3600))
	e.refuse("cit0", codeNotFound, grant("g1", "d1", "nope", "", now+3600))
	e.refuse("cit0", codeNotFound, grant("g1", "d1", "", "no_type", now+3600))
	e.refuse("cit0", codeInvalid, grant("g1", "d1", "lt1", "", now-10))

	// A record grant lets d1 access lt1 only, and is logged with the access.
	e.ok("cit0", grant("g1", "d1", "lt1", "", now+3600))
	e.refuse("cit0", codeExists, grant("g1", "d1", "lt1", "", now+3600))
	e.ok("d1.auditor", access("lt1", "benefit claim"))
	e.refuse("d1.auditor", codeConsent, access("lt2", "benefit claim"))
	e.refuse("d2.auditor", codeConsent, access("lt1", "benefit claim"))
	log, err := exec.AccessLog(e.c.Store, "lt1", 0)
	if err != nil || len(log) != 3 || log[2].GetGrantId() != "g1" || log[2].GetDepartmentId() != "d1" || log[2].GetSeq() != 3 {
		t.Fatalf("access log %v, %v", log, err)
	}
	if l, _ := exec.AccessLog(e.c.Store, "lt1", 2); len(l) != 2 {
		t.Fatalf("limit: %d entries", len(l))
	}
	bySubj, err := exec.AccessLogBySubject(e.c.Store, "cit0", 0)
	if err != nil || len(bySubj) != 3 || bySubj[0].GetAccessorId() != "d0.auditor" || bySubj[0].GetPurpose() != "annual audit" {
		t.Fatalf("by subject %v, %v", bySubj, err)
	}
	if l, _ := exec.AccessLogBySubject(e.c.Store, "cit0", 1); len(l) != 1 {
		t.Fatalf("limit: %d entries", len(l))
	}

	// A type grant covers every land title of cit0, for d2.
	e.ok("cit0", grant("g2", "d2", "", exectest.LandTitle, now+3600))
	e.ok("d2.auditor", access("lt2", "planning"))
	// Revoking the grant ends the access.
	e.refuse("cit1", codeUnauthorized, revokeGrant("g2"))
	e.refuse("cit0", codeNotFound, revokeGrant("nope"))
	e.ok("cit0", revokeGrant("g2"))
	e.refuse("cit0", codeConflict, revokeGrant("g2"))
	e.refuse("d2.auditor", codeConsent, access("lt2", "planning"))
	// An expired grant no longer counts.
	e.c.TimeMs += 7200_000
	e.refuse("d1.auditor", codeConsent, access("lt1", "benefit claim"))
	if g, err := exec.Grant(e.c.Store, "g2"); err != nil || !g.GetRevoked() {
		t.Fatalf("grant %v, %v", g, err)
	}
}
