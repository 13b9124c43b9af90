package node

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/govnode/govnode/crypto"
)

// Mempool errors. The API maps them to status codes: ErrMempoolFull to
// ResourceExhausted, the others to InvalidArgument or AlreadyExists.
var (
	ErrMempoolFull = errors.New("mempool full")
	ErrDuplicateTx = errors.New("tx already in mempool")
	ErrStaleNonce  = errors.New("nonce already used")
	ErrNonceTaken  = errors.New("another tx with this nonce is pending")
	ErrNonceTooFar = errors.New("nonce too far ahead of the signer's next nonce")
	ErrTxTooLarge  = errors.New("tx too large")
	ErrInvalidTx   = errors.New("invalid tx")
)

// TxMeta is what the checker tells the mempool about a tx.
type TxMeta struct {
	Hash   []byte
	Signer string
	Nonce  uint64
	// NextNonce is the signer's next nonce in committed state.
	NextNonce uint64
}

// TxChecker validates a tx against committed state (decode, size, chain id,
// signature, signer active, permission pre-check). It must be safe for
// concurrent use. A returned error is the reason the tx is refused.
// NextNonce is a signer's next nonce in committed state.
type TxChecker interface {
	CheckTx(tx []byte) (*TxMeta, error)
	NextNonce(signer string) (uint64, error)
}

// MempoolConfig bounds the mempool.
type MempoolConfig struct {
	MaxTxs   int
	MaxBytes int
	// MaxTxBytes bounds one tx.
	MaxTxBytes int
	// MaxNonceGap bounds how far ahead of a signer's next nonce a tx may be.
	MaxNonceGap uint64
}

// Validate checks the bounds.
func (c MempoolConfig) Validate() error {
	switch {
	case c.MaxTxs <= 0:
		return fmt.Errorf("mempool.max_txs must be positive, got %d", c.MaxTxs)
	case c.MaxBytes <= 0:
		return fmt.Errorf("mempool.max_bytes must be positive, got %d", c.MaxBytes)
	case c.MaxTxBytes <= 0 || c.MaxTxBytes > c.MaxBytes:
		return fmt.Errorf("mempool max tx bytes must be in (0, max_bytes], got %d", c.MaxTxBytes)
	case c.MaxNonceGap == 0:
		return fmt.Errorf("mempool nonce gap must be positive")
	}
	return nil
}

type mempoolTx struct {
	tx   []byte
	meta TxMeta
	seq  uint64 // arrival order
	// gossiped is when the tx was last gossiped by this node or reached
	// it by gossip (zero: never).
	gossiped time.Time
}

type signerQueue struct {
	next uint64                // signer's next committed nonce, as last seen
	txs  map[uint64]*mempoolTx // by nonce
}

// Mempool holds admitted transactions until they commit. Per signer, txs are
// released in nonce order starting at the signer's next committed nonce; a
// tx with a gap before it waits. It is safe for concurrent use: the API,
// the gossip validator and the consensus driver all reach it.
type Mempool struct {
	cfg     MempoolConfig
	checker TxChecker

	mu      sync.Mutex
	byHash  map[string]*mempoolTx
	signers map[string]*signerQueue
	bytes   int
	seq     uint64
	commits uint64 // Update calls, for the periodic full recheck

	// woken gets a value when a tx that can be proposed at once enters an
	// empty mempool (see Woken).
	woken chan struct{}
}

// NewMempool returns an empty mempool.
func NewMempool(cfg MempoolConfig, checker TxChecker) (*Mempool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if checker == nil {
		return nil, errors.New("mempool: nil checker")
	}
	return &Mempool{cfg: cfg, checker: checker, byHash: map[string]*mempoolTx{}, signers: map[string]*signerQueue{},
		woken: make(chan struct{}, 1)}, nil
}

// Add checks and admits tx. It returns the tx's hash, or why it was refused;
// a refused tx changes nothing.
func (m *Mempool) Add(tx []byte) ([]byte, error) {
	if len(tx) > m.cfg.MaxTxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTxTooLarge, len(tx), m.cfg.MaxTxBytes)
	}
	// A tx we hold (our own gossip coming back, the same tx from two
	// peers) is answered before the checker decodes it and reads state.
	if h := crypto.Hash(tx); m.Has(h) {
		return h, ErrDuplicateTx
	}
	// The check reads committed state outside the lock. Should a commit
	// land meanwhile, its Update may not have tracked this signer (no tx
	// of it was pending), so the verdict could name a nonce the commit
	// used: check again against the new state.
	var meta *TxMeta
	for try := 0; ; try++ {
		m.mu.Lock()
		commits := m.commits
		m.mu.Unlock()
		var err error
		if meta, err = m.checker.CheckTx(tx); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidTx, err)
		}
		m.mu.Lock()
		if m.commits == commits || try == 2 {
			break // still locked
		}
		m.mu.Unlock()
	}
	defer m.mu.Unlock()
	if _, ok := m.byHash[string(meta.Hash)]; ok {
		return meta.Hash, ErrDuplicateTx
	}
	q := m.signers[meta.Signer]
	next := meta.NextNonce
	if q != nil && q.next > next {
		next = q.next
	}
	switch {
	case meta.Nonce < next:
		return nil, fmt.Errorf("%w: nonce %d, signer %q is at %d", ErrStaleNonce, meta.Nonce, meta.Signer, next)
	case meta.Nonce-next >= m.cfg.MaxNonceGap:
		return nil, fmt.Errorf("%w: nonce %d, next is %d", ErrNonceTooFar, meta.Nonce, next)
	}
	if q != nil {
		if _, taken := q.txs[meta.Nonce]; taken {
			return nil, fmt.Errorf("%w: signer %q nonce %d", ErrNonceTaken, meta.Signer, meta.Nonce)
		}
	}
	if len(m.byHash) >= m.cfg.MaxTxs || m.bytes+len(tx) > m.cfg.MaxBytes {
		return nil, fmt.Errorf("%w: %d txs, %d bytes", ErrMempoolFull, len(m.byHash), m.bytes)
	}
	if q == nil {
		q = &signerQueue{next: next, txs: map[uint64]*mempoolTx{}}
		m.signers[meta.Signer] = q
	}
	m.seq++
	mt := &mempoolTx{tx: tx, meta: *meta, seq: m.seq}
	q.txs[meta.Nonce] = mt
	if len(m.byHash) == 0 && meta.Nonce == q.next {
		select {
		case m.woken <- struct{}{}:
		default:
		}
	}
	m.byHash[string(meta.Hash)] = mt
	m.bytes += len(tx)
	return meta.Hash, nil
}

// Woken delivers a value when a tx that Reap would return enters an empty
// mempool: an idle leader then proposes at once rather than at its next
// consensus tick (up to 10 ms later). One value stands for any number of
// such txs; a mempool that is not empty signals nothing, since its leader
// is already proposing or will see the tx at its next tick.
func (m *Mempool) Woken() <-chan struct{} { return m.woken }

// Reap returns up to maxTxs txs and maxBytes bytes ready to propose: for each
// signer, its contiguous run of nonces from its next nonce, signers taken in
// the arrival order of their first ready tx. The txs stay in the mempool
// until Update removes them.
func (m *Mempool) Reap(maxTxs, maxBytes int) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	type head struct {
		q   *signerQueue
		seq uint64
	}
	var heads []head
	for _, q := range m.signers {
		if t, ok := q.txs[q.next]; ok {
			heads = append(heads, head{q, t.seq})
		}
	}
	sort.Slice(heads, func(i, j int) bool { return heads[i].seq < heads[j].seq })
	var out [][]byte
	size := 0
	for _, h := range heads {
		for n := h.q.next; ; n++ {
			t, ok := h.q.txs[n]
			if !ok {
				break
			}
			if len(out) >= maxTxs || size+len(t.tx) > maxBytes {
				return out
			}
			out = append(out, t.tx)
			size += len(t.tx)
		}
	}
	return out
}

// Ready reports whether Reap would return a tx: some signer's next nonce
// is pending. A tx waiting behind a nonce gap does not count.
func (m *Mempool) Ready() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, q := range m.signers {
		if _, ok := q.txs[q.next]; ok {
			return true
		}
	}
	return false
}

// Regossip returns up to max pending txs last gossiped before cutoff,
// oldest first, and marks them gossiped at now. The node publishes them
// again: a tx whose gossip missed the leader (a peer not yet connected, a
// restart) would otherwise wait until this node leads a view.
func (m *Mempool) Regossip(cutoff, now time.Time, max int) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	var stale []*mempoolTx
	for _, t := range m.byHash {
		if t.gossiped.Before(cutoff) {
			stale = append(stale, t)
		}
	}
	sort.Slice(stale, func(i, j int) bool { return stale[i].seq < stale[j].seq })
	if len(stale) > max {
		stale = stale[:max]
	}
	out := make([][]byte, len(stale))
	for i, t := range stale {
		t.gossiped = now
		out[i] = t.tx
	}
	return out
}

// MarkGossiped records that the tx with hash was gossiped at now.
func (m *Mempool) MarkGossiped(hash []byte, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.byHash[string(hash)]; ok {
		t.gossiped = now
	}
}

// Has reports whether a tx with this hash is pending.
func (m *Mempool) Has(hash []byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.byHash[string(hash)]
	return ok
}

// Get returns the pending tx with this hash.
func (m *Mempool) Get(hash []byte) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.byHash[string(hash)]
	if !ok {
		return nil, false
	}
	return t.tx, true
}

// Size returns the number of pending txs and their bytes.
func (m *Mempool) Size() (txs, bytes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byHash), m.bytes
}

// CommittedTx is a tx of a committed block as the block claims it: its
// hash, and the signer and nonce its body names (empty if it does not
// decode). The claim is not trusted: a block may hold a tx that failed and
// used no nonce, so the mempool reads the signer's nonce from committed
// state.
type CommittedTx struct {
	Hash   []byte
	Signer string
	Nonce  uint64
	// Admission is set when the tx's action may change whether other txs
	// pass the checker (keys, identity status, roles, chain parameters):
	// then every pending tx is checked again.
	Admission bool
}

// fullRecheckEvery bounds how many commits pass between full rechecks, as
// a backstop for a state change that Admission does not name.
const fullRecheckEvery = 64

// Update removes the committed txs. For every signer the block names, it
// reads the signer's next nonce from committed state and drops the
// pending txs below it (a tx with the same nonce committed from another
// node). The other pending txs stay valid unless the block changed who may
// do what: when a committed tx has Admission set, and every
// fullRecheckEvery commits, every pending tx is checked again and those
// refused are dropped. Rechecking every pending tx after every block would
// cost a decode and state reads per pending tx per block.
func (m *Mempool) Update(committed []CommittedTx) {
	full := false
	m.mu.Lock()
	signers := map[string]bool{}
	for _, c := range committed {
		if t, ok := m.byHash[string(c.Hash)]; ok {
			m.removeLocked(t)
			signers[t.meta.Signer] = true
		}
		if c.Signer != "" {
			signers[c.Signer] = true
		}
		full = full || c.Admission
	}
	m.commits++
	full = full || m.commits%fullRecheckEvery == 0
	var touched []string
	for s := range signers {
		if m.signers[s] != nil {
			touched = append(touched, s)
		}
	}
	m.mu.Unlock()

	// State reads outside the lock: the API and gossip keep adding.
	next := make(map[string]uint64, len(touched))
	for _, s := range touched {
		n, err := m.checker.NextNonce(s)
		if err != nil {
			full = true // cannot tell: check every tx
			continue
		}
		next[s] = n
	}
	m.mu.Lock()
	for s, n := range next {
		if q := m.signers[s]; q != nil {
			m.advanceLocked(q, n)
		}
	}
	if !full {
		m.mu.Unlock()
		return
	}
	rest := make([]*mempoolTx, 0, len(m.byHash))
	for _, t := range m.byHash {
		rest = append(rest, t)
	}
	m.mu.Unlock()
	m.recheck(rest)
}

// advanceLocked moves q's next nonce up to next and drops the txs below.
func (m *Mempool) advanceLocked(q *signerQueue, next uint64) {
	if next > q.next {
		q.next = next
	}
	for n, t := range q.txs {
		if n < q.next {
			m.removeLocked(t)
		}
	}
}

// recheck checks txs again against committed state and drops those now
// refused or whose nonce committed state has used.
func (m *Mempool) recheck(txs []*mempoolTx) {
	type verdict struct {
		t    *mempoolTx
		meta *TxMeta
		err  error
	}
	verdicts := make([]verdict, len(txs))
	for i, t := range txs {
		meta, err := m.checker.CheckTx(t.tx)
		verdicts[i] = verdict{t, meta, err}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range verdicts {
		if _, still := m.byHash[string(v.t.meta.Hash)]; !still {
			continue
		}
		if v.err != nil || v.meta.Nonce < v.meta.NextNonce {
			m.removeLocked(v.t)
			continue
		}
		if q := m.signers[v.t.meta.Signer]; q != nil {
			m.advanceLocked(q, v.meta.NextNonce)
		}
	}
}

func (m *Mempool) removeLocked(t *mempoolTx) {
	delete(m.byHash, string(t.meta.Hash))
	m.bytes -= len(t.tx)
	if q := m.signers[t.meta.Signer]; q != nil {
		delete(q.txs, t.meta.Nonce)
		if len(q.txs) == 0 {
			delete(m.signers, t.meta.Signer)
		}
	}
}
