package crypto_test

import (
	"crypto/ed25519"
	"crypto/sha512"
	"errors"
	"slices"
	"testing"

	"filippo.io/edwards25519"

	"github.com/govnode/govnode/crypto"
)

// smallOrderPoints returns the eight points of order dividing 8, from the
// order-8 point of smallOrderEncodings[1].
func smallOrderPoints(t *testing.T) []*edwards25519.Point {
	t.Helper()
	t8, err := new(edwards25519.Point).SetBytes(mustHex(t, smallOrderEncodings[1]))
	if err != nil {
		t.Fatal(err)
	}
	pts := []*edwards25519.Point{edwards25519.NewIdentityPoint()}
	for i := 1; i < 8; i++ {
		pts = append(pts, new(edwards25519.Point).Add(pts[i-1], t8))
	}
	if new(edwards25519.Point).Add(pts[7], t8).Equal(edwards25519.NewIdentityPoint()) != 1 {
		t.Fatal("[8]T is not the identity")
	}
	for i := 1; i < 8; i++ {
		if pts[i].Equal(pts[0]) == 1 {
			t.Fatalf("[%d]T is the identity: T is not of order 8", i)
		}
	}
	return pts
}

// Every byte string that decodes to a small-order point is refused as a
// key, by Verify's quick check as well as by ValidatePublicKey. The
// encodings of a point are its canonical one, with the sign bit flipped
// (decodable only where x = 0), and y + p where that is below 2^255; the
// test derives them from the curve rather than trusting the list.
func TestSmallOrderKeysComplete(t *testing.T) {
	p := mustHex(t, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
	addP := func(y []byte) ([]byte, bool) { // y + p, if it fits in 255 bits
		out := make([]byte, 32)
		carry := 0
		for i := range out {
			v := int(y[i]) + int(p[i]) + carry
			out[i], carry = byte(v), v>>8
		}
		return out, carry == 0 && out[31]&0x80 == 0
	}
	var encodings [][]byte
	for _, pt := range smallOrderPoints(t) {
		c := pt.Bytes()
		y := slices.Clone(c)
		y[31] &= 0x7f
		cands := [][]byte{c}
		if yp, ok := addP(y); ok {
			cands = append(cands, yp)
		}
		for _, cand := range slices.Clone(cands) {
			flipped := slices.Clone(cand)
			flipped[31] ^= 0x80
			cands = append(cands, flipped)
		}
		for _, cand := range cands {
			q, err := new(edwards25519.Point).SetBytes(cand)
			if err != nil || q.Equal(pt) != 1 {
				continue // not an encoding of this point
			}
			encodings = append(encodings, cand)
		}
	}
	if len(encodings) != len(smallOrderEncodings) {
		t.Errorf("derived %d encodings of small-order points, ZIP-215 lists %d", len(encodings), len(smallOrderEncodings))
	}
	good := randomCases(t, 1)[0]
	for _, enc := range encodings {
		pub := ed25519Pub(enc)
		if err := crypto.ValidatePublicKey(pub); !errors.Is(err, crypto.ErrBadKey) {
			t.Errorf("ValidatePublicKey(%x) = %v, want ErrBadKey", enc, err)
		}
		if err := crypto.Verify(pub, good.msg, good.sig); !errors.Is(err, crypto.ErrBadKey) {
			t.Errorf("Verify with key %x = %v, want ErrBadKey", enc, err)
		}
	}
}

// The attack that was found: a key of zeros (or the identity) registered
// for an official, and a signature of 64 zero bytes (or R the identity and
// S = 0) on any tx. ZIP-215's equation accepts both; Verify and every
// batch must refuse them.
func TestZeroSignatureForgeryRefused(t *testing.T) {
	msg := crypto.TxSignBytes("chain-a", []byte("create land title as dept0-official"))
	identity := mustHex(t, smallOrderEncodings[0])
	var cs []sigCase
	for _, key := range [][]byte{make([]byte, 32), identity} {
		for _, sig := range [][]byte{make([]byte, 64), append(slices.Clone(identity), make([]byte, 32)...)} {
			cs = append(cs, sigCase{name: "forged", pub: ed25519Pub(key), msg: msg, sig: sig})
		}
	}
	for i, v := range checkBatchMatchesSingle(t, cs) {
		if !errors.Is(v, crypto.ErrBadKey) {
			t.Errorf("case %d: %v, want ErrBadKey", i, v)
		}
	}
}

// ValidatePublicKey, where keys enter, also refuses what the quick check
// lets through: bytes that are no curve point are left to the equation,
// but non-canonical encodings and points with a small-order component are
// refused here.
func TestValidatePublicKey(t *testing.T) {
	honest := newKey(t, 1).Public()
	if err := crypto.ValidatePublicKey(honest); err != nil {
		t.Fatalf("honest key refused: %v", err)
	}
	for seed := range uint64(50) {
		if err := crypto.ValidatePublicKey(newKey(t, seed).Public()); err != nil {
			t.Fatalf("key of seed %d refused: %v", seed, err)
		}
	}
	a, err := new(edwards25519.Point).SetBytes(honest.GetKey())
	if err != nil {
		t.Fatal(err)
	}
	t4 := smallOrderPoints(t)[2]
	mixed := new(edwards25519.Point).Add(a, t4).Bytes()
	cases := map[string][]byte{
		"mixed order (A + T4)":        mixed,
		"off the curve (y = 2)":       mustHex(t, "0200000000000000000000000000000000000000000000000000000000000000"),
		"y = p + 3, non-canonical":    nonCanonicalLargeOrder(t),
		"all ones (y >= p, sign set)": mustHex(t, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
	}
	for name, key := range cases {
		if err := crypto.ValidatePublicKey(ed25519Pub(key)); !errors.Is(err, crypto.ErrBadKey) {
			t.Errorf("%s: %v, want ErrBadKey", name, err)
		}
	}
}

// nonCanonicalLargeOrder finds y in [2, 18] on the curve whose point is not
// small-order, and returns its encoding y + p (non-canonical, below 2^255).
func nonCanonicalLargeOrder(t *testing.T) []byte {
	t.Helper()
	for y := byte(2); y < 19; y++ {
		canon := make([]byte, 32)
		canon[0] = y
		pt, err := new(edwards25519.Point).SetBytes(canon)
		if err != nil {
			continue
		}
		if new(edwards25519.Point).MultByCofactor(pt).Equal(edwards25519.NewIdentityPoint()) == 1 {
			continue
		}
		enc := mustHex(t, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
		enc[0] += y // 0xed + y <= 0xff for y <= 18: no carry
		if q, err := new(edwards25519.Point).SetBytes(enc); err != nil || q.Equal(pt) != 1 {
			t.Fatalf("y = p+%d does not decode to the point of y = %d", y, y)
		}
		return enc
	}
	t.Fatal("no y in [2, 18] is on the curve")
	return nil
}

// A signature whose R has a small-order component (R = [r]B + T) by an
// honest key: valid under ZIP-215's cofactored equation, invalid under
// crypto/ed25519's cofactorless one. Single and batch verification agree
// that it is valid, which is what ZIP-215 pins.
func TestMixedOrderRAccepted(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = 7
	priv := ed25519.NewKeyFromSeed(seed)
	h := sha512.Sum512(seed)
	s, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	aBytes := priv.Public().(ed25519.PublicKey)
	var cs []sigCase
	for i, tp := range smallOrderPoints(t)[1:] {
		msg := crypto.TxSignBytes("chain-a", []byte{byte(i)})
		nonce := sha512.Sum512(append([]byte("nonce"), byte(i)))
		r, err := edwards25519.NewScalar().SetUniformBytes(nonce[:])
		if err != nil {
			t.Fatal(err)
		}
		rPt := new(edwards25519.Point).ScalarBaseMult(r)
		rPt.Add(rPt, tp)
		rEnc := rPt.Bytes()
		kh := sha512.New()
		kh.Write(rEnc)
		kh.Write(aBytes)
		kh.Write(msg)
		k, err := edwards25519.NewScalar().SetUniformBytes(kh.Sum(nil))
		if err != nil {
			t.Fatal(err)
		}
		sSig := edwards25519.NewScalar().MultiplyAdd(k, s, r)
		sig := slices.Concat(rEnc, sSig.Bytes())
		if ed25519.Verify(aBytes, msg, sig) {
			t.Fatalf("crypto/ed25519 accepts R with a small-order part %d: the case shows nothing", i+1)
		}
		cs = append(cs, sigCase{name: "mixed R", pub: ed25519Pub(aBytes), msg: msg, sig: sig})
	}
	for i, v := range checkBatchMatchesSingle(t, cs) {
		if v != nil {
			t.Errorf("R with small-order part [%d]T: %v, want valid (ZIP-215)", i+1, v)
		}
	}
}
