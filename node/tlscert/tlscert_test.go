package tlscert

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A generated pair: the server certificate chains to the CA for every
// name asked and the loopback ones, and not for others; the files have
// their modes; Load accepts the pair.
func TestGenerateWriteLoad(t *testing.T) {
	p, err := Generate(Options{Hosts: []string{"node.example.", "10.1.2.3", "0.0.0.0", "NODE.example"}, CommonName: "govnode test"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "tls")
	if err := p.Write(dir, false); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{CAFile: 0o644, CertFile: 0o644, KeyFile: 0o600} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", name, st.Mode().Perm(), want)
		}
	}
	if err := p.Write(dir, false); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second Write without overwrite: %v", err)
	}
	if err := p.Write(dir, true); err != nil {
		t.Fatalf("Write with overwrite: %v", err)
	}

	cert, err := Load(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if !slices.Equal(leaf.DNSNames, []string{"localhost", "node.example"}) {
		t.Errorf("DNS names %v", leaf.DNSNames)
	}
	for _, ip := range leaf.IPAddresses {
		if ip.IsUnspecified() {
			t.Errorf("IP SAN %v: an unspecified address names no host", ip)
		}
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d != DefaultValidity {
		t.Errorf("validity %v, want %v", d, DefaultValidity)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(p.CACert) {
		t.Fatal("CA file holds no certificate")
	}
	inter := x509.NewCertPool()
	for _, name := range []string{"localhost", "node.example", "127.0.0.1", "::1", "10.1.2.3"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.example", Roots: roots}); err == nil {
		t.Error("the certificate verifies for a name it does not list")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: x509.NewCertPool()}); err == nil {
		t.Error("the certificate verifies without its CA")
	}
	// The CA signs nothing but the server certificate's level.
	b, _ := pem.Decode(p.CACert)
	ca, _ := x509.ParseCertificate(b.Bytes)
	if !ca.IsCA || ca.MaxPathLen != 0 || !ca.MaxPathLenZero {
		t.Errorf("CA: IsCA %v MaxPathLen %d", ca.IsCA, ca.MaxPathLen)
	}
	if ServerConfig(cert).MinVersion != tls.VersionTLS12 {
		t.Error("server config allows TLS below 1.2")
	}
}

// Load refuses, naming the file at fault: a missing file, a key of
// another pair, a file that is no PEM, an expired certificate, one not yet
// valid.
func TestLoadRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, p *Pair) (string, string) {
		d := filepath.Join(dir, name)
		if err := p.Write(d, false); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(d, CertFile), filepath.Join(d, KeyFile)
	}
	now := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	gen := func(start time.Time, validity time.Duration) *Pair {
		p, err := Generate(Options{NotBefore: start, Validity: validity})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodCert, goodKey := write("good", gen(now.Add(-time.Hour), 0))
	_, otherKey := write("other", gen(now.Add(-time.Hour), 0))
	oldCert, oldKey := write("old", gen(now.Add(-48*time.Hour), 24*time.Hour))
	newCert, newKey := write("new", gen(now.Add(time.Hour), 0))
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a pem file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		cert, key  string
		keyAtFault bool
		is         error
		want       string
	}{
		{"missing cert", filepath.Join(dir, "none.crt"), goodKey, false, os.ErrNotExist, "none.crt"},
		{"missing key", goodCert, filepath.Join(dir, "none.key"), true, os.ErrNotExist, "none.key"},
		{"key of another pair", goodCert, otherKey, true, ErrKeyMismatch, otherKey},
		{"cert is no PEM", junk, goodKey, false, nil, "no PEM certificate"},
		{"key is no PEM", goodCert, junk, true, nil, "no PEM private key"},
		{"key is a certificate", goodCert, goodCert, true, nil, "no PEM private key"},
		{"expired", oldCert, oldKey, false, ErrExpired, "expired at"},
		{"not yet valid", newCert, newKey, false, ErrNotYetValid, "valid from"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.cert, tc.key, now)
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %v, want a *LoadError", err)
			}
			if le.KeyFile != tc.keyAtFault {
				t.Errorf("key file at fault: %v, want %v (%v)", le.KeyFile, tc.keyAtFault, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}
	if _, err := Load(goodCert, goodKey, now); err != nil {
		t.Fatalf("the good pair: %v", err)
	}
}

func TestSANs(t *testing.T) {
	dns, ips := sans([]string{"[::1]", "Host.Example", "host.example", "::", " 192.0.2.1 ", ""})
	if !slices.Equal(dns, []string{"localhost", "host.example"}) {
		t.Errorf("dns %v", dns)
	}
	want := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("192.0.2.1")}
	if !slices.EqualFunc(ips, want, net.IP.Equal) {
		t.Errorf("ips %v, want %v", ips, want)
	}
}
