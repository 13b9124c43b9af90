package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/node"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// tlsFakeNetwork is a test network whose nodes are fakes of one chain
// served over TLS with each node's own generated pair, testnet.json
// pointing at them: what a command given --testnet meets on a running
// `govnode testnet` network.
func tlsFakeNetwork(t *testing.T, nodes int) (string, *testnetSummary, *fakeChain) {
	t.Helper()
	dir, sum, f := testnetFixture(t, nodes)
	for i := range sum.Nodes {
		if !sum.Nodes[i].APITLS {
			t.Fatalf("node%d of a default test network does not serve TLS", i)
		}
		addr := f.serveTLS(t, i, sum.Nodes[i].Home)
		sum.Nodes[i].APIAddr, sum.Nodes[i].APIURL = addr, "https://"+addr
	}
	if err := writeJSONFile(filepath.Join(dir, "testnet.json"), sum); err != nil {
		t.Fatal(err)
	}
	return dir, sum, f
}

// `govnode testnet` serves every API over TLS by default: each home has
// its own pair (naming 127.0.0.1), the config points the API (not metrics)
// at it and the node loads it; testnet.json says https and names the CA.
// A node added by `testnet join` follows the network; --tls=false writes
// plaintext APIs.
func TestTestnetServesTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	mustRun(t, nil, "testnet", "--validators", "2", "--out", dir, "--accounts", "1", "--base-port", "32000")
	mustRun(t, nil, "testnet", "join", "--out", dir, "--index", "2")
	sum, err := loadTestnetSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	cas := map[string]bool{}
	for i, n := range sum.Nodes {
		cfg, err := node.LoadConfig(n.Config)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.API.TLSCertFile != filepath.Join("tls", "server.crt") || cfg.API.TLSKeyFile != filepath.Join("tls", "server.key") ||
			cfg.Metrics.TLSCertFile != "" || cfg.Metrics.TLSKeyFile != "" {
			t.Errorf("node%d TLS keys: api %q %q, metrics %q %q", i, cfg.API.TLSCertFile, cfg.API.TLSKeyFile, cfg.Metrics.TLSCertFile, cfg.Metrics.TLSKeyFile)
		}
		lt, err := cfg.LoadTLS(time.Now())
		if err != nil || lt.API == nil || lt.Metrics != nil {
			t.Fatalf("node%d LoadTLS: %+v %v", i, lt, err)
		}
		if !n.APITLS || n.APIURL != "https://"+n.APIAddr || n.APICAFile != filepath.Join(n.Home, "tls", "ca.crt") {
			t.Errorf("node%d in testnet.json: tls %v url %q ca %q", i, n.APITLS, n.APIURL, n.APICAFile)
		}
		caPEM, err := os.ReadFile(n.APICAFile)
		if err != nil {
			t.Fatal(err)
		}
		cas[string(caPEM)] = true
		roots, err := client.LoadCAFile(n.APICAFile)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lt.API.Certificates[0].Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}); err != nil {
			t.Errorf("node%d: the server certificate does not verify for 127.0.0.1 under its CA: %v", i, err)
		}
		if st, err := os.Stat(filepath.Join(n.Home, "tls", "server.key")); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("node%d server key: %v", i, err)
		}
		if b, _ := pem.Decode(caPEM); b == nil || bytes.Contains(caPEM, []byte("PRIVATE KEY")) {
			t.Errorf("node%d: ca.crt is not a lone certificate", i)
		}
	}
	if len(cas) != 3 {
		t.Errorf("%d distinct CAs for 3 nodes: each node has a pair of its own", len(cas))
	}
	if r := mustRun(t, nil, "testnet", "--validators", "1", "--out", filepath.Join(t.TempDir(), "n"), "--accounts", "0"); !strings.Contains(r.out, "api https://127.0.0.1:") {
		t.Errorf("testnet output does not show the https API:\n%s", r.out)
	}

	plain := filepath.Join(t.TempDir(), "plain")
	mustRun(t, nil, "testnet", "--validators", "2", "--out", plain, "--accounts", "0", "--base-port", "32100", "--tls=false")
	mustRun(t, nil, "testnet", "join", "--out", plain, "--index", "2")
	sum, err = loadTestnetSummary(plain)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range sum.Nodes {
		cfg, err := node.LoadConfig(n.Config)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.API.TLSCertFile != "" || n.APITLS || n.APIURL != "http://"+n.APIAddr || n.APICAFile != "" {
			t.Errorf("--tls=false node%d: cert %q, tls %v url %q ca %q", i, cfg.API.TLSCertFile, n.APITLS, n.APIURL, n.APICAFile)
		}
		if _, err := os.Stat(filepath.Join(n.Home, "tls")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("--tls=false node%d has a tls directory (%v)", i, err)
		}
	}
}

// Every command given --testnet calls its node over https, trusting the
// node's CA from testnet.json (no --ca), and authenticates as --signer:
// the node of the signer's department without --node, node 0 without a
// signer, the node named by a host:port --node otherwise.
func TestTestnetFlagCallsOverHTTPS(t *testing.T) {
	dir, sum, f := tlsFakeNetwork(t, 2)
	status := func(node int, caller string, args ...string) {
		t.Helper()
		out := mustRun(t, nil, append([]string{"status", "--testnet", dir}, args...)...).out
		wantCaller := "caller        anonymous"
		if caller != "" {
			wantCaller = "caller        identity " + caller
		}
		if !strings.Contains(out, "https://"+sum.Nodes[node].APIAddr) || !strings.Contains(out, wantCaller) {
			t.Errorf("status --testnet %v: want node %d (%s), %q:\n%s", args, node, sum.Nodes[node].APIAddr, wantCaller, out)
		}
	}
	status(0, "")
	off1 := sum.Nodes[1].Official.ID
	status(1, off1, "--signer", off1)
	status(1, sum.Accounts[0].ID, "--node", sum.Nodes[1].APIAddr, "--signer", sum.Accounts[0].ID)
	status(1, "", "--node", "https://"+sum.Nodes[1].APIAddr)
	// A tx command, its signer authenticating the calls too; a query.
	r := mustRun(t, nil, "tx", "record", "create", "--testnet", dir, "--signer", off1, "--id", "lt-1", "--type", "land_title",
		"--subject", sum.Accounts[0].ID, "--content", "parcel 1", "--wait", "--output", "json")
	if a := lastAccepted(t, f); a.node != 1 || jsonObject(t, r.out)["node"] != "https://"+sum.Nodes[1].APIAddr {
		t.Errorf("tx over https: node %d, %s", a.node, r.out)
	}
	f.identity = &pb.QueryIdentityResponse{Identity: &pb.Identity{Id: off1}, Height: 1}
	mustRun(t, nil, "query", "identity", off1, "--testnet", dir, "--signer", off1)

	// Not through --testnet: plaintext to the TLS port is named as such.
	for _, args := range [][]string{
		{"--node", sum.Nodes[0].APIAddr},
		{"--node", "http://" + sum.Nodes[0].APIAddr, "--testnet", dir},
	} {
		if r := run(t, nil, append([]string{"status"}, args...)...); r.err == nil || !strings.Contains(r.err.Error(), "serves TLS only") {
			t.Errorf("status %v: %v", args, r.err)
		}
	}
	// A --testnet whose summary is unreadable is an error, not a silent
	// fallback to another address.
	if r := run(t, nil, "status", "--testnet", t.TempDir()); r.err == nil || !strings.Contains(r.err.Error(), "testnet.json") {
		t.Errorf("status --testnet of an empty dir: %v", r.err)
	}
}

// Every command that calls a node authenticates as --signer with --key or
// --testnet: every query subcommand, events and status have the flags.
func TestQueryCommandsTakeAuthFlags(t *testing.T) {
	root := newRootCmd(cliEnv{DefaultHome: t.TempDir()})
	var cmds []string
	for _, path := range [][]string{{"status"}, {"events"}} {
		cmds = append(cmds, strings.Join(path, " "))
	}
	q, _, err := root.Find([]string{"query"})
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range q.Commands() {
		cmds = append(cmds, "query "+sub.Name())
	}
	if len(cmds) < 11 {
		t.Fatalf("commands: %v", cmds)
	}
	for _, name := range cmds {
		c, _, err := root.Find(strings.Fields(name))
		if err != nil {
			t.Fatal(err)
		}
		for _, fl := range []string{"signer", "key", "testnet", "passphrase-file", "node", "ca"} {
			if c.Flags().Lookup(fl) == nil {
				t.Errorf("govnode %s has no --%s", name, fl)
			}
		}
	}
}

// bench against a network serving TLS: HTTP/2 over TLS trusting each
// node's CA, and the records of a protected type created with their
// payload beside the tx (the fake applies the node's rule and refuses
// anything else).
func TestBenchOverTLSWithProtectedRecords(t *testing.T) {
	dir, _, f := tlsFakeNetwork(t, 2)
	f.protectType(t, genesis.SampleBirthCert)
	r := mustRun(t, nil, "bench", "--testnet", dir, "--rate", "300", "--duration", "300ms", "--grace", "3s", "--poll", "5ms",
		"--seed", "7", "--output", "json", "--mix", "create_record=2,amend_record=1")
	m := jsonObject(t, r.out)
	if m["rejected"] != float64(0) || m["failed"] != float64(0) || m["committed"] != m["offered"] {
		t.Fatalf("bench over TLS: %s", r.out)
	}
	if p := m["protocol"]; p != "h2 (tls)" {
		t.Errorf("protocol %v, want h2 (tls)", p)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	protectedIDs := map[string]bool{}
	var protCreates, protAmends, public, amends int
	for _, a := range f.accepted {
		switch x := a.body.GetAction().(type) {
		case *pb.TxBody_CreateRecord:
			if x.CreateRecord.GetRecordType() == genesis.SampleBirthCert {
				protectedIDs[x.CreateRecord.GetRecordId()] = true
				protCreates++
			} else if len(a.payloads) == 0 && len(x.CreateRecord.GetContent()) > 0 {
				public++
			}
		case *pb.TxBody_AmendRecord:
			amends++
			if protectedIDs[x.AmendRecord.GetRecordId()] {
				protAmends++
			}
		}
		if len(a.payloads) > 0 {
			if err := crypto.Ed25519SHA256.CheckPayload(payloadHash(a.body), a.payloads[0].GetSalt(), a.payloads[0].GetContent()); err != nil {
				t.Errorf("a payload the fake let through does not open its tx's hash: %v", err)
			}
		}
	}
	// Protected records are created with payloads and never amended: the
	// node takes an amendment's payload only once the creation is
	// committed, which an open-loop plan cannot promise.
	if protCreates == 0 || protAmends != 0 || public == 0 || amends == 0 {
		t.Errorf("mix: %d protected creates, %d amends (%d of protected records), %d public creates", protCreates, amends, protAmends, public)
	}
}

func payloadHash(b *pb.TxBody) []byte {
	if c := b.GetCreateRecord(); c != nil {
		return c.GetContentHash()
	}
	return b.GetAmendRecord().GetContentHash()
}

// freeBasePort finds a base port whose n*10 following ports are free on
// 127.0.0.1 (TCP and UDP), as `govnode testnet` lays them out.
func freeBasePort(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 100; try++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := ln.Addr().(*net.TCPAddr).Port / 10 * 10
		ln.Close()
		if base+n*10 > 65535 || base < 1024 {
			continue
		}
		ok := true
		var closers []func() error
		for p := base; p < base+n*10 && ok; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				ok = false
				break
			}
			closers = append(closers, l.Close)
			u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				ok = false
				break
			}
			closers = append(closers, u.Close)
		}
		for _, c := range closers {
			_ = c()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

// A one-validator `govnode testnet` node, started in-process with `govnode
// start` from its home, serves its API over TLS; commands given --testnet
// reach it over https with no --ca and authenticate as --signer; a record
// is created and read back with a proof; a protected record is created,
// read by its subject, logged and erased.
func TestTestnetNodeOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node")
	}
	dir := filepath.Join(t.TempDir(), "net")
	base := freeBasePort(t, 1)
	mustRun(t, nil, "testnet", "--validators", "1", "--out", dir, "--accounts", "1", "--base-port", strconv.Itoa(base), "--fault-model", "crash")
	sum, err := loadTestnetSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	startTestnetNode(t, dir, sum)
	off := sum.Nodes[0].Official.ID
	st := jsonObject(t, mustRun(t, nil, "status", "--testnet", dir, "--signer", off, "--timeout", "5s", "--output", "json").out)
	if st["caller_id"] != off || st["chain_id"] != sum.ChainID {
		t.Fatalf("status over https: chain %v caller %v", st["chain_id"], st["caller_id"])
	}
	if out := mustRun(t, nil, "status", "--testnet", dir).out; !strings.Contains(out, "https://"+sum.Nodes[0].APIAddr) {
		t.Errorf("status --testnet does not call https://%s:\n%s", sum.Nodes[0].APIAddr, out)
	}
	// Plaintext to it is refused with the reason.
	if r := run(t, nil, "status", "--node", sum.Nodes[0].APIAddr, "--timeout", "5s"); r.err == nil || !strings.Contains(r.err.Error(), "serves TLS only") {
		t.Errorf("plaintext status: %v", r.err)
	}
	mustRun(t, nil, "tx", "record", "create", "--testnet", dir, "--signer", off, "--id", "lt-1", "--type", "land_title",
		"--subject", sum.Accounts[0].ID, "--content", "parcel 1", "--wait", "--wait-timeout", "20s")
	// A proof is against the latest committed header that attests a
	// state, a block or two behind the head: an idle chain gets there
	// with a few more transactions.
	var r result
	for i := 0; ; i++ {
		r = run(t, nil, "query", "record", "lt-1", "--testnet", dir, "--prove", "--output", "json")
		if r.err == nil || i == 10 {
			break
		}
		mustRun(t, nil, "tx", "record", "create", "--testnet", dir, "--signer", off, "--id", "lt-fill-"+strconv.Itoa(i), "--type", "land_title",
			"--subject", sum.Accounts[0].ID, "--content", "filler", "--wait", "--wait-timeout", "20s")
	}
	if r.err != nil {
		t.Fatalf("query record --prove over https: %v", r.err)
	}
	m := jsonObject(t, r.out)
	if m["record"].(map[string]any)["subject_id"] != sum.Accounts[0].ID || m["proof"].(map[string]any)["verified"] != true {
		t.Fatalf("query record over https: %s", r.out)
	}
	// The versions listed beside a record's proof are not covered by it,
	// and the output says so (--bundle proves them).
	if m := jsonObject(t, mustRun(t, nil, "query", "record", "lt-1", "--testnet", dir, "--prove", "--versions", "--output", "json").out); m["versions_proven"] != false {
		t.Errorf("query record --prove --versions: versions_proven %v", m["versions_proven"])
	}
	if out := mustRun(t, nil, "query", "record", "lt-1", "--testnet", dir, "--prove", "--versions").out; !strings.Contains(out, "not the versions listed: --bundle FILE proves every version") {
		t.Errorf("query record --prove --versions does not say the versions are unproven:\n%s", out)
	}
	// An access log of the subject: empty, in the fixed JSON shape.
	cit := sum.Accounts[0].ID
	m = jsonObject(t, mustRun(t, nil, "query", "access-log", "--subject", cit, "--testnet", dir, "--signer", off, "--output", "json").out)
	if e, ok := m["entries"].([]any); !ok || len(e) != 0 {
		t.Errorf("access log: %v", m)
	}

	// A protected record (birth_certificate in the test network's
	// genesis), with the node's own rules: the tx carries only the
	// commitment; the subject reads the content, logged on chain first;
	// an anonymous caller is refused; the subject erases it.
	r = mustRun(t, nil, "tx", "record", "create", "--testnet", dir, "--signer", off, "--id", "bc-1", "--type", "birth_certificate",
		"--subject", cit, "--content", "Ada Lovelace", "--wait", "--wait-timeout", "20s", "--output", "json")
	created := jsonObject(t, r.out)
	qt := jsonObject(t, mustRun(t, nil, "query", "tx", created["tx_hash"].(string), "--testnet", dir, "--output", "json").out)
	cr := qt["create_record"].(map[string]any)
	if _, ok := cr["content"]; ok || cr["content_hash"] != created["payload_commitments"].([]any)[0] {
		t.Fatalf("the committed tx of a protected record: %v (sent %v)", cr, created["payload_commitments"])
	}
	m = jsonObject(t, mustRun(t, nil, "query", "record", "bc-1", "--testnet", dir, "--signer", cit, "--content", "--purpose", "my own record", "--output", "json").out)
	if cs, _ := m["contents"].([]any); len(cs) != 1 || cs[0].(map[string]any)["content_text"] != "Ada Lovelace" || m["access"].(map[string]any)["height"].(float64) == 0 {
		t.Fatalf("the subject's read: %v", m)
	}
	if r := run(t, nil, "query", "record", "bc-1", "--testnet", dir, "--content", "--purpose", "p"); r.err == nil || !strings.Contains(r.err.Error(), "anonymous") {
		t.Errorf("an anonymous read: %v", r.err)
	}
	// The subject's access log, each entry proven (once a header attests
	// the state that holds it).
	for i := 0; ; i++ {
		r = run(t, nil, "query", "access-log", "--subject", cit, "--testnet", dir, "--prove", "--output", "json")
		if r.err == nil || i == 10 {
			break
		}
		mustRun(t, nil, "tx", "record", "create", "--testnet", dir, "--signer", off, "--id", "lt-more-"+strconv.Itoa(i), "--type", "land_title",
			"--subject", cit, "--content", "filler", "--wait", "--wait-timeout", "20s")
	}
	if r.err != nil {
		t.Fatalf("access-log --prove: %v", r.err)
	}
	entries := jsonObject(t, r.out)["entries"].([]any)
	if len(entries) != 1 {
		t.Fatalf("access log: %s", r.out)
	}
	if e := entries[0].(map[string]any); e["accessor_id"] != cit || e["channel"] != "query" || e["recorded_by"] != sum.Nodes[0].DepartmentID ||
		e["purpose"] != "my own record" || e["proof"].(map[string]any)["verified"] != true {
		t.Errorf("access entry: %v", e)
	}
	mustRun(t, nil, "tx", "record", "erase", "--testnet", dir, "--signer", cit, "--id", "bc-1", "--reason", "right to erasure",
		"--legal-basis", "GDPR art. 17", "--wait", "--wait-timeout", "20s")
	if r := mustRun(t, nil, "query", "record", "bc-1", "--testnet", dir); !strings.Contains(r.out, "content erased at height") {
		t.Errorf("an erased record:\n%s", r.out)
	}
	if r := run(t, nil, "query", "record", "bc-1", "--testnet", dir, "--signer", cit, "--content", "--purpose", "p"); r.err == nil || !strings.Contains(r.err.Error(), "was erased at height") {
		t.Errorf("reading erased content: %v", r.err)
	}
}
