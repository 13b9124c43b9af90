package store

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/govnode/govnode/ledger/state"
)

func TestValueCache(t *testing.T) {
	c := newValueCache(1 << 10)
	want := func(k string, v string, found bool) {
		t.Helper()
		got, f, hit, _ := c.get([]byte(k))
		if !hit || f != found || string(got) != v {
			t.Fatalf("get %s = %q found %v hit %v; want %q found %v", k, got, f, hit, v, found)
		}
	}
	// A miss, then a fill with the generation of the miss, is served.
	if _, _, hit, gen := c.get([]byte("a")); hit {
		t.Fatal("hit in an empty cache")
	} else {
		c.fill([]byte("a"), []byte("1"), true, gen)
	}
	want("a", "1", true)
	// Absent keys are cached too.
	_, _, _, gen := c.get([]byte("gone"))
	c.fill([]byte("gone"), nil, false, gen)
	want("gone", "", false)

	// A fill that raced a block's apply is dropped: what it read may be
	// older than the block.
	_, _, _, gen = c.get([]byte("b"))
	c.apply([]state.Change{{Key: []byte("a"), Value: []byte("2")}, {Key: []byte("gone"), Value: []byte("back")}})
	c.fill([]byte("b"), []byte("stale"), true, gen)
	if _, _, hit, _ := c.get([]byte("b")); hit {
		t.Fatal("a fill older than an apply was cached")
	}
	want("a", "2", true)
	want("gone", "back", true)
	c.apply([]state.Change{{Key: []byte("a"), Delete: true}})
	want("a", "", false)

	// The returned value is a copy.
	v, _, _, _ := c.get([]byte("gone"))
	v[0] = 'X'
	want("gone", "back", true)

	// Past its size the cache rotates: the newest entries stay, the
	// oldest go, an entry changed by a block is never served stale, and
	// the current generation stays within half the budget.
	for i := range 100 {
		_, _, _, gen := c.get([]byte(fmt.Sprint("k", i)))
		c.fill([]byte(fmt.Sprint("k", i)), bytes.Repeat([]byte{'v'}, 20), true, gen)
		if i == 50 {
			c.apply([]state.Change{{Key: []byte("k49"), Value: []byte("new")}})
		}
	}
	if _, _, hit, _ := c.get([]byte("k0")); hit {
		t.Fatal("the oldest entry survived 100 fills of a 1 KiB cache")
	}
	want("k99", "vvvvvvvvvvvvvvvvvvvv", true)
	if got, _, hit, _ := c.get([]byte("k49")); hit && string(got) != "new" {
		t.Fatalf("k49 served as %q after a block set it to new", got)
	}
	if c.curBytes > c.maxBytes/2 {
		t.Fatalf("current generation holds %d bytes, budget %d", c.curBytes, c.maxBytes/2)
	}
	// Off: no cache, every read goes to LevelDB.
	var off *valueCache = newValueCache(0)
	if _, _, hit, _ := off.get([]byte("a")); hit {
		t.Fatal("a nil cache hit")
	}
	off.fill([]byte("a"), nil, false, 0)
	off.apply(nil)
}
