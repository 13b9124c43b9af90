package main

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/state"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// proofWorld is a 4-validator byzantine chain (quorum 3) with a real state
// tree at version 1, a header at height 3 attesting it, and a commit
// certificate (the child at height 4, same view, and its QC).
type proofWorld struct {
	chainID string
	keys    []crypto.PrivateKey
	vs      *pb.ValidatorSet
	tree    *state.Tree
	root    state.Hash
	genesis string // path of a genesis with the validators
}

func newProofWorld(t *testing.T, kv map[string][]byte) *proofWorld {
	t.Helper()
	w := &proofWorld{chainID: "proof-chain", vs: &pb.ValidatorSet{FaultModel: "byzantine"}}
	rng := rand.NewChaCha8([32]byte{7})
	doc := genesis.New(w.chainID, "byzantine", time.Unix(1700000000, 0))
	for i := range 4 {
		k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rng)
		if err != nil {
			t.Fatal(err)
		}
		w.keys = append(w.keys, k)
		d := &pb.Department{Id: "dept" + itoa(i), ConsensusKey: k.Public()}
		w.vs.Validators = append(w.vs.Validators, d)
		doc.Validators = append(doc.Validators, d)
	}
	w.genesis = filepath.Join(t.TempDir(), "genesis.json")
	if err := genesis.Save(w.genesis, doc, false); err != nil {
		t.Fatal(err)
	}
	db, err := leveldb.Open(storage.NewMemStorage(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if w.tree, err = state.Open(db, []byte("s/")); err != nil {
		t.Fatal(err)
	}
	var changes []state.Change
	for k, v := range kv {
		changes = append(changes, state.Change{Key: []byte(k), Value: v})
	}
	root, writes, err := w.tree.Stage(1, changes)
	if err != nil {
		t.Fatal(err)
	}
	batch := new(leveldb.Batch)
	writes.ApplyTo(batch)
	if err := db.Write(batch, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.tree.Committed(1, root); err != nil {
		t.Fatal(err)
	}
	w.root = root
	return w
}

// prove returns the node's answer for key, signed by the first signers
// validators.
func (w *proofWorld) prove(t *testing.T, key []byte, signers int) *pb.StateProof {
	t.Helper()
	value, tp, err := w.tree.GetWithProof(1, key)
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := proto.Marshal(&pb.Header{ChainId: w.chainID, Height: 3, View: 2, StateHeight: 1, StateRoot: w.root[:], ParentHash: make([]byte, 32)})
	cb, _ := proto.Marshal(&pb.Header{ChainId: w.chainID, Height: 4, View: 2, ParentHash: crypto.Ed25519SHA256.Hash(hb)})
	qc := &pb.QuorumCert{View: 2, Height: 4, BlockHash: crypto.Ed25519SHA256.Hash(cb)}
	for i := range signers {
		sig, err := w.keys[i].Sign(crypto.VoteSignBytes(w.chainID, 2, 4, qc.GetBlockHash()))
		if err != nil {
			t.Fatal(err)
		}
		qc.Sigs = append(qc.Sigs, &pb.ValidatorSig{Validator: uint32(i), Signature: sig})
	}
	return &pb.StateProof{
		StateHeight: 1, Key: key, Value: value, StateRoot: w.root[:], Proof: tp.Marshal(), Header: hb,
		Cert:       &pb.CommitCert{Height: 3, BlockHash: crypto.Ed25519SHA256.Hash(hb), ChildHeader: cb, ChildQc: qc},
		Validators: w.vs,
	}
}

func TestVerifyStateProof(t *testing.T) {
	rec := &pb.Record{Id: "r1", RecordType: "land_title", SubjectId: "account0", Version: 2, Status: pb.RecordStatus_RECORD_STATUS_ACTIVE}
	recBytes, _ := proto.MarshalOptions{Deterministic: true}.Marshal(rec)
	key := exec.RecordKey("r1")
	w := newProofWorld(t, map[string][]byte{string(key): recBytes, "id/account0": []byte("someone"), "nonce/account0": {0, 0, 0, 0, 0, 0, 0, 3}})
	doc, err := genesis.Load(w.genesis)
	if err != nil {
		t.Fatal(err)
	}
	anchor, err := client.NewAnchor(doc, w.genesis)
	if err != nil {
		t.Fatal(err)
	}

	good := w.prove(t, key, 3)
	res, err := verifyStateProof(good, key, recBytes, &pb.StatusResponse{ChainId: w.chainID}, anchor)
	if err != nil {
		t.Fatalf("valid proof refused: %v", err)
	}
	if got := res.String(); got != "proof verified against block 3 (commit certificate signed by 3 of 4 validators)" {
		t.Errorf("message: %s", got)
	}
	// Absence of a key is proven too.
	absent := exec.RecordKey("r2")
	if _, err := verifyStateProof(w.prove(t, absent, 4), absent, nil, &pb.StatusResponse{ChainId: w.chainID}, anchor); err != nil {
		t.Errorf("valid non-inclusion proof refused: %v", err)
	}

	forge := func(name string, p *pb.StateProof, value []byte, anchor *client.Anchor, want string) {
		t.Helper()
		_, err := verifyStateProof(p, key, value, &pb.StatusResponse{ChainId: w.chainID}, anchor)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", name, err, want)
		}
	}
	clone := func() *pb.StateProof { return proto.Clone(good).(*pb.StateProof) }
	other := &pb.Record{Id: "r1", RecordType: "land_title", SubjectId: "mallory", Version: 2}
	otherBytes, _ := proto.Marshal(other)

	p := clone()
	p.Value = otherBytes
	forge("value swapped (proof and answer agree)", p, otherBytes, anchor, "tree proof does not lead to state root")

	forge("answer differs from proven value", clone(), otherBytes, anchor, "not the value the node returned")

	p = clone()
	p.Proof[len(p.Proof)-1] ^= 1
	forge("tree proof bit flipped", p, recBytes, anchor, "NOT verified")

	p = clone()
	p.Proof = []byte{0xff}
	forge("tree proof garbage", p, recBytes, anchor, "tree proof")

	p = clone()
	bad := w.root
	bad[0] ^= 1
	p.StateRoot = bad[:]
	forge("root not the header's", p, recBytes, anchor, "NOT verified")

	p = clone()
	p.StateHeight = 2
	forge("state height lie", p, recBytes, anchor, "attests state height 1")

	p = clone()
	p.Key = exec.RecordKey("r9")
	forge("proof of another key", p, recBytes, anchor, "the proof is for key")

	forge("two signatures of four", w.prove(t, key, 2), recBytes, anchor, "quorum is 3")

	p = clone()
	p.Cert.ChildQc.Sigs[1].Signature[0] ^= 1
	forge("forged vote", p, recBytes, anchor, "not proven committed")

	p = clone()
	p.Cert.ChildQc.Sigs[2].Validator = 0
	forge("one validator counted twice", p, recBytes, anchor, "twice")

	// A node inventing its own validator set: refused against the genesis.
	rng := rand.NewChaCha8([32]byte{9})
	fake := &pb.ValidatorSet{FaultModel: "byzantine"}
	var fakeKeys []*pb.PublicKey
	for range 4 {
		k, _ := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rng)
		fake.Validators = append(fake.Validators, &pb.Department{ConsensusKey: k.Public()})
		fakeKeys = append(fakeKeys, k.Public())
	}
	p = clone()
	p.Validators = fake
	forge("foreign validator set", p, recBytes, anchor, "differs from the genesis set")
	// Even when the answer carries no set, the genesis set decides.
	p = clone()
	p.Validators = nil
	if _, err := verifyStateProof(p, key, recBytes, &pb.StatusResponse{ChainId: w.chainID}, anchor); err != nil {
		t.Errorf("proof without a validator set, anchored by genesis: %v", err)
	}
	foreign := testAnchor(t, w.chainID, nil, fakeKeys, "byzantine", "other")
	p = clone()
	p.Validators = nil
	forge("certificate by another set", p, recBytes, foreign, "not proven committed")

	forge("wrong chain", clone(), recBytes, testAnchor(t, "other", nil, genesisKeys(doc), "byzantine", ""), "chain")
	forge("no proof", nil, recBytes, anchor, "no proof")
}

// recordNode answers QueryRecord with a proof from a proofWorld.
func TestQueryRecordProveCLI(t *testing.T) {
	rec := &pb.Record{Id: "r1", RecordType: "land_title", SubjectId: "account0", Version: 1, Status: pb.RecordStatus_RECORD_STATUS_ACTIVE}
	recBytes, _ := proto.MarshalOptions{Deterministic: true}.Marshal(rec)
	w := newProofWorld(t, map[string][]byte{string(exec.RecordKey("r1")): recBytes, "nonce/x": {0, 0, 0, 0, 0, 0, 0, 1}})
	f := newFakeChain(w.chainID)
	f.status = &pb.StatusResponse{ChainId: w.chainID, Height: 4}
	f.record = &pb.QueryRecordResponse{Record: rec, Height: 4, Proof: w.prove(t, exec.RecordKey("r1"), 4)}
	addr := f.serve(t, 0)

	r := mustRun(t, nil, "query", "record", "r1", "--prove", "--genesis", w.genesis, "--node", addr)
	if !strings.Contains(r.out, "proof verified against block 3 (commit certificate signed by 4 of 4 validators)") {
		t.Errorf("text: %s", r.out)
	}
	m := jsonObject(t, mustRun(t, nil, "query", "record", "r1", "--prove", "--genesis", w.genesis, "--node", addr, "--output", "json").out)
	pr := m["proof"].(map[string]any)
	if pr["verified"] != true || pr["block_height"] != float64(3) || pr["signers"] != float64(4) || pr["quorum"] != float64(3) {
		t.Errorf("json proof: %v", pr)
	}
	if m["record"].(map[string]any)["subject_id"] != "account0" {
		t.Errorf("json record: %v", m["record"])
	}

	// The node lies about the record but proves the real one.
	f.record = &pb.QueryRecordResponse{Record: &pb.Record{Id: "r1", RecordType: "land_title", SubjectId: "mallory", Version: 1, Status: pb.RecordStatus_RECORD_STATUS_ACTIVE},
		Height: 4, Proof: w.prove(t, exec.RecordKey("r1"), 4)}
	r = run(t, nil, "query", "record", "r1", "--prove", "--genesis", w.genesis, "--node", addr)
	if r.err == nil || !strings.Contains(r.err.Error(), "proof NOT verified: the Record the node returned differs from the proven value") {
		t.Errorf("lying node: %v", r.err)
	}
	if strings.Contains(r.out, "mallory") {
		t.Errorf("an unverified record was printed: %s", r.out)
	}
	// A proof signed by too few validators.
	f.record = &pb.QueryRecordResponse{Record: rec, Height: 4, Proof: w.prove(t, exec.RecordKey("r1"), 1)}
	if r := run(t, nil, "query", "record", "r1", "--prove", "--genesis", w.genesis, "--node", addr); r.err == nil {
		t.Error("a proof signed by 1 of 4 validators was accepted")
	}
	// No proof in the answer.
	f.record = &pb.QueryRecordResponse{Record: rec, Height: 4}
	if r := run(t, nil, "query", "record", "r1", "--prove", "--genesis", w.genesis, "--node", addr); r.err == nil || !strings.Contains(r.err.Error(), "no proof") {
		t.Errorf("missing proof: %v", r.err)
	}

	// query state --prove, present and absent keys, with the text form.
	f.state = func(key []byte, prove bool) (*pb.QueryStateResponse, error) {
		v, err := w.tree.Get(1, key)
		if errors.Is(err, state.ErrNotFound) {
			v, err = nil, nil
		}
		if err != nil {
			return nil, connect.NewError(connect.CodeInternal, err)
		}
		return &pb.QueryStateResponse{Found: v != nil, Value: v, Height: 4, Proof: w.prove(t, key, 3)}, nil
	}
	m = jsonObject(t, mustRun(t, nil, "query", "state", "nonce/x", "--text", "--prove", "--genesis", w.genesis, "--node", addr, "--output", "json").out)
	if m["found"] != true || m["value"] != "0000000000000001" || m["proof"].(map[string]any)["present"] != true {
		t.Errorf("state json: %v", m)
	}
	m = jsonObject(t, mustRun(t, nil, "query", "state", "6e6f6e63652f79", "--prove", "--genesis", w.genesis, "--node", addr, "--output", "json").out)
	if m["found"] != false || m["proof"].(map[string]any)["present"] != false {
		t.Errorf("absent state json: %v", m)
	}
	// A node that hides a present key (claims absence) is caught.
	f.state = func(key []byte, prove bool) (*pb.QueryStateResponse, error) {
		p := w.prove(t, key, 3)
		p.Value = nil
		return &pb.QueryStateResponse{Found: false, Height: 4, Proof: p}, nil
	}
	if r := run(t, nil, "query", "state", "nonce/x", "--text", "--prove", "--genesis", w.genesis, "--node", addr); r.err == nil || !strings.Contains(r.err.Error(), "NOT verified") {
		t.Errorf("hidden key: %v", r.err)
	}
}

// testAnchor trusts a validator set as a genesis would (client.AnchorFromSet).
func testAnchor(t *testing.T, chainID string, genesisHash []byte, validators []*pb.PublicKey, faultModel, source string) *client.Anchor {
	t.Helper()
	a, err := client.AnchorFromSet(chainID, genesisHash, validators, faultModel, source)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// genesisKeys are the consensus keys of doc's validators, in order.
func genesisKeys(doc *pb.GenesisDoc) []*pb.PublicKey {
	var keys []*pb.PublicKey
	for _, v := range doc.GetValidators() {
		keys = append(keys, v.GetConsensusKey())
	}
	return keys
}
