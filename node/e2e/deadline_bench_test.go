package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Deadline lateness benchmark parameters.
const (
	// deadlinesPerSecond timer contracts are due at each whole second (a
	// due time is in seconds); those of one second fire in one block.
	deadlinesPerSecond = 2
	// loadRate is the grant txs per second offered in the "load" run,
	// spread over the 16 accounts, each sending its own in nonce order.
	loadRate = 400
)

// BenchmarkDeadlineLateness measures how late contract deadlines fire on
// the four-process network (crash mode, plaintext APIs), with no other
// activity ("idle") and under a steady load of grant txs ("load"):
// docs/BENCHMARKS.md, "Deadline lateness". b.N timer contracts (created
// beforehand, all committed before the first is due) are due at whole
// seconds, deadlinesPerSecond per second. For each the benchmark reports
//
//	block  the firing block's header time minus the due time: how late the
//	       state machine fired it (never ≤ 0: a block fires only what is
//	       due before its time)
//	seen   when node1's event stream delivered the firing to this client,
//	       minus the due time: the block's commit and the stream added
//
// as p50, p99 and max in ms; load-tx/s is the load committed per second
// of the run. ns/op means nothing here.
//
//	go test ./node/e2e -run '^$' -bench DeadlineLateness -benchtime 240x -timeout 30m
func BenchmarkDeadlineLateness(b *testing.B) {
	c := newClusterWith(b, 4, "crash", clusterOpts{})
	c.installTimer()
	run := 0
	for _, load := range []bool{false, true} {
		name := map[bool]string{false: "idle", true: "load"}[load]
		b.Run(name, func(b *testing.B) {
			run++
			m := c.measureDeadlines(fmt.Sprintf("%s%d-", name, run), b.N, load)
			q := func(lat []time.Duration, p float64) float64 {
				return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond)
			}
			for _, s := range []struct {
				name string
				lat  []time.Duration
			}{{"block", m.block}, {"seen", m.seen}} {
				b.ReportMetric(q(s.lat, 0.5), s.name+"-p50-ms")
				b.ReportMetric(q(s.lat, 0.99), s.name+"-p99-ms")
				b.ReportMetric(q(s.lat, 1), s.name+"-max-ms")
			}
			b.ReportMetric(float64(m.blocks), "firing-blocks")
			b.ReportMetric(m.viewChanges, "view-changes")
			if load {
				b.ReportMetric(m.loadRate, "load-tx/s")
			}
			b.Logf("%d deadlines over %d s in %d firing blocks; heights %d..%d", b.N, m.seconds, m.blocks, m.from, m.to)
		})
	}
}

// lateness is what measureDeadlines saw.
type lateness struct {
	block, seen []time.Duration // sorted
	blocks      int             // distinct firing blocks
	seconds     int64           // distinct due seconds
	from, to    uint64          // node1's heights before and after
	loadRate    float64         // load txs committed per second of the run
	viewChanges float64         // node1's view changes during the run
}

// measureDeadlines creates n timer contracts with ids prefix<i>, due from
// a few seconds ahead, deadlinesPerSecond per second, waits for every
// firing on node1's event stream (with a steady grant load meanwhile if
// load), and returns the lateness of each. Every contract must fire once,
// never before its due time.
func (c *cluster) measureDeadlines(prefix string, n int, load bool) lateness {
	c.t.Helper()
	accts := c.accounts()
	from := c.height(1)
	views := c.metric(1, "govnode_consensus_view_changes_total")
	first := time.Now().Add(5*time.Second + time.Duration(n)*20*time.Millisecond).Unix()
	due := func(i int) int64 { return first + int64(i/deadlinesPerSecond) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fired := c.watchDeadlines(ctx, 1, from, prefix)

	// Create them, each account's in nonce order, and wait for every one.
	var mu sync.Mutex
	var hashes [][]byte
	var wg sync.WaitGroup
	errs := make(chan error, len(accts))
	for j, a := range accts {
		wg.Go(func() {
			for i := j; i < n; i += len(accts) {
				tx := c.timerTx(a, fmt.Sprintf("%s%d", prefix, i), due(i))
				sctx, scancel := c.ctx()
				r, err := c.clients[j%c.n].SubmitTx(sctx, connect.NewRequest(&pb.SubmitTxRequest{Tx: tx}))
				scancel()
				if err != nil {
					errs <- fmt.Errorf("create %s%d on node%d: %w", prefix, i, j%c.n, err)
					return
				}
				mu.Lock()
				hashes = append(hashes, r.Msg.GetTxHash())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		c.t.Fatal(err)
	}
	c.waitCommitted(0, hashes, 2*time.Minute)
	if time.Now().Unix() >= first {
		c.t.Fatalf("creating %d contracts took past the first due time", n)
	}

	var l *rateLoad
	if load {
		l = c.startRateLoad(loadRate)
	}
	var out lateness
	got := map[string]bool{}
	heights := map[uint64]bool{}
	last := time.Unix(due(n-1), 0)
	for len(got) < n {
		var f firing
		select {
		case f = <-fired:
		case <-time.After(time.Until(last.Add(30 * time.Second))):
			c.t.Fatalf("%d of %d deadlines fired by 30 s after the last due time", len(got), n)
		}
		var i int
		if _, err := fmt.Sscanf(f.contract[len(prefix):], "%d", &i); err != nil || i < 0 || i >= n {
			c.t.Fatalf("a firing of an unknown contract %s", f.contract)
		}
		if got[f.contract] {
			c.t.Fatalf("contract %s fired twice", f.contract)
		}
		got[f.contract] = true
		heights[f.height] = true
		d := due(i)
		block := time.Duration(f.blockMs-d*1000) * time.Millisecond
		if block <= 0 {
			c.t.Fatalf("contract %s due at %d s fired in block %d stamped %d ms: early", f.contract, d, f.height, f.blockMs)
		}
		out.block = append(out.block, block)
		out.seen = append(out.seen, f.seen.Sub(time.Unix(d, 0)))
		if block > time.Second {
			hdr := c.block(1, f.height).GetHeader()
			c.t.Logf("contract %s due at %d s fired %s late in block %d (view %d, proposer %d, state height %d)",
				f.contract, d, block, f.height, hdr.GetView(), hdr.GetProposer(), hdr.GetStateHeight())
		}
	}
	if l != nil {
		acked, elapsed := l.finish()
		c.waitCommitted(0, acked, 3*time.Minute)
		out.loadRate = float64(len(acked)) / elapsed.Seconds()
	}
	slices.Sort(out.block)
	slices.Sort(out.seen)
	out.blocks, out.seconds = len(heights), due(n-1)-first+1
	out.from, out.to = from, c.height(1)
	out.viewChanges = c.metric(1, "govnode_consensus_view_changes_total") - views
	return out
}

// rateLoad is a steady load of grant txs: one goroutine per account, each
// sending its own in nonce order at an even pace; an account whose tx is
// refused is retired, so no acknowledged tx waits behind a nonce gap.
type rateLoad struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	start time.Time
	mu    sync.Mutex
	acked [][]byte
}

// startRateLoad offers rate grant txs per second over every account,
// each account's to one node in turn.
func (c *cluster) startRateLoad(rate int) *rateLoad {
	l := &rateLoad{stop: make(chan struct{}), start: time.Now()}
	accts := c.accounts()
	every := time.Duration(len(accts)) * time.Second / time.Duration(rate)
	for j, a := range accts {
		l.wg.Go(func() {
			t := time.NewTicker(every)
			defer t.Stop()
			for k := 0; ; k++ {
				select {
				case <-l.stop:
					return
				case <-t.C:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				r, err := c.clients[(j+k)%c.n].SubmitTx(ctx, connect.NewRequest(&pb.SubmitTxRequest{Tx: c.grantTx(a)}))
				cancel()
				if err != nil {
					c.t.Logf("load: %s retired: %v", a.id, err)
					return
				}
				l.mu.Lock()
				l.acked = append(l.acked, r.Msg.GetTxHash())
				l.mu.Unlock()
			}
		})
	}
	return l
}

// finish stops the load and returns the acknowledged tx hashes and how
// long it ran.
func (l *rateLoad) finish() ([][]byte, time.Duration) {
	close(l.stop)
	l.wg.Wait()
	return l.acked, time.Since(l.start)
}
