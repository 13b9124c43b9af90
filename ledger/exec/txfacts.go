package exec

import (
	"sync"
	"sync/atomic"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// A transaction is decoded and hashed once per node, where it enters
// (ARCHITECTURE.md §3, "A transaction's trip"): the mempool's admission
// makes its Tx and puts it in the node's Known table, and every later
// step that meets the same bytes (the leader's reap and header, hash-only
// proposals, proposal validation, the block's signature pass, its
// execution, the mempool's update after the commit) takes the facts from
// there instead of hashing and decoding again. Bytes a node meets first in
// a block (block sync, a fetched tx) are decoded where they are met.

// Tx is a serialized SignedTx with what every step derives from it: its
// hash and, if it decodes, its envelope and body. A Tx is never modified
// after NewTx, nor are the bytes, envelope and body it holds: they are
// shared by every goroutine that meets the tx.
type Tx struct {
	Raw  []byte
	Hash []byte
	// Signed and Body are nil when the tx does not decode; Err then says
	// why (it wraps ErrTooLarge or ErrMalformed, as DecodeTx's does).
	Signed *pb.SignedTx
	Body   *pb.TxBody
	Err    error
}

// NewTx hashes (with the chain's suite) and decodes raw. It never fails: a tx that does not decode
// has Err set and is refused wherever it is checked.
func NewTx(suite crypto.Suite, raw []byte) *Tx {
	stx, body, err := DecodeTx(raw)
	return &Tx{Raw: raw, Hash: TxHash(suite, raw), Signed: stx, Body: body, Err: err}
}

// rawKey identifies a byte slice by its backing array and length, not its
// contents: looking it up costs no hashing.
type rawKey struct {
	first *byte
	n     int
}

func keyOf(raw []byte) (rawKey, bool) {
	if len(raw) == 0 {
		return rawKey{}, false
	}
	return rawKey{&raw[0], len(raw)}, true
}

// Known is the table of decoded txs a node holds, found by the identity
// of their bytes: a block built from the mempool's txs (the leader's reap,
// a hash-only proposal resolved from the mempool) holds the very slices
// the mempool admitted, so its txs are found without hashing them. Since
// an entry keeps its bytes alive, no other slice can have the same
// backing array while it is in the table, and since tx bytes are never
// written after they are received, the same array and length mean the
// same bytes. Bytes that are equal but not the same slice are not found:
// the caller decodes them (Tx), with the same result.
//
// A nil *Known holds nothing. Known is safe for concurrent use.
type Known struct {
	suite crypto.Suite // hashes what the table does not hold
	mu    sync.RWMutex
	m     map[rawKey]*Tx
	// hits and misses count the lookups of Tx and Hashes: a miss is a tx
	// hashed (and, in Tx, decoded) again after its admission, or met
	// first in a block.
	hits, misses atomic.Uint64
}

// KnownStats are a Known table's lookup counts since NewKnown.
type KnownStats struct {
	Hits, Misses uint64
}

// Stats returns the lookup counts.
func (k *Known) Stats() KnownStats {
	if k == nil {
		return KnownStats{}
	}
	return KnownStats{Hits: k.hits.Load(), Misses: k.misses.Load()}
}

// count records a lookup's outcome.
func (k *Known) count(hit bool) {
	switch {
	case k == nil:
	case hit:
		k.hits.Add(1)
	default:
		k.misses.Add(1)
	}
}

// NewKnown returns an empty table.
func NewKnown(suite crypto.Suite) *Known { return &Known{suite: suite, m: map[rawKey]*Tx{}} }

// Put adds t; Drop removes it. The mempool puts what it admits and drops
// what it removes, so the table holds no more than the mempool does.
func (k *Known) Put(t *Tx) {
	key, ok := keyOf(t.Raw)
	if k == nil || !ok {
		return
	}
	k.mu.Lock()
	k.m[key] = t
	k.mu.Unlock()
}

// Drop removes t if the table holds it.
func (k *Known) Drop(t *Tx) {
	key, ok := keyOf(t.Raw)
	if k == nil || !ok {
		return
	}
	k.mu.Lock()
	if k.m[key] == t {
		delete(k.m, key)
	}
	k.mu.Unlock()
}

// Len is the number of txs in the table.
func (k *Known) Len() int {
	if k == nil {
		return 0
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.m)
}

// Get returns the table's Tx for exactly these bytes, or nil.
func (k *Known) Get(raw []byte) *Tx {
	key, ok := keyOf(raw)
	if k == nil || !ok {
		return nil
	}
	k.mu.RLock()
	t := k.m[key]
	k.mu.RUnlock()
	return t
}

// Tx returns the table's Tx for raw, or decodes it. k must not be nil
// (Executor.Tx serves an executor without a table).
func (k *Known) Tx(raw []byte) *Tx {
	t := k.Get(raw)
	k.count(t != nil)
	if t != nil {
		return t
	}
	return NewTx(k.suite, raw)
}

// Hashes returns the hashes of txs, from the table where it has them. k
// must not be nil (Executor.TxHashes serves an executor without a table).
func (k *Known) Hashes(txs [][]byte) [][]byte {
	out := make([][]byte, len(txs))
	for i, raw := range txs {
		t := k.Get(raw)
		k.count(t != nil)
		if t != nil {
			out[i] = t.Hash
		} else {
			out[i] = TxHash(k.suite, raw)
		}
	}
	return out
}

// Known is the table of decoded txs the executor was configured with
// (Config.Known), nil if none.
func (e *Executor) Known() *Known { return e.cfg.Known }

// Suite is the chain's crypto suite the executor was configured with
// (Config.Suite).
func (e *Executor) Suite() crypto.Suite { return e.cfg.Suite }

// Tx is the facts of raw: from the Known table if the executor has one and
// it holds raw, else decoded and hashed now.
func (e *Executor) Tx(raw []byte) *Tx {
	if e.cfg.Known == nil {
		return NewTx(e.cfg.Suite, raw)
	}
	return e.cfg.Known.Tx(raw)
}

// TxHashes returns the hashes of txs, from the Known table where it has
// them.
func (e *Executor) TxHashes(txs [][]byte) [][]byte {
	if e.cfg.Known == nil {
		out := make([][]byte, len(txs))
		for i, raw := range txs {
			out[i] = TxHash(e.cfg.Suite, raw)
		}
		return out
	}
	return e.cfg.Known.Hashes(txs)
}
