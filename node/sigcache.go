package node

import "sync"

// sigCache remembers the txs whose signature the mempool verified, so the
// state machine does not verify them again when their block is applied
// (exec.SigCache). It holds at most size keys; when full it forgets the
// older half (a forgotten key only costs one more verification).
type sigCache struct {
	mu    sync.Mutex
	size  int
	cur   map[string]struct{}
	older map[string]struct{}
}

func newSigCache(size int) *sigCache {
	return &sigCache{size: size, cur: map[string]struct{}{}, older: map[string]struct{}{}}
}

func (c *sigCache) Seen(key []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cur[string(key)]; ok {
		return true
	}
	_, ok := c.older[string(key)]
	return ok
}

func (c *sigCache) Add(key []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cur) >= c.size/2 {
		c.older, c.cur = c.cur, make(map[string]struct{}, c.size/2)
	}
	c.cur[string(key)] = struct{}{}
}
