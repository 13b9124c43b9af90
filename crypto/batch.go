package crypto

import (
	"sync"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// minChunk is the fewest signatures given a goroutine of their own by
// Batch.Verify: smaller chunks lose most of what batching saves.
const minChunk = 16

// Batch verifies many signatures together: for Ed25519 one multi-scalar
// multiplication checks a random linear combination of the entries'
// equations, which costs about half as much per signature as one Verify
// each (crypto/batch_test.go's benchmarks have the figures).
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
// ErrUnknownScheme). With workers > 1
// the entries are split into up to workers contiguous chunks of at least
// minChunk, each checked as its own batch on its own goroutine, so one bad
// signature sends only its chunk to single verification; Verify returns
// when all are done. The batch is not changed and may be verified again.
func (b *Batch) Verify(workers int) []error {
	errs := make([]error, len(b.entries))
	n := len(b.entries)
	chunks := min(workers, n/minChunk)
	if chunks <= 1 {
		verifyChunk(b.entries, errs)
		return errs
	}
	var wg sync.WaitGroup
	for i := range chunks {
		lo, hi := i*n/chunks, (i+1)*n/chunks
		wg.Go(func() { verifyChunk(b.entries[lo:hi], errs[lo:hi]) })
	}
	wg.Wait()
	return errs
}

// verifyChunk fills errs[i] with entry i's verdict: the entries of each
// scheme are checked as one batch, and alone if the batch fails, the
// scheme has no batch check, or there is only one.
func verifyChunk(es []batchEntry, errs []error) {
	type group struct {
		sc  *scheme
		idx []int
	}
	var groups []group
	for i := range es {
		e := &es[i]
		if e.err != nil {
			errs[i] = e.err
			continue
		}
		g := -1
		for j := range groups {
			if groups[j].sc == e.sc {
				g = j
				break
			}
		}
		if g < 0 {
			groups = append(groups, group{sc: e.sc, idx: make([]int, 0, len(es))})
			g = len(groups) - 1
		}
		groups[g].idx = append(groups[g].idx, i)
	}
	for _, g := range groups {
		if len(g.idx) > 1 && g.sc.verifyBatch != nil {
			batch := make([]*batchEntry, len(g.idx))
			for j, i := range g.idx {
				batch[j] = &es[i]
			}
			if g.sc.verifyBatch(batch) {
				continue // every entry verifies: errs stay nil
			}
		}
		for _, i := range g.idx {
			if e := &es[i]; !e.sc.verify(e.pub, e.msg, e.sig) {
				errs[i] = ErrBadSignature
			}
		}
	}
}
