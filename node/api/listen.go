package api

import (
	"compress/gzip"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/govnode/govnode/node/metrics"
)

// The node's HTTP listeners: the API, and the metrics and pprof ports when
// configured. Each one bounds what a client can hold:
//
//   - a connection cap (capListener): a connection over it is closed at
//     once and counted, so a flood of idle or slow connections cannot use
//     up the process's file descriptors;
//   - read_header_timeout and read_timeout: the headers, and the headers
//     and body together, must arrive within them, or the request fails and
//     an HTTP/1 connection is closed (HTTP/2 cuts the stream);
//   - write_timeout: each write of a response must complete within it. It
//     bounds each write rather than the whole response because an event
//     stream and a SubmitTx that waits for its commit legitimately last
//     longer than any one write; a client that stops reading is cut after
//     write_timeout all the same;
//   - idle_timeout: a keep-alive connection with no request in flight is
//     closed after it;
//   - on a loopback address, a Host allow-list (hostGuard) against DNS
//     rebinding;
//   - with a certificate, TLS (1.2 at least) and nothing in plaintext; the
//     handshake counts against read_header_timeout (net/http bounds it by
//     the shortest of the timeouts) and the connection against the cap,
//     which is taken before the handshake. Without a certificate a
//     non-loopback address is refused unless the listener's insecure key
//     says otherwise: the API carries signed transactions and record
//     content that anyone on the path could read or alter
//     (docs/ARCHITECTURE.md §7).

// Listener names, the listener label of the govnode_http_* metrics.
const (
	listenerAPI     = "api"
	listenerMetrics = "metrics"
	listenerPprof   = "pprof"
)

// apiReadMaxBytes is the largest API request message, after decompression.
const apiReadMaxBytes = 4 << 20

// httpLimits are the timeouts and Host allow-list shared by every HTTP
// listener of the node (the api section of the config).
type httpLimits struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// AllowedHosts are Host names accepted on a loopback listener besides
	// localhost and loopback IP addresses.
	AllowedHosts []string
}

// httpListener describes one listener to open.
type httpListener struct {
	// Name is the metrics label (listenerAPI, ...).
	Name string
	// Key is the config key of Addr, named in warnings and errors.
	Key  string
	Addr string
	// MaxConns caps the open connections; MaxConnsKey is its config key.
	MaxConns    int
	MaxConnsKey string
	// RemoteKey, when set, is the config key that must be true for Addr to
	// be a non-loopback address; Remote is its value. Without RemoteKey a
	// non-loopback address is served with a warning.
	RemoteKey string
	Remote    bool
	// Protocols the server speaks; nil is HTTP/1 only without TLS, and
	// HTTP/1 and HTTP/2 with it.
	Protocols *http.Protocols
	// TLS, when set, serves over TLS only; TLSKey is its config key
	// (the certificate's), named in messages.
	TLS    *tls.Config
	TLSKey string
	// InsecureKey is the config key that must be true for a listener
	// without TLS to serve a non-loopback address; Insecure is its value.
	InsecureKey string
	Insecure    bool
}

// httpServer is a bound listener and its server; Run serves it.
type httpServer struct {
	name string
	ln   net.Listener // the capped listener
	srv  *http.Server
}

// listenHTTP binds l and builds its server around h. It warns when the
// address is not a loopback one, and refuses one that needs l.RemoteKey.
func listenHTTP(l httpListener, lim httpLimits, h http.Handler, m *metrics.Metrics, log *slog.Logger) (*httpServer, error) {
	raw, err := net.Listen("tcp", l.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", l.Key, l.Addr, err)
	}
	bound := raw.Addr().(*net.TCPAddr)
	loopback := bound.IP.IsLoopback()
	if !loopback {
		if l.RemoteKey != "" && !l.Remote {
			_ = raw.Close()
			return nil, fmt.Errorf("%s %s is not a loopback address: refusing to serve %s there, since anyone who reaches it could read the node's internals and make it burn CPU; bind it to 127.0.0.1 or set %s = true",
				l.Key, l.Addr, l.Name, l.RemoteKey)
		}
		switch {
		case l.TLS == nil && !l.Insecure:
			_ = raw.Close()
			return nil, fmt.Errorf("%s %s is not a loopback address: refusing to serve the %s listener there without TLS, since anyone on the network path could read and alter its traffic; "+
				"set %s and %s (`govnode init --tls` writes a self-signed pair), bind it to 127.0.0.1, or, if a TLS proxy or a closed network guards it, set %s = true (flag --%s)",
				l.Key, l.Addr, l.Name, l.TLSKey, strings.Replace(l.TLSKey, "cert", "key", 1), l.InsecureKey, strings.ReplaceAll(l.InsecureKey, "_", "-"))
		case l.TLS == nil:
			log.Warn(fmt.Sprintf("%s %s is not a loopback address and serves plaintext (%s = true): anyone who can reach it can use the %s listener, and anyone on the path can read its traffic; keep it behind a TLS proxy or firewall", l.Key, bound, l.InsecureKey, l.Name),
				"key", l.Key, "addr", bound.String(), "insecure_key", l.InsecureKey)
		default:
			log.Warn(fmt.Sprintf("%s %s is not a loopback address: anyone who can reach it can use the %s listener (over TLS); keep it behind a firewall or proxy", l.Key, bound, l.Name),
				"key", l.Key, "addr", bound.String())
		}
	}
	ln := &capListener{Listener: raw, max: int64(l.MaxConns), name: l.Name, capKey: l.MaxConnsKey,
		open: m.HTTPOpenConns.WithLabelValues(l.Name), refused: m.HTTPConnsRefused.WithLabelValues(l.Name), log: log}
	handler := h
	if loopback {
		handler = hostGuard{next: handler, allowed: allowedHostSet(lim.AllowedHosts), refused: m.HTTPHostsRefused.WithLabelValues(l.Name)}
	}
	handler = withDeadlines(handler, lim.WriteTimeout, m.HTTPTimeouts.WithLabelValues(l.Name, "read"), m.HTTPTimeouts.WithLabelValues(l.Name, "write"))
	srv := &http.Server{
		Handler:           handler,
		Protocols:         l.Protocols,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		// No WriteTimeout: it would bound the whole response and cut event
		// streams and waits for commit; withDeadlines bounds each write.
		// (pprof's profile handler also refuses durations above it.)
		IdleTimeout: lim.IdleTimeout,
		// net/http's own complaints (bad requests, TLS noise) are the
		// client's doing: debug, through the node's logger.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if l.TLS != nil {
		// Serve adds the ALPN names of l.Protocols (h2, http/1.1).
		srv.TLSConfig = l.TLS.Clone()
	}
	return &httpServer{name: l.Name, ln: ln, srv: srv}, nil
}

// Addr is the bound address.
func (s *httpServer) Addr() string { return s.ln.Addr().String() }

// serve serves until the server is shut down; that is not an error.
func (s *httpServer) serve() error {
	var err error
	if s.srv.TLSConfig != nil {
		// The certificate is in TLSConfig; the cap counts connections
		// before their handshake.
		err = s.srv.ServeTLS(s.ln, "", "")
	} else {
		err = s.srv.Serve(s.ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}

// capListener refuses connections over max: it accepts each one and, if
// max are already open, closes it at once with a reset and counts it.
// netutil.LimitListener would instead stop accepting, leaving the excess in
// the kernel's accept queue: clients there hang until their own timeout
// with no answer, nothing counts them, and when a slot frees the oldest
// queued connection (likely the attacker's) gets it. Refusing answers
// every client at once, and a freed slot goes to whoever connects next.
type capListener struct {
	net.Listener
	max          int64
	name, capKey string
	n            atomic.Int64
	open         prometheus.Gauge
	refused      prometheus.Counter
	log          *slog.Logger
	// lastWarn is touched by Accept only, which http.Server calls from one
	// goroutine.
	lastWarn time.Time
}

// capWarnEvery spaces the warnings that a listener is at its cap: one a
// minute tells the operator without letting a flood flood the log too.
const capWarnEvery = time.Minute

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.n.Add(1) > l.max {
			l.n.Add(-1)
			l.refused.Inc()
			if tc, ok := c.(*net.TCPConn); ok {
				// A reset: the client learns at once, and the server keeps
				// no TIME_WAIT state for each refused connection.
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
			if now := time.Now(); now.Sub(l.lastWarn) >= capWarnEvery {
				l.lastWarn = now
				l.log.Warn(fmt.Sprintf("%s listener at its connection cap (%s = %d): refusing new connections; govnode_http_conns_refused_total counts them", l.name, l.capKey, l.max),
					"listener", l.name, "remote", c.RemoteAddr().String())
			}
			continue
		}
		l.open.Inc()
		return &capConn{Conn: c, l: l}, nil
	}
}

// NewCapListener is capListener for another package's listener (the
// portal): at most max connections open over raw, more refused at once
// and counted in refused, open ones in open; name and capKey name the
// listener and its config key in the warning logged (at most once a
// minute) at the cap. open and refused may be nil (not counted), log too.
func NewCapListener(raw net.Listener, max int, name, capKey string, open prometheus.Gauge, refused prometheus.Counter, log *slog.Logger) *CapListener {
	if open == nil {
		open = prometheus.NewGauge(prometheus.GaugeOpts{Name: "unregistered"})
	}
	if refused == nil {
		refused = prometheus.NewCounter(prometheus.CounterOpts{Name: "unregistered"})
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &CapListener{&capListener{Listener: raw, max: int64(max), name: name, capKey: capKey, open: open, refused: refused, log: log}}
}

// CapListener is a listener made by NewCapListener.
type CapListener struct{ *capListener }

// Open is the number of connections open over it.
func (l *CapListener) Open() int64 { return l.n.Load() }

// capConn gives its slot back once, on the first Close.
type capConn struct {
	net.Conn
	l    *capListener
	once sync.Once
}

func (c *capConn) Close() error {
	c.once.Do(func() {
		c.l.n.Add(-1)
		c.l.open.Dec()
	})
	return c.Conn.Close()
}

// withDeadlines bounds each write of a response with writeTimeout and lifts
// the bound between writes, so that a long response (an event stream, a
// SubmitTx waiting for its commit) lives as long as its handler while a
// client that stops reading is cut after writeTimeout. (read_timeout
// needs no such help: net/http lifts it once the body is read, on HTTP/1
// when its background read starts, on HTTP/2 when the stream's body ends.)
func withDeadlines(next http.Handler, writeTimeout time.Duration, readTimeouts, writeTimeouts prometheus.Counter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.ProtoMajor == 1 {
			// Clear the deadline the previous request on this connection
			// left, which net/http's own writes (a 100 Continue) would
			// otherwise meet.
			_ = rc.SetWriteDeadline(time.Time{})
		}
		r2 := *r
		if r.Body != nil && r.Body != http.NoBody {
			r2.Body = &timeoutCounter{ReadCloser: r.Body, timeouts: readTimeouts}
		}
		dw := &deadlineWriter{ResponseWriter: w, rc: rc, timeout: writeTimeout, timeouts: writeTimeouts}
		next.ServeHTTP(dw, &r2)
		// What the handler left buffered is written after it returns.
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	})
}

// timeoutCounter counts a request body cut by read_timeout.
type timeoutCounter struct {
	io.ReadCloser
	counted  bool
	timeouts prometheus.Counter
}

func (b *timeoutCounter) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.counted && errors.Is(err, os.ErrDeadlineExceeded) {
		b.counted = true
		b.timeouts.Inc()
	}
	return n, err
}

// deadlineWriter arms the write deadline around each write and flush.
type deadlineWriter struct {
	http.ResponseWriter
	rc       *http.ResponseController
	timeout  time.Duration
	timedOut bool
	timeouts prometheus.Counter
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	n, err := w.ResponseWriter.Write(p)
	w.disarm(err)
	return n, err
}

// Flush is needed by Connect's server streams (it requires an
// http.Flusher).
func (w *deadlineWriter) Flush() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	w.disarm(w.rc.Flush())
}

func (w *deadlineWriter) disarm(err error) {
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !w.timedOut {
		w.timedOut = true
		w.timeouts.Inc()
	}
	// No deadline between writes: on HTTP/2 an armed deadline resets the
	// stream when it passes, even with nothing being written.
	_ = w.rc.SetWriteDeadline(time.Time{})
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// hostGuard refuses requests whose Host is not this machine's on a
// loopback listener. A web page the operator visits can make its own name
// resolve to 127.0.0.1 (DNS rebinding) and then read the API as same-origin
// content; its requests still carry its own name in Host, which this
// refuses. A request without Host cannot come from a browser.
type hostGuard struct {
	next    http.Handler
	allowed map[string]bool
	refused prometheus.Counter
}

func (g hostGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Host == "" || g.allowedHost(r.Host) {
		g.next.ServeHTTP(w, r)
		return
	}
	g.refused.Inc()
	http.Error(w, fmt.Sprintf("Host %q is not allowed on this loopback listener (DNS rebinding guard): use localhost or a loopback IP address, or add the name to api.allowed_hosts", r.Host), http.StatusForbidden)
}

func (g hostGuard) allowedHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")), ".")
	if host == "localhost" || g.allowed[host] {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func allowedHostSet(hosts []string) map[string]bool {
	m := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		m[strings.TrimSuffix(strings.ToLower(h), ".")] = true
	}
	return m
}

// cappedGzip is the API's gzip decompressor. Connect (v1.21.1) stops
// copying an inflated message at read_max_bytes, but then reads the
// decompressor to its end to report the message's full size: a 4 MB body
// of zeros is inflated to 4 GB for that error message. cappedGzip fails
// the read that would go past max instead, so no more than max+1 bytes are
// ever inflated; Connect passes its error on as is.
type cappedGzip struct {
	gz   gzip.Reader
	max  int64
	left int64
}

func newCappedGzip(max int64) *cappedGzip { return &cappedGzip{max: max, left: max} }

func (d *cappedGzip) Read(p []byte) (int, error) {
	if d.left < 0 { // already over: a reader that reads again gets the error again
		return 0, d.over()
	}
	if int64(len(p)) > d.left+1 {
		p = p[:d.left+1] // one byte over tells "more" from "exactly max"
	}
	n, err := d.gz.Read(p)
	d.left -= int64(n)
	if d.left < 0 {
		return n + int(d.left), d.over()
	}
	return n, err
}

func (d *cappedGzip) over() error {
	return connect.NewError(connect.CodeResourceExhausted,
		fmt.Errorf("gzip request body inflates to more than %d bytes, the largest message accepted", d.max))
}

// Reset starts a new message with the full allowance (Connect pools
// decompressors).
func (d *cappedGzip) Reset(r io.Reader) error {
	d.left = d.max
	return d.gz.Reset(r)
}

func (d *cappedGzip) Close() error { return d.gz.Close() }

// apiGzip is the Connect handler option that decompresses gzip requests
// with cappedGzip and compresses responses as Connect's default does.
func apiGzip(max int64) connect.HandlerOption {
	return connect.WithCompression("gzip",
		func() connect.Decompressor { return newCappedGzip(max) },
		func() connect.Compressor { return gzip.NewWriter(io.Discard) })
}
