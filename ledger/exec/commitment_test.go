package exec_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Record types newCommitEnv adds for d2.issuer.
const (
	taxFile  = "tax_file"  // protected, d2 issues
	hashNote = "hash_note" // public, hash only, d2 issues
)

// newCommitEnv is newPersonalEnv(t, 3) with a protected type of another
// department (taxFile) and a public hash-only type (hashNote), both
// issued by d2.issuer.
func newCommitEnv(t *testing.T) *env {
	t.Helper()
	f := exectest.NewFixture(3)
	f.AddValidatorIdentities()
	f.Genesis.RecordTypes = append(f.Genesis.RecordTypes,
		&pb.RecordType{
			Id: medicalFile, Name: "Medical file", CreateDepartments: []string{"d1"}, AmendDepartments: []string{"d1"},
			TransferDepartments: []string{"d1"}, RevokeDepartments: []string{"d1"}, Transferable: true,
			Visibility: pb.ContentVisibility_CONTENT_VISIBILITY_PROTECTED, MaxContentBytes: 1024,
		},
		&pb.RecordType{
			Id: taxFile, Name: "Tax file", CreateDepartments: []string{"d2"}, AmendDepartments: []string{"d2"},
			RevokeDepartments: []string{"d2"}, Visibility: pb.ContentVisibility_CONTENT_VISIBILITY_PROTECTED, MaxContentBytes: 1024,
		},
		&pb.RecordType{
			Id: hashNote, Name: "Hash note", CreateDepartments: []string{"d2"}, AmendDepartments: []string{"d2"},
			RevokeDepartments: []string{"d2"}, Visibility: pb.ContentVisibility_CONTENT_VISIBILITY_PUBLIC,
		},
	)
	for _, idn := range f.Genesis.Identities {
		switch idn.GetId() {
		case "d1.issuer":
			idn.IssuerRecordTypes = append(idn.IssuerRecordTypes, medicalFile)
		case "d2.issuer":
			idn.IssuerRecordTypes = append(idn.IssuerRecordTypes, taxFile, hashNote)
		}
	}
	c, err := f.NewChain(exec.DefaultConfig(exectest.ChainID))
	if err != nil {
		t.Fatalf("new chain: %v", err)
	}
	return &env{t: t, f: f, c: c}
}

// commitmentOwner is the record the index names for commitment c, or "".
func (e *env) commitmentOwner(c []byte) string {
	e.t.Helper()
	id, err := exec.ProtectedCommitmentRecord(e.c.Store, c)
	if errors.Is(err, exec.ErrNotFound) {
		return ""
	}
	if err != nil {
		e.t.Fatal(err)
	}
	if v, err := e.c.Store.Get(exec.ProtectedCommitmentKey(c)); err != nil || string(v) != id {
		e.t.Fatalf("ProtectedCommitmentKey holds %q (%v), ProtectedCommitmentRecord says %q", v, err, id)
	}
	return id
}

func stolenReason(c []byte, owner string) string {
	return fmt.Sprintf("content_hash %x is the commitment of record %s's content: each protected payload belongs to one record", c, owner)
}

// TestProtectedCommitmentOfAnotherRecordRefused: the confidentiality hole
// closed (ARCHITECTURE.md §5 "Who can read what"). The nodes keep payloads
// by commitment and the commitments are public on chain, so an issuer
// creating or amending a protected record with another record's commitment
// as content_hash, and an accomplice as subject, would have the other
// record's payload released to the accomplice. Such a version is refused
// at admission and in a block, before and after the victim's erasure.
func TestProtectedCommitmentOfAnotherRecordRefused(t *testing.T) {
	e := newCommitEnv(t)
	e.ok("d1.issuer", createBirthCert("bc1", "cit0", ""))
	e.ok("d1.issuer", createBirthCert("bc2", "cit1", ""))
	e.ok("d2.issuer", createRecHash("tf1", taxFile, "cit3", hash("tf1's own")))
	victim := hash("payload commitment of bc1")
	if got := e.commitmentOwner(victim); got != "bc1" {
		t.Fatalf("commitment of bc1 indexed for %q", got)
	}
	// Fresh bodies each round: signing fills in the nonce.
	attacks := func() []struct {
		name, signer string
		body         *pb.TxBody
		untouched    string // a record the refusal must leave at version 1
	} {
		return []struct {
			name, signer string
			body         *pb.TxBody
			untouched    string
		}{
			{"create, another department's protected type", "d2.issuer", createRecHash("tf2", taxFile, "cit3", victim), ""},
			{"create, the same type and department", "d1.issuer", createRecHash("bc9", exectest.BirthCert, "cit3", victim), ""},
			{"amend, another department's record", "d2.issuer", amendHash("tf1", 1, victim), "tf1"},
			{"amend, a record of the same type", "d1.issuer", amendHash("bc2", 1, victim), "bc2"},
		}
	}
	want := stolenReason(victim, "bc1")
	run := func(round string) {
		for _, a := range attacks() {
			t.Run(round+"/"+a.name, func(t *testing.T) {
				if r := e.checkCopy(e.c.Store, a.signer, a.body); r.Code != codeConflict || r.Reason != want {
					t.Fatalf("CheckTx %v %q, want CONFLICT %q", r.Code, r.Reason, want)
				}
				if r := e.refuse(a.signer, codeConflict, a.body); r.GetReason() != want {
					t.Fatalf("block: %q, want %q", r.GetReason(), want)
				}
				if a.untouched != "" {
					if rec, err := exec.Record(e.c.Store, a.untouched); err != nil || rec.GetVersion() != 1 {
						t.Fatalf("record %s after the refusal: %v %v", a.untouched, rec, err)
					}
				}
				for _, id := range []string{"tf2", "bc9"} {
					if _, err := exec.Record(e.c.Store, id); !errors.Is(err, exec.ErrNotFound) {
						t.Fatalf("record %s created: %v", id, err)
					}
				}
				if got := e.commitmentOwner(victim); got != "bc1" {
					t.Fatalf("commitment now indexed for %q", got)
				}
			})
		}
	}
	run("live")

	// An erasure leaves the commitment burnt: still bc1's, still refused.
	e.ok("cit0", erase("bc1", "", "GDPR art. 17"))
	if got := e.commitmentOwner(victim); got != "bc1" {
		t.Fatalf("after erasure the commitment is indexed for %q", got)
	}
	run("erased")
}

// TestProtectedCommitmentSameBlock: two versions naming one fresh
// commitment both pass admission (neither is committed), and the block
// gives it to the first.
func TestProtectedCommitmentSameBlock(t *testing.T) {
	e := newCommitEnv(t)
	c := hash("fresh payload")
	first, second := createRecHash("bc1", exectest.BirthCert, "cit0", c), createRecHash("tf1", taxFile, "cit3", c)
	for _, x := range []struct {
		signer string
		body   *pb.TxBody
	}{{"d1.issuer", first}, {"d2.issuer", second}} {
		if r := e.checkCopy(e.c.Store, x.signer, x.body); !r.OK() {
			t.Fatalf("CheckTx %v %s", r.Code, r.Reason)
		}
	}
	res := e.block(e.s("d1.issuer").Tx(first), e.s("d2.issuer").Tx(second))
	if r := res.Results[0]; r.GetCode() != codeOK {
		t.Fatalf("first: %v %s", r.GetCode(), r.GetReason())
	}
	if r := res.Results[1]; r.GetCode() != codeConflict || r.GetReason() != stolenReason(c, "bc1") {
		t.Fatalf("second: %v %q", r.GetCode(), r.GetReason())
	}
	if got := e.commitmentOwner(c); got != "bc1" {
		t.Fatalf("commitment indexed for %q", got)
	}
}

// TestProtectedCommitmentOwnReuse: a record may name its own commitments
// again (an amendment repeating or restoring one; transfer and revoke
// versions copy the last); each stays the record's after it moves on,
// and after its revocation. Public types claim no commitment.
func TestProtectedCommitmentOwnReuse(t *testing.T) {
	e := newCommitEnv(t)
	c1, c2 := hash("mf1 v1"), hash("mf1 v2")
	e.ok("d1.issuer", createRecHash("mf1", medicalFile, "cit0", c1))
	steps := []*pb.TxBody{
		amendHash("mf1", 1, c1), // the same payload again
		amendHash("mf1", 2, c2),
		amendHash("mf1", 3, c1), // back to the first
	}
	for i, b := range steps {
		if r := e.checkCopy(e.c.Store, "d1.issuer", b); !r.OK() {
			t.Fatalf("step %d: CheckTx %v %s", i, r.Code, r.Reason)
		}
		e.ok("d1.issuer", b)
	}
	e.ok("d1.issuer", transfer("mf1", "cit1"))
	e.ok("d1.issuer", revokeRec("mf1", "superseded"))
	vs, err := exec.RecordVersions(e.c.Store, "mf1")
	if err != nil {
		t.Fatal(err)
	}
	wantHashes := [][]byte{c1, c1, c2, c1, c1, c1}
	if len(vs) != len(wantHashes) {
		t.Fatalf("%d versions", len(vs))
	}
	for i, v := range vs {
		if !bytes.Equal(v.GetContentHash(), wantHashes[i]) {
			t.Fatalf("version %d (%s): hash %x", i+1, v.GetAction(), v.GetContentHash())
		}
	}
	for _, c := range [][]byte{c1, c2} {
		if got := e.commitmentOwner(c); got != "mf1" {
			t.Fatalf("commitment %x indexed for %q", c, got)
		}
	}
	// A commitment mf1 has moved on from is still mf1's, revoked or not.
	steal := createRecHash("tf1", taxFile, "cit3", c2)
	if r := e.checkCopy(e.c.Store, "d2.issuer", steal); r.Code != codeConflict || r.Reason != stolenReason(c2, "mf1") {
		t.Fatalf("CheckTx %v %q", r.Code, r.Reason)
	}
	e.refuse("d2.issuer", codeConflict, steal)

	// A public hash-only type keeps no payload beside the chain: it is
	// neither refused a protected commitment nor claims one.
	e.ok("d2.issuer", createRecHash("hn1", hashNote, "cit3", c1))
	e.ok("d2.issuer", createRecHash("hn2", hashNote, "cit3", hash("note")))
	if got := e.commitmentOwner(c1); got != "mf1" {
		t.Fatalf("commitment indexed for %q after a public record named it", got)
	}
	if got := e.commitmentOwner(hash("note")); got != "" {
		t.Fatalf("a public record's hash indexed for %q", got)
	}
	e.ok("d2.issuer", createRecHash("tf1", taxFile, "cit3", hash("note")))
	if got := e.commitmentOwner(hash("note")); got != "tf1" {
		t.Fatalf("commitment indexed for %q", got)
	}
}
