package crypto

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/hdevalence/ed25519consensus"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Errors callers test for.
var (
	// ErrBadSignature: the signature does not verify for this key and message.
	ErrBadSignature = errors.New("crypto: signature does not verify")
	// ErrUnknownScheme: the key names a scheme this build does not support.
	ErrUnknownScheme = errors.New("crypto: unknown key scheme")
	// ErrBadKey: the key bytes have the wrong size or form for the scheme.
	ErrBadKey = errors.New("crypto: malformed key")
)

// HashSize is the size of every hash govnode uses (SHA-256 and SM3 alike;
// Suite).
const HashSize = sha256.Size

// PrivateKey signs. Implementations are safe for concurrent use.
type PrivateKey interface {
	// Scheme is the key's scheme.
	Scheme() pb.KeyScheme
	// Public returns the public key; the caller may not modify it.
	Public() *pb.PublicKey
	// Sign signs msg, which is already the full sign bytes.
	Sign(msg []byte) ([]byte, error)
	// Bytes returns the private key's encoding for the key file.
	Bytes() []byte
}

// scheme is one signature scheme's implementation.
type scheme struct {
	name      string
	pubSize   int
	minSig    int // a signature's size bounds: precheck refuses any other
	maxSig    int // size (minSig == maxSig for a fixed-size encoding)
	generate  func(rand io.Reader) (PrivateKey, error)
	fromBytes func(b []byte) (PrivateKey, error)
	// checkKey is the full check of a public key where it enters the
	// system (a tx, genesis, a key file, a peer): it may do curve
	// arithmetic. The size has been checked.
	checkKey func(pub []byte) error
	// quickKeyCheck is the part of checkKey that Verify repeats on every
	// signature, so that a key that slipped past checkKey (state written
	// before the rule, a caller that skipped it) can still sign nothing a
	// degenerate key could forge. It must be cheap: no curve arithmetic.
	// The size has been checked.
	quickKeyCheck func(pub []byte) error
	verify        func(pub, msg, sig []byte) bool
	// verifyBatch, if set, reports whether every entry verifies. It must
	// never return true unless verify would accept each entry (with
	// overwhelming probability); on false, Batch finds the bad entries
	// with verify. Entries have passed precheck.
	verifyBatch func(es []*batchEntry) bool
}

// schemeOf is the fixed table of supported schemes.
func schemeOf(s pb.KeyScheme) (*scheme, error) {
	switch s {
	case pb.KeyScheme_KEY_SCHEME_ED25519:
		return &ed25519Scheme, nil
	case pb.KeyScheme_KEY_SCHEME_SM2:
		return &sm2Scheme, nil
	default:
		return nil, fmt.Errorf("%w: %v", ErrUnknownScheme, s)
	}
}

// SchemeByName maps a scheme's name ("ed25519", "sm2") to its id.
func SchemeByName(name string) (pb.KeyScheme, error) {
	switch name {
	case ed25519Scheme.name:
		return pb.KeyScheme_KEY_SCHEME_ED25519, nil
	case sm2Scheme.name:
		return pb.KeyScheme_KEY_SCHEME_SM2, nil
	default:
		return pb.KeyScheme_KEY_SCHEME_UNSPECIFIED, fmt.Errorf("%w: %q (this build knows %q and %q)",
			ErrUnknownScheme, name, ed25519Scheme.name, sm2Scheme.name)
	}
}

// SchemeName is the inverse of SchemeByName.
func SchemeName(s pb.KeyScheme) string {
	sc, err := schemeOf(s)
	if err != nil {
		return s.String()
	}
	return sc.name
}

// GenerateKey makes a new key of the scheme from rand (crypto/rand.Reader in
// production; a seeded reader in tests and simulations).
func GenerateKey(s pb.KeyScheme, rand io.Reader) (PrivateKey, error) {
	sc, err := schemeOf(s)
	if err != nil {
		return nil, err
	}
	return sc.generate(rand)
}

// PrivateKeyFromBytes decodes a private key written by PrivateKey.Bytes.
func PrivateKeyFromBytes(s pb.KeyScheme, b []byte) (PrivateKey, error) {
	sc, err := schemeOf(s)
	if err != nil {
		return nil, err
	}
	return sc.fromBytes(b)
}

// ValidatePublicKey checks that pub names a supported scheme, has the
// scheme's size and is a key an honest signer could hold: for Ed25519 a
// canonical encoding of a point of the prime-order subgroup, so never a
// small-order point (for which a signature of zeros verifies under
// ZIP-215's cofactored rule, on any message) nor one with a small-order
// component. Every place a key enters (txs, genesis, key files, peers)
// calls it; Verify repeats its cheap part on every signature.
func ValidatePublicKey(pub *pb.PublicKey) error {
	sc, err := sizeCheck(pub)
	if err != nil {
		return err
	}
	return sc.checkKey(pub.GetKey())
}

// sizeCheck checks pub's scheme and size and returns its scheme.
func sizeCheck(pub *pb.PublicKey) (*scheme, error) {
	if pub == nil {
		return nil, fmt.Errorf("%w: missing public key", ErrBadKey)
	}
	sc, err := schemeOf(pub.GetScheme())
	if err != nil {
		return nil, err
	}
	if len(pub.GetKey()) != sc.pubSize {
		return nil, fmt.Errorf("%w: %s public key is %d bytes, want %d", ErrBadKey, sc.name, len(pub.GetKey()), sc.pubSize)
	}
	return sc, nil
}

// Verify checks sig over msg (the full sign bytes) with pub. Its verdict is
// consensus-critical: every node must reach the same one for the same
// inputs, so each scheme pins one exact rule (Ed25519: ZIP-215, see
// ed25519Scheme) and Batch applies that same rule.
func Verify(pub *pb.PublicKey, msg, sig []byte) error {
	sc, err := precheck(pub, sig)
	if err != nil {
		return err
	}
	if !sc.verify(pub.GetKey(), msg, sig) {
		return ErrBadSignature
	}
	return nil
}

// precheck runs the checks that need no curve arithmetic: the key's scheme
// and size, the scheme's quick key check, the signature's size. It returns
// the key's scheme.
func precheck(pub *pb.PublicKey, sig []byte) (*scheme, error) {
	sc, err := sizeCheck(pub)
	if err != nil {
		return nil, err
	}
	if err := sc.quickKeyCheck(pub.GetKey()); err != nil {
		return nil, err
	}
	if len(sig) < sc.minSig || len(sig) > sc.maxSig {
		// A refused tx's result carries this text, and results are
		// hashed into the chain: a fixed-size scheme's wording is fixed.
		if sc.minSig == sc.maxSig {
			return nil, fmt.Errorf("%w: %d-byte signature, want %d", ErrBadSignature, len(sig), sc.minSig)
		}
		return nil, fmt.Errorf("%w: %d-byte %s signature, want %d to %d", ErrBadSignature, len(sig), sc.name, sc.minSig, sc.maxSig)
	}
	return sc, nil
}

// PublicKeyEqual reports whether a and b are the same key.
func PublicKeyEqual(a, b *pb.PublicKey) bool {
	return a.GetScheme() == b.GetScheme() && string(a.GetKey()) == string(b.GetKey())
}

// ---------------------------------------------------------------- ed25519

var ed25519Scheme = scheme{
	name:    "ed25519",
	pubSize: ed25519.PublicKeySize,
	minSig:  ed25519.SignatureSize,
	maxSig:  ed25519.SignatureSize,
	generate: func(rand io.Reader) (PrivateKey, error) {
		_, priv, err := ed25519.GenerateKey(rand)
		if err != nil {
			return nil, fmt.Errorf("generate ed25519 key: %w", err)
		}
		return newEd25519Key(priv), nil
	},
	fromBytes: func(b []byte) (PrivateKey, error) {
		switch len(b) {
		case ed25519.SeedSize:
			return newEd25519Key(ed25519.NewKeyFromSeed(b)), nil
		case ed25519.PrivateKeySize:
			priv := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
			if string(priv[ed25519.SeedSize:]) != string(b[ed25519.SeedSize:]) {
				return nil, fmt.Errorf("%w: ed25519 private key's public half does not match its seed", ErrBadKey)
			}
			return newEd25519Key(priv), nil
		default:
			return nil, fmt.Errorf("%w: ed25519 private key is %d bytes, want %d", ErrBadKey, len(b), ed25519.SeedSize)
		}
	},
	checkKey:      checkEd25519Key,
	quickKeyCheck: quickCheckEd25519Key,
	// ZIP-215 (zips.z.cash/zip-0215), not crypto/ed25519's rule: RFC 8032
	// leaves the edge cases (non-canonical encodings of A and R, small-order
	// points, the cofactor) to the implementation, and libraries differ, so
	// nodes on different libraries or versions could split on a crafted
	// signature. ZIP-215 fixes each case: S must be canonical (S < L); A and
	// R may be any encoding of a curve point, canonical or not; the check is
	// the cofactored equation [8][S]B = [8]R + [8][k]A. The cofactored
	// equation is also the one a batch checks, so a batch and a single
	// verification cannot disagree. Signatures made by an honest signer
	// verify under both rules. ZIP-215 itself accepts small-order and
	// non-canonical A; quickKeyCheck refuses those keys before this runs
	// (see checkEd25519Key), the same way on every node and in batches.
	verify: func(pub, msg, sig []byte) bool {
		return ed25519consensus.Verify(ed25519.PublicKey(pub), msg, sig)
	},
	verifyBatch: func(es []*batchEntry) bool {
		bv := ed25519consensus.NewPreallocatedBatchVerifier(len(es))
		for _, e := range es {
			bv.Add(ed25519.PublicKey(e.pub), e.msg, e.sig)
		}
		return bv.Verify()
	},
}

type ed25519Key struct {
	priv ed25519.PrivateKey
	pub  *pb.PublicKey
}

func newEd25519Key(priv ed25519.PrivateKey) *ed25519Key {
	pub := priv.Public().(ed25519.PublicKey)
	return &ed25519Key{priv: priv, pub: &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_ED25519, Key: []byte(pub)}}
}

func (k *ed25519Key) Scheme() pb.KeyScheme  { return pb.KeyScheme_KEY_SCHEME_ED25519 }
func (k *ed25519Key) Public() *pb.PublicKey { return k.pub }
func (k *ed25519Key) Bytes() []byte         { return append([]byte(nil), k.priv.Seed()...) }
func (k *ed25519Key) Sign(msg []byte) ([]byte, error) {
	return ed25519.Sign(k.priv, msg), nil
}
