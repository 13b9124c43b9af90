package chaos

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"connectrpc.com/connect"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// Binaries are the node binaries a run uses. Byzantine is empty when the
// tree has no byzantine build.
type Binaries struct {
	Honest    string
	Byzantine string
}

// BuildBinaries builds cmd/govnode into dir, and, when some package of the
// module has files for the build tag byzantine, a second binary with it.
func BuildBinaries(ctx context.Context, dir string) (Binaries, error) {
	b := Binaries{Honest: filepath.Join(dir, "govnode")}
	has, err := hasByzantineBuild(ctx)
	if err != nil {
		return b, err
	}
	// The two builds share most compiled packages; run side by side they
	// overlap their link steps.
	var byzErr error
	var wg sync.WaitGroup
	if has {
		b.Byzantine = filepath.Join(dir, "govnode-byzantine")
		wg.Go(func() { byzErr = goBuild(ctx, b.Byzantine, "-tags", "byzantine") })
	}
	err = goBuild(ctx, b.Honest)
	wg.Wait()
	if err == nil {
		err = byzErr
	}
	return b, err
}

func goBuild(ctx context.Context, out string, flags ...string) error {
	args := append([]string{"build", "-o", out}, flags...)
	args = append(args, "github.com/govnode/govnode/cmd/govnode")
	cmd := exec.CommandContext(ctx, "go", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// hasByzantineBuild reports whether the govnode binary's packages compile
// different files with -tags byzantine.
func hasByzantineBuild(ctx context.Context) (bool, error) {
	list := func(flags ...string) (string, error) {
		args := append([]string{"list", "-deps"}, flags...)
		args = append(args, "-f", "{{if .Module}}{{if .Module.Main}}{{.ImportPath}} {{.GoFiles}}{{end}}{{end}}", "github.com/govnode/govnode/cmd/govnode")
		out, err := exec.CommandContext(ctx, "go", args...).Output()
		if err != nil {
			return "", fmt.Errorf("go list: %w", err)
		}
		return string(out), nil
	}
	plain, err := list()
	if err != nil {
		return false, err
	}
	tagged, err := list("-tags", "byzantine")
	if err != nil {
		return false, err
	}
	return plain != tagged, nil
}

// testnetSummary is the part of `govnode testnet`'s testnet.json the
// harness reads.
type testnetSummary struct {
	ChainID     string `json:"chain_id"`
	CryptoSuite string `json:"crypto_suite"`
	Nodes       []struct {
		Home    string `json:"home"`
		APIAddr string `json:"api_addr"`
		Admin   struct {
			ID  string `json:"id"`
			Key string `json:"key"`
		} `json:"admin"`
	} `json:"nodes"`
	Accounts []struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	} `json:"accounts"`
}

// testnetJoin is the part of `govnode testnet join --output json` the
// harness reads: the department record an add-department proposal carries.
type testnetJoin struct {
	Department struct {
		ID           string   `json:"id"`
		Name         string   `json:"name"`
		ConsensusKey string   `json:"consensus_key"`
		PeerID       string   `json:"peer_id"`
		Addrs        []string `json:"addrs"`
		// PeerBinding (base64), on an sm2-sm3 chain: the consensus key's
		// signature over the peer id (Department.peer_binding).
		PeerBinding string `json:"peer_binding"`
	} `json:"department"`
}

// Cluster is the node processes of one schedule, each in its namespace:
// the validators of the genesis, 0..Validators-1, and the spare node
// Validators, written by `govnode testnet join` and started only by a
// membership schedule.
type Cluster struct {
	Dir        string
	ChainID    string
	Suite      crypto.Suite // the chain's crypto suite
	Net        *Network
	Bins       Binaries
	Validators int
	// Spare is the spare node's department as an add-department proposal
	// carries it (addresses in its namespace).
	Spare *pb.Department
	// Clients are every node's API, the spare's included.
	Clients []govnodev1connect.NodeServiceClient
	hc      *http.Client
	sum     testnetSummary
	start   time.Time

	mu       sync.Mutex
	procs    []*exec.Cmd
	exited   []chan struct{}
	expected []bool // the schedule is stopping this process
	deaths   []Death
}

const basePort = 26600

// startMarker begins the line the harness writes into a node's log before
// each start.
const startMarker = "### chaos: start"

// NewCluster writes a byzantine network of one validator per namespace
// but the last into dir with `govnode testnet`, and the spare node's home
// for the last namespace with `govnode testnet join` (before the
// addresses move: it reads the layout from node 0's loopback address).
// It then moves every address from 127.0.0.1 to the node's namespace
// address (config, genesis and summary, the same edit in every copy, so
// every node sees one genesis), and starts the validators. The chain is
// of suite (--crypto-suite): its keys, hashes and, on sm2-sm3, the peer
// bindings of its departments, the spare's included.
func NewCluster(ctx context.Context, dir, chainID string, suite crypto.Suite, accounts int, nw *Network, bins Binaries, hc *http.Client) (*Cluster, error) {
	n, v := nw.nodes, nw.nodes-1
	out, err := exec.CommandContext(ctx, bins.Honest, "testnet", "--validators", strconv.Itoa(v), "--out", dir,
		"--fault-model", "byzantine", "--base-port", strconv.Itoa(basePort), "--accounts", strconv.Itoa(accounts),
		// Plaintext APIs: the harness's clients and metrics scrapes
		// speak http (nodes start with --api.insecure in namespaces).
		"--chain-id", chainID, "--tls=false", "--crypto-suite", suite.String()).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("govnode testnet: %w\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, bins.Honest, "testnet", "join", "--out", dir, "--index", strconv.Itoa(v), "--output", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	joinOut, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("govnode testnet join: %w\n%s", err, stderr.String())
	}
	files := []string{filepath.Join(dir, "testnet.json"), filepath.Join(dir, "genesis.json")}
	for i := range n {
		home := filepath.Join(dir, fmt.Sprintf("node%d", i))
		files = append(files, filepath.Join(home, "config.toml"), filepath.Join(home, "genesis.json"))
	}
	for _, f := range files {
		if err := rewriteAddrs(f, nw); err != nil {
			return nil, err
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "testnet.json"))
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, ChainID: chainID, Suite: suite, Net: nw, Bins: bins, Validators: v, hc: hc, start: time.Now(),
		procs: make([]*exec.Cmd, n), exited: make([]chan struct{}, n), expected: make([]bool, n)}
	if err := json.Unmarshal(raw, &c.sum); err != nil {
		return nil, fmt.Errorf("testnet.json: %w", err)
	}
	if len(c.sum.Nodes) != n {
		return nil, fmt.Errorf("testnet.json has %d nodes, want %d", len(c.sum.Nodes), n)
	}
	if c.sum.CryptoSuite != suite.String() {
		return nil, fmt.Errorf("testnet.json names crypto suite %q, want %s", c.sum.CryptoSuite, suite)
	}
	if c.Spare, err = spareDepartment(joinOut, c.home(v), nw); err != nil {
		return nil, err
	}
	for _, nd := range c.sum.Nodes {
		c.Clients = append(c.Clients, govnodev1connect.NewNodeServiceClient(hc, "http://"+nd.APIAddr))
	}
	for i := range v {
		if err := c.Start(i, nil, false); err != nil {
			return c, err
		}
	}
	return c, nil
}

// spareDepartment is the department record of the spare node from what
// `govnode testnet join` printed, its addresses moved to its namespace,
// with the consensus key read from its home (and checked against the
// printed one).
func spareDepartment(out []byte, home string, nw *Network) (*pb.Department, error) {
	var j testnetJoin
	if err := json.Unmarshal(out, &j); err != nil {
		return nil, fmt.Errorf("govnode testnet join output: %w\n%s", err, out)
	}
	vk, err := keystore.Load(filepath.Join(home, "keys", "validator.key"), "")
	if err != nil {
		return nil, err
	}
	pub := vk.Public()
	if got := crypto.SchemeName(pub.GetScheme()) + ":" + base64.StdEncoding.EncodeToString(pub.GetKey()); got != j.Department.ConsensusKey {
		return nil, fmt.Errorf("testnet join printed consensus key %s, %s holds %s", j.Department.ConsensusKey, home, got)
	}
	binding, err := base64.StdEncoding.DecodeString(j.Department.PeerBinding)
	if err != nil {
		return nil, fmt.Errorf("testnet join printed peer_binding %q: %w", j.Department.PeerBinding, err)
	}
	// The binding covers the chain, the department and the peer id, not
	// the addresses moved below.
	d := &pb.Department{Id: j.Department.ID, Name: j.Department.Name, ConsensusKey: pub, PeerId: j.Department.PeerID, PeerBinding: binding}
	for _, a := range j.Department.Addrs {
		moved, err := moveAddrs([]byte(a), nw)
		if err != nil {
			return nil, fmt.Errorf("spare department address: %w", err)
		}
		d.Addrs = append(d.Addrs, string(moved))
	}
	return d, nil
}

// rewriteAddrs replaces 127.0.0.1 with the namespace address of the node
// that owns the port, in host:port and in /ip4/../tcp|udp/port multiaddrs.
// `govnode testnet` gives node i ports basePort+10i .. +3.
var loopbackAddr = regexp.MustCompile(`127\.0\.0\.1(:|/tcp/|/udp/)(\d+)`)

func rewriteAddrs(path string, nw *Network) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if b, err = moveAddrs(b, nw); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, b, 0o600)
}

// moveAddrs is b with each loopback address moved to its node's namespace.
func moveAddrs(b []byte, nw *Network) ([]byte, error) {
	var bad error
	b = loopbackAddr.ReplaceAllFunc(b, func(m []byte) []byte {
		sub := loopbackAddr.FindSubmatch(m)
		port, _ := strconv.Atoi(string(sub[2]))
		i := (port - basePort) / 10
		if port < basePort || i >= nw.nodes {
			bad = fmt.Errorf("port %d is no node's", port)
			return m
		}
		return []byte(nw.NodeAddr(i).String() + string(sub[1]) + string(sub[2]))
	})
	return b, bad
}

// Accounts are the citizen accounts' ids and key files.
func (c *Cluster) Accounts() (ids, keys []string) {
	for _, a := range c.sum.Accounts {
		ids, keys = append(ids, a.ID), append(keys, a.Key)
	}
	return ids, keys
}

func (c *Cluster) home(i int) string { return c.sum.Nodes[i].Home }

// Admin is department i's first admin, as `govnode testnet` (and testnet
// join, for the spare) wrote it: its identity id and key.
func (c *Cluster) Admin(i int) (string, crypto.PrivateKey, error) {
	a := c.sum.Nodes[i].Admin
	k, err := keystore.Load(a.Key, "")
	if err != nil {
		return "", nil, fmt.Errorf("admin key of node%d: %w", i, err)
	}
	return a.ID, k, nil
}

// LogPath is node i's log, appended to across restarts.
func (c *Cluster) LogPath(i int) string { return filepath.Join(c.Dir, fmt.Sprintf("node%d.log", i)) }

// Start runs node i in its namespace with extra environment variables,
// from the byzantine binary when byzantine.
func (c *Cluster) Start(i int, env []string, byzantine bool) error {
	bin := c.Bins.Honest
	if byzantine {
		if c.Bins.Byzantine == "" {
			return fmt.Errorf("no byzantine binary")
		}
		bin = c.Bins.Byzantine
	}
	logf, err := os.OpenFile(c.LogPath(i), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, startMarker+" %s env %v at %s\n", filepath.Base(bin), env, time.Now().UTC().Format(time.RFC3339Nano))
	// ip netns exec enters the namespace and execs the node, so the pid is
	// the node's own. The API and metrics are on the namespace address,
	// not loopback: plaintext there needs --api.insecure and
	// --metrics.insecure (the namespaces are a closed test network). The
	// harness is the network's one application host, calling every node
	// from one address at the load's rate and reading every block at the
	// end, as a department's trusted application would: the per-address
	// rate limit, meant for anonymous callers, is off for it.
	cmd := exec.Command("ip", "netns", "exec", c.Net.NodeNS(i), bin, "start", "--home", c.home(i), "--log-format", "json",
		"--api.insecure", "--metrics.insecure", "--api.rate-limit-address-rps", "0")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	c.mu.Lock()
	c.procs[i], c.exited[i], c.expected[i] = cmd, done, false
	c.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		c.mu.Lock()
		if !c.expected[i] && c.procs[i] == cmd {
			st := "exited"
			if err != nil {
				st = err.Error()
			}
			c.deaths = append(c.deaths, Death{Node: i, At: time.Since(c.start), Status: st})
		}
		c.mu.Unlock()
		close(done)
	}()
	return nil
}

// Signal sends sig to node i. For SIGKILL and SIGTERM it marks the exit as
// the schedule's and waits for it.
func (c *Cluster) Signal(i int, sig syscall.Signal) error {
	c.mu.Lock()
	cmd, done := c.procs[i], c.exited[i]
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		c.expected[i] = true
	}
	c.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("node%d is not running", i)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal node%d: %w", i, err)
	}
	if sig != syscall.SIGKILL && sig != syscall.SIGTERM {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("node%d did not stop on %v", i, sig)
	}
}

// WaitExit waits up to d for node i's process to exit.
func (c *Cluster) WaitExit(i int, d time.Duration) {
	c.mu.Lock()
	done := c.exited[i]
	c.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-time.After(d):
	}
}

// Running reports whether node i's process is alive.
func (c *Cluster) Running(i int) bool {
	c.mu.Lock()
	done := c.exited[i]
	c.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Deaths are the exits the schedule did not cause.
func (c *Cluster) Deaths() []Death {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Death(nil), c.deaths...)
}

// Status asks node i for its status.
func (c *Cluster) Status(ctx context.Context, i int) (*pb.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	r, err := c.Clients[i].Status(ctx, connect.NewRequest(&pb.StatusRequest{}))
	if err != nil {
		return nil, err
	}
	return r.Msg, nil
}

// Metrics returns node i's Prometheus lines whose series start with one of
// the prefixes (none if the node does not answer).
func (c *Cluster) Metrics(ctx context.Context, i int, prefixes ...string) []string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.sum.Nodes[i].APIAddr+"/metrics", nil)
	if err != nil {
		return nil
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		for _, p := range prefixes {
			if strings.HasPrefix(sc.Text(), p) {
				out = append(out, sc.Text())
				break
			}
		}
	}
	return out
}

// WaitUp waits until node i answers Status, or its process exits.
func (c *Cluster) WaitUp(ctx context.Context, i int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := c.Status(ctx, i); err == nil {
			return nil
		}
		c.mu.Lock()
		done := c.exited[i]
		c.mu.Unlock()
		select {
		case <-done:
			return fmt.Errorf("node%d exited at start", i)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("node%d did not answer within %s", i, timeout)
}

// WaitMeshed waits until every validator of the genesis has want
// connected peers.
func (c *Cluster) WaitMeshed(ctx context.Context, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for i := range c.Validators {
		for {
			st, err := c.Status(ctx, i)
			connected := 0
			var missing []string
			for _, p := range st.GetPeers() {
				if p.GetConnected() {
					connected++
				} else {
					missing = append(missing, p.GetDepartmentId())
				}
			}
			if err == nil && connected >= want {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("node%d has %d connected peers after %s, want %d; not connected: %v (err %v)", i, connected, timeout, want, missing, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// Stop stops every node (SIGTERM, then SIGKILL), marking the exits as the
// schedule's.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for i := range c.procs {
		if c.Running(i) {
			// A paused node must run to handle SIGTERM.
			_ = c.Signal(i, syscall.SIGCONT)
			wg.Go(func() { _ = c.Signal(i, syscall.SIGTERM) })
		}
	}
	wg.Wait()
}

// LogSinceStart checks that node i logged a line containing want since its
// last start: that a fault switch read from the environment took effect.
func (c *Cluster) LogSinceStart(i int, want string) error {
	b, err := os.ReadFile(c.LogPath(i))
	if err != nil {
		return err
	}
	s := string(b)
	if k := strings.LastIndex(s, startMarker); k >= 0 {
		s = s[k:]
	}
	if !strings.Contains(s, want) {
		return fmt.Errorf("node%d did not log %q after its restart: the switch did not take effect", i, want)
	}
	return nil
}

// LogTail is the end of node i's log.
func (c *Cluster) LogTail(i, max int) string {
	b, _ := os.ReadFile(c.LogPath(i))
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
