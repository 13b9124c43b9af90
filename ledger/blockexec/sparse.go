package blockexec

import (
	"bytes"
	"errors"
	"sync"

	"github.com/govnode/govnode/ledger/exec"
)

// sparse remembers which of exec.SparsePrefixes hold no key in committed
// state. Every block reads them by range (deadlines due, proposals whose
// vote ends) and nearly always finds nothing, and each read made a LevelDB
// snapshot and a merged iterator over every level: about 50 µs, three times
// a block (docs/BENCHMARKS.md, per-block costs).
//
// A prefix is known empty only after a read of the whole prefix found
// nothing, and known non-empty after a read found a key or a block put
// one; a block that puts a key under a prefix makes it non-empty and one
// that deletes a key under a non-empty prefix makes it unknown, before that
// block is stored, so what is known is exact for the committed state. Only the
// commit path reads through it; readers that run beside commits (CheckTx,
// the API) use reader directly.
type sparse struct {
	mu    sync.Mutex
	known map[string]bool // prefix → empty; absent: not known
}

func newSparse() *sparse { return &sparse{known: map[string]bool{}} }

// of returns the tracked prefix that holds the whole range [start, end),
// or "".
func (s *sparse) of(start, end []byte) string {
	for _, p := range exec.SparsePrefixes() {
		if !bytes.HasPrefix(start, []byte(p)) {
			continue
		}
		if end == nil || !(bytes.HasPrefix(end, []byte(p)) || bytes.Equal(end, prefixEnd([]byte(p)))) {
			return ""
		}
		return p
	}
	return ""
}

func (s *sparse) get(p string) (empty, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	empty, known = s.known[p]
	return empty, known
}

func (s *sparse) set(p string, empty bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known[p] = empty
}

// changed updates what is known from a block's changes, before the block
// is stored: a put under a prefix makes it non-empty; a deletion under a
// prefix not known empty makes it unknown (it may have been the last key).
func (s *sparse) changed(changes []exec.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range changes {
		for _, p := range exec.SparsePrefixes() {
			if !bytes.HasPrefix(c.Key, []byte(p)) {
				continue
			}
			empty, known := s.known[p]
			switch {
			case c.Value != nil:
				s.known[p] = false
			case known && !empty:
				delete(s.known, p)
			}
		}
	}
}

// applyReader is the reader blocks are executed with on the commit path.
type applyReader struct {
	reader
	sp *sparse
}

var errFirstKey = errors.New("first key")

func (r applyReader) Iterate(start, end []byte, fn func(k, v []byte) error) error {
	p := r.sp.of(start, end)
	if p == "" {
		return r.reader.Iterate(start, end, fn)
	}
	empty, known := r.sp.get(p)
	switch {
	case known && empty:
		return nil
	case known:
		return r.reader.Iterate(start, end, fn)
	}
	// Is anything under p at all? One probe that stops at the first key.
	found := false
	err := r.reader.Iterate([]byte(p), prefixEnd([]byte(p)), func(_, _ []byte) error {
		found = true
		return errFirstKey
	})
	if err != nil && !errors.Is(err, errFirstKey) {
		return err
	}
	r.sp.set(p, !found)
	if !found {
		return nil
	}
	return r.reader.Iterate(start, end, fn)
}

// prefixEnd is the least key above every key with prefix p (p is ASCII).
func prefixEnd(p []byte) []byte {
	b := bytes.Clone(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return b[:i+1]
		}
	}
	return nil
}

// touches reports whether a change has a key with prefix p.
func touches(changes []exec.Change, p string) bool {
	for _, c := range changes {
		if bytes.HasPrefix(c.Key, []byte(p)) {
			return true
		}
	}
	return false
}
