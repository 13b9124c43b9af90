package payloads

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	"github.com/govnode/govnode/ledger/store"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// chain is a committed chain for the manager: the state (exectest.Store,
// written with exec's own keys), the blocks' results with their events,
// and the commit notification. Safe for concurrent use.
type chain struct {
	t     testing.TB
	mu    sync.Mutex
	state *exectest.Store
	// blocks[h-1] are the results of block h.
	blocks [][]store.TxResult
	reads  map[uint64]int // Results calls per height
	ch     chan struct{}
	events uint32
	// onCommit, if set, is told each block's events before the wake, as
	// the node's commit listener tells the manager (Manager.Committed).
	onCommit func(h uint64, evs []*pb.Event)
}

var (
	_ exec.Reader = (*chain)(nil)
	_ Ledger      = (*chain)(nil)
	_ Commits     = (*chain)(nil)
)

// newChain is a chain whose state the test writes directly, with a
// protected and a public record type.
func newChain(t testing.TB) *chain {
	c := newChainOver(t, exectest.NewStore())
	c.setType("birth_certificate", pb.ContentVisibility_CONTENT_VISIBILITY_PROTECTED)
	c.setType("land_title", pb.ContentVisibility_CONTENT_VISIBILITY_PUBLIC)
	return c
}

// newChainOver is a chain over st, which the test changes only through
// the chain (apply).
func newChainOver(t testing.TB, st *exectest.Store) *chain {
	return &chain{t: t, state: st, reads: map[uint64]int{}, ch: make(chan struct{})}
}

// apply executes txs as the next block of ec (whose Store is the chain's
// state) with the state machine, requires every tx to succeed, records
// the results and notifies the commit.
func (c *chain) apply(ec *exectest.Chain, txs ...[]byte) uint64 {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	res, err := ec.Apply(txs...)
	if err != nil {
		c.t.Fatal(err)
	}
	var results []store.TxResult
	for i, r := range res.Results {
		if r.GetCode() != pb.ResultCode_RESULT_CODE_OK {
			c.t.Fatalf("tx %d of block %d: %v %s", i, ec.Height, r.GetCode(), r.GetReason())
		}
		b, err := proto.Marshal(r)
		if err != nil {
			c.t.Fatal(err)
		}
		results = append(results, store.TxResult{Hash: [32]byte(crypto.Ed25519SHA256.Hash(txs[i])), Result: b})
	}
	c.blocks = append(c.blocks, results)
	if uint64(len(c.blocks)) != ec.Height {
		c.t.Fatalf("chain at %d, executor at %d", len(c.blocks), ec.Height)
	}
	close(c.ch)
	c.ch = make(chan struct{})
	return ec.Height
}

func (c *chain) Get(k []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.Get(k)
}

func (c *chain) Iterate(start, end []byte, fn func(k, v []byte) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.Iterate(start, end, fn)
}

func (c *chain) BlockEvents(h uint64) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h == 0 || h > uint64(len(c.blocks)) {
		return nil, fmt.Errorf("%w: block %d", store.ErrNotFound, h)
	}
	return nil, nil
}

func (c *chain) Results(h uint64) ([]store.TxResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h == 0 || h > uint64(len(c.blocks)) {
		return nil, fmt.Errorf("%w: block %d", store.ErrNotFound, h)
	}
	c.reads[h]++
	return c.blocks[h-1], nil
}

func (c *chain) Wait() (uint64, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return uint64(len(c.blocks)), c.ch
}

func (c *chain) readsOf(h uint64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads[h]
}

func (c *chain) put(key []byte, m proto.Message) {
	c.t.Helper()
	v, err := proto.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state.Apply([]exec.Change{{Key: key, Value: v}})
}

func (c *chain) setType(id string, vis pb.ContentVisibility) {
	c.put(exec.RecordTypeKey(id), &pb.RecordType{Id: id, Visibility: vis, MaxContentBytes: 4096})
}

// version writes version v of record id (creating or updating the record)
// committing to commitment.
func (c *chain) version(typ, id string, v uint64, commitment []byte) {
	c.put(exec.RecordVersionKey(id, v), &pb.RecordVersion{RecordId: id, Version: v, ContentHash: commitment})
	c.put(exec.RecordKey(id), &pb.Record{Id: id, RecordType: typ, Version: v})
}

// eraseInState marks record id erased at height h.
func (c *chain) eraseInState(id string, h uint64) {
	c.t.Helper()
	r, err := exec.Record(c, id)
	if err != nil {
		c.t.Fatal(err)
	}
	r.ErasedHeight = h
	c.put(exec.RecordKey(id), r)
}

// commit appends a block with one tx whose result carries evs, and
// notifies; it returns the block's height.
func (c *chain) commit(evs ...*pb.RecordEvent) uint64 {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	h := uint64(len(c.blocks)) + 1
	tr := &pb.TxResult{}
	for _, ev := range evs {
		c.events++
		tr.Events = append(tr.Events, &pb.Event{Height: h, EventIndex: c.events, Kind: &pb.Event_Record{Record: ev}})
	}
	b, err := proto.Marshal(tr)
	if err != nil {
		c.t.Fatal(err)
	}
	c.blocks = append(c.blocks, []store.TxResult{{Hash: [32]byte(crypto.Ed25519SHA256.Hash(b)), Result: b}})
	if c.onCommit != nil {
		c.onCommit(h, tr.Events)
	}
	close(c.ch)
	c.ch = make(chan struct{})
	return h
}

// height is the committed height.
func (c *chain) height() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return uint64(len(c.blocks))
}

func recEvent(typ, id, action string, v uint64) *pb.RecordEvent {
	return &pb.RecordEvent{RecordId: id, RecordType: typ, Action: action, Version: v}
}

// peers are the member peers Fetch asks: the payloads they hold, and the
// commitments asked so far.
type peers struct {
	mu    sync.Mutex
	held  map[string]*pb.Payload
	asked [][]byte
	calls atomic.Int32
	// block, when set, makes Fetch wait for its context to end.
	block atomic.Bool
}

func newPeers() *peers { return &peers{held: map[string]*pb.Payload{}} }

func (p *peers) hold(c []byte, pl *pb.Payload) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held[string(c)] = pl
}

func (p *peers) fetch(ctx context.Context, cs [][]byte) ([]*pb.Payload, error) {
	p.calls.Add(1)
	if p.block.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(cs) > fetchBatch {
		return nil, fmt.Errorf("%d commitments in one fetch", len(cs))
	}
	var out []*pb.Payload
	for _, c := range cs {
		p.asked = append(p.asked, bytes.Clone(c))
		if pl, ok := p.held[string(c)]; ok {
			out = append(out, pl)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no peer has them")
	}
	return out, nil
}

// wasAsked reports whether c was ever asked for.
func (p *peers) wasAsked(c []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.asked {
		if bytes.Equal(a, c) {
			return true
		}
	}
	return false
}

// logBuffer collects log records.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	t   testing.TB
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Logf("%s", bytes.TrimSpace(b))
	return l.buf.Write(b)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// rig is a manager under test over a store in dir.
type rig struct {
	t      testing.TB
	dir    string
	chain  *chain
	peers  *peers
	member atomic.Bool
	clock  *clock
	logs   *logBuffer
	store  *Store
	m      *Manager
	cancel context.CancelFunc
	done   chan struct{}
}

func newRig(t testing.TB, member bool, tune func(*Deps)) *rig {
	return newRigOn(t, newChain(t), member, tune)
}

// newRigOn is a manager under test following c.
func newRigOn(t testing.TB, c *chain, member bool, tune func(*Deps)) *rig {
	r := &rig{t: t, dir: t.TempDir(), chain: c, peers: newPeers(),
		clock: &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, logs: &logBuffer{t: t}}
	r.member.Store(member)
	r.open(tune)
	return r
}

// open opens the store and builds the manager (not running).
func (r *rig) open(tune func(*Deps)) {
	r.t.Helper()
	s, err := OpenStore(r.dir, StoreOptions{MaxContentBytes: 4096})
	if err != nil {
		r.t.Fatal(err)
	}
	r.store = s
	r.t.Cleanup(func() { _ = s.Close() })
	d := Deps{
		Store: s, State: r.chain, Ledger: r.chain, Commits: r.chain,
		Fetch: r.peers.fetch, Member: r.member.Load,
		Logger: slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Now:    r.clock.Now, RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		FetchTimeout: 2 * time.Second,
	}
	if tune != nil {
		tune(&d)
	}
	m, err := New(d)
	if err != nil {
		r.t.Fatal(err)
	}
	r.m = m
}

// run starts Run; stop ends it (and the test's cleanup does).
func (r *rig) run() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() { defer close(r.done); r.m.Run(ctx) }()
	r.t.Cleanup(r.stop)
}

func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.t.Fatal("Run did not return")
	}
	r.cancel = nil
}

// reopen stops the manager, closes the store and opens both again.
func (r *rig) reopen(tune func(*Deps)) {
	r.t.Helper()
	r.stop()
	if err := r.store.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.open(tune)
}

// caughtUp waits until the cursor reaches the chain's height.
func (r *rig) caughtUp() {
	r.t.Helper()
	h := r.chain.height()
	eventually(r.t, 10*time.Second, fmt.Sprintf("cursor at %d", h), func() bool { return r.m.Stats().Cursor >= h })
}

func (r *rig) has(c []byte) bool {
	r.t.Helper()
	ok, err := r.store.Has(c)
	if err != nil {
		r.t.Fatal(err)
	}
	return ok
}

func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
