package exec

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/state"
)

// Reader reads committed state at the latest height.
//
// Contract: Get returns ErrNotFound (or an error wrapping it) for an absent
// key; any other error is a storage failure and aborts the block. Iterate
// calls fn for every key in [start, end) in ascending byte order (end nil:
// no upper bound) and stops at fn's first error, returning it. The executor
// never modifies the slices it is given and never keeps them after the call
// returns, and a Reader must not change them during the call. A Reader is
// used from one goroutine at a time per call (CheckTx and ApplyBlock may run
// concurrently with different Readers, or the same one if it is safe for
// concurrent use).
type Reader interface {
	Get(key []byte) ([]byte, error)
	Iterate(start, end []byte, fn func(key, value []byte) error) error
}

// Change is one state write of a block: Value for Key, or Key deleted. It
// is the state tree's own change type, so a block's changes go to the
// store as they are. ApplyBlock and InitGenesis return changes sorted by
// key, one per key, with the final value; the caller owns the slices.
type Change = state.Change

var marshalOpts = proto.MarshalOptions{Deterministic: true}

// kv is what an overlay reads through to.
type kv interface {
	get(key string) ([]byte, bool, error)
	iterate(start, end string, fn func(key string, value []byte) error) error
}

// readerKV adapts a Reader.
type readerKV struct{ r Reader }

func (k readerKV) get(key string) ([]byte, bool, error) {
	v, err := k.r.Get([]byte(key))
	if errors.Is(err, ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read state %q: %w", key, err)
	}
	return v, true, nil
}

func (k readerKV) iterate(start, end string, fn func(string, []byte) error) error {
	var e []byte
	if end != "" {
		e = []byte(end)
	}
	err := k.r.Iterate([]byte(start), e, func(key, value []byte) error {
		return fn(string(key), value)
	})
	if err != nil {
		return fmt.Errorf("iterate state [%q, %q): %w", start, end, err)
	}
	return nil
}

type write struct {
	value []byte
	del   bool
}

// overlay buffers writes over a parent: a block's overlay over the Reader,
// and a transaction's overlay over the block's, discarded when the action
// fails. Later reads see earlier writes.
type overlay struct {
	parent kv
	writes map[string]write
	// The written keys, for ordered iteration without scanning the map:
	// sorted holds most of them in order, fresh the ones added since the
	// last merge (sorted lazily, merged into sorted when it grows).
	sorted      []string
	fresh       []string
	freshSorted bool
}

// maxFresh bounds fresh before it is merged into sorted, keeping both an
// iteration (sort of fresh) and a merge (copy of sorted) cheap.
const maxFresh = 256

func newOverlay(parent kv) *overlay {
	return &overlay{parent: parent, writes: make(map[string]write)}
}

func (o *overlay) track(key string) {
	if _, ok := o.writes[key]; !ok {
		o.fresh = append(o.fresh, key)
		o.freshSorted = false
	}
}

// rangeKeys returns the written keys in [start, end), in order.
func (o *overlay) rangeKeys(start, end string) []string {
	if !o.freshSorted {
		slices.Sort(o.fresh)
		o.freshSorted = true
	}
	if len(o.fresh) > maxFresh {
		merged := make([]string, 0, len(o.sorted)+len(o.fresh))
		i, j := 0, 0
		for i < len(o.sorted) || j < len(o.fresh) {
			if j >= len(o.fresh) || i < len(o.sorted) && o.sorted[i] < o.fresh[j] {
				merged = append(merged, o.sorted[i])
				i++
			} else {
				merged = append(merged, o.fresh[j])
				j++
			}
		}
		o.sorted, o.fresh = merged, o.fresh[:0]
	}
	sub := func(ks []string) []string {
		lo, _ := slices.BinarySearch(ks, start)
		hi := len(ks)
		if end != "" {
			hi, _ = slices.BinarySearch(ks, end)
		}
		if hi < lo {
			hi = lo
		}
		return ks[lo:hi]
	}
	a, b := sub(o.sorted), sub(o.fresh)
	if len(b) == 0 {
		return a
	}
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if j >= len(b) || i < len(a) && a[i] < b[j] {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	return out
}

func (o *overlay) get(key string) ([]byte, bool, error) {
	if w, ok := o.writes[key]; ok {
		if w.del {
			return nil, false, nil
		}
		return w.value, true, nil
	}
	return o.parent.get(key)
}

func (o *overlay) set(key string, value []byte) { o.track(key); o.writes[key] = write{value: value} }
func (o *overlay) del(key string)               { o.track(key); o.writes[key] = write{del: true} }

// iterate merges the parent's entries in [start, end) with this overlay's
// writes; the overlay wins. Ranges the executor scans are small (one
// object's index entries, due deadlines), so the parent's part is collected
// first.
func (o *overlay) iterate(start, end string, fn func(string, []byte) error) error {
	type ent struct {
		k string
		v []byte
	}
	var base []ent
	if err := o.parent.iterate(start, end, func(k string, v []byte) error {
		// The Reader's slices are only valid during the call.
		base = append(base, ent{k, bytes.Clone(v)})
		return nil
	}); err != nil {
		return err
	}
	mine := o.rangeKeys(start, end)
	i, j := 0, 0
	for i < len(base) || j < len(mine) {
		var k string
		var v []byte
		switch {
		case j >= len(mine) || (i < len(base) && base[i].k < mine[j]):
			k, v = base[i].k, base[i].v
			i++
		default:
			k = mine[j]
			if i < len(base) && base[i].k == k {
				i++
			}
			j++
			w := o.writes[k]
			if w.del {
				continue
			}
			v = w.value
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// mergeInto moves this overlay's writes into its parent overlay.
func (o *overlay) mergeInto(p *overlay) {
	for k, w := range o.writes { // order is irrelevant: fresh is sorted before use
		p.track(k)
		p.writes[k] = w
	}
}

// changes returns the overlay's writes sorted by key, dropping deletes of
// keys the base does not hold.
func (o *overlay) changes() ([]Change, error) {
	keys := make([]string, 0, len(o.writes))
	for k := range o.writes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]Change, 0, len(keys))
	for _, k := range keys {
		w := o.writes[k]
		if w.del {
			_, ok, err := o.parent.get(k)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			out = append(out, Change{Key: []byte(k), Delete: true})
			continue
		}
		out = append(out, Change{Key: []byte(k), Value: slices.Clone(w.value)})
	}
	return out, nil
}

// getMsg loads key into m; false when absent. A value that does not decode
// is a broken invariant (the executor wrote it).
func (o *overlay) getMsg(key string, m proto.Message) (bool, error) {
	v, ok, err := o.get(key)
	if err != nil || !ok {
		return false, err
	}
	if err := proto.Unmarshal(v, m); err != nil {
		return false, fmt.Errorf("decode state %q: %w", key, err)
	}
	return true, nil
}

func (o *overlay) putMsg(key string, m proto.Message) error {
	b, err := marshalOpts.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode state %q: %w", key, err)
	}
	o.set(key, b)
	return nil
}

func (o *overlay) has(key string) (bool, error) {
	_, ok, err := o.get(key)
	return ok, err
}

// keysWithPrefix returns the keys under prefix, in order.
func (o *overlay) keysWithPrefix(prefix string) ([]string, error) {
	var out []string
	err := o.iterate(prefix, prefixEnd(prefix), func(k string, _ []byte) error {
		out = append(out, k)
		return nil
	})
	return out, err
}

// lastSegment returns what follows the last '/' of key.
func lastSegment(key string) string {
	return key[strings.LastIndexByte(key, '/')+1:]
}
