package store

import (
	"bytes"
	"sync"

	"github.com/govnode/govnode/ledger/state"
)

// valueCache keeps recently read latest values of state keys (present or
// absent) in memory, so that the reads every transaction makes (its
// signer's identity and nonce, the chain parameters, the department) do
// not each walk LevelDB's memtable and tables: profiled, LevelDB point
// reads were 14% of a node's CPU under load.
//
// Coherence: the single writer applies every state change of a block to
// the cache (apply) right after the block's batch is written, and bumps a
// generation. A reader that misses records the generation before it reads
// LevelDB and fills the cache only if no block was applied meanwhile; a
// value it read before a block's write and fills before that block's apply
// is overwritten by the apply, which sets every key the block changed.
// So a cached value is never older than LevelDB's.
//
// Memory: two generations of at most maxBytes/2 each (keys and values);
// when the current one fills up it becomes the old one and the old one is
// dropped. A hit in the old generation moves the entry to the current one.
type valueCache struct {
	mu       sync.Mutex
	gen      uint64
	cur, old map[string]cachedValue
	curBytes int
	maxBytes int
}

type cachedValue struct {
	v     []byte
	found bool
}

// entryOverhead approximates a map entry's memory beside its key and value.
const entryOverhead = 64

// newValueCache returns a cache of maxBytes; nil (no caching) for 0.
func newValueCache(maxBytes int) *valueCache {
	if maxBytes <= 0 {
		return nil
	}
	return &valueCache{cur: map[string]cachedValue{}, old: map[string]cachedValue{}, maxBytes: maxBytes}
}

// get returns the cached value of k (found reports presence in state), or
// hit false and the generation to pass to fill.
func (c *valueCache) get(k []byte) (v []byte, found, hit bool, gen uint64) {
	if c == nil {
		return nil, false, false, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.cur[string(k)]; ok {
		return bytes.Clone(e.v), e.found, true, c.gen
	}
	if e, ok := c.old[string(k)]; ok {
		delete(c.old, string(k))
		c.putLocked(string(k), e)
		return bytes.Clone(e.v), e.found, true, c.gen
	}
	return nil, false, false, c.gen
}

// fill caches what a reader found for k in LevelDB, unless a block was
// applied since get returned gen.
func (c *valueCache) fill(k, v []byte, found bool, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	c.putLocked(string(k), cachedValue{v: bytes.Clone(v), found: found})
}

// apply records a block's state changes; the writer calls it after the
// block's batch is written and before the head moves.
func (c *valueCache) apply(changes []state.Change) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, ch := range changes {
		delete(c.old, string(ch.Key))
		if ch.Delete {
			c.putLocked(string(ch.Key), cachedValue{})
		} else {
			c.putLocked(string(ch.Key), cachedValue{v: bytes.Clone(ch.Value), found: true})
		}
	}
}

func (c *valueCache) putLocked(k string, e cachedValue) {
	if prev, ok := c.cur[k]; ok {
		c.curBytes -= len(k) + len(prev.v) + entryOverhead
	}
	size := len(k) + len(e.v) + entryOverhead
	if c.curBytes+size > c.maxBytes/2 {
		c.old, c.cur, c.curBytes = c.cur, make(map[string]cachedValue, len(c.cur)), 0
		delete(c.old, k)
	}
	c.cur[k] = e
	c.curBytes += size
}
