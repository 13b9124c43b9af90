package driver_test

import (
	"context"
	"errors"
	"slices"
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

// pipeApp is app with its ledger writes left in flight (driver.Pipeliner):
// a write returns once release is closed, or with failWith.
type pipeApp struct {
	app
	release  chan struct{}
	failWith error

	pmu      sync.Mutex
	inflight *consensus.CommittedBlock
	done     chan struct{}
	updated  []uint64 // heights the mempool was told of, in order
}

func (p *pipeApp) CommitAsync(bs []consensus.CommittedBlock) error {
	if _, _, err := p.FinishWrite(); err != nil {
		return err
	}
	if err := p.app.Commit(bs[:len(bs)-1]); err != nil {
		return err
	}
	p.pmu.Lock()
	defer p.pmu.Unlock()
	last := bs[len(bs)-1]
	p.inflight, p.done = &last, make(chan struct{})
	done := p.done
	go func() {
		<-p.release
		close(done)
	}()
	return nil
}

func (p *pipeApp) Written() <-chan struct{} {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	if p.inflight == nil {
		return nil
	}
	return p.done
}

func (p *pipeApp) FinishWrite() (uint64, time.Duration, error) {
	p.pmu.Lock()
	w, done := p.inflight, p.done
	p.pmu.Unlock()
	if w != nil {
		<-done
		if p.failWith != nil {
			return 0, 0, p.failWith
		}
		p.pmu.Lock()
		p.inflight = nil
		p.pmu.Unlock()
		if err := p.app.Commit([]consensus.CommittedBlock{*w}); err != nil {
			return 0, 0, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.committed) == 0 {
		return 0, 0, nil
	}
	return p.committed[len(p.committed)-1].Height, time.Millisecond, nil
}

func (p *pipeApp) Update(bs []consensus.CommittedBlock) {
	p.pmu.Lock()
	for _, b := range bs {
		p.updated = append(p.updated, b.Height)
	}
	p.pmu.Unlock()
	p.app.Update(bs)
}

var _ driver.Pipeliner = (*pipeApp)(nil)

// heightOf is the height in b's header.
func heightOf(t *testing.T, b *pb.Block) uint64 {
	t.Helper()
	h := &pb.Header{}
	if err := proto.Unmarshal(b.GetHeader(), h); err != nil {
		t.Fatal(err)
	}
	return h.GetHeight()
}

// loneConfig is the configuration of a lone crash-mode validator.
func loneConfig() (consensus.Config, consensus.Signer) {
	keys := consensustest.Keys(1, 3)
	cfg := consensustest.Config(keys, consensus.Crash)
	cfg.Self = 0
	return cfg, keys[0]
}

// loneDriver is the driver of a lone crash-mode validator with deps, on a
// network of its own and, unless deps name one, a memory safety store.
func loneDriver(t *testing.T, deps driver.Deps) *driver.Driver {
	t.Helper()
	cfg, key := loneConfig()
	deps.Transport = &chanTransport{newChanNet(1), 0}
	if deps.Store == nil {
		deps.Store = &memStore{}
	}
	d, err := driver.New(cfg, key, deps)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// runWithTx starts d's Run (inside a synctest bubble) and, once the
// replica is idle, gives the mempool one tx and wakes it; it returns the
// cancel of Run's context and Run's result.
func runWithTx(t *testing.T, d *driver.Driver, p *pipeApp, wake chan<- struct{}) (context.CancelFunc, <-chan error) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	synctest.Wait()
	p.mu.Lock()
	p.txs = [][]byte{[]byte("tx-1")}
	p.mu.Unlock()
	wake <- struct{}{}
	return cancel, done
}

// released is a release channel already closed: every write returns at
// once.
func released() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// While a committed block's ledger write is in flight the replica goes on
// (it proposes and certifies the blocks above), but the block stays in the
// persisted safety state, the mempool is not told of it, and its txs are
// not proposed again; once the write returns, the mempool drops its txs
// and the safety state lets it go (ARCHITECTURE.md §4 "Pipelined ledger
// writes").
func TestPipelinedWriteStaysInSafetyStateUntilWritten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &pipeApp{release: make(chan struct{})}
		safety := &memStore{}
		wake := make(chan struct{}, 1)
		d := loneDriver(t, driver.Deps{Store: safety, Executor: p, Mempool: p, TickInterval: time.Hour, Wake: wake})
		cancel, done := runWithTx(t, d, p, wake)
		// The tx's block commits and its write hangs; the replica made the
		// blocks that commit it and now waits for the write to commit the
		// next one.
		synctest.Wait()
		p.pmu.Lock()
		inflight, updated := p.inflight, slices.Clone(p.updated)
		p.pmu.Unlock()
		if inflight == nil || len(inflight.Block.GetTxs()) != 1 {
			t.Fatalf("the tx block's write is not in flight (%v)", inflight)
		}
		if len(updated) != 0 {
			t.Fatalf("mempool told of heights %v before any write returned", updated)
		}
		st, _ := safety.Load()
		carried, withTx := false, 0
		for _, b := range st.Blocks {
			if heightOf(t, b) == inflight.Height {
				carried = true
			}
			if len(b.GetTxs()) > 0 {
				withTx++
			}
		}
		if !carried {
			t.Fatalf("safety state does not carry block %d, whose write is in flight", inflight.Height)
		}
		if withTx != 1 {
			t.Fatalf("%d blocks of the safety state hold the tx: it was proposed again", withTx)
		}

		close(p.release)
		synctest.Wait()
		p.pmu.Lock()
		updated = slices.Clone(p.updated)
		p.pmu.Unlock()
		if !slices.Contains(updated, inflight.Height) {
			t.Fatalf("mempool told of %v after the write returned, want %d among them", updated, inflight.Height)
		}
		if p.Pending() {
			t.Fatal("the tx is still pending after its block was stored")
		}
		st, _ = safety.Load()
		for _, b := range st.Blocks {
			if heightOf(t, b) <= inflight.Height {
				t.Fatalf("safety state still carries block %d, stored", heightOf(t, b))
			}
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
		if p.Written() != nil {
			t.Fatal("Run returned with a write in flight")
		}
	})
}

// A write that returns while the replica is idle (no commit follows to
// finish it) is finished by Run's loop itself: the block is reported
// stored and the mempool told of it, without waiting for another block
// or for Run to return. (The persisted safety state drops it at its next
// save, as it did when commits were written at once.)
func TestPipelinedWriteFinishedWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &pipeApp{release: released()}
		wake := make(chan struct{}, 1)
		d := loneDriver(t, driver.Deps{Executor: p, Mempool: p, TickInterval: time.Hour, Wake: wake})
		cancel, done := runWithTx(t, d, p, wake)
		defer cancel()
		synctest.Wait() // the chain commits the tx and goes idle
		if p.Written() != nil {
			t.Fatal("the replica is idle with a returned write not finished")
		}
		p.mu.Lock()
		committed := len(p.committed)
		last := p.committed[committed-1].Height
		p.mu.Unlock()
		p.pmu.Lock()
		updated := slices.Clone(p.updated)
		p.pmu.Unlock()
		if len(updated) != committed || updated[len(updated)-1] != last {
			t.Fatalf("mempool told of %v, committed up to %d (%d blocks)", updated, last, committed)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
	})
}

// hiddenWrite is a pipeApp whose write was finished, and failed, by
// another caller (block sync's Commit) before the driver looked: Written
// says nothing is in flight, and only FinishWrite knows of the failure.
type hiddenWrite struct{ *pipeApp }

func (h hiddenWrite) Written() <-chan struct{} { return nil }

// A write that fails stops the replica with the write's error, and the
// block is not reported stored to the core or the mempool: whether the
// driver sees the write in flight, or another caller (block sync's
// Commit) finished it first and only FinishWrite knows of the failure.
func TestPipelinedWriteFailureStops(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hidden bool
	}{{"in flight", false}, {"finished by another caller", true}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := &pipeApp{release: released(), failWith: errors.New("disk full")}
				p.txs = [][]byte{[]byte("tx-1")}
				var ex driver.Executor = p
				if tc.hidden {
					ex = hiddenWrite{p}
				}
				d := loneDriver(t, driver.Deps{Executor: ex, Mempool: p, TickInterval: 10 * time.Millisecond})
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()
				err := d.Run(ctx)
				if err == nil || !errors.Is(err, p.failWith) {
					t.Fatalf("Run = %v, want the write's error", err)
				}
				if len(p.updated) != 0 {
					t.Fatalf("mempool told of %v though no write succeeded", p.updated)
				}
			})
		})
	}
}

// epochApp is a pipeApp whose block at ends the genesis epoch: a new
// core, with the same single validator, runs from the block above it.
// Like blockexec's, it writes that block before CommitAsync returns.
type epochApp struct {
	*pipeApp
	at   uint64
	keys []*pb.PublicKey

	emu  sync.Mutex
	root *pb.QuorumCert
}

func (e *epochApp) CommitAsync(bs []consensus.CommittedBlock) error {
	for i, b := range bs {
		if b.Height != e.at {
			continue
		}
		if _, _, err := e.pipeApp.FinishWrite(); err != nil {
			return err
		}
		if err := e.pipeApp.app.Commit(bs[:i+1]); err != nil {
			return err
		}
		hdr := &pb.Header{}
		if err := proto.Unmarshal(b.Block.GetHeader(), hdr); err != nil {
			return err
		}
		e.emu.Lock()
		e.root = &pb.QuorumCert{Height: b.Height, BlockHash: b.Hash, View: hdr.GetView()}
		e.emu.Unlock()
		return nil
	}
	return e.pipeApp.CommitAsync(bs)
}

func (e *epochApp) Epoch() (consensus.Epoch, error) {
	e.emu.Lock()
	defer e.emu.Unlock()
	if e.root == nil {
		return consensus.Epoch{Validators: e.keys, FaultModel: consensus.Crash}, nil
	}
	return consensus.Epoch{Start: e.at + 1, Root: e.root, Validators: e.keys, FaultModel: consensus.Crash}, nil
}

// ChangePending keeps the chain making blocks until well into the new
// epoch.
func (e *epochApp) ChangePending() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.committed) == 0 || e.committed[len(e.committed)-1].Height < e.at+5
}

var _ driver.Membership = (*epochApp)(nil)

// A block that ends the validator set's epoch, committed by a Pipeliner
// (which writes it at once), roots the next epoch's core; the chain goes
// on in the new epoch, and every block is reported stored.
func TestPipelinedEpochChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg, _ := loneConfig()
		e := &epochApp{pipeApp: &pipeApp{release: released()}, at: 3, keys: cfg.Validators}
		d := loneDriver(t, driver.Deps{Executor: e, Mempool: e.pipeApp, TickInterval: 10 * time.Millisecond})
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		for {
			time.Sleep(50 * time.Millisecond)
			e.mu.Lock()
			n := len(e.committed)
			e.mu.Unlock()
			if n >= int(e.at)+5 || ctx.Err() != nil {
				break
			}
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
		if got := d.Epoch().Start; got != e.at+1 {
			t.Fatalf("driver runs epoch %d, want %d", got, e.at+1)
		}
		for i, b := range e.committed {
			if b.Height != uint64(i+1) {
				t.Fatalf("committed heights %d at %d: not in order", b.Height, i)
			}
		}
		if len(e.committed) < int(e.at)+5 {
			t.Fatalf("%d blocks committed, want the chain to go on past the new epoch's start %d", len(e.committed), e.at+1)
		}
		if got := e.updated; len(got) == 0 || got[len(got)-1] < e.at+1 {
			t.Fatalf("mempool told of heights %v, want past %d", got, e.at)
		}
	})
}
