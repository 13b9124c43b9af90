package driver_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/consensustest"
	"github.com/govnode/govnode/consensus/driver"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// deadlineApp is a fake executor with one contract deadline: due while a
// block stamped now would fire it, fired by the first committed block
// whose time is past it (the state machine's rule, ARCHITECTURE.md §4
// "Deadlines drive blocks"). Block times are the wall clock, as the block
// executor stamps them.
type deadlineApp struct {
	*app
	clock func() time.Time
	dmu   sync.Mutex
	due   time.Time // zero: none scheduled
	fired []uint64  // heights of the blocks that fired it
	asked []time.Time
}

func newDeadlineApp(due time.Time, clock func() time.Time) *deadlineApp {
	return &deadlineApp{app: &app{}, due: due, clock: clock}
}

func (a *deadlineApp) DeadlineDue(now time.Time) bool {
	a.dmu.Lock()
	defer a.dmu.Unlock()
	a.asked = append(a.asked, now)
	return !a.due.IsZero() && now.UnixMilli() > a.due.UnixMilli()
}

func (a *deadlineApp) BuildPayload(slot consensus.ProposeSlot, txs [][]byte) (*pb.Header, error) {
	h, err := a.app.BuildPayload(slot, txs)
	if err != nil {
		return nil, err
	}
	h.TimeUnixMs = a.clock().UnixMilli()
	return h, nil
}

func (a *deadlineApp) Commit(bs []consensus.CommittedBlock) error {
	if err := a.app.Commit(bs); err != nil {
		return err
	}
	a.dmu.Lock()
	defer a.dmu.Unlock()
	for _, b := range bs {
		hdr := &pb.Header{}
		if err := proto.Unmarshal(b.Block.GetHeader(), hdr); err != nil {
			return err
		}
		if !a.due.IsZero() && hdr.GetTimeUnixMs() > a.due.UnixMilli() {
			a.fired = append(a.fired, b.Height)
			a.due = time.Time{}
		}
	}
	return nil
}

func (a *deadlineApp) firedAt() []uint64 {
	a.dmu.Lock()
	defer a.dmu.Unlock()
	return append([]uint64(nil), a.fired...)
}

func (a *deadlineApp) commits() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.committed)
}

var _ driver.Deadlines = (*deadlineApp)(nil)

// runDrivers runs one driver per app in a network of len(apps) replicas
// until the returned stop is called; stop reports a driver that failed.
func runDrivers(t *testing.T, apps []*deadlineApp, now func() time.Time) (stop func()) {
	t.Helper()
	n := len(apps)
	keys := consensustest.Keys(n, 3)
	model := consensus.Byzantine
	if n < 4 {
		model = consensus.Crash
	}
	cfg := consensustest.Config(keys, model)
	net := newChanNet(n)
	ctx, cancel := context.WithCancel(t.Context())
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i, a := range apps {
		c := cfg
		c.Self = i
		d, err := driver.New(c, keys[i], driver.Deps{Transport: &chanTransport{net, i}, Store: &memStore{},
			Executor: a, Mempool: a, TickInterval: 10 * time.Millisecond, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- d.Run(ctx)
		}()
	}
	return func() {
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("driver stopped: %v", err)
			}
		}
	}
}

// A due deadline makes an idle network propose: nothing is proposed
// before it, the block that fires it is stamped past it and committed
// within a few ticks of it on every replica, and then the network is idle
// again.
func TestDeadlineDueProposes(t *testing.T) {
	for _, n := range []int{1, 4} {
		t.Run(map[int]string{1: "lone", 4: "four"}[n], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				due := time.Now().Add(5 * time.Second)
				apps := make([]*deadlineApp, n)
				for i := range apps {
					apps[i] = newDeadlineApp(due, time.Now)
				}
				stop := runDrivers(t, apps, nil)
				defer stop()
				time.Sleep(time.Until(due))
				synctest.Wait()
				for i, a := range apps {
					if c := a.commits(); c != 0 {
						t.Fatalf("replica %d committed %d blocks before the deadline was due", i, c)
					}
				}
				for i, a := range apps {
					for len(a.firedAt()) == 0 {
						if time.Since(due) > time.Second {
							t.Fatalf("replica %d: the deadline has not fired %s after it was due", i, time.Since(due))
						}
						time.Sleep(time.Millisecond)
					}
				}
				if late := time.Since(due); late > 100*time.Millisecond {
					t.Fatalf("the deadline fired on every replica %s after it was due, want within a few 10 ms ticks", late)
				}
				h := apps[0].firedAt()[0]
				for i, a := range apps {
					if f := a.firedAt(); len(f) != 1 || f[0] != h {
						t.Fatalf("replica %d fired at heights %v, replica 0 at %d", i, f, h)
					}
					a.mu.Lock()
					b := a.committed[h-1]
					a.mu.Unlock()
					hdr := &pb.Header{}
					if err := proto.Unmarshal(b.Block.GetHeader(), hdr); err != nil {
						t.Fatal(err)
					}
					if hdr.GetTimeUnixMs() <= due.UnixMilli() || len(b.Block.GetTxs()) != 0 {
						t.Fatalf("replica %d: the firing block is stamped %d (due %d) with %d txs", i, hdr.GetTimeUnixMs(), due.UnixMilli(), len(b.Block.GetTxs()))
					}
				}
				// Idle again: no block for a minute once it fired.
				time.Sleep(time.Second)
				synctest.Wait()
				before := apps[0].commits()
				time.Sleep(time.Minute)
				synctest.Wait()
				if after := apps[0].commits(); after != before {
					t.Fatalf("%d blocks committed in the idle minute after the deadline fired", after-before)
				}
			})
		})
	}
}

// A deadline not due yet, or none at all, makes no block: the network
// stays idle (heartbeats only), and the executor is asked with the
// driver's clock (Deps.Now) when one is given.
func TestDeadlineNotDueMakesNoBlock(t *testing.T) {
	for _, tc := range []struct {
		name string
		due  time.Duration // from the start; 0: none scheduled
	}{{"none", 0}, {"in an hour", time.Hour}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				apps := make([]*deadlineApp, 4)
				for i := range apps {
					var due time.Time
					if tc.due > 0 {
						due = time.Now().Add(tc.due)
					}
					apps[i] = newDeadlineApp(due, time.Now)
				}
				stop := runDrivers(t, apps, nil)
				time.Sleep(2 * time.Minute)
				synctest.Wait()
				stop()
				for i, a := range apps {
					if c := a.commits(); c != 0 {
						t.Fatalf("replica %d committed %d blocks with no deadline due", i, c)
					}
				}
			})
		})
	}
	// The clock is the driver's Deps.Now: with one an hour ahead, the
	// deadline due in an hour is due at once.
	synctest.Test(t, func(t *testing.T) {
		ahead := func() time.Time { return time.Now().Add(time.Hour + time.Second) }
		a := newDeadlineApp(time.Now().Add(time.Hour), ahead)
		stop := runDrivers(t, []*deadlineApp{a}, ahead)
		defer stop()
		start := time.Now()
		for len(a.firedAt()) == 0 {
			if time.Since(start) > time.Second {
				t.Fatal("a deadline due by the driver's clock did not fire")
			}
			time.Sleep(time.Millisecond)
		}
		a.dmu.Lock()
		defer a.dmu.Unlock()
		if len(a.asked) == 0 || a.asked[0].Sub(start) < time.Hour {
			t.Fatalf("DeadlineDue asked with %v, not the driver's clock", a.asked[:min(len(a.asked), 1)])
		}
	})
}
