package main

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
)

// An sm2-sm3 genesis: genesis new --crypto-suite, bind-peer, and
// add-validator with and without --peer-binding.
func TestGenesisSM2PeerBinding(t *testing.T) {
	tmp := t.TempDir()
	gen := filepath.Join(tmp, "genesis.json")
	if r := run(t, nil, "genesis", "new", "--chain-id", "gov-1", "--crypto-suite", "rsa-md5", "--out", gen); r.err == nil || !strings.Contains(r.err.Error(), "--crypto-suite") {
		t.Fatalf("unknown suite: %v", r.err)
	}
	mustRun(t, nil, "genesis", "new", "--chain-id", "gov-1", "--crypto-suite", "sm2-sm3", "--out", gen)
	if s := mustLoadGenesis(t, gen).GetCryptoSuite(); s != crypto.SuiteNameSM2SM3 {
		t.Fatalf("crypto_suite %q", s)
	}
	keys := t.TempDir()
	mustRun(t, nil, "keys", "new", "v0", "--keyring-dir", keys, "--kind", "validator", "--scheme", "sm2", "--insecure-unencrypted")
	mustRun(t, nil, "keys", "new", "v1", "--keyring-dir", keys, "--kind", "validator", "--scheme", "sm2", "--insecure-unencrypted")
	edVal := newKeyFile(t, keys, "ved", "validator")
	val0, val1 := filepath.Join(keys, "v0.key"), filepath.Join(keys, "v1.key")
	node0, node1 := newKeyFile(t, keys, "n0", "node"), newKeyFile(t, keys, "n1", "node")
	pid0, pid1 := peerOf(t, node0), peerOf(t, node1)
	addArgs := func(dept, val, pid string, extra ...string) []string {
		return append([]string{"genesis", "add-validator", gen, "--department-id", dept,
			"--consensus-key", "sm2:" + b64(pubOf(t, val).GetKey()), "--peer-id", pid, "--addr", "/ip4/10.0.0.1/tcp/26656"}, extra...)
	}

	if r := run(t, nil, addArgs("d0", val0, pid0)...); r.err == nil || !strings.Contains(r.err.Error(), "needs --peer-binding") ||
		!strings.Contains(r.err.Error(), "govnode genesis bind-peer --key VALIDATOR_KEY_FILE --chain-id gov-1 --department d0 --peer-id "+pid0) {
		t.Fatalf("no binding: %v", r.err)
	}
	bind := func(val, dept, peer string) string {
		return strings.TrimSpace(mustRun(t, nil, "genesis", "bind-peer", "--key", val, "--chain-id", "gov-1", "--department", dept, "--peer-id", peer).out)
	}
	b0 := bind(val0, "d0", node0) // the node key file names the peer id
	if _, err := hex.DecodeString(b0); err != nil || b0 == "" {
		t.Fatalf("bind-peer printed %q", b0)
	}
	mustRun(t, nil, addArgs("d0", val0, pid0, "--peer-binding", b0)...)
	// d0's binding is no binding of d1's.
	if r := run(t, nil, addArgs("d1", val1, pid1, "--peer-binding", b0)...); r.err == nil || !strings.Contains(r.err.Error(), "validators[1].peer_binding") {
		t.Fatalf("another's binding: %v", r.err)
	}
	if r := run(t, nil, addArgs("d1", val1, pid1, "--peer-binding", "zz")...); r.err == nil || !strings.Contains(r.err.Error(), "want the binding in hex") {
		t.Fatalf("bad hex: %v", r.err)
	}
	mustRun(t, nil, addArgs("d1", val1, pid1, "--peer-binding", bind(val1, "d1", pid1))...)
	doc := mustLoadGenesis(t, gen)
	for _, d := range doc.GetValidators() {
		if err := genesis.CheckPeerBinding(crypto.SM2SM3, "gov-1", d); err != nil {
			t.Fatalf("validator %s: %v", d.GetId(), err)
		}
	}
	if _, err := genesis.Validate(doc); err != nil {
		t.Fatal(err)
	}

	// bind-peer takes SM2 validator keys only.
	if r := run(t, nil, "genesis", "bind-peer", "--key", edVal, "--chain-id", "gov-1", "--department", "d2", "--peer-id", pid0); r.err == nil || !strings.Contains(r.err.Error(), "only an sm2-sm3 chain binds peer ids") {
		t.Fatalf("ed25519 key: %v", r.err)
	}
	if r := run(t, nil, "genesis", "bind-peer", "--key", node0, "--chain-id", "gov-1", "--department", "d2", "--peer-id", pid0); r.err == nil || !strings.Contains(r.err.Error(), "not a validator key") {
		t.Fatalf("node key: %v", r.err)
	}
	// An Ed25519 key on the sm2-sm3 genesis is refused.
	if r := run(t, nil, "genesis", "add-validator", gen, "--department-id", "d2", "--consensus-key", "ed25519:"+b64(pubOf(t, edVal).GetKey()),
		"--peer-id", peerOf(t, newKeyFile(t, keys, "n2", "node")), "--peer-binding", b0); r.err == nil || !strings.Contains(r.err.Error(), "a ed25519 key on a sm2-sm3 chain") {
		t.Fatalf("ed25519 key on sm2-sm3: %v", r.err)
	}

	// An ed25519-sha256 genesis takes no binding.
	ed := filepath.Join(tmp, "ed.json")
	mustRun(t, nil, "genesis", "new", "--chain-id", "gov-2", "--out", ed)
	if s := mustLoadGenesis(t, ed).GetCryptoSuite(); s != "" {
		t.Fatalf("ed25519-sha256 genesis names its suite %q (want empty, as before suites)", s)
	}
	if r := run(t, nil, "genesis", "add-validator", ed, "--department-id", "d0", "--consensus-key", "ed25519:"+b64(pubOf(t, edVal).GetKey()),
		"--peer-id", pid0, "--peer-binding", b0); r.err == nil || !strings.Contains(r.err.Error(), "peer binding on a chain whose suite takes none") {
		t.Fatalf("binding on ed25519-sha256: %v", r.err)
	}
	mustRun(t, nil, "genesis", "add-validator", ed, "--department-id", "d0", "--consensus-key", "ed25519:"+b64(pubOf(t, edVal).GetKey()), "--peer-id", pid0)
}

// The membership proposals' --peer-binding: hex, refused on an
// ed25519-sha256 chain, required on an sm2-sm3 one (the signer's key
// names the suite), all before anything is sent.
func TestTxGovPeerBinding(t *testing.T) {
	dir, sum, _ := testnetFixture(t, 1)
	admin := sum.Nodes[0].Admin.ID
	keys := t.TempDir()
	valKey := newKeyFile(t, keys, "v2", "validator")
	nodeKey := newKeyFile(t, keys, "n2", "node")
	acctKey := newKeyFile(t, keys, "a2", "account")
	mustRun(t, nil, "keys", "new", "sm", "--keyring-dir", keys, "--kind", "account", "--scheme", "sm2", "--insecure-unencrypted")
	smSigner := filepath.Join(keys, "sm.key")
	pid := peerOf(t, nodeKey)
	file := writeFile(t, filepath.Join(t.TempDir(), "d.json"), `{"department":{"id":"x","name":"x","peerId":"nope"}}`)
	addDept := []string{"--department", "d9", "--consensus-key", valKey, "--peer-id", pid, "--admin", "d9.admin", "--admin-key", acctKey}
	for _, tc := range []struct {
		verb string
		args []string
		want string
	}{
		{"rotate-node-key", []string{"--department", "dept0", "--peer-id", pid, "--peer-binding", "xyz"}, "--peer-binding: want the binding in hex"},
		{"rotate-node-key", []string{"--department", "dept0", "--peer-id", pid, "--peer-binding", "abcd"}, "an ed25519-sha256 chain takes no peer binding"},
		{"rotate-validator-key", []string{"--department", "dept0", "--consensus-key", valKey, "--peer-binding", "abcd"}, "an ed25519-sha256 chain takes no peer binding"},
		{"add-department", append([]string{"--peer-binding", "abcd"}, addDept...), "an ed25519-sha256 chain takes no peer binding"},
		{"add-department", []string{"--file", file, "--peer-binding", "abcd"}, "exclude each other"},
		// An SM2 signer: an sm2-sm3 chain, which needs the binding.
		{"rotate-node-key", []string{"--department", "dept0", "--peer-id", pid, "--key", smSigner},
			"rotate-node-key on an sm2-sm3 chain needs --peer-binding: the department's current consensus key's binding of the new peer id"},
		{"rotate-validator-key", []string{"--department", "dept0", "--consensus-key", valKey, "--key", smSigner},
			"rotate-validator-key on an sm2-sm3 chain needs --peer-binding: the new consensus key's binding of the department's current peer id"},
		{"add-department", append([]string{"--key", smSigner}, addDept...),
			"add-department on an sm2-sm3 chain needs --peer-binding: the new department's consensus key's binding of its node's peer id"},
	} {
		args := append([]string{"tx", "gov", "propose", tc.verb, "--signer", admin, "--id", "p", "--voting-end-height", "9"}, tc.args...)
		args = append(args, "--testnet", dir, "--node", "127.0.0.1:1")
		r := run(t, nil, args...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("govnode tx gov propose %s %s: %v, want %q", tc.verb, strings.Join(tc.args, " "), r.err, tc.want)
		}
	}
}

// add-validator --home on an sm2-sm3 genesis signs the binding with the
// home's validator key.
func TestGenesisSM2BindingFromHome(t *testing.T) {
	tmp := t.TempDir()
	gen := filepath.Join(tmp, "genesis.json")
	mustRun(t, nil, "genesis", "new", "--chain-id", "gov-1", "--crypto-suite", "sm2-sm3", "--out", gen)
	home := filepath.Join(tmp, "h0")
	mustRun(t, nil, "init", "--home", home, "--moniker", "Dept 0", "--insecure-unencrypted", "--p2p.listen-addrs", "/ip4/10.0.0.1/tcp/26656")
	// The home's validator key, made SM2.
	if err := os.Remove(filepath.Join(home, "keys", "validator.key")); err != nil {
		t.Fatal(err)
	}
	mustRun(t, nil, "keys", "new", "validator", "--keyring-dir", filepath.Join(home, "keys"), "--kind", "validator", "--scheme", "sm2", "--insecure-unencrypted")
	mustRun(t, nil, "genesis", "add-validator", gen, "--home", home, "--department-id", "d0")
	doc := mustLoadGenesis(t, gen)
	d := doc.GetValidators()[0]
	if len(d.GetPeerBinding()) == 0 {
		t.Fatal("no binding written")
	}
	if err := genesis.CheckPeerBinding(crypto.SM2SM3, "gov-1", d); err != nil {
		t.Fatal(err)
	}
	if !crypto.PublicKeyEqual(d.GetConsensusKey(), pubOf(t, filepath.Join(home, "keys", "validator.key"))) {
		t.Fatal("the consensus key is not the home's")
	}
}
