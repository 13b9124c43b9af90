package p2p

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
)

// maxWriteBytes bounds the frames a sender coalesces into one write.
const maxWriteBytes = 1 << 20

// sender owns the outbound direct stream to one member: it takes frames
// from its queues and writes them, opening the stream when it has none. It
// never dials (the peer manager keeps members connected): a frame for a
// member that is not connected is dropped and counted, as is one whose
// write fails twice (on the stream it had, then on a new one, which covers
// a peer that restarted and reset the old stream).
//
// It has two lanes, each of SendQueue frames, each dropping (and counting)
// what does not fit: consensus frames and tx batches. The consensus lane
// is drained first, so a vote never waits behind queued batches of up to
// MaxBatchTxs txs, and a full tx lane never costs a consensus frame. One
// order still holds across the lanes: the batch a FlushTxs sends goes on
// the consensus lane marked as a barrier, and when the sender reaches it,
// it first writes every batch then on the tx lane (all queued before it,
// by the one batcher), then the barrier. A leader's proposal, queued after
// its flush, thus reaches each member after every tx batch the leader had
// queued for it (ARCHITECTURE.md §3 step 4).
type sender struct {
	d    *direct
	id   peer.ID
	cq   chan outFrame // the consensus lane
	tq   chan []byte   // the tx lane
	stop chan struct{} // closed when the member is removed
}

// outFrame is a frame on the consensus lane; barrier marks a flushed tx
// batch, written after everything on the tx lane.
type outFrame struct {
	data    []byte
	barrier bool
}

// lane says which of a sender's queues a frame goes on.
type lane int

const (
	laneTx        lane = iota // tx batches the window or a full batch flushed
	laneConsensus             // consensus messages
	laneBarrier               // a batch FlushTxs flushed: consensus lane, after the tx lane
)

func newSender(d *direct, id peer.ID) *sender {
	return &sender{d: d, id: id, cq: make(chan outFrame, d.n.cfg.SendQueue), tq: make(chan []byte, d.n.cfg.SendQueue),
		stop: make(chan struct{})}
}

// enqueue puts frame on its lane without blocking; a full lane drops it.
func (s *sender) enqueue(frame []byte, l lane) {
	var ok bool
	if l == laneTx {
		select {
		case s.tq <- frame:
			ok = true
		default:
		}
	} else {
		select {
		case s.cq <- outFrame{data: frame, barrier: l == laneBarrier}:
			ok = true
		default:
		}
	}
	if !ok {
		s.d.n.counters.framesDropped.Add(1)
	}
}

func (s *sender) run(ctx context.Context) {
	var st network.Stream
	defer func() {
		if st != nil {
			_ = st.Reset()
		}
	}()
	var buf []byte
	for {
		f, ok := s.next(ctx)
		if !ok {
			return
		}
		buf = s.gather(buf[:0], f, func(b []byte, frames int) { st = s.write(ctx, st, b, frames) })
	}
}

// next waits for a frame, the consensus lane's first; ok is false once
// ctx ends or the member is removed.
func (s *sender) next(ctx context.Context) (outFrame, bool) {
	select {
	case f := <-s.cq:
		return f, true
	default:
	}
	select {
	case <-ctx.Done():
		return outFrame{}, false
	case <-s.stop:
		return outFrame{}, false
	case f := <-s.cq:
		return f, true
	case f := <-s.tq:
		return outFrame{data: f}, true
	}
}

// gather coalesces f and what is queued behind it, the consensus lane
// first, into writes of about maxWriteBytes, handing each to emit in
// order; a barrier is preceded by the whole tx lane. It returns buf for
// reuse.
func (s *sender) gather(buf []byte, f outFrame, emit func(buf []byte, frames int)) []byte {
	frames := 0
	push := func(data []byte) {
		buf = append(buf, data...)
		frames++
		if len(buf) >= maxWriteBytes {
			emit(buf, frames)
			buf, frames = buf[:0], 0
		}
	}
	add := func(f outFrame) {
		if f.barrier {
			for drained := false; !drained; {
				select {
				case t := <-s.tq:
					push(t)
				default:
					drained = true
				}
			}
		}
		push(f.data)
	}
	add(f)
	for frames > 0 {
		select {
		case f := <-s.cq:
			add(f)
			continue
		default:
		}
		select {
		case t := <-s.tq:
			push(t)
			continue
		default:
		}
		break
	}
	if frames > 0 {
		emit(buf, frames)
	}
	return buf[:0]
}

// write writes buf (frames whole frames) on st, or on a new stream when st
// is nil or fails; it returns the stream to use next (nil after a failure).
func (s *sender) write(ctx context.Context, st network.Stream, buf []byte, frames int) network.Stream {
	c := &s.d.n.counters
	cfg := &s.d.n.cfg
	for attempt := 0; attempt < 2; attempt++ {
		if st == nil {
			if !s.d.n.connected(s.id) {
				break
			}
			octx, cancel := context.WithTimeout(network.WithNoDial(ctx, "direct frames: the peer manager dials members"), cfg.FrameTimeout)
			var err error
			st, err = s.d.n.host.NewStream(octx, s.id, s.d.protocol)
			cancel()
			if err != nil {
				s.d.n.log.Debug("p2p: open direct stream", "peer", s.id.String(), "err", err)
				st = nil
				break
			}
			c.directOpened.Add(1)
			// One way: we never read what the peer does not send.
			_ = st.CloseRead()
		}
		_ = st.SetWriteDeadline(time.Now().Add(cfg.FrameTimeout))
		if _, err := st.Write(buf); err != nil {
			s.d.n.log.Debug("p2p: direct write", "peer", s.id.String(), "attempt", attempt, "err", err)
			_ = st.Reset()
			st = nil
			continue
		}
		c.framesSent.Add(uint64(frames))
		return st
	}
	c.framesDropped.Add(uint64(frames))
	return nil
}

// batcher gathers the txs this node sends (Host.SendTx) into TxBatch
// frames, one per member per flush. One goroutine (run) owns the batch.
//
// When a batch flushes (ARCHITECTURE.md §3 step 4):
//   - at once when it is full: MaxBatchTxs txs, or the next tx would take
//     it past MaxBatchBytes (a tx larger than that goes alone);
//   - at once on FlushTxs (a leader's proposal follows);
//   - otherwise when the window has passed since its first tx.
//
// The window adapts to the load, between BatchWindowMin and BatchWindowMax:
// after a flush by the window, it halves if the batch held one tx (nothing
// came to share the frame: a lone tx should not wait), doubles if it held
// batchGrowTxs or more (txs arrive faster than one per window/batchGrowTxs:
// a longer window puts more of them in each frame, and a frame costs each
// link a write and a packet whatever it holds), and stays otherwise. At
// light load a tx thus waits about BatchWindowMin; under load, up to
// BatchWindowMax, with one frame per member per window.
type batcher struct {
	d     *direct
	clock Clock
	in    chan []byte
	flush chan chan struct{}
	// window is the current window; read by tests after run stopped.
	window time.Duration
}

// batchGrowTxs is the batch size, after a flush by the window, from which
// the window doubles.
const batchGrowTxs = 3

func newBatcher(d *direct, clock Clock) *batcher {
	return &batcher{d: d, clock: clock, in: make(chan []byte, d.n.cfg.SendQueue), flush: make(chan chan struct{}),
		window: d.n.cfg.BatchWindowMin}
}

func (b *batcher) add(tx []byte) error {
	select {
	case b.in <- tx:
		return nil
	default:
		b.d.n.counters.txsDropped.Add(1)
		return ErrQueueFull
	}
}

func (b *batcher) flushNow(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case b.flush <- done:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.d.runCtx.Done():
		return ErrClosed
	}
	// The batcher drains its input before it answers.
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.d.runCtx.Done():
		return ErrClosed
	}
}

func (b *batcher) run(ctx context.Context) {
	cfg := &b.d.n.cfg
	var (
		batch []byte // the TxBatch's encoding
		count int
		timer <-chan time.Time
	)
	// send queues the batch on the tx lane, or, flushed by FlushTxs, as a
	// barrier on the consensus lane (sender).
	send := func(l lane) {
		if count == 0 {
			return
		}
		b.d.enqueue(appendFrame(nil, frameFieldTxs, batch), nil, l)
		b.d.n.counters.batchesSent.Add(1)
		batch, count, timer = nil, 0, nil
	}
	addTx := func(tx []byte) {
		cost := protowire.SizeTag(batchFieldTx) + protowire.SizeBytes(len(tx))
		if count > 0 && len(batch)+cost > cfg.MaxBatchBytes {
			send(laneTx)
		}
		batch = protowire.AppendTag(batch, batchFieldTx, protowire.BytesType)
		batch = protowire.AppendBytes(batch, tx)
		count++
		if count >= cfg.MaxBatchTxs || len(batch) >= cfg.MaxBatchBytes {
			send(laneTx)
			return
		}
		if count == 1 {
			timer = b.clock.After(b.window)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case tx := <-b.in:
			addTx(tx)
		case <-timer:
			switch {
			case count <= 1:
				b.window = max(b.window/2, cfg.BatchWindowMin)
			case count >= batchGrowTxs:
				b.window = min(b.window*2, cfg.BatchWindowMax)
			}
			send(laneTx)
		case done := <-b.flush:
			for drained := false; !drained; {
				select {
				case tx := <-b.in:
					addTx(tx)
				default:
					drained = true
				}
			}
			send(laneBarrier)
			close(done)
		}
	}
}
