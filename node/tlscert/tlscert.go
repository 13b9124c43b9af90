// Package tlscert makes the self-signed certificate pair that
// `govnode init --tls` writes for the node's HTTP listeners
// (docs/ARCHITECTURE.md §6), and checks a pair the node is given.
//
// A Pair is a private CA certificate and a server certificate it signed,
// with the server's private key. The CA's private key is used once and
// dropped: a CA key left on the node's disk would let whoever reads it mint
// certificates that every client trusting the CA accepts, a wider loss
// than the server key alone. Renewing the pair therefore means a new CA
// that clients must be given again; a deployment that renews often uses
// its own CA instead and points the config keys at that CA's files.
//
// Keys are ECDSA P-256: every TLS client a department may use (Go, Java,
// .NET, browsers, grpcurl, curl) speaks it, which Ed25519 certificates do
// not yet reach.
package tlscert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// DefaultValidity is how long a generated pair is valid. Two years: long
// enough not to surprise an operator who set up a node and forgot it for
// a year, short enough that a stolen server key does not stay useful for
// good; the node warns within RenewWithin of the end (node.Config.LoadTLS).
const DefaultValidity = 2 * 365 * 24 * time.Hour

// RenewWithin is how close to its end a certificate makes the node warn.
const RenewWithin = 30 * 24 * time.Hour

// File names of a generated pair inside its directory.
const (
	CAFile   = "ca.crt"
	CertFile = "server.crt"
	KeyFile  = "server.key"
)

// Pair is a generated CA and server certificate, PEM-encoded.
type Pair struct {
	CACert     []byte // the CA certificate: what clients trust (--ca, grpcurl -cacert)
	ServerCert []byte // the server certificate, then the CA certificate (the chain)
	ServerKey  []byte // the server's private key, PKCS #8
}

// Options say what a generated pair is for.
type Options struct {
	// Hosts are the server certificate's names: DNS names and IP
	// addresses. localhost, 127.0.0.1 and ::1 are always added.
	Hosts []string
	// CommonName names the CA and the server ("govnode <moniker>").
	CommonName string
	// NotBefore is the start of validity (now if zero); the pair is valid
	// for Validity (DefaultValidity if zero) from it.
	NotBefore time.Time
	Validity  time.Duration
}

// Generate makes a CA and a server certificate for opts.Hosts.
func Generate(opts Options) (*Pair, error) {
	start := opts.NotBefore
	if start.IsZero() {
		// A minute back: a client whose clock is slightly behind the
		// node's still accepts a pair made just now.
		start = time.Now().Add(-time.Minute)
	}
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("validity %v is negative", validity)
	}
	name := opts.CommonName
	if name == "" {
		name = "govnode"
	}
	dns, ips := sans(opts.Hosts)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name + " CA", Organization: []string{"govnode"}},
		NotBefore:             start,
		NotAfter:              start.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // it signs the server certificate and nothing under it
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"govnode"}},
		NotBefore:    start,
		NotAfter:     start.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("create server certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), caPEM...)
	return &Pair{
		CACert:     caPEM,
		ServerCert: chain,
		ServerKey:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// sans splits hosts into DNS names and IP addresses, with localhost,
// 127.0.0.1 and ::1 added and duplicates dropped. An unspecified address
// (0.0.0.0, ::) names no host and is left out.
func sans(hosts []string) ([]string, []net.IP) {
	var dns []string
	var ips []net.IP
	for _, h := range append([]string{"localhost", "127.0.0.1", "::1"}, hosts...) {
		h = strings.TrimSuffix(strings.Trim(strings.TrimSpace(h), "[]"), ".")
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() && !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			continue
		}
		if h = strings.ToLower(h); !slices.Contains(dns, h) {
			dns = append(dns, h)
		}
	}
	return dns, ips
}

// serial is a random 128-bit certificate serial number.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n.Add(n, big.NewInt(1)) // never 0
}

// Write writes p into dir as CAFile and CertFile (mode 0644) and KeyFile
// (mode 0600), creating dir (0755: the key file is what is private). It refuses to replace an existing file
// unless overwrite.
func (p *Pair) Write(dir string, overwrite bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{{CAFile, p.CACert, 0o644}, {CertFile, p.ServerCert, 0o644}, {KeyFile, p.ServerKey, 0o600}}
	if !overwrite {
		for _, f := range files {
			if _, err := os.Lstat(filepath.Join(dir, f.name)); err == nil {
				return fmt.Errorf("%s exists: refusing to overwrite it", filepath.Join(dir, f.name))
			}
		}
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes data to path with mode through a temporary file and a
// rename, so that the key is never readable with a wider mode.
func writeFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Errors of Load, which the caller reports against its config keys.
var (
	ErrKeyMismatch = errors.New("the private key does not match the certificate")
	ErrExpired     = errors.New("the certificate has expired")
	ErrNotYetValid = errors.New("the certificate is not valid yet")
)

// LoadError is a failure of Load, naming which of the two files is at
// fault.
type LoadError struct {
	KeyFile bool // the key file, else the certificate file
	Err     error
}

func (e *LoadError) Error() string { return e.Err.Error() }
func (e *LoadError) Unwrap() error { return e.Err }

// maxPEMBytes bounds what Load reads of either file: a certificate chain
// or a key is a few KiB.
const maxPEMBytes = 1 << 20

// Load reads a PEM certificate chain and its private key and checks that
// they match and that the first certificate is valid at now. The returned
// certificate has Leaf set.
func Load(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	certPEM, err := readPEM(certFile)
	if err != nil {
		return nil, &LoadError{Err: err}
	}
	keyPEM, err := readPEM(keyFile)
	if err != nil {
		return nil, &LoadError{KeyFile: true, Err: err}
	}
	if !bytes.Contains(certPEM, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, &LoadError{Err: fmt.Errorf("%s holds no PEM certificate", certFile)}
	}
	if !bytes.Contains(keyPEM, []byte("PRIVATE KEY-----")) {
		return nil, &LoadError{KeyFile: true, Err: fmt.Errorf("%s holds no PEM private key", keyFile)}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, &LoadError{KeyFile: true, Err: fmt.Errorf("%w: %s is not the key of %s", ErrKeyMismatch, keyFile, certFile)}
		}
		if strings.Contains(err.Error(), "private key") {
			return nil, &LoadError{KeyFile: true, Err: fmt.Errorf("%s: %w", keyFile, err)}
		}
		return nil, &LoadError{Err: fmt.Errorf("%s: %w", certFile, err)}
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, &LoadError{Err: fmt.Errorf("%s: %w", certFile, err)}
		}
		cert.Leaf = leaf
	}
	switch {
	case now.After(leaf.NotAfter):
		return nil, &LoadError{Err: fmt.Errorf("%w: %s expired at %s", ErrExpired, certFile, leaf.NotAfter.UTC().Format(time.RFC3339))}
	case now.Before(leaf.NotBefore):
		return nil, &LoadError{Err: fmt.Errorf("%w: %s is valid from %s (check the clock)", ErrNotYetValid, certFile, leaf.NotBefore.UTC().Format(time.RFC3339))}
	}
	return &cert, nil
}

func readPEM(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPEMBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPEMBytes {
		return nil, fmt.Errorf("%s is over %d bytes: not a certificate or key", path, maxPEMBytes)
	}
	return b, nil
}

// ServerConfig is the TLS configuration of a listener serving cert: TLS
// 1.2 at least, Go's default cipher suites (all with forward secrecy and
// AEAD at 1.2; 1.3 is chosen whenever the client speaks it). 1.2 and not
// 1.3 only: department applications on older Java and .NET runtimes and
// TLS-terminating appliances in front of them still stop at 1.2. The
// server adds the ALPN protocols (h2, http/1.1).
func ServerConfig(cert *tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}}
}
