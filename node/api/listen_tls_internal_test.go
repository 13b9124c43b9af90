package api

// The listeners over TLS (listen.go): HTTP/2 (ALPN h2) and HTTP/1.1 to a
// client that trusts the CA; plaintext, h2c, an untrusting client and TLS
// below 1.2 refused; the Host allow-list and the connection cap still
// hold, and a connection that never finishes its handshake is cut.

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govnode/govnode/node/metrics"
	"github.com/govnode/govnode/node/tlscert"
)

type testPair struct {
	server *tls.Config
	roots  *x509.CertPool
}

// testTLS generates a pair and returns the server's TLS config and the
// pool that trusts its CA.
func testTLS(t *testing.T) testPair {
	t.Helper()
	p, err := tlscert.Generate(tlscert.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := p.Write(dir, false); err != nil {
		t.Fatal(err)
	}
	cert, err := tlscert.Load(filepath.Join(dir, tlscert.CertFile), filepath.Join(dir, tlscert.KeyFile), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.CACert)
	return testPair{server: tlscert.ServerConfig(cert), roots: roots}
}

// tlsClient trusts roots and speaks HTTP/2 if h2, else HTTP/1.1 only.
func tlsClient(t *testing.T, roots *x509.CertPool, h2 bool) *http.Client {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(h2)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, Protocols: p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// apiProtocols are the API's protocols with TLS (listeners.go).
func apiProtocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	return p
}

func TestListenTLS(t *testing.T) {
	pair := testTLS(t)
	m := metrics.New()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "ok %s", r.Proto) })
	s := serveTest(t, httpListener{TLS: pair.server, Protocols: apiProtocols()}, testLimits(), ok, m, nil)
	_, port, _ := net.SplitHostPort(s.Addr())

	get := func(c *http.Client, url string) (int, string, error) {
		resp, err := c.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	for _, tc := range []struct {
		name  string
		h2    bool
		proto string
	}{{"h2", true, "HTTP/2.0"}, {"http/1.1", false, "HTTP/1.1"}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, host := range []string{"127.0.0.1", "localhost"} {
				code, body, err := get(tlsClient(t, pair.roots, tc.h2), "https://"+net.JoinHostPort(host, port)+"/")
				if err != nil || code != http.StatusOK || body != "ok "+tc.proto {
					t.Fatalf("%s over TLS to %s: %d %q %v, want 200 %q", tc.name, host, code, body, err, "ok "+tc.proto)
				}
			}
		})
	}

	t.Run("plaintext HTTP/1 refused", func(t *testing.T) {
		code, body, err := get(h1Client(t), "http://"+s.Addr()+"/")
		if err == nil && (code != http.StatusBadRequest || !strings.Contains(body, "HTTPS server")) {
			t.Fatalf("plaintext request: %d %q, want 400 from net/http's TLS port", code, body)
		}
	})
	t.Run("h2c refused", func(t *testing.T) {
		code, body, err := get(h2cClient(t), "http://"+s.Addr()+"/")
		if err == nil {
			t.Fatalf("h2c request answered: %d %q", code, body)
		}
	})
	t.Run("untrusted CA refused", func(t *testing.T) {
		_, _, err := get(tlsClient(t, x509.NewCertPool(), true), "https://"+s.Addr()+"/")
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) {
			t.Fatalf("client without the CA: %v, want an unknown authority error", err)
		}
	})
	t.Run("TLS 1.1 refused", func(t *testing.T) {
		c := tlsClient(t, pair.roots, false)
		c.Transport.(*http.Transport).TLSClientConfig.MaxVersion = tls.VersionTLS11
		c.Transport.(*http.Transport).TLSClientConfig.MinVersion = tls.VersionTLS10
		if _, _, err := get(c, "https://"+s.Addr()+"/"); err == nil {
			t.Fatal("a TLS 1.1 client was served")
		}
	})
	t.Run("Host allow-list", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, "https://"+s.Addr()+"/", nil)
		req.Host = "attacker.example:" + port
		resp, err := tlsClient(t, pair.roots, true).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "api.allowed_hosts") {
			t.Fatalf("foreign Host over TLS: %d %q, want 403", resp.StatusCode, b)
		}
		if got := metricValue(m.HTTPHostsRefused.WithLabelValues(listenerAPI)); got != 1 {
			t.Fatalf("govnode_http_hosts_refused_total = %v, want 1", got)
		}
	})
}

// The cap counts connections before their handshake: held TCP connections
// that never start TLS fill it, the next TLS client is refused and
// counted; each held one is cut once the handshake's time
// (read_header_timeout) passes, and clients get in again.
func TestListenTLSConnCapAndHandshakeTimeout(t *testing.T) {
	const max = 2
	pair := testTLS(t)
	m := metrics.New()
	lim := testLimits()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	s := serveTest(t, httpListener{TLS: pair.server, Protocols: apiProtocols(), MaxConns: max}, lim, ok, m, nil)
	var held []net.Conn
	for range max {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	open := m.HTTPOpenConns.WithLabelValues(listenerAPI)
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(open) != max {
		if time.Now().After(deadline) {
			t.Fatalf("open conns %v, want %d", metricValue(open), max)
		}
		time.Sleep(5 * time.Millisecond) // poll with a deadline
	}
	c := tlsClient(t, pair.roots, true)
	if resp, err := c.Get("https://" + s.Addr() + "/"); err == nil {
		resp.Body.Close()
		t.Fatalf("a TLS client over the cap of %d was served", max)
	}
	if got := metricValue(m.HTTPConnsRefused.WithLabelValues(listenerAPI)); got < 1 {
		t.Fatalf("govnode_http_conns_refused_total = %v, want at least 1", got)
	}
	// The held connections never send a ClientHello: the server closes
	// them after the handshake timeout.
	start := time.Now()
	for _, h := range held {
		_ = h.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := h.Read(make([]byte, 1)); err == nil {
			t.Fatal("the server wrote to a connection that sent nothing")
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("a connection without a handshake was held past %v", 5*time.Second)
		}
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Fatalf("handshake-less connections cut after %v, want about read_header_timeout %v", waited, lim.ReadHeaderTimeout)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		resp, err := c.Get("https://" + s.Addr() + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "ok" {
				t.Fatalf("after the cut: %q", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no TLS client got in after the held connections were cut: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // poll with a deadline
	}
}
