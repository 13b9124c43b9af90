package api

// The HTTP listeners' limits (listen.go) on real sockets: slow bodies cut
// by read_timeout, the connection cap, the Host allow-list, warnings and
// refusals for non-loopback addresses, and the capped gzip decompressor.

import (
	"bytes"
	"compress/gzip"
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
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/govnode/govnode/node/metrics"
)

// testLimits are short timeouts, so that a test waits for them in well
// under a second (Validate's floor of a second is for operators).
func testLimits() httpLimits {
	return httpLimits{
		ReadHeaderTimeout: 300 * time.Millisecond,
		ReadTimeout:       300 * time.Millisecond,
		WriteTimeout:      300 * time.Millisecond,
		IdleTimeout:       5 * time.Second,
	}
}

// readAllHandler reads the whole body, answers 200 with its length, or 408
// if the body could not be read.
var readAllHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestTimeout)
		return
	}
	fmt.Fprintf(w, "%d", len(b))
})

// serveTest binds l on 127.0.0.1:0 (unless l.Addr is set) and serves h
// until the test ends.
func serveTest(t *testing.T, l httpListener, lim httpLimits, h http.Handler, m *metrics.Metrics, log *slog.Logger) *httpServer {
	t.Helper()
	if l.Addr == "" {
		l.Addr = "127.0.0.1:0"
	}
	if l.Name == "" {
		l.Name, l.Key, l.MaxConnsKey = listenerAPI, "api.listen_addr", "api.max_conns"
	}
	if l.MaxConns == 0 {
		l.MaxConns = 64
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := listenHTTP(l, lim, h, m, log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s
}

// metricValue reads a counter or gauge.
func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if c := d.GetCounter(); c != nil {
		return c.GetValue()
	}
	return d.GetGauge().GetValue()
}

// h1Client speaks HTTP/1; its connections close when the test ends.
func h1Client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// h2cClient speaks HTTP/2 without TLS; its connections close when the
// test ends, before the server's shutdown waits for them.
func h2cClient(t *testing.T) *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// A client that sends its headers and then one body byte every 50 ms (the
// attack that held connections for 330 s) is cut off at read_timeout: the
// HTTP/1 connection is closed, the HTTP/2 request answered, and the cut is
// counted.
func TestListenSlowBodyCut(t *testing.T) {
	lim := testLimits()
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	// The bound: read_timeout, plus slack for a loaded machine. Without
	// the timeout the body would go on for 50 s.
	bound := lim.ReadTimeout + 2*time.Second
	cases := []struct {
		name    string
		dribble func(t *testing.T, addr string) (ended bool)
	}{
		{"http1", func(t *testing.T, addr string) bool {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := fmt.Fprintf(c, "POST /submit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			closed := make(chan struct{})
			go func() {
				_, _ = io.Copy(io.Discard, c) // the answer, then EOF when the server closes
				close(closed)
			}()
			deadline := time.After(bound)
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-closed:
					return true
				case <-deadline:
					return false
				case <-tick.C:
					_, _ = c.Write([]byte("x")) // fails once the server has closed
				}
			}
		}},
		{"h2c", func(t *testing.T, addr string) bool {
			ctx, cancel := context.WithTimeout(context.Background(), bound)
			defer cancel()
			pr, pw := io.Pipe()
			go func() {
				tick := time.NewTicker(50 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						pw.CloseWithError(ctx.Err())
						return
					case <-tick.C:
						if _, err := pw.Write([]byte("x")); err != nil {
							return
						}
					}
				}
			}()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/submit", pr)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = 1000
			resp, err := h2cClient(t).Do(req)
			if err != nil {
				// A reset stream ends the request too; our own deadline does not.
				return ctx.Err() == nil
			}
			defer resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Fatalf("spoke HTTP/%d, want h2c", resp.ProtoMajor)
			}
			return resp.StatusCode == http.StatusRequestTimeout
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.New()
			s := serveTest(t, httpListener{Protocols: protocols}, lim, readAllHandler, m, nil)
			start := time.Now()
			if !tc.dribble(t, s.Addr()) {
				t.Fatalf("a slow body was still being read %v after the headers; read_timeout is %v", time.Since(start), lim.ReadTimeout)
			}
			if got := metricValue(m.HTTPTimeouts.WithLabelValues(listenerAPI, "read")); got != 1 {
				t.Fatalf("govnode_http_timeouts_total{direction=read} = %v, want 1", got)
			}
		})
	}
}

// Long responses outlive read_timeout and write_timeout as long as each
// write goes through: a handler that waits (as SubmitTx waits for its
// commit) and then streams with pauses between writes (as StreamEvents
// between blocks), over HTTP/1 and h2c.
func TestListenLongResponseOutlivesTimeouts(t *testing.T) {
	lim := testLimits()
	pause := 2 * lim.ReadTimeout // longer than every timeout but idle
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
			return
		}
		for i := range 2 {
			select {
			case <-time.After(pause): // the wait under test, not synchronisation
			case <-r.Context().Done():
				return // the client would see a short stream
			}
			fmt.Fprintf(w, "part %d\n", i)
			http.NewResponseController(w).Flush()
		}
	})
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	m := metrics.New()
	s := serveTest(t, httpListener{Protocols: protocols}, lim, stream, m, nil)
	t.Run("calls", func(t *testing.T) { // the group ends before the metrics are read
		for _, tc := range []struct {
			name   string
			client *http.Client
			body   io.Reader
		}{
			{"http1 with body", h1Client(t), strings.NewReader("{}")},
			{"http1 without body", h1Client(t), nil},
			{"h2c with body", h2cClient(t), strings.NewReader("{}")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.Addr()+"/stream", tc.body)
				resp, err := tc.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("%d %q %v", resp.StatusCode, b, err)
				}
				if want := "part 0\npart 1\n"; string(b) != want {
					t.Fatalf("got %q, want %q: the response was cut", b, want)
				}
			})
		}
	})
	for _, dir := range []string{"read", "write"} {
		if got := metricValue(m.HTTPTimeouts.WithLabelValues(listenerAPI, dir)); got != 0 {
			t.Fatalf("%s timeouts counted: %v", dir, got)
		}
	}
}

// A client that does not read a long response is cut after write_timeout.
func TestListenStalledReaderCut(t *testing.T) {
	lim := testLimits()
	flood := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	m := metrics.New()
	s := serveTest(t, httpListener{}, lim, flood, m, nil)
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
	// Never read: the socket buffers fill and the handler's write blocks.
	deadline := time.Now().Add(lim.WriteTimeout + 5*time.Second)
	for metricValue(m.HTTPTimeouts.WithLabelValues(listenerAPI, "write")) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("a client that reads nothing still held a response after %v (write_timeout %v)", lim.WriteTimeout+5*time.Second, lim.WriteTimeout)
		}
		time.Sleep(10 * time.Millisecond) // poll with a deadline
	}
}

// The cap refuses the connection over max_conns at once and counts it; a
// client gets in again once a connection closes.
func TestListenConnCap(t *testing.T) {
	const max = 3
	lim := testLimits()
	lim.ReadHeaderTimeout, lim.ReadTimeout = 10*time.Second, 10*time.Second // the idle conns must stay
	m := metrics.New()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	s := serveTest(t, httpListener{MaxConns: max}, lim, ok, m, nil)
	open := m.HTTPOpenConns.WithLabelValues(listenerAPI)
	refused := m.HTTPConnsRefused.WithLabelValues(listenerAPI)
	waitOpen := func(want float64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for metricValue(open) != want {
			if time.Now().After(deadline) {
				t.Fatalf("govnode_http_open_conns = %v, want %v", metricValue(open), want)
			}
			time.Sleep(5 * time.Millisecond) // poll with a deadline
		}
	}
	var held []net.Conn
	for range max {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	waitOpen(max)

	// The kernel completes the handshake; the server then resets the
	// connection, which the dial itself may already see.
	if extra, err := net.Dial("tcp", s.Addr()); err == nil {
		defer extra.Close()
		_ = extra.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = extra.Read(make([]byte, 1))
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection %d over the cap of %d was not closed: read %v", max+1, max, err)
		}
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatal(err)
	}
	if got := metricValue(refused); got != 1 {
		t.Fatalf("govnode_http_conns_refused_total = %v, want 1", got)
	}
	waitOpen(max)

	held[0].Close()
	waitOpen(max - 1)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + s.Addr() + "/")
	if err != nil {
		t.Fatalf("a client after a slot freed: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "ok" {
		t.Fatalf("a client after a slot freed: %d %q", resp.StatusCode, b)
	}
	if got := metricValue(refused); got != 1 {
		t.Fatalf("govnode_http_conns_refused_total = %v after the slot freed, want 1", got)
	}
}

// On a loopback listener only this machine's names pass: a DNS-rebinding
// page sends its own name in Host and is refused with a reason; the
// refusals are counted. A non-loopback listener checks nothing.
func TestListenHostGuard(t *testing.T) {
	lim := testLimits()
	lim.AllowedHosts = []string{"node.internal", "Registry.Example."}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	m := metrics.New()
	s := serveTest(t, httpListener{}, lim, ok, m, nil)
	_, port, _ := net.SplitHostPort(s.Addr())
	cases := []struct {
		host string
		ok   bool
	}{
		{s.Addr(), true},
		{"localhost:" + port, true},
		{"LOCALHOST", true},
		{"localhost.", true},
		{"127.0.0.1", true},
		{"127.0.0.2:" + port, true},
		{"[::1]:" + port, true},
		{"[::1]", true},
		{"node.internal:" + port, true},
		{"registry.example", true},
		{"attacker.example:" + port, false},
		{"attacker.example", false},
		{"localhost.attacker.example", false},
		{"127.0.0.1.nip.io:" + port, false},
		{"node.internal.attacker.example", false},
		{"192.168.1.10:" + port, false},
	}
	refusals := 0
	for _, tc := range cases {
		t.Run(tc.host, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "http://"+s.Addr()+"/", nil)
			req.Host = tc.host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case tc.ok && resp.StatusCode != http.StatusOK:
				t.Fatalf("Host %q refused: %d %s", tc.host, resp.StatusCode, b)
			case !tc.ok && (resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "api.allowed_hosts") || !strings.Contains(string(b), tc.host)):
				t.Fatalf("Host %q: %d %q, want 403 naming the host and api.allowed_hosts", tc.host, resp.StatusCode, b)
			}
		})
		if !tc.ok {
			refusals++
		}
	}
	if got := metricValue(m.HTTPHostsRefused.WithLabelValues(listenerAPI)); got != float64(refusals) {
		t.Fatalf("govnode_http_hosts_refused_total = %v, want %d", got, refusals)
	}
}

// recordHandler keeps every log record.
type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// warnings returns the Warn records as "message key=value ...".
func (h *recordHandler) warnings() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		if r.Level != slog.LevelWarn {
			continue
		}
		var b strings.Builder
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%s", a.Key, a.Value)
			return true
		})
		out = append(out, b.String())
	}
	return out
}

// A listener on a non-loopback address is refused without TLS unless its
// insecure key says otherwise, and pprof there without
// debug.pprof_allow_remote; one that is served starts with a warning
// naming its key and address (and the insecure key when plaintext).
func TestListenOffLoopback(t *testing.T) {
	h := http.NotFoundHandler()
	tlsCfg := testTLS(t).server
	api := func(addr string) httpListener {
		return httpListener{Name: listenerAPI, Key: "api.listen_addr", Addr: addr, TLSKey: "api.tls_cert_file", InsecureKey: "api.insecure"}
	}
	metricsL := func(addr string) httpListener {
		return httpListener{Name: listenerMetrics, Key: "metrics.listen_addr", Addr: addr, TLSKey: "metrics.tls_cert_file", InsecureKey: "metrics.insecure"}
	}
	pprofL := func(addr string, remote bool) httpListener {
		return httpListener{Name: listenerPprof, Key: "debug.pprof_listen_addr", Addr: addr, RemoteKey: "debug.pprof_allow_remote", Remote: remote,
			TLSKey: "api.tls_cert_file", InsecureKey: "debug.pprof_insecure"}
	}
	with := func(l httpListener, f func(*httpListener)) httpListener { f(&l); return l }
	insecure := func(l *httpListener) { l.Insecure = true }
	withTLS := func(l *httpListener) { l.TLS = tlsCfg }
	cases := []struct {
		name     string
		l        httpListener
		wantWarn []string // nil: no warning
		wantErr  []string // nil: served
	}{
		{"api on loopback", api("127.0.0.1:0"), nil, nil},
		{"api on loopback with TLS", with(api("127.0.0.1:0"), withTLS), nil, nil},
		{"api on every interface", api("0.0.0.0:0"), nil, []string{"without TLS", "api.tls_cert_file", "api.tls_key_file", "api.insecure = true", "--api.insecure"}},
		{"api on every interface, insecure", with(api("0.0.0.0:0"), insecure), []string{"serves plaintext", "api.insecure = true"}, nil},
		{"api on every interface with TLS", with(api("0.0.0.0:0"), withTLS), []string{"over TLS"}, nil},
		{"metrics on every interface", metricsL(":0"), nil, []string{"without TLS", "metrics.tls_cert_file", "metrics.tls_key_file", "--metrics.insecure"}},
		{"metrics on every interface, insecure", with(metricsL(":0"), insecure), []string{"serves plaintext", "metrics.insecure"}, nil},
		{"metrics on every interface with TLS", with(metricsL(":0"), withTLS), []string{"over TLS"}, nil},
		{"pprof on loopback", pprofL("127.0.0.1:0", false), nil, nil},
		{"pprof on every interface", pprofL("0.0.0.0:0", false), nil, []string{"debug.pprof_allow_remote"}},
		{"pprof on every interface, insecure only", with(pprofL("0.0.0.0:0", false), insecure), nil, []string{"debug.pprof_allow_remote"}},
		{"pprof on every interface, allowed, no TLS", pprofL("0.0.0.0:0", true), nil, []string{"without TLS", "api.tls_cert_file", "debug.pprof_insecure = true"}},
		{"pprof on every interface, allowed, insecure", with(pprofL("0.0.0.0:0", true), insecure), []string{"serves plaintext", "debug.pprof_insecure"}, nil},
		{"pprof on every interface, allowed, TLS", with(pprofL("0.0.0.0:0", true), withTLS), []string{"over TLS"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordHandler{}
			tc.l.MaxConns = 4
			s, err := listenHTTP(tc.l, testLimits(), h, metrics.New(), slog.New(rec))
			if tc.wantErr != nil {
				if err == nil {
					s.ln.Close()
					t.Fatalf("%s on a non-loopback address was served", tc.l.Name)
				}
				for _, w := range append([]string{tc.l.Key, tc.l.Addr, "not a loopback address"}, tc.wantErr...) {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.ln.Close()
			warns := rec.warnings()
			if tc.wantWarn == nil {
				if len(warns) > 0 {
					t.Fatalf("warned on a loopback address: %q", warns)
				}
				return
			}
			if len(warns) != 1 {
				t.Fatalf("warnings %q, want one", warns)
			}
			for _, w := range append([]string{"key=" + tc.l.Key, "addr=" + s.Addr(), "not a loopback address"}, tc.wantWarn...) {
				if !strings.Contains(warns[0], w) {
					t.Errorf("warning %q lacks %q", warns[0], w)
				}
			}
		})
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// cappedGzip inflates no more than max+1 bytes of any input, refuses one
// over max with ResourceExhausted, passes one of exactly max, and starts
// each message afresh after Reset (Connect pools it).
func TestCappedGzip(t *testing.T) {
	const max = 1 << 20
	d := newCappedGzip(max)
	cases := []struct {
		name    string
		size    int
		wantErr bool
	}{
		{"small", 100, false},
		{"exactly max", max, false},
		{"one over", max + 1, true},
		{"bomb 64x", 64 * max, true},
		{"exactly max again", max, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := d.Reset(bytes.NewReader(gzipped(t, make([]byte, tc.size)))); err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, d)
			if n > max+1 {
				t.Fatalf("inflated %d bytes, over the cap %d+1", n, max)
			}
			if !tc.wantErr {
				if err != nil || n != int64(tc.size) {
					t.Fatalf("read %d of %d bytes: %v", n, tc.size, err)
				}
				return
			}
			if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), fmt.Sprint(max)) {
				t.Fatalf("error %v, want resource_exhausted naming the cap %d", err, max)
			}
			// Read again after the refusal: the same error and no bytes,
			// never a negative count (bytes.Buffer.ReadFrom panics on one).
			if n, err := d.Read(make([]byte, 512)); n != 0 || connect.CodeOf(err) != connect.CodeResourceExhausted {
				t.Fatalf("read after the refusal: %d bytes, %v", n, err)
			}
		})
	}
}
