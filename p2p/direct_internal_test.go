package p2p

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// The frame and batch parsers take what the proto encoder writes and
// refuse everything else with errReject.
func TestParseFrame(t *testing.T) {
	batch, _ := proto.Marshal(&pb.DirectFrame{Frame: &pb.DirectFrame_Txs{Txs: &pb.TxBatch{Txs: [][]byte{[]byte("a"), []byte("bc")}}}})
	cons, _ := proto.Marshal(&pb.DirectFrame{Frame: &pb.DirectFrame_Consensus{Consensus: &pb.ConsensusMessage{Sender: 3}}})
	num, payload, err := parseFrame(batch)
	if err != nil || num != frameFieldTxs {
		t.Fatalf("batch frame: %v, field %d", err, num)
	}
	txs, err := parseBatch(payload, 2, 10)
	if err != nil || len(txs) != 2 || string(txs[0]) != "a" || string(txs[1]) != "bc" {
		t.Fatalf("batch: %q, %v", txs, err)
	}
	if num, _, err := parseFrame(cons); err != nil || num != frameFieldConsensus {
		t.Fatalf("consensus frame: %v, field %d", err, num)
	}
	if _, err := parseBatch(payload, 1, 10); !errors.Is(err, errReject) {
		t.Errorf("batch over MaxBatchTxs: %v", err)
	}
	if _, err := parseBatch(payload, 2, 1); !errors.Is(err, errReject) {
		t.Errorf("tx over MaxTxBytes: %v", err)
	}
	for name, b := range map[string][]byte{
		"empty":          {},
		"unknown field":  {0x1a, 0x00},
		"varint field":   {0x08, 0x01},
		"truncated":      {0x0a, 0x05, 'a'},
		"two fields":     append(append([]byte{}, cons...), cons...),
		"trailing bytes": append(append([]byte{}, cons...), 0x00),
	} {
		if _, _, err := parseFrame(b); !errors.Is(err, errReject) {
			t.Errorf("%s: %v, want a rejection", name, err)
		}
	}
	for name, b := range map[string][]byte{
		"empty batch":   {},
		"unknown field": {0x12, 0x00},
		"truncated":     {0x0a, 0x05, 'a'},
	} {
		if _, err := parseBatch(b, 8, 8); !errors.Is(err, errReject) {
			t.Errorf("%s: %v, want a rejection", name, err)
		}
	}
	// appendFrame writes what the proto encoder does.
	if got := appendFrame(nil, frameFieldConsensus, mustMarshal(t, &pb.ConsensusMessage{Sender: 3})); !bytes.Equal(got[1:], cons) || int(got[0]) != len(cons) {
		t.Errorf("appendFrame = %x, want the length and %x", got, cons)
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A full send lane drops the frame and counts it; the caller never
// blocks. A full tx lane costs no consensus frame (review of issue 20:
// with one queue, votes were dropped like tx batches). The batcher's
// queue drops txs the same way.
func TestQueuesFullDropAndCount(t *testing.T) {
	n := &Host{cfg: Config{SendQueue: 2}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := &direct{n: n, runCtx: ctx}
	s := newSender(d, "peer")
	for range 5 {
		s.enqueue([]byte{1}, laneTx)
	}
	if got := n.counters.framesDropped.Load(); got != 3 {
		t.Fatalf("%d frames dropped, want 3", got)
	}
	s.enqueue([]byte{2}, laneConsensus)
	s.enqueue([]byte{3}, laneBarrier)
	if got := n.counters.framesDropped.Load(); got != 3 {
		t.Fatalf("%d frames dropped after two consensus frames on a full tx lane, want still 3", got)
	}
	s.enqueue([]byte{4}, laneConsensus)
	if got := n.counters.framesDropped.Load(); got != 4 {
		t.Fatalf("%d frames dropped, want 4 once the consensus lane is full too", got)
	}
	b := newBatcher(d, realClock{})
	for i := range 3 {
		err := b.add([]byte{1})
		if (i < 2) != (err == nil) || (err != nil && !errors.Is(err, ErrQueueFull)) {
			t.Fatalf("tx %d: %v", i, err)
		}
	}
	if got := n.counters.txsDropped.Load(); got != 1 {
		t.Fatalf("%d txs dropped, want 1", got)
	}
}

// The sender's order (direct_send.go): consensus frames go before tx
// batches queued earlier; a flushed batch (a barrier) goes after every
// batch queued before it and before the consensus frames queued after it
// (a leader's proposal follows the txs it names); coalesced writes stay
// near maxWriteBytes.
func TestSenderLanesOrder(t *testing.T) {
	n := &Host{cfg: Config{SendQueue: 16}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := &direct{n: n, runCtx: ctx}
	s := newSender(d, "peer")
	run := func() string {
		var out []byte
		emit := func(b []byte, _ int) { out = append(out, b...) }
		for {
			select {
			case f := <-s.cq:
				s.gather(nil, f, emit)
				continue
			default:
			}
			select {
			case f := <-s.tq:
				s.gather(nil, outFrame{data: f}, emit)
				continue
			default:
			}
			return string(out)
		}
	}
	// Votes overtake queued batches.
	s.enqueue([]byte("T1."), laneTx)
	s.enqueue([]byte("T2."), laneTx)
	s.enqueue([]byte("V1."), laneConsensus)
	f, _ := s.next(ctx)
	var out []byte
	s.gather(nil, f, func(b []byte, _ int) { out = append(out, b...) })
	if got := string(out); got != "V1.T1.T2." {
		t.Fatalf("wrote %q, want the vote before the batches", got)
	}
	// A flush: the batches queued before it, then it, then the proposal.
	s.enqueue([]byte("T3."), laneTx)
	s.enqueue([]byte("V2."), laneConsensus)
	s.enqueue([]byte("F."), laneBarrier)
	s.enqueue([]byte("P."), laneConsensus)
	if got := run(); got != "V2.T3.F.P." {
		t.Fatalf("wrote %q, want V2.T3.F.P.", got)
	}
	// Writes are split near maxWriteBytes, in order.
	big := make([]byte, maxWriteBytes/2+1)
	for i := range 3 {
		big[0] = byte('a' + i)
		s.enqueue(append([]byte(nil), big...), laneTx)
	}
	first, _ := s.next(ctx)
	var writes []int
	var order []byte
	s.gather(nil, first, func(b []byte, frames int) { writes = append(writes, frames); order = append(order, b[0]) })
	if len(writes) != 1 || writes[0] != 2 || string(order) != "a" {
		t.Fatalf("writes of %v frames starting %q, want one of 2 (the third waits)", writes, order)
	}
}

// manualClock's After hands its channel to the test, which fires it.
type manualClock struct{ afters chan afterCall }

type afterCall struct {
	d  time.Duration
	ch chan time.Time
}

func (c manualClock) Now() time.Time { return time.Time{} }
func (c manualClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.afters <- afterCall{d, ch}
	return ch
}

// The batcher's rule (direct_send.go): a batch full by count flushes at
// once; after a flush by the window, a lone tx halves the window (down to
// the minimum), batchGrowTxs or more double it (up to the maximum).
func TestBatcherWindow(t *testing.T) {
	n := &Host{cfg: Config{SendQueue: 64, MaxBatchTxs: 4, MaxBatchBytes: 1 << 20,
		BatchWindowMin: time.Millisecond, BatchWindowMax: 4 * time.Millisecond}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := &direct{n: n, runCtx: ctx}
	clock := manualClock{afters: make(chan afterCall, 4)}
	b := newBatcher(d, clock)
	done := make(chan struct{})
	go func() { defer close(done); b.run(ctx) }()

	window := func(txs int) time.Duration {
		t.Helper()
		sent := n.counters.batchesSent.Load()
		for range txs {
			if err := b.add([]byte{1}); err != nil {
				t.Fatal(err)
			}
		}
		a := <-clock.afters
		a.ch <- time.Time{}
		// The batcher flushes on the window (not on a flush request,
		// which would not adapt it).
		deadline := time.Now().Add(5 * time.Second)
		for n.counters.batchesSent.Load() == sent {
			if time.Now().After(deadline) {
				t.Fatalf("no batch flushed after %d txs and the window", txs)
			}
			time.Sleep(100 * time.Microsecond)
		}
		return a.d
	}
	steps := []struct {
		txs  int
		want time.Duration // the window the batch waited
	}{
		{1, time.Millisecond},     // stays at the minimum
		{3, time.Millisecond},     // doubles after
		{3, 2 * time.Millisecond}, // doubles after
		{3, 4 * time.Millisecond}, // capped
		{2, 4 * time.Millisecond}, // stays
		{1, 4 * time.Millisecond}, // halves after
		{1, 2 * time.Millisecond},
	}
	for i, s := range steps {
		if got := window(s.txs); got != s.want {
			t.Fatalf("step %d (%d txs): window %v, want %v", i, s.txs, got, s.want)
		}
	}
	// Full by count: flushed without the window.
	sent := n.counters.batchesSent.Load()
	for range 4 {
		if err := b.add([]byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	<-clock.afters // the window the first tx started, never fired
	if err := b.flushNow(ctx); err != nil {
		t.Fatal(err)
	}
	if got := n.counters.batchesSent.Load(); got != sent+1 {
		t.Fatalf("%d batches after a full batch, want %d", got, sent+1)
	}
	cancel()
	<-done
}
