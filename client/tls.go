package client

// TLS on the client side (docs/ARCHITECTURE.md §6): an https:// node is
// verified against the system's roots or a given CA; an http:// address of
// a node that speaks only TLS, and the reverse, fail with an error saying
// so rather than as a bare protocol error.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
)

// MaxCAFileBytes bounds a CA file: a few CA certificates are a few KiB.
const MaxCAFileBytes = 1 << 20

// LoadCAFile reads the PEM certificates of path into a pool.
func LoadCAFile(path string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if err := AppendCAFile(pool, path); err != nil {
		return nil, err
	}
	return pool, nil
}

// AppendCAFile adds the PEM certificates of path to pool.
func AppendCAFile(pool *x509.CertPool, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("CA file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxCAFileBytes+1))
	if err != nil {
		return fmt.Errorf("CA file %s: %w", path, err)
	}
	if len(b) > MaxCAFileBytes {
		return fmt.Errorf("CA file %s: over %d bytes, not a CA certificate file", path, MaxCAFileBytes)
	}
	if !pool.AppendCertsFromPEM(b) {
		return fmt.Errorf("CA file %s: no PEM certificate in it (want the CA certificate, e.g. tls/ca.crt of the node's home)", path)
	}
	return nil
}

// NewHTTPClient is the HTTP client of calls to a node: HTTP/2 over TLS (or
// HTTP/1.1) to an https:// node, trusting roots if not nil, else the
// system's; HTTP/1.1 to an http:// one, telling a TLS-only node apart
// (ErrTLSOnly). maxConns bounds the idle connections kept. clientCert, if
// not nil, gives the client certificate of each TLS handshake.
func NewHTTPClient(maxConns int, roots *x509.CertPool, clientCert func(*tls.CertificateRequestInfo) (*tls.Certificate, error)) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0
	t.MaxIdleConnsPerHost = max(maxConns, 2)
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetClientCertificate: clientCert, RootCAs: roots}
	t.ForceAttemptHTTP2 = true // a custom TLSClientConfig turns h2 off otherwise
	return &http.Client{Transport: tlsPortDetector{next: t}}
}

// ErrTLSOnly is the answer of a node that speaks TLS only to a plaintext
// request.
var ErrTLSOnly = errors.New("the node serves TLS only: use an https:// address (trusting the node's CA, e.g. tls/ca.crt of its home, when it is private)")

// tlsPortDetector turns net/http's answer to plaintext on a TLS port (a
// bare "HTTP/1.0 400" whose body says "Client sent an HTTP request to an
// HTTPS server") into ErrTLSOnly.
type tlsPortDetector struct{ next http.RoundTripper }

// tlsPortAnswer is what net/http's server writes to plaintext on a TLS
// port.
const tlsPortAnswer = "Client sent an HTTP request to an HTTPS server"

// CloseIdleConnections closes the transport's idle connections
// (http.Client.CloseIdleConnections reaches it only through this).
func (d tlsPortDetector) CloseIdleConnections() {
	if c, ok := d.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (d tlsPortDetector) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := d.next.RoundTrip(req)
	if err != nil || req.URL.Scheme != "http" || resp.StatusCode != http.StatusBadRequest || resp.ProtoMinor != 0 || resp.ProtoMajor != 1 {
		return resp, err
	}
	br := bufio.NewReaderSize(resp.Body, 128)
	head, _ := br.Peek(len(tlsPortAnswer))
	if bytes.Equal(head, []byte(tlsPortAnswer)) {
		resp.Body.Close()
		return nil, ErrTLSOnly
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{br, resp.Body}
	return resp, nil
}
