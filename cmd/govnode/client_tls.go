package main

// TLS on the client side (docs/ARCHITECTURE.md §6): an https:// --node is
// verified against the system's roots or the CA of --ca; an http:// one to
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
	"strings"
)

// maxCAFileBytes bounds a --ca file: a few CA certificates are a few KiB.
const maxCAFileBytes = 1 << 20

// loadCAFile reads the PEM certificates of path into a pool.
func loadCAFile(path string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if err := appendCAFile(pool, path); err != nil {
		return nil, err
	}
	return pool, nil
}

// appendCAFile adds the PEM certificates of path to pool.
func appendCAFile(pool *x509.CertPool, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--ca: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCAFileBytes+1))
	if err != nil {
		return fmt.Errorf("--ca %s: %w", path, err)
	}
	if len(b) > maxCAFileBytes {
		return fmt.Errorf("--ca %s: over %d bytes, not a CA certificate file", path, maxCAFileBytes)
	}
	if !pool.AppendCertsFromPEM(b) {
		return fmt.Errorf("--ca %s: no PEM certificate in it (want the CA certificate, e.g. tls/ca.crt of the node's home)", path)
	}
	return nil
}

// newNodeHTTPClient is the HTTP client of the CLI's calls: HTTP/2 over TLS
// (or HTTP/1.1) to an https:// node, trusting caFile's certificates if
// given, else the system's; HTTP/1.1 to an http:// one, telling a TLS-only
// node apart. maxConns bounds the idle connections kept. clientCert, if
// not nil, gives the client certificate of each TLS handshake
// (client_auth.go).
func newNodeHTTPClient(maxConns int, caFile string, clientCert func(*tls.CertificateRequestInfo) (*tls.Certificate, error)) (*http.Client, error) {
	hc := newHTTPClient(maxConns)
	t := hc.Transport.(*http.Transport)
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetClientCertificate: clientCert}
	if caFile != "" {
		pool, err := loadCAFile(caFile)
		if err != nil {
			return nil, err
		}
		t.TLSClientConfig.RootCAs = pool
	}
	t.ForceAttemptHTTP2 = true // a custom TLSClientConfig turns h2 off otherwise
	hc.Transport = tlsPortDetector{next: t}
	return hc, nil
}

// errTLSOnly is the answer of a node that speaks TLS only to a plaintext
// request.
var errTLSOnly = errors.New("the node serves TLS only: use an https:// --node (with --ca FILE for a private CA, e.g. tls/ca.crt of the node's home)")

// tlsPortDetector turns net/http's answer to plaintext on a TLS port (a
// bare "HTTP/1.0 400" whose body says "Client sent an HTTP request to an
// HTTPS server") into errTLSOnly.
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
		return nil, errTLSOnly
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{br, resp.Body}
	return resp, nil
}

// tlsHint is a line to add to a failed call's error when TLS is the
// likely cause, or "".
func tlsHint(url string, err error) string {
	var rh tls.RecordHeaderError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.Is(err, errTLSOnly):
		return "" // says it all
	case errors.As(err, &rh) && strings.HasPrefix(url, "https://"):
		return "the node does not speak TLS there: use an http:// --node"
	case errors.As(err, &ua):
		return "the node's certificate is not signed by a trusted CA: give its CA with --ca FILE (e.g. tls/ca.crt of the node's home)"
	case errors.As(err, &hn):
		return "the node's certificate does not name this host: use a name it lists, or regenerate it with that name"
	case errors.As(err, &ci):
		return "the node's certificate is not valid (expired, or not yet valid)"
	}
	return ""
}
