package mempool

import "github.com/prometheus/client_golang/prometheus"

// collector exports the mempool's queued txs and the queued txs it
// dropped (Stats), read at scrape time: evictions that climb mean
// runnable txs are finding the mempool full; expiries that climb, signers
// sending txs whose gaps never fill. It also exports how often the steps
// after admission found a tx's decoded form (exec.Known) and how often
// they decoded it again.
type collector struct {
	stats                                                              func() Stats
	queued, queuedBytes, evicted, expired, refused, reused, recomputed *prometheus.Desc
	commitRate, backlogLimit                                           *prometheus.Desc
}

// NewCollector returns the collector of the mempool whose counts stats
// reads (Mempool.Stats), for the node's registry.
func NewCollector(stats func() Stats) prometheus.Collector {
	return &collector{
		stats:        stats,
		queued:       prometheus.NewDesc("govnode_mempool_queued_txs", "Transactions in the mempool waiting behind a nonce gap.", nil, nil),
		queuedBytes:  prometheus.NewDesc("govnode_mempool_queued_bytes", "Bytes of transactions waiting behind a nonce gap.", nil, nil),
		evicted:      prometheus.NewDesc("govnode_mempool_evicted_txs_total", "Queued transactions evicted to make room for runnable ones.", nil, nil),
		expired:      prometheus.NewDesc("govnode_mempool_expired_txs_total", "Queued transactions dropped after mempool.queued_ttl_ms.", nil, nil),
		refused:      prometheus.NewDesc("govnode_mempool_refused_txs_total", "Admitted transactions dropped because committed state came to refuse them (a removed department's officials, a revoked signer); GetTx gives the reason.", nil, nil),
		reused:       prometheus.NewDesc("govnode_tx_facts_reused_total", "Steps after admission (reap, proposal, validation, execution, mempool update) that took a tx's hash and decoding from its admission.", nil, nil),
		recomputed:   prometheus.NewDesc("govnode_tx_facts_recomputed_total", "Steps that hashed or decoded a tx again: txs met first in a block (block sync, fetched for a proposal), or no longer in the mempool.", nil, nil),
		commitRate:   prometheus.NewDesc("govnode_mempool_commit_rate_txs_per_second", "The chain's commit rate as the mempool measures it (smoothed over about a second), as of the last commit.", nil, nil),
		backlogLimit: prometheus.NewDesc("govnode_mempool_backlog_limit_txs", "Runnable transactions the API may fill the mempool to (mempool.max_backlog_ms of commits, at least mempool.min_backlog_txs) as of the last commit; 0: the bound is off. Refusals count in govnode_mempool_rejected_total{reason=\"backlog\"}.", nil, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queued, c.queuedBytes, c.evicted, c.expired, c.refused, c.reused, c.recomputed, c.commitRate, c.backlogLimit} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(s.QueuedTxs))
	ch <- prometheus.MustNewConstMetric(c.queuedBytes, prometheus.GaugeValue, float64(s.QueuedBytes))
	ch <- prometheus.MustNewConstMetric(c.evicted, prometheus.CounterValue, float64(s.Evicted))
	ch <- prometheus.MustNewConstMetric(c.expired, prometheus.CounterValue, float64(s.Expired))
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(s.Refused))
	ch <- prometheus.MustNewConstMetric(c.reused, prometheus.CounterValue, float64(s.Known.Hits))
	ch <- prometheus.MustNewConstMetric(c.recomputed, prometheus.CounterValue, float64(s.Known.Misses))
	ch <- prometheus.MustNewConstMetric(c.commitRate, prometheus.GaugeValue, s.CommitRate)
	ch <- prometheus.MustNewConstMetric(c.backlogLimit, prometheus.GaugeValue, float64(s.BacklogLimit))
}
