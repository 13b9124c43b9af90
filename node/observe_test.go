package node

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// An observer reports itself catching up (not ready) during its first
// catch-up and during a later one that lasts past slow, and not during
// the quick polls between: it never did, so /readyz called an observer
// thousands of blocks behind ready.
func TestObserverReportsCatchingUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var syncing atomic.Bool
	type call struct {
		during chan bool // what syncing said inside the call, after its hold
		hold   time.Duration
	}
	calls := make(chan call)
	catchUp := func(ctx context.Context) error {
		select {
		case c := <-calls:
			time.Sleep(c.hold)
			c.during <- syncing.Load()
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	const slow = 400 * time.Millisecond
	errc := make(chan error, 1)
	go func() { errc <- observe(ctx, catchUp, &syncing, time.Millisecond, slow) }()
	for i, c := range []struct {
		hold time.Duration
		want bool
	}{
		{0, true},          // the first catch-up, however short
		{0, false},         // a quick poll
		{3 * slow, true},   // a long one: catching up from behind
		{slow / 10, false}, // quick again
	} {
		during := make(chan bool, 1)
		calls <- call{during: during, hold: c.hold}
		if got := <-during; got != c.want {
			t.Errorf("catch-up %d (%v): syncing %v, want %v", i, c.hold, got, c.want)
		}
		// Between polls it is not catching up.
		deadline := time.Now().Add(time.Second)
		for syncing.Load() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if syncing.Load() {
			t.Errorf("after catch-up %d: still syncing", i)
		}
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("observe ended with %v", err)
	}
}
