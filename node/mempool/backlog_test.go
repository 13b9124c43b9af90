package mempool

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// The backlog bound (issue 20; Reserve): the API may fill the mempool's
// runnable txs up to what the chain commits in MaxBacklog at its measured
// rate, never below MinBacklogTxs. Time is an input: no test sleeps.

// bcfg is a loose mempool with the backlog bound of maxBacklog and floor.
func bcfg(maxBacklog time.Duration, floor int) Config {
	c := mcfg(100_000, 100<<20, 1000, 1<<20)
	c.MaxBacklog, c.MinBacklogTxs = maxBacklog, floor
	return c
}

// commitAt tells m that txs committed at now (txs it does not hold: only
// the rate moves).
func commitAt(m *Mempool, txs int, now time.Time) {
	cs := make([]CommittedTx, txs)
	for i := range cs {
		cs[i] = CommittedTx{Hash: []byte(fmt.Sprintf("elsewhere-%d", i))}
	}
	m.UpdateAt(cs, now)
}

// admit reserves n, adds txs of signer from nonce, releases; it returns
// how many were granted and the refusal.
func admit(t *testing.T, m *Mempool, now time.Time, signer string, from, n int) (int, error) {
	t.Helper()
	k, err := m.Reserve(n, now)
	for i := range k {
		if _, aerr := m.Add(tx(signer, from+i)); aerr != nil {
			t.Fatalf("Add %s:%d: %v", signer, from+i, aerr)
		}
	}
	m.Release(k)
	return k, err
}

func TestBacklogFloorAdmitsABurstOnAnIdleChain(t *testing.T) {
	m, _ := newTestMempool(t, bcfg(500*time.Millisecond, 8))
	t0 := time.Unix(1000, 0)
	k, err := admit(t, m, t0, "a", 1, 5)
	if k != 5 || err != nil {
		t.Fatalf("first 5 of an idle chain: granted %d, %v", k, err)
	}
	k, err = admit(t, m, t0, "a", 6, 5)
	if k != 3 {
		t.Fatalf("granted %d of 5 with 5 runnable and a floor of 8, want 3", k)
	}
	var be *BacklogError
	if !errors.As(err, &be) || !errors.Is(err, ErrBacklog) || !errors.Is(err, ErrMempoolFull) {
		t.Fatalf("refusal %v: want a *BacklogError that is ErrBacklog and ErrMempoolFull", err)
	}
	// No commit yet: nothing to measure a retry by, so the longest delay.
	if be.Backlog != 5 || be.Limit != 8 || be.CommitRate != 0 || be.RetryAfter != idleBacklogRetry {
		t.Fatalf("refusal %+v", be)
	}
	if k, err := m.Reserve(1, t0); k != 0 || err == nil {
		t.Fatalf("a full backlog granted %d, %v", k, err)
	}
}

// The limit follows the commit rate: at about 1000 txs/s, 500 ms of it.
func TestBacklogLimitFollowsCommitRate(t *testing.T) {
	m, c := newTestMempool(t, bcfg(500*time.Millisecond, 10))
	t0 := time.Unix(1000, 0)
	now := t0
	// 100 txs every 100 ms for 10 s: 1000 txs/s.
	for range 100 {
		now = now.Add(100 * time.Millisecond)
		commitAt(m, 100, now)
	}
	_, rate := m.backlogLimitLocked(now)
	if rate < 950 || rate > 1100 {
		t.Fatalf("rate %.0f after 10 s at 1000 txs/s", rate)
	}
	k, err := admit(t, m, now, "a", 1, 2000)
	if k < 475 || k > 550 || err == nil {
		t.Fatalf("granted %d of 2000 at ~1000 txs/s and 500 ms, want ~500 and a refusal", k)
	}
	var be *BacklogError
	if !errors.As(err, &be) || be.RetryAfter != minBacklogRetry {
		// The first refused tx fits after one commit: the shortest delay.
		t.Fatalf("refusal %v, want a retry after %s", err, minBacklogRetry)
	}
	// Txs from peers push the backlog ~1000 over the limit: those must
	// commit first, about a second at 1000 txs/s.
	for i := range 1000 {
		mustAdd(t, m, tx("peer", 1+i))
	}
	if _, err := m.Reserve(1, now); !errors.As(err, &be) || be.RetryAfter < 900*time.Millisecond || be.RetryAfter > 1100*time.Millisecond {
		t.Fatalf("1000 over at ~1000 txs/s: %v, want a retry after ~1 s", err)
	}
	c.commit("peer", 1000)
	// A chain that stops committing closes the bound down to the floor:
	// after 10 s without a commit the rate is ~0.
	later := now.Add(10 * time.Second)
	if limit, rate := m.backlogLimitLocked(later); limit != 10 || rate > 0.1 {
		t.Fatalf("after 10 s idle: limit %d, rate %.2f", limit, rate)
	}
	// Commits empty the mempool and the bound admits again.
	c.commit("a", uint64(k))
	m.UpdateAt([]CommittedTx{committedTx("a", k), committedTx("peer", 1000)}, later)
	if txs, _ := m.Size(); txs != 0 {
		t.Fatalf("%d txs held after their commit", txs)
	}
	if k, err := m.Reserve(10, later); k != 10 || err != nil {
		t.Fatalf("an empty mempool on a quiet chain: granted %d, %v", k, err)
	}
	m.Release(10)
}

// Reservations count as runnable until released: concurrent requests
// that reserved together cannot overshoot, and a released reservation
// that Add refused frees its room.
func TestBacklogReservationsCount(t *testing.T) {
	m, _ := newTestMempool(t, bcfg(time.Second, 10))
	now := time.Unix(1000, 0)
	k1, err1 := m.Reserve(6, now)
	k2, err2 := m.Reserve(6, now)
	if k1 != 6 || err1 != nil || k2 != 4 || err2 == nil {
		t.Fatalf("two requests of 6 under a limit of 10: granted %d (%v) and %d (%v)", k1, err1, k2, err2)
	}
	// The first request's txs are all refused by Add (bad txs): released,
	// their room is free again.
	for range k1 {
		if _, err := m.Add([]byte("bad")); err == nil {
			t.Fatal("a malformed tx was admitted")
		}
	}
	m.Release(k1)
	m.Release(k2)
	if k, err := m.Reserve(10, now); k != 10 || err != nil {
		t.Fatalf("after release: granted %d, %v", k, err)
	}
	m.Release(10)
	defer func() {
		if recover() == nil {
			t.Error("releasing more than reserved did not panic")
		}
	}()
	m.Release(1)
}

// Queued txs (behind a nonce gap) are not backlog: they do not run. Txs
// added without Reserve (from peers) are not refused, and they count.
func TestBacklogCountsRunnableOnly(t *testing.T) {
	m, _ := newTestMempool(t, bcfg(time.Second, 4))
	now := time.Unix(1000, 0)
	mustAdd(t, m, tx("q", 5), tx("q", 6), tx("q", 7)) // queued: q's next is 1
	if k, err := admit(t, m, now, "a", 1, 4); k != 4 || err != nil {
		t.Fatalf("queued txs took backlog room: granted %d, %v", k, err)
	}
	mustAdd(t, m, tx("peer", 1), tx("peer", 2)) // from a peer: over the bound, admitted
	var be *BacklogError
	if _, err := m.Reserve(1, now); !errors.As(err, &be) || be.Backlog != 6 {
		t.Fatalf("peer txs not counted: %v", err)
	}
}

// With the bound off every reservation is granted.
func TestBacklogOff(t *testing.T) {
	m, _ := newTestMempool(t, bcfg(0, 0))
	now := time.Unix(1000, 0)
	if k, err := admit(t, m, now, "a", 1, 50); k != 50 || err != nil {
		t.Fatalf("bound off: granted %d, %v", k, err)
	}
	if st := m.Stats(); st.BacklogLimit != 0 {
		t.Fatalf("bound off: limit %d in Stats", st.BacklogLimit)
	}
}

// A commit rate that rises after an idle spell opens the bound within a
// couple of seconds (rateTau), and the smoothing holds over uneven blocks.
func TestBacklogRateSmoothing(t *testing.T) {
	m, _ := newTestMempool(t, bcfg(500*time.Millisecond, 1))
	now := time.Unix(1000, 0)
	// Uneven blocks, 2000 txs/s on average: 50, 350 txs every 100 ms.
	var low, high float64 = 1e9, 0
	for i := range 60 {
		now = now.Add(100 * time.Millisecond)
		commitAt(m, []int{50, 350}[i%2], now)
		if i >= 30 {
			_, r := m.backlogLimitLocked(now)
			low, high = min(low, r), max(high, r)
		}
	}
	if low < 1700 || high > 2300 {
		t.Fatalf("rate between %.0f and %.0f at 2000 txs/s in uneven blocks", low, high)
	}
	if st := m.Stats(); st.BacklogLimit < 850 || st.BacklogLimit > 1150 || st.CommitRate < 1700 {
		t.Fatalf("Stats %+v", st)
	}
}
