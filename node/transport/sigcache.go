package transport

import (
	"sync"

	"github.com/govnode/govnode/ledger/exec"
)

// TxSigCache remembers the txs whose signature the mempool (API or a
// peer's tx batch) or proposal validation verified, so the state machine does not
// verify them again (exec.SigCache); consensus messages' signatures have a
// cache of their own, crypto.SigCache. It holds at most size keys in two
// generations; when the current one is full, the older is forgotten (a
// forgotten key only costs one more verification). A key found in the
// older generation moves to the current one: a tx waiting in the mempool is
// looked up at every commit (the recheck), so it stays remembered however
// long it waits, and is not verified again after each block once size/2
// newer txs have arrived.
type TxSigCache struct {
	mu    sync.Mutex
	size  int
	cur   map[string]struct{}
	older map[string]struct{}
}

var _ exec.SigCache = (*TxSigCache)(nil)

// NewTxSigCache returns an empty cache of at most size keys (at least 2).
func NewTxSigCache(size int) *TxSigCache {
	return &TxSigCache{size: max(size, 2), cur: map[string]struct{}{}, older: map[string]struct{}{}}
}

func (c *TxSigCache) Seen(key []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cur[string(key)]; ok {
		return true
	}
	if _, ok := c.older[string(key)]; !ok {
		return false
	}
	delete(c.older, string(key))
	c.addLocked(key)
	return true
}

func (c *TxSigCache) Add(key []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addLocked(key)
}

func (c *TxSigCache) addLocked(key []byte) {
	if len(c.cur) >= c.size/2 {
		c.older, c.cur = c.cur, make(map[string]struct{}, c.size/2)
	}
	c.cur[string(key)] = struct{}{}
}
