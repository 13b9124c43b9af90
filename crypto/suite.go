package crypto

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"

	"github.com/emmansun/gmsm/sm3"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Suite is a chain's crypto suite (ARCHITECTURE.md §6, "Crypto suites"):
// its one signature scheme and its one hash, fixed at genesis
// (GenesisDoc.crypto_suite) and named in every header. One binary serves
// both; everything that hashes chain data (tx and block hashes, tx and
// result roots, the state tree and its proofs, the genesis hash, payload
// and bid commitments) takes the chain's Suite. Signatures need none: a
// public key carries its scheme, and where a key enters the chain
// (genesis, txs, membership) CheckKey refuses one of another scheme.
//
// The zero Suite is Ed25519SHA256, the suite of every chain whose genesis
// names none (every chain made before suites existed).
type Suite uint8

// The suites. Both hashes are 32 bytes (HashSize).
const (
	// Ed25519SHA256: Ed25519 (ZIP-215) signatures, SHA-256 hashes.
	Ed25519SHA256 Suite = iota
	// SM2SM3: SM2 signatures (GB/T 32918, standard distinguishing ID),
	// SM3 hashes (GB/T 32905): the 国密 suite.
	SM2SM3
)

// Suite names, as written in genesis and shown by status.
const (
	SuiteNameEd25519SHA256 = "ed25519-sha256"
	SuiteNameSM2SM3        = "sm2-sm3"
)

// ErrUnknownSuite: a genesis or flag names a suite this binary does not know.
var ErrUnknownSuite = errors.New("crypto: unknown crypto suite")

// ErrWrongScheme: a key of another scheme than the chain's suite.
var ErrWrongScheme = errors.New("crypto: key scheme does not match the chain's crypto suite")

// SuiteByName maps a suite's name to the Suite; the empty name is
// Ed25519SHA256 (a genesis written before suites).
func SuiteByName(name string) (Suite, error) {
	switch name {
	case "", SuiteNameEd25519SHA256:
		return Ed25519SHA256, nil
	case SuiteNameSM2SM3:
		return SM2SM3, nil
	}
	return 0, fmt.Errorf("%w %q: this binary knows %q and %q", ErrUnknownSuite, name, SuiteNameEd25519SHA256, SuiteNameSM2SM3)
}

// String is the suite's name.
func (s Suite) String() string {
	switch s {
	case Ed25519SHA256:
		return SuiteNameEd25519SHA256
	case SM2SM3:
		return SuiteNameSM2SM3
	}
	return fmt.Sprintf("suite(%d)", uint8(s))
}

// Valid reports whether s is a suite this binary knows.
func (s Suite) Valid() bool { return s == Ed25519SHA256 || s == SM2SM3 }

// HeaderName is what a header's crypto_suite holds on a chain of this
// suite: empty for Ed25519SHA256, so that the headers of chains made
// before suites keep their hashes.
func (s Suite) HeaderName() string {
	if s == Ed25519SHA256 {
		return ""
	}
	return s.String()
}

// Scheme is the signature scheme of every key on a chain of this suite.
func (s Suite) Scheme() pb.KeyScheme {
	if s == SM2SM3 {
		return pb.KeyScheme_KEY_SCHEME_SM2
	}
	return pb.KeyScheme_KEY_SCHEME_ED25519
}

// CheckKey refuses a key of another scheme than the suite's, then checks
// it fully (ValidatePublicKey). what names the key in the error.
func (s Suite) CheckKey(what string, pub *pb.PublicKey) error {
	if pub != nil && pub.GetScheme() != s.Scheme() {
		return fmt.Errorf("%s: %w: a %s key on a %s chain, which takes %s keys", what, ErrWrongScheme,
			SchemeName(pub.GetScheme()), s, SchemeName(s.Scheme()))
	}
	if err := ValidatePublicKey(pub); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Sum256 returns the suite hash of b as an array.
func (s Suite) Sum256(b []byte) [HashSize]byte {
	if s == SM2SM3 {
		return sm3.Sum(b)
	}
	return sha256.Sum256(b)
}

// Hash returns the suite hash of b.
func (s Suite) Hash(b []byte) []byte {
	h := s.Sum256(b)
	return h[:]
}

// New returns a new hash.Hash of the suite's hash.
func (s Suite) New() hash.Hash {
	if s == SM2SM3 {
		return sm3.New()
	}
	return sha256.New()
}

// SuiteOfScheme is the suite whose keys are of scheme s: every key on a
// chain is of its suite's scheme, so a signer's key names the suite its
// txs are hashed with.
func SuiteOfScheme(s pb.KeyScheme) (Suite, error) {
	switch s {
	case pb.KeyScheme_KEY_SCHEME_ED25519:
		return Ed25519SHA256, nil
	case pb.KeyScheme_KEY_SCHEME_SM2:
		return SM2SM3, nil
	}
	return 0, fmt.Errorf("%w: no crypto suite has %s keys", ErrUnknownScheme, SchemeName(s))
}
