package exec_test

import (
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

var (
	roleAdmin     = []pb.Role{pb.Role_ROLE_ADMIN}
	roleRegistrar = []pb.Role{pb.Role_ROLE_REGISTRAR}
	roleIssuer    = []pb.Role{pb.Role_ROLE_ISSUER}
	roleAuditor   = []pb.Role{pb.Role_ROLE_AUDITOR}
	citizen       = pb.IdentityKind_IDENTITY_KIND_CITIZEN
	company       = pb.IdentityKind_IDENTITY_KIND_COMPANY
	active        = pb.IdentityStatus_IDENTITY_STATUS_ACTIVE
	suspended     = pb.IdentityStatus_IDENTITY_STATUS_SUSPENDED
	revoked       = pb.IdentityStatus_IDENTITY_STATUS_REVOKED
)

func TestRegisterOfficial(t *testing.T) {
	e := newEnv(t, 2)
	r := e.ok("d0.admin", regOfficial("d0.clerk", "d0", roleIssuer, "land_title"))
	if len(r.GetEvents()) != 1 || r.GetEvents()[0].GetIdentity().GetAction() != "registered" {
		t.Fatalf("events %v", r.GetEvents())
	}
	idn := mustIdentity(t, e.c.Store, "d0.clerk")
	if idn.GetDepartmentId() != "d0" || idn.GetStatus() != active || idn.GetCreatedHeight() != e.c.Height {
		t.Fatalf("identity %v", idn)
	}
	e.ok("d0.admin", regOfficial("d0.clerk2", "", roleAuditor)) // department defaults to the admin's

	t.Run("refusals", func(t *testing.T) {
		e.refuse("d0.registrar", codeUnauthorized, regOfficial("x1", "d0", roleAuditor))
		e.refuse("cit0", codeUnauthorized, regOfficial("x1", "d0", roleAuditor))
		e.refuse("d0.admin", codeUnauthorized, regOfficial("x1", "d1", roleAuditor))
		e.refuse("d0.admin", codeExists, regOfficial("d0.clerk", "d0", roleAuditor))
		e.refuse("d0.admin", codeInvalid, regOfficial("x1", "d0", nil))
		e.refuse("d0.admin", codeInvalid, regOfficial("x1", "d0", roleAuditor, "land_title"))
		e.refuse("d0.admin", codeNotFound, regOfficial("x1", "d0", roleIssuer, "no_such_type"))
		e.refuse("d0.admin", codeInvalid, regOfficial("bad/id", "d0", roleAuditor))
		e.refuse("d0.admin", codeInvalid, regOfficial("x1", "d0", []pb.Role{pb.Role(99)}))
		e.refuse("d0.admin", codeInvalid, regOfficial("x1", "d0", []pb.Role{pb.Role_ROLE_ADMIN, pb.Role_ROLE_ADMIN}))
		b := regOfficial("x1", "d0", roleAuditor)
		b.GetRegisterOfficial().PublicKey = &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_ED25519, Key: []byte{1, 2}}
		e.refuse("d0.admin", codeInvalid, b)
		b = regOfficial("x1", "d0", roleAuditor)
		b.GetRegisterOfficial().DisplayName = ""
		e.refuse("d0.admin", codeInvalid, b)
	})
}

func TestRegisterSubject(t *testing.T) {
	e := newEnv(t, 2)
	e.ok("d1.registrar", regSubject("alice", citizen))
	e.ok("d1.registrar", regSubject("acme", company))
	if idn := mustIdentity(t, e.c.Store, "alice"); idn.GetDepartmentId() != "d1" || idn.GetKind() != citizen || len(idn.GetAttributes()) != 1 {
		t.Fatalf("identity %v", idn)
	}
	e.refuse("d1.admin", codeUnauthorized, regSubject("bob", citizen))
	e.refuse("alice", codeUnauthorized, regSubject("bob", citizen))
	e.refuse("d1.registrar", codeExists, regSubject("alice", citizen))
	e.refuse("d1.registrar", codeInvalid, regSubject("bob", pb.IdentityKind_IDENTITY_KIND_OFFICIAL))
	b := regSubject("bob", citizen)
	b.GetRegisterSubject().Attributes = append(b.GetRegisterSubject().Attributes, &pb.Attribute{Name: "birth_year", Value: "x"})
	e.refuse("d1.registrar", codeInvalid, b)
	b = regSubject("bob", citizen)
	b.GetRegisterSubject().DisplayName = string(make([]byte, exec.MaxNameBytes+1))
	e.refuse("d1.registrar", codeTooLarge, b)
}

func TestRotateKey(t *testing.T) {
	e := newEnv(t, 2)
	// By the holder: the old key stops working, the new one works.
	newKey := newPub("cit0-new")
	e.ok("cit0", rotate("cit0", newKey, ""))
	idn := mustIdentity(t, e.c.Store, "cit0")
	if len(idn.GetKeyHistory()) != 1 || idn.GetKeyHistory()[0].GetReplacedBy() != "cit0" {
		t.Fatalf("key history %v", idn.GetKeyHistory())
	}
	e.tx(codeBadSig, e.s("cit0").Tx(grant("g0", "d1", "", "land_title", 1<<40)))
	e.s("cit0").Nonce-- // the refused envelope did not consume it
	e.s("cit0").Key = keyFor("cit0-new")
	e.ok("cit0", grant("g0", "d1", "", "land_title", 1<<40))

	// By a registrar of the registering department, with a reason.
	e.ok("d0.registrar", rotate("cit1", newPub("cit1-new"), "lost card"))
	e.refuse("d0.registrar", codeInvalid, rotate("cit2", newPub("cit2-new"), ""))
	e.refuse("d1.registrar", codeUnauthorized, rotate("cit2", newPub("cit2-new"), "x"))
	e.refuse("d0.auditor", codeUnauthorized, rotate("cit2", newPub("cit2-new"), "x"))
	// Officials: by their department's admin.
	e.ok("d0.admin", rotate("d0.auditor", newPub("aud-new"), "rotation policy"))
	e.refuse("d0.registrar", codeUnauthorized, rotate("d0.issuer", newPub("x"), "x"))
	// Same key, reused key, unknown identity, revoked identity.
	e.tx(codeBadSig, e.s("cit1").Tx(rotate("cit1", newPub("cit1-x"), ""))) // the old key no longer signs
	e.s("cit1").Nonce--
	e.refuse("d0.registrar", codeConflict, rotate("cit1", newPub("cit1-new"), "again"))
	e.refuse("d0.registrar", codeConflict, rotate("cit1", newPub("cit1"), "old"))
	e.refuse("d0.registrar", codeNotFound, rotate("nobody", newPub("n"), "x"))
	e.ok("d0.registrar", setStatus("cit3", revoked, "deceased"))
	e.refuse("d0.registrar", codeConflict, rotate("cit3", newPub("cit3-new"), "x"))
	e.refuse("cit2", codeInvalid, rotate("cit2", &pb.PublicKey{}, ""))
}

func TestSetIdentityStatus(t *testing.T) {
	e := newEnv(t, 2)
	e.ok("d0.registrar", setStatus("cit0", suspended, "fraud inquiry"))
	// A suspended identity cannot sign; its nonce is untouched.
	res := e.block(e.s("cit0").Tx(grant("g1", "d1", "", "land_title", 1<<40)))
	if res.Results[0].GetCode() != codeInactive || len(res.Changes) != 0 {
		t.Fatalf("suspended signer: %v, %d changes", res.Results[0], len(res.Changes))
	}
	e.s("cit0").Nonce--
	e.ok("d0.registrar", setStatus("cit0", active, ""))
	e.ok("cit0", grant("g1", "d1", "", "land_title", 1<<40))
	e.ok("d0.admin", setStatus("d0.auditor", suspended, "leave"))

	e.refuse("d0.registrar", codeConflict, setStatus("cit0", active, ""))
	e.refuse("d0.registrar", codeInvalid, setStatus("cit0", suspended, ""))
	e.refuse("d0.registrar", codeInvalid, setStatus("cit0", pb.IdentityStatus_IDENTITY_STATUS_UNSPECIFIED, "x"))
	e.refuse("d1.registrar", codeUnauthorized, setStatus("cit0", suspended, "x"))
	e.refuse("d0.registrar", codeUnauthorized, setStatus("d0.issuer", suspended, "x"))
	e.refuse("d0.admin", codeUnauthorized, setStatus("d0.admin", suspended, "x"))
	e.refuse("d0.registrar", codeNotFound, setStatus("nobody", suspended, "x"))

	// Revocation is final and a revoked identity never signs again.
	e.ok("d0.registrar", setStatus("cit1", revoked, "identity fraud"))
	e.refuse("d0.registrar", codeConflict, setStatus("cit1", active, "appeal"))
	r := e.block(e.s("cit1").Tx(grant("g2", "d1", "", "land_title", 1<<40)))
	if r.Results[0].GetCode() != codeInactive {
		t.Fatalf("revoked signer: %v", r.Results[0])
	}
}

func TestSetRoles(t *testing.T) {
	e := newEnv(t, 2)
	e.ok("d0.admin", setRoles("d0.auditor", []pb.Role{pb.Role_ROLE_AUDITOR, pb.Role_ROLE_ISSUER}, "birth_cert"))
	if idn := mustIdentity(t, e.c.Store, "d0.auditor"); len(idn.GetRoles()) != 2 || idn.GetIssuerRecordTypes()[0] != "birth_cert" {
		t.Fatalf("roles %v", idn)
	}
	e.refuse("d0.admin", codeUnauthorized, setRoles("d0.admin", roleAuditor))
	e.refuse("d0.registrar", codeUnauthorized, setRoles("d0.auditor", roleAuditor))
	e.refuse("d1.admin", codeUnauthorized, setRoles("d0.auditor", roleAuditor))
	e.refuse("d0.admin", codeInvalid, setRoles("cit0", roleAuditor))
	e.refuse("d0.admin", codeNotFound, setRoles("nobody", roleAuditor))
	e.refuse("d0.admin", codeNotFound, setRoles("d0.auditor", roleIssuer, "no_type"))
	e.refuse("d0.admin", codeInvalid, setRoles("d0.auditor", roleAuditor, "birth_cert"))
	e.ok("d0.admin", setStatus("d0.registrar", revoked, "left"))
	e.refuse("d0.admin", codeConflict, setRoles("d0.registrar", roleAuditor))
}

func TestCredentials(t *testing.T) {
	e := newEnv(t, 2)
	r := e.ok("d1.issuer", issueCred("cred1", "cit0", 0))
	if r.GetEvents()[0].GetCredential().GetAction() != "issued" {
		t.Fatalf("events %v", r.GetEvents())
	}
	e.ok("d1.issuer", issueCred("cred2", "cit0", e.c.TimeMs/1000+3600))
	cs, err := exec.Credentials(e.c.Store, "cit0")
	if err != nil || len(cs) != 2 || cs[0].GetIssuerDepartmentId() != "d1" {
		t.Fatalf("credentials %v, %v", cs, err)
	}
	e.refuse("d1.registrar", codeUnauthorized, issueCred("cred3", "cit0", 0))
	e.refuse("d1.issuer", codeExists, issueCred("cred1", "cit0", 0))
	e.refuse("d1.issuer", codeNotFound, issueCred("cred3", "nobody", 0))
	e.refuse("d1.issuer", codeInvalid, issueCred("cred3", "cit0", 1))
	e.refuse("d1.issuer", codeInvalid, issueCred("cred3", "cit0", -1))
	e.ok("d0.registrar", setStatus("cit3", revoked, "gone"))
	e.refuse("d1.issuer", codeConflict, issueCred("cred3", "cit3", 0))

	e.refuse("d0.issuer", codeUnauthorized, revokeCred("cred1", "wrong"))
	e.refuse("d1.auditor", codeUnauthorized, revokeCred("cred1", "wrong"))
	e.refuse("d1.issuer", codeInvalid, revokeCred("cred1", ""))
	e.refuse("d1.issuer", codeNotFound, revokeCred("nope", "x"))
	e.ok("d1.admin", revokeCred("cred1", "issued in error"))
	e.refuse("d1.issuer", codeConflict, revokeCred("cred1", "again"))
	c, err := exec.Credential(e.c.Store, "cred1")
	if err != nil || !c.GetRevoked() || c.GetRevokeReason() != "issued in error" {
		t.Fatalf("credential %v, %v", c, err)
	}
}
