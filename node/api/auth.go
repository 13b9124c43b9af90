package api

// Authenticated callers (docs/ARCHITECTURE.md §6, "Authenticated
// callers"): a caller proves an on-chain identity with a short-lived client
// certificate signed by that identity's registered key (node/clientcert).
// The API's TLS listener asks for a certificate but never requires one, and
// never judges it in the handshake (a bare TLS alert tells the caller
// nothing): the gate below resolves the caller on every request, from
// r.TLS.PeerCertificates against the committed state, so a key rotation or
// a suspension takes effect on the next request, even on an open HTTP/2
// connection. A presented but bad certificate is refused with
// Unauthenticated and the reason; no certificate, or no TLS on the
// listener, is an anonymous caller.

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/store"
	"github.com/govnode/govnode/node/clientcert"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// DefaultClientCertMaxValidity is the longest validity span (NotAfter -
// NotBefore) of a client certificate the API accepts by default
// (api.client_cert_max_validity_s).
const DefaultClientCertMaxValidity = 24 * time.Hour

// maxVerifiedCerts bounds the cache of certificate signature verdicts; it
// is emptied when full.
const maxVerifiedCerts = 4096

// Caller is who made a request: an identity the request authenticated as,
// or an anonymous caller. CallerFrom returns it to every handler.
type Caller struct {
	// IdentityID, DepartmentID, Kind and Roles are the identity's, as the
	// committed state had them when the request came; IdentityID is empty
	// for an anonymous caller.
	IdentityID   string
	DepartmentID string
	Kind         pb.IdentityKind
	Roles        []pb.Role
	// Addr is the remote address of the connection, host:port.
	Addr string
	// NotAfter is when the client certificate expires; zero when
	// anonymous.
	NotAfter time.Time

	cert *x509.Certificate
	auth *authenticator
}

// Authenticated reports whether the caller proved an identity.
func (c *Caller) Authenticated() bool { return c.IdentityID != "" }

// String is "identity <id>" or "anonymous <addr>", for logs.
func (c *Caller) String() string {
	if c.Authenticated() {
		return "identity " + c.IdentityID
	}
	return "anonymous " + c.Addr
}

// recheck resolves the caller again at now: an error if its certificate
// expired or its identity's key or status no longer let it in. Anonymous
// callers always pass. Long-lived calls (StreamEvents) use it.
func (c *Caller) recheck(now time.Time) error {
	if !c.Authenticated() {
		return nil
	}
	_, err := c.auth.check(c.cert, c.Addr, now)
	return err
}

type callerKey struct{}

// CallerFrom returns the caller of the request whose context is ctx:
// never nil; anonymous, with no address, outside a request the gate
// served (tests calling the Server directly).
func CallerFrom(ctx context.Context) *Caller {
	if c, ok := ctx.Value(callerKey{}).(*Caller); ok {
		return c
	}
	return &Caller{}
}

// WithCaller returns ctx carrying c, for tests and in-process callers.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// authError is a refused certificate: reason is the metric label, err the
// message the caller gets.
type authError struct {
	reason string
	err    error
}

func (e *authError) Error() string { return e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

func refuse(reason string, format string, args ...any) error {
	return &authError{reason: reason, err: fmt.Errorf(format, args...)}
}

// authenticator resolves callers against the committed state.
type authenticator struct {
	state       exec.Reader
	maxValidity time.Duration

	mu sync.Mutex
	// verified caches signature verdicts by (certificate, identity key,
	// identity updated height): a rotation changes the key and the
	// height, so the next request verifies again.
	verified map[[32]byte]error
}

func newAuthenticator(state exec.Reader, maxValidity time.Duration) *authenticator {
	if maxValidity <= 0 {
		maxValidity = DefaultClientCertMaxValidity
	}
	return &authenticator{state: state, maxValidity: maxValidity, verified: make(map[[32]byte]error)}
}

// resolve returns the caller of r at now: anonymous without a client
// certificate (or without TLS), else the identity it proves, or an error
// (an *authError for a refused certificate, another for a state read that
// failed).
func (a *authenticator) resolve(r *http.Request, now time.Time) (*Caller, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return &Caller{Addr: r.RemoteAddr}, nil
	}
	return a.check(r.TLS.PeerCertificates[0], r.RemoteAddr, now)
}

// check judges cert at now, cheap checks first: its layout, its validity
// window, the identity in state, then its signature (cached).
func (a *authenticator) check(cert *x509.Certificate, addr string, now time.Time) (*Caller, error) {
	id, err := clientcert.IdentityOf(cert)
	if err != nil {
		return nil, refuse("malformed", "%v", err)
	}
	if err := exec.ValidID(id); err != nil {
		return nil, refuse("malformed", "%v: identity id %q: %v", clientcert.ErrMalformed, id, err)
	}
	if err := clientcert.CheckTime(cert, now, a.maxValidity); err != nil {
		reason := "expired"
		switch {
		case errors.Is(err, clientcert.ErrNotYetValid):
			reason = "not_yet_valid"
		case errors.Is(err, clientcert.ErrTooLong):
			reason = "too_long"
		}
		return nil, refuse(reason, "%v", err)
	}
	idn, err := exec.Identity(a.state, id)
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, store.ErrNotFound) {
		return nil, refuse("unknown_identity", "client certificate names identity %q, which the chain does not know", id)
	} else if err != nil {
		return nil, fmt.Errorf("read identity %q: %w", id, err)
	}
	if st := idn.GetStatus(); st != pb.IdentityStatus_IDENTITY_STATUS_ACTIVE {
		why := ""
		if r := idn.GetStatusReason(); r != "" {
			why = ": " + r
		}
		return nil, refuse("inactive", "identity %q is not active (%s since height %d%s)", id, st, idn.GetUpdatedHeight(), why)
	}
	if err := a.verify(cert, idn); err != nil {
		return nil, refuse("bad_signature", "identity %q: %v", id, err)
	}
	return &Caller{
		IdentityID: id, DepartmentID: idn.GetDepartmentId(), Kind: idn.GetKind(), Roles: idn.GetRoles(),
		Addr: addr, NotAfter: cert.NotAfter, cert: cert, auth: a,
	}, nil
}

// verify checks cert's signature under idn's current key, once per
// (certificate, key, identity updated height).
func (a *authenticator) verify(cert *x509.Certificate, idn *pb.Identity) error {
	pub := idn.GetPublicKey()
	h := sha256.New()
	h.Write(cert.Raw)
	h.Write(binary.BigEndian.AppendUint64(nil, idn.GetUpdatedHeight()))
	h.Write([]byte{byte(pub.GetScheme())})
	h.Write(pub.GetKey())
	var k [32]byte
	h.Sum(k[:0])
	a.mu.Lock()
	verdict, ok := a.verified[k]
	a.mu.Unlock()
	if ok {
		return verdict
	}
	verdict = clientcert.VerifySignature(cert, pub)
	a.mu.Lock()
	if len(a.verified) >= maxVerifiedCerts {
		clear(a.verified)
	}
	a.verified[k] = verdict
	a.mu.Unlock()
	return verdict
}

// gateMetrics count the gate's refusals.
type gateMetrics struct {
	authRefused *prometheus.CounterVec // reason
	rateLimited *prometheus.CounterVec // key: identity or address
}

func newGateMetrics(reg *prometheus.Registry) *gateMetrics {
	return &gateMetrics{
		authRefused: registerCounterVec(reg, prometheus.CounterOpts{
			Name: "govnode_api_auth_refused_total",
			Help: "API requests refused because the client certificate presented does not authenticate, by reason.",
		}, "reason"),
		rateLimited: registerCounterVec(reg, prometheus.CounterOpts{
			Name: "govnode_api_rate_limited_total",
			Help: "API requests refused with resource_exhausted by the rate limits, by the bucket that was empty (identity or address).",
		}, "key"),
	}
}

// registerCounterVec registers a counter on reg, or returns the one
// registered already (Listen may run more than once on one Metrics).
func registerCounterVec(reg *prometheus.Registry, opts prometheus.CounterOpts, label string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(opts, []string{label})
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return old
			}
		}
		panic(fmt.Sprintf("register %s: %v", opts.Name, err)) // a broken invariant: a name clash in our own metrics
	}
	return c
}

// gate is the API's http.Handler middleware: it resolves the caller, puts
// it in the request's context, and applies the rate limits.
type gate struct {
	next    http.Handler
	auth    *authenticator
	limits  *limiter
	m       *gateMetrics
	now     func() time.Time
	errw    *connect.ErrorWriter
	failLog func(r *http.Request, err error)
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := g.now()
	caller, err := g.auth.resolve(r, now)
	if err != nil {
		// A failed authentication is charged to the address, exempt or
		// not by the loopback switch like any anonymous request.
		if ok, retry := g.limits.allowAddr(r.RemoteAddr, now); !ok {
			g.m.rateLimited.WithLabelValues("address").Inc()
			g.writeLimited(w, r, retry, "address "+hostOf(r.RemoteAddr))
			return
		}
		var ae *authError
		if errors.As(err, &ae) {
			g.m.authRefused.WithLabelValues(ae.reason).Inc()
			g.writeErr(w, r, connect.NewError(connect.CodeUnauthenticated, ae.err))
			return
		}
		if g.failLog != nil {
			g.failLog(r, err)
		}
		g.writeErr(w, r, connect.NewError(connect.CodeInternal, err))
		return
	}
	if ok, retry, key := g.limits.allowCaller(caller, now); !ok {
		g.m.rateLimited.WithLabelValues(key).Inc()
		what := "address " + hostOf(caller.Addr)
		if key == "identity" {
			what = "identity " + caller.IdentityID
		}
		g.writeLimited(w, r, retry, what)
		return
	}
	g.next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), caller)))
}

// writeErr answers r with err in r's protocol (Connect, gRPC, gRPC-Web),
// or as plain HTTP to anything else.
func (g *gate) writeErr(w http.ResponseWriter, r *http.Request, err *connect.Error) {
	if g.errw.IsSupported(r) {
		_ = g.errw.Write(w, r, err)
		return
	}
	status := http.StatusUnauthorized
	switch err.Code() {
	case connect.CodeResourceExhausted:
		status = http.StatusTooManyRequests
	case connect.CodeInternal:
		status = http.StatusInternalServerError
	}
	http.Error(w, err.Message(), status)
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
