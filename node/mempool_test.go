package node

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govnode/govnode/crypto"
)

// fakeChecker decodes "signer:nonce:payload" txs against a nonce table that
// stands for committed state.
type fakeChecker struct {
	mu    sync.Mutex
	next  map[string]uint64
	calls int
	bad   map[string]bool // signers refused from now on
	// during, if set, runs once at the end of the next CheckTx, after its
	// verdict is made (a commit landing while a tx is being checked).
	during func()
}

func (c *fakeChecker) CheckTx(tx []byte) (*TxMeta, error) {
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
	next := c.next[signer]
	if next == 0 {
		next = 1
	}
	return &TxMeta{Hash: crypto.Hash(tx), Signer: signer, Nonce: nonce, NextNonce: next}, nil
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

func newTestMempool(t *testing.T, cfg MempoolConfig) (*Mempool, *fakeChecker) {
	t.Helper()
	c := &fakeChecker{next: map[string]uint64{}, bad: map[string]bool{}}
	m, err := NewMempool(cfg, c)
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

var testMempoolCfg = MempoolConfig{MaxTxs: 100, MaxBytes: 10_000, MaxTxBytes: 1000, MaxNonceGap: 16}

func tx(signer string, nonce int) []byte { return []byte(fmt.Sprintf("%s:%d:x", signer, nonce)) }

func TestMempoolRefusals(t *testing.T) {
	m, c := newTestMempool(t, MempoolConfig{MaxTxs: 3, MaxBytes: 10_000, MaxTxBytes: 100, MaxNonceGap: 4})
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
	m2, _ := newTestMempool(t, MempoolConfig{MaxTxs: 100, MaxBytes: 10, MaxTxBytes: 10, MaxNonceGap: 4})
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
	return CommittedTx{Hash: crypto.Hash(tx(signer, nonce)), Signer: signer, Nonce: uint64(nonce)}
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
	other := CommittedTx{Hash: crypto.Hash([]byte("b:1:other")), Signer: "b", Nonce: 1}
	m.Update([]CommittedTx{committedTx("a", 1), committedTx("a", 2), other})
	if n, _ := m.Size(); n != 2 || !m.Has(crypto.Hash(tx("a", 3))) || !m.Has(crypto.Hash(tx("b", 2))) {
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
		m.Update([]CommittedTx{{Hash: crypto.Hash([]byte("a:1:other")), Signer: "a", Nonce: 1}})
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
	m.Update([]CommittedTx{{Hash: crypto.Hash([]byte("forged")), Signer: "a", Nonce: 2}})
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
	m.Update([]CommittedTx{{Hash: crypto.Hash(tx("z", 1)), Signer: "z", Nonce: 1}})
	if !m.Has(crypto.Hash(tx("b", 1))) {
		t.Fatal("a records block rechecked b")
	}
	m.Update([]CommittedTx{{Hash: crypto.Hash([]byte("suspend b")), Signer: "admin", Nonce: 1, Admission: true}})
	if m.Has(crypto.Hash(tx("b", 1))) || !m.Has(crypto.Hash(tx("a", 1))) {
		t.Fatal("after a suspension: b:1 kept or a:1 dropped")
	}
	c.bad["a"] = true
	for m.commits < fullRecheckEvery-1 {
		m.Update(nil)
		if !m.Has(crypto.Hash(tx("a", 1))) {
			t.Fatalf("rechecked at commit %d", m.commits)
		}
	}
	m.Update(nil)
	if m.Has(crypto.Hash(tx("a", 1))) {
		t.Fatalf("no full recheck after %d commits", fullRecheckEvery)
	}
}

func TestMempoolConcurrentAdd(t *testing.T) {
	m, _ := newTestMempool(t, MempoolConfig{MaxTxs: 10_000, MaxBytes: 1 << 20, MaxTxBytes: 100, MaxNonceGap: 1000})
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
	bad := []MempoolConfig{
		{MaxTxs: 0, MaxBytes: 1, MaxTxBytes: 1, MaxNonceGap: 1},
		{MaxTxs: 1, MaxBytes: 0, MaxTxBytes: 1, MaxNonceGap: 1},
		{MaxTxs: 1, MaxBytes: 1, MaxTxBytes: 2, MaxNonceGap: 1},
		{MaxTxs: 1, MaxBytes: 1, MaxTxBytes: 1, MaxNonceGap: 0},
	}
	for i, c := range bad {
		if c.Validate() == nil {
			t.Errorf("config %d accepted", i)
		}
	}
	if _, err := NewMempool(testMempoolCfg, nil); err == nil {
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
	m.MarkGossiped(crypto.Hash(tx("c", 1)), t0.Add(40*time.Second))
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
