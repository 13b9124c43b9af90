package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/node/nodetest"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// TestDeployCeremony runs docs/DEPLOY.md sections 2, 3, 5 and 7 with four
// departments on this one machine, each "machine" a directory of its own:
// every department makes its node home (encrypted keys, TLS) and its
// officials' keys, and hands the coordinator only public halves, read with
// `govnode keys show`; the coordinator builds the genesis with `genesis
// new`, `add-validator` and `add-identity` and publishes its hash; every
// department checks the hash and starts its node with --passphrase-file.
// The nodes find each other at the genesis addresses, an application
// registered by an admin authenticates with a `keys client-cert` of the
// guide's --ttl, and a record type installed by governance passes.
func TestDeployCeremony(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	const n = 4
	dir := t.TempDir()
	base := freeBasePort(t, n)
	gd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("govnode %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	field := func(js, name string) string {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal([]byte(js), &m); err != nil {
			t.Fatalf("%v: %s", err, js)
		}
		s, _ := m[name].(string)
		if s == "" {
			t.Fatalf("no %s in %s", name, js)
		}
		return s
	}
	// fast is the hidden scrypt cost flag: the keys are encrypted as in
	// production, only cheaper to open.
	const fast = "--scrypt-work-factor=10"
	// scheme is the chain suite's: of the consensus and officers' keys.
	scheme := crypto.SchemeName(e2eSuite.Scheme())

	// Section 2, on each department's machine.
	type dept struct {
		id, home, officers, pass               string
		peerID, consKey, adminKey, officialKey string
		binding                                string // sm2-sm3: the peer binding, hex
		p2p, api                               int
	}
	depts := make([]dept, n)
	for i := range depts {
		d := &depts[i]
		d.id = fmt.Sprintf("dept%d", i)
		d.home = filepath.Join(dir, fmt.Sprintf("node%d", i))
		d.officers = filepath.Join(dir, fmt.Sprintf("officers%d", i))
		d.pass = filepath.Join(dir, fmt.Sprintf("passphrase%d", i))
		d.p2p, d.api = base+10*i, base+10*i+1
		if err := os.WriteFile(d.pass, []byte(fmt.Sprintf("passphrase of %s, long enough\n", d.id)), 0o600); err != nil {
			t.Fatal(err)
		}
		p2p := strconv.Itoa(d.p2p)
		initOut := gd("init", "--home", d.home, "--moniker", d.id, "--passphrase-file", d.pass, fast, "--crypto-suite", e2eSuite.String(),
			"--tls", "--tls-hosts", "node."+d.id+".example",
			"--api.listen-addr", "127.0.0.1:"+strconv.Itoa(d.api), "--metrics.listen-addr", "127.0.0.1:"+strconv.Itoa(d.api+1),
			"--p2p.listen-addrs", "/ip4/127.0.0.1/tcp/"+p2p+",/ip4/127.0.0.1/udp/"+p2p+"/quic-v1", "--output", "json")
		if !strings.Contains(initOut, `"encrypted": true`) || !strings.Contains(initOut, `"tls_ca_file"`) {
			t.Fatalf("init did not write encrypted keys and a TLS pair:\n%s", initOut)
		}
		for _, who := range []string{"admin", "official"} {
			gd("keys", "new", d.id+"-"+who, "--keyring-dir", d.officers, "--passphrase-file", d.pass, fast, "--scheme", scheme)
		}
		// What the department sends: public halves, read without the
		// passphrase, as scheme:base64.
		d.peerID = field(gd("keys", "show", "node", "--home", d.home, "--output", "json"), "peer_id")
		d.consKey = scheme + ":" + field(gd("keys", "show", "validator", "--home", d.home, "--output", "json"), "public_key")
		d.adminKey = scheme + ":" + field(gd("keys", "show", d.id+"-admin", "--keyring-dir", d.officers, "--output", "json"), "public_key")
		d.officialKey = scheme + ":" + field(gd("keys", "show", d.id+"-official", "--keyring-dir", d.officers, "--output", "json"), "public_key")
		if e2eSuite == crypto.SM2SM3 {
			// On its own machine, the department's SM2 consensus key
			// binds its node's peer id; the binding travels with the
			// public keys.
			d.binding = strings.TrimSpace(gd("genesis", "bind-peer", "--key", filepath.Join(d.home, "keys", "validator.key"),
				"--passphrase-file", d.pass, "--chain-id", "gov-consortium-1", "--department", d.id, "--peer-id", d.peerID))
		}
	}

	// Section 3, the coordinator.
	coord := filepath.Join(dir, "coordinator", "genesis.json")
	if err := os.MkdirAll(filepath.Dir(coord), 0o755); err != nil {
		t.Fatal(err)
	}
	gd("genesis", "new", "--chain-id", "gov-consortium-1", "--fault-model", "byzantine", "--crypto-suite", e2eSuite.String(), "--out", coord)
	for _, d := range depts {
		p2p := strconv.Itoa(d.p2p)
		args := []string{"genesis", "add-validator", coord, "--department-id", d.id, "--name", "Department " + d.id,
			"--consensus-key", d.consKey, "--peer-id", d.peerID,
			"--addr", "/ip4/127.0.0.1/tcp/" + p2p, "--addr", "/ip4/127.0.0.1/udp/" + p2p + "/quic-v1"}
		if d.binding != "" {
			args = append(args, "--peer-binding", d.binding)
		}
		gd(args...)
		gd("genesis", "add-identity", coord, "--id", d.id+"-admin", "--department", d.id, "--kind", "official",
			"--roles", "admin", "--name", d.id+" administrator", "--pubkey", d.adminKey)
		gd("genesis", "add-identity", coord, "--id", d.id+"-official", "--department", d.id, "--kind", "official",
			"--roles", "registrar,issuer", "--name", d.id+" registrar", "--pubkey", d.officialKey)
	}
	if out := gd("genesis", "validate", coord); !strings.Contains(out, "4 validator(s) (quorum 3, tolerates 1 faulty)") {
		t.Fatalf("genesis validate: %s", out)
	}
	published := strings.TrimSpace(gd("genesis", "hash", coord))

	// Every department checks the hash, and starts its node.
	c := &cluster{t: t, dir: dir, n: n, chainID: "gov-consortium-1", procs: make([]*exec.Cmd, n),
		exited: make([]chan struct{}, n), nonces: map[string]uint64{}}
	for i, d := range depts {
		raw, err := os.ReadFile(coord)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d.home, "genesis.json"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(gd("genesis", "hash", filepath.Join(d.home, "genesis.json"))); got != published {
			t.Fatalf("%s computes genesis hash %s, the coordinator published %s", d.id, got, published)
		}
		ca := filepath.Join(d.home, "tls", "ca.crt")
		url := "https://127.0.0.1:" + strconv.Itoa(d.api)
		c.apis = append(c.apis, "127.0.0.1:"+strconv.Itoa(d.api))
		c.urls, c.cas = append(c.urls, url), append(c.cas, ca)
		c.metrics = append(c.metrics, "127.0.0.1:"+strconv.Itoa(d.api+1))
		c.clients = append(c.clients, govnodev1connect.NewNodeServiceClient(c.httpClient(i, nil), url,
			connect.WithInterceptors(nodetest.RetryBackpressure())))
	}
	t.Cleanup(c.stopAll)
	for i, d := range depts {
		c.startHome(i, d.home, "--passphrase-file", d.pass)
	}
	for i := range depts {
		c.waitUp(i)
	}
	c.waitMeshed(30*time.Second, n-1)
	var st struct {
		ChainID     string `json:"chain_id"`
		CryptoSuite string `json:"crypto_suite"`
		Peers       []struct {
			Connected bool `json:"connected"`
		} `json:"peers"`
	}
	out := gd("status", "--home", depts[0].home, "--ca", c.cas[0], "--output", "json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.ChainID != "gov-consortium-1" || st.CryptoSuite != e2eSuite.String() || len(st.Peers) != n-1 {
		t.Fatalf("govnode status --home: %v\n%s", err, out)
	}

	// Section 5: an application registered by dept0's admin authenticates
	// with a client certificate of the guide's --ttl.
	d0 := depts[0]
	// the flags of a tx signed by signer of department i, sent to its node
	common := func(i int, signer string) []string {
		d := depts[i]
		return []string{"--node", c.urls[i], "--ca", c.cas[i],
			"--key", filepath.Join(d.officers, signer+".key"), "--passphrase-file", d.pass, "--signer", signer}
	}
	appKeys := filepath.Join(dir, "app", "keys")
	gd("keys", "new", "dept0-records-app", "--keyring-dir", appKeys, "--passphrase-file", d0.pass, fast, "--scheme", scheme)
	gd(append([]string{"tx", "identity", "register-official"}, append(common(0, "dept0-admin"),
		"--id", "dept0-records-app", "--department", "dept0", "--name", "dept0 records application",
		"--role", "registrar", "--public-key", filepath.Join(appKeys, "dept0-records-app.key"), "--wait")...)...)
	certDir := filepath.Join(dir, "app", "client-cert")
	gd("keys", "client-cert", "--key", filepath.Join(appKeys, "dept0-records-app.key"), "--passphrase-file", d0.pass,
		"--signer", "dept0-records-app", "--ttl", "23h", "--out", certDir, "--force")
	if got := callerOf(t, c.cas[0], c.urls[0], filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key")); got != "dept0-records-app" {
		t.Fatalf("Status with the application's client certificate answers caller %q", got)
	}

	// Section 7: a record type installed by governance.
	typeFile := filepath.Join(dir, "land_title.json")
	if err := os.WriteFile(typeFile, []byte(`{"id": "land_title", "name": "Land title", "createDepartments": ["dept0"], "amendDepartments": ["dept0"],
 "maxContentBytes": 4096, "onChainContent": true, "visibility": "CONTENT_VISIBILITY_PUBLIC"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	gd(append([]string{"tx", "gov", "propose", "record-type"}, append(common(0, "dept0-admin"),
		"--id", "rt-land-title", "--title", "install land_title", "--voting-end-height", "100000", "--file", typeFile, "--wait")...)...)
	for i := 1; i < n; i++ {
		gd(append([]string{"tx", "gov", "vote"}, append(common(i, depts[i].id+"-admin"), "--proposal", "rt-land-title", "--vote", "yes", "--wait")...)...)
	}
	if out := gd("query", "proposal", "rt-land-title", "--node", c.urls[0], "--ca", c.cas[0]); !strings.Contains(out, "PROPOSAL_STATUS_PASSED") {
		t.Fatalf("the record type's proposal did not pass:\n%s", out)
	}
	c.settle(30*time.Second, 0, 1, 2, 3)
}

// callerOf calls Status over TLS with a client certificate and returns
// the identity the node authenticated (callerId in JSON).
func callerOf(t *testing.T, caFile, url, certFile, keyFile string) string {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := hc.Post(url+"/govnode.v1.NodeService/Status", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		CallerID string `json:"callerId"`
		Code     string `json:"code"`
		Message  string `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Status with a client certificate: %s %s: %s", resp.Status, st.Code, st.Message)
	}
	return st.CallerID
}
