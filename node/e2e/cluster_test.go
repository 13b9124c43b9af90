package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/node/clientcert"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// binary is the govnode binary built once for the package.
var binary string

// suiteEnv names the crypto suite of the package's test networks.
const suiteEnv = "GOVNODE_E2E_SUITE"

// e2eSuite is the crypto suite of every test network of the package but
// those that name theirs (clusterOpts.suite): $GOVNODE_E2E_SUITE,
// ed25519-sha256 when unset (ARCHITECTURE.md §6 "Crypto suites"). `make
// test` runs the package under both.
var e2eSuite crypto.Suite

func TestMain(m *testing.M) {
	if name := os.Getenv(suiteEnv); name != "" {
		s, err := crypto.SuiteByName(name)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", suiteEnv, err)
			os.Exit(2)
		}
		e2eSuite = s
	}
	dir, err := os.MkdirTemp("", "govnode-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "govnode")
	build := exec.Command("go", "build", "-o", binary, "github.com/govnode/govnode/cmd/govnode")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build govnode:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cluster is a local network of govnode processes.
type cluster struct {
	t       testing.TB
	dir     string
	n       int
	chainID string
	apis    []string
	urls    []string // each node's API base URL (https:// with TLS)
	cas     []string // each node's API CA file, with TLS
	metrics []string
	clients []govnodev1connect.NodeServiceClient
	mu      sync.Mutex
	procs   []*exec.Cmd
	exited  []chan struct{}
	nonces  map[string]uint64
	opts    clusterOpts
	// suite is the chain's crypto suite: its keys' scheme, and the hash
	// of its txs and blocks.
	suite crypto.Suite
}

// clusterOpts vary how nodes run; the zero value runs the default binary
// with the test's environment.
type clusterOpts struct {
	// binary replaces the default binary (a byzantine test build).
	binary string
	// env adds variables to node i's environment.
	env map[int][]string
	// tls runs the test network as `govnode testnet` writes it by
	// default, its APIs over TLS (clients trust each node's CA and can
	// authenticate, clientAs); otherwise --tls=false, plaintext APIs.
	tls bool
	// suite, when set, is the chain's crypto suite in place of the
	// package's (e2eSuite).
	suite *crypto.Suite
}

// suiteOf is the crypto suite a cluster of o runs.
func (o clusterOpts) suiteOf() crypto.Suite {
	if o.suite != nil {
		return *o.suite
	}
	return e2eSuite
}

// testnetSuiteArgs are the `govnode testnet` flags of the package's suite.
func testnetSuiteArgs() []string {
	return []string{"--crypto-suite", e2eSuite.String()}
}

type testnetSummary struct {
	Nodes []struct {
		APIAddr     string `json:"api_addr"`
		APIURL      string `json:"api_url"`
		APICAFile   string `json:"api_ca_file"`
		MetricsAddr string `json:"metrics_addr"`
	} `json:"nodes"`
	Accounts []struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	} `json:"accounts"`
}

// freeBasePort finds a base port whose n*10 following ports are free on
// 127.0.0.1 (TCP and UDP), as `govnode testnet` lays them out.
func freeBasePort(t testing.TB, n int) int {
	t.Helper()
	for try := 0; try < 200; try++ {
		base := 20000 + rand.IntN(40000)/10*10
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

// newCluster writes an n-validator network and starts every node.
func newCluster(t *testing.T, n int, faultModel string) *cluster {
	t.Helper()
	return newClusterWith(t, n, faultModel, clusterOpts{})
}

// newClusterWith is newCluster with nodes run as o says.
func newClusterWith(t testing.TB, n int, faultModel string, o clusterOpts) *cluster {
	t.Helper()
	dir := t.TempDir()
	base := freeBasePort(t, n)
	suite := o.suiteOf()
	out, err := exec.Command(binary, "testnet", "--validators", strconv.Itoa(n), "--out", dir,
		"--fault-model", faultModel, "--base-port", strconv.Itoa(base), "--accounts", "16",
		"--chain-id", "e2e-"+faultModel, "--tls="+strconv.FormatBool(o.tls), "--crypto-suite", suite.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("govnode testnet: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "testnet.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum testnetSummary
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, dir: dir, n: n, chainID: "e2e-" + faultModel, procs: make([]*exec.Cmd, n),
		exited: make([]chan struct{}, n), nonces: map[string]uint64{}, opts: o, suite: suite}
	for _, nd := range sum.Nodes {
		c.apis = append(c.apis, nd.APIAddr)
		c.metrics = append(c.metrics, nd.MetricsAddr)
		c.urls = append(c.urls, nd.APIURL)
		c.cas = append(c.cas, nd.APICAFile)
		c.clients = append(c.clients, govnodev1connect.NewNodeServiceClient(c.httpClient(len(c.cas)-1, nil), nd.APIURL,
			connect.WithInterceptors(nodetest.RetryBackpressure())))
	}
	t.Cleanup(c.stopAll)
	for i := 0; i < n; i++ {
		c.start(i)
	}
	for i := 0; i < n; i++ {
		c.waitUp(i)
	}
	c.waitMeshed(30*time.Second, n-1)
	return c
}

// waitMeshed waits until every running node reports want connected peers,
// so the first transactions are not gossiped into an unformed network.
func (c *cluster) waitMeshed(timeout time.Duration, want int) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for i := 0; i < c.n; i++ {
		for {
			st, err := c.status(i)
			connected := 0
			for _, p := range st.GetPeers() {
				if p.GetConnected() {
					connected++
				}
			}
			if err == nil && connected >= want {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("node%d has %d connected peers, want %d (err %v)", i, connected, want, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// httpClient is a client of node i's API: trusting its CA with TLS, and
// presenting cert (nil: none, an anonymous caller).
func (c *cluster) httpClient(i int, cert func(*tls.CertificateRequestInfo) (*tls.Certificate, error)) *http.Client {
	c.t.Helper()
	if c.cas[i] == "" {
		return http.DefaultClient
	}
	pem, err := os.ReadFile(c.cas[i])
	if err != nil {
		c.t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		c.t.Fatalf("no certificate in %s", c.cas[i])
	}
	tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, GetClientCertificate: cert}}
	c.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// clientAs is a client of node i's API authenticated as identity id with
// key (a client certificate, docs/ARCHITECTURE.md §6); the cluster must
// run with TLS.
func (c *cluster) clientAs(i int, id string, key crypto.PrivateKey) govnodev1connect.NodeServiceClient {
	c.t.Helper()
	if c.cas[i] == "" {
		c.t.Fatal("clientAs needs a cluster with clusterOpts.tls")
	}
	return govnodev1connect.NewNodeServiceClient(c.httpClient(i, func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return clientcert.Issue(key, id, time.Now(), time.Hour)
	}), c.urls[i], connect.WithInterceptors(nodetest.RetryBackpressure()))
}

func (c *cluster) home(i int) string { return filepath.Join(c.dir, fmt.Sprintf("node%d", i)) }

// start runs node i; its output is appended to node<i>.log.
func (c *cluster) start(i int) { c.t.Helper(); c.startWith(i) }

// startWith runs node i with extra flags for `govnode start`.
func (c *cluster) startWith(i int, extra ...string) {
	c.t.Helper()
	logf, err := os.OpenFile(filepath.Join(c.dir, fmt.Sprintf("node%d.log", i)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	bin := binary
	if c.opts.binary != "" {
		bin = c.opts.binary
	}
	cmd := exec.Command(bin, append([]string{"start", "--home", c.home(i), "--log-format", "json"}, extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if extra := c.opts.env[i]; len(extra) > 0 {
		cmd.Env = append(os.Environ(), extra...)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	c.mu.Lock()
	c.procs[i], c.exited[i] = cmd, done
	c.mu.Unlock()
}

// waitUp waits until node i answers Status.
func (c *cluster) waitUp(i int) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.status(i); err == nil {
			return
		}
		select {
		case <-c.exited[i]:
			c.t.Fatalf("node%d exited at start:\n%s", i, c.logTail(i))
		case <-time.After(100 * time.Millisecond):
		}
	}
	c.t.Fatalf("node%d did not come up:\n%s", i, c.logTail(i))
}

// kill sends sig to node i and waits for it to exit.
func (c *cluster) kill(i int, sig syscall.Signal) {
	c.t.Helper()
	c.mu.Lock()
	cmd, done := c.procs[i], c.exited[i]
	c.mu.Unlock()
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		c.t.Fatalf("node%d did not stop on %v", i, sig)
	}
	if sig == syscall.SIGTERM && cmd.ProcessState.ExitCode() != 0 {
		c.t.Fatalf("node%d exited with %d on SIGTERM:\n%s", i, cmd.ProcessState.ExitCode(), c.logTail(i))
	}
}

func (c *cluster) stopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, cmd := range c.procs {
		if cmd == nil {
			continue
		}
		select {
		case <-c.exited[i]:
			continue
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited[i]:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-c.exited[i]
		}
	}
	if c.t.Failed() {
		for i := range c.procs {
			c.t.Logf("node%d log tail:\n%s", i, c.logTail(i))
		}
	}
}

// running reports whether node i's process is alive.
func (c *cluster) running(i int) bool {
	select {
	case <-c.exited[i]:
		return false
	default:
		return true
	}
}

func (c *cluster) logTail(i int) string {
	b, _ := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("node%d.log", i)))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (c *cluster) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

func (c *cluster) status(i int) (*pb.StatusResponse, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.clients[i].Status(ctx, connect.NewRequest(&pb.StatusRequest{}))
	if err != nil {
		return nil, err
	}
	return r.Msg, nil
}

func (c *cluster) height(i int) uint64 {
	c.t.Helper()
	st, err := c.status(i)
	if err != nil {
		c.t.Fatalf("status of node%d: %v", i, err)
	}
	return st.GetHeight()
}

// waitHeight waits until every listed node is at least at h.
func (c *cluster) waitHeight(h uint64, timeout time.Duration, nodes ...int) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for _, i := range nodes {
		for {
			st, err := c.status(i)
			if err == nil && st.GetHeight() >= h {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("node%d did not reach height %d in %s (status %v, err %v)", i, h, timeout, st.GetHeight(), err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// account is a citizen whose key signs test transactions.
type account struct {
	id  string
	key crypto.PrivateKey
}

func (c *cluster) accounts() []account {
	c.t.Helper()
	var out []account
	for j := 0; j < 16; j++ {
		k, err := keystore.Load(filepath.Join(c.dir, "accounts", fmt.Sprintf("account%d.key", j)), "")
		if err != nil {
			c.t.Fatal(err)
		}
		out = append(out, account{id: fmt.Sprintf("account%d", j), key: k})
	}
	return out
}

// grantTx is a signed GrantAccess by a, with a's next nonce.
func (c *cluster) grantTx(a account) []byte {
	c.t.Helper()
	c.mu.Lock()
	c.nonces[a.id]++
	nonce := c.nonces[a.id]
	c.mu.Unlock()
	body, err := proto.Marshal(&pb.TxBody{
		ChainId: c.chainID, Signer: a.id, Nonce: nonce,
		Action: &pb.TxBody_GrantAccess{GrantAccess: &pb.GrantAccess{
			GrantId: fmt.Sprintf("g-%s-%d", a.id, nonce), GranteeDepartmentId: c.grantee(), RecordType: "birth_certificate",
			Purpose: "e2e", ValidUntil: time.Now().Add(24 * time.Hour).Unix(),
		}},
	})
	if err != nil {
		c.t.Fatal(err)
	}
	sig, err := a.key.Sign(crypto.TxSignBytes(c.chainID, body))
	if err != nil {
		c.t.Fatal(err)
	}
	tx, err := proto.Marshal(&pb.SignedTx{Body: body, Signature: sig})
	if err != nil {
		c.t.Fatal(err)
	}
	return tx
}

// grantee is the department grantTx grants access to: dept1, or dept0 on
// a one-department network.
func (c *cluster) grantee() string {
	if c.n == 1 {
		return "dept0"
	}
	return "dept1"
}

// submitLoad sends perAccount txs from every account, each account's in
// nonce order to one node of nodes, and returns the acknowledged hashes.
func (c *cluster) submitLoad(perAccount int, nodes ...int) [][]byte {
	c.t.Helper()
	accts := c.accounts()
	var mu sync.Mutex
	var acked [][]byte
	var wg sync.WaitGroup
	errs := make(chan error, len(accts))
	for j, a := range accts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := nodes[j%len(nodes)]
			for k := 0; k < perAccount; k++ {
				tx := c.grantTx(a)
				ctx, cancel := c.ctx()
				resp, err := c.clients[node].SubmitTx(ctx, connect.NewRequest(&pb.SubmitTxRequest{Tx: tx}))
				cancel()
				if err != nil {
					errs <- fmt.Errorf("submit to node%d: %w", node, err)
					return
				}
				if !bytes.Equal(resp.Msg.GetTxHash(), c.suite.Hash(tx)) {
					errs <- errors.New("SubmitTx returned another hash")
					return
				}
				mu.Lock()
				acked = append(acked, resp.Msg.GetTxHash())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		c.t.Fatal(err)
	}
	return acked
}

// waitCommitted waits until node i has committed every hash.
func (c *cluster) waitCommitted(i int, hashes [][]byte, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for _, h := range hashes {
		for {
			ctx, cancel := c.ctx()
			r, err := c.clients[i].GetTx(ctx, connect.NewRequest(&pb.GetTxRequest{TxHash: h}))
			cancel()
			if err == nil && !r.Msg.GetPending() {
				if r.Msg.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_OK {
					c.t.Fatalf("tx %x failed: %v %s", h, r.Msg.GetResult().GetCode(), r.Msg.GetResult().GetReason())
				}
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("tx %x not committed on node%d within %s (err %v)", h, i, timeout, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// block returns node i's block at h and its hash.
func (c *cluster) block(i int, h uint64) *pb.GetBlockResponse {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.clients[i].GetBlock(ctx, connect.NewRequest(&pb.GetBlockRequest{Height: h}))
	if err != nil {
		c.t.Fatalf("block %d of node%d: %v", h, i, err)
	}
	return r.Msg
}

// checkAgreement checks that the listed nodes hold the same blocks at every
// height up to the lowest of their heights, and the same state root at a
// common height; it returns that height and node nodes[0]'s tx counts.
func (c *cluster) checkAgreement(nodes ...int) (uint64, map[string]int) {
	c.t.Helper()
	top := uint64(1 << 62)
	for _, i := range nodes {
		top = min(top, c.height(i))
	}
	counts := map[string]int{}
	for h := uint64(1); h <= top; h++ {
		ref := c.block(nodes[0], h)
		for _, tx := range ref.GetBlock().GetTxs() {
			counts[string(c.suite.Hash(tx))]++
		}
		for _, i := range nodes[1:] {
			b := c.block(i, h)
			if !bytes.Equal(b.GetHash(), ref.GetHash()) {
				c.t.Fatalf("FORK at height %d: node%d has %x, node%d has %x", h, nodes[0], ref.GetHash(), i, b.GetHash())
			}
		}
	}
	return top, counts
}

// settle waits until the listed nodes stand at one height for a second
// (an idle chain makes no blocks), then checks they agree on the last block
// hash and on the state root each computed itself.
func (c *cluster) settle(timeout time.Duration, nodes ...int) uint64 {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var prev []*pb.StatusResponse
	for {
		var cur []*pb.StatusResponse
		same := true
		for _, i := range nodes {
			st, err := c.status(i)
			if err != nil {
				c.t.Fatalf("status of node%d: %v", i, err)
			}
			cur = append(cur, st)
			if st.GetHeight() != cur[0].GetHeight() {
				same = false
			}
		}
		if same && prev != nil && prev[0].GetHeight() == cur[0].GetHeight() {
			for k, st := range cur {
				if !bytes.Equal(st.GetLastBlockHash(), cur[0].GetLastBlockHash()) {
					c.t.Fatalf("FORK: node%d and node%d differ at height %d", nodes[0], nodes[k], st.GetHeight())
				}
				if !bytes.Equal(st.GetStateRoot(), cur[0].GetStateRoot()) {
					c.t.Fatalf("state roots differ at height %d: node%d %x, node%d %x", st.GetHeight(), nodes[0], cur[0].GetStateRoot(), nodes[k], st.GetStateRoot())
				}
			}
			return cur[0].GetHeight()
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nodes %v did not settle at one height within %s", nodes, timeout)
		}
		prev = cur
		time.Sleep(time.Second)
	}
}

// exactlyOnce checks every acknowledged hash appears exactly once.
func exactlyOnce(t *testing.T, acked [][]byte, counts map[string]int) {
	t.Helper()
	for _, h := range acked {
		if n := counts[string(h)]; n != 1 {
			t.Fatalf("acknowledged tx %x committed %d times", h, n)
		}
	}
}

// committedOn reports whether node i has committed the tx.
func (c *cluster) committedOn(i int, h []byte) bool {
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.clients[i].GetTx(ctx, connect.NewRequest(&pb.GetTxRequest{TxHash: h}))
	return err == nil && !r.Msg.GetPending()
}

// metric returns the value of a metric without labels from node i's
// /metrics endpoint.
func (c *cluster) metric(i int, name string) float64 {
	c.t.Helper()
	resp, err := http.Get("http://" + c.metrics[i] + "/metrics")
	if err != nil {
		c.t.Fatalf("metrics of node%d: %v", i, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				c.t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	c.t.Fatalf("node%d has no metric %s", i, name)
	return 0
}
