package api

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/govnode/govnode/node/metrics"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// apiCompressMinBytes is the smallest API response sent gzip-compressed.
const apiCompressMinBytes = 1 << 10

// ListenConfig says where the node's HTTP listeners bind and what bounds
// them: the api, metrics and debug sections of the node's config (the
// config key of each field is named beside it).
type ListenConfig struct {
	APIAddr     string // api.listen_addr
	APIMaxConns int    // api.max_conns
	// APITLS, when set, serves the API (and pprof) over TLS only
	// (api.tls_cert_file, api.tls_key_file); without it a non-loopback
	// APIAddr is refused unless APIInsecure (api.insecure).
	APITLS      *tls.Config
	APIInsecure bool
	// ClientCertMaxValidity is the longest validity span of a client
	// certificate the API accepts (api.client_cert_max_validity_s; 0 is
	// DefaultClientCertMaxValidity); auth.go.
	ClientCertMaxValidity time.Duration
	// RateLimits are the API's rate limits (api.rate_limit_*);
	// ratelimit.go.
	RateLimits RateLimitConfig
	// The timeouts and Host allow-list of every listener (api.*_ms,
	// api.allowed_hosts); listen.go says what each bounds.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	AllowedHosts      []string
	// MetricsAddr, when set, serves /metrics on a listener of its own.
	MetricsAddr     string // metrics.listen_addr
	MetricsMaxConns int    // metrics.max_conns
	MetricsTLS      *tls.Config
	MetricsInsecure bool // metrics.insecure
	// Pprof serves net/http/pprof on PprofAddr; PprofAllowRemote lets it
	// bind a non-loopback address.
	Pprof            bool   // debug.pprof
	PprofAddr        string // debug.pprof_listen_addr
	PprofMaxConns    int    // debug.pprof_max_conns
	PprofAllowRemote bool   // debug.pprof_allow_remote
	PprofInsecure    bool   // debug.pprof_insecure
}

// Listeners are the node's bound HTTP listeners: the API (which serves
// /metrics too), and the metrics and pprof listeners when configured.
type Listeners struct {
	api   *httpServer
	extra []*httpServer // metrics and pprof
	log   *slog.Logger
}

// Listen binds the listeners cfg names, the API one serving srv. Serve
// serves them. If one cannot be bound, those bound before it are closed.
func Listen(cfg ListenConfig, srv *Server, log *slog.Logger) (_ *Listeners, err error) {
	m := srv.d.Metrics
	ls := &Listeners{log: log}
	defer func() {
		if err != nil {
			ls.Close()
		}
	}()
	lim := httpLimits{
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		AllowedHosts:      cfg.AllowedHosts,
	}
	mux := http.NewServeMux()
	// Responses under apiCompressMinBytes go out uncompressed even to a
	// client that accepts gzip: compressing a SubmitTx answer of a few
	// dozen bytes cost about 9% of a node's CPU under load (a flate
	// compressor reset per response) and saves nothing.
	opts := append([]connect.HandlerOption{connect.WithInterceptors(metricsInterceptor(m)),
		connect.WithReadMaxBytes(apiReadMaxBytes), apiGzip(apiReadMaxBytes), connect.WithCompressMinBytes(apiCompressMinBytes)},
		strictJSONCodecs()...)
	path, h := govnodev1connect.NewNodeServiceHandler(srv, opts...)
	// Every RPC goes through the gate: the caller resolved from its client
	// certificate (auth.go), then the rate limits (ratelimit.go). The gRPC
	// health service and server reflection are RPCs too (health.go).
	rpcs := http.NewServeMux()
	rpcs.Handle(path, h)
	srv.grpcServices(rpcs, connect.WithReadMaxBytes(healthReadMaxBytes))
	g := newGate(rpcs, srv, cfg, log)
	for _, p := range []string{path, grpcHealthPath, grpcReflectV1Path, grpcReflectV1AlphaPath} {
		mux.Handle(p, g)
	}
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	srv.healthHandlers(mux)
	// HTTP/2 over TLS with TLS (ALPN h2), else HTTP/2 without it (h2c,
	// what gRPC clients speak to a plaintext port); HTTP/1.1 always, for
	// Connect JSON, gRPC-Web and curl.
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	apiTLS := cfg.APITLS
	if apiTLS != nil {
		protocols.SetHTTP2(true)
		// Ask for a client certificate, never require or judge it in the
		// handshake: anonymous callers still connect, and the gate refuses
		// a bad certificate per request with the reason (auth.go).
		apiTLS = apiTLS.Clone()
		apiTLS.ClientAuth = tls.RequestClientCert
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	if ls.api, err = listenHTTP(httpListener{Name: listenerAPI, Key: "api.listen_addr", Addr: cfg.APIAddr,
		MaxConns: cfg.APIMaxConns, MaxConnsKey: "api.max_conns", Protocols: protocols,
		TLS: apiTLS, TLSKey: "api.tls_cert_file", InsecureKey: "api.insecure", Insecure: cfg.APIInsecure}, lim, mux, m, log); err != nil {
		return nil, err
	}
	if cfg.MetricsAddr != "" {
		mm := http.NewServeMux()
		mm.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
		srv.healthHandlers(mm)
		s, err := listenHTTP(httpListener{Name: listenerMetrics, Key: "metrics.listen_addr", Addr: cfg.MetricsAddr,
			MaxConns: cfg.MetricsMaxConns, MaxConnsKey: "metrics.max_conns",
			TLS: cfg.MetricsTLS, TLSKey: "metrics.tls_cert_file", InsecureKey: "metrics.insecure", Insecure: cfg.MetricsInsecure}, lim, mm, m, log)
		if err != nil {
			return nil, err
		}
		ls.extra = append(ls.extra, s)
	}
	if cfg.Pprof {
		pm := http.NewServeMux()
		pm.HandleFunc("/debug/pprof/", pprof.Index)
		pm.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		pm.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pm.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		pm.HandleFunc("/debug/pprof/trace", pprof.Trace)
		// pprof elsewhere than loopback is refused without its own key:
		// its profiles and traces cost CPU on demand and show the node's
		// internals, with no authentication.
		s, err := listenHTTP(httpListener{Name: listenerPprof, Key: "debug.pprof_listen_addr", Addr: cfg.PprofAddr,
			MaxConns: cfg.PprofMaxConns, MaxConnsKey: "debug.pprof_max_conns",
			RemoteKey: "debug.pprof_allow_remote", Remote: cfg.PprofAllowRemote,
			TLS: cfg.APITLS, TLSKey: "api.tls_cert_file", InsecureKey: "debug.pprof_insecure", Insecure: cfg.PprofInsecure}, lim, pm, m, log)
		if err != nil {
			return nil, err
		}
		ls.extra = append(ls.extra, s)
	}
	return ls, nil
}

// APIAddr is the address the API listens on.
func (ls *Listeners) APIAddr() string { return ls.api.Addr() }

// Serve serves every listener until Shutdown, and returns when all have
// stopped. An error of the API listener goes to fail (the node stops on
// it); those of the metrics and pprof listeners are logged, since the node
// runs on without them.
func (ls *Listeners) Serve(fail func(error)) {
	var wg sync.WaitGroup
	for _, s := range ls.extra {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.serve(); err != nil {
				ls.log.Error("http server", "listener", s.name, "addr", s.Addr(), "err", err)
			}
		}()
	}
	if err := ls.api.serve(); err != nil {
		fail(err)
	}
	wg.Wait()
}

// Shutdown stops the servers, waiting until ctx ends for the requests in
// flight.
func (ls *Listeners) Shutdown(ctx context.Context) {
	for _, s := range ls.all() {
		_ = s.srv.Shutdown(ctx)
	}
}

// Close closes the listeners, for those bound and never served.
func (ls *Listeners) Close() {
	for _, s := range ls.all() {
		_ = s.ln.Close()
	}
}

func (ls *Listeners) all() []*httpServer {
	out := make([]*httpServer, 0, 1+len(ls.extra))
	if ls.api != nil {
		out = append(out, ls.api)
	}
	return append(out, ls.extra...)
}

// metricsInterceptor counts API requests by procedure and code.
func metricsInterceptor(m *metrics.Metrics) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			resp, err := next(ctx, req)
			code := "ok"
			if err != nil {
				code = connect.CodeOf(err).String()
			}
			m.APIRequests.WithLabelValues(req.Spec().Procedure, code).Inc()
			return resp, err
		}
	}
}

// newGate wraps the API's handler h in the gate of srv's state, with cfg's
// certificate cap and rate limits.
func newGate(h http.Handler, srv *Server, cfg ListenConfig, log *slog.Logger) *gate {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &gate{
		next:   h,
		auth:   newAuthenticator(srv.d.State, cfg.ClientCertMaxValidity),
		limits: newLimiter(cfg.RateLimits),
		m:      newGateMetrics(srv.d.Metrics.Registry),
		now:    time.Now,
		errw:   connect.NewErrorWriter(),
		failLog: func(r *http.Request, err error) {
			log.Error("api: resolve the caller", "remote", r.RemoteAddr, "err", err)
		},
	}
}
