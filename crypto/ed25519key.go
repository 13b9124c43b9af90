package crypto

import (
	"bytes"
	"encoding/hex"
	"fmt"

	"filippo.io/edwards25519"
)

// Ed25519 public keys: which encodings a key may have.
//
// ZIP-215 (see ed25519Scheme.verify) decides every signature the same way
// on every node, but it decides that a signature of 64 zero bytes (R the
// identity, S = 0) is valid for any message under a small-order key A: the
// cofactored equation [8][S]B = [8]R + [8][k]A holds because [8]A is the
// identity. A registered small-order key is therefore a key anyone can sign
// for. An honest Ed25519 key is A = [a]B for a clamped scalar a, a canonical
// encoding of a point of the prime-order subgroup; anything else is refused
// where a key enters (checkEd25519Key) and, cheaply, on every signature
// (quickCheckEd25519Key).

// fieldPrime is p = 2^255 - 19, little-endian: a y coordinate >= p is a
// non-canonical encoding of y - p.
var fieldPrime = [32]byte{
	0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
}

// smallOrderKeys are the encodings with y < p of the eight points of order
// 1, 2, 4 and 8: their eight canonical encodings and the two where x = 0
// and the sign bit is set (the identity's and the order-2 point's), which
// ZIP-215 decodes. With the y >= p encodings, which yCanonical refuses,
// they are every byte string that decodes to a small-order point
// (TestSmallOrderKeysComplete derives the list from the curve).
var smallOrderKeys = [][32]byte{
	mustKey("0100000000000000000000000000000000000000000000000000000000000000"), // identity
	mustKey("0100000000000000000000000000000000000000000000000000000000000080"), // identity, x = 0 with the sign bit
	mustKey("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), // order 2 (y = -1)
	mustKey("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"), // order 2, x = 0 with the sign bit
	mustKey("0000000000000000000000000000000000000000000000000000000000000000"), // order 4 (y = 0)
	mustKey("0000000000000000000000000000000000000000000000000000000000000080"), // order 4, the other x
	mustKey("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"), // order 8
	mustKey("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"), // order 8
	mustKey("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"), // order 8
	mustKey("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"), // order 8
}

func mustKey(h string) [32]byte {
	var k [32]byte
	if n, err := hex.Decode(k[:], []byte(h)); err != nil || n != len(k) {
		panic("crypto: bad small-order key literal " + h)
	}
	return k
}

// yCanonical reports whether the encoding's y coordinate (the low 255
// bits, little-endian) is below p.
func yCanonical(pub []byte) bool {
	var y [32]byte
	copy(y[:], pub)
	y[31] &= 0x7f
	for i := 31; i >= 0; i-- {
		if y[i] != fieldPrime[i] {
			return y[i] < fieldPrime[i]
		}
	}
	return false // y == p
}

// quickCheckEd25519Key refuses, with byte comparisons only, the keys a
// signature of zeros verifies under: every encoding of a small-order point
// and every encoding with y >= p. It runs on every Verify and batch entry.
func quickCheckEd25519Key(pub []byte) error {
	if !yCanonical(pub) {
		return fmt.Errorf("%w: ed25519 public key is not canonically encoded (y >= p)", ErrBadKey)
	}
	for i := range smallOrderKeys {
		if bytes.Equal(pub, smallOrderKeys[i][:]) {
			return fmt.Errorf("%w: ed25519 public key is a small-order point", ErrBadKey)
		}
	}
	return nil
}

// lMinusOne is the group order L minus one, the largest canonical scalar:
// [L-1]P + P is [L]P, the identity exactly when P has no small-order part.
var lMinusOne = func() *edwards25519.Scalar {
	// L - 1 = 2^252 + 27742317777372353535851937790883648492, little-endian.
	b := []byte{
		0xec, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
	}
	s, err := edwards25519.NewScalar().SetCanonicalBytes(b)
	if err != nil {
		panic("crypto: L-1 is not canonical: " + err.Error())
	}
	return s
}()

// checkEd25519Key is the full key check: quickCheckEd25519Key, then the
// bytes must decode to a curve point, be that point's canonical encoding
// (which also refuses x = 0 with the sign bit), and the point must lie in
// the prime-order subgroup. The last check costs a scalar multiplication
// (tens of microseconds), which is why it runs where keys enter and not on
// every signature; a key with a small-order component but a large-order
// part cannot be signed for without its discrete log, so skipping it in
// Verify forges nothing.
func checkEd25519Key(pub []byte) error {
	if err := quickCheckEd25519Key(pub); err != nil {
		return err
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return fmt.Errorf("%w: ed25519 public key is not a curve point", ErrBadKey)
	}
	if !bytes.Equal(p.Bytes(), pub) {
		return fmt.Errorf("%w: ed25519 public key is not canonically encoded", ErrBadKey)
	}
	q := new(edwards25519.Point).ScalarMult(lMinusOne, p)
	q.Add(q, p)
	if q.Equal(edwards25519.NewIdentityPoint()) != 1 {
		return fmt.Errorf("%w: ed25519 public key has a small-order component (not in the prime-order subgroup)", ErrBadKey)
	}
	return nil
}
