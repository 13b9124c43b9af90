package portal

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node/tlscert"
)

var testGenesis = bytes.Repeat([]byte{0xab}, 32)

func testConfig() Config {
	return Config{
		Addr: "127.0.0.1:0", MaxConns: 16,
		ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second,
		Rate: 1000, Burst: 1000, MaxKeys: 100, MaxBundleBuilds: 2,
	}
}

// fakeBundles answers Deps.Bundle from a map and counts its calls.
type fakeBundles struct {
	mu    sync.Mutex
	data  map[string][]byte
	err   error
	calls atomic.Int64
	block chan struct{} // if set, each call waits on it
}

func (f *fakeBundles) bundle(ctx context.Context, id string) ([]byte, error) {
	f.calls.Add(1)
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	b, ok := f.data[id]
	if !ok {
		return nil, fmt.Errorf("record %s: %w", id, ErrNotFound)
	}
	return b, nil
}

func newTest(t *testing.T, cfg Config, f *fakeBundles) *Server {
	t.Helper()
	if f == nil {
		f = &fakeBundles{}
	}
	s, err := newServer(cfg, Deps{GenesisHash: testGenesis, Bundle: f.bundle})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func do(t *testing.T, h http.Handler, method, target string, body io.Reader, mod func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = "192.0.2.1:1234"
	if mod != nil {
		mod(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// listen binds a real listener and serves it until the test ends.
func listen(t *testing.T, cfg Config, f *fakeBundles) *Server {
	t.Helper()
	if f == nil {
		f = &fakeBundles{}
	}
	s, err := Listen(cfg, Deps{GenesisHash: testGenesis, Bundle: f.bundle})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

// Every answer, good or refused, carries the strict policy: scripts of
// the portal's own origin only, WebAssembly compilation, nothing inline.
func TestSecurityHeaders(t *testing.T) {
	s := newTest(t, testConfig(), nil)
	for _, c := range []struct {
		method, target string
		code           int
	}{
		{"GET", "/", 200}, {"GET", "/app.js", 200}, {"GET", "/genesis-hash", 200}, {"GET", "/nope", 404},
		{"POST", "/", 405}, {"GET", "/bundle/UPPER", 400},
	} {
		w := do(t, s.Handler(), c.method, c.target, nil, nil)
		if w.Code != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.target, w.Code, c.code)
		}
		csp := w.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self' 'wasm-unsafe-eval';", "object-src 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s %s: CSP %q lacks %q", c.method, c.target, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "'unsafe-eval'") || strings.Contains(csp, "*") || strings.Contains(csp, "http") {
			t.Errorf("%s %s: CSP %q allows more than the portal's own origin", c.method, c.target, csp)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s %s: headers %v", c.method, c.target, w.Header())
		}
	}
}

// The page loads nothing from elsewhere and runs no inline code: every
// script and stylesheet is a relative path of the portal, no element has
// an event-handler or style attribute, and no asset names another origin.
func TestPageIsSelfContained(t *testing.T) {
	a, err := loadAssets()
	if err != nil {
		t.Fatal(err)
	}
	html := string(a.files["index.html"].body)
	for _, bad := range []string{"http://", "https://", "//", " style=", "javascript:", "<style"} {
		if strings.Contains(html, bad) {
			t.Errorf("index.html contains %q", bad)
		}
	}
	for i, rest := 0, html; ; i++ {
		j := strings.Index(rest, "<script")
		if j < 0 {
			break
		}
		tag := rest[j : j+strings.Index(rest[j:], ">")+1]
		if !strings.Contains(tag, ` src="`) {
			t.Errorf("inline script: %s", tag)
		}
		after := rest[j+len(tag):]
		if !strings.HasPrefix(after, "</script>") {
			t.Errorf("script %s has a body", tag)
		}
		rest = after
	}
	for _, attr := range []string{"onclick", "onload", "onerror", "onsubmit", "onchange"} {
		if strings.Contains(strings.ToLower(html), attr+"=") {
			t.Errorf("index.html has an inline handler %s", attr)
		}
	}
	if js := string(a.files["app.js"].body); strings.Contains(js, "http://") || strings.Contains(js, "https://") || strings.Contains(js, "innerHTML") || strings.Contains(js, "eval(") {
		t.Error("app.js names another origin, or writes markup, or evaluates strings")
	}
	if css := string(a.files["style.css"].body); strings.Contains(css, "url(") || strings.Contains(css, "@import") || strings.Contains(css, "@font-face") {
		t.Error("style.css loads something (url, @import or a font)")
	}
}

// The portal is read-only: any method but GET and HEAD is refused with
// 405 and Allow, before any handler runs.
func TestOnlyGetAndHead(t *testing.T) {
	f := &fakeBundles{data: map[string][]byte{"rec-1": []byte("bundle")}}
	s := newTest(t, testConfig(), f)
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"} {
		w := do(t, s.Handler(), m, "/bundle/rec-1", nil, nil)
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d Allow %q", m, w.Code, w.Header().Get("Allow"))
		}
	}
	if w := do(t, s.Handler(), "HEAD", "/", nil, nil); w.Code != 200 {
		t.Errorf("HEAD /: %d", w.Code)
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("bundle assembled %d times for refused methods", n)
	}
}

// A request with a body is refused unread: bundles are verified in the
// browser, nothing is ever uploaded.
func TestBodyRefused(t *testing.T) {
	s := newTest(t, testConfig(), nil)
	w := do(t, s.Handler(), "GET", "/", strings.NewReader("x"), nil)
	if w.Code != http.StatusRequestEntityTooLarge || w.Header().Get("Connection") != "close" {
		t.Errorf("GET with a body: %d %v", w.Code, w.Header())
	}

	// Over a real connection: a huge declared upload is answered at once,
	// without the server waiting for (or reading) the body.
	srv := listen(t, testConfig(), nil)
	for _, method := range []string{"POST", "GET"} {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		fmt.Fprintf(c, "%s /bundle/rec-1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n", method)
		_, _ = c.Write(make([]byte, 64<<10))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s with a 1 GiB body: %v", method, err)
		}
		want := http.StatusRequestEntityTooLarge
		if method == "POST" {
			want = http.StatusMethodNotAllowed
		}
		if resp.StatusCode != want || !resp.Close {
			t.Errorf("%s with a 1 GiB body: %d close=%v, want %d and the connection closed", method, resp.StatusCode, resp.Close, want)
		}
		c.Close()
	}
}

// Record ids are checked where they enter (exec.ValidID): a bad one is
// 400 and never reaches the node.
func TestBadRecordIDs(t *testing.T) {
	f := &fakeBundles{data: map[string][]byte{}}
	s := newTest(t, testConfig(), f)
	for _, id := range []string{"UPPER", "-dash", ".dot", "a%2Fb", "a%00b", "caf%C3%A9", "a%20b", strings.Repeat("a", 129), "%E2%80%AEx"} {
		for _, target := range []string{"/bundle/" + id, "/qr/" + id + ".png"} {
			w := do(t, s.Handler(), "GET", target, nil, nil)
			if w.Code != http.StatusBadRequest {
				t.Errorf("GET %s: %d, want 400 (%s)", target, w.Code, w.Body.String())
			}
		}
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("bundle assembled %d times for bad ids", n)
	}
	if w := do(t, s.Handler(), "GET", "/qr/rec-1.gif", nil, nil); w.Code != http.StatusNotFound {
		t.Errorf("GET /qr/rec-1.gif: %d, want 404", w.Code)
	}
}

func TestBundle(t *testing.T) {
	f := &fakeBundles{data: map[string][]byte{"rec-1": []byte("the bundle"), "huge": make([]byte, MaxBundleBytes+1)}}
	s := newTest(t, testConfig(), f)
	w := do(t, s.Handler(), "GET", "/bundle/rec-1", nil, nil)
	if w.Code != 200 || w.Body.String() != "the bundle" || w.Header().Get("Content-Type") != "application/octet-stream" || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("GET /bundle/rec-1: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	if w := do(t, s.Handler(), "GET", "/bundle/missing", nil, nil); w.Code != http.StatusNotFound {
		t.Errorf("missing record: %d", w.Code)
	}
	if w := do(t, s.Handler(), "GET", "/bundle/huge", nil, nil); w.Code != http.StatusInsufficientStorage || w.Body.Len() > 1024 {
		t.Errorf("bundle over the limit: %d, %d bytes", w.Code, w.Body.Len())
	}
	f.err = errors.New("ledger closed")
	if w := do(t, s.Handler(), "GET", "/bundle/rec-1", nil, nil); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || strings.Contains(w.Body.String(), "ledger") {
		t.Errorf("node error: %d %v %q (want 503, Retry-After, no internals)", w.Code, w.Header(), w.Body.String())
	}
	f.err = fmt.Errorf("x: %w", ErrBadID)
	if w := do(t, s.Handler(), "GET", "/bundle/rec-1", nil, nil); w.Code != http.StatusBadRequest {
		t.Errorf("refused id: %d", w.Code)
	}
	f.err = fmt.Errorf("4 bundles being built: %w", ErrBusy)
	if w := do(t, s.Handler(), "GET", "/bundle/rec-1", nil, nil); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" {
		t.Errorf("node busy: %d %v (want 503, Retry-After 1)", w.Code, w.Header())
	}
	f.err = fmt.Errorf("record has 5000 versions: %w", ErrTooLarge)
	if w := do(t, s.Handler(), "GET", "/bundle/rec-1", nil, nil); w.Code != http.StatusInsufficientStorage || w.Header().Get("Retry-After") != "" {
		t.Errorf("record over the limits: %d %v (want 507, no Retry-After: it will not change)", w.Code, w.Header())
	}
}

// Bundle assembly, the costly answer, runs MaxBundleBuilds at a time; one
// more is 503 with Retry-After, not queued.
func TestBundleBuildsBounded(t *testing.T) {
	cfg := testConfig()
	cfg.MaxBundleBuilds = 1
	f := &fakeBundles{data: map[string][]byte{"rec-1": []byte("b")}, block: make(chan struct{})}
	s := newTest(t, cfg, f)
	first := make(chan int, 1)
	go func() { first <- do(t, s.Handler(), "GET", "/bundle/rec-1", nil, nil).Code }()
	for f.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	w := do(t, s.Handler(), "GET", "/bundle/rec-1", nil, nil)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" {
		t.Errorf("second build while one runs: %d %v", w.Code, w.Header())
	}
	close(f.block)
	if code := <-first; code != 200 {
		t.Errorf("first build: %d", code)
	}
	if w := do(t, s.Handler(), "GET", "/bundle/rec-1", nil, nil); w.Code != 200 {
		t.Errorf("build after the slot freed: %d", w.Code)
	}
}

// One address over its bucket gets 429 with Retry-After; another address
// is not affected; an IPv6 client's /64 shares one bucket; the buckets
// kept are bounded.
func TestRateLimit(t *testing.T) {
	cfg := testConfig()
	cfg.Rate, cfg.Burst, cfg.MaxKeys = 0.5, 3, 4
	s := newTest(t, cfg, nil)
	from := func(addr string) func(*http.Request) { return func(r *http.Request) { r.RemoteAddr = addr } }
	for i := range 3 {
		if w := do(t, s.Handler(), "GET", "/genesis-hash", nil, from("192.0.2.7:1000")); w.Code != 200 {
			t.Fatalf("request %d within the burst: %d", i, w.Code)
		}
	}
	w := do(t, s.Handler(), "GET", "/genesis-hash", nil, from("192.0.2.7:2000"))
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("request over the burst: %d", w.Code)
	}
	if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Errorf("Retry-After %q, want 1..2 s at 0.5 requests/s", w.Header().Get("Retry-After"))
	}
	if w.Header().Get("Content-Security-Policy") == "" {
		t.Error("429 without the security headers")
	}
	// A refused request of another method is still limited first.
	if w := do(t, s.Handler(), "POST", "/", nil, from("192.0.2.7:2001")); w.Code != http.StatusTooManyRequests {
		t.Errorf("POST over the rate: %d, want 429", w.Code)
	}
	if w := do(t, s.Handler(), "GET", "/genesis-hash", nil, from("192.0.2.8:1000")); w.Code != 200 {
		t.Errorf("another address: %d", w.Code)
	}
	for i := range 3 {
		do(t, s.Handler(), "GET", "/genesis-hash", nil, from(fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1)))
	}
	if w := do(t, s.Handler(), "GET", "/genesis-hash", nil, from("[2001:db8:1:2:ffff::1]:443")); w.Code != http.StatusTooManyRequests {
		t.Errorf("fourth address of one IPv6 /64: %d, want 429", w.Code)
	}
	for i := range 20 {
		do(t, s.Handler(), "GET", "/genesis-hash", nil, from(fmt.Sprintf("198.51.100.%d:1", i)))
	}
	if n := s.lim.tracked(); n > cfg.MaxKeys {
		t.Errorf("%d buckets kept, limit %d", n, cfg.MaxKeys)
	}
}

func TestGenesisHash(t *testing.T) {
	s := newTest(t, testConfig(), nil)
	w := do(t, s.Handler(), "GET", "/genesis-hash", nil, nil)
	if w.Code != 200 || w.Body.String() != strings.Repeat("ab", 32)+"\n" {
		t.Errorf("%d %q", w.Code, w.Body.String())
	}
}

// The QR code carries the verification link: the configured public URL,
// or the request's own scheme and host; a Host that is not a host name is
// refused.
func TestQR(t *testing.T) {
	gh := strings.Repeat("ab", 32)
	if got, want := VerifyLink("https://verify.example.gov/", "rec-1", gh), "https://verify.example.gov/?id=rec-1&genesis="+gh; got != want {
		t.Errorf("VerifyLink = %q, want %q", got, want)
	}
	s := newTest(t, testConfig(), nil)
	w := do(t, s.Handler(), "GET", "/qr/rec-1.png", nil, func(r *http.Request) { r.Host = "portal.local:8080" })
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/png" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	img, err := png.Decode(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dx() != b.Dy() {
		t.Errorf("QR image %v", b)
	}
	want, err := qrPNG("http://portal.local:8080/?id=rec-1&genesis=" + gh)
	if err != nil || !bytes.Equal(w.Body.Bytes(), want) {
		t.Errorf("QR of the request's host: not the code of its link (%v)", err)
	}
	for _, host := range []string{"evil.example/path", "a@b", "x y", ""} {
		if w := do(t, s.Handler(), "GET", "/qr/rec-1.png", nil, func(r *http.Request) { r.Host = host }); w.Code != http.StatusBadRequest {
			t.Errorf("Host %q: %d, want 400", host, w.Code)
		}
	}
	cfg := testConfig()
	cfg.PublicURL = "https://verify.example.gov"
	s = newTest(t, cfg, nil)
	w = do(t, s.Handler(), "GET", "/qr/rec-1.png", nil, func(r *http.Request) { r.Host = "evil.example" })
	want, _ = qrPNG("https://verify.example.gov/?id=rec-1&genesis=" + gh)
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), want) {
		t.Errorf("QR with public_url: %d, not the code of the public link", w.Code)
	}
	for _, bad := range []string{"ftp://x", "https://", "https://x/?q=1", "https://u@x", "x"} {
		if err := CheckPublicURL(bad); err == nil {
			t.Errorf("CheckPublicURL(%q) accepted", bad)
		}
	}
}

// The verifier goes out compressed to browsers (which take gzip) and
// plain to a client that does not; assets revalidate by ETag.
func TestVerifierServed(t *testing.T) {
	s := newTest(t, testConfig(), nil)
	w := do(t, s.Handler(), "GET", "/verifier.wasm", nil, func(r *http.Request) { r.Header.Set("Accept-Encoding", "gzip, deflate, br") })
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/wasm" || w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := io.ReadAll(zr)
	if err != nil || !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		t.Fatalf("gzip body is not wasm: %v", err)
	}
	plain := do(t, s.Handler(), "GET", "/verifier.wasm", nil, func(r *http.Request) { r.Header.Set("Accept-Encoding", "gzip;q=0, identity") })
	if plain.Header().Get("Content-Encoding") != "" || !bytes.Equal(plain.Body.Bytes(), wasm) {
		t.Errorf("plain verifier: encoding %q, %d bytes (want %d)", plain.Header().Get("Content-Encoding"), plain.Body.Len(), len(wasm))
	}
	et := do(t, s.Handler(), "GET", "/app.js", nil, nil).Header().Get("ETag")
	if w := do(t, s.Handler(), "GET", "/app.js", nil, func(r *http.Request) { r.Header.Set("If-None-Match", et) }); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Errorf("If-None-Match: %d", w.Code)
	}
}

// Over TLS the portal uses the node's certificate and never asks for a
// client's, even when the configuration it is given does.
func TestTLSNeverAsksClientCert(t *testing.T) {
	pair, err := tlscert.Generate(tlscert.Options{CommonName: "portal test"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := pair.Write(dir, false); err != nil {
		t.Fatal(err)
	}
	cert, err := tlscert.Load(dir+"/"+tlscert.CertFile, dir+"/"+tlscert.KeyFile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sc := tlscert.ServerConfig(cert)
	sc.ClientAuth = tls.RequireAnyClientCert // what the portal must override
	cfg := testConfig()
	cfg.TLS = sc
	srv := listen(t, cfg, nil)
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("URL %s", srv.URL())
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	var asked atomic.Bool
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost",
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			asked.Store(true)
			return &tls.Certificate{}, nil
		}}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL() + "/genesis-hash")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("%d tls=%v", resp.StatusCode, resp.TLS != nil)
	}
	if asked.Load() {
		t.Error("the portal asked for a client certificate")
	}
	if sc.ClientAuth != tls.RequireAnyClientCert {
		t.Error("Listen changed the config it was given")
	}
	// Plaintext is refused on it.
	if resp, err := http.Get("http://" + srv.Addr() + "/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plaintext request served on the TLS portal")
		}
	}
}

// A plaintext portal on a non-loopback address needs Insecure.
func TestPlaintextRemoteRefused(t *testing.T) {
	cfg := testConfig()
	cfg.Addr = "0.0.0.0:0"
	if s, err := Listen(cfg, Deps{GenesisHash: testGenesis, Bundle: (&fakeBundles{}).bundle}); err == nil {
		s.Close()
		t.Fatal("plaintext portal on 0.0.0.0 without insecure: accepted")
	} else if !strings.Contains(err.Error(), "portal.insecure") {
		t.Errorf("error does not say what to set: %v", err)
	}
	cfg.Insecure = true
	s, err := Listen(cfg, Deps{GenesisHash: testGenesis, Bundle: (&fakeBundles{}).bundle})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// The listener's bounds: headers over MaxHeaderBytes are refused; a client
// that sends its headers too slowly is cut off; connections over the cap
// are closed at once.
func TestConnectionBounds(t *testing.T) {
	cfg := testConfig()
	cfg.ReadHeaderTimeout = 300 * time.Millisecond
	cfg.MaxConns = 2
	srv := listen(t, cfg, nil)

	resp, err := http.DefaultClient.Do(func() *http.Request {
		r, _ := http.NewRequest("GET", "http://"+srv.Addr()+"/", nil)
		r.Header.Set("X-Big", strings.Repeat("a", 2*MaxHeaderBytes))
		return r
	}())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized headers: %d, want 431", resp.StatusCode)
	}

	slow, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprint(slow, "GET / HTTP/1.1\r\nHost: x\r\n") // and never the end of the headers
	start := time.Now()
	_ = slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(slow); err != nil {
		t.Errorf("slow headers: %v, want the server to close", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("slow headers cut after %v, read_header_timeout is %v", d, cfg.ReadHeaderTimeout)
	}

	slow.Close()
	waitOpen := func(n int64) {
		deadline := time.Now().Add(3 * time.Second)
		for srv.capped.Open() != n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	waitOpen(0)
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range cfg.MaxConns {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	waitOpen(int64(cfg.MaxConns))
	extra, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		return // reset before the dial returned: refused
	}
	defer extra.Close()
	fmt.Fprint(extra, "GET /genesis-hash HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = extra.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := extra.Read(make([]byte, 1)); err == nil || n > 0 {
		t.Errorf("connection over the cap of %d answered", cfg.MaxConns)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := testConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"no addr":      func(c *Config) { c.Addr = "" },
		"no rate":      func(c *Config) { c.Rate = 0 },
		"no burst":     func(c *Config) { c.Burst = 0 },
		"no conns":     func(c *Config) { c.MaxConns = 0 },
		"no timeout":   func(c *Config) { c.WriteTimeout = 0 },
		"no builds":    func(c *Config) { c.MaxBundleBuilds = 0 },
		"many builds":  func(c *Config) { c.MaxBundleBuilds = MaxBundleBuildsLimit + 1 },
		"bad url":      func(c *Config) { c.PublicURL = "javascript:alert(1)" },
		"no keys kept": func(c *Config) { c.MaxKeys = 0 },
	} {
		c := testConfig()
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Each piece of an answer must leave within the write timeout, not the
// whole answer: a client on a slow link that keeps reading gets all of
// the verifier, one that stops reading is cut off.
func TestWriteTimeoutPerPiece(t *testing.T) {
	cfg := testConfig()
	cfg.WriteTimeout = 500 * time.Millisecond
	srv := listen(t, cfg, nil)
	a, err := loadAssets()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := a.uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	get := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(c, "GET /verifier.wasm HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n")
		return c, bufio.NewReaderSize(c, 1<<10)
	}

	slow, br := get()
	defer slow.Close()
	_ = slow.SetDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	buf := make([]byte, 1<<20)
	var got bytes.Buffer
	for {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("slow reader cut after %d bytes, %v: %v", got.Len(), time.Since(start), err)
		}
		time.Sleep(100 * time.Millisecond) // about 10 MB/s at most: slower than the link
	}
	if !bytes.Equal(got.Bytes(), raw.body) {
		t.Fatalf("slow reader got %d bytes, want %d", got.Len(), len(raw.body))
	}
	if d := time.Since(start); d < cfg.WriteTimeout {
		t.Logf("the answer took %v, under the write timeout: the test proves less than it should", d)
	}

	slow.Close()
	stalled, sbr := get()
	defer stalled.Close()
	start = time.Now()
	deadline := time.Now().Add(5 * time.Second)
	for srv.capped.Open() != 1 && time.Now().Before(deadline) { // the slow one's close reaches the server
		time.Sleep(10 * time.Millisecond)
	}
	for srv.capped.Open() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := srv.capped.Open(); n != 0 {
		t.Fatalf("a client that stopped reading still holds its connection %v later (write timeout %v)", time.Since(start), cfg.WriteTimeout)
	}
	_ = stalled.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := io.Copy(io.Discard, sbr)
	if n >= int64(len(raw.body)) {
		t.Errorf("the stalled client got all %d bytes", n)
	}
}

// Any request line and headers: no panic, the security headers on every
// answer, and the node asked for a bundle only with an id the state
// machine accepts.
func FuzzHandler(f *testing.F) {
	for _, seed := range [][3]string{
		{"/bundle/rec-1", "gzip", "x"}, {"/qr/rec-1.png", "", "portal.example:8443"}, {"/bundle/%2e%2e%2f", "", ""},
		{"/qr/.png", "*;q=0", "[::1]:80"}, {"/verifier.wasm", "gzip;q=0.5, br", "a@b"}, {"/?id=x&genesis=00", "", "x"},
		{"/bundle/" + strings.Repeat("a", 200), "", ""}, {"//bundle//x", "", ""}, {"/qr/a%00.png", "", "\x00"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	cfg := testConfig()
	cfg.Rate, cfg.Burst = 1e6, 1e6
	var asked []string
	s, err := newServer(cfg, Deps{GenesisHash: testGenesis, Bundle: func(_ context.Context, id string) ([]byte, error) {
		asked = append(asked, id)
		return []byte("b"), nil
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path, acceptEncoding, host string) {
		u, err := url.ParseRequestURI(path)
		if err != nil || !strings.HasPrefix(path, "/") {
			return
		}
		asked = asked[:0]
		r := &http.Request{Method: "GET", URL: u, RequestURI: path, Host: host, Header: http.Header{"Accept-Encoding": {acceptEncoding}},
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, RemoteAddr: "192.0.2.9:1", Body: http.NoBody}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		if w.Header().Get("Content-Security-Policy") != csp {
			t.Fatalf("%q: no CSP on a %d", path, w.Code)
		}
		for _, id := range asked {
			if err := exec.ValidID(id); err != nil {
				t.Fatalf("%q: bundle asked for id %q: %v", path, id, err)
			}
		}
	})
}

// The portal counts its answers by route and code, and its connections.
func TestMetrics(t *testing.T) {
	cfg := testConfig()
	cfg.Rate, cfg.Burst, cfg.MaxConns = 0.001, 4, 1
	m := Metrics{OpenConns: prometheus.NewGauge(prometheus.GaugeOpts{Name: "open"}), ConnsRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "refused"}),
		Requests: NewRequestsMetric()}
	f := &fakeBundles{data: map[string][]byte{"rec-1": []byte("b")}}
	s, err := Listen(cfg, Deps{GenesisHash: testGenesis, Bundle: f.bundle, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Close()
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	for _, p := range []string{"/", "/bundle/rec-1", "/bundle/missing", "/qr/rec-1.png", "/genesis-hash"} {
		resp, err := client.Get(s.URL() + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for _, c := range []struct {
		route, code string
		want        float64
	}{{"page", "200", 1}, {"bundle", "200", 1}, {"bundle", "404", 1}, {"qr", "200", 1}, {"genesis-hash", "429", 1}} {
		if got := metricValue(m.Requests.WithLabelValues(c.route, c.code)); got != c.want {
			t.Errorf("requests{route=%s,code=%s} = %v, want %v", c.route, c.code, got, c.want)
		}
	}
	if got := metricValue(m.OpenConns); got != 1 {
		t.Errorf("open conns %v, want the 1 kept alive", got)
	}
	extra, err := net.Dial("tcp", s.Addr())
	if err == nil {
		_ = extra.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, _ = extra.Read(make([]byte, 1))
		extra.Close()
	}
	deadline := time.Now().Add(3 * time.Second)
	for metricValue(m.ConnsRefused) != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := metricValue(m.ConnsRefused); got != 1 {
		t.Errorf("refused conns %v, want 1", got)
	}
}

func metricValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}
