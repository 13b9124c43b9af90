package driver_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/consensustest"
	"github.com/govnode/govnode/consensus/driver"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// chanNet connects drivers with buffered channels.
type chanNet struct {
	inbox []chan *pb.ConsensusMessage
	reqs  []chan driver.BlockRequest
	mu    sync.Mutex
	sent  []sentMsg // every message, in send order
}

type sentMsg struct {
	from int
	m    *pb.ConsensusMessage
}

func newChanNet(n int) *chanNet {
	c := &chanNet{}
	for range n {
		c.inbox = append(c.inbox, make(chan *pb.ConsensusMessage, 4096))
		c.reqs = append(c.reqs, make(chan driver.BlockRequest, 64))
	}
	return c
}

type chanTransport struct {
	net  *chanNet
	self int
}

func (t *chanTransport) Send(to int, m *pb.ConsensusMessage) error {
	t.net.mu.Lock()
	t.net.sent = append(t.net.sent, sentMsg{t.self, m})
	t.net.mu.Unlock()
	select {
	case t.net.inbox[to] <- m:
		return nil
	default:
		return errors.New("inbox full")
	}
}

func (t *chanTransport) Broadcast(m *pb.ConsensusMessage) error {
	for to := range t.net.inbox {
		if to != t.self {
			_ = t.Send(to, m)
		}
	}
	return nil
}

func (t *chanTransport) Fetch(from int, hash []byte) error {
	reply := make(chan *pb.Block, 1)
	select {
	case t.net.reqs[from] <- driver.BlockRequest{Hash: hash, Reply: reply}:
	default:
		return errors.New("busy")
	}
	go func() { // bounded by the test; the p2p layer uses a request stream
		if b := <-reply; b != nil {
			_ = (&chanTransport{t.net, from}).Send(t.self, &pb.ConsensusMessage{Sender: uint32(from), Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{Block: b}}})
		}
	}()
	return nil
}

func (t *chanTransport) Inbox() <-chan *pb.ConsensusMessage        { return t.net.inbox[t.self] }
func (t *chanTransport) BlockRequests() <-chan driver.BlockRequest { return t.net.reqs[t.self] }

// app is a fake executor and mempool (one per replica).
type app struct {
	mu        sync.Mutex
	committed []consensus.CommittedBlock
	txs       [][]byte
	once      sync.Once
	reached   chan struct{} // closed at the first commit
}

func (a *app) Head() (*pb.Block, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.committed) == 0 {
		return nil, nil
	}
	return a.committed[len(a.committed)-1].Block, nil
}

func (a *app) Commit(bs []consensus.CommittedBlock) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.committed = append(a.committed, bs...)
	if a.reached != nil {
		a.once.Do(func() { close(a.reached) })
	}
	return nil
}

func (a *app) ValidateBlock(req consensus.ValidationRequest) error {
	if req.Header.GetStateHeight() != req.StateHeight {
		return errors.New("wrong state height")
	}
	return nil
}

func (a *app) BuildPayload(slot consensus.ProposeSlot, txs [][]byte) (*pb.Header, error) {
	return &pb.Header{StateHeight: slot.StateHeight, TxCount: uint32(len(txs))}, nil
}

func (a *app) Reap(max int, slot consensus.ProposeSlot) [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, b := range slot.Uncommitted {
		if len(b.GetTxs()) > 0 {
			return nil
		}
	}
	return a.txs
}

func (a *app) Update(bs []consensus.CommittedBlock) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, b := range bs {
		if len(b.Block.GetTxs()) > 0 {
			a.txs = nil
		}
	}
}

func (a *app) Pending() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.txs) > 0
}

type memStore struct {
	mu  sync.Mutex
	st  consensus.SafetyState
	err error
}

func (s *memStore) Load() (consensus.SafetyState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Clone(), nil
}

func (s *memStore) Save(st consensus.SafetyState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.st = st.Clone()
	return nil
}

var (
	_ driver.Transport   = (*chanTransport)(nil)
	_ driver.Executor    = (*app)(nil)
	_ driver.Mempool     = (*app)(nil)
	_ driver.SafetyStore = (*memStore)(nil)
	_ driver.SafetyStore = (*driver.FileSafetyStore)(nil)
)

// TestDriversCommit runs four drivers on real goroutines and tickers in a
// synctest bubble (virtual time), one of them on the file safety store,
// and waits until every replica executed the tx block.
func TestDriversCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		keys := consensustest.Keys(4, 3)
		cfg := consensustest.Config(keys, consensus.Byzantine)
		net := newChanNet(4)
		apps := make([]*app, 4)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for i := range 4 {
			apps[i] = &app{txs: [][]byte{[]byte("tx-1")}, reached: make(chan struct{})}
			var store driver.SafetyStore = &memStore{}
			if i == 2 {
				store = driver.NewFileSafetyStore(t.TempDir() + "/safety")
			}
			c := cfg
			c.Self = i
			d, err := driver.New(c, keys[i], driver.Deps{Transport: &chanTransport{net, i}, Store: store, Executor: apps[i], Mempool: apps[i], TickInterval: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i == 0 {
					var views []uint64
					errs <- d.RunWithStatus(ctx, func(st consensus.Status) { views = append(views, st.View) })
					if len(views) == 0 {
						t.Error("no status published")
					}
					return
				}
				errs <- d.Run(ctx)
			}()
		}
		done := true
		for _, a := range apps {
			select {
			case <-a.reached:
			case <-ctx.Done():
				done = false
			}
		}
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("driver stopped: %v", err)
			}
		}
		if !done {
			t.Fatal("not every replica committed before the deadline")
		}
		for i, a := range apps {
			if got := a.committed[0]; len(got.Block.GetTxs()) != 1 || string(got.Hash) != string(apps[0].committed[0].Hash) {
				t.Fatalf("replica %d committed another first block", i)
			}
		}
	})
}

// TestDriverStopsWhenPersistFails: a replica that cannot persist its vote
// stops, and the vote never leaves (ARCHITECTURE.md §4 "Persist before you speak").
func TestDriverStopsWhenPersistFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		keys := consensustest.Keys(4, 3)
		cfg := consensustest.Config(keys, consensus.Byzantine)
		net := newChanNet(4)
		// Replica 1 receives a proposal from the leader (replica 0, run by
		// hand through a core) and must vote, but its store fails.
		leaderCfg := cfg
		leaderCfg.Self = 0
		leader, err := consensus.NewCore(leaderCfg, keys[0], consensus.RestartState{})
		if err != nil {
			t.Fatal(err)
		}
		leader.ReportMempool(true)
		rd := leader.Ready()
		if rd.ProposeSlot == nil {
			t.Fatal("leader offers no slot")
		}
		if err := leader.Propose(consensus.Payload{Txs: [][]byte{[]byte("tx")}, Header: &pb.Header{}}); err != nil {
			t.Fatal(err)
		}
		for _, e := range leader.Ready().Messages {
			if e.Msg.GetProposal() != nil {
				net.inbox[1] <- e.Msg
			}
		}
		c := cfg
		c.Self = 1
		store := &memStore{err: errors.New("disk full")}
		d, err := driver.New(c, keys[1], driver.Deps{Transport: &chanTransport{net, 1}, Store: store, Executor: &app{}, Mempool: &app{}, TickInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		err = d.Run(ctx)
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Run = %v, want a persist error", err)
		}
		for _, s := range net.sent {
			if s.from == 1 && (s.m.GetVote() != nil || s.m.GetTimeout() != nil) {
				t.Fatal("a vote or timeout left before its state was persisted")
			}
		}
	})
}

// TestWakeProposesWithoutATick: a lone validator's driver idles with an
// empty mempool; a tx arrives and Deps.Wake fires; the tx block is
// proposed and committed at once, long before the (hour-long) tick. This
// is the loop node runs: Wake is how the mempool reaches it.
func TestWakeProposesWithoutATick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		keys := consensustest.Keys(1, 3)
		cfg := consensustest.Config(keys, consensus.Crash)
		cfg.Self = 0
		a := &app{reached: make(chan struct{})}
		wake := make(chan struct{}, 1)
		const tick = time.Hour
		d, err := driver.New(cfg, keys[0], driver.Deps{Transport: &chanTransport{newChanNet(1), 0}, Store: &memStore{},
			Executor: a, Mempool: a, TickInterval: tick, Wake: wake})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		synctest.Wait() // idle: nothing to propose
		if len(a.committed) != 0 {
			t.Fatal("committed with an empty mempool")
		}
		start := time.Now()
		a.mu.Lock()
		a.txs = [][]byte{[]byte("tx")}
		a.mu.Unlock()
		wake <- struct{}{}
		<-a.reached
		if waited := time.Since(start); waited >= tick {
			t.Fatalf("tx committed after %s: it waited for a tick", waited)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
	})
}
