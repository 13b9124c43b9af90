// Package metrics holds the node's Prometheus metrics: one registry per
// node (so tests can run several nodes in one process), the series every
// subsystem updates, and the collectors read at scrape time. Names follow
// govnode_<subsystem>_<what>_<unit>.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/govnode/govnode/ledger/blockexec"
	"github.com/govnode/govnode/p2p"
)

// Metrics are the node's Prometheus metrics, named
// govnode_<subsystem>_<what>_<unit>. Each node has its own registry, so
// tests can run several nodes in one process.
type Metrics struct {
	Registry *prometheus.Registry

	Height          prometheus.Gauge
	CommittedTxs    prometheus.Counter
	FailedTxs       prometheus.Counter
	BlockInterval   prometheus.Histogram
	ViewChanges     prometheus.Counter
	View            prometheus.Gauge
	MempoolTxs      prometheus.Gauge
	MempoolBytes    prometheus.Gauge
	MempoolRejected *prometheus.CounterVec
	ConsensusMsgs   *prometheus.CounterVec
	// HashOnlyProposals counts proposals received with tx hashes in
	// place of txs, by outcome: received, mempool (every tx was there),
	// fetched (missing txs fetched from peers), failed (dropped
	// unresolved), malformed (refused).
	HashOnlyProposals *prometheus.CounterVec
	FetchedTxs        prometheus.Counter
	ApplyDuration     prometheus.Histogram
	CommitDuration    prometheus.Histogram
	SyncedBlocks      prometheus.Counter
	APIRequests       *prometheus.CounterVec
	// The HTTP listeners (api, metrics, pprof), by listener: open
	// connections, connections refused over the cap, requests refused for
	// their Host (loopback listeners), and request reads or response writes
	// cut by read_timeout or write_timeout.
	HTTPOpenConns    *prometheus.GaugeVec
	HTTPConnsRefused *prometheus.CounterVec
	HTTPHostsRefused *prometheus.CounterVec
	HTTPTimeouts     *prometheus.CounterVec
}

// New registers the node's metrics, and the Go and process
// collectors, on a fresh registry.
func New() *Metrics {
	r := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	m := &Metrics{
		Registry: r,
		Height: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "govnode_chain_height", Help: "Height of the last committed block."}),
		CommittedTxs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "govnode_chain_committed_txs_total", Help: "Transactions committed (successful or failed)."}),
		FailedTxs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "govnode_chain_failed_txs_total", Help: "Committed transactions whose action failed."}),
		BlockInterval: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "govnode_chain_block_interval_seconds", Help: "Time between consecutive commits on this node.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		ViewChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "govnode_consensus_view_changes_total", Help: "Views entered through a timeout certificate."}),
		View: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "govnode_consensus_view", Help: "Current consensus view."}),
		MempoolTxs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "govnode_mempool_txs", Help: "Transactions in the mempool."}),
		MempoolBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "govnode_mempool_bytes", Help: "Bytes of transactions in the mempool."}),
		MempoolRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "govnode_mempool_rejected_txs_total", Help: "Transactions refused by the mempool, by reason."}, []string{"reason"}),
		ConsensusMsgs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "govnode_consensus_messages_total", Help: "Consensus messages by direction and kind."}, []string{"direction", "kind"}),
		HashOnlyProposals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "govnode_consensus_hash_only_proposals_total",
			Help: "Proposals received with tx hashes instead of txs, by outcome (received, mempool, fetched, failed, malformed)."}, []string{"outcome"}),
		FetchedTxs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "govnode_consensus_fetched_txs_total", Help: "Txs of hash-only proposals fetched from peers (missing from the mempool)."}),
		ApplyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "govnode_ledger_apply_duration_seconds", Help: "Time to execute a committed block.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		CommitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "govnode_ledger_commit_duration_seconds", Help: "Time to write a block's synced batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		SyncedBlocks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "govnode_sync_blocks_total", Help: "Blocks taken from peers by block sync."}),
		APIRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "govnode_api_requests_total", Help: "API requests by procedure and code."}, []string{"procedure", "code"}),
		HTTPOpenConns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "govnode_http_open_conns", Help: "Open connections of each HTTP listener (api, metrics, pprof)."}, []string{"listener"}),
		HTTPConnsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "govnode_http_conns_refused_total", Help: "Connections closed on accept because the listener was at its max_conns."}, []string{"listener"}),
		HTTPHostsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "govnode_http_hosts_refused_total", Help: "Requests refused on a loopback listener for a Host outside localhost, loopback IPs and api.allowed_hosts."}, []string{"listener"}),
		HTTPTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "govnode_http_timeouts_total", Help: "Request body reads (read) cut by api.read_timeout_ms and response writes (write) cut by api.write_timeout_ms."}, []string{"listener", "direction"}),
	}
	for _, c := range []prometheus.Collector{m.Height, m.CommittedTxs, m.FailedTxs, m.BlockInterval, m.ViewChanges, m.View,
		m.MempoolTxs, m.MempoolBytes, m.MempoolRejected, m.ConsensusMsgs, m.HashOnlyProposals, m.FetchedTxs, m.ApplyDuration, m.CommitDuration,
		m.SyncedBlocks, m.APIRequests, m.HTTPOpenConns, m.HTTPConnsRefused, m.HTTPHostsRefused, m.HTTPTimeouts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

// p2pCollector exports the p2p layer's counters (p2p.Stats), read at
// scrape time: messages by kind and outcome, the direct protocol's frames,
// batches and streams, refused connections, dials, reconnects and sync
// requests. An operator sees from them that a peer floods invalid
// messages (rejected climbs), that a link cannot keep up (frames dropped)
// or that strangers knock (conns refused).
type p2pCollector struct {
	stats                                    func() p2p.Stats
	peers                                    func() []p2p.PeerInfo
	messages, sync, refused, dials, dialFail *prometheus.Desc
	frames, txsDropped, batches, streams     *prometheus.Desc
	reconnects, score, live                  *prometheus.Desc
	scores, txFramesRefused, nonMember       *prometheus.Desc
}

// NewP2PCollector returns the p2p layer's collector (p2pCollector).
func NewP2PCollector(stats func() p2p.Stats, peers func() []p2p.PeerInfo) prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("govnode_p2p_"+name, help, labels, nil)
	}
	return &p2pCollector{
		stats:      stats,
		peers:      peers,
		messages:   d("messages_total", "Txs and consensus messages by kind and outcome (published by this node; accepted, rejected, ignored, delivered, dropped of those received).", "kind", "outcome"),
		sync:       d("sync_requests_total", "Block-sync requests: served or refused for peers, client_error for this node's own.", "outcome"),
		refused:    d("conns_refused_total", "Connections refused by the gater (peers outside the consortium)."),
		dials:      d("dials_total", "Dial attempts to members."),
		dialFail:   d("dial_failures_total", "Failed dial attempts to members."),
		frames:     d("direct_frames_total", "Direct-protocol frames to members: sent, or dropped (queue full, member not connected, write failed).", "outcome"),
		txsDropped: d("direct_txs_dropped_total", "Txs not batched because the batcher's queue was full."),
		batches:    d("direct_batches_total", "Tx batches flushed (each sent to every member)."),
		streams:    d("direct_streams_total", "Direct-protocol streams: opened to members, or refused from peers (over limits, graylisted).", "outcome"),
		reconnects: d("reconnects_total", "Members connected again after a disconnect."),
		live:       d("peers", "Consortium peers (members and observers) connected and answering pings: the peers govnode status shows as connected."),
		score: prometheus.NewDesc("govnode_p2p_peer_score", "Score this node gives each connected peer for invalid direct frames: the lower of its frame score (below -80 every stream the peer opens is refused) and its tx score (below -80 its tx batches are dropped unjudged, its consensus messages still read).",
			[]string{"peer"}, nil),
		scores: prometheus.NewDesc("govnode_p2p_peer_scores", "Each connected peer's two scores for invalid direct frames: frames (broken frames, rejected consensus messages; below -80 every stream it opens is refused) and txs (provably bad tx batches; below -80 its tx batches are dropped unjudged).",
			[]string{"peer", "score"}, nil),
		txFramesRefused: d("tx_frames_refused_total", "Tx batches dropped unjudged because their sender's tx score is below the graylist threshold."),
		nonMember:       d("consensus_non_member_total", "Well-formed consensus messages from peers not in the validator set in force, ignored (an epoch switch or node-key rotation seen a block apart)."),
	}
}

func (c *p2pCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.messages, c.sync, c.refused, c.dials, c.dialFail, c.frames, c.txsDropped, c.batches, c.streams, c.reconnects, c.score, c.scores, c.txFramesRefused, c.nonMember, c.live} {
		ch <- d
	}
}

func (c *p2pCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for kind, ts := range map[string]p2p.TopicStats{"tx": s.Tx, "consensus": s.Consensus} {
		counter(c.messages, ts.Published, kind, "published")
		counter(c.messages, ts.Accepted, kind, "accepted")
		counter(c.messages, ts.Rejected, kind, "rejected")
		counter(c.messages, ts.Ignored, kind, "ignored")
		counter(c.messages, ts.Delivered, kind, "delivered")
		counter(c.messages, ts.Dropped, kind, "dropped")
	}
	counter(c.sync, s.SyncServed, "served")
	counter(c.sync, s.SyncRefused, "refused")
	counter(c.sync, s.SyncClientErrors, "client_error")
	counter(c.refused, s.ConnsRefused)
	counter(c.dials, s.Dials)
	counter(c.dialFail, s.DialFailures)
	counter(c.frames, s.FramesSent, "sent")
	counter(c.frames, s.FramesDropped, "dropped")
	counter(c.txsDropped, s.TxsDropped)
	counter(c.batches, s.BatchesSent)
	counter(c.streams, s.DirectOpened, "opened")
	counter(c.streams, s.DirectRefused, "refused")
	counter(c.reconnects, s.Reconnects)
	counter(c.txFramesRefused, s.TxFramesRefused)
	counter(c.nonMember, s.ConsensusNonMember)
	live := 0
	for _, p := range c.peers() {
		if p.Live() {
			live++
		}
		if p.Connected {
			ch <- prometheus.MustNewConstMetric(c.score, prometheus.GaugeValue, p.Score, p.ID.String())
			ch <- prometheus.MustNewConstMetric(c.scores, prometheus.GaugeValue, p.FrameScore, p.ID.String(), "frames")
			ch <- prometheus.MustNewConstMetric(c.scores, prometheus.GaugeValue, p.TxScore, p.ID.String(), "txs")
		}
	}
	ch <- prometheus.MustNewConstMetric(c.live, prometheus.GaugeValue, float64(live))
}

// Ledger is the block executor's instruments in this registry.
func (m *Metrics) Ledger() blockexec.Metrics {
	return blockexec.Metrics{
		Height: m.Height, CommittedTxs: m.CommittedTxs, FailedTxs: m.FailedTxs, BlockInterval: m.BlockInterval,
		ApplyDuration: m.ApplyDuration, CommitDuration: m.CommitDuration,
	}
}
