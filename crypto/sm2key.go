package crypto

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/hmac"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/big"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// SM2 keys and signatures: the signature scheme of an "sm2-sm3" chain
// (ARCHITECTURE.md §6 "Crypto suites"; proto KEY_SCHEME_SM2).
//
// On chain, a public key is the 65-byte uncompressed point 04 || X || Y of
// the SM2 recommended curve (GB/T 32918.5), and a signature is the DER
// SEQUENCE { r, s } over e = SM3(Z_A || sign bytes), Z_A computed with the
// standard distinguishing ID "1234567812345678" (GB/T 32918.2, GM/T 0009).
// That is what OpenSSL 3 (`-digest sm3 -pkeyopt distid:1234567812345678`),
// GmSSL and the Go library used here (github.com/emmansun/gmsm, pinned in
// go.mod) make and check, so keys and signatures move between them;
// crypto/openssl_test.go checks it both ways.
//
// # One verification rule
//
// Which encodings of (r, s) a signature may have is part of the verdict: a
// second encoding of a valid signature is malleability (another tx hash for
// the same signed tx), and a rule left to a library's ASN.1 parser could
// change with the library and split nodes of different versions. gmsm
// v0.34.1's parser happens to be strict; verify does not rely on it: it
// first requires strict DER itself (sm2StrictDER): the bytes must be
// exactly the minimal encoding of a SEQUENCE of two INTEGERs with
// 0 < r, s < n, nothing after it; only then does gmsm check the equation.
// Everything an honest signer (gmsm, OpenSSL) writes passes.
// The curve's cofactor is 1, so every curve point but the point at infinity
// (which has no 65-byte encoding) lies in the prime-order group: the full
// key check is "04, coordinates below p, on the curve" (gmsm's
// sm2.NewPublicKey), and there is no small-order key to refuse. verify runs
// that check again on every signature (it costs a few field operations
// beside two scalar multiplications), so quickKeyCheck only looks at the
// prefix.
//
// # Deterministic signing
//
// SM2 signing needs a secret nonce k per signature. gmsm reads it from the
// io.Reader it is given; govnode's consensus core and simulator take no
// randomness of their own, and the same key signing the same bytes must give
// the same signature on every run. So Sign gives gmsm a nonceReader: the
// HMAC-DRBG of RFC 6979 §3.2 with HMAC-SM3, seeded with the private key d
// and the digest e. k is then a secret, uniformly distributed function of
// (d, e): unpredictable without d, and different for different messages, so
// none of the nonce failures that leak an (EC)DSA or SM2 key (a repeated k,
// a predictable or biased k) can occur, without a random source to trust.
// Verifiers cannot tell such a signature from a randomised one.

// sm2KeySize is the size of an SM2 private scalar and of each coordinate.
const sm2KeySize = 32

// SM2 signature sizes: the DER SEQUENCE of two positive INTEGERs below n
// (256 bits), each 1 to 33 content bytes (a leading zero when the top bit
// is set) after 2 bytes of tag and length, and 2 bytes of SEQUENCE header.
const (
	sm2MinSig = 2 + 2*(2+1)
	sm2MaxSig = 2 + 2*(2+sm2KeySize+1)
)

// sm2N is the order n of the SM2 recommended curve's base point.
var sm2N = sm2.P256().Params().N

var sm2Scheme = scheme{
	name:    "sm2",
	pubSize: 1 + 2*sm2KeySize,
	minSig:  sm2MinSig,
	maxSig:  sm2MaxSig,
	// generate reads 32 bytes at a time and keeps the first that is a
	// valid scalar (1 <= d <= n-2, GB/T 32918.1), so a seeded reader gives
	// the same key every time. sm2.GenerateKey would not: it reads a byte
	// or not at random first (gmsm's randutil.MaybeReadByte). A value out
	// of range has probability about 2^-32.
	generate: func(rand io.Reader) (PrivateKey, error) {
		b := make([]byte, sm2KeySize)
		defer clear(b)
		for range 64 {
			if _, err := io.ReadFull(rand, b); err != nil {
				return nil, fmt.Errorf("generate sm2 key: %w", err)
			}
			if priv, err := sm2.NewPrivateKey(b); err == nil {
				return newSM2Key(priv), nil
			}
		}
		return nil, errors.New("generate sm2 key: 64 draws from the random source were none of them a valid scalar: the source is broken")
	},
	fromBytes: func(b []byte) (PrivateKey, error) {
		if len(b) != sm2KeySize {
			return nil, fmt.Errorf("%w: sm2 private key is %d bytes, want %d", ErrBadKey, len(b), sm2KeySize)
		}
		priv, err := sm2.NewPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("%w: sm2 private key is not a scalar in [1, n-2]", ErrBadKey)
		}
		return newSM2Key(priv), nil
	},
	checkKey:      checkSM2Key,
	quickKeyCheck: quickCheckSM2Key,
	verify:        verifySM2,
	// No verifyBatch: SM2 has no batch equation. Batch.Verify spreads SM2
	// entries over its workers and verifies each alone.
}

// quickCheckSM2Key refuses a key that is not an uncompressed point
// encoding, with a byte comparison.
func quickCheckSM2Key(pub []byte) error {
	if pub[0] != 0x04 {
		return fmt.Errorf("%w: sm2 public key does not start with 04 (an uncompressed point)", ErrBadKey)
	}
	return nil
}

// checkSM2Key is the full key check: an uncompressed encoding of a point of
// the SM2 curve with both coordinates below p. Cofactor 1: such a point is
// in the prime-order group.
func checkSM2Key(pub []byte) error {
	if err := quickCheckSM2Key(pub); err != nil {
		return err
	}
	pk, err := sm2.NewPublicKey(pub)
	if err != nil {
		return fmt.Errorf("%w: sm2 public key is not a point of the SM2 curve", ErrBadKey)
	}
	if !bytes.Equal(sm2PointBytes(pk), pub) {
		return fmt.Errorf("%w: sm2 public key is not canonically encoded", ErrBadKey)
	}
	return nil
}

// verifySM2 is the SM2 verification rule: strict DER, a valid key, then
// GB/T 32918.2's check with the default distinguishing ID.
func verifySM2(pub, msg, sig []byte) bool {
	if !sm2StrictDER(sig) {
		return false
	}
	pk, err := sm2.NewPublicKey(pub)
	if err != nil {
		return false
	}
	return sm2.VerifyASN1WithSM2(pk, nil, msg, sig)
}

// sm2StrictDER reports whether sig is exactly the DER encoding of
// SEQUENCE { INTEGER r, INTEGER s } with 0 < r, s < n: cryptobyte parses it
// as gmsm does (minimal lengths, minimal non-negative INTEGERs, nothing
// after the SEQUENCE), the minimal re-encoding of (r, s) must be the input
// byte for byte, and r and s must lie in [1, n-1].
func sm2StrictDER(sig []byte) bool {
	var inner cryptobyte.String
	var r, s []byte
	input := cryptobyte.String(sig)
	if !input.ReadASN1(&inner, cbasn1.SEQUENCE) || !input.Empty() ||
		!inner.ReadASN1Integer(&r) || !inner.ReadASN1Integer(&s) || !inner.Empty() {
		return false
	}
	for _, v := range [][]byte{r, s} {
		n := new(big.Int).SetBytes(v)
		if n.Sign() == 0 || n.Cmp(sm2N) >= 0 {
			return false
		}
	}
	enc, err := sm2EncodeSignature(r, s)
	return err == nil && bytes.Equal(enc, sig)
}

// sm2EncodeSignature is the DER encoding of (r, s), given as big-endian
// magnitudes (leading zeros allowed).
func sm2EncodeSignature(r, s []byte) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, v := range [][]byte{r, s} {
			b.AddASN1BigInt(new(big.Int).SetBytes(v))
		}
	})
	return b.Bytes()
}

// sm2PointBytes is the 65-byte uncompressed encoding of pk.
func sm2PointBytes(pk *ecdsa.PublicKey) []byte {
	out := make([]byte, 1+2*sm2KeySize)
	out[0] = 0x04
	pk.X.FillBytes(out[1 : 1+sm2KeySize])
	pk.Y.FillBytes(out[1+sm2KeySize:])
	return out
}

type sm2Key struct {
	priv *sm2.PrivateKey
	pub  *pb.PublicKey
}

func newSM2Key(priv *sm2.PrivateKey) *sm2Key {
	return &sm2Key{priv: priv, pub: &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_SM2, Key: sm2PointBytes(&priv.PublicKey)}}
}

func (k *sm2Key) Scheme() pb.KeyScheme  { return pb.KeyScheme_KEY_SCHEME_SM2 }
func (k *sm2Key) Public() *pb.PublicKey { return k.pub }

// Bytes is the private scalar d, 32 bytes big-endian.
func (k *sm2Key) Bytes() []byte { return k.priv.D.FillBytes(make([]byte, sm2KeySize)) }

// Sign signs msg deterministically: e = SM3(Z_A || msg) with the default
// distinguishing ID, and the nonce from sm2NonceReader(d, e).
func (k *sm2Key) Sign(msg []byte) ([]byte, error) {
	e, err := sm2.CalculateSM2Hash(&k.priv.PublicKey, msg, nil)
	if err != nil {
		return nil, fmt.Errorf("sm2 sign: %w", err)
	}
	d := k.Bytes()
	defer clear(d)
	nonces := newSM2NonceReader(d, e)
	defer nonces.clear()
	// nil opts: e is the digest to sign, gmsm hashes nothing more.
	sig, err := sm2.SignASN1(nonces, k.priv, e, nil)
	if err != nil {
		return nil, fmt.Errorf("sm2 sign: %w", err)
	}
	return sig, nil
}

// sm2NonceReader is the nonce source of deterministic SM2 signing: RFC 6979
// §3.2's HMAC-DRBG with HMAC-SM3 (hlen = qlen = 256) for the SM2 order n,
// seeded with int2octets(d) and bits2octets(e) (see nonceReader).
func newSM2NonceReader(d, e []byte) *nonceReader {
	return newNonceReader(sm3.New, sm2N, d, e)
}

// nonceReader is RFC 6979 §3.2's generation of k as an io.Reader, for a
// hash of hlen bits and a group order q of qlen = hlen bits (SM3 and SM2;
// SHA-256 and P-256 in its test). Each Read of more than one byte returns
// one candidate k (RFC 6979 step h): the first Read the first candidate,
// each later Read the next (after step h.3's K and V update), which is what
// gmsm does when it rejects a candidate (k >= n, or r = 0, or r + k = n, or
// s = 0): read again. For a read of hlen/8 bytes the first candidate is
// RFC 6979's k exactly.
//
// A 1-byte Read returns a zero byte and leaves the state alone: gmsm calls
// randutil.MaybeReadByte, which reads one byte or none at random, to keep
// callers from relying on determinism; with this reader the output is the
// same either way.
type nonceReader struct {
	h     func() hash.Hash
	k, v  []byte // RFC 6979's K and V
	drawn bool   // a candidate was returned: the next one needs step h.3
}

// newNonceReader seeds the DRBG (RFC 6979 §3.2 steps b to g) with the
// private key x (qlen/8 bytes, big-endian: int2octets) and the message
// digest h1 (hlen/8 bytes).
func newNonceReader(h func() hash.Hash, q *big.Int, x, h1 []byte) *nonceReader {
	// bits2octets(h1): h1 as an integer (qlen = hlen: no shift), reduced
	// mod q, in qlen/8 bytes.
	z := new(big.Int).SetBytes(h1)
	z.Mod(z, q)
	zo := z.FillBytes(make([]byte, len(x)))
	size := h().Size()
	r := &nonceReader{h: h, k: make([]byte, size), v: bytes.Repeat([]byte{0x01}, size)}
	for _, sep := range []byte{0x00, 0x01} {
		r.k = r.mac(r.v, []byte{sep}, x, zo) // K = HMAC_K(V || sep || int2octets(x) || bits2octets(h1))
		r.v = r.mac(r.v)                     // V = HMAC_K(V)
	}
	return r
}

// mac is HMAC keyed by K over the concatenation of parts.
func (r *nonceReader) mac(parts ...[]byte) []byte {
	m := hmac.New(r.h, r.k)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// Read fills p with the next candidate; see nonceReader.
func (r *nonceReader) Read(p []byte) (int, error) {
	if len(p) == 1 {
		p[0] = 0
		return 1, nil
	}
	if r.drawn {
		r.k = r.mac(r.v, []byte{0x00}) // K = HMAC_K(V || 0x00)
		r.v = r.mac(r.v)               // V = HMAC_K(V)
	}
	r.drawn = true
	for n := 0; n < len(p); {
		r.v = r.mac(r.v)
		n += copy(p[n:], r.v)
	}
	return len(p), nil
}

// clear wipes the DRBG state, which is derived from the private key.
func (r *nonceReader) clear() {
	clear(r.k)
	clear(r.v)
}
