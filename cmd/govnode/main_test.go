package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// fastScrypt keeps encrypted keys cheap in tests.
const fastScrypt = "--scrypt-work-factor=10"

type result struct {
	out, errOut string
	err         error
}

// run executes the command tree in-process with env as the environment.
func run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	root := newRootCmd(cliEnv{
		LookupEnv:   func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		DefaultHome: filepath.Join(t.TempDir(), "default-home"),
		Hostname:    "testhost",
	})
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(""))
	root.SetArgs(args)
	err := root.Execute()
	return result{out: out.String(), errOut: errOut.String(), err: err}
}

func mustRun(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	r := run(t, env, args...)
	if r.err != nil {
		t.Fatalf("govnode %s: %v\nstderr: %s", strings.Join(args, " "), r.err, r.errOut)
	}
	return r
}

func writeFile(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHelpListsCommands(t *testing.T) {
	r := mustRun(t, nil, "--help")
	for _, c := range []string{"init", "keys", "genesis", "testnet", "version", "--home", "--log-level", "--output"} {
		if !strings.Contains(r.out, c) {
			t.Errorf("help lacks %q:\n%s", c, r.out)
		}
	}
}

func TestTestnetGenesisValidates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	r := mustRun(t, nil, "testnet", "--validators", "4", "--out", dir, "--accounts", "5", "--base-port", "30000")
	if !strings.Contains(r.errOut, "UNENCRYPTED") {
		t.Errorf("testnet did not warn about unencrypted keys: %q", r.errOut)
	}
	gen := filepath.Join(dir, "genesis.json")
	v := mustRun(t, nil, "genesis", "validate", gen)
	if !strings.Contains(v.out, "is valid") || !strings.Contains(v.out, "quorum 3") {
		t.Fatalf("validate output: %s", v.out)
	}
	if v.errOut != "" {
		t.Errorf("unexpected warnings for a 4-node testnet: %s", v.errOut)
	}

	// testnet.json agrees with the files.
	var sum testnetSummary
	raw, err := os.ReadFile(filepath.Join(dir, "testnet.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatal(err)
	}
	h := mustRun(t, nil, "genesis", "hash", gen)
	if strings.TrimSpace(h.out) != sum.GenesisHash {
		t.Fatalf("hash %s, testnet.json says %s", h.out, sum.GenesisHash)
	}
	doc, err := genesis.Load(gen)
	if err != nil {
		t.Fatal(err)
	}
	// 5 citizens and the 3 companies (the default --companies) are accounts.
	if len(sum.Nodes) != 4 || len(sum.Accounts) != 5+3 || len(doc.Validators) != 4 || len(doc.Identities) != 4*3+5+3 {
		t.Fatalf("summary %d nodes %d accounts; genesis %d validators %d identities", len(sum.Nodes), len(sum.Accounts), len(doc.Validators), len(doc.Identities))
	}
	checkTestnetMoney(t, dir, &sum, doc)
	for i, n := range sum.Nodes {
		cfg, err := node.LoadConfig(n.Config)
		if err != nil {
			t.Fatal(err)
		}
		p2p := 30000 + 10*i
		wantAPI := "127.0.0.1:" + itoa(p2p+1)
		if cfg.API.ListenAddr != wantAPI || n.APIAddr != wantAPI || cfg.Metrics.ListenAddr != "127.0.0.1:"+itoa(p2p+2) {
			t.Errorf("node%d: api %s metrics %s", i, cfg.API.ListenAddr, cfg.Metrics.ListenAddr)
		}
		if cfg.P2P.ListenAddrs[0] != "/ip4/127.0.0.1/tcp/"+itoa(p2p) || cfg.P2P.ListenAddrs[1] != "/ip4/127.0.0.1/udp/"+itoa(p2p)+"/quic-v1" {
			t.Errorf("node%d: p2p %v", i, cfg.P2P.ListenAddrs)
		}
		if cfg.MemoryLimitMiB != testnetMemoryLimitMiB {
			t.Errorf("node%d: memory_limit_mib %d", i, cfg.MemoryLimitMiB)
		}
		if len(cfg.P2P.PersistentPeers) != 3 {
			t.Errorf("node%d: persistent peers %v", i, cfg.P2P.PersistentPeers)
		}
		if doc.Validators[i].PeerId != n.PeerID || doc.Validators[i].Id != n.DepartmentID {
			t.Errorf("node%d: genesis validator %v, summary %s", i, doc.Validators[i], n.PeerID)
		}
		// The node's own genesis copy is the same document.
		own, err := genesis.Load(cfg.ResolvePath(cfg.GenesisFile))
		if err != nil || !proto.Equal(own, doc) {
			t.Errorf("node%d: genesis copy differs: %v", i, err)
		}
		// Keys: readable without a passphrase, mode 0600, matching genesis.
		nodeKey, err := keystore.Load(cfg.ResolvePath(cfg.NodeKeyFile), "")
		if err != nil {
			t.Fatal(err)
		}
		if pid, _ := keystore.PeerIDFromPublicKey(nodeKey.Public()); pid.String() != n.PeerID {
			t.Errorf("node%d: node key peer id %s, want %s", i, pid, n.PeerID)
		}
		for _, k := range []string{n.ValidatorKey, n.NodeKey, n.Admin.Key, n.Official.Key, filepath.Join(n.Home, "keys", "admin.key")} {
			st, err := os.Stat(k)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("key %s: %v mode %v", k, err, st.Mode())
			}
		}
	}
	for j, a := range sum.Accounts[:5] {
		if a.Key != filepath.Join(dir, "accounts", "account"+itoa(j)+".key") || a.Kind != pb.IdentityKind_IDENTITY_KIND_CITIZEN.String() {
			t.Errorf("account %d: %+v", j, a)
		}
	}

	// The same genesis with a validator listed twice is refused.
	doc.Validators = append(doc.Validators, proto.Clone(doc.Validators[1]).(*pb.Department))
	dup := filepath.Join(t.TempDir(), "dup.json")
	if err := genesis.Save(dup, doc, false); err != nil {
		t.Fatal(err)
	}
	bad := run(t, nil, "genesis", "validate", dup)
	if bad.err == nil || !strings.Contains(bad.err.Error(), "duplicate") || !strings.Contains(bad.err.Error(), "validators[4]") {
		t.Fatalf("validate of a duplicated validator: %v", bad.err)
	}

	// A second testnet into the same dir needs --force.
	if r := run(t, nil, "testnet", "--validators", "4", "--out", dir); r.err == nil || !strings.Contains(r.err.Error(), "--force") {
		t.Fatalf("testnet over an existing dir: %v", r.err)
	}
}

func TestTestnetSmallByzantineWarns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	r := mustRun(t, nil, "testnet", "--validators", "2", "--out", dir, "--accounts", "0")
	if !strings.Contains(r.errOut, "tolerates no faulty validator") {
		t.Fatalf("no warning for a 2-node byzantine network: %s", r.errOut)
	}
	v := mustRun(t, nil, "genesis", "validate", filepath.Join(dir, "genesis.json"))
	if !strings.Contains(v.errOut, "WARNING") {
		t.Fatalf("validate did not print the warning: %q", v.errOut)
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func TestInitRefusesOverwrite(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	r := mustRun(t, nil, "init", "--home", home, "--moniker", "m0", "--insecure-unencrypted")
	if !strings.Contains(r.errOut, "UNENCRYPTED") {
		t.Errorf("no warning for unencrypted keys: %q", r.errOut)
	}
	cfg, err := node.LoadConfig(filepath.Join(home, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Moniker != "m0" || cfg.Debug.Pprof {
		t.Fatalf("config %+v", cfg)
	}
	before, _ := os.ReadFile(filepath.Join(home, "keys", "validator.key"))

	r = run(t, nil, "init", "--home", home, "--moniker", "m0", "--insecure-unencrypted")
	if r.err == nil || !strings.Contains(r.err.Error(), "--force") {
		t.Fatalf("second init: %v", r.err)
	}
	after, _ := os.ReadFile(filepath.Join(home, "keys", "validator.key"))
	if !bytes.Equal(before, after) {
		t.Fatal("refused init changed the validator key")
	}

	mustRun(t, nil, "init", "--home", home, "--moniker", "m1", "--insecure-unencrypted", "--force", "--api.listen-addr", "127.0.0.1:7000", "--log-level", "debug", "--mempool.max-txs", "77")
	cfg, err = node.LoadConfig(filepath.Join(home, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Moniker != "m1" || cfg.API.ListenAddr != "127.0.0.1:7000" || cfg.LogLevel != "debug" || cfg.Mempool.MaxTxs != 77 {
		t.Fatalf("forced init config %+v", cfg)
	}
	if after, _ := os.ReadFile(filepath.Join(home, "keys", "validator.key")); bytes.Equal(before, after) {
		t.Fatal("forced init kept the old key")
	}
}

func TestInitEncryptedAndBadConfigFlag(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	env := map[string]string{envPassphrase: "pw-from-env"}
	mustRun(t, env, "init", "--home", home, fastScrypt, "--output", "json")
	for _, k := range []string{"validator.key", "node.key"} {
		path := filepath.Join(home, "keys", k)
		info, err := keystore.LoadPublic(path)
		if err != nil || !info.Encrypted {
			t.Fatalf("%s: %+v %v", k, info, err)
		}
		if _, err := keystore.Load(path, "pw-from-env"); err != nil {
			t.Fatal(err)
		}
	}
	cfg, _ := node.LoadConfig(filepath.Join(home, "config.toml"))
	if cfg.Moniker != "testhost" {
		t.Errorf("default moniker %q, want the host name", cfg.Moniker)
	}
	r := run(t, nil, "init", "--home", filepath.Join(t.TempDir(), "h2"), "--insecure-unencrypted", "--api.listen-addr", "nowhere")
	if r.err == nil || !strings.Contains(r.err.Error(), "api.listen_addr") {
		t.Fatalf("bad --api.listen-addr: %v", r.err)
	}
	// No passphrase source and no terminal: a clear error.
	r = run(t, nil, "init", "--home", filepath.Join(t.TempDir(), "h3"))
	if r.err == nil || !strings.Contains(r.err.Error(), "--passphrase-file") {
		t.Fatalf("init without passphrase: %v", r.err)
	}
}

func TestKeysCommands(t *testing.T) {
	tmp := t.TempDir()
	home := filepath.Join(tmp, "home")
	pass := writeFile(t, filepath.Join(tmp, "pass"), "first pass\n")
	pass2 := writeFile(t, filepath.Join(tmp, "pass2"), "second pass\r\n")
	wrong := writeFile(t, filepath.Join(tmp, "wrong"), "nope\n")
	h := "--home=" + home

	// new (encrypted) -> show -> list
	mustRun(t, nil, "keys", "new", "alice", h, "--passphrase-file", pass, fastScrypt)
	var shown keyView
	r := mustRun(t, nil, "keys", "show", "alice", h, "--output", "json")
	if err := json.Unmarshal([]byte(r.out), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.Kind != "account" || !shown.Encrypted || shown.PublicKey == "" {
		t.Fatalf("show: %+v", shown)
	}
	st, _ := os.Stat(filepath.Join(home, "keys", "alice.key"))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	mustRun(t, nil, "keys", "new", "n1", h, "--kind", "node", "--insecure-unencrypted")
	r = mustRun(t, nil, "keys", "list", h)
	if !strings.Contains(r.out, "alice") || !strings.Contains(r.out, "n1") || !strings.Contains(r.out, "12D3Koo") {
		t.Fatalf("list:\n%s", r.out)
	}
	if r := run(t, nil, "keys", "new", "alice", h, "--insecure-unencrypted"); r.err == nil || !strings.Contains(r.err.Error(), "already exists") {
		t.Fatalf("new over existing key: %v", r.err)
	}

	// wrong passphrase
	r = run(t, nil, "keys", "export", "alice", h, "--out", filepath.Join(tmp, "x"), "--unencrypted", "--passphrase-file", wrong)
	if r.err == nil || !strings.Contains(r.err.Error(), "wrong passphrase") {
		t.Fatalf("export with wrong passphrase: %v", r.err)
	}
	// export requires an explicit flag for the clear form: without
	// --unencrypted it re-encrypts, which needs a new passphrase.
	r = run(t, nil, "keys", "export", "alice", h, "--out", filepath.Join(tmp, "x"), "--passphrase-file", pass)
	if r.err == nil || !strings.Contains(r.err.Error(), "--new-passphrase-file") {
		t.Fatalf("export without a new passphrase: %v", r.err)
	}

	// export plain -> import encrypted under another passphrase
	plain := filepath.Join(tmp, "alice.plain.key")
	r = mustRun(t, nil, "keys", "export", "alice", h, "--out", plain, "--unencrypted", "--passphrase-file", pass)
	if !strings.Contains(r.errOut, "UNENCRYPTED") {
		t.Errorf("no warning on plain export")
	}
	pinfo, err := keystore.LoadPublic(plain)
	if err != nil || pinfo.Encrypted {
		t.Fatalf("plain export: %+v %v", pinfo, err)
	}
	mustRun(t, map[string]string{envPassphrase: "env pass"}, "keys", "import", "bob", plain, h, fastScrypt)
	if _, err := keystore.Load(filepath.Join(home, "keys", "bob.key"), "env pass"); err != nil {
		t.Fatal(err)
	}

	// export re-encrypted -> import from the encrypted file
	enc := filepath.Join(tmp, "alice.enc.key")
	mustRun(t, nil, "keys", "export", "alice", h, "--out", enc, "--passphrase-file", pass, "--new-passphrase-file", pass2, fastScrypt)
	if _, err := keystore.Load(enc, "second pass"); err != nil {
		t.Fatalf("re-encrypted export does not open with the new passphrase: %v", err)
	}
	mustRun(t, nil, "keys", "import", "carol", enc, h, "--import-passphrase-file", pass2, "--insecure-unencrypted")
	r = run(t, nil, "keys", "import", "dave", enc, h, "--import-passphrase-file", wrong, "--insecure-unencrypted")
	if r.err == nil || !strings.Contains(r.err.Error(), "wrong passphrase") {
		t.Fatalf("import with wrong passphrase: %v", r.err)
	}

	// All copies hold the same key.
	r = mustRun(t, nil, "keys", "list", h, "--output", "json")
	var views []keyView
	if err := json.Unmarshal([]byte(r.out), &views); err != nil {
		t.Fatal(err)
	}
	pubs := map[string]string{}
	for _, v := range views {
		pubs[v.Name] = v.PublicKey
	}
	if pubs["alice"] == "" || pubs["bob"] != pubs["alice"] || pubs["carol"] != pubs["alice"] {
		t.Fatalf("imported keys differ: %v", pubs)
	}

	// A damaged key file is a clear error for show, and listed as an error.
	os.WriteFile(filepath.Join(home, "keys", "broken.key"), []byte(`{"version":1,`), 0o600)
	if r := run(t, nil, "keys", "show", "broken", h); r.err == nil || !strings.Contains(r.err.Error(), "damaged") {
		t.Fatalf("show damaged: %v", r.err)
	}
	if r := mustRun(t, nil, "keys", "list", h); !strings.Contains(r.out, "ERROR") {
		t.Fatalf("list did not flag the damaged file:\n%s", r.out)
	}
}

func TestGenesisBuildFromHomes(t *testing.T) {
	tmp := t.TempDir()
	gen := filepath.Join(tmp, "genesis.json")
	mustRun(t, nil, "genesis", "new", "--chain-id", "gov-1", "--fault-model", "crash", "--out", gen)
	// The tender template is installed by default, and only on request not.
	if ts := mustLoadGenesis(t, gen).GetContractTemplates(); len(ts) != 1 || !proto.Equal(ts[0], exec.TenderTemplate()) {
		t.Fatalf("genesis new: contract templates %v, want exactly %s", ts, exec.TenderTemplateID)
	}
	bare := filepath.Join(tmp, "bare.json")
	mustRun(t, nil, "genesis", "new", "--chain-id", "gov-1", "--tender-template=false", "--out", bare)
	if ts := mustLoadGenesis(t, bare).GetContractTemplates(); len(ts) != 0 {
		t.Fatalf("genesis new --tender-template=false: templates %v", ts)
	}
	if r := run(t, nil, "genesis", "new", "--chain-id", "gov-1", "--out", gen); r.err == nil {
		t.Fatal("genesis new overwrote a file")
	}
	if r := run(t, nil, "genesis", "new", "--chain-id", "bad id", "--out", filepath.Join(tmp, "g2.json")); r.err == nil || !strings.Contains(r.err.Error(), "chain_id") {
		t.Fatalf("bad chain id: %v", r.err)
	}
	if r := run(t, nil, "genesis", "new", "--chain-id", "x", "--fault-model", "paxos", "--out", filepath.Join(tmp, "g3.json")); r.err == nil || !strings.Contains(r.err.Error(), "unknown fault model") {
		t.Fatalf("bad fault model: %v", r.err)
	}

	var homes []string
	for i := range 3 {
		home := filepath.Join(tmp, "h"+itoa(i))
		homes = append(homes, home)
		mustRun(t, nil, "init", "--home", home, "--moniker", "Dept "+itoa(i), "--insecure-unencrypted",
			"--p2p.listen-addrs", "/ip4/10.0.0."+itoa(i+1)+"/tcp/26656")
	}
	mustRun(t, nil, "genesis", "add-validator", gen, "--home", homes[0], "--department-id", "d0")
	// From flags only, with the public values `keys show` prints.
	var v, n keyView
	json.Unmarshal([]byte(mustRun(t, nil, "keys", "show", filepath.Join(homes[1], "keys", "validator.key"), "--output", "json").out), &v)
	json.Unmarshal([]byte(mustRun(t, nil, "keys", "show", filepath.Join(homes[1], "keys", "node.key"), "--output", "json").out), &n)
	mustRun(t, nil, "genesis", "add-validator", gen, "--department-id", "d1", "--name", "Dept One",
		"--consensus-key", v.PublicKey, "--peer-id", n.PeerID, "--addr", "/ip4/10.0.0.2/tcp/26656")
	// The same home again is refused: duplicate key and peer id.
	r := run(t, nil, "genesis", "add-validator", gen, "--home", homes[0], "--department-id", "d2")
	if r.err == nil || !strings.Contains(r.err.Error(), "duplicate") {
		t.Fatalf("adding a home twice: %v", r.err)
	}
	mustRun(t, nil, "genesis", "add-validator", gen, "--home", homes[2], "--department-id", "d2")
	if r := run(t, nil, "genesis", "add-validator", gen, "--department-id", "d3", "--consensus-key", "AAAA", "--peer-id", n.PeerID); r.err == nil {
		t.Fatal("accepted a bad consensus key")
	}

	// Identities.
	mustRun(t, nil, "keys", "new", "admin0", "--home", homes[0], "--insecure-unencrypted")
	mustRun(t, nil, "genesis", "add-identity", gen, "--id", "d0-admin", "--department", "d0", "--name", "Admin",
		"--kind", "official", "--roles", "admin,registrar", "--key-file", filepath.Join(homes[0], "keys", "admin0.key"))
	if r := run(t, nil, "genesis", "add-identity", gen, "--id", "x", "--department", "d9", "--name", "X", "--key-file", filepath.Join(homes[0], "keys", "admin0.key")); r.err == nil ||
		!strings.Contains(r.err.Error(), "unknown department") {
		t.Fatalf("identity of an unknown department: %v", r.err)
	}
	if r := run(t, nil, "genesis", "add-identity", gen, "--id", "x", "--department", "d1", "--name", "X", "--key-file", filepath.Join(homes[1], "keys", "validator.key")); r.err == nil ||
		!strings.Contains(r.err.Error(), "account keys") {
		t.Fatalf("identity with a validator key: %v", r.err)
	}
	// --name is required, and says so; an empty key flag of add-validator
	// is named instead of sending the operator to a home it never meant.
	if r := run(t, nil, "genesis", "add-identity", gen, "--id", "x", "--department", "d0", "--key-file", filepath.Join(homes[0], "keys", "admin0.key")); r.err == nil ||
		!strings.Contains(r.err.Error(), `"name" not set`) || !strings.Contains(mustRun(t, nil, "genesis", "add-identity", "--help").out, "display name (required)") {
		t.Fatalf("identity without --name: %v", r.err)
	}
	if r := run(t, nil, "genesis", "add-validator", gen, "--department-id", "d5", "--consensus-key", "", "--peer-id", "x"); r.err == nil ||
		!strings.Contains(r.err.Error(), "--consensus-key is empty") {
		t.Fatalf("add-validator with an empty --consensus-key: %v", r.err)
	}
	if r := run(t, nil, "genesis", "add-validator", gen, "--department-id", "d5", "--home", filepath.Join(t.TempDir(), "nohome")); r.err == nil ||
		!strings.Contains(r.err.Error(), "no --consensus-key and --peer-id given") {
		t.Fatalf("add-validator without keys or a home: %v", r.err)
	}

	r = mustRun(t, nil, "genesis", "validate", gen)
	if !strings.Contains(r.out, "3 validator(s) (quorum 2, tolerates 1 faulty)") {
		t.Fatalf("validate: %s", r.out)
	}
	// d1 and d2 have no admin yet: warnings, not errors.
	if !strings.Contains(r.errOut, `"d1" has no admin`) || !strings.Contains(r.errOut, `"d2" has no admin`) {
		t.Fatalf("missing admin warnings: %q", r.errOut)
	}
	doc, err := genesis.Load(gen)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Validators[0].Name != "Dept 0" || doc.Validators[0].Addrs[0] != "/ip4/10.0.0.1/tcp/26656" {
		t.Fatalf("validator from home: %v", doc.Validators[0])
	}
}

func TestGenesisValidateBrokenFile(t *testing.T) {
	path := writeFile(t, filepath.Join(t.TempDir(), "g.json"), `{"chain_id": "x", "validatorz": []}`)
	r := run(t, nil, "genesis", "validate", path)
	if r.err == nil || !strings.Contains(r.err.Error(), "validatorz") {
		t.Fatalf("unknown field: %v", r.err)
	}
}

func TestVersion(t *testing.T) {
	r := mustRun(t, nil, "version")
	if !strings.Contains(r.out, "govnode dev") || !strings.Contains(r.out, runtime.Version()) {
		t.Fatalf("version: %s", r.out)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(mustRun(t, nil, "version", "--output", "json").out), &v); err != nil || v.GoVersion != runtime.Version() || v.Commit == "" {
		t.Fatalf("version json: %+v %v", v, err)
	}
}

func TestBadGlobalFlags(t *testing.T) {
	if r := run(t, nil, "version", "--output", "yaml"); r.err == nil || !strings.Contains(r.err.Error(), "--output") {
		t.Fatalf("--output yaml: %v", r.err)
	}
	if r := run(t, nil, "version", "--log-level", "loud"); r.err == nil || !strings.Contains(r.err.Error(), "--log-level") {
		t.Fatalf("--log-level loud: %v", r.err)
	}
}

// `govnode testnet join` writes the next department's node home for a
// running test network: its ports in the layout, every existing node as a
// persistent peer, the same genesis, keys, and the department record and
// admin key an add-department proposal carries; it refuses any index but
// the next, and a directory that is not a test network.
func TestTestnetJoin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	mustRun(t, nil, "testnet", "--validators", "4", "--out", dir, "--accounts", "0", "--base-port", "31000")
	r := mustRun(t, nil, "testnet", "join", "--out", dir, "--index", "4", "--output", "json")
	var j testnetJoin
	if err := json.Unmarshal([]byte(r.out), &j); err != nil {
		t.Fatalf("join output: %v\n%s", err, r.out)
	}
	cfg, err := node.LoadConfig(j.Node.Config)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API.ListenAddr != "127.0.0.1:31041" || cfg.P2P.ListenAddrs[0] != "/ip4/127.0.0.1/tcp/31040" || len(cfg.P2P.PersistentPeers) != 4 {
		t.Fatalf("node4 config: api %s p2p %v peers %v", cfg.API.ListenAddr, cfg.P2P.ListenAddrs, cfg.P2P.PersistentPeers)
	}
	vk, err := keystore.Load(j.Node.ValidatorKey, "")
	if err != nil {
		t.Fatal(err)
	}
	if keyString(vk.Public()) != j.Department.ConsensusKey || j.Department.ID != "dept4" || j.Department.PeerID != j.Node.PeerID || len(j.Department.Addrs) != 2 {
		t.Fatalf("department %+v, key file %s", j.Department, keyString(vk.Public()))
	}
	if _, err := keystore.Load(j.Node.Admin.Key, ""); err != nil || j.Node.Admin.ID != "dept4-admin" {
		t.Fatalf("admin %+v: %v", j.Node.Admin, err)
	}
	a, err := genesis.Hash(mustLoadGenesis(t, filepath.Join(dir, "genesis.json")))
	if err != nil {
		t.Fatal(err)
	}
	b, err := genesis.Hash(mustLoadGenesis(t, cfg.ResolvePath(cfg.GenesisFile)))
	if err != nil || string(a) != string(b) {
		t.Fatalf("node4's genesis differs from the network's (%v)", err)
	}
	var sum testnetSummary
	raw, err := os.ReadFile(filepath.Join(dir, "testnet.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &sum); err != nil || len(sum.Nodes) != 5 || sum.Nodes[4].PeerID != j.Node.PeerID {
		t.Fatalf("testnet.json after join: %d nodes (%v)", len(sum.Nodes), err)
	}
	for _, bad := range [][]string{
		{"testnet", "join", "--out", dir, "--index", "4"},         // taken
		{"testnet", "join", "--out", dir, "--index", "7"},         // not the next
		{"testnet", "join", "--out", t.TempDir(), "--index", "0"}, // not a test network
	} {
		if r := run(t, nil, bad...); r.err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

func mustLoadGenesis(t *testing.T, path string) *pb.GenesisDoc {
	t.Helper()
	doc, err := genesis.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}
