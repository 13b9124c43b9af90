package p2p

import "sync/atomic"

// Stats are the p2p layer's counters since New, for status output and the
// node's Prometheus export (govnode_p2p_<what>_total).
type Stats struct {
	// Tx and Consensus are the per-kind message counters.
	Tx, Consensus TopicStats
	// ConnsRefused counts connections the gater refused (strangers).
	ConnsRefused uint64
	// Dials and DialFailures count the peer manager's dial attempts.
	Dials, DialFailures uint64
	// Reconnects counts members connected again after a disconnect.
	Reconnects uint64
	// FramesSent counts direct frames written to members (one per member
	// per frame); FramesDropped those dropped instead: a member's send
	// queue full, the member not connected, or its write failed twice.
	FramesSent, FramesDropped uint64
	// TxsDropped counts txs not batched because the batcher's queue was
	// full; BatchesSent counts tx batches flushed (each to every member).
	TxsDropped, BatchesSent uint64
	// DirectOpened counts outbound direct streams opened (one per member,
	// again after each failure); DirectRefused counts inbound direct
	// streams refused at open (over limits, or the peer graylisted).
	DirectOpened, DirectRefused uint64
	// TxFramesRefused counts tx batches dropped unjudged because their
	// sender is graylisted for its txs (its consensus frames are still
	// read); ConsensusNonMember counts well-formed consensus messages
	// ignored because their sender is not a member in force (also in
	// Consensus.Ignored).
	TxFramesRefused, ConsensusNonMember uint64
	// SyncServed counts sync requests answered from the block source;
	// SyncRefused counts requests refused (malformed, oversized, unknown
	// kind, over the caps, no source); SyncClientErrors counts failed
	// requests this node made.
	SyncServed, SyncRefused, SyncClientErrors uint64
}

// TopicStats counts one kind of message.
type TopicStats struct {
	Published uint64 // handed to the direct protocol by this node (SendTx, BroadcastConsensus, SendConsensus)
	Accepted  uint64 // received and passed validation
	Rejected  uint64 // provably bad: the sender is penalised
	Ignored   uint64 // stale or duplicate: dropped, the sender not penalised
	Delivered uint64 // handed to Messages()
	Dropped   uint64 // the oldest undelivered message, dropped when full
}

type topicCounters struct {
	published, accepted, rejected, ignored, delivered, dropped atomic.Uint64
}

func (c *topicCounters) snapshot() TopicStats {
	return TopicStats{
		Published: c.published.Load(),
		Accepted:  c.accepted.Load(),
		Rejected:  c.rejected.Load(),
		Ignored:   c.ignored.Load(),
		Delivered: c.delivered.Load(),
		Dropped:   c.dropped.Load(),
	}
}

type counters struct {
	topics                                    [numTopics]topicCounters
	connsRefused, dials, dialFailures         atomic.Uint64
	reconnects                                atomic.Uint64
	framesSent, framesDropped                 atomic.Uint64
	txsDropped, batchesSent                   atomic.Uint64
	directOpened, directRefused               atomic.Uint64
	txFramesRefused, consensusNonMember       atomic.Uint64
	syncServed, syncRefused, syncClientErrors atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (n *Host) Stats() Stats {
	c := &n.counters
	return Stats{
		Tx:                 c.topics[TopicTx].snapshot(),
		Consensus:          c.topics[TopicConsensus].snapshot(),
		ConnsRefused:       c.connsRefused.Load(),
		Dials:              c.dials.Load(),
		DialFailures:       c.dialFailures.Load(),
		Reconnects:         c.reconnects.Load(),
		FramesSent:         c.framesSent.Load(),
		FramesDropped:      c.framesDropped.Load(),
		TxsDropped:         c.txsDropped.Load(),
		BatchesSent:        c.batchesSent.Load(),
		DirectOpened:       c.directOpened.Load(),
		DirectRefused:      c.directRefused.Load(),
		TxFramesRefused:    c.txFramesRefused.Load(),
		ConsensusNonMember: c.consensusNonMember.Load(),
		SyncServed:         c.syncServed.Load(),
		SyncRefused:        c.syncRefused.Load(),
		SyncClientErrors:   c.syncClientErrors.Load(),
	}
}

// Add is the sum of s and o, field by field: the counters of a node that
// ran several hosts one after the other (a node-key rotation replaces the
// host).
func (s Stats) Add(o Stats) Stats {
	return Stats{
		Tx: s.Tx.add(o.Tx), Consensus: s.Consensus.add(o.Consensus),
		ConnsRefused: s.ConnsRefused + o.ConnsRefused,
		Dials:        s.Dials + o.Dials, DialFailures: s.DialFailures + o.DialFailures,
		Reconnects: s.Reconnects + o.Reconnects,
		FramesSent: s.FramesSent + o.FramesSent, FramesDropped: s.FramesDropped + o.FramesDropped,
		TxsDropped: s.TxsDropped + o.TxsDropped, BatchesSent: s.BatchesSent + o.BatchesSent,
		DirectOpened: s.DirectOpened + o.DirectOpened, DirectRefused: s.DirectRefused + o.DirectRefused,
		TxFramesRefused: s.TxFramesRefused + o.TxFramesRefused, ConsensusNonMember: s.ConsensusNonMember + o.ConsensusNonMember,
		SyncServed: s.SyncServed + o.SyncServed, SyncRefused: s.SyncRefused + o.SyncRefused,
		SyncClientErrors: s.SyncClientErrors + o.SyncClientErrors,
	}
}

func (t TopicStats) add(o TopicStats) TopicStats {
	return TopicStats{
		Published: t.Published + o.Published, Accepted: t.Accepted + o.Accepted,
		Rejected: t.Rejected + o.Rejected, Ignored: t.Ignored + o.Ignored,
		Delivered: t.Delivered + o.Delivered, Dropped: t.Dropped + o.Dropped,
	}
}
