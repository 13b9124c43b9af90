package clientcert

import (
	"bytes"
	gocrypto "crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// sm2TestKey is a crypto.PrivateKey of scheme SM2 over gmsm's key, for
// the tests while package crypto has no SM2 scheme of its own: Sign is the
// scheme's signature (proto KeyScheme_KEY_SCHEME_SM2), DER SEQUENCE{r, s}
// over SM3(Z_A || msg), with the default distinguishing ID unless uid is
// set (a key that signs with another ID, which Issue must refuse).
type sm2TestKey struct {
	k   *sm2.PrivateKey
	uid []byte
	pub *pb.PublicKey
}

func newSM2TestKey(t testing.TB) *sm2TestKey {
	t.Helper()
	k, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	point := make([]byte, 65)
	point[0] = 4
	k.X.FillBytes(point[1:33])
	k.Y.FillBytes(point[33:])
	return &sm2TestKey{k: k, pub: &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_SM2, Key: point}}
}

func (k *sm2TestKey) Scheme() pb.KeyScheme  { return pb.KeyScheme_KEY_SCHEME_SM2 }
func (k *sm2TestKey) Public() *pb.PublicKey { return k.pub }
func (k *sm2TestKey) Bytes() []byte         { return k.k.D.FillBytes(make([]byte, 32)) }

func (k *sm2TestKey) Sign(msg []byte) ([]byte, error) {
	opts := sm2.DefaultSM2SignerOpts
	if k.uid != nil {
		opts = sm2.NewSM2SignerOption(true, k.uid)
	}
	return sm2.SignASN1(rand.Reader, k.k, msg, opts)
}

// mustSign is k.Sign, failing t on an error.
func (k *sm2TestKey) mustSign(t testing.TB, msg []byte) []byte {
	t.Helper()
	sig, err := k.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// gmsmVerifies reports whether c's signature verifies over its
// RawTBSCertificate under k with the default distinguishing ID: the
// tests' own check of what Issue made, independent of package crypto.
func gmsmVerifies(t testing.TB, c *x509.Certificate, k *sm2TestKey) bool {
	t.Helper()
	pub, err := sm2.NewPublicKey(k.pub.Key)
	if err != nil {
		t.Fatal(err)
	}
	return sm2.VerifyASN1WithSM2(pub, nil, c.RawTBSCertificate, c.Signature)
}

// requireCryptoSM2 skips the test unless package crypto verifies SM2
// signatures, which VerifySignature relies on for an SM2 identity. Only
// crypto.ErrUnknownScheme skips: once crypto has SM2, any other refusal of
// the test key is a disagreement on the key's encoding, and fails.
func requireCryptoSM2(t *testing.T, pub *pb.PublicKey) {
	t.Helper()
	err := crypto.ValidatePublicKey(pub)
	if errors.Is(err, crypto.ErrUnknownScheme) {
		t.Skipf("package crypto has no SM2 scheme in this tree (%v): VerifySignature checks SM2 signatures with crypto.Verify; run again once it has", err)
	}
	if err != nil {
		t.Fatalf("crypto.ValidatePublicKey refuses a 65-byte uncompressed SM2 point: %v", err)
	}
}

// sm2WithSM3AlgID is the DER AlgorithmIdentifier SM2-with-SM3 with no
// parameters: SEQUENCE { OID 1.2.156.10197.1.501 }.
var sm2WithSM3AlgID = []byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x75}

// algID is the DER AlgorithmIdentifier of oid with params (nil: none).
func algID(t testing.TB, oid asn1.ObjectIdentifier, params []byte) []byte {
	t.Helper()
	ai := pkix.AlgorithmIdentifier{Algorithm: oid}
	if params != nil {
		ai.Parameters = asn1.RawValue{FullBytes: params}
	}
	der, err := asn1.Marshal(ai)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// certParts splits a DER certificate: the TBSCertificate's version,
// serial number, signature AlgorithmIdentifier and the rest of its
// fields; the outer AlgorithmIdentifier; the signature.
type certParts struct {
	version, serial, innerAI, rest, outerAI, sig []byte
}

func splitCert(t testing.TB, der []byte) certParts {
	t.Helper()
	var p certParts
	var cert, tbs, version, serial, innerAI, outerAI cryptobyte.String
	in := cryptobyte.String(der)
	if !in.ReadASN1(&cert, cbasn1.SEQUENCE) || !cert.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!tbs.ReadASN1Element(&version, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!tbs.ReadASN1Element(&serial, cbasn1.INTEGER) || !tbs.ReadASN1Element(&innerAI, cbasn1.SEQUENCE) ||
		!cert.ReadASN1Element(&outerAI, cbasn1.SEQUENCE) || !cert.ReadASN1BitStringAsBytes(&p.sig) || !cert.Empty() {
		t.Fatal("certificate DER does not split")
	}
	p.version, p.serial, p.innerAI, p.rest, p.outerAI = version, serial, innerAI, tbs, outerAI
	return p
}

// join assembles p's certificate; when sign is set, with the TBSCertificate
// signed anew by it (else p.sig).
func (p certParts) join(sign func(tbs []byte) []byte) (der, tbs []byte) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(p.version)
		b.AddBytes(p.serial)
		b.AddBytes(p.innerAI)
		b.AddBytes(p.rest)
	})
	tbs = b.BytesOrPanic()
	sig := p.sig
	if sign != nil {
		sig = sign(tbs)
	}
	var c cryptobyte.Builder
	c.AddASN1(cbasn1.SEQUENCE, func(c *cryptobyte.Builder) {
		c.AddBytes(tbs)
		c.AddBytes(p.outerAI)
		c.AddASN1BitString(sig)
	})
	return c.BytesOrPanic(), tbs
}

// issueSM2 issues a certificate for id signed by k, failing t on an error.
func issueSM2(t testing.TB, k crypto.PrivateKey, id string, now time.Time) *tls.Certificate {
	t.Helper()
	c, err := Issue(k, id, now, time.Hour)
	if err != nil {
		t.Fatalf("Issue with an SM2 key: %v", err)
	}
	return c
}

// Issue with an SM2 identity key: the layout of the ed25519 case, the
// certificate's own key a fresh ed25519 key, signature algorithm
// SM2-with-SM3 with no parameters in both copies, and a signature over
// the DER TBSCertificate by the identity key with the default
// distinguishing ID (checked here with gmsm, not with package crypto).
// crypto/x509 parses it; the PEM pair loads as a TLS key pair.
func TestIssueSM2(t *testing.T) {
	k := newSM2TestKey(t)
	now := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	c := issueSM2(t, k, "off-1", now)
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatalf("crypto/x509 does not parse an SM2-signed certificate: %v", err)
	}
	if !leaf.Equal(c.Leaf) {
		t.Fatal("Leaf is not the certificate")
	}
	if leaf.SignatureAlgorithm != x509.UnknownSignatureAlgorithm {
		t.Errorf("crypto/x509 names the signature algorithm %s, want Unknown", leaf.SignatureAlgorithm)
	}
	if id, err := IdentityOf(leaf); err != nil || id != "off-1" {
		t.Fatalf("IdentityOf: %q %v", id, err)
	}
	if leaf.Subject.CommonName != "off-1" || leaf.Issuer.CommonName != "off-1" {
		t.Errorf("subject %v issuer %v", leaf.Subject, leaf.Issuer)
	}
	if !leaf.NotAfter.Equal(now.Add(time.Hour)) || !leaf.NotBefore.Equal(now.Add(-clockSkew)) {
		t.Errorf("validity %s to %s", leaf.NotBefore, leaf.NotAfter)
	}
	if err := CheckTime(leaf, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	// The certificate's own key is the fresh ed25519 key TLS proves.
	certKey, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok || leaf.PublicKeyAlgorithm != x509.Ed25519 {
		t.Fatalf("certificate key %T (%s), want ed25519", leaf.PublicKey, leaf.PublicKeyAlgorithm)
	}
	if priv, ok := c.PrivateKey.(ed25519.PrivateKey); !ok || !certKey.Equal(priv.Public()) {
		t.Fatalf("tls.Certificate key %T does not match the certificate's", c.PrivateKey)
	}

	p := splitCert(t, leaf.Raw)
	if !bytes.Equal(p.outerAI, sm2WithSM3AlgID) || !bytes.Equal(p.innerAI, sm2WithSM3AlgID) {
		t.Fatalf("signature AlgorithmIdentifier %x (TBSCertificate %x), want %x", p.outerAI, p.innerAI, sm2WithSM3AlgID)
	}
	if oid, params, err := signatureAlgorithm(leaf); err != nil || !oid.Equal(oidSignatureSM2WithSM3) || len(params) != 0 {
		t.Fatalf("signatureAlgorithm: %v %x %v", oid, params, err)
	}
	if !gmsmVerifies(t, leaf, k) {
		t.Fatal("the signature does not verify under the identity key with the default ID")
	}
	var r, s big.Int
	var seq cryptobyte.String
	if in := cryptobyte.String(leaf.Signature); !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		t.Fatalf("signature %x is not a DER SEQUENCE{r, s}", leaf.Signature)
	}
	// Not under another key, nor over another message: the check above can
	// fail.
	if gmsmVerifies(t, leaf, newSM2TestKey(t)) {
		t.Fatal("the signature verifies under another SM2 key")
	}
	tampered := *leaf
	tampered.RawTBSCertificate = bytes.Clone(leaf.RawTBSCertificate)
	tampered.RawTBSCertificate[len(tampered.RawTBSCertificate)-1] ^= 1
	if gmsmVerifies(t, &tampered, k) {
		t.Fatal("the signature verifies over another TBSCertificate")
	}

	certPEM, keyPEM, err := EncodePEM(c)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("PEM pair: %v", err)
	}
	if !bytes.Equal(pair.Certificate[0], leaf.Raw) {
		t.Fatal("PEM certificate differs")
	}
}

// badPubKey is a key whose public key is pub.
type badPubKey struct {
	crypto.PrivateKey
	pub *pb.PublicKey
}

func (k badPubKey) Public() *pb.PublicKey { return k.pub }

func sm2Pub(key []byte) *pb.PublicKey {
	return &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_SM2, Key: key}
}

// otherSchemeKey is an ed25519 key that claims another scheme.
type otherSchemeKey struct{ crypto.PrivateKey }

func (otherSchemeKey) Scheme() pb.KeyScheme { return pb.KeyScheme_KEY_SCHEME_UNSPECIFIED }

// Issue refuses, with the reason, an SM2 key whose signatures are not the
// scheme's (another distinguishing ID: smx509 checks the signature it
// gets), a public key that is no SM2 point, and a key of no scheme it
// signs with; the signer refuses any signer options but the default
// SM2 ones.
func TestIssueRefusesBadIdentityKeys(t *testing.T) {
	now := time.Now()
	otherID := newSM2TestKey(t)
	otherID.uid = []byte("ALICE123@YAHOO.COM")
	good := newSM2TestKey(t)
	offCurve := bytes.Clone(good.pub.Key)
	offCurve[64] ^= 1
	ed, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  crypto.PrivateKey
		want string
	}{
		{"SM2 key signing with another ID", otherID, "signature returned by signer is invalid"},
		{"64-byte SM2 key", badPubKey{good, sm2Pub(good.pub.Key[1:])}, "SM2 public key is 64 bytes, want 65"},
		{"compressed SM2 key", badPubKey{good, sm2Pub(append([]byte{2 + good.pub.Key[64]&1}, good.pub.Key[1:33]...))}, "SM2 public key is 33 bytes"},
		{"SM2 key off the curve", badPubKey{good, sm2Pub(offCurve)}, "not a point of the curve"},
		{"31-byte ed25519 key", badPubKey{ed, &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_ED25519, Key: ed.Public().GetKey()[1:]}}, "ed25519 public key is 31 bytes, want 32"},
		{"key of no scheme", otherSchemeKey{ed}, "not supported: the identity key must be ed25519 or SM2"},
	} {
		c, err := Issue(tc.key, "off-1", now, time.Hour)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Issue gave %v, %v; want an error saying %q", tc.name, c != nil, err, tc.want)
		}
	}

	s, err := newIdentitySigner(good)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("0\x03tbs")
	for _, opts := range []gocrypto.SignerOpts{
		gocrypto.Hash(0),
		gocrypto.SHA256,
		sm2.NewSM2SignerOption(true, []byte("1234567812345678")), // the default ID, but not the default options
		sm2.NewSM2SignerOption(false, nil),
	} {
		if sig, err := s.Sign(rand.Reader, msg, opts); err == nil || !strings.Contains(err.Error(), "default distinguishing ID") {
			t.Errorf("Sign with %T %v: %x, %v; want refused", opts, opts, sig, err)
		}
	}
	sig, err := s.Sign(rand.Reader, msg, sm2.DefaultSM2SignerOpts)
	if err != nil || !sm2.VerifyASN1WithSM2(s.Public().(*ecdsa.PublicKey), nil, msg, sig) {
		t.Fatalf("Sign with the default options: %x %v", sig, err)
	}
}

// A real TLS handshake, as node/api's listener makes it (ClientAuth
// RequestClientCert; RequireAnyClientCert too), TLS 1.2 and 1.3, with a
// client that issues an SM2-signed certificate per handshake as the CLI
// does (GetClientCertificate): crypto/tls takes the certificate, and the
// server sees it byte for byte in PeerCertificates, where node/api reads
// it; then VerifySignature accepts it under the identity's key and refuses
// it under another.
func TestSM2CertOverTLS(t *testing.T) {
	k := newSM2TestKey(t)
	serverCert, roots := serverPair(t)
	var peers []*x509.Certificate
	for _, auth := range []tls.ClientAuthType{tls.RequestClientCert, tls.RequireAnyClientCert} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			name := fmt.Sprintf("%s/%s", auth, tls.VersionName(version))
			var issued []byte
			client := &tls.Config{
				RootCAs: roots, ServerName: "node.test", MinVersion: version, MaxVersion: version,
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					c, err := Issue(k, "off-1", time.Now(), DefaultTTL)
					if err == nil {
						issued = c.Certificate[0]
					}
					return c, err
				},
			}
			server := &tls.Config{
				Certificates: []tls.Certificate{serverCert}, ClientAuth: auth,
				MinVersion: version, MaxVersion: version, SessionTicketsDisabled: true,
			}
			state := handshake(t, client, server)
			if len(state.PeerCertificates) != 1 {
				t.Fatalf("%s: the server got %d client certificates, want 1", name, len(state.PeerCertificates))
			}
			peer := state.PeerCertificates[0]
			if issued == nil || !bytes.Equal(peer.Raw, issued) {
				t.Fatalf("%s: the server got another certificate than the one issued", name)
			}
			if id, err := IdentityOf(peer); err != nil || id != "off-1" {
				t.Fatalf("%s: IdentityOf: %q %v", name, id, err)
			}
			if !gmsmVerifies(t, peer, k) {
				t.Fatalf("%s: the certificate's signature does not verify under the identity key", name)
			}
			peers = append(peers, peer)
		}
	}

	requireCryptoSM2(t, k.Public())
	other := newSM2TestKey(t)
	for _, peer := range peers {
		if err := VerifySignature(peer, k.Public()); err != nil {
			t.Fatalf("the identity's key: %v", err)
		}
		if err := VerifySignature(peer, other.Public()); !errors.Is(err, ErrBadSig) {
			t.Fatalf("another SM2 key: %v, want ErrBadSig", err)
		}
	}
}

// serverPair is a self-signed ed25519 server certificate for node.test
// and a pool holding it.
func serverPair(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "node.test"}, DNSNames: []string{"node.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, roots
}

// handshake runs a TLS handshake between client and server over a pipe
// and returns the server's view of the connection.
func handshake(t *testing.T, client, server *tls.Config) tls.ConnectionState {
	t.Helper()
	cc, sc := net.Pipe()
	defer cc.Close()
	defer sc.Close()
	deadline := time.Now().Add(10 * time.Second)
	_ = cc.SetDeadline(deadline)
	_ = sc.SetDeadline(deadline)
	cli, srv := tls.Client(cc, client), tls.Server(sc, server)
	clientErr := make(chan error, 1)
	go func() { clientErr <- cli.Handshake() }()
	if err := srv.Handshake(); err != nil {
		t.Fatalf("server handshake: %v (client: %v)", err, <-clientErr)
	}
	if err := <-clientErr; err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	return srv.ConnectionState()
}

// VerifySignature for an SM2 identity refuses, before any signature
// check, a certificate not signed with SM2-with-SM3 (no parameters, the
// same in both copies), and for an ed25519 identity an SM2-signed one;
// each error names what is wrong. Every bad certificate here carries a
// valid SM2 signature by the identity key over its TBSCertificate, so the
// refusal is the algorithm's.
func TestVerifySignatureRefusesWrongAlgorithm(t *testing.T) {
	k := newSM2TestKey(t)
	now := time.Now()
	good := issueSM2(t, k, "off-1", now).Leaf
	edKey, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edCert, err := Issue(edKey, "off-1", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(tbs []byte) []byte { return k.mustSign(t, tbs) }

	// withAlg is good re-signed by k with the algorithm identifiers inner
	// (in the TBSCertificate) and outer; parsed by crypto/x509 if it can,
	// else built as a Certificate from the DER by hand.
	withAlg := func(inner, outer []byte) *x509.Certificate {
		p := splitCert(t, good.Raw)
		p.innerAI, p.outerAI = inner, outer
		der, tbs := p.join(sign)
		if c, err := x509.ParseCertificate(der); err == nil {
			return c
		}
		c := *good
		c.Raw, c.RawTBSCertificate, c.Signature = der, tbs, splitCert(t, der).sig
		return &c
	}
	ecdsaSHA256 := algID(t, asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}, nil)
	sm2SHA256 := algID(t, asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 503}, nil)
	sm3Null := algID(t, oidSignatureSM2WithSM3, []byte{0x05, 0x00})
	edAlg := algID(t, oidSignatureEd25519, nil)
	otherTBS := *good
	otherTBS.RawTBSCertificate = bytes.Clone(good.RawTBSCertificate)
	otherTBS.RawTBSCertificate[len(otherTBS.RawTBSCertificate)-1] ^= 1

	for _, tc := range []struct {
		name string
		c    *x509.Certificate
		pub  *pb.PublicKey
		want []string
	}{
		{"ed25519-signed certificate, SM2 identity", edCert.Leaf, k.Public(),
			[]string{"signed with Ed25519", "identity's key is SM2", "1.2.156.10197.1.501"}},
		{"SM2-signed certificate, ed25519 identity", good, edKey.Public(),
			[]string{"signed with SM2-with-SM3 (OID 1.2.156.10197.1.501)", "identity's key is ed25519"}},
		{"ECDSA-with-SHA256", withAlg(ecdsaSHA256, ecdsaSHA256), k.Public(),
			[]string{"signed with ECDSA-SHA256", "identity's key is SM2"}},
		{"SM2-with-SHA256", withAlg(sm2SHA256, sm2SHA256), k.Public(),
			[]string{"signed with signature algorithm OID 1.2.156.10197.1.503", "identity's key is SM2"}},
		{"Ed25519 OID on an SM2 signature", withAlg(edAlg, edAlg), k.Public(),
			[]string{"signed with Ed25519", "identity's key is SM2"}},
		{"SM2-with-SM3 with NULL parameters", withAlg(sm3Null, sm3Null), k.Public(),
			[]string{"SM2-with-SM3 with parameters 0500, it takes none"}},
		{"SM2-with-SM3 outside the TBSCertificate only", withAlg(sm2SHA256, sm2WithSM3AlgID), k.Public(),
			[]string{"signature algorithm identifiers differ", fmt.Sprintf("%x in the TBSCertificate", sm2SHA256)}},
		{"SM2-with-SM3 inside the TBSCertificate only", withAlg(sm2WithSM3AlgID, sm2SHA256), k.Public(),
			[]string{"signature algorithm identifiers differ", fmt.Sprintf("%x outside it", sm2SHA256)}},
		{"RawTBSCertificate not the DER's", &otherTBS, k.Public(),
			[]string{"RawTBSCertificate is not the TBSCertificate of its DER"}},
	} {
		err := VerifySignature(tc.c, tc.pub)
		if !errors.Is(err, ErrBadSig) {
			t.Errorf("%s: %v, want ErrBadSig", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
		if errors.Is(err, crypto.ErrUnknownScheme) || strings.Contains(err.Error(), "rotated-out") {
			t.Errorf("%s: %q: refused by the signature check, not by the algorithm", tc.name, err)
		}
	}
	// The re-signing above makes valid signatures: the control case, the
	// identity's own algorithm, verifies under gmsm.
	if c := withAlg(sm2WithSM3AlgID, sm2WithSM3AlgID); !gmsmVerifies(t, c, k) || !bytes.Equal(c.RawTBSCertificate, good.RawTBSCertificate) {
		t.Fatal("re-signing with the identity's algorithm does not give a valid certificate")
	}
}

// VerifySignature with an SM2 identity key, through crypto.Verify:
// accepts the certificate the key issued, refuses one issued by another
// SM2 key, one whose TBSCertificate was changed after signing (the URI
// SAN, to claim another identity), and one whose signature was changed.
func TestVerifySignatureSM2(t *testing.T) {
	k := newSM2TestKey(t)
	requireCryptoSM2(t, k.Public())
	now := time.Now()
	c := issueSM2(t, k, "off-1", now).Leaf
	if err := VerifySignature(c, k.Public()); err != nil {
		t.Fatalf("own key: %v", err)
	}

	other := newSM2TestKey(t)
	byOther := issueSM2(t, other, "off-1", now).Leaf

	der := bytes.Clone(c.Raw)
	i := bytes.LastIndex(der, []byte(URIPrefix+"off-1"))
	if i < 0 {
		t.Fatal("no URI SAN in the DER")
	}
	der[i+len(URIPrefix+"off-1")-1] = '2'
	claimed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := IdentityOf(claimed); id != "off-2" {
		t.Fatalf("tampered certificate names %q", id)
	}

	p := splitCert(t, c.Raw)
	p.sig = bytes.Clone(p.sig)
	p.sig[len(p.sig)-1] ^= 1
	badSigDER, _ := p.join(nil)
	badSig, err := x509.ParseCertificate(badSigDER)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		c    *x509.Certificate
	}{
		{"issued by another SM2 key", byOther},
		{"URI SAN changed after signing", claimed},
		{"signature changed", badSig},
	} {
		err := VerifySignature(tc.c, k.Public())
		if !errors.Is(err, ErrBadSig) || !strings.Contains(err.Error(), "rotated-out key, or another identity's") {
			t.Errorf("%s: %v, want ErrBadSig: does not verify", tc.name, err)
		}
	}
	if err := VerifySignature(byOther, other.Public()); err != nil {
		t.Fatalf("the other key's own certificate: %v", err)
	}
}

// With package crypto's own SM2 key (once it has one): Issue signs with
// it, smx509's check of the signature (default ID) passes, and gmsm and
// VerifySignature accept the certificate. This is the check that crypto's
// SM2 Sign is the signature this package assumes.
func TestIssueWithCryptoSM2Key(t *testing.T) {
	key, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_SM2, rand.Reader)
	if errors.Is(err, crypto.ErrUnknownScheme) {
		t.Skipf("package crypto has no SM2 scheme in this tree (%v); run again once it has", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	requireCryptoSM2(t, key.Public())
	for i := range 8 { // signatures of 70 to 72 bytes, as r and s vary
		c := issueSM2(t, key, fmt.Sprintf("off-%d", i), time.Now()).Leaf
		if !gmsmVerifies(t, c, &sm2TestKey{pub: key.Public()}) {
			t.Fatal("crypto's SM2 signature does not verify under gmsm with the default ID")
		}
		if err := VerifySignature(c, key.Public()); err != nil {
			t.Fatalf("certificate %d (signature %d bytes): %v", i, len(c.Signature), err)
		}
	}
}

// A key of no scheme that signs client certificates is refused, and the
// error says which can.
func TestVerifySignatureUnsupportedScheme(t *testing.T) {
	k, _ := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.Reader)
	c, err := Issue(k, "off-1", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	err = VerifySignature(c.Leaf, &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_UNSPECIFIED, Key: k.Public().GetKey()})
	if !errors.Is(err, ErrBadSig) || !strings.Contains(err.Error(), "cannot sign client certificates (ed25519 and SM2 can)") {
		t.Fatalf("unspecified scheme: %v", err)
	}
}
