package mempool

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
)

// Mempool errors. The API maps them to status codes: ErrMempoolFull (and
// the errors that wrap it) to ResourceExhausted, the others to
// InvalidArgument, FailedPrecondition or AlreadyExists.
var (
	ErrMempoolFull = errors.New("mempool full")
	// ErrSignerFull: the signer holds as many txs or bytes as one signer
	// may. It wraps ErrMempoolFull, so callers that treat a full mempool
	// as "try later" (the API, a peer's batch admission) treat it so too.
	ErrSignerFull = fmt.Errorf("%w for this signer", ErrMempoolFull)
	// ErrQueuedFull: the tx is queued (a lower nonce of its signer is
	// missing) and queued txs already take their whole share of the
	// mempool. It wraps ErrMempoolFull.
	ErrQueuedFull  = fmt.Errorf("%w of txs behind a nonce gap", ErrMempoolFull)
	ErrDuplicateTx = errors.New("tx already in mempool")
	ErrStaleNonce  = errors.New("nonce already used")
	ErrNonceTaken  = errors.New("another tx with this nonce is pending")
	ErrNonceTooFar = errors.New("nonce too far ahead of the signer's next nonce")
	ErrTxTooLarge  = errors.New("tx too large")
	ErrInvalidTx   = errors.New("invalid tx")
	// ErrBacklog: the runnable txs already take longer to commit than
	// mempool.max_backlog_ms at the chain's commit rate (Reserve); the
	// refusal is a *BacklogError, which says when to retry. It wraps
	// ErrMempoolFull.
	ErrBacklog = fmt.Errorf("%w: backlog over what the chain commits in mempool.max_backlog_ms", ErrMempoolFull)
)

// BacklogError is Reserve's refusal: the runnable backlog (with the
// submissions reserved and not yet admitted) against its limit, the
// measured commit rate, and how long until the backlog has drained enough
// for the refused txs.
type BacklogError struct {
	Backlog, Limit int
	// CommitRate is the chain's smoothed commit rate, txs per second.
	CommitRate float64
	RetryAfter time.Duration
}

func (e *BacklogError) Error() string {
	return fmt.Sprintf("%v: %d runnable txs, limit %d (%.0f txs/s committed); retry after %s",
		ErrBacklog, e.Backlog, e.Limit, e.CommitRate, e.RetryAfter.Round(time.Millisecond))
}

func (e *BacklogError) Unwrap() error { return ErrBacklog }

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
	CheckTx(tx *exec.Tx) (*TxMeta, error)
	NextNonce(signer string) (uint64, error)
}

// Config bounds the mempool.
//
// A pending tx is runnable: its nonce is its signer's next, or follows a
// run of pending txs from it. A queued tx waits behind a nonce gap (a lower
// nonce of its signer is missing) and may never run. Queued txs are what a
// few signers can fill a mempool with at no cost, so they get a bounded
// share of it and a lifetime, and a runnable tx that finds the mempool full
// evicts them.
type Config struct {
	// Suite is the chain's crypto suite, whose hash names txs (the zero
	// value is ed25519-sha256).
	Suite    crypto.Suite
	MaxTxs   int
	MaxBytes int
	// MaxTxBytes bounds one tx.
	MaxTxBytes int
	// MaxNonceGap bounds how far ahead of a signer's next nonce a tx may be.
	MaxNonceGap uint64
	// MaxSignerTxs and MaxSignerBytes bound what one signer holds,
	// pending and queued together.
	MaxSignerTxs   int
	MaxSignerBytes int
	// MaxQueuedPercent is the share of MaxTxs and of MaxBytes that queued
	// txs may take, rounded up; the rest is kept for runnable txs.
	MaxQueuedPercent int
	// QueuedTTL is how long a tx may stay queued before Expire drops it.
	QueuedTTL time.Duration
	// MaxBacklog bounds what Reserve lets the API submit: the runnable
	// txs may take at most this long to commit at the chain's measured
	// commit rate, and no fewer than MinBacklogTxs are ever refused for
	// it (an idle chain, whose rate is near zero, still takes a burst).
	// 0 turns the bound off. Txs from peers are never refused by it:
	// their origin admitted them, and refusing them here would only
	// leave this node without txs the leader proposes.
	MaxBacklog    time.Duration
	MinBacklogTxs int
}

// Bounds of the mempool's config. Queued txs may take at most half the
// mempool: more would let them crowd out runnable txs, which is what the
// share is for. A queued TTL below a second would drop txs merely
// reordered by gossip; one over an hour would hold dead txs for that long.
const (
	MaxQueuedPercent = 50
	MinQueuedTTL     = time.Second
	MaxQueuedTTL     = time.Hour
	// A backlog bound under 50 ms would refuse txs merely waiting for the
	// next block; over a minute it bounds nothing a client would wait for.
	MinMaxBacklog = 50 * time.Millisecond
	MaxMaxBacklog = time.Minute
)

// DefaultConfig is the mempool's default bounds.
func DefaultConfig() Config {
	return Config{
		MaxTxs:      10000,
		MaxBytes:    64 << 20,
		MaxTxBytes:  64 << 10,
		MaxNonceGap: 64,
		// A signer may fill its whole nonce window with small txs, or
		// hold 16 of the largest.
		MaxSignerTxs:     64,
		MaxSignerBytes:   1 << 20,
		MaxQueuedPercent: 25,
		QueuedTTL:        time.Minute,
		// Half a second of commits: a tx admitted at saturation then
		// commits within about a second (issue 20), and the txs of
		// blocks in flight (proposed, not yet committed) fit in it.
		MaxBacklog:    500 * time.Millisecond,
		MinBacklogTxs: 512,
	}
}

// Validate checks the bounds.
func (c Config) Validate() error {
	switch {
	case c.MaxTxs <= 0:
		return fmt.Errorf("mempool.max_txs must be positive, got %d", c.MaxTxs)
	case c.MaxBytes <= 0:
		return fmt.Errorf("mempool.max_bytes must be positive, got %d", c.MaxBytes)
	case c.MaxTxBytes <= 0 || c.MaxTxBytes > c.MaxBytes:
		return fmt.Errorf("mempool max tx bytes must be in (0, max_bytes], got %d", c.MaxTxBytes)
	case c.MaxNonceGap == 0:
		return fmt.Errorf("mempool nonce gap must be positive")
	case c.MaxSignerTxs <= 0:
		return fmt.Errorf("mempool.max_signer_txs must be positive, got %d", c.MaxSignerTxs)
	case c.MaxSignerBytes < c.MaxTxBytes:
		return fmt.Errorf("mempool.max_signer_bytes %d is below mempool.max_tx_bytes %d: a signer could not hold the largest tx", c.MaxSignerBytes, c.MaxTxBytes)
	case c.MaxQueuedPercent < 1 || c.MaxQueuedPercent > MaxQueuedPercent:
		return fmt.Errorf("mempool.max_queued_percent %d out of range 1..%d", c.MaxQueuedPercent, MaxQueuedPercent)
	case c.QueuedTTL < MinQueuedTTL || c.QueuedTTL > MaxQueuedTTL:
		return fmt.Errorf("mempool queued TTL %s out of range %s..%s", c.QueuedTTL, MinQueuedTTL, MaxQueuedTTL)
	case c.MaxBacklog != 0 && (c.MaxBacklog < MinMaxBacklog || c.MaxBacklog > MaxMaxBacklog):
		return fmt.Errorf("mempool.max_backlog_ms %d out of range %d..%d (0: off)", c.MaxBacklog.Milliseconds(), MinMaxBacklog.Milliseconds(), MaxMaxBacklog.Milliseconds())
	case c.MaxBacklog != 0 && c.MinBacklogTxs < 1:
		return fmt.Errorf("mempool.min_backlog_txs %d: want at least 1 (above mempool.max_txs, max_txs bounds the mempool first)", c.MinBacklogTxs)
	}
	return nil
}

// maxQueuedTxs and maxQueuedBytes are the queued share of the mempool.
func (c Config) maxQueuedTxs() int   { return percentUp(c.MaxTxs, c.MaxQueuedPercent) }
func (c Config) maxQueuedBytes() int { return percentUp(c.MaxBytes, c.MaxQueuedPercent) }

// percentUp is pct percent of n rounded up, without overflow for any n.
func percentUp(n, pct int) int { return n/100*pct + (n%100*pct+99)/100 }

type mempoolTx struct {
	tx    []byte
	facts *exec.Tx // tx decoded at admission, in the node's Known table
	meta  TxMeta
	seq   uint64 // arrival order
	// gossiped is when the tx was last sent by this node to the
	// validators or reached it from a peer (zero: never); the field and
	// MarkGossiped/Regossip keep their pre-issue-20 names.
	gossiped time.Time
	// queued is set while the tx waits behind a nonce gap (see settle).
	queued bool
	// queuedSince is when Expire first found the tx queued (zero: not
	// yet, or pending). Stamping it there rather than in Add keeps the
	// clock out of admission; the lifetime then ends between QueuedTTL and
	// QueuedTTL plus the interval between Expire calls.
	queuedSince time.Time
}

type signerQueue struct {
	next uint64                // signer's next committed nonce, as last seen
	txs  map[uint64]*mempoolTx // by nonce
	// run is the first nonce from next that no tx holds, as of the last
	// settle: txs in [next, run) are pending, those above run queued.
	run   uint64
	bytes int // of txs
}

// Mempool holds admitted transactions until they commit. Per signer, txs are
// released in nonce order starting at the signer's next committed nonce; a
// tx with a gap before it waits (it is queued, see Config). It is
// safe for concurrent use: the API, peers' batch admission and the consensus
// driver all reach it.
type Mempool struct {
	cfg     Config
	checker TxChecker
	// known holds the decoded form of every tx in byHash (nil: no table).
	known *exec.Known

	mu      sync.Mutex
	byHash  map[string]*mempoolTx
	signers map[string]*signerQueue
	bytes   int
	seq     uint64
	commits uint64 // Update calls, for the periodic full recheck
	// queuedTxs and queuedBytes count the txs marked queued.
	queuedTxs, queuedBytes int
	// evicted and expired count queued txs dropped by Add to make room
	// and by Expire, since the start; refused those a recheck dropped
	// because committed state now refuses them.
	evicted, expired, refused uint64
	// dropped remembers why the last droppedKept refused txs were
	// dropped (a removed department's officials, a revoked signer, ...),
	// for GetTx and a SubmitTx waiting on the commit; droppedOrder is its
	// FIFO.
	dropped      map[string]string
	droppedOrder []string

	// rate is the chain's commit rate (txs per second), an exponentially
	// weighted average with time constant rateTau as of rateAt (UpdateAt);
	// reserved counts the API submissions Reserve let through that have
	// not been Released (Reserve's bound counts them as runnable).
	rate     float64
	rateAt   time.Time
	reserved int

	// woken gets a value when a tx that can be proposed at once enters a
	// mempool with none (see Woken).
	woken chan struct{}
}

// New returns an empty mempool. known, if not nil, is the node's table of
// decoded txs (exec.Known): the mempool puts each tx it admits there and
// drops it when the tx leaves, so the steps after admission find its hash
// and decoding there.
func New(cfg Config, checker TxChecker, known *exec.Known) (*Mempool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if checker == nil {
		return nil, errors.New("mempool: nil checker")
	}
	return &Mempool{cfg: cfg, checker: checker, known: known, byHash: map[string]*mempoolTx{}, signers: map[string]*signerQueue{},
		dropped: map[string]string{}, woken: make(chan struct{}, 1)}, nil
}

// Add checks and admits tx. It returns the tx's hash, or why it was refused;
// a refused tx changes nothing.
func (m *Mempool) Add(tx []byte) ([]byte, error) { return m.add(tx, nil) }

// AddTx is Add of a tx already hashed and decoded (exec.NewTx, or the
// facts a batch's signature check made: Fanout.Preverify), which it does
// not hash or decode again.
func (m *Mempool) AddTx(t *exec.Tx) ([]byte, error) { return m.add(t.Raw, t) }

func (m *Mempool) add(tx []byte, decoded *exec.Tx) ([]byte, error) {
	if len(tx) > m.cfg.MaxTxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTxTooLarge, len(tx), m.cfg.MaxTxBytes)
	}
	// A tx we hold (the same tx from a peer and the API, or from two
	// peers) is answered before the checker decodes it and reads state.
	facts := decoded
	if facts == nil {
		facts = &exec.Tx{Raw: tx, Hash: exec.TxHash(m.cfg.Suite, tx)}
	}
	if h := facts.Hash; m.Has(h) {
		if err := m.committedSince(h); err != nil {
			return nil, err
		}
		return h, ErrDuplicateTx
	}
	// Decoded once per node (ARCHITECTURE.md §3): here, unless the caller
	// did; what follows takes the facts from the Known table.
	if decoded == nil {
		facts.Signed, facts.Body, facts.Err = exec.DecodeTx(tx)
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
		if meta, err = m.checker.CheckTx(facts); err != nil {
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
	plan, err := m.planLocked(q, meta, len(tx), next)
	if err != nil {
		return nil, err
	}
	// Admitted: from here on nothing fails.
	wasReady := len(m.byHash) > m.queuedTxs
	for _, t := range plan.drop {
		m.removeLocked(t)
	}
	for _, t := range plan.evict {
		m.removeLocked(t)
		m.evicted++
	}
	if q = m.signers[meta.Signer]; q == nil { // new, or emptied above
		q = &signerQueue{next: next, txs: map[uint64]*mempoolTx{}}
		m.signers[meta.Signer] = q
	}
	q.next = next
	m.seq++
	mt := &mempoolTx{tx: tx, facts: facts, meta: *meta, seq: m.seq}
	m.known.Put(facts)
	q.txs[meta.Nonce] = mt
	q.bytes += len(tx)
	m.byHash[string(meta.Hash)] = mt
	m.bytes += len(tx)
	m.settleLocked(q)
	if !wasReady && plan.runnable {
		select {
		case m.woken <- struct{}{}:
		default:
		}
	}
	return meta.Hash, nil
}

// admission is what admitting a tx takes, decided before anything changes
// so that a refused tx changes nothing.
type admission struct {
	// runnable: the tx will be pending (its nonce follows the signer's
	// pending run).
	runnable bool
	// drop are the signer's txs below its next nonce in committed state,
	// which the checker saw before Update did: they can never commit.
	drop []*mempoolTx
	// evict are queued txs removed to make room for a runnable tx.
	evict []*mempoolTx
}

// planLocked decides whether a tx of size bytes, whose checks against
// committed state passed, fits, and what it evicts. next is the signer's
// next nonce (the later of committed state's and the mempool's), q its
// queue or nil.
//
// Every tx must fit the signer's bounds, the queued share if it is queued,
// and the mempool's bounds. Where a runnable tx does not fit, queued txs
// make room: first the signer's own, then anyone's, furthest ahead of its
// signer's pending run first (least likely to run soon), the newest first
// among equals. A pending tx is never evicted, and a queued tx never
// evicts anything: it waits for room, or for its gap to fill.
func (m *Mempool) planLocked(q *signerQueue, meta *TxMeta, size int, next uint64) (admission, error) {
	var a admission
	freed := map[*mempoolTx]bool{}
	run := next
	ownTxs, ownBytes := 0, 0
	if q != nil {
		for n, t := range q.txs {
			if n < next {
				a.drop = append(a.drop, t)
				freed[t] = true
				continue
			}
			ownTxs++
			ownBytes += len(t.tx)
		}
		for q.txs[run] != nil {
			run++
		}
	}
	a.runnable = meta.Nonce == run

	// The signer's own bounds; a runnable tx makes room among the
	// signer's queued txs.
	signerOver := func() bool {
		return ownTxs+1 > m.cfg.MaxSignerTxs || ownBytes+size > m.cfg.MaxSignerBytes
	}
	if signerOver() && a.runnable {
		for _, t := range m.victimsLocked(q, run, next, freed, true) {
			if !signerOver() {
				break
			}
			a.evict = append(a.evict, t)
			freed[t] = true
			ownTxs--
			ownBytes -= len(t.tx)
		}
	}
	if signerOver() {
		return a, fmt.Errorf("%w: signer %q holds %d txs, %d bytes; a tx of %d bytes would pass a limit: %d txs (mempool.max_signer_txs), %d bytes (mempool.max_signer_bytes)",
			ErrSignerFull, meta.Signer, ownTxs, ownBytes, size, m.cfg.MaxSignerTxs, m.cfg.MaxSignerBytes)
	}

	// The queued share.
	if !a.runnable && (m.queuedTxs+1 > m.cfg.maxQueuedTxs() || m.queuedBytes+size > m.cfg.maxQueuedBytes()) {
		return a, fmt.Errorf("%w: nonce %d waits for nonce %d of signer %q, and queued txs hold %d txs, %d bytes of a share of %d txs, %d bytes (mempool.max_queued_percent %d); submit nonce %d first",
			ErrQueuedFull, meta.Nonce, run, meta.Signer, m.queuedTxs, m.queuedBytes, m.cfg.maxQueuedTxs(), m.cfg.maxQueuedBytes(), m.cfg.MaxQueuedPercent, run)
	}

	// The mempool's bounds; a runnable tx makes room among queued txs.
	txs, bytes := len(m.byHash)+1, m.bytes+size
	for t := range freed {
		txs--
		bytes -= len(t.tx)
	}
	over := func() bool { return txs > m.cfg.MaxTxs || bytes > m.cfg.MaxBytes }
	if over() && a.runnable {
		for _, t := range m.victimsLocked(q, run, next, freed, false) {
			if !over() {
				break
			}
			a.evict = append(a.evict, t)
			txs--
			bytes -= len(t.tx)
		}
	}
	if over() {
		what := "runnable txs fill it"
		if !a.runnable {
			what = fmt.Sprintf("this tx is queued (nonce %d waits for nonce %d) and evicts nothing", meta.Nonce, run)
		}
		return a, fmt.Errorf("%w: %d txs, %d bytes of %d txs, %d bytes; %s", ErrMempoolFull, len(m.byHash), m.bytes, m.cfg.MaxTxs, m.cfg.MaxBytes, what)
	}
	return a, nil
}

// victimsLocked lists queued txs that a runnable tx of the signer with
// queue q (nil: none yet) may evict, in eviction order: furthest ahead of
// their signer's pending run first, then newest first. For q, whose next
// nonce is next, the run is the fresh run; other signers' come from their
// last settle. Only q's txs are listed if ownOnly. Txs in skip are left out.
// It walks every held tx, but only when a runnable tx finds its signer or
// the mempool full.
func (m *Mempool) victimsLocked(q *signerQueue, run, next uint64, skip map[*mempoolTx]bool, ownOnly bool) []*mempoolTx {
	type victim struct {
		t     *mempoolTx
		ahead uint64
	}
	var vs []victim
	add := func(sq *signerQueue, run uint64, queued func(n uint64, t *mempoolTx) bool) {
		for n, t := range sq.txs {
			if !skip[t] && queued(n, t) {
				vs = append(vs, victim{t, n - run})
			}
		}
	}
	if q != nil {
		add(q, run, func(n uint64, _ *mempoolTx) bool { return n > run && n >= next })
	}
	if !ownOnly {
		for _, sq := range m.signers {
			if sq != q {
				add(sq, sq.run, func(_ uint64, t *mempoolTx) bool { return t.queued })
			}
		}
	}
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].ahead != vs[j].ahead {
			return vs[i].ahead > vs[j].ahead
		}
		return vs[i].t.seq > vs[j].t.seq
	})
	out := make([]*mempoolTx, len(vs))
	for i, v := range vs {
		out[i] = v.t
	}
	return out
}

// Woken delivers a value when a tx that Reap would return enters a
// mempool that held none (it may hold queued txs): an idle leader then
// proposes at once rather than at its next consensus tick (up to 10 ms
// later). One value stands for any number of such txs; a mempool that
// already held a runnable tx signals nothing, since its leader is already
// proposing or will see the tx at its next tick.
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

// Regossip returns up to max pending txs last sent or received before
// cutoff, oldest first, and marks them sent at now. The node sends them to
// the validators again (Fanout.Run): a tx that missed the leader (a peer
// not yet connected, a restart) would otherwise wait until this node leads
// a view.
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

// MarkGossiped records that the tx with hash was sent to the validators,
// or received from a peer, at now.
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

// Runnable returns the number of runnable txs (pending, not queued behind
// a nonce gap).
func (m *Mempool) Runnable() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byHash) - m.queuedTxs
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
func (m *Mempool) Update(committed []CommittedTx) { m.UpdateAt(committed, time.Now()) }

// UpdateAt is Update with the caller's clock: now is when the txs
// committed, for the commit rate that bounds the backlog (Reserve).
func (m *Mempool) UpdateAt(committed []CommittedTx, now time.Time) {
	full := false
	m.mu.Lock()
	m.noteCommitsLocked(len(committed), now)
	signers := map[string]bool{}
	// The signers' txs keep their pending and queued marks from before the
	// block until their next nonces are read below (advanceLocked
	// settles them), or the full recheck settles them.
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

	// State reads outside the lock: the API and peers' batches keep adding.
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

// advanceLocked moves q's next nonce up to next, drops the txs below and
// settles q: a gap that committed state filled (the missing nonce came
// from another node) promotes the txs behind it.
func (m *Mempool) advanceLocked(q *signerQueue, next uint64) {
	if next > q.next {
		q.next = next
	}
	for n, t := range q.txs {
		if n < q.next {
			// Its nonce is used: by another tx of its signer (the txs a
			// commit carried left the mempool before this). A client
			// waiting for it learns so (Dropped) instead of waiting out
			// its deadline; one whose own tx committed finds it in the
			// ledger first.
			m.removeLocked(t)
			m.rememberDropLocked(t.meta.Hash, fmt.Sprintf("its nonce %d was used by a committed transaction of %s", n, t.meta.Signer))
		}
	}
	m.settleLocked(q)
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
		meta, err := m.checker.CheckTx(t.facts)
		verdicts[i] = verdict{t, meta, err}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	touched := map[string]bool{}
	for _, v := range verdicts {
		if _, still := m.byHash[string(v.t.meta.Hash)]; !still {
			continue
		}
		touched[v.t.meta.Signer] = true
		if v.err != nil {
			m.removeLocked(v.t)
			m.refused++
			m.rememberDropLocked(v.t.meta.Hash, v.err.Error())
			continue
		}
		if v.meta.Nonce < v.meta.NextNonce {
			m.removeLocked(v.t)
			continue
		}
		if q := m.signers[v.t.meta.Signer]; q != nil {
			m.advanceLocked(q, v.meta.NextNonce)
		}
	}
	// A tx dropped from the middle of a pending run demotes the txs
	// after it to queued.
	for s := range touched {
		if q := m.signers[s]; q != nil {
			m.settleLocked(q)
		}
	}
}

// droppedKept bounds the drop reasons the mempool remembers.
const droppedKept = 4096

// rememberDropLocked records why the tx with hash was dropped.
func (m *Mempool) rememberDropLocked(hash []byte, reason string) {
	k := string(hash)
	if _, ok := m.dropped[k]; !ok {
		if len(m.droppedOrder) == droppedKept {
			delete(m.dropped, m.droppedOrder[0])
			m.droppedOrder = m.droppedOrder[1:]
		}
		m.droppedOrder = append(m.droppedOrder, k)
	}
	m.dropped[k] = reason
}

// Dropped reports why the mempool dropped the tx with hash after admitting
// it, when committed state came to refuse it (its signer's department was
// removed, its signer revoked, ...): the reason, and whether it knows one.
// It remembers the last few thousand.
func (m *Mempool) Dropped(hash []byte) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.dropped[string(hash)]
	return r, ok
}

// removeLocked takes t out of the mempool. It does not settle t's signer:
// removing a queued tx changes no other tx's state, and callers that
// remove pending txs settle once they are done.
func (m *Mempool) removeLocked(t *mempoolTx) {
	delete(m.byHash, string(t.meta.Hash))
	m.known.Drop(t.facts)
	m.bytes -= len(t.tx)
	if t.queued {
		m.queuedTxs--
		m.queuedBytes -= len(t.tx)
	}
	if q := m.signers[t.meta.Signer]; q != nil {
		delete(q.txs, t.meta.Nonce)
		q.bytes -= len(t.tx)
		if len(q.txs) == 0 {
			delete(m.signers, t.meta.Signer)
		}
	}
}

// settleLocked marks each of q's txs pending or queued after q's next
// nonce or its txs changed, and keeps the queued counts. A tx that changes
// state forgets when Expire found it queued: its lifetime starts again.
func (m *Mempool) settleLocked(q *signerQueue) {
	run := q.next
	for q.txs[run] != nil {
		run++
	}
	q.run = run
	for n, t := range q.txs {
		queued := n > run
		if queued == t.queued {
			continue
		}
		t.queued, t.queuedSince = queued, time.Time{}
		d := 1
		if !queued {
			d = -1
		}
		m.queuedTxs += d
		m.queuedBytes += d * len(t.tx)
	}
}

// Expire drops the txs that have been queued for QueuedTTL: their gap has
// not filled, and they hold room that runnable txs need. The lifetime of a
// queued tx starts at the first Expire call that finds it queued, so the
// node calls Expire periodically; now is the caller's clock. It returns
// how many txs it dropped. Pending txs never expire: they are proposed.
func (m *Mempool) Expire(now time.Time) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var dead []*mempoolTx
	for _, t := range m.byHash {
		switch {
		case !t.queued:
		case t.queuedSince.IsZero():
			t.queuedSince = now
		case now.Sub(t.queuedSince) >= m.cfg.QueuedTTL:
			dead = append(dead, t)
		}
	}
	// Dropping queued txs changes no other tx's state: no settle.
	for _, t := range dead {
		m.removeLocked(t)
	}
	m.expired += uint64(len(dead))
	return len(dead)
}

// Stats are the mempool's counts for metrics.
type Stats struct {
	Txs, Bytes int
	// QueuedTxs and QueuedBytes are the txs waiting behind a nonce gap.
	QueuedTxs, QueuedBytes int
	// Evicted counts queued txs dropped to make room for runnable ones,
	// Expired those dropped after QueuedTTL, Refused those dropped because
	// committed state came to refuse them, since the start.
	Evicted, Expired, Refused uint64
	// Known counts the lookups in the node's table of decoded txs.
	Known exec.KnownStats
	// CommitRate is the chain's smoothed commit rate (txs per second) as of
	// the last commit, and BacklogLimit the runnable txs the backlog bound
	// allowed then (0: the bound is off).
	CommitRate   float64
	BacklogLimit int
}

// Stats returns the mempool's counts.
func (m *Mempool) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Stats{Txs: len(m.byHash), Bytes: m.bytes, QueuedTxs: m.queuedTxs, QueuedBytes: m.queuedBytes,
		Evicted: m.evicted, Expired: m.expired, Refused: m.refused, Known: m.known.Stats(), CommitRate: m.rate}
	if m.cfg.MaxBacklog != 0 {
		st.BacklogLimit, _ = m.backlogLimitLocked(m.rateAt)
	}
	return st
}

// committedSince reports, for a tx the mempool holds, ErrStaleNonce if
// committed state has used its nonce: the tx was committed and Update has
// not dropped it yet. A client that resubmits a committed tx in that
// window is told what it will be told afterwards (FailedPrecondition, not
// "already in the mempool").
func (m *Mempool) committedSince(hash []byte) error {
	m.mu.Lock()
	t, ok := m.byHash[string(hash)]
	var signer string
	var nonce uint64
	if ok {
		signer, nonce = t.meta.Signer, t.meta.Nonce
	}
	m.mu.Unlock()
	if !ok {
		return nil
	}
	next, err := m.checker.NextNonce(signer)
	if err != nil || nonce >= next {
		return nil
	}
	return fmt.Errorf("%w: nonce %d, signer %q is at %d (committed)", ErrStaleNonce, nonce, signer, next)
}

// The backlog bound (issue 20, ARCHITECTURE.md §3 step 3): past
// saturation an unbounded mempool admits far more than the chain commits,
// every tx then waits behind the others (seconds, then tens of seconds),
// and the work of holding, gossiping and re-checking them takes from the
// commits. The API therefore asks Reserve before it decodes or verifies
// anything: the runnable txs (pending, not behind a nonce gap, blocks in
// flight included) plus those reserved must stay within what the chain
// commits in MaxBacklog, at its measured rate, and never below
// MinBacklogTxs. What does not fit is refused at once with a retry
// delay (ResourceExhausted with RetryInfo and Retry-After at the API);
// what fits commits within about MaxBacklog.

// rateTau is the time constant of the commit rate's average: long enough
// to smooth the jitter of block sizes and intervals, short enough that a
// chain that speeds up after an idle spell opens the bound within a
// second or two.
const rateTau = time.Second

// Retry delays of a refusal by the backlog bound: at least about a block
// interval, at most a few seconds. A chain with no commit rate yet (idle
// until a burst filled the floor, or stalled) gets idleBacklogRetry: a
// refusal costs the node nothing but the request, and an idle chain
// commits the burst within a second.
const (
	minBacklogRetry  = 50 * time.Millisecond
	maxBacklogRetry  = 5 * time.Second
	idleBacklogRetry = time.Second
)

// noteCommitsLocked counts n txs committed at now in the commit rate.
func (m *Mempool) noteCommitsLocked(n int, now time.Time) {
	m.rate = m.rateAtLocked(now) + float64(n)/rateTau.Seconds()
	if now.After(m.rateAt) {
		m.rateAt = now
	}
}

// rateAtLocked is the commit rate decayed to now (no commit since rateAt).
func (m *Mempool) rateAtLocked(now time.Time) float64 {
	if m.rateAt.IsZero() || !now.After(m.rateAt) {
		return m.rate
	}
	return m.rate * math.Exp(-now.Sub(m.rateAt).Seconds()/rateTau.Seconds())
}

// backlogLimitLocked is the most runnable txs the bound allows at now,
// and the commit rate it is based on.
func (m *Mempool) backlogLimitLocked(now time.Time) (limit int, rate float64) {
	rate = m.rateAtLocked(now)
	limit = int(math.Ceil(rate * m.cfg.MaxBacklog.Seconds()))
	return max(limit, m.cfg.MinBacklogTxs), rate
}

// Reserve asks room for n txs submitted through the API at now, before
// any of them is decoded or checked. It grants the first k of them
// (0 <= k <= n) and, when k < n, returns a *BacklogError for the rest.
// The caller Adds the k granted txs and then calls Release(k) whatever
// their fate: until then they count as runnable, so concurrent requests
// cannot overshoot the bound together. With the bound off (MaxBacklog 0)
// it grants all. Txs from peers do not go through Reserve (Config).
func (m *Mempool) Reserve(n int, now time.Time) (int, error) {
	if n <= 0 {
		return 0, nil
	}
	if m.cfg.MaxBacklog == 0 {
		m.mu.Lock()
		m.reserved += n
		m.mu.Unlock()
		return n, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	backlog := len(m.byHash) - m.queuedTxs + m.reserved
	limit, rate := m.backlogLimitLocked(now)
	k := min(max(limit-backlog, 0), n)
	m.reserved += k
	if k == n {
		return n, nil
	}
	// The first refused tx fits once the backlog over the limit (txs from
	// peers may have pushed it over) and one more have committed. A
	// client that retries then has part of its txs admitted, which keeps
	// the chain busy; retrying costs the node little, refusals being
	// decided before any decoding.
	retry := idleBacklogRetry
	if rate >= 1 {
		retry = time.Duration(float64(max(backlog-limit, 0)+1) / rate * float64(time.Second))
		retry = min(max(retry, minBacklogRetry), maxBacklogRetry)
	}
	return k, &BacklogError{Backlog: backlog, Limit: limit, CommitRate: rate, RetryAfter: retry}
}

// Release returns k txs' reservation (Reserve), after Add admitted or
// refused them.
func (m *Mempool) Release(k int) {
	if k <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if k > m.reserved {
		panic(fmt.Sprintf("mempool: Release(%d) with %d reserved", k, m.reserved)) // a broken invariant: a caller released what it did not reserve
	}
	m.reserved -= k
}
