package exec_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestEnvelopeRefusalsChangeNothing checks ARCHITECTURE.md §7 "every bad input gets
// a clear error and changes nothing" for each envelope check.
func TestEnvelopeRefusalsChangeNothing(t *testing.T) {
	e := newEnv(t, 2)
	s := e.s("cit0")
	good := func() *pb.TxBody { return grant("g1", "d1", "", exectest.LandTitle, 1<<40) }
	body := good()
	body.Nonce = 1
	body.ChainId, body.Signer = exectest.ChainID, "cit0"
	cases := []struct {
		name string
		tx   []byte
		code pb.ResultCode
	}{
		{"garbage", []byte{0xff, 0xff, 0xff}, codeMalformed},
		{"empty", nil, codeMalformed},
		{"no signature", mustMarshal(&pb.SignedTx{Body: mustMarshal(body)}), codeMalformed},
		{"no action", exectest.SignBody(s.Key, &pb.TxBody{ChainId: exectest.ChainID, Signer: "cit0", Nonce: 1}), codeMalformed},
		{"body garbage", mustMarshal(&pb.SignedTx{Body: []byte{0xff}, Signature: []byte{1}}), codeMalformed},
		{"too large", make([]byte, 64<<10+1), codeTooLarge},
		{"wrong chain", exectest.SignBody(s.Key, with(good(), func(b *pb.TxBody) { b.ChainId, b.Signer, b.Nonce = "other", "cit0", 1 })), codeWrongChain},
		{"unknown signer", exectest.SignBody(s.Key, with(good(), func(b *pb.TxBody) { b.ChainId, b.Signer, b.Nonce = exectest.ChainID, "ghost", 1 })), codeUnknown},
		{"invalid signer id", exectest.SignBody(s.Key, with(good(), func(b *pb.TxBody) { b.ChainId, b.Signer, b.Nonce = exectest.ChainID, "a/b", 1 })), codeUnknown},
		{"nonce too high", exectest.SignBody(s.Key, with(good(), func(b *pb.TxBody) { b.ChainId, b.Signer, b.Nonce = exectest.ChainID, "cit0", 2 })), codeBadNonce},
		{"nonce zero", exectest.SignBody(s.Key, with(good(), func(b *pb.TxBody) { b.ChainId, b.Signer = exectest.ChainID, "cit0" })), codeBadNonce},
		{"wrong key", exectest.SignBody(e.s("cit1").Key, with(good(), func(b *pb.TxBody) { b.ChainId, b.Signer, b.Nonce = exectest.ChainID, "cit0", 1 })), codeBadSig},
		{"memo too large", exectest.SignBody(s.Key, with(good(), func(b *pb.TxBody) {
			b.ChainId, b.Signer, b.Nonce, b.Memo = exectest.ChainID, "cit0", 1, strings.Repeat("m", exec.MaxMemoBytes+1)
		})), codeTooLarge},
	}
	// A signature over other bytes than the body (re-encoded body with a memo).
	tampered := &pb.SignedTx{}
	if err := proto.Unmarshal(exectest.SignBody(s.Key, body), tampered); err != nil {
		t.Fatal(err)
	}
	tampered.Body = append(tampered.Body, mustMarshal(&pb.TxBody{Memo: "x"})...)
	cases = append(cases, struct {
		name string
		tx   []byte
		code pb.ResultCode
	}{"tampered body", mustMarshal(tampered), codeBadSig})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := e.block(c.tx)
			r := res.Results[0]
			if r.GetCode() != c.code || r.GetReason() == "" {
				t.Fatalf("result %v (%s), want %v", r.GetCode(), r.GetReason(), c.code)
			}
			if len(res.Changes) != 0 || len(res.Events) != 0 {
				t.Fatalf("refused envelope changed state: %d changes, %d events", len(res.Changes), len(res.Events))
			}
			if len(r.GetTxHash()) != 32 {
				t.Fatalf("tx hash %x", r.GetTxHash())
			}
		})
	}
	// The good tx still applies with nonce 1: nothing was consumed.
	e.tx(codeOK, exectest.SignBody(s.Key, body))
	// Replaying it is refused.
	e.tx(codeBadNonce, exectest.SignBody(s.Key, body))
}

func with(b *pb.TxBody, f func(*pb.TxBody)) *pb.TxBody { f(b); return b }

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// TestFailedActionConsumesNonce checks the nonce policy (doc.go).
func TestFailedActionConsumesNonce(t *testing.T) {
	e := newEnv(t, 2)
	s := e.s("cit0")
	failing := s.Tx(revokeGrant("nope"))
	next := s.Tx(grant("g1", "d1", "", exectest.LandTitle, 1<<40))
	res := e.block(failing, next, failing)
	if res.Results[0].GetCode() != codeNotFound || res.Results[1].GetCode() != codeOK || res.Results[2].GetCode() != codeBadNonce {
		t.Fatalf("results %v", res.Results)
	}
	if n, err := exec.Nonce(e.c.Store, "cit0"); err != nil || n != 2 {
		t.Fatalf("nonce %d, %v", n, err)
	}
	if n, err := exec.Nonce(e.c.Store, "cit1"); err != nil || n != 0 {
		t.Fatalf("unused nonce %d, %v", n, err)
	}
}

// TestLaterTxSeesEarlierWrites checks the in-block overlay.
func TestLaterTxSeesEarlierWrites(t *testing.T) {
	e := newEnv(t, 2)
	res := e.block(
		e.s("d0.registrar").Tx(regSubject("alice", citizen)),
		e.s("d0.issuer").Tx(createRec("lt1", exectest.LandTitle, "alice", []byte("p"))),
		e.s("alice").Tx(consent("lt1", "cit0", 1<<40)),
		e.s("d0.issuer").Tx(transfer("lt1", "cit0")),
		e.s("d0.issuer").Tx(amendRec("lt1", 2, []byte("p2"))),
	)
	for i, r := range res.Results {
		if r.GetCode() != codeOK {
			t.Fatalf("tx %d: %v %s", i, r.GetCode(), r.GetReason())
		}
	}
	// Changes are sorted and unique.
	for i := 1; i < len(res.Changes); i++ {
		if string(res.Changes[i-1].Key) >= string(res.Changes[i].Key) {
			t.Fatalf("changes not sorted/unique at %d: %q, %q", i, res.Changes[i-1].Key, res.Changes[i].Key)
		}
	}
	// The consent was written and deleted in the same block: no change for it.
	for _, c := range res.Changes {
		if string(c.Key) == string(exec.TransferConsentKey("lt1")) {
			t.Fatalf("no-op delete of %q in changes", c.Key)
		}
	}
}

type countingCache struct {
	mu   sync.Mutex
	seen map[string]bool
	hits int
}

func (c *countingCache) Seen(k []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[string(k)] {
		c.hits++
		return true
	}
	return false
}

func (c *countingCache) Add(k []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[string(k)] = true
}

func TestCheckTx(t *testing.T) {
	f := exectest.NewFixture(2)
	cache := &countingCache{seen: map[string]bool{}}
	cfg := exec.DefaultConfig(exectest.ChainID)
	cfg.SigCache = cache
	ch, err := f.NewChain(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ex, st := ch.Exec, ch.Store
	check := func(tx []byte) *exec.CheckResult {
		t.Helper()
		r, err := ex.CheckTx(st, tx)
		if err != nil {
			t.Fatalf("CheckTx: %v", err)
		}
		return r
	}
	s := f.S("cit0")
	tx1 := s.Tx(grant("g1", "d1", "", exectest.LandTitle, 1<<40))
	tx3 := exectest.SignBody(s.Key, with(grant("g3", "d1", "", exectest.LandTitle, 1<<40), func(b *pb.TxBody) { b.ChainId, b.Signer, b.Nonce = exectest.ChainID, "cit0", 3 }))
	r := check(tx1)
	if !r.OK() || r.Signer != "cit0" || r.Nonce != 1 || r.NextNonce != 1 || len(r.TxHash) != 32 {
		t.Fatalf("check %+v", r)
	}
	// A future nonce is fine for the mempool.
	if r := check(tx3); !r.OK() || r.Nonce != 3 || r.NextNonce != 1 {
		t.Fatalf("future nonce %+v", r)
	}
	// ApplyBlock reuses the mempool's verdict.
	res, err := ch.Apply(tx1)
	if err != nil || res.Results[0].GetCode() != codeOK {
		t.Fatalf("apply %v %v", res, err)
	}
	if cache.hits != 1 {
		t.Fatalf("sig cache hits %d, want 1", cache.hits)
	}
	// A past nonce is refused with the next expected.
	if r := check(tx1); r.Code != codeBadNonce || r.NextNonce != 2 {
		t.Fatalf("replay %+v", r)
	}
	// Role pre-check.
	if r := check(s.Tx(regSubject("bob", citizen))); r.Code != codeUnauthorized {
		t.Fatalf("citizen registering: %+v", r)
	}
	if r := check(f.S("d0.auditor").Tx(createRec("x", exectest.LandTitle, "cit0", []byte("x")))); r.Code != codeUnauthorized {
		t.Fatalf("auditor creating: %+v", r)
	}
	for _, b := range []*pb.TxBody{
		regOfficial("x", "d0", roleAuditor), setRoles("d0.auditor", roleAuditor), setStatus("cit0", suspended, "x"),
		issueCred("c", "cit0", 0), revokeCred("c", "x"), access("r", "x"),
		propose("p", 10, addDept("d9")), vote("p", true),
	} {
		if r := check(f.S("cit1").Tx(b)); r.Code != codeUnauthorized {
			t.Fatalf("citizen pre-check %T: %+v", b.GetAction(), r)
		}
	}
	// Argument checks.
	if r := check(f.S("d0.registrar").Tx(regSubject("bad/id", citizen))); r.Code != codeInvalid {
		t.Fatalf("bad id: %+v", r)
	}
	if r := check(f.S("d0.registrar").Tx(regSubject("ok", citizen))); !r.OK() {
		t.Fatalf("registrar: %+v", r)
	}
	// Envelope refusals.
	if r := check([]byte{1, 2, 3}); r.Code != codeMalformed || r.Signer != "" {
		t.Fatalf("garbage %+v", r)
	}
	if r := check(exectest.SignBody(f.S("cit1").Key, with(grant("g", "d1", "", exectest.LandTitle, 1<<40), func(b *pb.TxBody) { b.ChainId, b.Signer, b.Nonce = exectest.ChainID, "cit0", 5 }))); r.Code != codeBadSig {
		t.Fatalf("bad sig %+v", r)
	}
	// Storage failure and missing genesis are errors, not verdicts.
	st.FailGet = string(exec.IdentityKey("cit0"))
	if _, err := ex.CheckTx(st, tx3); err == nil {
		t.Fatal("storage failure not reported")
	}
	if _, err := ex.ApplyBlock(st, ch.Header(exectest.GenesisTimeMs+60000), [][]byte{tx3}); err == nil {
		t.Fatal("storage failure not reported by ApplyBlock")
	}
	st.FailGet = ""
	if _, err := ex.CheckTx(exectest.NewStore(), tx3); !errors.Is(err, exec.ErrNotInitialised) {
		t.Fatalf("empty state: %v", err)
	}
}

func TestDecodeTx(t *testing.T) {
	s := exectest.NewSigner("cit0")
	good := s.Tx(grant("g", "d1", "", "x", 1))
	stx, body, err := exec.DecodeTx(good)
	if err != nil || len(stx.GetSignature()) != 64 || body.GetGrantAccess().GetGrantId() != "g" {
		t.Fatalf("decode: %v %v", body, err)
	}
	if _, _, err := exec.DecodeTx(make([]byte, exec.HardMaxTxBytes+1)); !errors.Is(err, exec.ErrTooLarge) {
		t.Fatalf("huge: %v", err)
	}
	for _, b := range [][]byte{nil, {0xff}, mustMarshal(&pb.SignedTx{Signature: []byte{1}}), mustMarshal(&pb.SignedTx{Body: []byte{1}})} {
		if _, _, err := exec.DecodeTx(b); !errors.Is(err, exec.ErrMalformed) {
			t.Fatalf("%x: %v", b, err)
		}
	}
	if h := exec.TxHash(crypto.Ed25519SHA256, good); len(h) != 32 {
		t.Fatalf("hash %x", h)
	}
}

func TestApplyBlockErrors(t *testing.T) {
	e := newEnv(t, 2)
	ex := e.c.Exec
	if _, err := ex.ApplyBlock(e.c.Store, nil, nil); err == nil {
		t.Fatal("nil header")
	}
	if _, err := ex.ApplyBlock(e.c.Store, &pb.Header{ChainId: "other", Height: 1}, nil); err == nil {
		t.Fatal("wrong chain header")
	}
	if _, err := ex.ApplyBlock(e.c.Store, &pb.Header{ChainId: exectest.ChainID}, nil); err == nil {
		t.Fatal("height 0")
	}
	if _, err := ex.ApplyBlock(exectest.NewStore(), &pb.Header{ChainId: exectest.ChainID, Height: 1}, nil); !errors.Is(err, exec.ErrNotInitialised) {
		t.Fatalf("empty state: %v", err)
	}
}

func TestConfigAndGenesis(t *testing.T) {
	bad := []exec.Config{
		{},
		{ChainID: "a b", CELCostLimit: 1, MaxExprBytes: 1},
		{ChainID: "c", MaxExprBytes: 1},
		{ChainID: "c", CELCostLimit: 1},
	}
	for _, c := range bad {
		if _, err := exec.New(c); err == nil {
			t.Fatalf("config %+v accepted", c)
		}
	}
	ex, err := exec.New(exec.DefaultConfig(exectest.ChainID))
	if err != nil {
		t.Fatal(err)
	}
	mutations := map[string]func(*pb.GenesisDoc){
		"nil params":           func(d *pb.GenesisDoc) { d.Params = nil },
		"chain id":             func(d *pb.GenesisDoc) { d.ChainId = "other" },
		"fault model":          func(d *pb.GenesisDoc) { d.FaultModel = "optimistic" },
		"no validators":        func(d *pb.GenesisDoc) { d.Validators = nil },
		"dup department":       func(d *pb.GenesisDoc) { d.Validators[1].Id = d.Validators[0].Id },
		"shared key":           func(d *pb.GenesisDoc) { d.Validators[1].ConsensusKey = d.Validators[0].ConsensusKey },
		"bad key":              func(d *pb.GenesisDoc) { d.Validators[0].ConsensusKey = &pb.PublicKey{} },
		"zero tx bytes":        func(d *pb.GenesisDoc) { d.Params.MaxTxBytes = 0 },
		"block below tx":       func(d *pb.GenesisDoc) { d.Params.MaxBlockBytes = 1 },
		"zero delay":           func(d *pb.GenesisDoc) { d.Params.ValidatorChangeDelay = 0 },
		"zero txs":             func(d *pb.GenesisDoc) { d.Params.MaxBlockTxs = 0 },
		"zero timeout":         func(d *pb.GenesisDoc) { d.Params.ProposeTimeoutMs = 0 },
		"view below propose":   func(d *pb.GenesisDoc) { d.Params.MaxViewTimeoutMs = 1 },
		"record type dept":     func(d *pb.GenesisDoc) { d.RecordTypes[0].CreateDepartments = []string{"d9"} },
		"dup record type":      func(d *pb.GenesisDoc) { d.RecordTypes[1].Id = d.RecordTypes[0].Id },
		"dup template":         func(d *pb.GenesisDoc) { d.ContractTemplates = append(d.ContractTemplates, exec.TenderTemplate()) },
		"identity dept":        func(d *pb.GenesisDoc) { d.Identities[0].DepartmentId = "d9" },
		"identity dup":         func(d *pb.GenesisDoc) { d.Identities[1].Id = d.Identities[0].Id },
		"identity key":         func(d *pb.GenesisDoc) { d.Identities[0].PublicKey = nil },
		"identity no name":     func(d *pb.GenesisDoc) { d.Identities[0].DisplayName = "" },
		"identity kind":        func(d *pb.GenesisDoc) { d.Identities[0].Kind = 0 },
		"identity status":      func(d *pb.GenesisDoc) { d.Identities[0].Status = suspended },
		"identity history":     func(d *pb.GenesisDoc) { d.Identities[0].KeyHistory = []*pb.KeyChange{{}} },
		"citizen roles":        func(d *pb.GenesisDoc) { d.Identities[len(d.Identities)-1].Roles = roleAdmin },
		"issuer unknown type":  func(d *pb.GenesisDoc) { d.Identities[2].IssuerRecordTypes = []string{"nope"} },
		"bad role":             func(d *pb.GenesisDoc) { d.Identities[0].Roles = []pb.Role{42} },
		"bad attribute":        func(d *pb.GenesisDoc) { d.Identities[0].Attributes = []*pb.Attribute{{}} },
		"department no name":   func(d *pb.GenesisDoc) { d.Validators[0].Name = "" },
		"department bad addrs": func(d *pb.GenesisDoc) { d.Validators[0].Addrs = []string{""} },
	}
	for name, m := range mutations {
		t.Run(name, func(t *testing.T) {
			f := exectest.NewFixture(2)
			m(f.Genesis)
			if _, err := ex.InitGenesis(f.Genesis); !errors.Is(err, exec.ErrInvalidGenesis) {
				t.Fatalf("InitGenesis: %v", err)
			}
		})
	}
	if _, err := ex.InitGenesis(nil); !errors.Is(err, exec.ErrInvalidGenesis) {
		t.Fatal("nil genesis accepted")
	}
	// Genesis state is readable through the query helpers.
	f := exectest.NewFixture(3)
	ch, err := ex.InitGenesis(f.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	st := exectest.NewStore()
	st.Apply(ch)
	if vs, err := exec.ValidatorSet(st); err != nil || len(vs.GetValidators()) != 3 || vs.GetEffectiveHeight() != 1 || vs.GetFaultModel() != "byzantine" {
		t.Fatalf("valset %v %v", vs, err)
	}
	if p, err := exec.Params(st); err != nil || p.GetMaxTxBytes() == 0 {
		t.Fatalf("params %v %v", p, err)
	}
	if idn, err := exec.Identity(st, "d1.admin"); err != nil || idn.GetStatus() != active {
		t.Fatalf("identity %v %v", idn, err)
	}
	for _, q := range []error{
		errOf(exec.Identity(st, "nobody")), errOf(exec.Record(st, "x")), errOf(exec.RecordVersions(st, "x")),
		errOf(exec.Contract(st, "x")), errOf(exec.Proposal(st, "x")), errOf(exec.Grant(st, "x")),
		errOf(exec.Department(st, "x")), errOf(exec.Credential(st, "x")), errOf(exec.Template(st, "x")),
		errOf(exec.RecordType(st, "x")), errOf(exec.TransferConsent(st, "x")), errOf(exec.Evidence(st, "d0", 1, 1)),
	} {
		if !errors.Is(q, exec.ErrNotFound) {
			t.Fatalf("absent object: %v", q)
		}
	}
	// Keys are stable: they are what the API asks proofs for.
	for _, k := range [][]byte{exec.ParamsKey(), exec.ValidatorSetKey(1), exec.DepartmentKey("d0"), exec.IdentityKey("d0.admin"), exec.RecordTypeKey(exectest.LandTitle), exec.TemplateKey(exec.TenderTemplateID)} {
		if _, err := st.Get(k); err != nil {
			t.Fatalf("key %q: %v", k, err)
		}
	}
	_ = []string{string(exec.NonceKey("a")), string(exec.CredentialKey("a")), string(exec.RecordKey("a")), string(exec.RecordVersionKey("a", 1)),
		string(exec.AccessEntryKey("a", 1)), string(exec.GrantKey("a")), string(exec.ContractKey("a")), string(exec.ProposalKey("a")), string(exec.EvidenceKey("a", 1, 1))}
}

func errOf[T any](_ T, err error) error { return err }

func TestCheckBlockLimits(t *testing.T) {
	p := &pb.Params{MaxBlockTxs: 2, MaxBlockBytes: 10}
	if err := exec.CheckBlockLimits(p, [][]byte{make([]byte, 5), make([]byte, 5)}); err != nil {
		t.Fatal(err)
	}
	if err := exec.CheckBlockLimits(p, [][]byte{nil, nil, nil}); !errors.Is(err, exec.ErrTooLarge) {
		t.Fatalf("3 txs: %v", err)
	}
	if err := exec.CheckBlockLimits(p, [][]byte{make([]byte, 11)}); !errors.Is(err, exec.ErrTooLarge) {
		t.Fatalf("11 bytes: %v", err)
	}
}
