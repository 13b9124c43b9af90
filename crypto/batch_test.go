package crypto_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"slices"
	"testing"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// smallOrderEncodings are the 14 byte strings that ZIP-215's test vectors
// combine: the 8 canonical encodings of the points of order 1, 2, 4 and 8,
// and the 6 non-canonical ones that exist for them (a y coordinate >= p, or
// x = 0 with the sign bit set). Source: ZIP-215 (zips.z.cash/zip-0215),
// the 196 cases of github.com/hdevalence/ed25519consensus zip215_test.go
// (v0.2.0), which are every (A, R) pair of these with S = 0 and the
// message "Zcash".
var smallOrderEncodings = []string{
	"0100000000000000000000000000000000000000000000000000000000000000", // identity
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"0000000000000000000000000000000000000000000000000000000000000080", // order 4, x = 0 sign bit set: non-canonical
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2 (y = -1)
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
	"0000000000000000000000000000000000000000000000000000000000000000", // order 4
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
	"0100000000000000000000000000000000000000000000000000000000000080", // identity, sign bit set: non-canonical
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // order 2, sign bit set: non-canonical
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p (= 0): non-canonical
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p, sign bit set: non-canonical
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p+1 (= 1): non-canonical
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p+1, sign bit set: non-canonical
}

type sigCase struct {
	name     string
	pub      *pb.PublicKey
	msg, sig []byte
}

func ed25519Pub(key []byte) *pb.PublicKey {
	return &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_ED25519, Key: key}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// zip215Cases generates the 196 ZIP-215 vectors; every one is valid under
// ZIP-215.
func zip215Cases(t testing.TB) []sigCase {
	var cs []sigCase
	for i, a := range smallOrderEncodings {
		for j, r := range smallOrderEncodings {
			sig := append(mustHex(t, r), make([]byte, 32)...) // S = 0
			cs = append(cs, sigCase{name: fmt.Sprintf("A%d/R%d", i, j), pub: ed25519Pub(mustHex(t, a)), msg: []byte("Zcash"), sig: sig})
		}
	}
	return cs
}

// randomCases returns n signatures by seeded keys over distinct messages;
// the ones whose index is in bad are corrupted in one of several ways.
func randomCases(t testing.TB, n int, bad ...int) []sigCase {
	cs := make([]sigCase, n)
	for i := range cs {
		k := newKey(t, uint64(i%7+1))
		msg := crypto.TxSignBytes("chain-a", fmt.Appendf(nil, "body %d", i))
		sig, err := k.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = sigCase{name: fmt.Sprintf("random %d", i), pub: k.Public(), msg: msg, sig: sig}
		if slices.Contains(bad, i) {
			cs[i] = corrupt(t, cs[i], i)
		}
	}
	return cs
}

// corrupt breaks c in the way picked by how.
func corrupt(t testing.TB, c sigCase, how int) sigCase {
	c.sig = slices.Clone(c.sig)
	c.msg = slices.Clone(c.msg)
	switch how % 4 {
	case 0:
		c.sig[3] ^= 0x10 // R
		c.name += " (R flipped)"
	case 1:
		c.sig[40] ^= 0x01 // S
		c.name += " (S flipped)"
	case 2:
		c.msg[len(c.msg)-1] ^= 0x01
		c.name += " (message changed)"
	default:
		c.pub = newKey(t, 99).Public()
		c.name += " (other key)"
	}
	return c
}

func batchVerdicts(cs []sigCase, workers int) []error {
	b := crypto.NewBatch(len(cs))
	for _, c := range cs {
		b.Add(c.pub, c.msg, c.sig)
	}
	return b.Verify(workers)
}

// sameVerdict reports whether two verdicts are the same: both nil, or
// errors with the same text. The text matters: a refused tx's result
// carries it, and results are hashed into the chain.
func sameVerdict(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}

// checkBatchMatchesSingle verifies cs as batches (alone, all together, and
// split over several workers) and fails unless every verdict is Verify's.
// It returns the single verdicts.
func checkBatchMatchesSingle(t *testing.T, cs []sigCase) []error {
	t.Helper()
	single := make([]error, len(cs))
	for i, c := range cs {
		single[i] = crypto.Verify(c.pub, c.msg, c.sig)
		if alone := batchVerdicts(cs[i:i+1], 1); !sameVerdict(alone[0], single[i]) {
			t.Errorf("%s: batch of one says %v, Verify says %v", c.name, alone[0], single[i])
		}
	}
	for _, workers := range []int{1, 2, 4} {
		for i, v := range batchVerdicts(cs, workers) {
			if !sameVerdict(v, single[i]) {
				t.Errorf("%s: batch of %d (%d workers) says %v, Verify says %v", cs[i].name, len(cs), workers, v, single[i])
			}
		}
	}
	return single
}

// ZIP-215's vectors: small-order A and R, canonical or not, with S = 0.
// Each is valid under ZIP-215's equation, which is why every one of their
// keys is refused before the equation runs: a signature of zeros would
// otherwise verify on any message (crypto/ed25519key.go). Single and batch
// verification agree on each, alone, all together, and mixed with ordinary
// signatures and one bad one.
func TestZIP215Vectors(t *testing.T) {
	cs := zip215Cases(t)
	if len(cs) != 196 {
		t.Fatalf("%d vectors, want 196", len(cs))
	}
	for i, v := range checkBatchMatchesSingle(t, cs) {
		if !errors.Is(v, crypto.ErrBadKey) {
			t.Errorf("%s: %v, want ErrBadKey (small-order A)", cs[i].name, v)
		}
	}

	// Each vector in a batch of ordinary signatures with one bad one: the
	// bad one and the vector are refused, the others accepted.
	for i := 0; i < len(cs); i += 13 {
		mixed := randomCases(t, 40, 7)
		mixed = slices.Insert(mixed, 20, cs[i])
		got := checkBatchMatchesSingle(t, mixed)
		for j, v := range got {
			if want := j == 7 || j == 20; (v != nil) != want {
				t.Errorf("mixed batch with %s: entry %d (%s) verdict %v", cs[i].name, j, mixed[j].name, v)
			}
		}
	}
}

// S must be canonical (S < L), for single and batch alike: S + L is the same
// scalar but a second encoding of the signature (malleability).
func TestNonCanonicalSRejected(t *testing.T) {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	le := func(n *big.Int) []byte { // 32-byte little-endian
		b := n.FillBytes(make([]byte, 32))
		slices.Reverse(b)
		return b
	}
	fromLE := func(b []byte) *big.Int {
		r := slices.Clone(b)
		slices.Reverse(r)
		return new(big.Int).SetBytes(r)
	}
	good := randomCases(t, 1)[0]
	s := fromLE(good.sig[32:])
	plusL := slices.Concat(good.sig[:32], le(new(big.Int).Add(s, l)))
	// S = L and S with its top bit set are not canonical scalars: the
	// encoding rule refuses them before any equation is checked.
	highBit := slices.Clone(good.sig)
	highBit[63] |= 0x80
	sIsL := slices.Concat(good.sig[:32], le(l))

	cs := []sigCase{
		{"S+L", good.pub, good.msg, plusL},
		{"S=L", good.pub, good.msg, sIsL},
		{"S with its top bit set", good.pub, good.msg, highBit},
	}
	for i, v := range checkBatchMatchesSingle(t, cs) {
		if !errors.Is(v, crypto.ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", cs[i].name, v)
		}
	}
	// Mixed among valid ones, only those fail.
	mixed := slices.Concat(randomCases(t, 10), cs, randomCases(t, 10))
	for i, v := range checkBatchMatchesSingle(t, mixed) {
		if want := i >= 10 && i < 13; (v != nil) != want {
			t.Errorf("%s: verdict %v", mixed[i].name, v)
		}
	}
}

// ZIP-215 accepts non-canonical encodings of R but not bytes that encode no
// point at all: y = 2 and y = p+2 have no x on the curve. As A, y = 2 is
// refused by the equation and y = p+2 already by the key check.
func TestEncodingsOffTheCurveRejected(t *testing.T) {
	good := randomCases(t, 1)[0]
	offCurve := []string{
		"0200000000000000000000000000000000000000000000000000000000000000", // y = 2
		"efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p+2, non-canonical 2
	}
	var cs []sigCase
	for _, enc := range offCurve {
		// As R of an honest key's signature.
		cs = append(cs, sigCase{"R=" + enc[:4], good.pub, good.msg, append(mustHex(t, enc), good.sig[32:]...)})
		// As A, with an honest signature.
		cs = append(cs, sigCase{"A=" + enc[:4], ed25519Pub(mustHex(t, enc)), good.msg, good.sig})
	}
	want := []error{crypto.ErrBadSignature, crypto.ErrBadSignature, crypto.ErrBadSignature, crypto.ErrBadKey}
	for i, v := range checkBatchMatchesSingle(t, cs) {
		if !errors.Is(v, want[i]) {
			t.Errorf("%s: %v, want %v", cs[i].name, v, want[i])
		}
	}
}

// A batch with one bad signature, at every position and for sizes around
// the chunk boundaries: the bad one is found and the others accepted.
func TestBatchFindsTheBadSignature(t *testing.T) {
	for _, n := range []int{2, 16, 33, 64} {
		for bad := range n {
			if n > 16 && bad%5 != 0 && bad != n-1 {
				continue
			}
			t.Run(fmt.Sprintf("n=%d/bad=%d", n, bad), func(t *testing.T) {
				cs := randomCases(t, n, bad)
				for i, v := range checkBatchMatchesSingle(t, cs) {
					if (v != nil) != (i == bad) {
						t.Errorf("%s: verdict %v", cs[i].name, v)
					}
				}
			})
		}
	}
	// Several bad ones, spread over chunks.
	cs := randomCases(t, 100, 0, 17, 18, 63, 99)
	bad := 0
	for _, v := range checkBatchMatchesSingle(t, cs) {
		if v != nil {
			bad++
		}
	}
	if bad != 5 {
		t.Fatalf("%d bad, want 5", bad)
	}
}

// Entries refused before any arithmetic (key, scheme, signature size) get
// Verify's error, and do not spoil the batch for the others.
func TestBatchPrecheckErrors(t *testing.T) {
	good := randomCases(t, 3)
	k := good[0]
	cs := []sigCase{
		good[1],
		{"nil key", nil, k.msg, k.sig},
		{"short key", ed25519Pub([]byte{1, 2}), k.msg, k.sig},
		{"unknown scheme", &pb.PublicKey{Scheme: 99, Key: k.pub.GetKey()}, k.msg, k.sig},
		{"short signature", k.pub, k.msg, k.sig[:10]},
		{"no signature", k.pub, k.msg, nil},
		good[2],
	}
	want := []error{nil, crypto.ErrBadKey, crypto.ErrBadKey, crypto.ErrUnknownScheme, crypto.ErrBadSignature, crypto.ErrBadSignature, nil}
	for i, v := range checkBatchMatchesSingle(t, cs) {
		if (v == nil) != (want[i] == nil) || !errors.Is(v, want[i]) {
			t.Errorf("%s: %v, want %v", cs[i].name, v, want[i])
		}
	}
	if got := crypto.NewBatch(0).Verify(2); len(got) != 0 {
		t.Fatalf("empty batch: %v", got)
	}
}

// On ordinary signatures, valid or damaged, the pinned rule and
// crypto/ed25519 agree: switching to ZIP-215 changes nothing for honest
// signers.
func TestAgreesWithStdlibOnOrdinarySignatures(t *testing.T) {
	r := seeded(42)
	var cs []sigCase
	var valid []bool
	for i := range 400 {
		pub, priv, err := ed25519.GenerateKey(r)
		if err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, 1+i%97)
		_, _ = r.Read(msg)
		c := sigCase{name: fmt.Sprintf("sig %d", i), pub: ed25519Pub(pub), msg: msg, sig: ed25519.Sign(priv, msg)}
		if i%2 == 1 {
			c = corrupt(t, c, i/2)
		}
		cs, valid = append(cs, c), append(valid, i%2 == 0)
	}
	for i, v := range checkBatchMatchesSingle(t, cs) {
		std := ed25519.Verify(cs[i].pub.GetKey(), cs[i].msg, cs[i].sig)
		if std != valid[i] || (v == nil) != valid[i] {
			t.Errorf("%s: crypto/ed25519 says %v, Verify says %v, want valid=%v", cs[i].name, std, v, valid[i])
		}
	}
}

// BenchmarkVerify is one signature checked alone.
func BenchmarkVerify(b *testing.B) {
	c := randomCases(b, 1)[0]
	for b.Loop() {
		if err := crypto.Verify(c.pub, c.msg, c.sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBatch checks batches of n signatures with GOMAXPROCS workers
// (go test -cpu sets it); ns/sig is the cost per signature.
func BenchmarkBatch(b *testing.B) {
	for _, n := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			cs := randomCases(b, n)
			workers := runtime.GOMAXPROCS(0)
			for b.Loop() {
				bt := crypto.NewBatch(n)
				for _, c := range cs {
					bt.Add(c.pub, c.msg, c.sig)
				}
				for _, err := range bt.Verify(workers) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sig")
		})
	}
}

// BenchmarkBatchOneBad checks batches of n signatures of which one is bad,
// on one goroutine: the failed batch, then every entry alone, so one bad
// signature costs its batch about 1.5 single Verifies per signature. (Split
// in halves instead, a batch costs the same: the halves that pass are
// re-verified at each level.)
func BenchmarkBatchOneBad(b *testing.B) {
	for _, n := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			cs := randomCases(b, n, n/3)
			for b.Loop() {
				bt := crypto.NewBatch(n)
				for _, c := range cs {
					bt.Add(c.pub, c.msg, c.sig)
				}
				if errs := bt.Verify(1); errs[n/3] == nil {
					b.Fatal("bad signature accepted")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sig")
		})
	}
}
