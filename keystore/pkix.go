package keystore

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Key import and export in the standard forms other tools read and write
// (OpenSSL 3: PKCS#8 private keys, PKIX public keys). They live here, not
// in package crypto, because X.509 parsing brings in package net, which
// the light client's WebAssembly build must not depend on.

// sm2ScalarSize is the size of an SM2 private scalar.
const sm2ScalarSize = 32

// sm2Point is the 65-byte uncompressed encoding 04 || X || Y of pk.
func sm2Point(pk *ecdsa.PublicKey) []byte {
	b := make([]byte, 65)
	b[0] = 4
	pk.X.FillBytes(b[1:33])
	pk.Y.FillBytes(b[33:])
	return b
}

// ErrNotSM2Key: a PKCS#8 key of another algorithm or curve than SM2.
var ErrNotSM2Key = errors.New("keystore: not an SM2 private key")

// ParsePKCS8SM2 reads an unencrypted PKCS#8 SM2 private key (DER; the
// content of a "PRIVATE KEY" PEM block), as `openssl genpkey -algorithm SM2`
// writes it: id-ecPublicKey or the SM2 algorithm id, on the SM2 curve.
// A key of another algorithm or curve is refused with ErrNotSM2Key naming
// what it is.
func ParsePKCS8SM2(der []byte) (crypto.PrivateKey, error) {
	key, err := smx509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: not a PKCS#8 private key: %v", crypto.ErrBadKey, err)
	}
	var priv *sm2.PrivateKey
	switch k := key.(type) {
	case *sm2.PrivateKey:
		priv = k
	case *ecdsa.PrivateKey:
		return nil, fmt.Errorf("%w: an EC key on curve %s", ErrNotSM2Key, k.Curve.Params().Name)
	case ed25519.PrivateKey:
		return nil, fmt.Errorf("%w: an Ed25519 key", ErrNotSM2Key)
	default:
		return nil, fmt.Errorf("%w: a %T", ErrNotSM2Key, key)
	}
	// Through the scalar: the same range check (1 <= d <= n-2) as a key
	// file's, and a key of package crypto's own type.
	if priv.D.BitLen() > 8*sm2ScalarSize {
		return nil, fmt.Errorf("%w: sm2 private key is not a scalar in [1, n-2]", crypto.ErrBadKey)
	}
	d := priv.D.FillBytes(make([]byte, sm2ScalarSize))
	defer clear(d)
	return crypto.PrivateKeyFromBytes(pb.KeyScheme_KEY_SCHEME_SM2, d)
}

// MarshalPKIXPublicKey returns pub as a DER SubjectPublicKeyInfo, the
// content of the "PUBLIC KEY" PEM block OpenSSL reads (`openssl pkey -pubin`,
// `pkeyutl -verify -pubin`): for SM2, id-ecPublicKey with the SM2 curve's
// OID (1.2.156.10197.1.301), as OpenSSL 3 writes it; for Ed25519, RFC 8410's
// id-Ed25519. The key is checked (crypto.ValidatePublicKey) first.
func MarshalPKIXPublicKey(pub *pb.PublicKey) ([]byte, error) {
	if err := crypto.ValidatePublicKey(pub); err != nil {
		return nil, err
	}
	switch pub.GetScheme() {
	case pb.KeyScheme_KEY_SCHEME_SM2:
		pk, err := sm2.NewPublicKey(pub.GetKey())
		if err != nil {
			return nil, fmt.Errorf("%w: %v", crypto.ErrBadKey, err)
		}
		return smx509.MarshalPKIXPublicKey(pk)
	case pb.KeyScheme_KEY_SCHEME_ED25519:
		return x509.MarshalPKIXPublicKey(ed25519.PublicKey(pub.GetKey()))
	}
	return nil, fmt.Errorf("%w: %s keys have no PKIX encoding here", crypto.ErrUnknownScheme, crypto.SchemeName(pub.GetScheme()))
}

// ParsePKIXPublicKey reads a DER SubjectPublicKeyInfo (the content of a
// "PUBLIC KEY" PEM block, as `openssl pkey -pubout` writes it) holding an
// SM2 or Ed25519 key, and returns it checked (crypto.ValidatePublicKey). It is
// MarshalPKIXPublicKey's inverse.
func ParsePKIXPublicKey(der []byte) (*pb.PublicKey, error) {
	key, err := smx509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: not a PKIX public key: %v", crypto.ErrBadKey, err)
	}
	var pub *pb.PublicKey
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if !sm2.IsSM2PublicKey(k) {
			return nil, fmt.Errorf("%w: an EC key on curve %s, neither sm2 nor ed25519", crypto.ErrUnknownScheme, k.Curve.Params().Name)
		}
		pub = &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_SM2, Key: sm2Point(k)}
	case ed25519.PublicKey:
		pub = &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_ED25519, Key: []byte(k)}
	default:
		return nil, fmt.Errorf("%w: a %T public key, neither sm2 nor ed25519", crypto.ErrUnknownScheme, key)
	}
	if err := crypto.ValidatePublicKey(pub); err != nil {
		return nil, err
	}
	return pub, nil
}
