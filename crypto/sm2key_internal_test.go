package crypto

import (
	"bytes"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"slices"
	"sync"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nonceReader is RFC 6979 §3.2: with SHA-256 and P-256's order it gives
// the k of RFC 6979 A.2.5 for the messages "sample" and "test".
func TestNonceReaderRFC6979Vectors(t *testing.T) {
	x := unhex(t, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721")
	q := elliptic.P256().Params().N
	for _, v := range []struct{ msg, k string }{
		{"sample", "A6E3C57DD01ABE90086538398355DD4C3B17AA873382B0F24D6129493D8AAD60"},
		{"test", "D16B6AE827F17175E040871A1C7EC3500192C4C92677336EC2537ACAEE0008E0"},
	} {
		h1 := sha256.Sum256([]byte(v.msg))
		k := make([]byte, 32)
		if _, err := newNonceReader(sha256.New, q, x, h1[:]).Read(k); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k, unhex(t, v.k)) {
			t.Errorf("%q: k = %X, want %s", v.msg, k, v.k)
		}
	}
}

// A 1-byte read (gmsm's MaybeReadByte) is a zero byte and changes nothing
// after it; a second candidate follows RFC 6979 step h.3 (K = HMAC_K(V ||
// 0x00), V = HMAC_K(V), then V = HMAC_K(V) is the candidate).
func TestNonceReaderReads(t *testing.T) {
	d := bytes.Repeat([]byte{7}, 32)
	e := sm3.Sum([]byte("e"))
	plain := newSM2NonceReader(d, e[:])
	first := make([]byte, 32)
	plain.Read(first)
	k0, v0 := bytes.Clone(plain.k), bytes.Clone(plain.v)

	coin := newSM2NonceReader(d, e[:])
	for range 3 {
		b := []byte{0xaa}
		if n, err := coin.Read(b); n != 1 || err != nil || b[0] != 0 {
			t.Fatalf("1-byte read: %d %v %x", n, err, b)
		}
	}
	got := make([]byte, 32)
	coin.Read(got)
	if !bytes.Equal(got, first) {
		t.Fatal("1-byte reads changed the first candidate")
	}

	second := make([]byte, 32)
	plain.Read(second)
	r := &nonceReader{h: sm3.New, k: k0}
	k1 := r.mac(v0, []byte{0})
	r.k = k1
	v1 := r.mac(v0)
	want := r.mac(v1)
	if !bytes.Equal(second, want) || bytes.Equal(second, first) {
		t.Fatalf("second candidate %x, want %x", second, want)
	}
	// A 64-byte read is two blocks of V.
	long := make([]byte, 64)
	newSM2NonceReader(d, e[:]).Read(long)
	if !bytes.Equal(long[:32], first) {
		t.Fatal("a long read does not start with the first candidate")
	}
}

// The nonce of every SM2 signature Sign makes is the first candidate of
// newSM2NonceReader(d, e): recovered from the signature as
// k = s(1 + d) + rd mod n.
func TestSM2SignatureNonceIsRFC6979(t *testing.T) {
	n := sm2.P256().Params().N
	for i := range 20 {
		d := sm3.Sum([]byte{byte(i)}) // a scalar below n with overwhelming probability
		key, err := sm2Scheme.fromBytes(d[:])
		if err != nil {
			t.Fatal(err)
		}
		k := key.(*sm2Key)
		msg := []byte{byte(i), 1, 2, 3}
		sig, err := k.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		rb, sb := mustParseDER(t, sig)
		r, s := new(big.Int).SetBytes(rb), new(big.Int).SetBytes(sb)
		dd := new(big.Int).SetBytes(d[:])
		rec := new(big.Int).Add(dd, big.NewInt(1))
		rec.Mul(rec, s)
		rec.Add(rec, new(big.Int).Mul(r, dd))
		rec.Mod(rec, n)

		e, _ := sm2.CalculateSM2Hash(&k.priv.PublicKey, msg, nil)
		want := make([]byte, 32)
		newSM2NonceReader(d[:], e).Read(want)
		if got := rec.FillBytes(make([]byte, 32)); !bytes.Equal(got, want) {
			t.Fatalf("key %d: the signature's nonce is %x, RFC 6979 gives %x", i, got, want)
		}
	}
}

func mustParseDER(t *testing.T, sig []byte) (r, s []byte) {
	t.Helper()
	if !sm2StrictDER(sig) {
		t.Fatalf("signature %x is not strict DER", sig)
	}
	// SEQUENCE, then two short INTEGERs (a signature is at most 72 bytes).
	rl := int(sig[3])
	r = sig[4 : 4+rl]
	sl := int(sig[5+rl])
	s = sig[6+rl : 6+rl+sl]
	return r, s
}

// sm2StrictDER on its own (gmsm refuses these too; the rule must not depend
// on it): only the minimal DER of two INTEGERs in [1, n-1] passes.
func TestSM2StrictDERAlone(t *testing.T) {
	n := sm2.P256().Params().N.Bytes() // 32 bytes, top bit set
	nMinus1 := new(big.Int).Sub(sm2.P256().Params().N, big.NewInt(1)).Bytes()
	for _, c := range []struct {
		name string
		sig  string
		ok   bool
	}{
		{"r = 1, s = 2", "3006020101020102", true},
		{"r = 0x80 (padded), s = 2", "300702020080020102", true},
		{"r = n-1, s = 1", "3026022100" + hex.EncodeToString(nMinus1) + "020101", true},
		{"r = n, s = 1", "3026022100" + hex.EncodeToString(n) + "020101", false},
		{"r = n-1 unpadded (negative)", "30250220" + hex.EncodeToString(nMinus1) + "020101", false},
		{"r = 0", "3006020100020102", false},
		{"s = 0", "3006020101020100", false},
		{"r = -1", "30060201ff020102", false},
		{"r = 0x80 unpadded (negative)", "3006020180020102", false},
		{"r = 1 with a leading zero", "300702020001020102", false},
		{"long-form SEQUENCE length", "308106020101020102", false},
		{"long-form INTEGER length", "300702810101020102", false},
		{"indefinite length", "3080020101020102" + "0000", false},
		{"trailing byte", "300602010102010200", false},
		{"trailing byte inside", "3007020101020102" + "00", false},
		{"one INTEGER", "3003020101", false},
		{"empty SEQUENCE", "3000", false},
		{"empty", "", false},
		{"SET", "3106020101020102", false},
		{"constructed INTEGER", "3006220101020102", false},
		{"length past the end", "3007020101020102", false},
	} {
		if got := sm2StrictDER(unhex(t, c.sig)); got != c.ok {
			t.Errorf("%s (%s): %v, want %v", c.name, c.sig, got, c.ok)
		}
	}
}

// splitChunks covers every index once, in order, in the asked number of
// nearly equal chunks; runTasks runs every task once, whatever the worker
// count.
func TestSplitChunksAndRunTasks(t *testing.T) {
	for n := range 40 {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = 100 + i
		}
		for k := -1; k <= 9; k++ {
			chunks := splitChunks(idx, k)
			if n == 0 {
				if chunks != nil {
					t.Fatalf("n=0 k=%d: %v", k, chunks)
				}
				continue
			}
			if want := max(k, 1); len(chunks) != want {
				t.Fatalf("n=%d k=%d: %d chunks", n, k, len(chunks))
			}
			var all []int
			for _, c := range chunks {
				if len(c) > n/len(chunks)+1 || len(c) < n/len(chunks) {
					t.Fatalf("n=%d k=%d: chunk of %d", n, k, len(c))
				}
				all = append(all, c...)
			}
			if !slices.Equal(all, idx) {
				t.Fatalf("n=%d k=%d: chunks %v", n, k, chunks)
			}
		}
	}
	for _, workers := range []int{-1, 0, 1, 2, 3, 8} {
		var mu sync.Mutex
		ran := map[int]int{}
		var tasks []func()
		for i := range 7 {
			tasks = append(tasks, func() { mu.Lock(); ran[i]++; mu.Unlock() })
		}
		runTasks(tasks, workers)
		for i := range 7 {
			if ran[i] != 1 {
				t.Fatalf("%d workers: task %d ran %d times", workers, i, ran[i])
			}
		}
	}
}
