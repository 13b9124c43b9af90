package p2p

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// stepClock is a Clock that moves only when the test moves it.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) After(time.Duration) <-chan time.Time { return nil }

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// recordHandler keeps every log record.
type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordHandler) take() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.records
	h.records = nil
	return r
}

func intAttr(r slog.Record, key string) (int64, bool) {
	var v int64
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v, found = int64(a.Value.Uint64()), true
			return false
		}
		return true
	})
	return v, found
}

type connAddrs struct{}

func (connAddrs) LocalMultiaddr() ma.Multiaddr  { return ma.StringCast("/ip4/127.0.0.1/tcp/26656") }
func (connAddrs) RemoteMultiaddr() ma.Multiaddr { return ma.StringCast("/ip4/203.0.113.7/tcp/40000") }

// A stranger that knocks in a loop, with a new peer id each time (as cheap
// as a new key), gets a bounded number of log lines per window while every
// refusal is counted; the lines held back are reported on the next line.
func TestGaterRefusalLogIsRateLimited(t *testing.T) {
	type step struct {
		advance   time.Duration // before the refusals
		refusals  int
		wantLines int
		// wantUnlogged is the unlogged_refusals of the first line of the
		// step (0: the attribute is absent).
		wantUnlogged int64
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"300 in two seconds", []step{
			{refusals: 300, wantLines: refusalLogBurst},
		}},
		{"a burst, then the next window reports what was held back", []step{
			{refusals: 300, wantLines: refusalLogBurst},
			{advance: refusalLogWindow, refusals: 1, wantLines: 1, wantUnlogged: 300 - refusalLogBurst},
			{advance: time.Second, refusals: 100, wantLines: refusalLogBurst - 1},
		}},
		{"a few refusals spread out are all logged", []step{
			{refusals: 1, wantLines: 1},
			{advance: 2 * refusalLogWindow, refusals: 1, wantLines: 1},
			{advance: 2 * refusalLogWindow, refusals: 1, wantLines: 1},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			h := &recordHandler{}
			var refused atomic.Uint64
			g := newGater(&Config{}, slog.New(h), &refused, clock)
			total := 0
			for si, s := range tc.steps {
				clock.advance(s.advance)
				for i := range s.refusals {
					p := peer.ID(fmt.Sprintf("stranger-%d-%d", si, i))
					// Spread the step's refusals over two seconds.
					if i > 0 {
						clock.advance(2 * time.Second / time.Duration(s.refusals))
					}
					if g.InterceptSecured(network.DirInbound, p, connAddrs{}) {
						t.Fatalf("step %d: stranger %d admitted", si, i)
					}
				}
				total += s.refusals
				lines := h.take()
				if len(lines) != s.wantLines {
					t.Fatalf("step %d: %d log lines for %d refusals, want %d", si, len(lines), s.refusals, s.wantLines)
				}
				if got := refused.Load(); got != uint64(total) {
					t.Fatalf("step %d: refusal counter %d, want %d", si, got, total)
				}
				if len(lines) == 0 {
					continue
				}
				got, found := intAttr(lines[0], "unlogged_refusals")
				if s.wantUnlogged == 0 && found || s.wantUnlogged != 0 && got != s.wantUnlogged {
					t.Fatalf("step %d: first line unlogged_refusals = %d (present %v), want %d", si, got, found, s.wantUnlogged)
				}
				for _, r := range lines {
					if r.Level != slog.LevelWarn {
						t.Fatalf("step %d: refusal logged at %v", si, r.Level)
					}
				}
			}
		})
	}
}
