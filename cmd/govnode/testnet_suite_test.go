package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/keystore"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// readTestnetSummary reads DIR/testnet.json as --testnet does (strict:
// every field is one testnetSummary knows).
func readTestnetSummary(t *testing.T, dir string) testnetSummary {
	t.Helper()
	sum, err := loadTestnetSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	return *sum
}

// checkTestnetSuite checks that the test network in dir is of suite: its
// genesis names it (empty for ed25519-sha256) and validates, testnet.json
// names it, every consensus and identity key in the genesis and every key
// file is of the suite's scheme while node keys are Ed25519, and every
// department's peer binding is right for the suite: on sm2-sm3 its
// consensus key's signature over its own peer id (and over no other), on
// ed25519-sha256 none.
func checkTestnetSuite(t *testing.T, dir string, suite crypto.Suite) (testnetSummary, *pb.GenesisDoc) {
	t.Helper()
	sum := readTestnetSummary(t, dir)
	doc := mustLoadGenesis(t, filepath.Join(dir, "genesis.json"))
	if _, err := genesis.Validate(doc); err != nil {
		t.Fatalf("genesis does not validate: %v", err)
	}
	if doc.GetCryptoSuite() != suite.HeaderName() {
		t.Errorf("genesis crypto_suite %q, want %q", doc.GetCryptoSuite(), suite.HeaderName())
	}
	if got, err := genesis.Suite(doc); err != nil || got != suite {
		t.Errorf("genesis suite %v (%v), want %v", got, err, suite)
	}
	if sum.CryptoSuite != suite.String() {
		t.Errorf("testnet.json crypto_suite %q, want %q", sum.CryptoSuite, suite)
	}
	hash, err := genesis.Hash(doc)
	if err != nil || hex.EncodeToString(hash) != sum.GenesisHash {
		t.Errorf("testnet.json genesis_hash %s, the genesis hashes to %x (%v)", sum.GenesisHash, hash, err)
	}
	want := suite.Scheme()
	for _, d := range doc.GetValidators() {
		if s := d.GetConsensusKey().GetScheme(); s != want {
			t.Errorf("%s: consensus key %v, want %v", d.GetId(), s, want)
		}
		bind := crypto.PeerBindingSignBytes(doc.GetChainId(), d.GetId(), d.GetPeerId())
		switch {
		case suite != crypto.SM2SM3 && len(d.GetPeerBinding()) != 0:
			t.Errorf("%s: a %d-byte peer binding on a %s chain", d.GetId(), len(d.GetPeerBinding()), suite)
		case suite == crypto.SM2SM3:
			if err := crypto.Verify(d.GetConsensusKey(), bind, d.GetPeerBinding()); err != nil {
				t.Errorf("%s: peer binding does not verify: %v", d.GetId(), err)
			}
			// It binds this peer id, on this chain, to this department.
			for _, other := range [][]byte{
				crypto.PeerBindingSignBytes(doc.GetChainId(), d.GetId(), d.GetPeerId()+"x"),
				crypto.PeerBindingSignBytes(doc.GetChainId()+"x", d.GetId(), d.GetPeerId()),
				crypto.PeerBindingSignBytes(doc.GetChainId(), d.GetId()+"x", d.GetPeerId()),
			} {
				if err := crypto.Verify(d.GetConsensusKey(), other, d.GetPeerBinding()); err == nil {
					t.Errorf("%s: peer binding verifies over other bytes too", d.GetId())
				}
			}
		}
	}
	for _, idn := range doc.GetIdentities() {
		if s := idn.GetPublicKey().GetScheme(); s != want {
			t.Errorf("identity %s: key %v, want %v", idn.GetId(), s, want)
		}
	}
	idents := map[string]*pb.Identity{}
	for _, idn := range doc.GetIdentities() {
		idents[idn.GetId()] = idn
	}
	checkKey := func(path, id string) {
		t.Helper()
		k, err := keystore.Load(path, "")
		if err != nil {
			t.Fatal(err)
		}
		if s := k.Public().GetScheme(); s != want {
			t.Errorf("%s: %v key, want %v", path, s, want)
		}
		if idn := idents[id]; idn == nil || !crypto.PublicKeyEqual(idn.GetPublicKey(), k.Public()) {
			t.Errorf("%s: not the key of identity %s in the genesis", path, id)
		}
	}
	for i, n := range sum.Nodes {
		checkKey(n.ValidatorKey, genesis.ValidatorIdentityID(n.DepartmentID))
		checkKey(n.Admin.Key, n.Admin.ID)
		checkKey(n.Official.Key, n.Official.ID)
		nk, err := keystore.Load(n.NodeKey, "")
		if err != nil {
			t.Fatal(err)
		}
		if s := nk.Public().GetScheme(); s != pb.KeyScheme_KEY_SCHEME_ED25519 {
			t.Errorf("node%d: node key %v, want Ed25519 (libp2p)", i, s)
		}
		if !strings.HasPrefix(n.ValidatorPub, crypto.SchemeName(want)+":") {
			t.Errorf("node%d: validator_public_key %s", i, n.ValidatorPub)
		}
	}
	for _, a := range sum.Accounts {
		checkKey(a.Key, a.ID)
	}
	return sum, doc
}

// An sm2-sm3 test network (issue 23): SM2 keys everywhere but libp2p,
// SM3 genesis hash, peer bindings that verify; `testnet join` takes the
// network's suite from its genesis.
func TestTestnetCryptoSuiteSM2(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	r := mustRun(t, nil, "testnet", "--crypto-suite", "sm2-sm3", "--validators", "4", "--out", dir, "--accounts", "3", "--companies", "2", "--base-port", "32000")
	if !strings.Contains(r.out, "sm2-sm3") {
		t.Errorf("testnet output does not name the suite:\n%s", r.out)
	}
	sum, doc := checkTestnetSuite(t, dir, crypto.SM2SM3)
	if len(sum.Nodes) != 4 || len(sum.Accounts) != 5 || len(doc.GetIdentities()) != 4*3+5 {
		t.Fatalf("%d nodes, %d accounts, %d identities", len(sum.Nodes), len(sum.Accounts), len(doc.GetIdentities()))
	}
	// The CLI validates it too, and its hash is SM3's (not SHA-256's).
	if v := mustRun(t, nil, "genesis", "validate", filepath.Join(dir, "genesis.json")); !strings.Contains(v.out, "is valid") {
		t.Fatalf("genesis validate: %s", v.out)
	}
	enc, err := proto.MarshalOptions{Deterministic: true}.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if sm3 := crypto.SM2SM3.Hash(enc); hex.EncodeToString(sm3) != sum.GenesisHash {
		t.Fatalf("genesis hash %s, want SM3 %x", sum.GenesisHash, sm3)
	}

	j := mustRun(t, nil, "testnet", "join", "--out", dir, "--index", "4", "--output", "json")
	var joined testnetJoin
	if err := json.Unmarshal([]byte(j.out), &joined); err != nil {
		t.Fatalf("join output: %v\n%s", err, j.out)
	}
	vk, err := keystore.Load(joined.Node.ValidatorKey, "")
	if err != nil {
		t.Fatal(err)
	}
	ak, err := keystore.Load(joined.Node.Admin.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	if vk.Public().GetScheme() != pb.KeyScheme_KEY_SCHEME_SM2 || ak.Public().GetScheme() != pb.KeyScheme_KEY_SCHEME_SM2 {
		t.Fatalf("joined department's keys: validator %v, admin %v; want SM2", vk.Public().GetScheme(), ak.Public().GetScheme())
	}
	if joined.Department.ConsensusKey != keyString(vk.Public()) || joined.AdminPublicKey != keyString(ak.Public()) {
		t.Fatalf("join printed %s and %s, the key files hold %s and %s", joined.Department.ConsensusKey, joined.AdminPublicKey, keyString(vk.Public()), keyString(ak.Public()))
	}
	binding, err := base64.StdEncoding.DecodeString(joined.Department.PeerBinding)
	if err != nil || len(binding) == 0 {
		t.Fatalf("join printed peer_binding %q (%v)", joined.Department.PeerBinding, err)
	}
	if err := crypto.Verify(vk.Public(), crypto.PeerBindingSignBytes(doc.GetChainId(), "dept4", joined.Department.PeerID), binding); err != nil {
		t.Fatalf("joined department's peer binding: %v", err)
	}
	if err := crypto.Verify(vk.Public(), crypto.PeerBindingSignBytes(doc.GetChainId(), "dept4", sum.Nodes[0].PeerID), binding); err == nil {
		t.Fatal("joined department's peer binding verifies over node0's peer id")
	}
	if after := readTestnetSummary(t, dir); after.CryptoSuite != "sm2-sm3" || len(after.Nodes) != 5 {
		t.Fatalf("testnet.json after join: crypto_suite %q, %d nodes", after.CryptoSuite, len(after.Nodes))
	}
}

// The default suite, and naming it, write the network as before suites:
// no crypto_suite in the genesis (its hash unchanged), Ed25519 keys, no
// peer bindings, none from join either.
func TestTestnetCryptoSuiteDefault(t *testing.T) {
	for _, args := range [][]string{nil, {"--crypto-suite", "ed25519-sha256"}} {
		dir := filepath.Join(t.TempDir(), "net")
		mustRun(t, nil, append([]string{"testnet", "--validators", "4", "--out", dir, "--accounts", "2", "--base-port", "33000"}, args...)...)
		checkTestnetSuite(t, dir, crypto.Ed25519SHA256)
		raw, err := os.ReadFile(filepath.Join(dir, "genesis.json"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), "crypto_suite") {
			t.Errorf("%v: an ed25519-sha256 genesis names crypto_suite", args)
		}
		j := mustRun(t, nil, "testnet", "join", "--out", dir, "--index", "4", "--output", "json")
		var joined testnetJoin
		if err := json.Unmarshal([]byte(j.out), &joined); err != nil {
			t.Fatalf("join output: %v\n%s", err, j.out)
		}
		if joined.Department.PeerBinding != "" || !strings.HasPrefix(joined.Department.ConsensusKey, "ed25519:") || !strings.HasPrefix(joined.AdminPublicKey, "ed25519:") {
			t.Errorf("%v: join printed %+v, admin %s", args, joined.Department, joined.AdminPublicKey)
		}
	}
}

// An unknown or empty --crypto-suite is refused with both suites named,
// before anything is written.
func TestTestnetCryptoSuiteBad(t *testing.T) {
	for _, name := range []string{"", "sm2", "SM2-SM3", "ed25519", "sha256", "sm2-sm3 "} {
		dir := filepath.Join(t.TempDir(), "net")
		r := run(t, nil, "testnet", "--crypto-suite", name, "--validators", "1", "--out", dir, "--accounts", "0")
		if r.err == nil {
			t.Errorf("--crypto-suite %q: accepted", name)
			continue
		}
		msg := r.err.Error()
		if !strings.Contains(msg, "--crypto-suite") || !strings.Contains(msg, `"ed25519-sha256"`) || !strings.Contains(msg, `"sm2-sm3"`) {
			t.Errorf("--crypto-suite %q: error %q does not name the flag and both suites", name, msg)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("--crypto-suite %q: refused, but wrote %s", name, dir)
		}
	}
}
