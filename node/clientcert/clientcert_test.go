package clientcert

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Issue's layout: one URI SAN with the id, clientAuth, the span asked
// (plus the 5-minute backdating), signed by the identity key and not by
// another; the PEM pair loads as a TLS key pair.
func TestIssue(t *testing.T) {
	k, _ := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.Reader)
	other, _ := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.Reader)
	now := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	c, err := Issue(k, "off-1", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := IdentityOf(c.Leaf); err != nil || id != "off-1" {
		t.Fatalf("IdentityOf: %q %v", id, err)
	}
	if c.Leaf.Subject.CommonName != "off-1" || c.Leaf.Issuer.CommonName != "off-1" {
		t.Errorf("subject %v issuer %v", c.Leaf.Subject, c.Leaf.Issuer)
	}
	if !c.Leaf.NotAfter.Equal(now.Add(time.Hour)) || !c.Leaf.NotBefore.Equal(now.Add(-clockSkew)) {
		t.Errorf("validity %s to %s", c.Leaf.NotBefore, c.Leaf.NotAfter)
	}
	if err := VerifySignature(c.Leaf, k.Public()); err != nil {
		t.Fatalf("own key: %v", err)
	}
	if err := VerifySignature(c.Leaf, other.Public()); !errors.Is(err, ErrBadSig) {
		t.Fatalf("another key: %v, want ErrBadSig", err)
	}
	if err := CheckTime(c.Leaf, now, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	// Issued for 1h (plus the 5 minutes of back-dating) under a 1h cap:
	// accepted; under a 59-minute cap: refused.
	if err := CheckTime(c.Leaf, now, time.Hour); err != nil {
		t.Fatalf("issued for 1h under a 1h cap: %v", err)
	}
	if err := CheckTime(c.Leaf, now, time.Hour-time.Minute); !errors.Is(err, ErrTooLong) {
		t.Fatalf("span 1h05 under a 59m cap: %v", err)
	}
	if err := CheckTime(c.Leaf, now.Add(2*time.Hour), 2*time.Hour); !errors.Is(err, ErrExpired) {
		t.Fatalf("after NotAfter: %v", err)
	}
	if err := CheckTime(c.Leaf, now.Add(-time.Hour), 2*time.Hour); !errors.Is(err, ErrNotYetValid) {
		t.Fatalf("before NotBefore: %v", err)
	}
	certPEM, keyPEM, err := EncodePEM(c)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("PEM pair: %v", err)
	}
	if leaf, _ := x509.ParseCertificate(pair.Certificate[0]); leaf == nil || !leaf.Equal(c.Leaf) {
		t.Fatal("PEM certificate differs")
	}
	if _, err := Issue(k, "off-1", now, 0); err == nil {
		t.Fatal("zero validity accepted")
	}
}
