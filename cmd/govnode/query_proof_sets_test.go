package main

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/lightclient"
	"github.com/govnode/govnode/ledger/state"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// setChain is a chain with two validator-set changes (ARCHITECTURE.md §4,
// "Proofs across set changes"): the genesis set S0 (4 validators,
// byzantine) certifies heights 1..9; S1 (dept3's key rotated, byzantine)
// is in force from 10 and S2 (a fifth validator, crash) from 20. The state
// tree has three versions: 1 (attested by block 9, the root of S1: holds
// valset/10), 2 (attested by block 19, S2's root: holds valset/10 and
// valset/20) and 3 (attested by block 25: the proven record too).
type setChain struct {
	chainID  string
	keys     []crypto.PrivateKey // k0..k5: S0 = k0..k3, S1 = k0,k1,k2,k4, S2 = S1 + k5
	sets     []*pb.ValidatorSet  // S0 (effective 1), S1, S2
	setIdx   [][]int             // key indexes of each set
	tree     *state.Tree
	roots    []state.Hash // by version-1
	recKey   []byte
	recValue []byte
	genesis  *lightclient.Set
}

func newSetChain(t *testing.T) *setChain {
	t.Helper()
	c := &setChain{chainID: "sets-chain", recKey: exec.RecordKey("r1")}
	c.recValue, _ = proto.Marshal(&pb.Record{Id: "r1", RecordType: "land_title", SubjectId: "account0", Version: 1})
	rng := rand.NewChaCha8([32]byte{11})
	for range 6 {
		k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rng)
		if err != nil {
			t.Fatal(err)
		}
		c.keys = append(c.keys, k)
	}
	c.setIdx = [][]int{{0, 1, 2, 3}, {0, 1, 2, 4}, {0, 1, 2, 4, 5}}
	models := []string{"byzantine", "byzantine", "crash"}
	for i, eff := range []uint64{1, 10, 20} {
		vs := &pb.ValidatorSet{FaultModel: models[i], EffectiveHeight: eff}
		for _, k := range c.setIdx[i] {
			vs.Validators = append(vs.Validators, &pb.Department{Id: "dept" + itoa(min(k, 3)), ConsensusKey: c.keys[k].Public()})
		}
		c.sets = append(c.sets, vs)
	}
	var keys []*pb.PublicKey
	for _, k := range c.setIdx[0] {
		keys = append(keys, c.keys[k].Public())
	}
	c.genesis = &lightclient.Set{Config: consensus.Config{ChainID: c.chainID, GenesisHash: make([]byte, 32), Validators: keys,
		FaultModel: consensus.Byzantine, Self: -1}, From: 1}

	db, err := leveldb.Open(storage.NewMemStorage(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if c.tree, err = state.Open(db, []byte("s/")); err != nil {
		t.Fatal(err)
	}
	enc := func(m proto.Message) []byte { b, _ := proto.Marshal(m); return b }
	c.stage(t, db, 1, state.Change{Key: exec.ValidatorSetKey(10), Value: enc(c.sets[1])})
	c.stage(t, db, 2, state.Change{Key: exec.ValidatorSetKey(20), Value: enc(c.sets[2])})
	c.stage(t, db, 3, state.Change{Key: c.recKey, Value: c.recValue})
	return c
}

func (c *setChain) stage(t *testing.T, db *leveldb.DB, version uint64, changes ...state.Change) {
	t.Helper()
	root, writes, err := c.tree.Stage(version, changes)
	if err != nil {
		t.Fatal(err)
	}
	batch := new(leveldb.Batch)
	writes.ApplyTo(batch)
	if err := db.Write(batch, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.tree.Committed(version, root); err != nil {
		t.Fatal(err)
	}
	c.roots = append(c.roots, root)
}

// setHash is the hash headers of set i's epoch name (nil for genesis's,
// as the genesis set's is not checked).
func (c *setChain) setHash(t *testing.T, i int) []byte {
	t.Helper()
	h, err := lightclient.ValidatorSetHash(crypto.Ed25519SHA256, c.sets[i])
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// prove is a state proof of key at version against a header at height,
// certified by set signer (its epoch's domain, its keys), the header and
// its child naming vsHash.
func (c *setChain) prove(t *testing.T, key []byte, version, height uint64, signer int, vsHash []byte) *pb.StateProof {
	t.Helper()
	value, tp, err := c.tree.GetWithProof(version, key)
	if err != nil {
		t.Fatal(err)
	}
	root := c.roots[version-1]
	const view = 7
	hb, _ := proto.Marshal(&pb.Header{ChainId: c.chainID, Height: height, View: view, StateHeight: version, StateRoot: root[:],
		ParentHash: make([]byte, 32), ValidatorSetHash: vsHash})
	cb, _ := proto.Marshal(&pb.Header{ChainId: c.chainID, Height: height + 1, View: view, ParentHash: crypto.Ed25519SHA256.Hash(hb), ValidatorSetHash: vsHash})
	qc := &pb.QuorumCert{View: view, Height: height + 1, BlockHash: crypto.Ed25519SHA256.Hash(cb)}
	domain := consensus.SignDomain(c.chainID, []uint64{0, 10, 20}[signer])
	for i, k := range c.setIdx[signer] {
		sig, err := c.keys[k].Sign(crypto.VoteSignBytes(domain, view, height+1, qc.GetBlockHash()))
		if err != nil {
			t.Fatal(err)
		}
		qc.Sigs = append(qc.Sigs, &pb.ValidatorSig{Validator: uint32(i), Signature: sig})
	}
	return &pb.StateProof{StateHeight: version, Key: key, Value: value, StateRoot: root[:], Proof: tp.Marshal(), Header: hb,
		Cert: &pb.CommitCert{Height: height, BlockHash: crypto.Ed25519SHA256.Hash(hb), ChildHeader: cb, ChildQc: qc}}
}

// good is the node's answer for the record at block 25: the proofs of S1
// (root block 9, under S0) and S2 (root block 19, under S1).
func (c *setChain) good(t *testing.T) *pb.StateProof {
	t.Helper()
	p := c.prove(t, c.recKey, 3, 25, 2, c.setHash(t, 2))
	p.Validators = c.sets[2]
	p.ValidatorSetProofs = []*pb.StateProof{
		c.prove(t, exec.ValidatorSetKey(10), 1, 9, 0, c.setHash(t, 0)),
		c.prove(t, exec.ValidatorSetKey(20), 2, 19, 1, c.setHash(t, 1)),
	}
	return p
}

func TestFollowValidatorSets(t *testing.T) {
	c := newSetChain(t)
	anchor := testAnchor(t, c.chainID, make([]byte, 32), c.genesis.Config.Validators, "byzantine", "test genesis")

	good := c.good(t)
	res, err := verifyStateProof(good, c.recKey, c.recValue, &pb.StatusResponse{ChainId: c.chainID}, anchor)
	if err != nil {
		t.Fatalf("valid proof across two set changes refused: %v", err)
	}
	if res.SetChanges != 2 || res.SetFrom != 20 || res.Validators != 5 || res.Quorum != 3 || res.BlockHeight != 25 {
		t.Errorf("result %+v", res)
	}
	set, err := lightclient.FollowValidatorSets(c.genesis, good.GetValidatorSetProofs(), 25)
	if err != nil || set.From != 20 || set.Config.Epoch != 20 || set.Config.Root.GetHeight() != 19 || set.Config.FaultModel != consensus.Crash {
		t.Fatalf("walk: %+v, %v", set, err)
	}
	// Within S1's epoch, only the first change is needed.
	if set, err := lightclient.FollowValidatorSets(c.genesis, good.GetValidatorSetProofs()[:1], 15); err != nil || set.From != 10 {
		t.Errorf("walk to height 15: %+v, %v", set, err)
	}

	refuse := func(name string, p *pb.StateProof, want string) {
		t.Helper()
		_, err := verifyStateProof(p, c.recKey, c.recValue, &pb.StatusResponse{ChainId: c.chainID}, anchor)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", name, err, want)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	clone := func() *pb.StateProof { return proto.Clone(good).(*pb.StateProof) }
	rng := rand.NewChaCha8([32]byte{12})
	mallory, _ := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rng)

	// A forged set record: S2 with an attacker's key, the tree proof kept.
	p := clone()
	forged := proto.Clone(c.sets[2]).(*pb.ValidatorSet)
	forged.Validators[4].ConsensusKey = mallory.Public()
	p.ValidatorSetProofs[1].Value, _ = proto.Marshal(forged)
	refuse("forged set record", p, "validator-set change 2 of 2: the set in force from 20: tree proof does not lead to state root")

	// A wrong certificate: S1's root block with a forged vote.
	p = clone()
	p.ValidatorSetProofs[0].Cert.ChildQc.Sigs[0].Signature[0] ^= 1
	refuse("forged vote on a root block", p, "validator-set change 1 of 2: the root block of the set in force from 10: block 9 is not proven committed by the validator set in force from 1")
	p = clone()
	p.ValidatorSetProofs[0].Cert.ChildQc.Sigs = p.ValidatorSetProofs[0].Cert.ChildQc.Sigs[:2]
	refuse("root block certified by two of four", p, "quorum is 3")

	// S2 proven under the wrong set: its root block certified by S0 (the
	// genesis domain) instead of S1, or naming S0 as the set in force.
	p = clone()
	p.ValidatorSetProofs[1] = c.prove(t, exec.ValidatorSetKey(20), 2, 19, 0, c.setHash(t, 1))
	refuse("S2's root block certified by S0", p, "block 19 is not proven committed by the validator set in force from 10")
	p = clone()
	p.ValidatorSetProofs[1] = c.prove(t, exec.ValidatorSetKey(20), 2, 19, 1, c.setHash(t, 0))
	refuse("S2's root block naming S0", p, "block 19 names validator set")
	// ... or proven against another block than its root.
	p = clone()
	p.ValidatorSetProofs[1] = c.prove(t, exec.ValidatorSetKey(20), 2, 15, 1, c.setHash(t, 1))
	refuse("S2 proven against block 15", p, "proven against block 15, not its root block 19")

	// Missing links.
	p = clone()
	p.ValidatorSetProofs = p.ValidatorSetProofs[1:]
	refuse("S1 missing", p, "validator-set change 1 of 1: the root block of the set in force from 20: block 19 is not proven committed by the validator set in force from 1")
	p = clone()
	p.ValidatorSetProofs = p.ValidatorSetProofs[:1]
	p.Validators = nil
	refuse("S2 missing", p, "block 25 names validator set")
	p = clone()
	p.ValidatorSetProofs = nil
	p.Validators = nil
	refuse("no links", p, "block 25 is not proven committed by the validator set in force from 1")
	p = clone()
	p.ValidatorSetProofs[0], p.ValidatorSetProofs[1] = p.ValidatorSetProofs[1], p.ValidatorSetProofs[0]
	refuse("links out of order", p, "validator-set change 1 of 2: the root block of the set in force from 20: block 19 is not proven committed by the validator set in force from 1")
	p = clone()
	p.ValidatorSetProofs = append(p.ValidatorSetProofs, p.ValidatorSetProofs[0])
	refuse("a set change repeated", p, "validator-set change 3 of 3: the set in force from height 10 does not follow the set in force from 20")

	// A stale record: the state at S2's root holds another set for 20
	// (replaced before 20 by a later decision); the certificates of S2's
	// epoch name the set really in force.
	stale := proto.Clone(c.sets[2]).(*pb.ValidatorSet)
	stale.FaultModel = "byzantine"
	staleHash, _ := lightclient.ValidatorSetHash(crypto.Ed25519SHA256, stale)
	p = clone()
	p.ValidatorSetProofs[1].Value, _ = proto.Marshal(stale)
	if _, err := lightclient.FollowValidatorSets(c.genesis, p.ValidatorSetProofs, 25); err == nil {
		// (the tree proof already refuses it here; the hash check is the
		// guard when the stale record is really in the root's state)
		t.Error("stale record accepted")
	}
	s2, _ := lightclient.SetFromRecord(c.genesis.Config, stale, nil, 0)
	hdr := &pb.Header{}
	_ = proto.Unmarshal(good.GetHeader(), hdr)
	if err := s2.CheckCommitted(hdr, good.GetHeader(), good.GetCert(), nil); err == nil || !strings.Contains(err.Error(), "names validator set") {
		t.Errorf("block of S2's epoch checked against a stale record for 20 (hash %x): %v", staleHash, err)
	}

	// The answer's set disagreeing with the walk.
	p = clone()
	p.Validators = c.sets[1]
	refuse("answer's set is S1", p, "differs from the set in force from 20")

	// A link above the proven block, and too many links.
	p = clone()
	p.ValidatorSetProofs = append(p.ValidatorSetProofs, c.prove(t, exec.ValidatorSetKey(20), 2, 19, 1, c.setHash(t, 1)))
	p.ValidatorSetProofs[2].Value, _ = proto.Marshal(&pb.ValidatorSet{FaultModel: "crash", EffectiveHeight: 30, Validators: c.sets[2].Validators})
	refuse("set in force above the proven block", p, "the set in force from height 30 is not in force at the proven block 25")
	p = clone()
	for len(p.ValidatorSetProofs) <= lightclient.MaxValidatorSets {
		p.ValidatorSetProofs = append(p.ValidatorSetProofs, p.ValidatorSetProofs[0])
	}
	refuse("too many links", p, "at most 128 are accepted")
	p = clone()
	p.ValidatorSetProofs[0].ValidatorSetProofs = []*pb.StateProof{good.ValidatorSetProofs[0]}
	refuse("nested links", p, "nests further proofs")
}
