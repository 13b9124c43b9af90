package node

import "github.com/prometheus/client_golang/prometheus"

// mempoolCollector exports the mempool's queued txs and the queued txs it
// dropped (MempoolStats), read at scrape time: evictions that climb mean
// runnable txs are finding the mempool full; expiries that climb, signers
// sending txs whose gaps never fill.
type mempoolCollector struct {
	stats                                 func() MempoolStats
	queued, queuedBytes, evicted, expired *prometheus.Desc
}

func newMempoolCollector(stats func() MempoolStats) *mempoolCollector {
	return &mempoolCollector{
		stats:       stats,
		queued:      prometheus.NewDesc("govnode_mempool_queued_txs", "Transactions in the mempool waiting behind a nonce gap.", nil, nil),
		queuedBytes: prometheus.NewDesc("govnode_mempool_queued_bytes", "Bytes of transactions waiting behind a nonce gap.", nil, nil),
		evicted:     prometheus.NewDesc("govnode_mempool_evicted_txs_total", "Queued transactions evicted to make room for runnable ones.", nil, nil),
		expired:     prometheus.NewDesc("govnode_mempool_expired_txs_total", "Queued transactions dropped after mempool.queued_ttl_ms.", nil, nil),
	}
}

func (c *mempoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queued, c.queuedBytes, c.evicted, c.expired} {
		ch <- d
	}
}

func (c *mempoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(s.QueuedTxs))
	ch <- prometheus.MustNewConstMetric(c.queuedBytes, prometheus.GaugeValue, float64(s.QueuedBytes))
	ch <- prometheus.MustNewConstMetric(c.evicted, prometheus.CounterValue, float64(s.Evicted))
	ch <- prometheus.MustNewConstMetric(c.expired, prometheus.CounterValue, float64(s.Expired))
}
