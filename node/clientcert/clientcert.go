// Package clientcert is the client certificate by which an API caller
// proves an on-chain identity (docs/ARCHITECTURE.md §6, "Authenticated
// callers"): mutual TLS with a short-lived certificate the caller issues
// itself. The certificate's own key is a fresh ed25519 key (what TLS
// proves possession of in the handshake); the certificate is signed by the
// identity's registered key, so the node checks it against the key the
// committed state holds now, not against a CA. Layout: issuer = subject =
// CN=<identity id>, one URI SAN urn:govnode:identity:<id>, extended key
// usage clientAuth, no chain.
//
// The identity key signs the certificate's DER TBSCertificate, which
// starts with an ASN.1 SEQUENCE tag (0x30): it can never be the sign bytes
// of a tx or a vote, which start with the length of "govnode/sign/v1"
// (crypto.SignBytes).
package clientcert

import (
	gocrypto "crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// URIPrefix starts the certificate's one URI SAN; the identity id follows.
const URIPrefix = "urn:govnode:identity:"

// DefaultTTL is the validity of a certificate the CLI issues for one run.
const DefaultTTL = time.Hour

// clockSkew backdates NotBefore, so that a node whose clock is a little
// behind the caller's accepts a certificate issued just now.
const clockSkew = 5 * time.Minute

// Issue makes a certificate for identity id, valid from now-5min until
// now+ttl, whose key is a fresh ed25519 key, signed by identityKey. The
// returned tls.Certificate carries that fresh key and its parsed Leaf.
func Issue(identityKey crypto.PrivateKey, id string, now time.Time, ttl time.Duration) (*tls.Certificate, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("client certificate validity %s: must be positive", ttl)
	}
	signer, err := newIdentitySigner(identityKey)
	if err != nil {
		return nil, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("client certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, fmt.Errorf("client certificate serial: %w", err)
	}
	san := &url.URL{Scheme: "urn", Opaque: strings.TrimPrefix(URIPrefix, "urn:") + id}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(ttl),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{san},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("sign client certificate with the key of %s: %w", id, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse the client certificate just made: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, nil
}

// EncodePEM returns the PEM of c's certificate and of its key (PKCS#8),
// what grpcurl -cert/-key and curl --cert/--key read.
func EncodePEM(c *tls.Certificate) (certPEM, keyPEM []byte, err error) {
	p8, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return nil, nil, fmt.Errorf("encode client certificate key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	return certPEM, keyPEM, nil
}

// identitySigner lets x509.CreateCertificate sign with a govnode key.
type identitySigner struct {
	k   crypto.PrivateKey
	pub gocrypto.PublicKey
}

func newIdentitySigner(k crypto.PrivateKey) (*identitySigner, error) {
	switch k.Scheme() {
	case pb.KeyScheme_KEY_SCHEME_ED25519:
		return &identitySigner{k: k, pub: ed25519.PublicKey(k.Public().GetKey())}, nil
	}
	return nil, fmt.Errorf("client certificates signed by a %s key are not supported yet", crypto.SchemeName(k.Scheme()))
}

func (s *identitySigner) Public() gocrypto.PublicKey { return s.pub }

func (s *identitySigner) Sign(_ io.Reader, msg []byte, opts gocrypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != 0 {
		return nil, errors.New("ed25519 signs the message itself, not a digest")
	}
	return s.k.Sign(msg)
}

// Refusal reasons of Check; each names what is wrong with a certificate.
var (
	ErrMalformed   = errors.New("malformed client certificate")
	ErrNotYetValid = errors.New("client certificate not yet valid")
	ErrExpired     = errors.New("client certificate expired")
	ErrTooLong     = errors.New("client certificate validity too long")
	ErrBadSig      = errors.New("client certificate signature does not verify under the identity's current key")
)

// IdentityOf returns the identity id of the certificate's one URI SAN
// urn:govnode:identity:<id>, after checking the extended key usage
// clientAuth. The id's charset is the caller's to check.
func IdentityOf(c *x509.Certificate) (string, error) {
	if len(c.URIs) != 1 {
		return "", fmt.Errorf("%w: %d URI SANs, want one %s<id>", ErrMalformed, len(c.URIs), URIPrefix)
	}
	u := c.URIs[0].String()
	id, ok := strings.CutPrefix(u, URIPrefix)
	if !ok || id == "" {
		return "", fmt.Errorf("%w: URI SAN %q is not %s<id>", ErrMalformed, u, URIPrefix)
	}
	client := false
	for _, e := range c.ExtKeyUsage {
		client = client || e == x509.ExtKeyUsageClientAuth
	}
	if !client {
		return "", fmt.Errorf("%w: no extended key usage clientAuth", ErrMalformed)
	}
	return id, nil
}

// CheckTime refuses a certificate not valid at now, or whose validity
// span is longer than maxValidity (a long-lived certificate is a bearer
// credential that outlives a key rotation's intent).
func CheckTime(c *x509.Certificate, now time.Time, maxValidity time.Duration) error {
	// The issuer's back-dating (clockSkew) is allowed on top of the span:
	// a certificate issued "for 24h" is valid 24h5m, and a node accepting
	// 24h accepts it.
	if span := c.NotAfter.Sub(c.NotBefore); span > maxValidity+clockSkew {
		return fmt.Errorf("%w: valid for %s (%s to %s), the node accepts at most %s", ErrTooLong, span,
			c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), maxValidity)
	}
	if now.Before(c.NotBefore) {
		return fmt.Errorf("%w: valid from %s, the node's time is %s", ErrNotYetValid, c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return fmt.Errorf("%w at %s: issue a new one", ErrExpired, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// VerifySignature checks that the certificate is signed by pub, the
// identity's registered key. One case per key scheme: an SM2 suite adds
// its own (SM2-with-SM3 over RawTBSCertificate).
func VerifySignature(c *x509.Certificate, pub *pb.PublicKey) error {
	switch pub.GetScheme() {
	case pb.KeyScheme_KEY_SCHEME_ED25519:
		if c.SignatureAlgorithm != x509.PureEd25519 {
			return fmt.Errorf("%w: signed with %s, the identity's key is ed25519", ErrBadSig, c.SignatureAlgorithm)
		}
		if err := crypto.Verify(pub, c.RawTBSCertificate, c.Signature); err != nil {
			return fmt.Errorf("%w (a rotated-out key, or another identity's)", ErrBadSig)
		}
		return nil
	}
	return fmt.Errorf("%w: the identity's key scheme %s cannot sign client certificates yet", ErrBadSig, crypto.SchemeName(pub.GetScheme()))
}
