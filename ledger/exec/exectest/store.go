package exectest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/govnode/govnode/ledger/exec"
)

// Store is an in-memory sorted key-value store: exec.Reader plus Apply.
// It is not safe for concurrent writes.
type Store struct {
	m    map[string][]byte
	keys []string // sorted
	// FailGet, when set, makes Get of that key fail (a storage error).
	FailGet string
}

var _ exec.Reader = (*Store)(nil)

// NewStore returns an empty store.
func NewStore() *Store { return &Store{m: make(map[string][]byte)} }

// Get returns the value of key or exec.ErrNotFound.
func (s *Store) Get(key []byte) ([]byte, error) {
	if s.FailGet != "" && string(key) == s.FailGet {
		return nil, errors.New("exectest: injected read failure")
	}
	v, ok := s.m[string(key)]
	if !ok {
		return nil, fmt.Errorf("%w: %q", exec.ErrNotFound, key)
	}
	return v, nil
}

// Iterate visits keys in [start, end) in order; end nil means no bound.
func (s *Store) Iterate(start, end []byte, fn func(key, value []byte) error) error {
	i := sort.SearchStrings(s.keys, string(start))
	for ; i < len(s.keys); i++ {
		k := s.keys[i]
		if end != nil && k >= string(end) {
			break
		}
		if err := fn([]byte(k), s.m[k]); err != nil {
			return err
		}
	}
	return nil
}

// Apply writes changes, which must be sorted by key (as exec returns them).
func (s *Store) Apply(changes []exec.Change) {
	var added []string
	for _, c := range changes {
		k := string(c.Key)
		_, had := s.m[k]
		switch {
		case c.Delete && had:
			delete(s.m, k)
		case !c.Delete:
			s.m[k] = slices.Clone(c.Value)
			if !had {
				added = append(added, k)
			}
		}
	}
	// Merge the new keys (sorted, as changes are) and drop deleted ones.
	slices.Sort(added)
	merged := make([]string, 0, len(s.keys)+len(added))
	i, j := 0, 0
	for i < len(s.keys) || j < len(added) {
		var k string
		if j >= len(added) || i < len(s.keys) && s.keys[i] < added[j] {
			k = s.keys[i]
			i++
		} else {
			k = added[j]
			j++
		}
		if _, ok := s.m[k]; ok {
			merged = append(merged, k)
		}
	}
	s.keys = merged
}

// Len is the number of keys.
func (s *Store) Len() int { return len(s.keys) }

// Keys returns the sorted keys.
func (s *Store) Keys() []string { return slices.Clone(s.keys) }

// Hash is a fingerprint of the whole state: SHA-256 over the sorted,
// length-prefixed keys and values. Two stores with the same content have
// the same hash.
func (s *Store) Hash() []byte {
	h := sha256.New()
	for _, k := range s.keys {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(k)))
		h.Write(n[:])
		h.Write([]byte(k))
		binary.BigEndian.PutUint64(n[:], uint64(len(s.m[k])))
		h.Write(n[:])
		h.Write(s.m[k])
	}
	return h.Sum(nil)
}

// Equal reports whether two stores hold the same content.
func (s *Store) Equal(o *Store) bool { return bytes.Equal(s.Hash(), o.Hash()) }
