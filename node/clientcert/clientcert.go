// Package clientcert is the client certificate by which an API caller
// proves an on-chain identity (docs/ARCHITECTURE.md §6, "Authenticated
// callers"): mutual TLS with a short-lived certificate the caller issues
// itself. The certificate's own key is a fresh ed25519 key (what TLS
// proves possession of in the handshake), whatever the chain's crypto
// suite; the certificate is signed by the identity's registered key, so
// the node checks it against the key the committed state holds now, not
// against a CA. Layout: issuer = subject = CN=<identity id>, one URI SAN
// urn:govnode:identity:<id>, extended key usage clientAuth, no chain.
//
// The signature algorithm is the identity key's, so the chain's crypto
// suite's (crypto.Suite): Ed25519 (OID 1.3.101.112) for an ed25519 key;
// for the SM2 key of an "sm2-sm3" chain SM2-with-SM3 (OID
// 1.2.156.10197.1.501, no parameters; GB/T 33560-2017 appendix A), a DER
// SEQUENCE{r, s} over SM3(Z_A || TBSCertificate) with the default
// distinguishing ID, the signature crypto.Verify checks. Go's crypto/x509
// parses such a certificate (its SignatureAlgorithm is Unknown) and
// crypto/tls carries it, so the node's TLS listener needs nothing of SM2;
// VerifySignature reads the algorithm from the certificate's DER.
//
// The identity key signs the certificate's DER TBSCertificate, which
// starts with an ASN.1 SEQUENCE tag (0x30): it can never be the sign bytes
// of a tx or a vote, which start with the length of "govnode/sign/v1"
// (crypto.SignBytes).
package clientcert

import (
	"bytes"
	gocrypto "crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

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
// now+ttl, whose key is a fresh ed25519 key, signed by identityKey: an
// ed25519 key (signature algorithm Ed25519) or an SM2 key (SM2-with-SM3).
// The returned tls.Certificate carries that fresh key and its parsed Leaf.
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
	der, err := signer.create(tmpl, pub)
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

// identitySigner lets x509.CreateCertificate (ed25519) or
// smx509.CreateCertificate (SM2) sign with a govnode key.
type identitySigner struct {
	k   crypto.PrivateKey
	pub gocrypto.PublicKey
}

func newIdentitySigner(k crypto.PrivateKey) (*identitySigner, error) {
	key := k.Public().GetKey()
	switch k.Scheme() {
	case pb.KeyScheme_KEY_SCHEME_ED25519:
		if len(key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("client certificate signer: ed25519 public key is %d bytes, want %d", len(key), ed25519.PublicKeySize)
		}
		return &identitySigner{k: k, pub: ed25519.PublicKey(key)}, nil
	case pb.KeyScheme_KEY_SCHEME_SM2:
		// smx509 picks SM2-with-SM3 for an *ecdsa.PublicKey on the SM2
		// curve, which NewPublicKey returns for a 04||X||Y point on it.
		if len(key) != sm2PublicKeySize {
			return nil, fmt.Errorf("client certificate signer: SM2 public key is %d bytes, want %d (04 || X || Y)", len(key), sm2PublicKeySize)
		}
		pub, err := sm2.NewPublicKey(key)
		if err != nil {
			return nil, fmt.Errorf("client certificate signer: SM2 public key is not a point of the curve: %w", err)
		}
		return &identitySigner{k: k, pub: pub}, nil
	}
	return nil, fmt.Errorf("client certificates signed by a %s key are not supported: the identity key must be ed25519 or SM2", crypto.SchemeName(k.Scheme()))
}

// sm2PublicKeySize is the size of an SM2 public key: 04 || X || Y.
const sm2PublicKeySize = 65

// create makes the DER certificate of tmpl (self-issued) with key pub,
// signed by s. Each CreateCertificate checks the signature it got before
// returning (smx509: sm2.VerifyASN1WithSM2 with the default ID), so a key
// whose Sign is not the scheme's is refused here, not by the node.
func (s *identitySigner) create(tmpl *x509.Certificate, pub ed25519.PublicKey) ([]byte, error) {
	if s.k.Scheme() == pb.KeyScheme_KEY_SCHEME_SM2 {
		return smx509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, s)
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, s)
}

func (s *identitySigner) Public() gocrypto.PublicKey { return s.pub }

// Sign signs msg, the DER TBSCertificate itself: the identity key signs
// messages, not digests. For SM2 smx509 passes sm2.DefaultSM2SignerOpts
// (the message, the default distinguishing ID), the one signature an SM2
// identity key makes.
func (s *identitySigner) Sign(_ io.Reader, msg []byte, opts gocrypto.SignerOpts) ([]byte, error) {
	switch s.k.Scheme() {
	case pb.KeyScheme_KEY_SCHEME_SM2:
		if o, ok := opts.(*sm2.SM2SignerOption); !ok || o != sm2.DefaultSM2SignerOpts {
			return nil, fmt.Errorf("an SM2 identity key signs the message itself with the default distinguishing ID (sm2.DefaultSM2SignerOpts), not with %T %v", opts, opts)
		}
	default:
		if opts.HashFunc() != 0 {
			return nil, errors.New("ed25519 signs the message itself, not a digest")
		}
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

// The signature algorithms of client certificates, as in the
// certificate's AlgorithmIdentifier.
var (
	// oidSignatureEd25519 is Ed25519 (RFC 8410), no parameters.
	oidSignatureEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
	// oidSignatureSM2WithSM3 is SM2-with-SM3 (GB/T 33560-2017 appendix
	// A), no parameters.
	oidSignatureSM2WithSM3 = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 501}
)

// VerifySignature checks that the certificate is signed by pub, the
// identity's registered key, with its scheme's signature algorithm:
// Ed25519 for an ed25519 key, SM2-with-SM3 (no parameters, in the
// TBSCertificate and outside it) for an SM2 key; then crypto.Verify checks
// the signature over RawTBSCertificate. Every refusal wraps ErrBadSig.
func VerifySignature(c *x509.Certificate, pub *pb.PublicKey) error {
	switch pub.GetScheme() {
	case pb.KeyScheme_KEY_SCHEME_ED25519:
		if c.SignatureAlgorithm != x509.PureEd25519 {
			return fmt.Errorf("%w: signed with %s, the identity's key is ed25519 (signature algorithm Ed25519, OID %s)",
				ErrBadSig, signatureAlgorithmName(c), oidSignatureEd25519)
		}
	case pb.KeyScheme_KEY_SCHEME_SM2:
		oid, params, err := signatureAlgorithm(c)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadSig, err)
		}
		if !oid.Equal(oidSignatureSM2WithSM3) {
			return fmt.Errorf("%w: signed with %s, the identity's key is SM2 (signature algorithm SM2-with-SM3, OID %s)",
				ErrBadSig, signatureAlgorithmName(c), oidSignatureSM2WithSM3)
		}
		if len(params) != 0 {
			return fmt.Errorf("%w: signature algorithm SM2-with-SM3 with parameters %x, it takes none", ErrBadSig, params)
		}
	default:
		return fmt.Errorf("%w: the identity's key scheme %s cannot sign client certificates (ed25519 and SM2 can)", ErrBadSig, crypto.SchemeName(pub.GetScheme()))
	}
	if err := crypto.Verify(pub, c.RawTBSCertificate, c.Signature); err != nil {
		if errors.Is(err, crypto.ErrBadSignature) {
			return fmt.Errorf("%w (a rotated-out key, or another identity's)", ErrBadSig)
		}
		return fmt.Errorf("%w: %w", ErrBadSig, err)
	}
	return nil
}

// signatureAlgorithm returns the OID and the DER parameters (empty when
// absent) of the AlgorithmIdentifier c is signed with. It reads it from
// the DER, both copies: the one in RawTBSCertificate (signed) and the one
// after it in Raw (not signed), which must be the same bytes
// (x509.ParseCertificate checks so too; a Certificate built otherwise may
// not), as must Raw's TBSCertificate and RawTBSCertificate.
func signatureAlgorithm(c *x509.Certificate) (asn1.ObjectIdentifier, []byte, error) {
	var cert, rawTBS, outerAI cryptobyte.String
	in := cryptobyte.String(c.Raw)
	if !in.ReadASN1(&cert, cbasn1.SEQUENCE) || !in.Empty() ||
		!cert.ReadASN1Element(&rawTBS, cbasn1.SEQUENCE) || !cert.ReadASN1Element(&outerAI, cbasn1.SEQUENCE) {
		return nil, nil, errors.New("certificate DER is not a SEQUENCE of a TBSCertificate and an AlgorithmIdentifier")
	}
	if !bytes.Equal(rawTBS, c.RawTBSCertificate) {
		return nil, nil, errors.New("the certificate's RawTBSCertificate is not the TBSCertificate of its DER")
	}
	var tbs, innerAI cryptobyte.String
	tbsIn := cryptobyte.String(c.RawTBSCertificate)
	if !tbsIn.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) || // version
		!tbs.SkipASN1(cbasn1.INTEGER) || // serialNumber
		!tbs.ReadASN1Element(&innerAI, cbasn1.SEQUENCE) {
		return nil, nil, errors.New("TBSCertificate has no signature AlgorithmIdentifier after its serial number")
	}
	if !bytes.Equal(innerAI, outerAI) {
		return nil, nil, fmt.Errorf("signature algorithm identifiers differ: %x in the TBSCertificate, %x outside it", []byte(innerAI), []byte(outerAI))
	}
	var ai cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !innerAI.ReadASN1(&ai, cbasn1.SEQUENCE) || !ai.ReadASN1ObjectIdentifier(&oid) {
		return nil, nil, fmt.Errorf("signature AlgorithmIdentifier %x has no OID", []byte(outerAI))
	}
	return oid, ai, nil
}

// signatureAlgorithmName names c's signature algorithm for an error: Go's
// name when it has one (Ed25519, ECDSA-SHA256, ...), SM2-with-SM3 and its
// OID, or the OID.
func signatureAlgorithmName(c *x509.Certificate) string {
	if c.SignatureAlgorithm != x509.UnknownSignatureAlgorithm {
		return c.SignatureAlgorithm.String()
	}
	oid, _, err := signatureAlgorithm(c)
	switch {
	case err != nil:
		return "an unreadable signature algorithm (" + err.Error() + ")"
	case oid.Equal(oidSignatureSM2WithSM3):
		return "SM2-with-SM3 (OID " + oid.String() + ")"
	}
	return "signature algorithm OID " + oid.String()
}
