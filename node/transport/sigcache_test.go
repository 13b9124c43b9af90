package transport

import (
	"fmt"
	"testing"
)

// A key looked up in the older generation moves to the current one, so a
// tx waiting in the mempool (looked up at each commit's recheck) is not
// forgotten however many newer txs arrive.
func TestSigCacheKeepsWhatIsLookedUp(t *testing.T) {
	c := NewTxSigCache(8)
	c.Add([]byte("waiting"))
	for i := range 40 {
		c.Add(fmt.Appendf(nil, "other %d", i))
		if !c.Seen([]byte("waiting")) {
			t.Fatalf("forgotten after %d newer keys", i+1)
		}
	}
	if c.Seen([]byte("other 0")) {
		t.Fatal("an old key never looked up is still held")
	}
	if n := len(c.cur) + len(c.older); n > 8 {
		t.Fatalf("holds %d keys, size 8", n)
	}
}
