package crypto

import (
	"sync"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// minChunk is the fewest signatures of a scheme with a batch check given a
// goroutine of their own by Batch.Verify: smaller chunks lose most of what
// batching saves.
const minChunk = 16

// Batch verifies many signatures together: for Ed25519 one multi-scalar
// multiplication checks a random linear combination of the entries'
// equations, which costs about half as much per signature as one Verify
// each (crypto/batch_test.go's benchmarks have the figures). SM2 has no
// batch equation: its entries are verified alone, in parallel over Verify's
// workers.
//
// A batch's verdict on each entry is always the one Verify gives for the
// same inputs. This is a safety property, not a speed one: honest nodes
// that verify the same signature on different paths (one alone in its
// mempool, another in a block's batch) must agree, or they execute the
// block differently. It holds because the scheme's batch equation is the
// cofactored form of the single one (ZIP-215), and because a failed batch
// says nothing about which entry failed: every entry of a failed batch is
// verified again alone, and that is its verdict.
//
// A Batch is not safe for concurrent Add; Verify may use several
// goroutines internally.
type Batch struct {
	entries []batchEntry
}

// batchEntry is one signature of a Batch.
type batchEntry struct {
	sc            *scheme
	pub, msg, sig []byte
	// err is precheck's refusal; such an entry is not verified.
	err error
}

// NewBatch returns an empty batch with room for capacity entries.
func NewBatch(capacity int) *Batch {
	return &Batch{entries: make([]batchEntry, 0, max(capacity, 0))}
}

// Add queues sig over msg (the full sign bytes) by pub. The batch keeps
// references to pub's key, msg and sig until Verify returns: the caller must
// not modify them before then.
func (b *Batch) Add(pub *pb.PublicKey, msg, sig []byte) {
	sc, err := precheck(pub, sig)
	b.entries = append(b.entries, batchEntry{sc: sc, pub: pub.GetKey(), msg: msg, sig: sig, err: err})
}

// Len is the number of entries added.
func (b *Batch) Len() int { return len(b.entries) }

// Verify checks every entry and returns one verdict per entry in Add order:
// nil, or the error Verify returns for the same inputs (same text, and
// matching the same sentinel: ErrBadSignature, ErrBadKey,
// ErrUnknownScheme). It uses up to workers goroutines (at least one; with
// workers <= 1 it runs on the caller's goroutine). The entries of a scheme
// with a batch check (Ed25519) are split into up to workers contiguous
// chunks of at least minChunk, each checked as its own batch, so one bad
// signature sends only its chunk to single verification. The entries of a
// scheme without one (SM2) are verified alone, spread over up to workers
// contiguous chunks of any size: each costs a full verification (tens of
// microseconds), far more than a goroutine. Verify returns when all are
// done. The batch is not changed and may be verified again.
func (b *Batch) Verify(workers int) []error {
	errs := make([]error, len(b.entries))
	var batched, alone []int // entries that passed precheck, by kind of check
	for i := range b.entries {
		switch e := &b.entries[i]; {
		case e.err != nil:
			errs[i] = e.err
		case e.sc.verifyBatch != nil:
			batched = append(batched, i)
		default:
			alone = append(alone, i)
		}
	}
	var tasks []func()
	for _, c := range splitChunks(batched, min(workers, len(batched)/minChunk)) {
		tasks = append(tasks, func() { b.verifyBatched(c, errs) })
	}
	for _, c := range splitChunks(alone, min(workers, len(alone))) {
		tasks = append(tasks, func() { b.verifyAlone(c, errs) })
	}
	runTasks(tasks, workers)
	return errs
}

// splitChunks splits idx into n contiguous chunks of nearly equal size (one
// if n < 1; none if idx is empty).
func splitChunks(idx []int, n int) [][]int {
	if len(idx) == 0 {
		return nil
	}
	n = max(n, 1)
	out := make([][]int, n)
	for i := range n {
		out[i] = idx[i*len(idx)/n : (i+1)*len(idx)/n]
	}
	return out
}

// runTasks runs every task on up to workers goroutines and returns when
// all are done; with one worker or one task, on the caller's goroutine.
func runTasks(tasks []func(), workers int) {
	n := min(workers, len(tasks))
	if n <= 1 {
		for _, t := range tasks {
			t()
		}
		return
	}
	next := make(chan func(), len(tasks))
	for _, t := range tasks {
		next <- t
	}
	close(next)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for t := range next {
				t()
			}
		})
	}
	wg.Wait()
}

// verifyBatched fills errs[i], for each i in idx, with entry i's verdict:
// the entries of each scheme are checked as one batch, and alone if the
// batch fails or there is only one. Every entry has passed precheck and
// its scheme has a batch check.
func (b *Batch) verifyBatched(idx []int, errs []error) {
	type group struct {
		sc  *scheme
		idx []int
	}
	var groups []group
	for _, i := range idx {
		e := &b.entries[i]
		g := -1
		for j := range groups {
			if groups[j].sc == e.sc {
				g = j
				break
			}
		}
		if g < 0 {
			groups = append(groups, group{sc: e.sc, idx: make([]int, 0, len(idx))})
			g = len(groups) - 1
		}
		groups[g].idx = append(groups[g].idx, i)
	}
	for _, g := range groups {
		if len(g.idx) > 1 {
			batch := make([]*batchEntry, len(g.idx))
			for j, i := range g.idx {
				batch[j] = &b.entries[i]
			}
			if g.sc.verifyBatch(batch) {
				continue // every entry verifies: errs stay nil
			}
		}
		b.verifyAlone(g.idx, errs)
	}
}

// verifyAlone fills errs[i], for each i in idx, with Verify's verdict on
// entry i alone. Every entry has passed precheck.
func (b *Batch) verifyAlone(idx []int, errs []error) {
	for _, i := range idx {
		if e := &b.entries[i]; !e.sc.verify(e.pub, e.msg, e.sig) {
			errs[i] = ErrBadSignature
		}
	}
}
