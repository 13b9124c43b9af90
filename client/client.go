package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// DefaultTimeout bounds each call whose context has no deadline of its
// own (WithTimeout changes it).
const DefaultTimeout = 15 * time.Second

// Client is a connection to one node's API. It is safe for concurrent use.
type Client struct {
	url           string
	rpc           govnodev1connect.NodeServiceClient
	hc            *http.Client
	authenticated bool
	timeout       time.Duration

	mu      sync.Mutex
	chainID string       // WithChainID's, else the node's from the first Status
	suite   crypto.Suite // the node's chain's, from the first Status (suiteOK)
	suiteOK bool
	pinned  bool              // chainID is WithChainID's
	nonces  map[string]uint64 // last nonce used per signer (submit.go)
}

// Option configures Dial. An option given nonsense makes Dial fail.
type Option func(*options) error

type options struct {
	caFile     string
	caPool     *x509.CertPool
	identity   *Signer
	timeout    time.Duration
	maxConns   int
	retries    int
	forceHTTPS bool
	hc         *http.Client
	certSource func(*tls.CertificateRequestInfo) (*tls.Certificate, error)
	chainID    string
}

// WithChainID signs transactions for chain id only, and refuses a node of
// another chain (Status fails naming both). Without it the client takes
// the chain id the node's first Status names, and signs for it: a node
// reached by mistake, or by an attacker on a plain http path, gets the
// signer's transactions signed for its own chain.
func WithChainID(id string) Option {
	return func(o *options) error {
		if err := exec.ValidChainID(id); err != nil {
			return fmt.Errorf("chain id: %w", err)
		}
		o.chainID = id
		return nil
	}
}

// WithCAFile trusts the PEM CA certificates of path (at most 1 MiB) for an
// https:// node instead of the system's roots; a host:port address is then
// reached over https.
func WithCAFile(path string) Option {
	return func(o *options) error {
		if strings.TrimSpace(path) == "" {
			return errors.New("CA file: empty path")
		}
		o.caFile, o.forceHTTPS = path, true
		return nil
	}
}

// WithCAPool is WithCAFile with the certificates already in a pool.
func WithCAPool(pool *x509.CertPool) Option {
	return func(o *options) error {
		if pool == nil {
			return errors.New("CA pool: nil")
		}
		o.caPool, o.forceHTTPS = pool, true
		return nil
	}
}

// WithIdentity authenticates every TLS connection as s: each handshake
// presents a client certificate issued then from s's key, valid
// clientcert.DefaultTTL (docs/ARCHITECTURE.md §6, "Authenticated
// callers"). Over plain http the node sees an anonymous caller.
func WithIdentity(s *Signer) Option {
	return func(o *options) error {
		if s == nil || s.Key == nil {
			return errors.New("identity: no signer key")
		}
		o.identity = s
		return nil
	}
}

// WithClientCertificate authenticates every TLS connection with the
// certificate source gives for its handshake (a certificate issued from a
// key in an HSM, say); WithIdentity is this with ClientCertSource.
func WithClientCertificate(source func(*tls.CertificateRequestInfo) (*tls.Certificate, error)) Option {
	return func(o *options) error {
		if source == nil {
			return errors.New("client certificate: nil source")
		}
		o.certSource = source
		return nil
	}
}

// WithHTTPClient makes calls with hc as it is: the caller owns its
// transport, TLS configuration and connection pooling (a load generator's
// own connections, say), so it excludes the CA, identity and connection
// options.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) error {
		if hc == nil {
			return errors.New("HTTP client: nil")
		}
		o.hc = hc
		return nil
	}
}

// WithTimeout bounds each call whose context has no deadline (0: no
// bound). A Submit that waits for its commit gets its wait on top.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("timeout %s: negative", d)
		}
		o.timeout = d
		return nil
	}
}

// WithMaxConns bounds the idle connections kept to the node (default 4).
func WithMaxConns(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 4096 {
			return fmt.Errorf("max connections %d: want 1 to 4096", n)
		}
		o.maxConns = n
		return nil
	}
}

// WithRetries sets how many times a call refused with resource_exhausted
// and a retry hint is sent again (default 5; 0 never retries). Each retry
// waits the node's hint, and none outlives the call's context.
func WithRetries(n int) Option {
	return func(o *options) error {
		if n < 0 || n > 100 {
			return fmt.Errorf("retries %d: want 0 to 100", n)
		}
		o.retries = n
		return nil
	}
}

// Dial returns a client of the node at addr: a URL (http:// or https://)
// or host:port (http, or https with WithCAFile or WithCAPool). It makes no
// call: the first call reaches the node.
func Dial(addr string, opts ...Option) (*Client, error) {
	o := &options{timeout: DefaultTimeout, maxConns: 4, retries: 5}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	if o.forceHTTPS && !strings.Contains(addr, "://") {
		addr = "https://" + strings.TrimSpace(addr)
	}
	u, err := BaseURL(addr)
	if err != nil {
		return nil, err
	}
	if o.forceHTTPS && !strings.HasPrefix(u, "https://") {
		return nil, fmt.Errorf("a CA is for a node served over TLS, but %s is plain http: use https://", u)
	}
	pool := o.caPool
	if o.caFile != "" {
		if pool, err = LoadCAFile(o.caFile); err != nil {
			return nil, err
		}
	}
	cert := o.certSource
	if o.identity != nil {
		if cert != nil {
			return nil, errors.New("both an identity and a client certificate source: give one")
		}
		cert = o.identity.certSource()
	}
	hc := o.hc
	switch {
	case hc != nil && (pool != nil || cert != nil):
		return nil, errors.New("an HTTP client of the caller's own takes no CA or client certificate options: configure its transport")
	case hc == nil:
		hc = NewHTTPClient(o.maxConns, pool, cert)
	}
	var copts []connect.ClientOption
	if o.retries > 0 {
		copts = append(copts, connect.WithInterceptors(retryInterceptor{max: o.retries}))
	}
	return &Client{
		url: u, rpc: govnodev1connect.NewNodeServiceClient(hc, u, copts...), hc: hc,
		authenticated: cert != nil && strings.HasPrefix(u, "https://"), timeout: o.timeout,
		nonces: map[string]uint64{}, chainID: o.chainID, pinned: o.chainID != "",
	}, nil
}

// BaseURL turns "host:port" or a URL into the base URL of a node's API
// ("http://127.0.0.1:26657"). A host bound to every interface (0.0.0.0,
// ::, empty) is reached on loopback.
func BaseURL(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return "", errors.New("empty node address")
	}
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil {
			return "", fmt.Errorf("node address %q: %w", addr, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return "", fmt.Errorf("node address %q: scheme %q, want http or https", addr, u.Scheme)
		}
		if u.Host == "" {
			return "", fmt.Errorf("node address %q: no host", addr)
		}
		return strings.TrimRight(u.String(), "/"), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("node address %q: want host:port or a URL: %w", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("node address %q: bad port %q", addr, port)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// URL is the node's base URL.
func (c *Client) URL() string { return c.url }

// Authenticated says whether calls present a client certificate (an
// identity was given and the node is https).
func (c *Client) Authenticated() bool { return c.authenticated }

// RPC is the underlying Connect client, for calls this package does not
// wrap. It retries as the Client does, but applies no timeout.
func (c *Client) RPC() govnodev1connect.NodeServiceClient { return c.rpc }

// Renew closes the idle connections, so that the next call opens a new
// one (with a freshly issued client certificate when authenticated).
func (c *Client) Renew() { c.hc.CloseIdleConnections() }

// Close releases the idle connections. The client stays usable.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// CallError is a failed call: which call, of which node, and the cause (a
// *connect.Error for an answer of the node; connect.CodeOf gives its code).
type CallError struct {
	Op  string
	URL string
	Err error
}

func (e *CallError) Error() string { return fmt.Sprintf("%s: node %s: %v", e.Op, e.URL, e.Err) }
func (e *CallError) Unwrap() error { return e.Err }

func (c *Client) callErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &CallError{Op: op, URL: c.url, Err: err}
}

// ctx bounds a call by the client's timeout unless ctx has a deadline.
func (c *Client) ctx(ctx context.Context, extra time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || c.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout+extra)
}

// Status is the node's status.
func (c *Client) Status(ctx context.Context) (*pb.StatusResponse, error) {
	ctx, cancel := c.ctx(ctx, 0)
	defer cancel()
	res, err := c.rpc.Status(ctx, connect.NewRequest(&pb.StatusRequest{}))
	if err != nil {
		return nil, c.callErr("status", err)
	}
	c.mu.Lock()
	want, pinned := c.chainID, c.pinned
	if want == "" {
		c.chainID = res.Msg.GetChainId()
	}
	c.mu.Unlock()
	if pinned && res.Msg.GetChainId() != want {
		return nil, c.callErr("status", fmt.Errorf("the node is on chain %q, not %q (WithChainID)", res.Msg.GetChainId(), want))
	}
	suite, err := crypto.SuiteByName(res.Msg.GetCryptoSuite())
	if err != nil {
		return nil, c.callErr("status", fmt.Errorf("the node's chain: %w", err))
	}
	c.mu.Lock()
	c.suite, c.suiteOK = suite, true
	c.mu.Unlock()
	return res.Msg, nil
}

// Suite is the crypto suite of the node's chain (one Status call, then
// remembered): the hash of its txs, commitments and proofs.
func (c *Client) Suite(ctx context.Context) (crypto.Suite, error) {
	c.mu.Lock()
	s, ok := c.suite, c.suiteOK
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	if _, err := c.Status(ctx); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.suite, nil
}

// ChainID is the chain id WithChainID gave, else the node's (one Status
// call, then remembered).
func (c *Client) ChainID(ctx context.Context) (string, error) {
	c.mu.Lock()
	id := c.chainID
	c.mu.Unlock()
	if id != "" {
		return id, nil
	}
	st, err := c.Status(ctx)
	if err != nil {
		return "", err
	}
	return st.GetChainId(), nil
}
