package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/govnode/govnode/p2p/wire"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// The direct protocol (ARCHITECTURE.md §3 step 4): each node sends its own
// txs, in batches, and its own consensus messages straight to each member
// (validator) in force, on one long-lived outbound stream per member; a
// receiver validates every frame as it arrives and relays nothing. A tx
// therefore crosses the network once per validator, where gossipsub sent
// each one as its own message over every mesh link.
//
// A stream carries uvarint-length-delimited pb.DirectFrame frames, one way:
// the opener writes, the receiver only reads. A peer has two scores
// (penalty.go), so that what its txs earn never silences its consensus
// messages:
//
//   - its frame score: a frame above Config.frameMax, a broken length, a
//     frame that is not one DirectFrame field, and a consensus message the
//     node's checks reject (one that does not decode, a bad signature)
//     cost it, and its stream is reset (it opens a new one for its next
//     frames); graylisted, its streams are refused unread;
//   - its tx score: a batch that does not parse (more than MaxBatchTxs
//     txs, a tx above MaxTxBytes) and a tx the node's admission proves bad
//     (the mempool's Provable) cost it; the frame was read whole, so the
//     stream goes on. Graylisted for txs, its tx batches are read and
//     dropped unjudged (Stats.TxFramesRefused) while its consensus
//     messages on the same stream are still handled.
//
// A state-dependent refusal (ErrIgnore: a nonce used since, another
// epoch's message) costs the sender nothing, and neither does a consensus
// message from a peer that is not a member in force: at an epoch switch
// or a node-key rotation the sender and this node may disagree for a
// block on who the members are, and the gater keeps strangers out.

// DirectProtocol is the direct stream protocol of chainID.
func DirectProtocol(chainID string) protocol.ID {
	return protocol.ID(fmt.Sprintf("/govnode/%s/direct/1", chainID))
}

// directServiceName is the resource-manager service of inbound direct
// streams.
const directServiceName = "govnode.direct"

// Field numbers of pb.DirectFrame and pb.TxBatch, read and written with
// protowire so that a batch's txs are slices of the frame, not copies.
const (
	frameFieldTxs       protowire.Number = 1
	frameFieldConsensus protowire.Number = 2
	batchFieldTx        protowire.Number = 1
)

// frameMax bounds one direct frame: the larger of a consensus message and
// a tx batch (MaxBatchBytes, or one tx of MaxTxBytes alone), with the
// frame's own tag and length.
func (c *Config) frameMax() int {
	batch := max(c.MaxBatchBytes, c.MaxTxBytes+protowire.SizeVarint(uint64(c.MaxTxBytes))+1)
	return max(c.MaxConsensusBytes, batch) + 16
}

// Message is a validated message as delivered on Messages.
type Message struct {
	Kind TopicKind
	// Data is the serialized tx or consensus message; the receiver owns
	// it.
	Data []byte
	// ReceivedFrom is the peer that sent it, its author's node: nothing is
	// relayed. Who signed a payload is in the payload.
	ReceivedFrom peer.ID
	// Consensus is Data decoded, for TopicConsensus; shared, do not modify.
	Consensus *pb.ConsensusMessage
}

// direct is both ends of the direct protocol.
type direct struct {
	n         *Host
	protocol  protocol.ID
	txVal     TxValidator
	consCheck ConsensusCheck
	out       [numTopics]chan Message
	// pen is the peers' frame scores, txPen their tx scores.
	pen, txPen *penalties
	batch      *batcher

	// mu guards senders: one per member in force but this node, replaced
	// by setMembers. A sender's goroutine ends when it is removed or the
	// host stops.
	mu      sync.Mutex
	senders map[peer.ID]*sender
	runCtx  context.Context
}

func newDirect(n *Host, o *options, runCtx context.Context) *direct {
	d := &direct{n: n, protocol: DirectProtocol(n.cfg.ChainID), txVal: o.txVal, consCheck: o.consCheck,
		pen: newPenalties(o.clock), txPen: newPenalties(o.clock), senders: map[peer.ID]*sender{}, runCtx: runCtx}
	for k := range numTopics {
		d.out[k] = make(chan Message, n.cfg.MessageBuffer)
		if prev := o.successorOf; prev != nil {
			d.out[k] = prev.direct.out[k]
		}
	}
	d.batch = newBatcher(d, o.clock)
	return d
}

// start runs the batcher and a sender per member.
func (d *direct) start(ctx context.Context, wg *sync.WaitGroup) {
	wg.Go(func() { d.batch.run(ctx) })
	d.setMembers(d.n.cfg.Members)
}

// setMembers keeps one sender per member but this node: new members get
// one, removed members' senders stop (their queued frames are dropped).
func (d *direct) setMembers(members []Member) {
	self := d.n.host.ID()
	want := make(map[peer.ID]bool, len(members))
	for _, m := range members {
		if m.PeerID != self {
			want[m.PeerID] = true
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.runCtx.Err() != nil {
		return
	}
	for id, s := range d.senders {
		if !want[id] {
			close(s.stop)
			delete(d.senders, id)
		}
	}
	for id := range want {
		if _, ok := d.senders[id]; !ok {
			s := newSender(d, id)
			d.senders[id] = s
			d.n.wg.Go(func() { s.run(d.runCtx) })
		}
	}
}

// enqueue puts frame on lane l of each of to (every member's sender when
// to is nil). It never blocks.
func (d *direct) enqueue(frame []byte, to []peer.ID, l lane) {
	d.mu.Lock()
	var ss []*sender
	if to == nil {
		ss = make([]*sender, 0, len(d.senders))
		for _, s := range d.senders {
			ss = append(ss, s)
		}
	} else {
		for _, id := range to {
			if s, ok := d.senders[id]; ok {
				ss = append(ss, s)
			}
		}
	}
	d.mu.Unlock()
	for _, s := range ss {
		s.enqueue(frame, l)
	}
}

// appendFrame appends the wire frame (length prefix included) of a
// DirectFrame whose field num holds payload.
func appendFrame(dst []byte, num protowire.Number, payload []byte) []byte {
	size := protowire.SizeTag(num) + protowire.SizeBytes(len(payload))
	dst = protowire.AppendVarint(dst, uint64(size))
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendBytes(dst, payload)
}

// handle reads one inbound stream until it ends or its peer sends
// something invalid. libp2p runs one handler goroutine per stream, and the
// resource manager caps a peer's direct streams, so a peer cannot pile
// them up; frames are handled one after the other, in order.
func (d *direct) handle(st network.Stream) {
	c := &d.n.counters
	from := st.Conn().RemotePeer()
	if err := st.Scope().SetService(directServiceName); err != nil {
		c.directRefused.Add(1)
		d.n.log.Debug("p2p: direct stream over limits", "peer", from.String(), "err", err)
		_ = st.Reset()
		return
	}
	if d.pen.graylisted(from) {
		// What a peer graylisted for its frames sends is dropped unread.
		c.directRefused.Add(1)
		_ = st.Reset()
		return
	}
	max := d.n.cfg.frameMax()
	br := bufio.NewReaderSize(st, 4096)
	for {
		// An idle stream waits for its next frame without a deadline (the
		// connection's keep-alives watch the peer); once a frame starts,
		// the whole of it must arrive within FrameTimeout.
		_ = st.SetReadDeadline(time.Time{})
		if _, err := br.Peek(1); err != nil {
			_ = st.Reset()
			return
		}
		_ = st.SetReadDeadline(time.Now().Add(d.n.cfg.FrameTimeout))
		err := d.readFrame(st, br, max, from)
		if err == nil {
			continue
		}
		if errors.Is(err, errTxReject) {
			// The frame was read whole: the stream goes on, and the
			// consensus frames behind the batch with it.
			score := d.txPen.add(from)
			d.n.log.Info("p2p: tx batch rejected", "from", from.String(), "tx_score", score, "err", err)
			continue
		}
		if errors.Is(err, errReject) {
			d.penalise(from, err)
		} else {
			d.n.log.Debug("p2p: direct stream ended", "peer", from.String(), "err", err)
		}
		_ = st.Reset()
		return
	}
}

// penalise charges an invalid frame to from's frame score.
func (d *direct) penalise(from peer.ID, err error) {
	score := d.pen.add(from)
	d.n.log.Info("p2p: direct frame rejected", "from", from.String(), "score", score, "err", err)
}

// errTxReject marks a tx batch that proves its sender wrong: it costs the
// sender's tx score, not its frame score, and the stream goes on.
var errTxReject = errors.New("p2p: reject tx batch")

// readFrame reads and handles one frame. A refusal that proves the peer
// wrong wraps errTxReject for a tx batch, errReject for anything else; any
// other error is the stream's (a reset, a deadline).
func (d *direct) readFrame(st network.Stream, br *bufio.Reader, max int, from peer.ID) error {
	reserved := 0
	defer func() {
		if reserved > 0 {
			st.Scope().ReleaseMemory(reserved)
		}
	}()
	buf, err := wire.ReadFrameReserve(br, max, func(n int) error {
		if err := st.Scope().ReserveMemory(n, network.ReservationPriorityAlways); err != nil {
			return err
		}
		reserved = n
		return nil
	})
	switch {
	case errors.Is(err, wire.ErrFrameTooLarge), errors.Is(err, wire.ErrBadLength):
		return rejectf("%v", err)
	case err != nil:
		return err
	}
	num, payload, err := parseFrame(buf)
	if err != nil {
		return err
	}
	switch num {
	case frameFieldTxs:
		if d.txPen.graylisted(from) {
			d.n.counters.txFramesRefused.Add(1)
			return nil
		}
		if err := d.onTxs(from, payload); err != nil {
			if errors.Is(err, errReject) {
				return fmt.Errorf("%w: %w", errTxReject, err)
			}
			return err
		}
		return nil
	default:
		return d.onConsensus(from, payload)
	}
}

// parseFrame splits a DirectFrame: exactly one field, txs or consensus,
// of the bytes wire type.
func parseFrame(b []byte) (protowire.Number, []byte, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return 0, nil, rejectf("direct frame: %v", protowire.ParseError(n))
	}
	if (num != frameFieldTxs && num != frameFieldConsensus) || typ != protowire.BytesType {
		return 0, nil, rejectf("direct frame: field %d of type %d", num, typ)
	}
	payload, m := protowire.ConsumeBytes(b[n:])
	if m < 0 {
		return 0, nil, rejectf("direct frame: %v", protowire.ParseError(m))
	}
	if n+m != len(b) {
		return 0, nil, rejectf("direct frame: %d bytes after its field", len(b)-n-m)
	}
	return num, payload, nil
}

// parseBatch returns a TxBatch's txs, slices of b, refusing more than
// maxTxs of them, a tx above maxTx bytes and any other field.
func parseBatch(b []byte, maxTxs, maxTx int) ([][]byte, error) {
	var txs [][]byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, rejectf("tx batch: %v", protowire.ParseError(n))
		}
		if num != batchFieldTx || typ != protowire.BytesType {
			return nil, rejectf("tx batch: field %d of type %d", num, typ)
		}
		tx, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return nil, rejectf("tx batch: %v", protowire.ParseError(m))
		}
		if len(txs) == maxTxs {
			return nil, rejectf("tx batch of more than %d txs", maxTxs)
		}
		if err := checkTxSize(tx, maxTx); err != nil {
			return nil, err
		}
		txs = append(txs, tx[:len(tx):len(tx)])
		b = b[n+m:]
	}
	if len(txs) == 0 {
		return nil, rejectf("empty tx batch")
	}
	return txs, nil
}

// onTxs admits a batch's txs in order, each with its own verdict
// (TxValidator), and delivers those accepted. A tx the node rejects makes
// the batch count against its sender once, after the others were judged.
func (d *direct) onTxs(from peer.ID, payload []byte) error {
	c := &d.n.counters.topics[TopicTx]
	txs, err := parseBatch(payload, d.n.cfg.MaxBatchTxs, d.n.cfg.MaxTxBytes)
	if err != nil {
		c.rejected.Add(1)
		return err
	}
	verdicts := make([]error, len(txs))
	if d.txVal == nil {
		for i, tx := range txs {
			verdicts[i] = checkTx(tx, d.n.cfg.MaxTxBytes)
		}
	} else {
		ctx, cancel := context.WithTimeout(d.runCtx, d.n.cfg.FrameTimeout)
		verdicts = d.txVal(ctx, txs)
		cancel()
		if len(verdicts) != len(txs) {
			return fmt.Errorf("p2p: tx validator gave %d verdicts for %d txs", len(verdicts), len(txs))
		}
	}
	var firstBad error
	for i, err := range verdicts {
		switch {
		case err == nil:
			c.accepted.Add(1)
			d.deliver(Message{Kind: TopicTx, Data: txs[i], ReceivedFrom: from})
		case errors.Is(err, ErrIgnore):
			c.ignored.Add(1)
		default:
			c.rejected.Add(1)
			if firstBad == nil {
				firstBad = err
			}
		}
	}
	if firstBad != nil {
		if !errors.Is(firstBad, errReject) {
			firstBad = rejectf("tx: %v", firstBad)
		}
		return firstBad
	}
	return nil
}

// onConsensus checks a consensus message from a member and delivers it.
// One that does not decode is rejected whoever sent it; a well-formed one
// from a peer that is not a member in force is ignored (see the top of
// this file) before its signature is checked.
func (d *direct) onConsensus(from peer.ID, payload []byte) error {
	c := &d.n.counters.topics[TopicConsensus]
	cm, err := decodeConsensus(payload, d.n.cfg.MaxConsensusBytes)
	if err == nil && !d.n.isMember(from) {
		c.ignored.Add(1)
		d.n.counters.consensusNonMember.Add(1)
		d.n.log.Debug("p2p: consensus message from a peer not a member in force ignored", "from", from.String())
		return nil
	}
	if err == nil {
		err = authConsensus(d.n.vset.Load(), d.consCheck, cm)
	}
	switch {
	case err == nil:
		c.accepted.Add(1)
		d.deliver(Message{Kind: TopicConsensus, Data: payload, ReceivedFrom: from, Consensus: cm})
		return nil
	case errors.Is(err, ErrIgnore):
		c.ignored.Add(1)
		d.n.log.Debug("p2p: consensus message ignored", "from", from.String(), "err", err)
		return nil
	default:
		c.rejected.Add(1)
		return err
	}
}

// deliver hands m to its Messages channel, dropping the oldest message
// when the reader is behind. Inbound streams deliver concurrently, so a
// full channel may drop more than one.
func (d *direct) deliver(m Message) {
	c := &d.n.counters.topics[m.Kind]
	ch := d.out[m.Kind]
	for {
		select {
		case ch <- m:
			c.delivered.Add(1)
			return
		default:
		}
		select {
		case <-ch:
			c.dropped.Add(1)
		default:
		}
	}
}

// ErrQueueFull: a frame or tx was dropped because the queue it was handed
// to is full (a stalled peer, or more than the links carry). It is counted
// (Stats.FramesDropped, Stats.TxsDropped); consensus recovers by timeouts
// and fetches, a tx by the mempool's re-send.
var ErrQueueFull = errors.New("p2p: send queue full")

// Messages is the channel of validated messages of kind that other nodes
// sent us; the node reads it. It is bounded (MessageBuffer): when full,
// the oldest message is dropped for the newest (Stats counts it). It is
// never closed; stop reading when the node is closed.
func (n *Host) Messages(kind TopicKind) <-chan Message {
	if kind >= numTopics {
		return nil
	}
	return n.direct.out[kind]
}

// SendTx queues tx, admitted by this node, for the next tx batch to every
// member (batch.go). It never blocks: when the batcher's queue is full the
// tx is dropped, counted, and ErrQueueFull returned.
func (n *Host) SendTx(tx []byte) error {
	if len(tx) > n.cfg.MaxTxBytes {
		return fmt.Errorf("p2p: tx of %d bytes, limit %d", len(tx), n.cfg.MaxTxBytes)
	}
	if n.closed() {
		return ErrClosed
	}
	n.counters.topics[TopicTx].published.Add(1)
	return n.direct.batch.add(tx)
}

// FlushTxs sends the txs waiting in the batcher now, ahead of any frame
// queued after it returns: a leader calls it before its proposal, so the
// proposal's txs reach each member before the proposal names them. It
// waits for the batcher, which never blocks, or ctx.
func (n *Host) FlushTxs(ctx context.Context) error {
	return n.direct.batch.flushNow(ctx)
}

// BroadcastConsensus sends the serialized consensus message data to every
// member in force but this node. SendConsensus sends it to the members to
// only. Neither blocks: a member whose queue is full misses the message
// (counted). Our own messages are not checked again here: the node's core
// made and signed them.
func (n *Host) BroadcastConsensus(data []byte) error {
	return n.sendConsensus(data, nil)
}

// SendConsensus: see BroadcastConsensus. A peer that is not a member in
// force is skipped.
func (n *Host) SendConsensus(data []byte, to ...peer.ID) error {
	if len(to) == 0 {
		return nil
	}
	return n.sendConsensus(data, to)
}

func (n *Host) sendConsensus(data []byte, to []peer.ID) error {
	if len(data) > n.cfg.MaxConsensusBytes {
		return fmt.Errorf("p2p: consensus message of %d bytes, limit %d", len(data), n.cfg.MaxConsensusBytes)
	}
	if n.closed() {
		return ErrClosed
	}
	n.counters.topics[TopicConsensus].published.Add(1)
	n.direct.enqueue(appendFrame(nil, frameFieldConsensus, data), to, laneConsensus)
	return nil
}

// PeerScore is p's direct-protocol score (penalty.go), the lower of its
// frame and tx scores (PeerScores): 0 for a peer that never sent anything
// invalid, negative after it did, back towards 0 as the penalty decays;
// ok is false for a peer with no penalty on either.
func (n *Host) PeerScore(p peer.ID) (float64, bool) {
	f, t, ok := n.PeerScores(p)
	return min(f, t), ok
}

// PeerScores are p's two direct-protocol scores: frames (below -80 every
// stream of p is refused unread) and txs (below -80 its tx batches are
// dropped unjudged, its consensus messages still read); ok is false when
// neither has a penalty.
func (n *Host) PeerScores(p peer.ID) (frames, txs float64, ok bool) {
	frames, okF := n.direct.pen.score(p)
	txs, okT := n.direct.txPen.score(p)
	return frames, txs, okF || okT
}
