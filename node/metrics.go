package node

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
	Peers           prometheus.Gauge
	ConsensusMsgs   *prometheus.CounterVec
	ApplyDuration   prometheus.Histogram
	CommitDuration  prometheus.Histogram
	SyncedBlocks    prometheus.Counter
	APIRequests     *prometheus.CounterVec
}

// NewMetrics registers the node's metrics, and the Go and process
// collectors, on a fresh registry.
func NewMetrics() *Metrics {
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
		Peers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "govnode_p2p_peers", Help: "Connected consortium peers."}),
		ConsensusMsgs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "govnode_consensus_messages_total", Help: "Consensus messages by direction and kind."}, []string{"direction", "kind"}),
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
	}
	for _, c := range []prometheus.Collector{m.Height, m.CommittedTxs, m.FailedTxs, m.BlockInterval, m.ViewChanges, m.View,
		m.MempoolTxs, m.MempoolBytes, m.MempoolRejected, m.Peers, m.ConsensusMsgs, m.ApplyDuration, m.CommitDuration,
		m.SyncedBlocks, m.APIRequests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}
