package crypto_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/govnode/govnode/crypto"
)

// A signature is verified once through the cache; failures are never
// cached; the oldest success is evicted when the cache is full; a nil
// cache verifies every time.
func TestSigCache(t *testing.T) {
	cs := randomCases(t, 4, 3)
	c := crypto.NewSigCache(2)
	check := func(i int, wantHit bool, wantErr bool) {
		t.Helper()
		hit, err := c.Verify(cs[i].pub, cs[i].msg, cs[i].sig)
		if hit != wantHit || (err != nil) != wantErr {
			t.Fatalf("%s: hit %v err %v, want hit %v, error %v", cs[i].name, hit, err, wantHit, wantErr)
		}
	}
	check(0, false, false)
	check(0, true, false)
	check(3, false, true) // bad
	check(3, false, true) // still verified, still bad
	if _, err := c.Verify(cs[3].pub, cs[3].msg, cs[3].sig); !errors.Is(err, crypto.ErrBadSignature) {
		t.Fatalf("bad signature: %v, want ErrBadSignature", err)
	}
	// The same signature under another key or over other bytes is not a hit.
	if hit, err := c.Verify(cs[1].pub, cs[0].msg, cs[0].sig); hit || err == nil {
		t.Fatalf("signature 0 under key 1: hit %v err %v", hit, err)
	}
	check(1, false, false)
	check(2, false, false) // evicts 0
	check(0, false, false)
	check(2, true, false)

	var none *crypto.SigCache
	for range 2 {
		if hit, err := none.Verify(cs[0].pub, cs[0].msg, cs[0].sig); hit || err != nil {
			t.Fatalf("nil cache: hit %v err %v", hit, err)
		}
	}
	if _, err := none.Verify(cs[3].pub, cs[3].msg, cs[3].sig); err == nil {
		t.Fatal("nil cache accepted a bad signature")
	}
}

// Concurrent users of one cache get Verify's verdicts.
func TestSigCacheConcurrent(t *testing.T) {
	cs := randomCases(t, 32, 5, 17)
	cache := crypto.NewSigCache(16)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 3 * len(cs) {
				c := cs[(i+g*7)%len(cs)]
				_, err := cache.Verify(c.pub, c.msg, c.sig)
				if want := crypto.Verify(c.pub, c.msg, c.sig); !sameVerdict(err, want) {
					t.Errorf("%s: %v, want %v", c.name, err, want)
				}
			}
		})
	}
	wg.Wait()
}
