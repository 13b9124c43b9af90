package portal

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/lightclient"
	"github.com/govnode/govnode/node/api"
)

// Defaults of Config (the portal section of the node's config).
const (
	DefaultMaxConns        = 256
	DefaultRate            = 10
	DefaultBurst           = 60
	DefaultMaxKeys         = 10_000
	DefaultMaxBundleBuilds = 2
	MaxBundleBuildsLimit   = 256
	// MaxHeaderBytes bounds a request's headers (and so its URL): the
	// portal's requests are short GETs.
	MaxHeaderBytes = 16 << 10
	// MaxBundleBytes is the largest bundle the portal serves, and the
	// largest file the page reads (static/app.js MAX_BUNDLE_BYTES): the
	// verifier's own limit.
	MaxBundleBytes = lightclient.MaxBundleBytes
	// bundleTimeout bounds the assembly of one bundle.
	bundleTimeout = 20 * time.Second
)

// Config is the portal's listener and limits.
type Config struct {
	// Addr is host:port to listen on.
	Addr string
	// TLS, when set, serves HTTPS only with its certificates (the node's
	// API pair). Client certificates are never requested: Listen clears
	// whatever asked for them.
	TLS *tls.Config
	// Insecure lets a listener without TLS serve a non-loopback address
	// (behind a TLS proxy); without it Listen refuses, as for the API
	// (docs/ARCHITECTURE.md §7): the page carries the verifier, and a
	// verifier altered on the way verifies anything.
	Insecure bool
	// PublicURL, if set, is the base of the verification links in QR
	// codes (https://portal.example.gov); empty takes the scheme and Host
	// of the request.
	PublicURL string
	// MaxConns caps open connections; one more is closed at once.
	MaxConns int
	// Timeouts of every connection.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// Rate is the sustained requests per second of one client address
	// (IPv6: of its /64), Burst its bucket; MaxKeys bounds the addresses
	// tracked (least recently seen forgotten first).
	Rate    float64
	Burst   int
	MaxKeys int
	// MaxBundleBuilds bounds the bundles assembled at once; a request
	// over it gets 503 with Retry-After.
	MaxBundleBuilds int
}

// Validate reports a config Listen would refuse.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q: %v", c.Addr, err))
	}
	if c.PublicURL != "" {
		if err := CheckPublicURL(c.PublicURL); err != nil {
			errs = append(errs, err)
		}
	}
	if c.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("max conns %d: want at least 1", c.MaxConns))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read header timeout", c.ReadHeaderTimeout}, {"read timeout", c.ReadTimeout}, {"write timeout", c.WriteTimeout}, {"idle timeout", c.IdleTimeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: want > 0", d.name, d.v))
		}
	}
	if c.Rate <= 0 || c.Burst < 1 {
		errs = append(errs, fmt.Errorf("rate %v, burst %d: the portal is always rate limited (want rate > 0 and burst >= 1)", c.Rate, c.Burst))
	}
	if c.MaxKeys < 1 {
		errs = append(errs, fmt.Errorf("max keys %d: want at least 1", c.MaxKeys))
	}
	if c.MaxBundleBuilds < 1 || c.MaxBundleBuilds > MaxBundleBuildsLimit {
		errs = append(errs, fmt.Errorf("max bundle builds %d: want 1..%d", c.MaxBundleBuilds, MaxBundleBuildsLimit))
	}
	return errors.Join(errs...)
}

// CheckPublicURL accepts an http or https URL with a host and nothing
// after the path.
func CheckPublicURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("public url %q: %v", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("public url %q: want http(s)://host[:port][/path], no query or fragment", s)
	}
	return nil
}

// ErrNotFound is what Deps.Bundle returns for a record that does not
// exist; ErrBadID for an id it refuses; ErrTooLarge for a record whose
// bundle would exceed the verifier's limits (lightclient.MaxVersions, ...);
// ErrBusy when the node builds as many bundles as it will at once.
var (
	ErrNotFound = errors.New("no such record")
	ErrBadID    = errors.New("bad record id")
	ErrTooLarge = errors.New("bundle over the verifier's limits")
	ErrBusy     = errors.New("busy")
)

// Deps are what the portal reads from the node.
type Deps struct {
	// GenesisHash is the hash of the genesis the node runs.
	GenesisHash []byte
	// Bundle assembles record id's proof bundle (a serialized
	// ProofBundle) as for an anonymous caller: public content only. It
	// returns ErrNotFound, ErrBadID, ErrTooLarge or ErrBusy (wrapped) for
	// those cases; any other error is the node's, answered 503.
	Bundle func(ctx context.Context, id string) ([]byte, error)
	// Logger; nil logs nothing.
	Logger *slog.Logger
	// Metrics, each optional.
	Metrics Metrics
}

// Metrics are what the portal counts. The node passes its HTTP listener
// metrics with the label listener="portal" and registers Requests
// (NewRequestsMetric).
type Metrics struct {
	// OpenConns and ConnsRefused are the open connections and those
	// closed at once at the portal's max_conns.
	OpenConns    prometheus.Gauge
	ConnsRefused prometheus.Counter
	// Requests counts answers by route (page, genesis-hash, bundle, qr)
	// and status code.
	Requests *prometheus.CounterVec
}

// NewRequestsMetric is Metrics.Requests, govnode_portal_requests_total.
func NewRequestsMetric() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "govnode_portal_requests_total",
		Help: "Public portal answers by route (page, genesis-hash, bundle, qr) and HTTP status code (429: rate limited, 503: bundle builds busy)."},
		[]string{"route", "code"})
}

// route is the metrics label of a request path: a handful of values,
// whatever the path.
func route(path string) string {
	switch {
	case strings.HasPrefix(path, "/bundle/"):
		return "bundle"
	case strings.HasPrefix(path, "/qr/"):
		return "qr"
	case path == "/genesis-hash":
		return "genesis-hash"
	default:
		return "page"
	}
}

// Server is a bound portal listener.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	genesis string // hex
	lim     *limiter
	builds  chan struct{} // a slot per bundle being assembled
	assets  *assets
	handler http.Handler

	ln     net.Listener
	srv    *http.Server
	tls    bool             // serves TLS (net/http may set srv.TLSConfig for HTTP/2 on plaintext too)
	capped *api.CapListener // the connection cap over ln's socket
}

// Listen validates cfg, binds its address and builds the server; Serve
// serves it.
func Listen(cfg Config, deps Deps) (*Server, error) {
	s, err := newServer(cfg, deps)
	if err != nil {
		return nil, err
	}
	raw, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("portal.listen_addr %s: %w", cfg.Addr, err)
	}
	if ip := raw.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		if cfg.TLS == nil && !cfg.Insecure {
			_ = raw.Close()
			return nil, fmt.Errorf("portal.listen_addr %s is not a loopback address: refusing to serve the portal there without TLS, since anyone on the path could replace the verifier the page runs; "+
				"set api.tls_cert_file and api.tls_key_file (the portal uses the API's pair), bind it to 127.0.0.1, or, behind a TLS proxy, set portal.insecure = true", cfg.Addr)
		}
	}
	s.capped = api.NewCapListener(raw, cfg.MaxConns, "portal", "portal.max_conns", deps.Metrics.OpenConns, deps.Metrics.ConnsRefused, s.log)
	s.ln = s.capped
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		// No WriteTimeout: it would bound the whole response, and cut a
		// citizen on a slow link halfway through the 2 MB verifier; guard
		// bounds each 64 KiB written instead (deadlineWriter), which
		// still cuts a client that stops reading.
		IdleTimeout:    cfg.IdleTimeout,
		MaxHeaderBytes: MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if cfg.TLS != nil {
		s.srv.TLSConfig = publicTLS(cfg.TLS)
		s.tls = true
	}
	return s, nil
}

// publicTLS is c for a public listener: the same certificates, and no
// client certificate asked for, whatever c said.
func publicTLS(c *tls.Config) *tls.Config {
	t := c.Clone()
	t.ClientAuth = tls.NoClientCert
	t.ClientCAs = nil
	t.VerifyPeerCertificate = nil
	t.VerifyConnection = nil
	t.GetConfigForClient = nil
	if t.MinVersion < tls.VersionTLS12 {
		t.MinVersion = tls.VersionTLS12
	}
	return t
}

// newServer is the server without its listener (tests serve Handler).
func newServer(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	if len(deps.GenesisHash) == 0 || deps.Bundle == nil {
		return nil, errors.New("portal: Deps.GenesisHash and Deps.Bundle are required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, deps: deps, log: log, genesis: hex.EncodeToString(deps.GenesisHash),
		lim: newLimiter(cfg.Rate, cfg.Burst, cfg.MaxKeys), builds: make(chan struct{}, cfg.MaxBundleBuilds), assets: a,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.asset("index.html"))
	for _, name := range a.names() {
		if name != "index.html" {
			mux.HandleFunc("GET /"+name, s.asset(name))
		}
	}
	mux.HandleFunc("GET /genesis-hash", s.genesisHash)
	mux.HandleFunc("GET /bundle/{id}", s.bundle)
	mux.HandleFunc("GET /qr/{file}", s.qr)
	s.handler = s.guard(mux)
	return s, nil
}

// Handler is the portal's handler, with its guards.
func (s *Server) Handler() http.Handler { return s.handler }

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the portal's base URL on its bound address.
func (s *Server) URL() string {
	if s.tls {
		return "https://" + s.Addr()
	}
	return "http://" + s.Addr()
}

// Serve serves until Shutdown or Close; that is not an error.
func (s *Server) Serve() error {
	var err error
	if s.tls {
		err = s.srv.ServeTLS(s.ln, "", "")
	} else {
		err = s.srv.Serve(s.ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("portal: %w", err)
	}
	return nil
}

// Shutdown stops accepting and waits for requests in flight until ctx
// ends, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) {
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}

// Close closes the listener and every connection (a server never
// served).
func (s *Server) Close() {
	_ = s.srv.Close()
	_ = s.ln.Close()
}

// Security headers of every answer. The policy lets the page run its own
// scripts and compile the verifier ('wasm-unsafe-eval'), and nothing
// else: no inline script or style, no other origin, no frames, no forms
// anywhere but here.
const csp = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// guard answers what no handler should see: every answer gets the
// security headers; a client over its rate gets 429; a method other than
// GET or HEAD 405; a request with a body 413, its body unread and the
// connection closed.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		rc := http.NewResponseController(w)
		dw := &deadlineWriter{ResponseWriter: w, rc: rc, timeout: s.cfg.WriteTimeout}
		if m := s.deps.Metrics.Requests; m != nil {
			defer func() { m.WithLabelValues(route(r.URL.Path), strconv.Itoa(dw.status())).Inc() }()
		}
		w = dw
		if ok, retry := s.lim.allow(r.RemoteAddr, time.Now()); !ok {
			secs := max(int64((retry+time.Second-1)/time.Second), 1)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
			if r.ContentLength != 0 {
				w.Header().Set("Connection", "close")
			}
			httpError(w, http.StatusTooManyRequests, "too many requests: retry after "+strconv.FormatInt(secs, 10)+" s")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			w.Header().Set("Connection", "close")
			httpError(w, http.StatusMethodNotAllowed, "the portal is read-only: GET and HEAD only")
			return
		}
		if r.ContentLength != 0 { // -1: chunked, of unknown length
			w.Header().Set("Connection", "close")
			httpError(w, http.StatusRequestEntityTooLarge, "a request body is not accepted: bundle files are verified in the browser and never uploaded")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 0)
		if r.ProtoMajor == 1 {
			// Clear the deadline the previous request on this
			// connection left.
			_ = rc.SetWriteDeadline(time.Time{})
		}
		next.ServeHTTP(w, r)
		// What the handler left buffered is written after it returns.
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	})
}

// writeChunk is the most deadlineWriter writes under one deadline.
const writeChunk = 64 << 10

// deadlineWriter writes in chunks of writeChunk, each of which must leave
// within timeout: a slow client that keeps reading gets the whole
// answer, one that stops is cut off.
// It remembers the status code sent, for the metrics.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	code    int
}

func (w *deadlineWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// status is the code sent (200 when the handler only wrote a body).
func (w *deadlineWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	written := 0
	for len(p) > 0 {
		n := min(len(p), writeChunk)
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
		m, err := w.ResponseWriter.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// Unwrap lets http.ResponseController reach the connection.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, msg, code)
}

// genesisHash answers the hex genesis hash the node runs; the page shows
// it and lets the citizen pin another.
func (s *Server) genesisHash(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write([]byte(s.genesis + "\n"))
}

// recordID validates an id taken from a path: the state machine's rule,
// exec.ValidID.
func recordID(w http.ResponseWriter, id string) bool {
	if err := exec.ValidID(id); err != nil {
		httpError(w, http.StatusBadRequest, "bad record id: "+err.Error())
		return false
	}
	return true
}

// bundle answers a record's proof bundle.
func (s *Server) bundle(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !recordID(w, id) {
		return
	}
	busy := func() {
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable, "busy: other bundles are being assembled, retry in a second")
	}
	select {
	case s.builds <- struct{}{}:
		defer func() { <-s.builds }()
	default:
		busy()
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), bundleTimeout)
	defer cancel()
	b, err := s.deps.Bundle(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		httpError(w, http.StatusNotFound, "no record "+id)
		return
	case errors.Is(err, ErrBadID):
		httpError(w, http.StatusBadRequest, err.Error())
		return
	case errors.Is(err, ErrTooLarge):
		httpError(w, http.StatusInsufficientStorage, err.Error())
		return
	case errors.Is(err, ErrBusy):
		busy()
		return
	case err != nil:
		s.log.Warn("portal: assemble a bundle", "record", id, "err", err)
		w.Header().Set("Retry-After", "5")
		httpError(w, http.StatusServiceUnavailable, "the node could not assemble the bundle now")
		return
	case len(b) > MaxBundleBytes:
		s.log.Warn("portal: bundle over the portal's limit", "record", id, "bytes", len(b), "limit", MaxBundleBytes)
		httpError(w, http.StatusInsufficientStorage, fmt.Sprintf("the bundle is %d bytes, over the portal's %d: get it with govnode query record %s --bundle FILE", len(b), MaxBundleBytes, id))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Content-Disposition", `attachment; filename="`+id+`.bundle"`)
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// qr answers a PNG QR code of the verification link of a record: the
// page with the id and this node's genesis hash, which verifies at once.
func (s *Server) qr(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".png")
	if !ok {
		httpError(w, http.StatusNotFound, "want /qr/{record_id}.png")
		return
	}
	if !recordID(w, id) {
		return
	}
	base, err := s.baseURL(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	png, err := qrPNG(VerifyLink(base, id, s.genesis))
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Content-Length", strconv.Itoa(len(png)))
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(png)
}

// VerifyLink is the page's link that verifies record id against genesis
// at once; base is the portal's URL.
func VerifyLink(base, id, genesis string) string {
	// id first, as the page writes it (url.Values would sort the keys).
	return strings.TrimSuffix(base, "/") + "/?id=" + url.QueryEscape(id) + "&genesis=" + url.QueryEscape(genesis)
}

// baseURL is Config.PublicURL, or the scheme and Host of r (the Host
// checked to be a host name or address with an optional port).
func (s *Server) baseURL(r *http.Request) (string, error) {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL, nil
	}
	host := r.Host
	if host == "" || len(host) > 261 {
		return "", errors.New("no usable Host header")
	}
	u, err := url.Parse("http://" + host)
	if err != nil || u.Host != host || u.Hostname() == "" || strings.ContainsAny(host, "/@?#\\ ") {
		return "", fmt.Errorf("Host %q is not a host name with an optional port", host)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + host, nil
}
