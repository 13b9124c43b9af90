package mempool

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
)

// fakeChecker decodes "signer:nonce:payload" txs against a nonce table that
// stands for committed state.
type fakeChecker struct {
	mu    sync.Mutex
	next  map[string]uint64
	calls int
	bad   map[string]bool // signers refused from now on
	badTx map[string]bool // txs refused from now on
	// during, if set, runs once at the end of the next CheckTx, after its
	// verdict is made (a commit landing while a tx is being checked).
	during func()
}

func (c *fakeChecker) CheckTx(t *exec.Tx) (*TxMeta, error) {
	tx := t.Raw
	defer func() {
		c.mu.Lock()
		during := c.during
		c.during = nil
		c.mu.Unlock()
		if during != nil {
			during()
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	var signer string
	var nonce uint64
	parts := strings.SplitN(string(tx), ":", 3)
	if len(parts) != 3 || parts[2] == "bad" {
		return nil, errors.New("malformed")
	}
	signer = parts[0]
	if _, err := fmt.Sscan(parts[1], &nonce); err != nil {
		return nil, err
	}
	if c.bad[signer] {
		return nil, errors.New("signer suspended")
	}
	if c.badTx[string(tx)] {
		return nil, errors.New("tx refused")
	}
	next := c.next[signer]
	if next == 0 {
		next = 1
	}
	return &TxMeta{Hash: crypto.Ed25519SHA256.Hash(tx), Signer: signer, Nonce: nonce, NextNonce: next}, nil
}

func (c *fakeChecker) NextNonce(signer string) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.next[signer]; n > 0 {
		return n, nil
	}
	return 1, nil
}

func (c *fakeChecker) commit(signer string, nonce uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next[signer] = nonce + 1
}

func newTestMempool(t *testing.T, cfg Config) (*Mempool, *fakeChecker) {
	t.Helper()
	c := &fakeChecker{next: map[string]uint64{}, bad: map[string]bool{}, badTx: map[string]bool{}}
	m, err := New(cfg, c, exec.NewKnown(crypto.Ed25519SHA256))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if got, want := m.known.Len(), len(m.byHash); got != want {
			t.Errorf("the known table holds %d txs, the mempool %d", got, want)
		}
	})
	return m, c
}

// mcfg is a mempool config with the given bounds, a signer's bounds and
// the queued share as loose as they go, and a queued TTL of a minute.
func mcfg(maxTxs, maxBytes, maxTxBytes int, gap uint64) Config {
	return Config{MaxTxs: maxTxs, MaxBytes: maxBytes, MaxTxBytes: maxTxBytes, MaxNonceGap: gap,
		MaxSignerTxs: maxTxs, MaxSignerBytes: maxBytes, MaxQueuedPercent: MaxQueuedPercent, QueuedTTL: time.Minute}
}

var testMempoolCfg = mcfg(100, 10_000, 1000, 16)

func tx(signer string, nonce int) []byte { return []byte(fmt.Sprintf("%s:%d:x", signer, nonce)) }

// txN is signer's tx with nonce, padded to size bytes.
func txN(signer string, nonce, size int) []byte {
	b := []byte(fmt.Sprintf("%s:%d:", signer, nonce))
	if len(b) >= size {
		panic(fmt.Sprintf("txN: %q is already %d bytes", b, len(b)))
	}
	return append(b, strings.Repeat("x", size-len(b))...)
}

func TestMempoolRefusals(t *testing.T) {
	m, c := newTestMempool(t, mcfg(3, 10_000, 100, 4))
	if _, err := m.Add(tx("a", 1)); err != nil {
		t.Fatal(err)
	}
	// A duplicate is answered without the checker (no decode, no state
	// read, no signature check).
	calls := c.calls
	if _, err := m.Add(tx("a", 1)); !errors.Is(err, ErrDuplicateTx) || c.calls != calls {
		t.Fatalf("duplicate: %v, %d checker calls", err, c.calls-calls)
	}
	cases := []struct {
		name string
		tx   []byte
		want error
	}{
		{"duplicate", tx("a", 1), ErrDuplicateTx},
		{"stale nonce", tx("a", 0), ErrStaleNonce},
		{"same nonce other tx", []byte("a:1:other"), ErrNonceTaken},
		{"too far ahead", tx("a", 9), ErrNonceTooFar},
		{"too large", []byte("a:2:" + strings.Repeat("x", 200)), ErrTxTooLarge},
		{"invalid", []byte("a:2:bad"), ErrInvalidTx},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, beforeBytes := m.Size()
			if _, err := m.Add(tc.tx); !errors.Is(err, tc.want) {
				t.Fatalf("Add = %v, want %v", err, tc.want)
			}
			if n, b := m.Size(); n != before || b != beforeBytes {
				t.Fatalf("refused tx changed the mempool: %d/%d -> %d/%d", before, beforeBytes, n, b)
			}
		})
	}
	// Full by count.
	m.Add(tx("b", 1))
	m.Add(tx("c", 1))
	if _, err := m.Add(tx("d", 1)); !errors.Is(err, ErrMempoolFull) {
		t.Fatalf("full mempool: %v", err)
	}
	// Full by bytes.
	m2, _ := newTestMempool(t, mcfg(100, 10, 10, 4))
	m2.Add([]byte("a:1:xxxx"))
	if _, err := m2.Add([]byte("b:1:xxxx")); !errors.Is(err, ErrMempoolFull) {
		t.Fatalf("full by bytes: %v", err)
	}
}

func TestMempoolReapNonceOrder(t *testing.T) {
	m, _ := newTestMempool(t, testMempoolCfg)
	// a's nonces arrive out of order; 4 has a gap before it.
	for _, x := range [][]byte{tx("a", 2), tx("b", 1), tx("a", 1), tx("a", 4), tx("b", 2)} {
		if _, err := m.Add(x); err != nil {
			t.Fatal(err)
		}
	}
	got := m.Reap(100, 1<<20)
	want := []string{"b:1:x", "b:2:x", "a:1:x", "a:2:x"} // b's head arrived first
	if len(got) != len(want) {
		t.Fatalf("reaped %q, want %q", got, want)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Fatalf("reaped %q, want %q", got, want)
		}
	}
	if got := m.Reap(3, 1<<20); len(got) != 3 {
		t.Fatalf("maxTxs ignored: %d", len(got))
	}
	if got := m.Reap(100, 10); len(got) != 2 {
		t.Fatalf("maxBytes ignored: %q", got)
	}
}

// committedTx is how the node describes a committed "signer:nonce:x" tx.
func committedTx(signer string, nonce int) CommittedTx {
	return CommittedTx{Hash: crypto.Ed25519SHA256.Hash(tx(signer, nonce)), Signer: signer, Nonce: uint64(nonce)}
}

func TestMempoolUpdateRemovesCommittedAndStale(t *testing.T) {
	m, c := newTestMempool(t, testMempoolCfg)
	for _, x := range [][]byte{tx("a", 1), tx("a", 2), tx("a", 3), tx("b", 1), tx("b", 2)} {
		if _, err := m.Add(x); err != nil {
			t.Fatal(err)
		}
	}
	// The block commits a:1 and a:2, and a tx of b with nonce 1 from
	// another node (so b:1 here is now stale; b:2 is next).
	c.commit("a", 2)
	c.commit("b", 1)
	calls := c.calls
	other := CommittedTx{Hash: crypto.Ed25519SHA256.Hash([]byte("b:1:other")), Signer: "b", Nonce: 1}
	m.Update([]CommittedTx{committedTx("a", 1), committedTx("a", 2), other})
	if n, _ := m.Size(); n != 2 || !m.Has(crypto.Ed25519SHA256.Hash(tx("a", 3))) || !m.Has(crypto.Ed25519SHA256.Hash(tx("b", 2))) {
		t.Fatalf("after update %d txs, want a:3 and b:2", n)
	}
	if c.calls != calls {
		t.Fatalf("a block of records rechecked %d txs; it should only read nonces", c.calls-calls)
	}
	if got := m.Reap(10, 1<<20); len(got) != 2 {
		t.Fatalf("reap after update %q", got)
	}
	// A committed nonce cannot come back.
	if _, err := m.Add(tx("a", 2)); !errors.Is(err, ErrStaleNonce) {
		t.Fatalf("re-add committed: %v", err)
	}
}

// A commit that lands while a tx is being checked, using the tx's nonce
// (the same tx, or another with its nonce, from another node): the tx is
// checked again and refused, not admitted on the stale verdict.
func TestMempoolAddRechecksAfterConcurrentCommit(t *testing.T) {
	m, c := newTestMempool(t, testMempoolCfg)
	c.during = func() {
		c.commit("a", 1)
		m.Update([]CommittedTx{{Hash: crypto.Ed25519SHA256.Hash([]byte("a:1:other")), Signer: "a", Nonce: 1}})
	}
	if _, err := m.Add(tx("a", 1)); !errors.Is(err, ErrStaleNonce) {
		t.Fatalf("Add during a commit of its nonce: %v, want ErrStaleNonce", err)
	}
	if n, _ := m.Size(); n != 0 {
		t.Fatalf("%d txs pending", n)
	}
}

// A block's claim of a signer and nonce is not trusted: a tx that failed
// (a forged signature) used no nonce, and the signer's pending txs stay.
func TestMempoolUpdateTrustsStateNotClaims(t *testing.T) {
	m, _ := newTestMempool(t, testMempoolCfg)
	for _, x := range [][]byte{tx("a", 1), tx("a", 2)} {
		if _, err := m.Add(x); err != nil {
			t.Fatal(err)
		}
	}
	m.Update([]CommittedTx{{Hash: crypto.Ed25519SHA256.Hash([]byte("forged")), Signer: "a", Nonce: 2}})
	if n, _ := m.Size(); n != 2 {
		t.Fatalf("a forged claim dropped pending txs: %d left", n)
	}
	if got := m.Reap(10, 1<<20); len(got) != 2 || string(got[0]) != "a:1:x" {
		t.Fatalf("reap %q", got)
	}
}

// A block that may change admission (a suspension, say) makes the mempool
// check every pending tx again; so does every fullRecheckEvery-th commit.
func TestMempoolUpdateRechecks(t *testing.T) {
	m, c := newTestMempool(t, testMempoolCfg)
	for _, x := range [][]byte{tx("a", 1), tx("b", 1), tx("z", 1)} {
		if _, err := m.Add(x); err != nil {
			t.Fatal(err)
		}
	}
	c.commit("z", 1)
	c.bad["b"] = true
	m.Update([]CommittedTx{{Hash: crypto.Ed25519SHA256.Hash(tx("z", 1)), Signer: "z", Nonce: 1}})
	if !m.Has(crypto.Ed25519SHA256.Hash(tx("b", 1))) {
		t.Fatal("a records block rechecked b")
	}
	m.Update([]CommittedTx{{Hash: crypto.Ed25519SHA256.Hash([]byte("suspend b")), Signer: "admin", Nonce: 1, Admission: true}})
	if m.Has(crypto.Ed25519SHA256.Hash(tx("b", 1))) || !m.Has(crypto.Ed25519SHA256.Hash(tx("a", 1))) {
		t.Fatal("after a suspension: b:1 kept or a:1 dropped")
	}
	// The drop is told with its reason (GetTx, a waiting SubmitTx), and
	// counted; a tx never dropped has none.
	if r, ok := m.Dropped(crypto.Ed25519SHA256.Hash(tx("b", 1))); !ok || r != "signer suspended" {
		t.Fatalf("drop reason of b:1: %q %v", r, ok)
	}
	if _, ok := m.Dropped(crypto.Ed25519SHA256.Hash(tx("a", 1))); ok {
		t.Fatal("a:1, still held, has a drop reason")
	}
	if _, ok := m.Dropped(crypto.Ed25519SHA256.Hash(tx("z", 1))); ok {
		t.Fatal("z:1, committed, has a drop reason")
	}
	if st := m.Stats(); st.Refused != 1 {
		t.Fatalf("refused %d, want 1", st.Refused)
	}
	c.bad["a"] = true
	for m.commits < fullRecheckEvery-1 {
		m.Update(nil)
		if !m.Has(crypto.Ed25519SHA256.Hash(tx("a", 1))) {
			t.Fatalf("rechecked at commit %d", m.commits)
		}
	}
	m.Update(nil)
	if m.Has(crypto.Ed25519SHA256.Hash(tx("a", 1))) {
		t.Fatalf("no full recheck after %d commits", fullRecheckEvery)
	}
}

func TestMempoolConcurrentAdd(t *testing.T) {
	m, _ := newTestMempool(t, mcfg(10_000, 1<<20, 100, 1000))
	var wg sync.WaitGroup
	for s := 0; s < 8; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 1; n <= 100; n++ {
				if _, err := m.Add(tx(fmt.Sprint("s", s), n)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, _ := m.Size(); n != 800 {
		t.Fatalf("%d txs", n)
	}
	if got := m.Reap(10_000, 1<<20); len(got) != 800 {
		t.Fatalf("reaped %d", len(got))
	}
}

func TestMempoolConfigValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(c *Config)
		want   string // in the error; empty: valid
	}{
		{"loose", func(c *Config) {}, ""},
		{"max_txs", func(c *Config) { c.MaxTxs = 0 }, "mempool.max_txs"},
		{"max_bytes", func(c *Config) { c.MaxBytes = 0 }, "mempool.max_bytes"},
		{"max_tx_bytes", func(c *Config) { c.MaxTxBytes = c.MaxBytes + 1 }, "max tx bytes"},
		{"max_nonce_gap", func(c *Config) { c.MaxNonceGap = 0 }, "nonce gap"},
		{"max_signer_txs", func(c *Config) { c.MaxSignerTxs = 0 }, "mempool.max_signer_txs must be positive"},
		{"max_signer_bytes", func(c *Config) { c.MaxSignerBytes = c.MaxTxBytes - 1 }, "below mempool.max_tx_bytes"},
		{"max_queued_percent low", func(c *Config) { c.MaxQueuedPercent = 0 }, "out of range 1..50"},
		{"max_queued_percent high", func(c *Config) { c.MaxQueuedPercent = 51 }, "out of range 1..50"},
		{"queued TTL low", func(c *Config) { c.QueuedTTL = time.Second - 1 }, "out of range 1s..1h0m0s"},
		{"queued TTL high", func(c *Config) { c.QueuedTTL = time.Hour + 1 }, "out of range 1s..1h0m0s"},
		{"signer bounds above the mempool's", func(c *Config) { c.MaxSignerTxs, c.MaxSignerBytes = c.MaxTxs+1, c.MaxBytes+1 }, ""},
		{"backlog bound off, no floor", func(c *Config) { c.MaxBacklog, c.MinBacklogTxs = 0, 0 }, ""},
		{"backlog bound", func(c *Config) { c.MaxBacklog, c.MinBacklogTxs = 500*time.Millisecond, c.MaxTxs }, ""},
		{"backlog bound low", func(c *Config) { c.MaxBacklog, c.MinBacklogTxs = 49*time.Millisecond, 1 }, "mempool.max_backlog_ms 49 out of range 50..60000"},
		{"backlog bound high", func(c *Config) { c.MaxBacklog, c.MinBacklogTxs = time.Minute+time.Millisecond, 1 }, "out of range 50..60000"},
		{"backlog floor zero", func(c *Config) { c.MaxBacklog, c.MinBacklogTxs = time.Second, 0 }, "mempool.min_backlog_txs 0: want at least 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testMempoolCfg
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := New(testMempoolCfg, nil, nil); err == nil {
		t.Error("nil checker accepted")
	}
}

// Txs that wait without being gossiped for a while are handed out again
// for gossip, oldest first, at most max, and not again until they wait
// once more.
func TestMempoolRegossip(t *testing.T) {
	m, _ := newTestMempool(t, testMempoolCfg)
	t0 := time.Unix(1000, 0)
	for _, x := range [][]byte{tx("a", 1), tx("b", 1), tx("c", 1)} {
		h, err := m.Add(x)
		if err != nil {
			t.Fatal(err)
		}
		m.MarkGossiped(h, t0)
	}
	m.MarkGossiped(crypto.Ed25519SHA256.Hash(tx("c", 1)), t0.Add(40*time.Second))
	got := m.Regossip(t0.Add(time.Second), t0.Add(50*time.Second), 1)
	if len(got) != 1 || string(got[0]) != "a:1:x" {
		t.Fatalf("first round %q, want the oldest (a:1) only", got)
	}
	got = m.Regossip(t0.Add(time.Second), t0.Add(50*time.Second), 10)
	if len(got) != 1 || string(got[0]) != "b:1:x" {
		t.Fatalf("second round %q, want b:1 (a:1 just gossiped, c:1 recent)", got)
	}
	if got := m.Regossip(t0.Add(time.Second), t0.Add(51*time.Second), 10); len(got) != 0 {
		t.Fatalf("third round %q, want none", got)
	}
}

// Woken signals a proposable tx entering an empty mempool, once for any
// number of them, and nothing for a tx behind a nonce gap or a refused tx.
func TestMempoolWoken(t *testing.T) {
	m, c := newTestMempool(t, testMempoolCfg)
	woken := func() bool {
		select {
		case <-m.Woken():
			return true
		default:
			return false
		}
	}
	if _, err := m.Add(tx("a", 3)); err != nil { // gap: a is at 1
		t.Fatal(err)
	}
	if woken() {
		t.Fatal("woken by a tx behind a nonce gap")
	}
	c.mu.Lock()
	c.bad["z"] = true
	c.mu.Unlock()
	if _, err := m.Add(tx("z", 1)); err == nil {
		t.Fatal("suspended signer admitted")
	}
	if woken() {
		t.Fatal("woken by a refused tx")
	}
	// Empty the mempool: a's gapped tx goes when a moves past it.
	c.commit("a", 3)
	m.Update([]CommittedTx{committedTx("a", 3)})
	if n, _ := m.Size(); n != 0 {
		t.Fatalf("%d txs left", n)
	}
	for _, x := range [][]byte{tx("b", 1), tx("b", 2), tx("c", 1)} {
		if _, err := m.Add(x); err != nil {
			t.Fatal(err)
		}
	}
	if !woken() {
		t.Fatal("a ready tx entered an empty mempool: not woken")
	}
	if woken() {
		t.Fatal("woken twice")
	}
}

// mustAdd admits each tx or fails the test.
func mustAdd(t *testing.T, m *Mempool, txs ...[]byte) {
	t.Helper()
	for _, x := range txs {
		if _, err := m.Add(x); err != nil {
			t.Fatalf("Add(%q): %v", x, err)
		}
	}
}

// held reports which of txs the mempool holds, as "signer:nonce" strings.
func held(m *Mempool, txs ...[]byte) []string {
	var out []string
	for _, x := range txs {
		if m.Has(crypto.Ed25519SHA256.Hash(x)) {
			out = append(out, strings.Join(strings.SplitN(string(x), ":", 3)[:2], ":"))
		}
	}
	return out
}

// Issue 15, failure 3: signers whose txs skip a nonce filled the mempool
// with txs that can never run, and a valid tx got "mempool full" until a
// restart. Queued txs now take at most their share, so a runnable tx of
// anyone else is still admitted and proposed.
func TestMempoolGapFloodLeavesRoomForRunnable(t *testing.T) {
	issueCfg := Config{MaxTxs: 200, MaxBytes: 64 << 20, MaxTxBytes: 64 << 10, MaxNonceGap: 64,
		MaxSignerTxs: 64, MaxSignerBytes: 1 << 20, MaxQueuedPercent: 25, QueuedTTL: time.Minute}
	cases := []struct {
		name     string
		cfg      Config
		flooders int
	}{
		// As reported: four citizens, a 200-slot mempool.
		{"four signers, 200 slots", issueCfg, 4},
		// The node's defaults, where about 157 signers froze admission.
		{"defaults, 170 signers", DefaultConfig(), 170},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newTestMempool(t, tc.cfg)
			// Each flooder's next nonce is 1; it sends 2, 3, ... as far as
			// the nonce gap allows, until refused.
			for i := range tc.flooders {
				for n := 2; uint64(n-1) < tc.cfg.MaxNonceGap; n++ {
					if _, err := m.Add(tx(fmt.Sprint("citizen", i), n)); err != nil {
						if !errors.Is(err, ErrMempoolFull) {
							t.Fatalf("flood refused with %v, want a full mempool", err)
						}
						break
					}
				}
			}
			official := tx("official", 1)
			if _, err := m.Add(official); err != nil {
				t.Fatalf("a runnable tx after the flood: %v", err)
			}
			if st := m.Stats(); st.QueuedTxs > tc.cfg.maxQueuedTxs() || st.QueuedTxs != st.Txs-1 {
				t.Fatalf("after the flood: %d txs, %d queued, share %d", st.Txs, st.QueuedTxs, tc.cfg.maxQueuedTxs())
			}
			if got := m.Reap(10, 1<<20); len(got) != 1 || string(got[0]) != string(official) {
				t.Fatalf("reaped %q, want the official's tx", got)
			}
		})
	}
}

// One signer holds at most MaxSignerTxs txs and MaxSignerBytes bytes. A
// runnable tx of a signer at its bound evicts the signer's own queued txs,
// furthest ahead first; a queued one is refused.
func TestMempoolSignerBound(t *testing.T) {
	cfg := mcfg(100, 10_000, 100, 16)
	cfg.MaxSignerTxs, cfg.MaxSignerBytes = 4, 200
	cases := []struct {
		name    string
		setup   [][]byte
		add     []byte
		wantErr error
		want    string // in the error
		held    []string
	}{
		{"count", [][]byte{tx("a", 1), tx("a", 2), tx("a", 3), tx("a", 4)}, tx("a", 5),
			ErrSignerFull, "signer \"a\" holds 4 txs, 20 bytes; a tx of 5 bytes would pass a limit: 4 txs (mempool.max_signer_txs), 200 bytes (mempool.max_signer_bytes)",
			[]string{"a:1", "a:2", "a:3", "a:4"}},
		{"bytes", [][]byte{txN("a", 1, 90), txN("a", 2, 90)}, txN("a", 3, 30),
			ErrSignerFull, "holds 2 txs, 180 bytes", []string{"a:1", "a:2"}},
		{"queued tx of a full signer", [][]byte{tx("a", 1), tx("a", 3), tx("a", 4), tx("a", 5)}, tx("a", 6),
			ErrSignerFull, "mempool.max_signer_txs", []string{"a:1", "a:3", "a:4", "a:5"}},
		{"runnable tx evicts the signer's furthest queued", [][]byte{tx("a", 1), tx("a", 3), tx("a", 4), tx("a", 6)}, tx("a", 2),
			nil, "", []string{"a:1", "a:3", "a:4", "a:2"}},
		{"runnable tx evicts by bytes", [][]byte{txN("a", 1, 60), txN("a", 3, 60), txN("a", 5, 60)}, txN("a", 2, 80),
			nil, "", []string{"a:1", "a:3", "a:2"}},
		{"other signers unaffected", [][]byte{tx("a", 1), tx("a", 2), tx("a", 3), tx("a", 4)}, tx("b", 1),
			nil, "", []string{"a:1", "a:2", "a:3", "a:4", "b:1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newTestMempool(t, cfg)
			mustAdd(t, m, tc.setup...)
			before := m.Stats()
			_, err := m.Add(tc.add)
			if !errors.Is(err, tc.wantErr) || tc.wantErr != nil && (!errors.Is(err, ErrMempoolFull) || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Add = %v, want %v with %q", err, tc.wantErr, tc.want)
			}
			if err != nil && m.Stats() != before {
				t.Fatalf("refused tx changed the mempool: %+v -> %+v", before, m.Stats())
			}
			all := append(append([][]byte{}, tc.setup...), tc.add)
			if got := held(m, all...); fmt.Sprint(got) != fmt.Sprint(tc.held) {
				t.Fatalf("held %v, want %v", got, tc.held)
			}
		})
	}
}

// Queued txs expire QueuedTTL after Expire first finds them queued;
// pending txs never do, and a tx promoted meanwhile starts no clock.
func TestMempoolQueuedExpire(t *testing.T) {
	cfg := testMempoolCfg
	cfg.QueuedTTL = 10 * time.Second
	m, _ := newTestMempool(t, cfg)
	t0 := time.Unix(1000, 0)
	mustAdd(t, m, tx("a", 3), tx("b", 1), tx("c", 2))
	steps := []struct {
		name    string
		add     [][]byte
		now     time.Duration // after t0
		expired int
		held    []string
	}{
		{"first sight starts the clock", nil, 0, 0, []string{"a:3", "b:1", "c:2"}},
		{"a's gap fills; d queued", [][]byte{tx("a", 1), tx("a", 2), tx("d", 5)}, 9 * time.Second, 0, []string{"a:3", "b:1", "c:2", "d:5"}},
		{"c expires; a:3 promoted, d:5 seen at 9s", nil, 10 * time.Second, 1, []string{"a:3", "b:1", "d:5"}},
		{"d expires", nil, 19 * time.Second, 1, []string{"a:3", "b:1"}},
		{"pending txs stay", nil, time.Hour, 0, []string{"a:3", "b:1"}},
	}
	all := [][]byte{tx("a", 3), tx("b", 1), tx("c", 2), tx("d", 5)}
	for _, s := range steps {
		mustAdd(t, m, s.add...)
		if got := m.Expire(t0.Add(s.now)); got != s.expired {
			t.Fatalf("%s: Expire dropped %d, want %d", s.name, got, s.expired)
		}
		if got := held(m, all...); fmt.Sprint(got) != fmt.Sprint(s.held) {
			t.Fatalf("%s: held %v, want %v", s.name, got, s.held)
		}
	}
	if st := m.Stats(); st.Expired != 2 || st.QueuedTxs != 0 || st.Txs != 4 {
		t.Fatalf("stats %+v, want 2 expired, none queued, 4 txs", st)
	}
}

// A runnable tx that finds the mempool full evicts queued txs, furthest
// ahead of its signer's pending run first, newest first among equals; it
// never evicts a pending tx, and a queued tx evicts nothing.
func TestMempoolEvictionOrder(t *testing.T) {
	t.Run("by count", func(t *testing.T) {
		m, _ := newTestMempool(t, mcfg(6, 10_000, 100, 16))
		// Pending x:1, y:1; queued a:3 (2 ahead), b:5 and c:5 (4 ahead,
		// c newer), b's run is 1.
		mustAdd(t, m, tx("x", 1), tx("y", 1), tx("a", 3), tx("b", 5), tx("c", 5))
		queued := [][]byte{tx("a", 3), tx("b", 5), tx("c", 5)}
		steps := []struct {
			add     []byte
			wantErr error
			held    []string // of queued
		}{
			{tx("z", 1), nil, []string{"a:3", "b:5", "c:5"}}, // room left
			{tx("w", 1), nil, []string{"a:3", "b:5"}},
			{tx("v", 2), ErrMempoolFull, []string{"a:3", "b:5"}}, // queued: evicts nothing
			{tx("v", 1), nil, []string{"a:3"}},
			{tx("u", 1), nil, nil},
			{tx("t", 1), ErrMempoolFull, nil}, // only pending txs left
		}
		for _, s := range steps {
			before, _ := m.Size()
			_, err := m.Add(s.add)
			if !errors.Is(err, s.wantErr) {
				t.Fatalf("Add(%q) = %v, want %v", s.add, err, s.wantErr)
			}
			if got := held(m, queued...); fmt.Sprint(got) != fmt.Sprint(s.held) {
				t.Fatalf("after %q: queued held %v, want %v", s.add, got, s.held)
			}
			if n, _ := m.Size(); err != nil && n != before {
				t.Fatalf("refused %q changed the count %d -> %d", s.add, before, n)
			}
		}
		if got := held(m, tx("x", 1), tx("y", 1), tx("z", 1), tx("w", 1), tx("v", 1), tx("u", 1)); len(got) != 6 {
			t.Fatalf("pending txs held %v, want all six", got)
		}
		if st := m.Stats(); st.Evicted != 3 {
			t.Fatalf("%d evicted, want 3", st.Evicted)
		}
	})
	t.Run("by bytes", func(t *testing.T) {
		m, _ := newTestMempool(t, mcfg(100, 120, 80, 16))
		mustAdd(t, m, txN("x", 1, 30), txN("a", 3, 20), txN("b", 3, 20), txN("c", 3, 20))
		// 60 bytes need 30 freed: the two newest of three equally far.
		mustAdd(t, m, txN("y", 1, 60))
		got := held(m, txN("x", 1, 30), txN("a", 3, 20), txN("b", 3, 20), txN("c", 3, 20), txN("y", 1, 60))
		if want := []string{"x:1", "a:3", "y:1"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("held %v, want %v", got, want)
		}
	})
}

// When a signer's gap fills, by its own tx or by a commit of the missing
// nonce from another node, its queued txs become pending: Reap returns
// them, Expire leaves them, and the queued share they held is free.
func TestMempoolGapFillPromotes(t *testing.T) {
	cases := []struct {
		name string
		fill func(m *Mempool, c *fakeChecker)
	}{
		{"own tx", func(m *Mempool, c *fakeChecker) { m.Add(tx("a", 1)) }},
		{"commit from another node", func(m *Mempool, c *fakeChecker) {
			c.commit("a", 1)
			m.Update([]CommittedTx{{Hash: crypto.Ed25519SHA256.Hash([]byte("a:1:other")), Signer: "a", Nonce: 1}})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, c := newTestMempool(t, Config{MaxTxs: 8, MaxBytes: 10_000, MaxTxBytes: 100, MaxNonceGap: 16,
				MaxSignerTxs: 8, MaxSignerBytes: 10_000, MaxQueuedPercent: 25, QueuedTTL: time.Minute})
			t0 := time.Unix(1000, 0)
			mustAdd(t, m, tx("a", 2), tx("a", 3))
			m.Expire(t0)
			// The queued share (2 of 8) is taken.
			if _, err := m.Add(tx("b", 2)); !errors.Is(err, ErrQueuedFull) || !strings.Contains(err.Error(), "submit nonce 1 first") {
				t.Fatalf("queued tx beyond the share: %v, want ErrQueuedFull", err)
			}
			if got := m.Reap(10, 1<<20); len(got) != 0 {
				t.Fatalf("reaped %q behind a gap", got)
			}
			tc.fill(m, c)
			got := m.Reap(10, 1<<20)
			if s := fmt.Sprintf("%s", got); !strings.HasSuffix(s, "a:2:x a:3:x]") {
				t.Fatalf("reaped %s after the gap filled, want a:2 and a:3 last", s)
			}
			if st := m.Stats(); st.QueuedTxs != 0 || st.QueuedBytes != 0 {
				t.Fatalf("%d txs, %d bytes still counted queued", st.QueuedTxs, st.QueuedBytes)
			}
			if n := m.Expire(t0.Add(time.Hour)); n != 0 {
				t.Fatalf("Expire dropped %d promoted txs", n)
			}
			mustAdd(t, m, tx("b", 2)) // the share is free again
		})
	}
}

// A pending tx dropped from the middle of a run (the recheck after an
// admission change refuses it) demotes the txs after it to queued: they
// count in the queued share and expire.
func TestMempoolRecheckDemotes(t *testing.T) {
	m, c := newTestMempool(t, testMempoolCfg)
	mustAdd(t, m, tx("a", 1), tx("a", 2), tx("a", 3))
	c.mu.Lock()
	c.badTx[string(tx("a", 2))] = true
	c.mu.Unlock()
	m.Update([]CommittedTx{{Hash: crypto.Ed25519SHA256.Hash([]byte("role change")), Signer: "admin", Nonce: 1, Admission: true}})
	if st := m.Stats(); st.Txs != 2 || st.QueuedTxs != 1 || st.QueuedBytes != len(tx("a", 3)) {
		t.Fatalf("after the recheck: %+v, want a:1 pending, a:3 queued", st)
	}
	t0 := time.Unix(1000, 0)
	m.Expire(t0)
	if n := m.Expire(t0.Add(time.Minute)); n != 1 || !m.Has(crypto.Ed25519SHA256.Hash(tx("a", 1))) {
		t.Fatalf("Expire dropped %d, want a:3 only", n)
	}
}

// A runnable tx entering a mempool that holds only queued txs wakes the
// leader: nothing was proposable before it.
func TestMempoolWokenPastQueued(t *testing.T) {
	m, _ := newTestMempool(t, testMempoolCfg)
	mustAdd(t, m, tx("a", 3))
	select {
	case <-m.Woken():
		t.Fatal("woken by a queued tx")
	default:
	}
	mustAdd(t, m, tx("b", 1))
	select {
	case <-m.Woken():
	default:
		t.Fatal("a runnable tx past queued ones: not woken")
	}
}

// checkInvariants recomputes what the mempool keeps incrementally and
// checks its bounds.
func (m *Mempool) checkInvariants() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	txs, bytes, qTxs, qBytes := 0, 0, 0, 0
	for s, q := range m.signers {
		if len(q.txs) == 0 {
			return fmt.Errorf("signer %s: empty queue kept", s)
		}
		run := q.next
		for q.txs[run] != nil {
			run++
		}
		if q.run != run {
			return fmt.Errorf("signer %s: run %d, want %d", s, q.run, run)
		}
		sb := 0
		for n, t := range q.txs {
			switch {
			case m.byHash[string(t.meta.Hash)] != t:
				return fmt.Errorf("signer %s nonce %d: not indexed by hash", s, n)
			case n < q.next:
				return fmt.Errorf("signer %s nonce %d: below next %d", s, n, q.next)
			case t.queued != (n > run):
				return fmt.Errorf("signer %s nonce %d: queued %v, run %d", s, n, t.queued, run)
			case !t.queued && !t.queuedSince.IsZero():
				return fmt.Errorf("signer %s nonce %d: pending with a queued clock", s, n)
			}
			if t.queued {
				qTxs++
				qBytes += len(t.tx)
			}
			sb += len(t.tx)
		}
		if sb != q.bytes {
			return fmt.Errorf("signer %s: %d bytes counted, %d held", s, q.bytes, sb)
		}
		if len(q.txs) > m.cfg.MaxSignerTxs || sb > m.cfg.MaxSignerBytes {
			return fmt.Errorf("signer %s: %d txs, %d bytes over its bounds", s, len(q.txs), sb)
		}
		txs += len(q.txs)
		bytes += sb
	}
	switch {
	case txs != len(m.byHash) || bytes != m.bytes:
		return fmt.Errorf("%d txs, %d bytes in queues; %d, %d counted", txs, bytes, len(m.byHash), m.bytes)
	case qTxs != m.queuedTxs || qBytes != m.queuedBytes:
		return fmt.Errorf("%d queued txs, %d bytes; %d, %d counted", qTxs, qBytes, m.queuedTxs, m.queuedBytes)
	case txs > m.cfg.MaxTxs || bytes > m.cfg.MaxBytes:
		return fmt.Errorf("%d txs, %d bytes over the bounds", txs, bytes)
	}
	return nil
}

// Random admissions, commits, rechecks and expiries keep the counts right
// and the bounds held; an admission never evicts a pending tx; and a
// runnable tx of a new signer is admitted whenever the pending txs leave
// it room.
func TestMempoolRandomOps(t *testing.T) {
	cfg := Config{MaxTxs: 40, MaxBytes: 1200, MaxTxBytes: 80, MaxNonceGap: 12,
		MaxSignerTxs: 8, MaxSignerBytes: 300, MaxQueuedPercent: 25, QueuedTTL: 30 * time.Second}
	var total Stats
	for seed := int64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewSource(seed))
		m, c := newTestMempool(t, cfg)
		now := time.Unix(1000, 0)
		fresh := 0
		signer := func() string { return fmt.Sprint("s", rng.Intn(8)) }
		for op := range 1500 {
			switch k := rng.Intn(10); {
			case k < 6: // a tx of a known signer, near its next nonce
				s := signer()
				next, _ := c.NextNonce(s)
				x := txN(s, int(next)+rng.Intn(10), 10+rng.Intn(70))
				pending := map[*mempoolTx]bool{}
				m.mu.Lock()
				for _, t := range m.byHash {
					if !t.queued {
						pending[t] = true
					}
				}
				m.mu.Unlock()
				m.Add(x)
				m.mu.Lock()
				for p := range pending {
					if m.byHash[string(p.meta.Hash)] != p {
						t.Fatalf("seed %d op %d: adding %q dropped pending %q", seed, op, x, p.tx)
					}
				}
				m.mu.Unlock()
			case k < 7: // a runnable tx of a new signer
				fresh++
				x := txN(fmt.Sprint("new", fresh), 1, 10+rng.Intn(70))
				st := m.Stats()
				_, err := m.Add(x)
				if st.Txs-st.QueuedTxs+1 <= cfg.MaxTxs && st.Bytes-st.QueuedBytes+len(x) <= cfg.MaxBytes && err != nil {
					t.Fatalf("seed %d op %d: runnable %q refused with room among pending txs (%+v): %v", seed, op, x, st, err)
				}
			case k < 8: // commit the next nonce of a signer, held or not
				s := signer()
				next, _ := c.NextNonce(s)
				c.commit(s, next)
				m.Update([]CommittedTx{committedTx(s, int(next))})
			case k < 9: // an admission change refuses one held tx
				m.mu.Lock()
				var victim []byte
				for _, t := range m.byHash {
					victim = t.tx
					break
				}
				m.mu.Unlock()
				c.mu.Lock()
				c.badTx[string(victim)] = true
				c.mu.Unlock()
				m.Update([]CommittedTx{{Hash: crypto.Ed25519SHA256.Hash([]byte("admin")), Signer: "admin", Nonce: 1, Admission: true}})
			default:
				now = now.Add(time.Duration(rng.Intn(20)) * time.Second)
				m.Expire(now)
			}
			if err := m.checkInvariants(); err != nil {
				t.Fatalf("seed %d op %d: %v", seed, op, err)
			}
		}
		st := m.Stats()
		total.Evicted += st.Evicted
		total.Expired += st.Expired
	}
	// The schedule must reach the paths under test.
	if total.Evicted == 0 || total.Expired == 0 {
		t.Fatalf("no eviction or no expiry in any seed: %+v", total)
	}
	t.Logf("%d evicted, %d expired", total.Evicted, total.Expired)
}

// The node's metrics show the queued txs and the queued txs evicted and
// expired.
func TestMempoolMetrics(t *testing.T) {
	m, _ := newTestMempool(t, mcfg(3, 10_000, 100, 16))
	mustAdd(t, m, tx("a", 3), tx("b", 3), tx("x", 1), tx("c", 1)) // c:1 evicts b:3 (newer)
	t0 := time.Unix(1000, 0)
	m.Expire(t0)
	m.Expire(t0.Add(time.Minute)) // a:3
	mustAdd(t, m, tx("d", 5))
	// The decoded-tx table: x:1 and c:1 found in the mempool's table,
	// one equal copy decoded again.
	m.known.Hashes(m.Reap(10, 1<<20))
	m.known.Tx(tx("x", 1))
	r := prometheus.NewRegistry()
	r.MustRegister(NewCollector(m.Stats))
	mfs, err := r.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mm := range mf.GetMetric() {
			got[mf.GetName()] = mm.GetGauge().GetValue() + mm.GetCounter().GetValue()
		}
	}
	want := map[string]float64{"govnode_mempool_queued_txs": 1, "govnode_mempool_queued_bytes": float64(len(tx("d", 5))),
		"govnode_mempool_evicted_txs_total": 1, "govnode_mempool_expired_txs_total": 1, "govnode_mempool_refused_txs_total": 0,
		"govnode_tx_facts_reused_total": 2, "govnode_tx_facts_recomputed_total": 1,
		"govnode_mempool_commit_rate_txs_per_second": 0, "govnode_mempool_backlog_limit_txs": 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("metrics %v, want %v", got, want)
	}
}

// A tx resubmitted after it committed but before Update dropped it from
// the mempool is answered as stale (its nonce is used), as it will be once
// Update runs, not as "already in the mempool": the API's answer to a
// replayed committed tx must not depend on that window.
func TestMempoolResubmitCommittedBeforeUpdate(t *testing.T) {
	m, c := newTestMempool(t, testMempoolCfg)
	if _, err := m.Add(tx("a", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Add(tx("a", 1)); !errors.Is(err, ErrDuplicateTx) {
		t.Fatalf("pending duplicate: %v, want ErrDuplicateTx", err)
	}
	c.commit("a", 1) // committed state moves; Update has not run yet
	if _, err := m.Add(tx("a", 1)); !errors.Is(err, ErrStaleNonce) {
		t.Fatalf("committed, not yet dropped: %v, want ErrStaleNonce", err)
	}
	if txs, _ := m.Size(); txs != 1 {
		t.Fatalf("the refusal changed the mempool: %d txs", txs)
	}
}

// The drop reasons kept are bounded: the oldest go first.
func TestMempoolDropReasonsBounded(t *testing.T) {
	m, _ := newTestMempool(t, testMempoolCfg)
	for i := range droppedKept + 10 {
		m.mu.Lock()
		m.rememberDropLocked([]byte(fmt.Sprint(i)), "r")
		m.mu.Unlock()
	}
	if len(m.dropped) != droppedKept || len(m.droppedOrder) != droppedKept {
		t.Fatalf("%d reasons kept (%d in order), want %d", len(m.dropped), len(m.droppedOrder), droppedKept)
	}
	if _, ok := m.Dropped([]byte("0")); ok {
		t.Fatal("the oldest reason is still kept")
	}
	if _, ok := m.Dropped([]byte(fmt.Sprint(droppedKept + 9))); !ok {
		t.Fatal("the newest reason is not kept")
	}
}

// AddTx admits the facts it is given as they are (a batch's signature
// check hashed and decoded them): the Known table holds that very Tx, and
// a second copy of the tx is a duplicate, as with Add.
func TestAddTxTakesTheGivenFacts(t *testing.T) {
	m, _ := newTestMempool(t, mcfg(100, 100_000, 10_000, 16))
	raw := tx("a", 1)
	facts := exec.NewTx(crypto.Ed25519SHA256, raw)
	h, err := m.AddTx(facts)
	if err != nil || !bytes.Equal(h, facts.Hash) {
		t.Fatalf("AddTx = %x, %v", h, err)
	}
	if got := m.known.Get(raw); got != facts {
		t.Fatal("the Known table holds another Tx than the one AddTx was given")
	}
	if _, err := m.Add(raw); !errors.Is(err, ErrDuplicateTx) {
		t.Fatalf("Add of the same tx after AddTx: %v, want ErrDuplicateTx", err)
	}
	if _, err := m.AddTx(exec.NewTx(crypto.Ed25519SHA256, raw)); !errors.Is(err, ErrDuplicateTx) {
		t.Fatalf("AddTx of the same tx again: %v, want ErrDuplicateTx", err)
	}
}

// A tx whose nonce another committed tx of its signer used (the same
// signer sent two txs with one nonce through two nodes, or a restarted
// node re-committed an older one) leaves the mempool with that reason, so
// a client waiting for it is told instead of waiting out its deadline.
func TestMempoolTxDisplacedByAnotherCommittedTxHasAReason(t *testing.T) {
	m, c := newTestMempool(t, testMempoolCfg)
	mine := tx("a", 1)
	if _, err := m.Add(mine); err != nil {
		t.Fatal(err)
	}
	other := []byte("a:1:the other tx with nonce 1")
	c.commit("a", 1)
	m.Update([]CommittedTx{{Hash: crypto.Ed25519SHA256.Hash(other), Signer: "a", Nonce: 1}})
	if m.Has(crypto.Ed25519SHA256.Hash(mine)) {
		t.Fatal("a tx whose nonce a committed tx used is still held")
	}
	if r, ok := m.Dropped(crypto.Ed25519SHA256.Hash(mine)); !ok || !strings.Contains(r, "nonce 1 was used by a committed transaction of a") {
		t.Fatalf("drop reason %q %v", r, ok)
	}
	if _, ok := m.Dropped(crypto.Ed25519SHA256.Hash(other)); ok {
		t.Fatal("the committed tx has a drop reason")
	}
}
