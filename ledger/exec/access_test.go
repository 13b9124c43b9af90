package exec_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// medicalFile is a protected, transferable record type d1 issues, added by
// newPersonalEnv.
const medicalFile = "medical_file"

// newPersonalEnv is newEnv with each department's validator identity (the
// signer of RecordAccesses) and the protected type medicalFile, which
// d1.issuer issues.
func newPersonalEnv(t *testing.T, depts int) *env {
	t.Helper()
	f := exectest.NewFixture(depts)
	f.AddValidatorIdentities()
	f.Genesis.RecordTypes = append(f.Genesis.RecordTypes, &pb.RecordType{
		Id: medicalFile, Name: "Medical file", CreateDepartments: []string{"d1"}, AmendDepartments: []string{"d1"},
		TransferDepartments: []string{"d1"}, RevokeDepartments: []string{"d1"}, Transferable: true,
		Visibility: pb.ContentVisibility_CONTENT_VISIBILITY_PROTECTED, MaxContentBytes: 1024,
	})
	for _, idn := range f.Genesis.Identities {
		if idn.GetId() == "d1.issuer" {
			idn.IssuerRecordTypes = append(idn.IssuerRecordTypes, medicalFile)
		}
	}
	c, err := f.NewChain(exec.DefaultConfig(exectest.ChainID))
	if err != nil {
		t.Fatalf("new chain: %v", err)
	}
	return &env{t: t, f: f, c: c}
}

func vid(dept string) string { return exec.ValidatorIdentityID(dept) }

func release(rec, accessor, purpose, basis, channel string) *pb.ContentAccess {
	return &pb.ContentAccess{RecordId: rec, AccessorId: accessor, Purpose: purpose, LegalBasis: basis, Channel: channel}
}

func recordAccesses(cs ...*pb.ContentAccess) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_RecordAccesses{RecordAccesses: &pb.RecordAccesses{Accesses: cs}}}
}

func erase(rec, reason, basis string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_EraseRecordContent{EraseRecordContent: &pb.EraseRecordContent{RecordId: rec, Reason: reason, LegalBasis: basis}}}
}

func createBirthCert(id, subj, holder string) *pb.TxBody {
	b := createRecHash(id, exectest.BirthCert, subj, hash("payload commitment of "+id))
	b.GetCreateRecord().HolderId = holder
	return b
}

// checkCopy is check of a copy of body, which stays unsigned for a later
// block.
func (e *env) checkCopy(r exec.Reader, id string, body *pb.TxBody) *exec.CheckResult {
	e.t.Helper()
	return e.check(r, id, proto.Clone(body).(*pb.TxBody))
}

// refusal is what the node's Refusal interfaces ask of an error.
type refusal interface {
	error
	ResultCode() pb.ResultCode
}

// TestIsProtected: only PROTECTED is protected; UNSPECIFIED (types from
// before visibility) and PUBLIC are public.
func TestIsProtected(t *testing.T) {
	for v, want := range map[pb.ContentVisibility]bool{
		pb.ContentVisibility_CONTENT_VISIBILITY_UNSPECIFIED: false,
		pb.ContentVisibility_CONTENT_VISIBILITY_PUBLIC:      false,
		pb.ContentVisibility_CONTENT_VISIBILITY_PROTECTED:   true,
	} {
		if got := exec.IsProtected(&pb.RecordType{Visibility: v}); got != want {
			t.Errorf("IsProtected(%v) = %v", v, got)
		}
	}
	if exec.IsProtected(nil) {
		t.Error("IsProtected(nil)")
	}
}

// TestContentEntitlement is the matrix of ARCHITECTURE.md §5 "Who can
// read what": subject, holder, an official of the issuing department, an
// auditor with a legal basis, an official of another department with a
// live grant by the subject for the record or its type; and the
// refusals, each with its code and a reason naming who and why.
func TestContentEntitlement(t *testing.T) {
	e := newPersonalEnv(t, 4)
	now := exectest.GenesisTimeMs / 1000
	e.ok("d1.issuer", createBirthCert("bc1", "cit0", "cit1"))
	e.ok("d1.issuer", createBirthCert("bc2", "cit0", ""))
	e.ok("cit0", grant("g1", "d2", "bc1", "", now+3600))              // d2, bc1 only
	e.ok("cit0", grant("g2", "d0", "", exectest.BirthCert, now+3600)) // d0, every birth certificate of cit0
	e.ok("cit0", grant("g3", "d3", "bc2", "", now+3600))              // d3, bc2, revoked below
	e.ok("cit0", grant("g4", "d3", "", exectest.LandTitle, now+3600)) // d3, another type
	e.ok("cit2", grant("g5", "d3", "", exectest.BirthCert, now+3600)) // d3, by someone else
	e.ok("cit0", revokeGrant("g3"))
	e.ok("d2.admin", setStatus("d2.registrar", suspended, "on leave"))
	e.ok("d0.registrar", setStatus("cit3", revoked, "deceased"))
	bc1, err := exec.Record(e.c.Store, "bc1")
	if err != nil {
		t.Fatal(err)
	}
	bc2, err := exec.Record(e.c.Store, "bc2")
	if err != nil {
		t.Fatal(err)
	}
	later := now + 7200 // g1 and g2 have expired
	cases := []struct {
		name     string
		accessor string
		rec      *pb.Record
		basis    string
		now      int64
		code     pb.ResultCode // OK: entitled
		grant    string
		reason   []string
	}{
		{"subject", "cit0", bc1, "", now, codeOK, "", nil},
		{"holder", "cit1", bc1, "", now, codeOK, "", nil},
		{"subject after every grant expired", "cit0", bc1, "", later, codeOK, "", nil},
		{"issuing department's issuer", "d1.issuer", bc1, "", now, codeOK, "", nil},
		{"issuing department's registrar", "d1.registrar", bc1, "", now, codeOK, "", nil},
		{"issuing department's auditor without a legal basis", "d1.auditor", bc1, "", now, codeOK, "", nil},
		{"auditor of another department with a legal basis", "d3.auditor", bc1, "Court order 2026/17", now, codeOK, "", nil},
		{"other department with a record grant", "d2.issuer", bc1, "", now, codeOK, "g1", nil},
		{"other department with a type grant", "d0.auditor", bc2, "", now, codeOK, "g2", nil},
		{"other department with a type grant, another record", "d0.issuer", bc1, "", now, codeOK, "g2", nil},
		{"record grant on another record", "d2.issuer", bc2, "", now, codeConsent, "",
			[]string{"d2.issuer of department d2 has no live grant from cit0 for record bc2", "issued by d1"}},
		{"expired record grant", "d2.issuer", bc1, "", later, codeConsent, "",
			[]string{"d2.issuer of department d2 has no live grant from cit0 for record bc1", "grant g1 expired at"}},
		{"expired type grant", "d0.issuer", bc2, "", later, codeConsent, "", []string{"grant g2 expired at"}},
		{"revoked grant", "d3.issuer", bc2, "", now, codeConsent, "", []string{"d3.issuer of department d3 has no live grant from cit0 for record bc2"}},
		{"grant for another type", "d3.issuer", bc1, "", now, codeConsent, "", []string{"no live grant"}},
		{"auditor without a legal basis", "d3.auditor", bc1, "", now, codeConsent, "", []string{"as an auditor it needs a legal basis"}},
		{"auditor with a blank legal basis", "d3.auditor", bc1, "  ", now, codeConsent, "", []string{"as an auditor it needs a legal basis"}},
		{"auditor without a basis but with a grant", "d2.auditor", bc1, "", now, codeOK, "g1", nil},
		{"other citizen", "cit2", bc1, "", now, codeUnauthorized, "", []string{"cit2 is neither the subject (cit0) nor the holder (cit1) of record bc1"}},
		{"company", "co0", bc1, "", now, codeUnauthorized, "", []string{"co0 is neither the subject"}},
		{"suspended official with a grant", "d2.registrar", bc1, "", now, codeUnauthorized, "", []string{"accessor d2.registrar is suspended"}},
		{"revoked citizen", "cit3", bc1, "", now, codeUnauthorized, "", []string{"accessor cit3 is revoked"}},
		{"unknown accessor", "nobody", bc1, "", now, codeNotFound, "", []string{"accessor nobody is not a registered identity"}},
		{"another department's validator identity", vid("d3"), bc1, "", now, codeConsent, "", []string{"d3-validator of department d3"}},
		{"issuing department's validator identity", vid("d1"), bc1, "", now, codeOK, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := exec.ContentEntitlement(e.c.Store, tc.accessor, tc.rec, tc.basis, tc.now)
			if tc.code == codeOK {
				if err != nil || g != tc.grant {
					t.Fatalf("grant %q, err %v; want grant %q", g, err, tc.grant)
				}
				return
			}
			code, reason, ok := exec.RefusalOf(err)
			if !ok || code != tc.code || g != "" {
				t.Fatalf("grant %q, err %v; want refusal %v", g, err, tc.code)
			}
			var ref refusal
			if !errors.As(fmt.Errorf("wrapped: %w", err), &ref) || ref.ResultCode() != tc.code {
				t.Fatalf("%v does not carry its result code for the node", err)
			}
			for _, w := range tc.reason {
				if !strings.Contains(reason, w) {
					t.Errorf("reason %q lacks %q", reason, w)
				}
			}
		})
	}
	if _, _, ok := exec.RefusalOf(errors.New("disk on fire")); ok {
		t.Fatal("a storage error taken for a refusal")
	}
	// A storage failure is no refusal.
	e.c.Store.FailGet = string(exec.IdentityKey("cit0"))
	defer func() { e.c.Store.FailGet = "" }()
	if _, err := exec.ContentEntitlement(e.c.Store, "cit0", bc1, "", now); err == nil {
		t.Fatal("no error on a failing read")
	} else if _, _, ok := exec.RefusalOf(err); ok {
		t.Fatalf("storage failure reported as a refusal: %v", err)
	}
}

// TestRecordAccesses: a member node's validator identity logs releases of
// protected content; each is an access entry like AccessRecord's, with
// recorded_by and channel, in the subject's log, and an event.
func TestRecordAccesses(t *testing.T) {
	e := newPersonalEnv(t, 3)
	now := exectest.GenesisTimeMs / 1000
	e.ok("d1.issuer", createBirthCert("bc1", "cit0", ""))
	e.ok("cit0", grant("g1", "d2", "bc1", "", now+3600))
	e.ok("d1.auditor", access("bc1", "an AccessRecord first")) // seq 1
	body := recordAccesses(
		release("bc1", "cit0", "my own certificate", "", exec.ChannelQuery),
		release("bc1", "d2.issuer", "benefit claim", "", exec.ChannelEvents),
		release("bc1", "d0.auditor", "fraud inquiry", "Audit Act s.4", exec.ChannelQuery),
	)
	if r := e.checkCopy(e.c.Store, vid("d0"), body); !r.OK() {
		t.Fatalf("CheckTx: %v %s", r.Code, r.Reason)
	}
	r := e.ok(vid("d0"), body)
	h := e.c.Height

	log, err := exec.AccessLog(e.c.Store, "bc1", 0)
	if err != nil || len(log) != 4 {
		t.Fatalf("access log %v, %v", log, err)
	}
	want := []*pb.AccessEntry{
		{RecordId: "bc1", Seq: 2, AccessorId: "cit0", Purpose: "my own certificate", RecordedBy: "d0", Channel: "query"},
		{RecordId: "bc1", Seq: 3, AccessorId: "d2.issuer", DepartmentId: "d2", Purpose: "benefit claim", GrantId: "g1", RecordedBy: "d0", Channel: "events"},
		{RecordId: "bc1", Seq: 4, AccessorId: "d0.auditor", DepartmentId: "d0", Purpose: "fraud inquiry", LegalBasis: "Audit Act s.4", RecordedBy: "d0", Channel: "query"},
	}
	for i, w := range want {
		w.Height, w.TimeUnixMs, w.TxHash = h, e.c.TimeMs, r.GetTxHash()
		if !proto.Equal(log[i+1], w) {
			t.Errorf("entry %d:\n got %v\nwant %v", i+1, log[i+1], w)
		}
	}
	if log[0].GetRecordedBy() != "" || log[0].GetChannel() != "" {
		t.Fatalf("an AccessRecord entry has recorded_by/channel: %v", log[0])
	}
	// The subject's log has them all, and each entry names its own key
	// (record id and seq) for a proof.
	bySubj, err := exec.AccessLogBySubject(e.c.Store, "cit0", 0)
	if err != nil || len(bySubj) != 4 {
		t.Fatalf("by subject %v %v", bySubj, err)
	}
	for _, en := range bySubj {
		raw, err := e.c.Store.Get(exec.AccessEntryKey(en.GetRecordId(), en.GetSeq()))
		got := &pb.AccessEntry{}
		if err != nil || proto.Unmarshal(raw, got) != nil || !proto.Equal(got, en) {
			t.Fatalf("entry %v not at its key: %v", en, err)
		}
	}
	// One "accessed" event per access: actor the accessor, department the
	// accessor's, the purpose.
	evs := r.GetEvents()
	if len(evs) != 3 {
		t.Fatalf("events %v", evs)
	}
	for i, w := range want {
		ev := evs[i].GetRecord()
		if ev.GetAction() != "accessed" || ev.GetRecordId() != "bc1" || ev.GetActorId() != w.GetAccessorId() ||
			ev.GetDepartmentId() != w.GetDepartmentId() || ev.GetPurpose() != w.GetPurpose() || ev.GetSubjectId() != "cit0" || ev.GetVersion() != 1 {
			t.Errorf("event %d: %v", i, ev)
		}
	}
	// Another member's node records its own releases.
	e.ok(vid("d2"), recordAccesses(release("bc1", "d1.issuer", "correction", "", exec.ChannelQuery)))
	if log, _ := exec.AccessLog(e.c.Store, "bc1", 0); log[4].GetRecordedBy() != "d2" || log[4].GetDepartmentId() != "d1" {
		t.Fatalf("entry %v", log[4])
	}
	// Entitlement is judged at block time: after g1 expires, d2's access
	// is refused in the block. CheckTx, which knows no time with a plain
	// Reader, admits it; with the last block's time it refuses it.
	late := recordAccesses(release("bc1", "d2.issuer", "benefit claim", "", exec.ChannelQuery))
	e.c.TimeMs += 7200_000
	if r := e.checkCopy(e.c.Store, vid("d0"), late); !r.OK() {
		t.Fatalf("CheckTx without time: %v %s", r.Code, r.Reason)
	}
	if r := e.checkCopy(timeReader{e.c.Store, e.c.TimeMs}, vid("d0"), late); r.Code != codeConsent || !strings.Contains(r.Reason, "grant g1 expired at") {
		t.Fatalf("CheckTx with time: %v %s", r.Code, r.Reason)
	}
	if r := e.refuse(vid("d0"), codeConsent, late); !strings.Contains(r.GetReason(), "access 0: d2.issuer of department d2 has no live grant from cit0 for record bc1") {
		t.Fatalf("reason %q", r.GetReason())
	}
}

// timeReader is the fixture's store with its last block time, as a node's
// reader may give it to CheckTx (exec.TimeReader).
type timeReader struct {
	*exectest.Store
	ms int64
}

func (r timeReader) TimeUnixMs() (int64, bool) { return r.ms, true }

// TestRecordAccessesRefused: every refusal of a RecordAccesses, in the
// block and at admission (CheckTx, against committed state), and one bad
// access fails the whole tx.
func TestRecordAccessesRefused(t *testing.T) {
	e := newPersonalEnv(t, 3)
	now := exectest.GenesisTimeMs / 1000
	e.ok("d1.issuer", createBirthCert("bc1", "cit0", ""))
	e.ok("d1.issuer", createBirthCert("bc2", "cit1", ""))
	e.ok("d0.issuer", createRec("lt1", exectest.LandTitle, "cit0", []byte("parcel 7")))
	e.ok("cit1", erase("bc2", "no longer needed", "GDPR art. 17"))
	erasedAt := e.c.Height
	e.ok("d0.registrar", setStatus("cit2", suspended, "fraud inquiry"))
	e.ok("cit0", grant("g1", "d2", "bc1", "", now+3600))
	good := release("bc1", "cit0", "own copy", "", exec.ChannelQuery)
	many := make([]*pb.ContentAccess, exec.MaxAccessesPerTx+1)
	for i := range many {
		many[i] = good
	}
	cases := []struct {
		name   string
		signer string
		body   *pb.TxBody
		code   pb.ResultCode
		reason string
	}{
		{"signed by an official", "d0.issuer", recordAccesses(good), codeUnauthorized, "d0.issuer is not a department's validator identity"},
		{"signed by the subject", "cit0", recordAccesses(good), codeUnauthorized, "cit0 is not a department's validator identity"},
		{"no access", vid("d0"), recordAccesses(), codeInvalid, "at least one access"},
		{"too many accesses", vid("d0"), recordAccesses(many...), codeTooLarge, fmt.Sprintf("%d accesses, limit %d", len(many), exec.MaxAccessesPerTx)},
		{"public type", vid("d0"), recordAccesses(release("lt1", "cit0", "own copy", "", exec.ChannelQuery)), codeInvalid,
			"access 0: record type land_title is public"},
		{"erased record", vid("d0"), recordAccesses(good, release("bc2", "cit1", "own copy", "", exec.ChannelQuery)), codeNotFound,
			fmt.Sprintf("access 1: content of record bc2 was erased at height %d", erasedAt)},
		{"unknown record", vid("d0"), recordAccesses(release("bc9", "cit0", "x", "", exec.ChannelQuery)), codeNotFound, "access 0: record bc9 not found"},
		{"not entitled: another citizen", vid("d0"), recordAccesses(good, release("bc1", "cit1", "curious", "", exec.ChannelQuery)), codeUnauthorized,
			"access 1: cit1 is neither the subject"},
		{"not entitled: no grant", vid("d0"), recordAccesses(release("bc1", "d0.issuer", "curious", "", exec.ChannelEvents)), codeConsent,
			"access 0: d0.issuer of department d0 has no live grant from cit0 for record bc1"},
		{"not entitled: auditor without a legal basis", vid("d0"), recordAccesses(release("bc1", "d0.auditor", "audit", "", exec.ChannelQuery)), codeConsent,
			"as an auditor it needs a legal basis"},
		{"suspended accessor", vid("d0"), recordAccesses(release("bc1", "cit2", "x", "", exec.ChannelQuery)), codeUnauthorized, "accessor cit2 is suspended"},
		{"unknown accessor", vid("d0"), recordAccesses(release("bc1", "nobody", "x", "", exec.ChannelQuery)), codeNotFound, "accessor nobody is not a registered identity"},
		{"empty purpose", vid("d0"), recordAccesses(good, release("bc1", "cit0", "", "", exec.ChannelQuery)), codeInvalid, "access 1 purpose is required"},
		{"purpose too long", vid("d0"), recordAccesses(release("bc1", "cit0", strings.Repeat("p", exec.MaxTextBytes+1), "", exec.ChannelQuery)), codeTooLarge, "access 0 purpose is"},
		{"bad channel", vid("d0"), recordAccesses(release("bc1", "cit0", "x", "", "email")), codeInvalid, `access 0 channel "email": want "query" or "events"`},
		{"no channel", vid("d0"), recordAccesses(release("bc1", "cit0", "x", "", "")), codeInvalid, "access 0 channel"},
		{"bad accessor id", vid("d0"), recordAccesses(release("bc1", "Cit0", "x", "", exec.ChannelQuery)), codeInvalid, "access 0 accessor id"},
		{"bad record id", vid("d0"), recordAccesses(release("bc/1", "cit0", "x", "", exec.ChannelQuery)), codeInvalid, "access 0 record id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if r := e.checkCopy(e.c.Store, tc.signer, tc.body); r.Code != tc.code || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("CheckTx %v %q, want %v ...%s...", r.Code, r.Reason, tc.code, tc.reason)
			}
			before, _ := exec.AccessLog(e.c.Store, "bc1", 0)
			if r := e.refuse(tc.signer, tc.code, tc.body); !strings.Contains(r.GetReason(), tc.reason) {
				t.Fatalf("block: %v %q, want ...%s...", r.GetCode(), r.GetReason(), tc.reason)
			}
			if after, _ := exec.AccessLog(e.c.Store, "bc1", 0); len(after) != len(before) {
				t.Fatalf("a refused RecordAccesses logged %d entries", len(after)-len(before))
			}
		})
	}
	// A suspended validator identity signs nothing.
	e.ok("d0.admin", setStatus(vid("d0"), suspended, "key compromise"))
	e.tx(codeInactive, e.s(vid("d0")).Tx(recordAccesses(good)))
	e.s(vid("d0")).Nonce--
	e.ok(vid("d1"), recordAccesses(good))
}

// TestRecordAccessesByRemovedDepartment: the validator identity of a
// department governance removed records nothing, at admission and in a
// block.
func TestRecordAccessesByRemovedDepartment(t *testing.T) {
	e := newPersonalEnv(t, 5) // a byzantine set may shrink to 4
	e.ok("d1.issuer", createBirthCert("bc1", "cit0", ""))
	body := recordAccesses(release("bc1", "cit0", "own copy", "", exec.ChannelQuery))
	e.ok(vid("d4"), proto.Clone(body).(*pb.TxBody))
	e.pass("d0", propose("rm4", 100, removeDept("d4")), "d0", "d1", "d2", "d3")
	if _, err := exec.Department(e.c.Store, "d4"); err == nil {
		t.Fatal("d4 still a member")
	}
	const why = "d4-validator is the validator identity of department d4, which is not a member"
	if r := e.checkCopy(e.c.Store, vid("d4"), body); r.Code != codeUnauthorized || !strings.Contains(r.Reason, why) {
		t.Fatalf("CheckTx %v %q", r.Code, r.Reason)
	}
	if r := e.refuse(vid("d4"), codeUnauthorized, body); !strings.Contains(r.GetReason(), why) {
		t.Fatalf("reason %q", r.GetReason())
	}
	// An official of the removed department is entitled to nothing
	// beyond what a subject is.
	e.ok(vid("d0"), recordAccesses(release("bc1", "d1.issuer", "x", "", exec.ChannelQuery)))
	rec, _ := exec.Record(e.c.Store, "bc1")
	if _, err := exec.ContentEntitlement(e.c.Store, "d4.auditor", rec, "Audit Act", e.c.TimeMs/1000); err == nil ||
		!strings.Contains(err.Error(), "d4.auditor's department d4 is not a member") {
		t.Fatalf("removed department's auditor: %v", err)
	}
}

func installType(rt *pb.RecordType) func(*pb.SubmitProposal) {
	return func(p *pb.SubmitProposal) {
		p.Change = &pb.SubmitProposal_InstallRecordType{InstallRecordType: rt}
	}
}

// TestRecordTypeVisibility: a record type's visibility is checked where
// record types enter (genesis, governance): an unknown value, a protected
// type with on-chain content or no content bound are refused; an
// installed type cannot turn between public and protected.
func TestRecordTypeVisibility(t *testing.T) {
	protected := pb.ContentVisibility_CONTENT_VISIBILITY_PROTECTED
	bad := []struct {
		name   string
		rt     *pb.RecordType
		reason string
	}{
		{"unknown visibility", &pb.RecordType{Visibility: 9}, "visibility 9 is not a known visibility"},
		{"protected with on-chain content", &pb.RecordType{Visibility: protected, OnChainContent: true, MaxContentBytes: 100},
			"record type y is protected: its content is kept beside the chain, so on_chain_content must be false"},
		{"protected without a content bound", &pb.RecordType{Visibility: protected}, "max_content_bytes must be in 1..4194304"},
	}
	for _, tc := range bad {
		t.Run("genesis: "+tc.name, func(t *testing.T) {
			f := exectest.NewFixture(2)
			rt := proto.Clone(tc.rt).(*pb.RecordType)
			rt.Id, rt.Name, rt.CreateDepartments = "y", "y", []string{"d0"}
			f.Genesis.RecordTypes = append(f.Genesis.RecordTypes, rt)
			ex, err := exec.New(exec.DefaultConfig(exectest.ChainID))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ex.InitGenesis(f.Genesis); !errors.Is(err, exec.ErrInvalidGenesis) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("InitGenesis: %v", err)
			}
		})
	}
	e := newEnv(t, 3)
	for i, tc := range bad {
		t.Run("governance: "+tc.name, func(t *testing.T) {
			rt := proto.Clone(tc.rt).(*pb.RecordType)
			rt.Id, rt.Name, rt.CreateDepartments = "y", "y", []string{"d0"}
			body := propose(fmt.Sprintf("bad%d", i), 50, installType(rt))
			if r := e.checkCopy(e.c.Store, "d0.admin", body); r.Code != codeInvalid || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("CheckTx %v %q", r.Code, r.Reason)
			}
			if r := e.refuse("d0.admin", codeInvalid, body); !strings.Contains(r.GetReason(), tc.reason) {
				t.Fatalf("reason %q", r.GetReason())
			}
		})
	}
	// A new protected type; the public land title (UNSPECIFIED) made
	// PUBLIC explicitly.
	lt := proto.Clone(e.f.Genesis.GetRecordTypes()[0]).(*pb.RecordType)
	lt.Visibility = pb.ContentVisibility_CONTENT_VISIBILITY_PUBLIC
	e.pass("d0", propose("lt", 50, installType(lt)), "d0", "d1", "d2")
	e.pass("d0", propose("mf", 50, installType(&pb.RecordType{
		Id: "medical", Name: "Medical file", CreateDepartments: []string{"d0"}, Visibility: protected, MaxContentBytes: 4096,
	})), "d0", "d1", "d2")
	if rt, err := exec.RecordType(e.c.Store, "medical"); err != nil || !exec.IsProtected(rt) {
		t.Fatalf("installed %v %v", rt, err)
	}
	// No turning between public and protected.
	bc := proto.Clone(e.f.Genesis.GetRecordTypes()[1]).(*pb.RecordType)
	bc.Visibility = pb.ContentVisibility_CONTENT_VISIBILITY_PUBLIC
	if r := e.refuse("d0.admin", codeConflict, propose("bc", 50, installType(bc))); !strings.Contains(r.GetReason(), "record type birth_cert exists; it cannot change between public and protected") {
		t.Fatalf("reason %q", r.GetReason())
	}
	hashOnly := &pb.RecordType{Id: "medical", Name: "Medical file", CreateDepartments: []string{"d0"}}
	e.refuse("d0.admin", codeConflict, propose("mf2", 50, installType(hashOnly)))
	// Checked again at execution: a public hash-only type proposed while
	// a protected one of the same id is being installed fails.
	e.ok("d0.admin", propose("pub", 50, installType(&pb.RecordType{Id: "scan", Name: "Scan", CreateDepartments: []string{"d0"}})))
	e.pass("d0", propose("prot", 50, installType(&pb.RecordType{
		Id: "scan", Name: "Scan", CreateDepartments: []string{"d0"}, Visibility: protected, MaxContentBytes: 10,
	})), "d0", "d1", "d2")
	for _, d := range []string{"d0", "d1", "d2"} {
		e.ok(d+".admin", vote("pub", true))
	}
	if p := proposalOf(t, e, "pub"); p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_FAILED || !strings.Contains(p.GetFailureReason(), "cannot change between public and protected") {
		t.Fatalf("proposal %v", p)
	}
	if rt, _ := exec.RecordType(e.c.Store, "scan"); !exec.IsProtected(rt) {
		t.Fatalf("scan %v", rt)
	}
}
