package blockexec

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/govnode/govnode/ledger/exec"
)

// The commit path's reader answers every range of the sparse prefixes as
// the store does, through puts, fires (deletions) and the prefix going
// empty again, and a deadline scheduled after the index was known empty
// still fires.
func TestSparsePrefixesReadLikeTheStore(t *testing.T) {
	c := newDeadlineChain(t)
	a := c.a
	t0 := c.clock.Now()
	ar := applyReader{reader{c.st}, a.sparse}
	dl := exec.DeadlinePrefix()
	check := func(step string) {
		t.Helper()
		for _, p := range exec.SparsePrefixes() {
			for _, end := range [][]byte{prefixEnd([]byte(p)), []byte(p + "00000000009"), []byte(p + "99999999999999999999")} {
				var want, got [][]byte
				if err := (reader{c.st}).Iterate([]byte(p), end, func(k, _ []byte) error { want = append(want, bytes.Clone(k)); return nil }); err != nil {
					t.Fatal(err)
				}
				if err := ar.Iterate([]byte(p), end, func(k, _ []byte) error { got = append(got, bytes.Clone(k)); return nil }); err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%s: prefix %s to %q: got %q, the store has %q", step, p, end, got, want)
				}
			}
		}
	}
	known := func(want string) {
		t.Helper()
		empty, ok := a.sparse.get(dl)
		got := "unknown"
		if ok {
			got = map[bool]string{true: "empty", false: "non-empty"}[empty]
		}
		if got != want {
			t.Fatalf("deadline index known %s, want %s", got, want)
		}
	}

	hdr, _ := c.propose()
	c.commit(hdr)
	known("empty") // the first block read the whole index and found nothing
	check("empty chain")

	due := t0.Unix() + 100
	tx := c.createTimer("c1", due)
	hdr, _ = c.propose(tx)
	c.commit(hdr, tx)
	known("non-empty") // the block put a deadline
	check("one deadline")
	c.wantNext(a, due, true)

	// Past the due time: the block fires it (a deletion), and the index is
	// probed again.
	c.clock.Set(time.UnixMilli(due*1000 + 5))
	hdr, _ = c.propose()
	c.commit(hdr)
	if c.state("c1") != "expired" {
		t.Fatalf("c1 is %s after its deadline", c.state("c1"))
	}
	c.wantNext(a, 0, false)
	check("fired")
	hdr, _ = c.propose()
	c.commit(hdr)
	known("empty")

	// A deadline scheduled while the index is known empty fires on time.
	due2 := due + 50
	tx = c.createTimer("c2", due2)
	hdr, _ = c.propose(tx)
	c.commit(hdr, tx)
	c.wantNext(a, due2, true)
	check("second deadline")
	c.clock.Set(time.UnixMilli(due2*1000 + 5))
	hdr, _ = c.propose()
	c.commit(hdr)
	if c.state("c2") != "expired" {
		t.Fatalf("c2 is %s after its deadline", c.state("c2"))
	}
	check("second fired")
}
