package payloads

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syndtr/goleveldb/leveldb"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/blockexec"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/store"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Defaults of Deps' tuning fields.
const (
	// DefaultPendingTTL is how long a payload accepted ahead of its tx
	// (Accept) is kept while no committed version commits to it: the tx
	// was refused, expired or never sent.
	DefaultPendingTTL = time.Hour
	// DefaultFetchTimeout bounds one fetch from member peers.
	DefaultFetchTimeout = 10 * time.Second
	// DefaultRetryMin and DefaultRetryMax bound the delay before a payload
	// no peer had is asked for again; it doubles after each failure.
	DefaultRetryMin = 2 * time.Second
	DefaultRetryMax = 5 * time.Minute
	// DefaultMaxPending bounds the payloads accepted and not yet bound;
	// Accept refuses more (ErrFull).
	DefaultMaxPending = 10000
	// DefaultMaxWanted bounds the payloads waiting to be fetched; more are
	// dropped (counted, logged) and fetched only on demand.
	DefaultMaxWanted = 100000
)

const (
	// fetchBatch is the commitments per Fetch call: p2p's
	// MaxPayloadsPerRequest.
	fetchBatch = 64
	// fetchRound bounds the wants fetched in one round of the fetch loop.
	fetchRound = 8 * fetchBatch
	// heightRetry is the wait before a height that failed (a storage
	// error) is processed again.
	heightRetry = time.Second
	// memberPoll is how often the fetch loop looks at Member() while idle.
	memberPoll = 10 * time.Second
)

// Record event actions the manager acts on (exec's RecordEvent.action).
const (
	actionCreated = "created"
	actionAmended = "amended"
	actionErased  = "erased"
)

// Errors of Payload and Accept.
var (
	// ErrErased: the payload was erased (EraseRecordContent) and no record
	// that is not erased commits to it. Callers check committed state
	// first; this is the payload store's own answer.
	ErrErased = errors.New("payloads: the content was erased")
	// ErrUnavailable: the payload is not held here and no member peer
	// answered with it in time.
	ErrUnavailable = errors.New("payloads: no member peer has the payload")
	// ErrNotMember: this node is not a member department's node now, and
	// observers never store or fetch payloads.
	ErrNotMember = errors.New("payloads: this node is not a member department's node: it keeps no protected payloads")
	// ErrFull: too many payloads accepted and not yet bound to a committed
	// version.
	ErrFull = errors.New("payloads: too many payloads waiting for their transactions")
)

// Ledger is the committed chain the manager reads events from
// (*store.Store), as node/api's event stream does (blockexec.BlockEvents).
type Ledger = blockexec.EventReader

var _ Ledger = (*store.Store)(nil)

// Commits is the source of commit notifications (node/api's
// HeightNotifier has this method).
type Commits interface {
	// Wait returns the committed height and a channel closed at the next
	// commit.
	Wait() (height uint64, changed <-chan struct{})
}

// Deps are what the manager needs from the node. Store, State, Ledger,
// Commits, Fetch, Member and Logger are required; the rest have defaults.
type Deps struct {
	Store *Store
	// State is the committed state (latest): record types, records and
	// their versions.
	State  exec.Reader
	Ledger Ledger
	// Commits wakes the manager at each commit.
	Commits Commits
	// Fetch asks member peers for the payloads of commitments (at most
	// 64). It may return fewer, in any order, with nils; each is checked
	// here against the commitments asked. The node implements it with
	// p2p's RequestPayloads over its connected member peers.
	Fetch func(ctx context.Context, commitments [][]byte) ([]*pb.Payload, error)
	// Member reports whether this node is a member department's node now
	// (its department is in the validator set in force). Observers never
	// store or fetch payloads.
	Member func() bool
	Logger *slog.Logger

	// Now is the clock of stored-at times and the pending TTL; nil is
	// time.Now.
	Now func() time.Time
	// PendingTTL: an accepted payload that no committed version binds is
	// deleted after it (DefaultPendingTTL).
	PendingTTL time.Duration
	// GCInterval is how often expired pending payloads are looked for;
	// 0 is min(PendingTTL/4, 5 min).
	GCInterval time.Duration
	// FetchTimeout bounds one fetch (DefaultFetchTimeout), in the
	// background and in Payload.
	FetchTimeout time.Duration
	// RetryMin and RetryMax bound the backoff of a payload no peer had
	// (DefaultRetryMin, DefaultRetryMax).
	RetryMin, RetryMax time.Duration
	// MaxPending bounds the accepted, unbound payloads (DefaultMaxPending).
	MaxPending int
	// MaxWanted bounds the payloads waiting to be fetched
	// (DefaultMaxWanted).
	MaxWanted int
}

// Stats are the manager's counters since New (and a few gauges), for the
// node's metrics.
type Stats struct {
	// Cursor is the last committed height processed.
	Cursor uint64
	// Wanted is the number of payloads waiting to be fetched; Pending the
	// accepted payloads no committed version binds yet (as of the last
	// sweep, plus those accepted since).
	Wanted, Pending int
	// Accepted counts payloads stored by Accept; Fetched those fetched in
	// the background; FetchedOnDemand those fetched by Payload;
	// FetchFailures wanted payloads a fetch round did not get.
	Accepted, Fetched, FetchedOnDemand, FetchFailures uint64
	// Erased counts payloads deleted because their record was erased;
	// Expired accepted payloads deleted after PendingTTL unbound.
	Erased, Expired uint64
	// SkippedErased counts created/amended events not fetched because the
	// record is erased in committed state (a node syncing late).
	SkippedErased uint64
	// WantsDropped counts payloads not queued because MaxWanted was
	// reached.
	WantsDropped uint64
}

// Manager keeps this node's protected payloads in step with the chain
// (ARCHITECTURE.md §5 "Erasing personal data"): it stores the payloads
// SubmitTx accepts ahead of their txs, follows committed heights to fetch
// from member peers the payloads of new protected versions it lacks, and
// deletes (and compacts away) every version's payload when a record is
// erased; it fetches on demand at read time.
//
// Concurrency: mu serialises every write the manager makes (binding,
// storing, erasing, expiring) with the checks that decide them, so a
// payload fetched while its record is being erased is never stored after
// the erasure. Network fetches run outside mu.
type Manager struct {
	d Deps
	s *Store

	mu    sync.Mutex
	wants map[string]*want // by commitment; under mu

	// recent are the record events of the last blocks committed, handed
	// over in memory by Committed: reading them back meant decoding every
	// tx result of every block (5% of a node's CPU at 2,000 tx/s). A height
	// not here (a restart, a lagging cursor) is read from the ledger.
	recentMu sync.Mutex
	recent   map[uint64][]*pb.RecordEvent

	wake   chan struct{} // 1-buffered: the fetch loop has new wants
	cursor atomic.Uint64

	pending                                      atomic.Int64
	accepted, fetched, onDemand, fetchFailures   atomic.Uint64
	erased, expired, skippedErased, wantsDropped atomic.Uint64
	wantsLen                                     atomic.Int64
}

// want is a payload to fetch in the background.
type want struct {
	commitment []byte
	record     string
	next       time.Time     // when to ask next (zero: at once)
	delay      time.Duration // the last backoff
	warned     bool          // its long wait was logged
}

// New builds the manager over d.Store, loading its cursor, wanted
// payloads and pending count from it.
func New(d Deps) (*Manager, error) {
	if d.Store == nil || d.State == nil || d.Ledger == nil || d.Commits == nil || d.Fetch == nil || d.Member == nil || d.Logger == nil {
		return nil, errors.New("payloads: New needs store, state, ledger, commits, fetch, member and logger")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.PendingTTL <= 0 {
		d.PendingTTL = DefaultPendingTTL
	}
	if d.GCInterval <= 0 {
		d.GCInterval = min(d.PendingTTL/4, 5*time.Minute)
	}
	if d.FetchTimeout <= 0 {
		d.FetchTimeout = DefaultFetchTimeout
	}
	if d.RetryMin <= 0 {
		d.RetryMin = DefaultRetryMin
	}
	if d.RetryMax < d.RetryMin {
		d.RetryMax = max(DefaultRetryMax, d.RetryMin)
	}
	if d.MaxPending <= 0 {
		d.MaxPending = DefaultMaxPending
	}
	if d.MaxWanted <= 0 {
		d.MaxWanted = DefaultMaxWanted
	}
	m := &Manager{d: d, s: d.Store, wants: map[string]*want{}, wake: make(chan struct{}, 1)}
	c, err := m.s.cursor()
	if err != nil {
		return nil, err
	}
	m.cursor.Store(c)
	err = m.s.scan([]byte{tagWant}, func(k, v []byte) bool {
		if len(k) == crypto.HashSize {
			m.wants[string(k)] = &want{commitment: bytes.Clone(k), record: string(v)}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	m.wantsLen.Store(int64(len(m.wants)))
	pending := 0
	err = m.s.scan([]byte{tagMeta}, func(_, v []byte) bool {
		if md, ok := decodeMeta(v); ok && !md.bound {
			pending++
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	m.pending.Store(int64(pending))
	return m, nil
}

// Stats returns a snapshot of the counters.
func (m *Manager) Stats() Stats {
	return Stats{
		Cursor: m.cursor.Load(), Wanted: int(m.wantsLen.Load()), Pending: int(m.pending.Load()),
		Accepted: m.accepted.Load(), Fetched: m.fetched.Load(), FetchedOnDemand: m.onDemand.Load(),
		FetchFailures: m.fetchFailures.Load(), Erased: m.erased.Load(), Expired: m.expired.Load(),
		SkippedErased: m.skippedErased.Load(), WantsDropped: m.wantsDropped.Load(),
	}
}

// Accept stores the payload that a tx about to be admitted commits to
// (SubmitTx), with a synced write, before the tx goes anywhere. It is
// pending until a committed version binds it, and deleted after
// PendingTTL if none does. It refuses a payload that does not open
// commitment or is over the store's content limit (ErrBadPayload), on an
// observer (ErrNotMember), and when MaxPending payloads are pending
// (ErrFull). A payload already held is accepted as it is.
func (m *Manager) Accept(commitment []byte, p *pb.Payload) error {
	if !m.d.Member() {
		return ErrNotMember
	}
	if err := m.s.check(commitment, p); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// An erased payload never comes back, whoever kept a copy of it.
	if erased, err := m.s.has(erasedKey(commitment)); err != nil || erased {
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: %x", ErrErased, commitment)
	}
	if held, err := m.s.Has(commitment); err != nil || held {
		return err
	}
	if m.pending.Load() >= int64(m.d.MaxPending) {
		return fmt.Errorf("%w (%d)", ErrFull, m.d.MaxPending)
	}
	// A committed version of a record not erased may commit to it already
	// (a payload resent, or fetched by no peer yet).
	bound, err := m.s.bound(commitment, "")
	if err != nil {
		return err
	}
	if err := m.storeLocked(commitment, p, bound); err != nil {
		return err
	}
	if !bound {
		m.pending.Add(1)
	}
	m.accepted.Add(1)
	return nil
}

// storeLocked writes p (checked) under commitment, and drops its want.
// The caller holds mu.
func (m *Manager) storeLocked(commitment []byte, p *pb.Payload, bound bool) error {
	b := new(leveldb.Batch)
	if err := m.s.putBatch(b, commitment, p, bound, m.d.Now()); err != nil {
		return err
	}
	b.Delete(wantKey(commitment))
	if err := m.s.write(b); err != nil {
		return err
	}
	m.dropWant(commitment)
	return nil
}

func (m *Manager) dropWant(c []byte) {
	if _, ok := m.wants[string(c)]; ok {
		delete(m.wants, string(c))
		m.wantsLen.Store(int64(len(m.wants)))
	}
}

// Payload returns the payload with commitment: the one held here, else
// one fetched from member peers within FetchTimeout (and ctx), stored and
// returned. ErrErased: erased here and bound to no record that is not;
// ErrNotMember: this node is an observer and does not hold it;
// ErrUnavailable: no peer gave it. The caller checks committed state
// (entitlement, erasure) before asking.
func (m *Manager) Payload(ctx context.Context, commitment []byte) (*pb.Payload, error) {
	if len(commitment) != crypto.HashSize {
		return nil, fmt.Errorf("%w: commitment of %d bytes", ErrBadPayload, len(commitment))
	}
	// The erasure's tombstone first: a copy stored after it (there is
	// none: Accept and the fetches check it) would not be served.
	if erased, err := m.s.has(erasedKey(commitment)); err != nil || erased {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %x", ErrErased, commitment)
	}
	p, err := m.s.Get(commitment)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if !m.d.Member() {
		return nil, ErrNotMember
	}
	fctx, cancel := context.WithTimeout(ctx, m.d.FetchTimeout)
	got, ferr := m.d.Fetch(fctx, [][]byte{commitment})
	cancel()
	p = nil
	for _, g := range got {
		if g != nil && m.s.check(commitment, g) == nil {
			p = g
			break
		}
	}
	if p == nil {
		if ferr != nil {
			return nil, fmt.Errorf("%w: %x: %v", ErrUnavailable, commitment, ferr)
		}
		return nil, fmt.Errorf("%w: %x", ErrUnavailable, commitment)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Erased while it was fetched: never store it again.
	if erased, err := m.s.has(erasedKey(commitment)); err != nil || erased {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %x", ErrErased, commitment)
	}
	if held, err := m.s.Has(commitment); err != nil || held {
		return p, err
	}
	bound, err := m.s.bound(commitment, "")
	if err != nil {
		return nil, err
	}
	if err := m.storeLocked(commitment, p, bound); err != nil {
		return nil, err
	}
	if !bound {
		m.pending.Add(1)
	}
	m.onDemand.Add(1)
	return p, nil
}

// Discard deletes a payload Accept stored for a tx that the node then
// refused, unless a committed version binds it: refused content does not
// wait an hour on disk. Discarding a payload not held is not an error.
func (m *Manager) Discard(commitment []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	raw, err := m.s.get(metaKey(commitment))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if md, ok := decodeMeta(raw); ok && md.bound {
		return nil
	}
	if bound, err := m.s.bound(commitment, ""); err != nil || bound {
		return err
	}
	if err := m.s.Delete([][]byte{commitment}); err != nil {
		return err
	}
	m.pending.Add(-1)
	return nil
}

// Payloads serves member peers (p2p.PayloadSource): the payloads held for
// commitments, in the order asked, leaving out those a committed version
// of a record that is not erased does not commit to (a payload still
// pending, or one whose erasure this node has not processed yet).
func (m *Manager) Payloads(commitments [][]byte) []*pb.Payload {
	var out []*pb.Payload
	for _, c := range commitments {
		id, err := exec.ProtectedCommitmentRecord(m.d.State, c)
		if err != nil {
			continue
		}
		rec, err := exec.Record(m.d.State, id)
		if err != nil || rec.GetErasedHeight() > 0 {
			continue
		}
		if erased, err := m.s.has(erasedKey(c)); err != nil || erased {
			continue
		}
		if p, err := m.s.Get(c); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Run follows committed heights and fetches wanted payloads until ctx
// ends. It runs one goroutine for the cursor (events, binding, erasure:
// local reads and writes only, so an erasure is done within a second of
// its commit) and one for fetches and the pending sweep. It returns when
// both have stopped; the node closes the Store after it.
func (m *Manager) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { m.follow(ctx) })
	wg.Go(func() { m.fetchLoop(ctx) })
	wg.Wait()
}

// follow processes every committed height after the cursor, in order, and
// then each new one. A height that fails (a storage error) is retried; the
// cursor never skips one.
func (m *Manager) follow(ctx context.Context) {
	next := m.cursor.Load() + 1
	for {
		head, changed := m.d.Commits.Wait()
		for next <= head {
			if ctx.Err() != nil {
				return
			}
			if err := m.processHeight(next); err != nil {
				m.d.Logger.Warn("payloads: height not processed; retrying", "height", next, "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(heightRetry):
				}
				continue
			}
			next++
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// maxRecent bounds the heights Committed keeps for the cursor: beyond
// them (a cursor far behind) the oldest are dropped and read back.
const maxRecent = 256

// Committed hands the manager the events of block h as the block executor
// committed them (a commit listener: cheap, no decoding). It keeps the
// record events only.
func (m *Manager) Committed(h uint64, events []*pb.Event) {
	var recs []*pb.RecordEvent
	for _, e := range events {
		if re := e.GetRecord(); re != nil {
			recs = append(recs, re)
		}
	}
	m.recentMu.Lock()
	defer m.recentMu.Unlock()
	if m.recent == nil {
		m.recent = map[uint64][]*pb.RecordEvent{}
	}
	m.recent[h] = recs
	if len(m.recent) > maxRecent {
		for old := range m.recent {
			if old+maxRecent <= h {
				delete(m.recent, old)
			}
		}
	}
}

// recordEvents returns the record events of block h in event order (the
// block's own events and its txs', as the API's event stream reads them).
func (m *Manager) recordEvents(h uint64) ([]*pb.RecordEvent, error) {
	m.recentMu.Lock()
	recs, ok := m.recent[h]
	delete(m.recent, h)
	m.recentMu.Unlock()
	if ok {
		return recs, nil
	}
	evs, err := blockexec.BlockEvents(m.d.Ledger, h)
	if err != nil {
		return nil, err
	}
	var out []*pb.RecordEvent
	for _, e := range evs {
		if re := e.GetRecord(); re != nil {
			out = append(out, re)
		}
	}
	return out, nil
}

// processHeight acts on the record events of height h and moves the cursor
// to h: one synced batch for the bindings and the cursor, and for each
// erasure its own batch and compaction, in event order.
func (m *Manager) processHeight(h uint64) error {
	events, err := m.recordEvents(h)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b := new(leveldb.Batch)
	// bound are the pending payloads b binds: counted out of Pending once
	// b is written (two versions may bind one payload in one height).
	bound := map[string]bool{}
	write := func() error {
		if err := m.s.write(b); err != nil {
			return err
		}
		m.pending.Add(-int64(len(bound)))
		b.Reset()
		clear(bound)
		return nil
	}
	for _, ev := range events {
		switch ev.GetAction() {
		case actionCreated, actionAmended:
			if err := m.bind(b, bound, ev); err != nil {
				return fmt.Errorf("height %d: record %s version %d: %w", h, ev.GetRecordId(), ev.GetVersion(), err)
			}
		case actionErased:
			// What this height bound so far counts when the erasure asks
			// whether another record still commits to a payload.
			if err := write(); err != nil {
				return err
			}
			if err := m.erase(ev.GetRecordId(), h); err != nil {
				return fmt.Errorf("height %d: erase record %s: %w", h, ev.GetRecordId(), err)
			}
		}
	}
	// A height that bound or erased nothing (nearly all of them) moves
	// only the cursor, which needs no fsync of its own: a cursor lost in a
	// power cut makes the node process those heights again, which changes
	// nothing, and LevelDB's journal keeps writes in order, so the next
	// synced batch makes it durable. One fsync per block was 4% of a
	// node's CPU on an idle chain (docs/BENCHMARKS.md).
	cursorOnly := b.Len() == 0
	b.Put(cursorKey, binary.BigEndian.AppendUint64(nil, h))
	if cursorOnly {
		if err := m.s.writeOpt(b, nil); err != nil {
			return err
		}
	} else if err := write(); err != nil {
		return err
	}
	m.cursor.Store(h)
	return nil
}

// bind records that version ev.version of ev's record commits to its
// content hash, if the record's type is protected and the record is not
// erased in committed state now; marks the payload bound if held (adding
// it to bound if it was pending), and else wants it, on a member. The
// caller holds mu.
func (m *Manager) bind(b *leveldb.Batch, bound map[string]bool, ev *pb.RecordEvent) error {
	log := m.d.Logger.With("record", ev.GetRecordId(), "version", ev.GetVersion())
	t, err := exec.RecordType(m.d.State, ev.GetRecordType())
	if errors.Is(err, exec.ErrNotFound) {
		log.Warn("payloads: record type of a record event not in state", "type", ev.GetRecordType())
		return nil
	}
	if err != nil {
		return err
	}
	if !exec.IsProtected(t) {
		return nil
	}
	rec, err := exec.Record(m.d.State, ev.GetRecordId())
	if errors.Is(err, exec.ErrNotFound) {
		log.Warn("payloads: record of a record event not in state")
		return nil
	}
	if err != nil {
		return err
	}
	if rec.GetErasedHeight() != 0 {
		// Erased since (a node syncing late): its payloads are gone from
		// every member; nothing to fetch, nothing wrong.
		m.skippedErased.Add(1)
		log.Debug("payloads: record erased in committed state; its payload is not fetched", "erased_height", rec.GetErasedHeight())
		return nil
	}
	v, err := exec.RecordVersion(m.d.State, ev.GetRecordId(), ev.GetVersion())
	if errors.Is(err, exec.ErrNotFound) {
		log.Warn("payloads: version of a record event not in state")
		return nil
	}
	if err != nil {
		return err
	}
	c := v.GetContentHash()
	if len(c) != crypto.HashSize {
		log.Warn("payloads: protected version without a 32-byte content hash", "bytes", len(c))
		return nil
	}
	b.Put(refKey(c, ev.GetRecordId()), nil)
	b.Delete(erasedKey(c)) // a record not erased commits to it (again)
	md, held, err := m.s.meta(c)
	if err != nil {
		return err
	}
	if held {
		if !md.bound && !bound[string(c)] {
			bound[string(c)] = true
			md.bound = true
			b.Put(metaKey(c), md.encode())
		}
		return nil
	}
	if m.d.Member() {
		m.addWant(b, c, ev.GetRecordId())
	}
	return nil
}

// addWant queues c for the fetch loop, unless queued or MaxWanted are.
// The caller holds mu.
func (m *Manager) addWant(b *leveldb.Batch, c []byte, record string) {
	if _, ok := m.wants[string(c)]; ok {
		return
	}
	if len(m.wants) >= m.d.MaxWanted {
		if m.wantsDropped.Add(1) == 1 {
			m.d.Logger.Warn("payloads: fetch queue full; further payloads are fetched only when read", "max_wanted", m.d.MaxWanted)
		}
		return
	}
	b.Put(wantKey(c), []byte(record))
	m.wants[string(c)] = &want{commitment: bytes.Clone(c), record: record}
	m.wantsLen.Store(int64(len(m.wants)))
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// erase deletes the payload of every version of record id, erased at
// height h, unless another record that is not erased commits to the same
// payload, and compacts them off the disk; it drops their wants and
// leaves a tombstone so nothing stores them again. The caller holds mu.
func (m *Manager) erase(id string, h uint64) error {
	start := time.Now()
	versions, err := exec.RecordVersions(m.d.State, id)
	if err != nil && !errors.Is(err, exec.ErrNotFound) {
		return err
	}
	b := new(leveldb.Batch)
	var del [][]byte
	held, kept := 0, 0
	seen := map[string]bool{}
	for _, v := range versions {
		c := v.GetContentHash()
		if len(c) != crypto.HashSize || seen[string(c)] {
			continue
		}
		seen[string(c)] = true
		b.Delete(refKey(c, id))
		b.Delete(wantKey(c))
		m.dropWant(c)
		other, err := m.s.bound(c, id)
		if err != nil {
			return err
		}
		if other {
			kept++
			continue
		}
		b.Put(erasedKey(c), binary.BigEndian.AppendUint64(nil, h))
		if ok, err := m.s.Has(c); err != nil {
			return err
		} else if ok {
			held++
		}
		del = append(del, c)
	}
	if err := m.s.deleteWith(b, del); err != nil {
		return err
	}
	m.erased.Add(uint64(held))
	attrs := []any{"record", id, "height", h, "versions", len(versions), "payloads_deleted", held, "took", time.Since(start).String()}
	if kept > 0 {
		attrs = append(attrs, "payloads_kept_for_other_records", kept)
	}
	m.d.Logger.Info("payloads: record content erased", attrs...)
	return nil
}

// fetchLoop fetches the wanted payloads as they come, retrying with
// backoff those no peer has yet, and sweeps expired pending payloads every
// GCInterval. On becoming a member it queues the payloads of the records
// bound while it was not one.
func (m *Manager) fetchLoop(ctx context.Context) {
	gc := time.NewTicker(m.d.GCInterval)
	defer gc.Stop()
	wasMember := false
	for {
		wait := memberPoll
		member := m.d.Member()
		if member && !wasMember {
			if err := m.backfill(); err != nil {
				m.d.Logger.Warn("payloads: queueing the payloads held by no one here", "err", err)
			}
		}
		wasMember = member
		if member {
			due, next := m.due(time.Now())
			for i := 0; i < len(due) && ctx.Err() == nil; i += fetchBatch {
				m.fetch(ctx, due[i:min(i+fetchBatch, len(due))])
			}
			if len(due) == fetchRound {
				wait = 0 // more are due
			} else if !next.IsZero() {
				wait = min(wait, max(0, time.Until(next)))
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-m.wake:
		case <-t.C:
		case <-gc.C:
			if err := m.collect(); err != nil {
				m.d.Logger.Warn("payloads: pending sweep failed", "err", err)
			}
		}
		t.Stop()
	}
}

// due returns up to fetchRound wants whose time has come, and the
// earliest time of the others (zero if none).
func (m *Manager) due(now time.Time) ([]*want, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*want
	var next time.Time
	for _, w := range m.wants {
		if !w.next.After(now) {
			if len(out) < fetchRound {
				out = append(out, w)
			}
			continue
		}
		if next.IsZero() || w.next.Before(next) {
			next = w.next
		}
	}
	return out, next
}

// fetch asks member peers for ws' payloads and stores those that come
// back and are still wanted; the others back off.
func (m *Manager) fetch(ctx context.Context, ws []*want) {
	cs := make([][]byte, len(ws))
	for i, w := range ws {
		cs[i] = w.commitment
	}
	fctx, cancel := context.WithTimeout(ctx, m.d.FetchTimeout)
	got, ferr := m.d.Fetch(fctx, cs)
	cancel()
	if ctx.Err() != nil {
		return
	}
	byC := make(map[string]*pb.Payload, len(got))
	for _, p := range got {
		if p != nil && len(p.GetSalt()) == crypto.PayloadSaltSize {
			byC[string(m.d.Store.suite.PayloadCommitment(p.GetSalt(), p.GetContent()))] = p
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b := new(leveldb.Batch)
	var stored [][]byte
	now := time.Now()
	for _, w := range ws {
		c := w.commitment
		if m.wants[string(c)] != w {
			continue // erased, or stored by Accept or Payload, meanwhile
		}
		p, ok := byC[string(c)]
		if ok {
			if err := m.s.check(c, p); err != nil {
				m.d.Logger.Warn("payloads: fetched payload not stored; it is fetched only when read", "record", w.record, "commitment", fmt.Sprintf("%x", c), "err", err)
				b.Delete(wantKey(c))
				m.dropWant(c)
				continue
			}
			if err := m.s.putBatch(b, c, p, true, m.d.Now()); err != nil {
				m.d.Logger.Warn("payloads: fetched payload not stored", "err", err)
				continue
			}
			b.Delete(wantKey(c))
			stored = append(stored, c)
			continue
		}
		m.fetchFailures.Add(1)
		w.delay = min(max(2*w.delay, m.d.RetryMin), m.d.RetryMax)
		w.next = now.Add(w.delay)
		if w.delay == m.d.RetryMax && !w.warned {
			w.warned = true
			m.d.Logger.Warn("payloads: no member peer has a payload yet; asking again every retry interval",
				"record", w.record, "commitment", fmt.Sprintf("%x", c), "retry", m.d.RetryMax.String(), "last_err", fmt.Sprint(ferr))
		}
	}
	if b.Len() == 0 {
		return
	}
	if err := m.s.write(b); err != nil {
		m.d.Logger.Warn("payloads: fetched payloads not stored", "err", err)
		return
	}
	for _, c := range stored {
		m.dropWant(c)
	}
	m.fetched.Add(uint64(len(stored)))
}

// backfill queues every bound commitment whose payload is not held, not
// wanted and not erased: the records bound while this node was not a
// member.
func (m *Manager) backfill() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var missing [][]byte
	var records []string
	var last []byte
	err := m.s.scan([]byte{tagRef}, func(k, _ []byte) bool {
		if len(k) < crypto.HashSize {
			return true
		}
		c := k[:crypto.HashSize]
		if bytes.Equal(c, last) {
			return true
		}
		last = bytes.Clone(c)
		if _, ok := m.wants[string(c)]; !ok {
			missing = append(missing, last)
			records = append(records, string(k[crypto.HashSize:]))
		}
		return true
	})
	if err != nil {
		return err
	}
	b := new(leveldb.Batch)
	for i, c := range missing {
		held, err := m.s.Has(c)
		if err != nil {
			return err
		}
		if !held {
			m.addWant(b, c, records[i])
		}
	}
	if b.Len() == 0 {
		return nil
	}
	return m.s.write(b)
}

// collect deletes, and compacts away, the accepted payloads that no
// committed version has bound within PendingTTL.
func (m *Manager) collect() error {
	cutoff := m.d.Now().Add(-m.d.PendingTTL).UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	var old [][]byte
	pending := 0
	err := m.s.scan([]byte{tagMeta}, func(k, v []byte) bool {
		md, ok := decodeMeta(v)
		if !ok || md.bound {
			return true
		}
		pending++
		if md.storedAtMs < cutoff {
			old = append(old, bytes.Clone(k))
		}
		return true
	})
	if err != nil {
		return err
	}
	b := new(leveldb.Batch)
	var del [][]byte
	for _, c := range old {
		bound, err := m.s.bound(c, "")
		if err != nil {
			return err
		}
		if bound {
			// Bound without its flag (a crash between two writes): fix it.
			md, ok, err := m.s.meta(c)
			if err == nil && ok {
				md.bound = true
				b.Put(metaKey(c), md.encode())
			}
			pending--
			continue
		}
		del = append(del, c)
	}
	if len(del) == 0 && b.Len() == 0 {
		m.pending.Store(int64(pending))
		return nil
	}
	if err := m.s.deleteWith(b, del); err != nil {
		return err
	}
	m.pending.Store(int64(pending - len(del)))
	m.expired.Add(uint64(len(del)))
	if len(del) > 0 {
		m.d.Logger.Info("payloads: deleted accepted payloads no committed version bound", "count", len(del), "ttl", m.d.PendingTTL.String())
	}
	return nil
}
