package main

// Tests of the CLI side of personal data (ARCHITECTURE.md §5, "Erasing
// personal data", "Who can read what"): protected record content sent
// beside the tx, erasure, reading protected content with an access
// receipt, the access log with proofs, and event filters. The node side
// is a fakeChain (client_test.go) that applies the node's payload rule.

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/state"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// A create of a protected type sends no content in the tx: a fresh payload
// goes beside it, whose commitment is the tx's content_hash; the same for
// an amendment. A public type keeps its content in the tx and sends no
// payload.
func TestTxRecordProtectedContentTravelsBeside(t *testing.T) {
	dir, sum, f := testnetFixture(t, 1)
	f.protectType(t, genesis.SampleBirthCert)
	addr := f.serve(t, 0)
	off := sum.Nodes[0].Official.ID
	tx := func(args ...string) result {
		return run(t, nil, append(append([]string{"tx", "record"}, args...), "--testnet", dir, "--signer", off, "--node", addr)...)
	}

	r := tx("create", "--id", "bc-1", "--type", "birth_certificate", "--subject", "account0", "--content", `{"name":"Ada"}`,
		"--content-type", "application/json", "--output", "json")
	if r.err != nil {
		t.Fatalf("create of a protected record: %v", r.err)
	}
	a := lastAccepted(t, f)
	cr := a.body.GetCreateRecord()
	if len(cr.GetContent()) != 0 || len(cr.GetContentHash()) != crypto.HashSize || cr.GetContentType() != "application/json" {
		t.Fatalf("protected create carries content %q, content_hash %x", cr.GetContent(), cr.GetContentHash())
	}
	if len(a.payloads) != 1 || string(a.payloads[0].GetContent()) != `{"name":"Ada"}` || len(a.payloads[0].GetSalt()) != crypto.PayloadSaltSize {
		t.Fatalf("payloads %v", a.payloads)
	}
	if err := crypto.Ed25519SHA256.CheckPayload(cr.GetContentHash(), a.payloads[0].GetSalt(), a.payloads[0].GetContent()); err != nil {
		t.Fatalf("the payload does not open the tx's content_hash: %v", err)
	}
	m := jsonObject(t, r.out)
	if pc, _ := m["payload_commitments"].([]any); len(pc) != 1 || pc[0] != hex.EncodeToString(cr.GetContentHash()) {
		t.Errorf("json payload_commitments: %s", r.out)
	}

	// The same content again: a new salt, so another commitment.
	mustRun(t, nil, "tx", "record", "create", "--testnet", dir, "--signer", off, "--node", addr,
		"--id", "bc-2", "--type", "birth_certificate", "--subject", "account1", "--content", `{"name":"Ada"}`)
	if again := lastAccepted(t, f).body.GetCreateRecord().GetContentHash(); string(again) == string(cr.GetContentHash()) {
		t.Error("two payloads of the same content share a commitment: the salt is not fresh")
	}

	// An amendment of the protected record, from a file: the record's
	// type is read from the chain.
	file := writeFile(t, filepath.Join(t.TempDir(), "v2.json"), `{"name":"Ada Lovelace"}`)
	r = tx("amend", "--id", "bc-1", "--expected-version", "1", "--content-file", file, "--reason", "name")
	if r.err != nil {
		t.Fatalf("amend of a protected record: %v", r.err)
	}
	if !strings.Contains(r.out, "protected content sent beside the chain") {
		t.Errorf("text output does not say where the content went:\n%s", r.out)
	}
	a = lastAccepted(t, f)
	am := a.body.GetAmendRecord()
	if len(am.GetContent()) != 0 || len(a.payloads) != 1 || crypto.Ed25519SHA256.CheckPayload(am.GetContentHash(), a.payloads[0].GetSalt(), a.payloads[0].GetContent()) != nil {
		t.Fatalf("protected amend: content %q hash %x payloads %v", am.GetContent(), am.GetContentHash(), a.payloads)
	}

	// A public type: content in the tx, no payload.
	mustRun(t, nil, "tx", "record", "create", "--testnet", dir, "--signer", off, "--node", addr,
		"--id", "lt-1", "--type", "land_title", "--subject", "account0", "--content", "parcel 7")
	if a := lastAccepted(t, f); string(a.body.GetCreateRecord().GetContent()) != "parcel 7" || len(a.payloads) != 0 {
		t.Fatalf("public create: content %q, %d payloads", a.body.GetCreateRecord().GetContent(), len(a.payloads))
	}

	// Refused before signing: a hash instead of the content, too much
	// content, and no content.
	big := strings.Repeat("x", 2049)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "--id", "bc-3", "--type", "birth_certificate", "--subject", "account0", "--content-hash", strings.Repeat("ab", 32)}, "not --content-hash"},
		{[]string{"create", "--id", "bc-3", "--type", "birth_certificate", "--subject", "account0", "--content", big}, "at most 2048"},
		{[]string{"amend", "--id", "bc-1", "--expected-version", "2", "--content-hash", strings.Repeat("ab", 32)}, "is protected"},
		// Content whose type the chain does not show is not sent at all:
		// a failed tx keeps it in a block for good.
		{[]string{"amend", "--id", "bc-404", "--expected-version", "1", "--content", "Ada"}, "not in the node's committed state"},
		{[]string{"create", "--id", "x-1", "--type", "passport", "--subject", "account0", "--content", "Ada"}, "record type passport is not on the chain"},
	} {
		before := len(f.accepted)
		r := tx(tc.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("tx record %v: err %v, want %q", tc.args, r.err, tc.want)
		}
		if len(f.accepted) != before {
			t.Errorf("tx record %v reached the node", tc.args)
		}
	}
}

// `tx record erase --id --reason [--legal-basis]` builds
// EraseRecordContent; its flags are checked, and a record the chain shows
// as public or already erased is refused before a nonce is spent.
func TestTxRecordErase(t *testing.T) {
	dir, sum, f := testnetFixture(t, 1)
	f.protectType(t, genesis.SampleBirthCert)
	addr := f.serve(t, 0)
	cit, off := sum.Accounts[0].ID, sum.Nodes[0].Official.ID
	mustRun(t, nil, "tx", "record", "create", "--testnet", dir, "--signer", off, "--node", addr,
		"--id", "bc-1", "--type", "birth_certificate", "--subject", cit, "--content", "Ada")

	mustRun(t, nil, "tx", "record", "erase", "--testnet", dir, "--signer", cit, "--node", addr,
		"--id", "bc-1", "--reason", "right to erasure", "--legal-basis", "GDPR art. 17")
	a := lastAccepted(t, f)
	e := a.body.GetEraseRecordContent()
	if e.GetRecordId() != "bc-1" || e.GetReason() != "right to erasure" || e.GetLegalBasis() != "GDPR art. 17" || a.body.GetSigner() != cit || len(a.payloads) != 0 {
		t.Fatalf("erase body %v", a.body)
	}
	if actionName(a.body) != "erase_record_content" {
		t.Errorf("action %s", actionName(a.body))
	}
	// An issuer, without a legal basis.
	mustRun(t, nil, "tx", "record", "erase", "--testnet", dir, "--signer", off, "--node", addr, "--id", "bc-1", "--reason", "issued in error")
	if e := lastAccepted(t, f).body.GetEraseRecordContent(); e.GetLegalBasis() != "" || e.GetReason() != "issued in error" {
		t.Errorf("erase by an issuer: %v", e)
	}

	mustRun(t, nil, "tx", "record", "create", "--testnet", dir, "--signer", off, "--node", addr,
		"--id", "lt-1", "--type", "land_title", "--subject", cit, "--content", "parcel")
	f.mu.Lock()
	f.kv[string(exec.RecordKey("bc-9"))] = &pb.Record{Id: "bc-9", RecordType: genesis.SampleBirthCert, Version: 1, ErasedHeight: 12, EraseReason: "court order"}
	f.mu.Unlock()
	if r := run(t, nil, "tx", "record", "amend", "--testnet", dir, "--signer", off, "--node", addr, "--id", "bc-9", "--expected-version", "1",
		"--content", "Ada"); r.err == nil || !strings.Contains(r.err.Error(), "content erased at height 12 (court order): it cannot be amended") {
		t.Errorf("amend of an erased record: %v", r.err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--id", "bc-1"}, `required flag(s) "reason" not set`},
		{[]string{"--id", "bc-1", "--reason", "  "}, "--reason is required"},
		{[]string{"--id", "Bad Id", "--reason", "x"}, `--id "Bad Id"`},
		{[]string{"--id", "", "--reason", "x"}, "--id"},
		{[]string{"--id", "bc-1", "--reason", strings.Repeat("r", exec.MaxTextBytes+1)}, "limit 1024"},
		{[]string{"--id", "lt-1", "--reason", "x"}, "not protected"},
		{[]string{"--id", "bc-9", "--reason", "x"}, "content erased at height 12 (court order)"},
	} {
		before := len(f.accepted)
		r := run(t, nil, append(append([]string{"tx", "record", "erase"}, tc.args...), "--testnet", dir, "--signer", off, "--node", addr)...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("erase %v: err %v, want %q", tc.args, r.err, tc.want)
		}
		if len(f.accepted) != before {
			t.Errorf("erase %v reached the node", tc.args)
		}
	}
}

// protectedRecord puts record id (a birth certificate of account0) with
// one version of content in the fake: the version in its state, and
// returns the content as the node releases it.
func protectedRecord(t *testing.T, f *fakeChain, id, content string) *pb.RecordContent {
	t.Helper()
	p, err := client.NewPayload([]byte(content))
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.kv[string(exec.RecordVersionKey(id, 1))] = &pb.RecordVersion{RecordId: id, Version: 1, ContentHash: crypto.Ed25519SHA256.PayloadCommitment(p.GetSalt(), p.GetContent())}
	f.mu.Unlock()
	return &pb.RecordContent{RecordId: id, Version: 1, Payload: p}
}

// `query record --content` sends include_content, purpose and legal
// basis, as an authenticated caller over https (found through --testnet);
// it prints the content only once it matches its version's content_hash,
// with the access receipt; it refuses an anonymous or plaintext caller
// with a clear message, and a content that does not match.
func TestQueryRecordContent(t *testing.T) {
	dir, sum, f := tlsFakeNetwork(t, 1)
	off := sum.Nodes[0].Official.ID
	rec := &pb.Record{Id: "bc-1", RecordType: genesis.SampleBirthCert, SubjectId: "account0", Version: 1, Status: pb.RecordStatus_RECORD_STATUS_ACTIVE}
	rc := protectedRecord(t, f, "bc-1", "Ada Lovelace\nborn 1815\x1b[2J")
	receipt := &pb.AccessReceipt{TxHash: []byte{0xac, 0xce}, Height: 41}
	f.record = &pb.QueryRecordResponse{Record: rec, Height: 42, Contents: []*pb.RecordContent{rc}, Access: receipt}
	q := func(args ...string) result {
		return run(t, nil, append([]string{"query", "record", "bc-1", "--testnet", dir}, args...)...)
	}

	r := q("--signer", off, "--content", "--purpose", "benefit claim", "--legal-basis", "Act 12")
	if r.err != nil {
		t.Fatalf("query record --content: %v\n%s", r.err, r.errOut)
	}
	f.mu.Lock()
	req := f.lastRecordReq
	f.mu.Unlock()
	if !req.GetIncludeContent() || req.GetPurpose() != "benefit claim" || req.GetLegalBasis() != "Act 12" || req.GetWithVersions() {
		t.Errorf("request %v", req)
	}
	for _, want := range []string{"access logged on chain: tx acce at height 41", "content of record bc-1 version 1 (", "  Ada Lovelace\n", `  "born 1815\x1b[2J"`} {
		if !strings.Contains(r.out, want) {
			t.Errorf("text output lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "\x1b") {
		t.Errorf("a terminal escape of the content reached the terminal:\n%q", r.out)
	}
	m := jsonObject(t, q("--signer", off, "--content", "--purpose", "benefit claim", "--output", "json").out)
	cs, _ := m["contents"].([]any)
	if len(cs) != 1 {
		t.Fatalf("json contents: %v", m)
	}
	c0 := cs[0].(map[string]any)
	if c0["content_text"] != "Ada Lovelace\nborn 1815\x1b[2J" || c0["verified"] != true || c0["version"] != float64(1) ||
		c0["content"] != hex.EncodeToString(rc.GetPayload().GetContent()) || c0["content_hash"] == "" {
		t.Errorf("json content: %v", c0)
	}
	if a := m["access"].(map[string]any); a["tx_hash"] != "acce" || a["height"] != float64(41) {
		t.Errorf("json access: %v", a)
	}
	// The version's hash is taken from the answer's versions when there.
	f.record = &pb.QueryRecordResponse{Record: rec, Height: 42, Contents: []*pb.RecordContent{rc}, Access: receipt,
		Versions: []*pb.RecordVersion{{RecordId: "bc-1", Version: 1, ContentHash: crypto.Ed25519SHA256.PayloadCommitment(rc.GetPayload().GetSalt(), rc.GetPayload().GetContent())}}}
	if r := q("--signer", off, "--content", "--purpose", "p", "--versions"); r.err != nil || !strings.Contains(r.out, "Ada Lovelace") {
		t.Errorf("with --versions: %v\n%s", r.err, r.out)
	}

	// A node returning a content that does not match: loud, nothing shown.
	forged := proto.Clone(rc).(*pb.RecordContent)
	forged.Payload.Content = []byte("Mallory")
	f.record = &pb.QueryRecordResponse{Record: rec, Height: 42, Contents: []*pb.RecordContent{forged}, Access: receipt}
	r = q("--signer", off, "--content", "--purpose", "p")
	if r.err == nil || !strings.Contains(r.err.Error(), "does NOT match the version's content_hash") || strings.Contains(r.out, "Mallory") {
		t.Errorf("forged content: %v\n%s", r.err, r.out)
	}
	// A content of another record.
	other := proto.Clone(rc).(*pb.RecordContent)
	other.RecordId = "bc-2"
	f.record = &pb.QueryRecordResponse{Record: rec, Height: 42, Contents: []*pb.RecordContent{other}}
	if r := q("--signer", off, "--content", "--purpose", "p"); r.err == nil || !strings.Contains(r.err.Error(), "content of record bc-2") {
		t.Errorf("content of another record: %v", r.err)
	}

	// An erased record says so.
	f.record = &pb.QueryRecordResponse{Record: &pb.Record{Id: "bc-1", RecordType: genesis.SampleBirthCert, Version: 1,
		ErasedHeight: 50, ErasedBy: "account0", EraseReason: "right to erasure"}, Height: 60}
	if r := q(); r.err != nil || !strings.Contains(r.out, "content erased at height 50 (right to erasure)") {
		t.Errorf("erased record: %v\n%s", r.err, r.out)
	}

	// Refusals, before the node is asked.
	plain := newFakeChain(sum.ChainID)
	plain.registerGenesis(t, sum.Genesis)
	plainAddr := plain.serve(t, 0)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--content", "--purpose", "p"}, "this one is anonymous: give --signer ID"},
		{[]string{"--content", "--signer", off}, "--purpose is required"},
		{[]string{"--purpose", "p"}, "go with --content"},
		{[]string{"--legal-basis", "x"}, "go with --content"},
		{[]string{"--content", "--purpose", "p", "--signer", off, "--node", plainAddr}, "plain http"},
	} {
		f.mu.Lock()
		f.lastRecordReq = nil
		f.mu.Unlock()
		r := q(tc.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("query record %v: err %v, want %q", tc.args, r.err, tc.want)
		}
		f.mu.Lock()
		asked := f.lastRecordReq != nil
		f.mu.Unlock()
		if asked {
			t.Errorf("query record %v asked the node", tc.args)
		}
	}
	// Without --testnet: --node https://, --ca and --key.
	f.record = &pb.QueryRecordResponse{Record: rec, Height: 42, Contents: []*pb.RecordContent{rc}, Access: receipt}
	r = run(t, nil, "query", "record", "bc-1", "--node", "https://"+sum.Nodes[0].APIAddr, "--ca", sum.Nodes[0].APICAFile, "--signer", off,
		"--key", sum.Nodes[0].Official.Key, "--content", "--purpose", "p")
	if r.err != nil || !strings.Contains(r.out, "Ada Lovelace") {
		t.Errorf("an authenticated caller with --node and --ca: %v\n%s", r.err, r.out)
	}
	// The node's own refusal (here: a caller the fake takes for
	// anonymous, its certificate not being sent) is shown with its code.
	r = run(t, nil, "query", "record", "bc-1", "--node", "https://"+sum.Nodes[0].APIAddr, "--ca", sum.Nodes[0].APICAFile, "--content", "--purpose", "p",
		"--signer", off, "--key", sum.Nodes[0].Admin.Key)
	if r.err == nil || !strings.Contains(r.err.Error(), "query record bc-1") {
		t.Errorf("a certificate the node refuses: %v", r.err)
	}
}

// With --prove, the content_hash a content is checked against is proven
// too (the version read from state with a proof, anchored in the genesis),
// not taken from the answer's versions.
func TestQueryRecordContentProven(t *testing.T) {
	p, err := client.NewPayload([]byte("Ada"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &pb.Record{Id: "bc-1", RecordType: genesis.SampleBirthCert, SubjectId: "account0", Version: 1, Status: pb.RecordStatus_RECORD_STATUS_ACTIVE}
	ver := &pb.RecordVersion{RecordId: "bc-1", Version: 1, ContentHash: crypto.Ed25519SHA256.PayloadCommitment(p.GetSalt(), p.GetContent())}
	recBytes, _ := proto.MarshalOptions{Deterministic: true}.Marshal(rec)
	verBytes, _ := proto.MarshalOptions{Deterministic: true}.Marshal(ver)
	w := newProofWorld(t, map[string][]byte{string(exec.RecordKey("bc-1")): recBytes, string(exec.RecordVersionKey("bc-1", 1)): verBytes})

	// A fake of the proof world's chain over TLS, knowing the test
	// network's identities (for the caller's certificate).
	_, sum, _ := testnetFixture(t, 1)
	f := newFakeChain(w.chainID)
	f.registerGenesis(t, sum.Genesis)
	f.status = &pb.StatusResponse{ChainId: w.chainID, Height: 4}
	provenReads := 0
	f.state = func(key []byte, prove bool) (*pb.QueryStateResponse, error) {
		v, err := w.tree.Get(1, key)
		if errors.Is(err, state.ErrNotFound) {
			return &pb.QueryStateResponse{Height: 4}, nil
		}
		if err != nil {
			return nil, connect.NewError(connect.CodeInternal, err)
		}
		res := &pb.QueryStateResponse{Found: true, Value: v, Height: 4}
		if prove {
			provenReads++
			res.Proof = w.prove(t, key, 3)
		}
		return res, nil
	}
	addr := f.serveTLS(t, 0, sum.Nodes[0].Home)
	off := sum.Nodes[0].Official
	q := func(args ...string) result {
		return run(t, nil, append([]string{"query", "record", "bc-1", "--node", "https://" + addr, "--ca", sum.Nodes[0].APICAFile,
			"--signer", off.ID, "--key", off.Key, "--content", "--purpose", "p", "--genesis", w.genesis}, args...)...)
	}
	rc := &pb.RecordContent{RecordId: "bc-1", Version: 1, Payload: p}
	f.record = &pb.QueryRecordResponse{Record: rec, Height: 4, Proof: w.prove(t, exec.RecordKey("bc-1"), 4), Contents: []*pb.RecordContent{rc}}
	r := q("--prove", "--output", "json")
	if r.err != nil {
		t.Fatalf("proven content: %v", r.err)
	}
	m := jsonObject(t, r.out)
	if c0 := m["contents"].([]any)[0].(map[string]any); c0["content_text"] != "Ada" || c0["verified"] != true || provenReads != 1 ||
		m["proof"].(map[string]any)["verified"] != true {
		t.Fatalf("proven content (%d proven reads):\n%s", provenReads, r.out)
	}

	// A node that returns another content with a version of its own
	// making, whose hash that content opens: without --prove the answer's
	// version is taken; with --prove the proven version decides.
	forged := &pb.RecordContent{RecordId: "bc-1", Version: 1, Payload: &pb.Payload{Salt: p.GetSalt(), Content: []byte("Mallory")}}
	f.record = &pb.QueryRecordResponse{Record: rec, Height: 4, Proof: w.prove(t, exec.RecordKey("bc-1"), 4), Contents: []*pb.RecordContent{forged},
		Versions: []*pb.RecordVersion{{RecordId: "bc-1", Version: 1, ContentHash: crypto.Ed25519SHA256.PayloadCommitment(p.GetSalt(), []byte("Mallory"))}}}
	if r := q("--versions"); r.err != nil || !strings.Contains(r.out, "Mallory") {
		t.Fatalf("without --prove the answer's versions are used: %v\n%s", r.err, r.out)
	}
	r = q("--versions", "--prove")
	if r.err == nil || !strings.Contains(r.err.Error(), "does NOT match") || strings.Contains(r.out, "Mallory") {
		t.Fatalf("a content against its proven version: %v\n%s", r.err, r.out)
	}
}

// `query access-log --subject ID --output json` lists every entry with
// every field under fixed names, empty ones included; --prove asks for
// proofs and verifies each entry against the genesis, refusing an entry
// that is not the proven one and a missing proof.
func TestQueryAccessLog(t *testing.T) {
	entries := []*pb.AccessEntry{
		{RecordId: "bc-1", Seq: 1, AccessorId: "dept1-official", DepartmentId: "dept1", Purpose: "benefit claim", GrantId: "g1",
			RecordedBy: "dept0", Channel: "query", Height: 7, TimeUnixMs: 1700000000123, TxHash: []byte{0xaa, 0xbb}},
		{RecordId: "lt-2", Seq: 4, AccessorId: "dept0-official", DepartmentId: "dept0", Purpose: "audit", LegalBasis: "Act 5", Height: 9,
			TimeUnixMs: 1700000001000, TxHash: []byte{0xcc}},
	}
	kv := map[string][]byte{}
	for _, e := range entries {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(e)
		kv[string(exec.AccessEntryKey(e.GetRecordId(), e.GetSeq()))] = b
	}
	w := newProofWorld(t, kv)
	f := newFakeChain(w.chainID)
	f.status = &pb.StatusResponse{ChainId: w.chainID, Height: 4}
	f.accessLog = &pb.QueryAccessLogResponse{Entries: entries, Height: 4}
	addr := f.serve(t, 0)

	r := mustRun(t, nil, "query", "access-log", "--subject", "account0", "--node", addr, "--output", "json")
	f.mu.Lock()
	req := f.lastAccessReq
	f.mu.Unlock()
	if req.GetSubjectId() != "account0" || req.GetRecordId() != "" || req.GetProve() {
		t.Errorf("request %v", req)
	}
	m := jsonObject(t, r.out)
	got := m["entries"].([]any)
	if len(got) != 2 || m["height"] != float64(4) {
		t.Fatalf("entries: %s", r.out)
	}
	fields := []string{"record_id", "seq", "accessor_id", "department_id", "purpose", "legal_basis", "grant_id", "recorded_by", "channel", "height", "time_unix_ms", "time", "tx_hash"}
	for i, e := range got {
		em := e.(map[string]any)
		for _, k := range fields {
			if _, ok := em[k]; !ok {
				t.Errorf("entry %d lacks %q: %v", i, k, em)
			}
		}
	}
	e0 := got[0].(map[string]any)
	if e0["accessor_id"] != "dept1-official" || e0["recorded_by"] != "dept0" || e0["channel"] != "query" || e0["grant_id"] != "g1" ||
		e0["seq"] != float64(1) || e0["tx_hash"] != "aabb" || e0["time"] != "2023-11-14T22:13:20.123Z" || e0["legal_basis"] != "" {
		t.Errorf("entry 0: %v", e0)
	}
	txt := mustRun(t, nil, "query", "access-log", "--subject", "account0", "--node", addr).out
	if !strings.Contains(txt, "by dept1-official (dept1)") || !strings.Contains(txt, "by dept0-official (dept0)") || !strings.Contains(txt, "released by dept0's node (query)") || !strings.Contains(txt, `legal basis "Act 5"`) {
		t.Errorf("text:\n%s", txt)
	}

	// --prove: one proof per entry.
	proofs := func() []*pb.StateProof {
		var ps []*pb.StateProof
		for _, e := range entries {
			ps = append(ps, w.prove(t, exec.AccessEntryKey(e.GetRecordId(), e.GetSeq()), 3))
		}
		return ps
	}
	f.accessLog = &pb.QueryAccessLogResponse{Entries: entries, Height: 4, Proofs: proofs()}
	r = mustRun(t, nil, "query", "access-log", "--subject", "account0", "--node", addr, "--prove", "--genesis", w.genesis)
	if strings.Count(r.out, "verified: proof verified against block 3") != 2 {
		t.Errorf("proven text:\n%s", r.out)
	}
	f.mu.Lock()
	if !f.lastAccessReq.GetProve() {
		t.Error("--prove did not ask for proofs")
	}
	f.mu.Unlock()
	m = jsonObject(t, mustRun(t, nil, "query", "access-log", "--record", "bc-1", "--node", addr, "--prove", "--genesis", w.genesis, "--output", "json").out)
	for i, e := range m["entries"].([]any) {
		if pr := e.(map[string]any)["proof"].(map[string]any); pr["verified"] != true || pr["present"] != true {
			t.Errorf("entry %d proof: %v", i, pr)
		}
	}
	// A node that rewrites an entry (the purpose) but proves the real one.
	lied := proto.Clone(entries[1]).(*pb.AccessEntry)
	lied.Purpose = "nothing to see"
	f.accessLog = &pb.QueryAccessLogResponse{Entries: []*pb.AccessEntry{entries[0], lied}, Height: 4, Proofs: proofs()}
	r = run(t, nil, "query", "access-log", "--subject", "account0", "--node", addr, "--prove", "--genesis", w.genesis)
	if r.err == nil || !strings.Contains(r.err.Error(), "access entry 4 of record lt-2: proof NOT verified") || strings.Contains(r.out, "nothing to see") {
		t.Errorf("rewritten entry: %v\n%s", r.err, r.out)
	}
	// Fewer proofs than entries; a proof signed by too few validators.
	f.accessLog = &pb.QueryAccessLogResponse{Entries: entries, Height: 4, Proofs: proofs()[:1]}
	if r := run(t, nil, "query", "access-log", "--subject", "account0", "--node", addr, "--prove", "--genesis", w.genesis); r.err == nil ||
		!strings.Contains(r.err.Error(), "2 access entries") {
		t.Errorf("missing proof: %v", r.err)
	}
	weak := proofs()
	weak[0] = w.prove(t, exec.AccessEntryKey("bc-1", 1), 1)
	f.accessLog = &pb.QueryAccessLogResponse{Entries: entries, Height: 4, Proofs: weak}
	if r := run(t, nil, "query", "access-log", "--subject", "account0", "--node", addr, "--prove", "--genesis", w.genesis); r.err == nil ||
		!strings.Contains(r.err.Error(), "NOT verified") {
		t.Errorf("weak proof: %v", r.err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--subject", "Account0"}, `--subject "Account0"`},
		{[]string{"--record", "a/b"}, `--record "a/b"`},
		{[]string{"--record", "r", "--subject", "s"}, "exactly one of --record and --subject"},
	} {
		if r := run(t, nil, append([]string{"query", "access-log", "--node", addr}, tc.args...)...); r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("access-log %v: %v, want %q", tc.args, r.err, tc.want)
		}
	}
}

// `govnode events` maps its filters and --content onto the request, caps
// each filter at 32 ids, and prints the released contents after checking
// each against its version's content_hash.
func TestEventsFiltersAndContents(t *testing.T) {
	dir, sum, f := tlsFakeNetwork(t, 1)
	off := sum.Nodes[0].Official.ID
	rc := protectedRecord(t, f, "bc-1", "Ada")
	ev := &pb.Event{Height: 1, TxHash: []byte{1}, Kind: &pb.Event_Record{Record: &pb.RecordEvent{RecordId: "bc-1", RecordType: genesis.SampleBirthCert, Action: "created", Version: 1}}}
	f.events = []*pb.StreamEventsResponse{
		{Height: 1, BlockHash: []byte{1}, Events: []*pb.Event{ev}, Contents: []*pb.RecordContent{rc}, Access: &pb.AccessReceipt{TxHash: []byte{0xee}, Height: 2}},
		{Height: 2, BlockHash: []byte{2}},
	}
	events := func(args ...string) result {
		return run(t, nil, append([]string{"events", "--from", "1", "--to", "2", "--testnet", dir, "--signer", off}, args...)...)
	}
	r := events("--record-type", "birth_certificate,land_title", "--department", "dept0", "--department", "dept1", "--subject", "account0",
		"--content", "--purpose", "case work", "--legal-basis", "Act 9")
	if r.err != nil {
		t.Fatalf("events: %v", r.err)
	}
	f.mu.Lock()
	req := f.lastEventsReqs[len(f.lastEventsReqs)-1]
	f.mu.Unlock()
	if strings.Join(req.GetRecordTypes(), ",") != "birth_certificate,land_title" || strings.Join(req.GetDepartmentIds(), ",") != "dept0,dept1" ||
		strings.Join(req.GetSubjectIds(), ",") != "account0" || !req.GetIncludeContent() || req.GetPurpose() != "case work" || req.GetLegalBasis() != "Act 9" {
		t.Errorf("request %v", req)
	}
	for _, want := range []string{"record created record_id=bc-1", "height 1 access logged on chain: tx ee at height 2", "content of record bc-1 version 1", "  Ada\n"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("text lacks %q:\n%s", want, r.out)
		}
	}
	r = events("--content", "--purpose", "case work", "--output", "json")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if r.err != nil || len(lines) != 2 {
		t.Fatalf("json events: %v\n%s", r.err, r.out)
	}
	cl := jsonObject(t, lines[1])
	if cl["type"] != "content" || cl["height"] != float64(1) || cl["content"].(map[string]any)["content_text"] != "Ada" ||
		cl["access"].(map[string]any)["tx_hash"] != "ee" {
		t.Errorf("content line: %s", lines[1])
	}
	// Without filters or --content the request carries none.
	mustRun(t, nil, "events", "--from", "2", "--to", "2", "--testnet", dir)
	f.mu.Lock()
	req = f.lastEventsReqs[len(f.lastEventsReqs)-1]
	f.mu.Unlock()
	if len(req.GetRecordTypes())+len(req.GetDepartmentIds())+len(req.GetSubjectIds()) != 0 || req.GetIncludeContent() {
		t.Errorf("plain request %v", req)
	}

	// A content that does not match its version: the stream stops.
	forged := proto.Clone(rc).(*pb.RecordContent)
	forged.Payload.Content = []byte("Mallory")
	f.events[0].Contents = []*pb.RecordContent{forged}
	r = events("--content", "--purpose", "p")
	if r.err == nil || !strings.Contains(r.err.Error(), "does NOT match") || strings.Contains(r.out, "Mallory") {
		t.Errorf("forged content: %v\n%s", r.err, r.out)
	}

	many := make([]string, 33)
	for i := range many {
		many[i] = "t" + itoa(i)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--record-type", strings.Join(many, ",")}, "--record-type: 33 ids, at most 32"},
		{[]string{"--subject", "UPPER"}, `--subject "UPPER"`},
		{[]string{"--department", "a b"}, `--department "a b"`},
		{[]string{"--content"}, "--purpose is required"},
		{[]string{"--purpose", "p"}, "go with --content"},
	} {
		if r := events(tc.args...); r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("events %v: %v, want %q", tc.args, r.err, tc.want)
		}
	}
	if r := run(t, nil, "events", "--from", "1", "--to", "2", "--testnet", dir, "--content", "--purpose", "p"); r.err == nil || !strings.Contains(r.err.Error(), "anonymous") {
		t.Errorf("anonymous --content: %v", r.err)
	}
}

// `query access-log` reads every page of a long log (the node answers at
// most 1000 entries a page); --limit N asks for one page of N.
func TestQueryAccessLogPages(t *testing.T) {
	var entries []*pb.AccessEntry
	for i := 1; i <= 5; i++ {
		entries = append(entries, &pb.AccessEntry{RecordId: "bc-1", Seq: uint64(i), AccessorId: "dept0-official", Purpose: "audit", Height: 3})
	}
	f := newFakeChain("pages")
	f.status = &pb.StatusResponse{ChainId: "pages", Height: 4}
	f.accessLog = &pb.QueryAccessLogResponse{Entries: entries, Height: 4}
	f.accessLogPage = 2
	addr := f.serve(t, 0)
	r := mustRun(t, nil, "query", "access-log", "--subject", "account0", "--node", addr, "--output", "json")
	var out struct {
		Entries []struct {
			Seq json.Number `json:"seq"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(r.out), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.out)
	}
	if len(out.Entries) != 5 || f.accessLogCalls != 3 {
		t.Fatalf("%d entries in %d calls, want 5 in 3", len(out.Entries), f.accessLogCalls)
	}
	f.accessLogCalls = 0
	r = mustRun(t, nil, "query", "access-log", "--subject", "account0", "--node", addr, "--limit", "2", "--output", "json")
	if err := json.Unmarshal([]byte(r.out), &out); err != nil || len(out.Entries) != 2 || f.accessLogCalls != 1 {
		t.Fatalf("--limit 2: %d entries in %d calls (%v)", len(out.Entries), f.accessLogCalls, err)
	}
}
