package node_test

// The limits of the node's HTTP listeners through a running node, as the
// outside attacker of issue 15 met them: a slow request body, a flood of
// connections, a gzip bomb, a DNS-rebinding Host, and listeners bound off
// loopback. listen_internal_test.go holds the finer cases.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/govnode/govnode/node"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// shortTimeouts are the shortest HTTP timeouts Validate accepts.
func shortTimeouts(c *node.Config) {
	c.API.ReadHeaderTimeoutMs = node.MinHTTPTimeoutMs
	c.API.ReadTimeoutMs = node.MinHTTPTimeoutMs
	c.API.WriteTimeoutMs = node.MinHTTPTimeoutMs
}

// metricsText is the API port's /metrics.
func metricsText(t *testing.T, n *nodetest.Node) string {
	t.Helper()
	resp, err := n.HTTP.Get(n.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// A client that sends a SubmitTx's headers and then a body byte every
// 100 ms has its connection closed at api.read_timeout_ms (the attack
// held such connections for 330 s), and the cut is counted.
func TestAPISlowBodyClosed(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{Configure: shortTimeouts})
	n := c.Start(t)
	conn, err := net.Dial("tcp", n.APIAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"tx\": \"",
		govnodev1connect.NodeServiceSubmitTxProcedure)
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		close(closed)
	}()
	bound := time.Duration(node.MinHTTPTimeoutMs)*time.Millisecond + 3*time.Second
	start := time.Now()
	deadline := time.After(bound)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
dribble:
	for {
		select {
		case <-closed:
			break dribble
		case <-deadline:
			t.Fatalf("a slow body still held its connection after %v (read_timeout_ms %d)", time.Since(start), node.MinHTTPTimeoutMs)
		case <-tick.C:
			_, _ = conn.Write([]byte("A"))
		}
	}
	if want := `govnode_http_timeouts_total{direction="read",listener="api"} 1`; !strings.Contains(metricsText(t, n), want) {
		t.Fatalf("/metrics lacks %q", want)
	}
	n.Status(t)
}

// StreamEvents and SubmitTx with wait_for_commit outlast the read and
// write timeouts, over the HTTP/1 JSON client and the h2c gRPC client: the
// stream stays open through a pause longer than both and still delivers
// the next block, and a SubmitTx held back behind a nonce gap for that
// long still returns its commit.
func TestAPILongCallsOutliveTimeouts(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{Configure: shortTimeouts})
	n := c.Start(t)
	n.CommitOK(t, c.Official.Tx(nodetest.CreateRecord("first", nodetest.BusinessLicense, "citizen0", []byte("x"))))
	h := n.WaitIdle(t).GetHeight()
	// Longer than every timeout but api.idle_timeout_ms; what the test
	// checks is that this much time passes without the calls being cut.
	pause := 2 * time.Duration(node.MinHTTPTimeoutMs) * time.Millisecond
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	grpc := govnodev1connect.NewNodeServiceClient(&http.Client{Transport: &http.Transport{Protocols: h2c}}, n.URL, connect.WithGRPC())
	clients := map[string]govnodev1connect.NodeServiceClient{"http1 json": n.JSON, "h2c grpc": grpc}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	streams := map[string]*connect.ServerStreamForClient[pb.StreamEventsResponse]{}
	for name, cl := range clients {
		s, err := cl.StreamEvents(ctx, req(&pb.StreamEventsRequest{FromHeight: h}))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer s.Close()
		if !s.Receive() || s.Msg().GetHeight() != h {
			t.Fatalf("%s: first message %v, %v", name, s.Msg(), s.Err())
		}
		streams[name] = s
	}

	// SubmitTx with wait, over each client, behind a gap that the test
	// fills after the pause.
	a := c.Official
	gap := a.Tx(nodetest.CreateRecord("gap", nodetest.BusinessLicense, "citizen0", []byte("x")))
	type result struct {
		name string
		resp *connect.Response[pb.SubmitTxResponse]
		err  error
	}
	results := make(chan result, len(clients))
	for name, cl := range clients {
		tx := a.Tx(nodetest.CreateRecord("wait-"+strings.ReplaceAll(name, " ", "-"), nodetest.BusinessLicense, "citizen0", []byte("x")))
		go func() {
			r, err := cl.SubmitTx(ctx, req(&pb.SubmitTxRequest{Tx: tx, WaitForCommit: true, WaitTimeoutMs: 30_000}))
			results <- result{name, r, err}
		}()
	}
	select {
	case r := <-results:
		t.Fatalf("%s: SubmitTx behind a nonce gap returned before the gap was filled: %v %v", r.name, r.resp, r.err)
	case <-time.After(pause): // the time under test
	}
	if _, err := n.Client.SubmitTx(ctx, req(&pb.SubmitTxRequest{Tx: gap})); err != nil {
		t.Fatal(err)
	}
	for range clients {
		r := <-results
		if r.err != nil || !r.resp.Msg.GetCommitted() {
			t.Fatalf("%s: SubmitTx waiting %v for its commit: %v %v", r.name, pause, r.resp, r.err)
		}
	}
	for name, s := range streams {
		if !s.Receive() || s.Msg().GetHeight() <= h {
			t.Fatalf("%s: stream after a %v pause: %v, %v", name, pause, s.Msg(), s.Err())
		}
	}
	if text := metricsText(t, n); strings.Contains(text, `govnode_http_timeouts_total{direction="write",listener="api"} 1`) {
		t.Fatal("a write timed out")
	}
}

// The API refuses connections over api.max_conns at once and counts them;
// a client gets in again once one closes.
func TestAPIConnCap(t *testing.T) {
	const max = 4
	c := nodetest.NewChain(t, nodetest.Options{Configure: func(c *node.Config) { c.API.MaxConns = max }})
	n := c.Start(t)
	n.HTTP.CloseIdleConnections()

	// get sends GET path on conn and returns the body; false if the server
	// closed the connection instead.
	readers := map[net.Conn]*bufio.Reader{}
	get := func(conn net.Conn, path string) (string, bool) {
		t.Helper()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		defer conn.SetDeadline(time.Time{})
		req, _ := http.NewRequest(http.MethodGet, "http://localhost"+path, nil)
		if err := req.Write(conn); err != nil {
			return "", false
		}
		if readers[conn] == nil {
			readers[conn] = bufio.NewReader(conn)
		}
		resp, err := http.ReadResponse(readers[conn], req)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("no answer and no close within 10s: %v", err)
			}
			return "", false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), true
	}
	// Hold max connections, each answered once (so the server has them).
	// The client's own closed connections may still count for a moment:
	// a refused one is dialled again.
	var held []net.Conn
	deadline := time.Now().Add(10 * time.Second)
	for len(held) < max {
		conn, err := net.Dial("tcp", n.APIAddr())
		switch {
		case err == nil:
			if _, served := get(conn, "/metrics"); served {
				defer conn.Close()
				held = append(held, conn)
				continue
			}
			conn.Close()
		case !errors.Is(err, syscall.ECONNRESET):
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d connections accepted", len(held), max)
		}
		pause()
	}
	before, _ := get(held[0], "/metrics")
	// The server resets it, which the dial itself may already see.
	if extra, err := net.Dial("tcp", n.APIAddr()); err == nil {
		defer extra.Close()
		if body, ok := get(extra, "/metrics"); ok {
			t.Fatalf("connection %d over api.max_conns %d was served: %.100q", max+1, max, body)
		}
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatal(err)
	}
	after, _ := get(held[0], "/metrics")
	refused := func(text string) (v int) {
		for _, line := range strings.Split(text, "\n") {
			if rest, ok := strings.CutPrefix(line, `govnode_http_conns_refused_total{listener="api"} `); ok {
				fmt.Sscan(rest, &v)
			}
		}
		return v
	}
	if d := refused(after) - refused(before); d != 1 {
		t.Fatalf("govnode_http_conns_refused_total went up by %d, want 1", d)
	}
	if want := fmt.Sprintf(`govnode_http_open_conns{listener="api"} %d`, max); !strings.Contains(after, want) {
		t.Fatalf("/metrics lacks %q", want)
	}

	held[1].Close()
	deadline = time.Now().Add(10 * time.Second)
	for {
		_, err := n.Client.Status(nodetest.Ctx(t), req(&pb.StatusRequest{}))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no client served within 10s of a slot freeing: %v", err)
		}
		pause()
	}
}

// A gzip request that inflates far beyond the 4 MiB message limit is
// refused with resource_exhausted by the capped decompressor, over the
// Connect protocol (HTTP/1) and gRPC (h2c), while gzip requests within the
// limit are served. Before the cap, Connect inflated the whole body to
// report its size ("message size 67108868 is larger than ...").
func TestAPIGzipBomb(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	h2client := &http.Client{Transport: &http.Transport{Protocols: h2c}}
	before := n.Status(t)
	for _, tc := range []struct {
		name   string
		client govnodev1connect.NodeServiceClient
	}{
		{"connect", govnodev1connect.NewNodeServiceClient(n.HTTP, n.URL, connect.WithSendGzip())},
		{"grpc", govnodev1connect.NewNodeServiceClient(h2client, n.URL, connect.WithGRPC(), connect.WithSendGzip())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Within the limit: served.
			if _, err := tc.client.QueryIdentity(nodetest.Ctx(t), req(&pb.QueryIdentityRequest{IdentityId: "citizen0"})); err != nil {
				t.Fatalf("a gzip request within the limit: %v", err)
			}
			// 64 MiB of zeros, about 64 KiB on the wire.
			_, err := tc.client.SubmitTx(nodetest.Ctx(t), req(&pb.SubmitTxRequest{Tx: make([]byte, 64<<20)}))
			if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "inflates to more than 4194304 bytes") {
				t.Fatalf("gzip bomb: %v, want resource_exhausted from the capped decompressor", err)
			}
		})
	}
	unchanged(t, n, before)
}

// A web page that rebinds its name to 127.0.0.1 sends its own name in
// Host: the API refuses it with 403 and counts it; localhost and the
// names in api.allowed_hosts pass.
func TestAPIRefusesForeignHost(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{Configure: func(c *node.Config) { c.API.AllowedHosts = []string{"govnode.internal"} }})
	n := c.Start(t)
	status := func(host string) (int, string) {
		t.Helper()
		r, _ := http.NewRequestWithContext(nodetest.Ctx(t), http.MethodPost, n.URL+govnodev1connect.NodeServiceStatusProcedure, strings.NewReader("{}"))
		r.Header.Set("Content-Type", "application/json")
		r.Host = host
		resp, err := n.HTTP.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, port, _ := net.SplitHostPort(n.APIAddr())
	for _, tc := range []struct {
		host string
		want int
	}{
		{"localhost:" + port, http.StatusOK},
		{n.APIAddr(), http.StatusOK},
		{"govnode.internal:" + port, http.StatusOK},
		{"rebind.attacker.example:" + port, http.StatusForbidden},
	} {
		if code, body := status(tc.host); code != tc.want {
			t.Fatalf("Host %s: %d %q, want %d", tc.host, code, body, tc.want)
		}
	}
	if want := `govnode_http_hosts_refused_total{listener="api"} 1`; !strings.Contains(metricsText(t, n), want) {
		t.Fatalf("/metrics lacks %q", want)
	}
}

// logRecorder keeps the node's Warn records as "message key=value ...".
type logRecorder struct {
	mu    sync.Mutex
	warns []string
}

func (h *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%s", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.warns = append(h.warns, b.String())
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

func (h *logRecorder) find(sub string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range h.warns {
		if strings.Contains(w, sub) {
			return w
		}
	}
	return ""
}

// anyInterfaceAddr is a free port on every interface.
func anyInterfaceAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The node refuses to start with the API or metrics on a non-loopback
// address without TLS unless their insecure key is set; with it, it warns
// at start, naming the key and the address, and not for loopback ones; it
// refuses pprof there without debug.pprof_allow_remote.
func TestListenersOffLoopbackWarn(t *testing.T) {
	for _, tc := range []struct {
		key string
		set func(c *node.Config, addr string)
	}{
		{"api.insecure", func(c *node.Config, addr string) { c.API.ListenAddr = addr }},
		{"metrics.insecure", func(c *node.Config, addr string) { c.Metrics.ListenAddr = addr }},
	} {
		addr := anyInterfaceAddr(t)
		ch := nodetest.NewChain(t, nodetest.Options{Configure: func(c *node.Config) { tc.set(c, addr) }})
		if n, err := ch.StartErr(t); err == nil || !strings.Contains(err.Error(), "without TLS") || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), addr) {
			if n != nil {
				_ = n.Stop()
			}
			t.Fatalf("plaintext listener on %s started without %s: %v", addr, tc.key, err)
		}
	}

	rec := &logRecorder{}
	metricsAddr := anyInterfaceAddr(t)
	c := nodetest.NewChain(t, nodetest.Options{Logger: slog.New(rec), Configure: func(c *node.Config) {
		c.Metrics.ListenAddr = metricsAddr
		c.Metrics.Insecure = true
	}})
	c.Start(t)
	w := rec.find("metrics.listen_addr")
	if w == "" || !strings.Contains(w, "not a loopback address") || !strings.Contains(w, "metrics.insecure = true") || !strings.Contains(w, "key=metrics.listen_addr") || !strings.Contains(w, "addr="+metricsAddr) {
		t.Fatalf("no warning for metrics on %s naming key and address: %q", metricsAddr, rec.warns)
	}
	if w := rec.find("api.listen_addr"); w != "" {
		t.Fatalf("warned for the API on loopback: %q", w)
	}

	pprofAddr := anyInterfaceAddr(t)
	c2 := nodetest.NewChain(t, nodetest.Options{Configure: func(c *node.Config) {
		c.Debug.Pprof = true
		c.Debug.PprofListenAddr = pprofAddr
	}})
	if _, err := c2.StartErr(t); err == nil || !strings.Contains(err.Error(), "debug.pprof_allow_remote") || !strings.Contains(err.Error(), pprofAddr) {
		t.Fatalf("pprof on %s started: %v", pprofAddr, err)
	}
}
