package main

import (
	"math"
	"slices"
	"sort"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the values
// at or below it. It returns 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// ms is a duration in milliseconds with microsecond resolution.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

// benchReport is what `govnode bench` prints.
type benchReport struct {
	Offered      int            `json:"offered"`
	Accepted     int            `json:"accepted"`
	Rejected     int            `json:"rejected"`
	Committed    int            `json:"committed"`
	Failed       *int           `json:"failed,omitempty"`
	Lost         int            `json:"uncommitted"`
	OfferedTPS   float64        `json:"offered_tps"`
	CommittedTPS float64        `json:"committed_tps"`
	P50          float64        `json:"p50_ms"`
	P90          float64        `json:"p90_ms"`
	P99          float64        `json:"p99_ms"`
	Max          float64        `json:"max_ms"`
	DurationS    float64        `json:"duration_s"`
	ElapsedS     float64        `json:"elapsed_s"`
	Nodes        int            `json:"nodes"`
	Signers      int            `json:"signers"`
	Concurrency  int            `json:"concurrency"`
	SetupTxs     int            `json:"setup_txs"`
	Mix          map[string]int `json:"mix"`
	Rejections   map[string]int `json:"rejections,omitempty"`
	Failures     map[string]int `json:"failures,omitempty"`

	// Added with steps and --find-max; the fields above keep their names.

	// Rate is the offered rate asked for (tx/s).
	Rate float64 `json:"rate,omitempty"`
	// Conns is the number of load connections, Protocol what they speak.
	Conns    int    `json:"conns,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	// NodeStats: per node CPU, memory, disk and load share.
	NodeStats []benchNodeStats `json:"node_stats,omitempty"`
	// DownNodes: the network's nodes that were down when the run started,
	// left out of it.
	DownNodes []benchDownNode `json:"down_nodes,omitempty"`
	// DiskPerTx is the average over nodes of data directory growth per
	// committed tx.
	DiskPerTx *float64 `json:"disk_bytes_per_tx_avg,omitempty"`
	// Passed and FailReason: a --find-max probe against the criteria.
	Passed     *bool  `json:"passed,omitempty"`
	FailReason string `json:"fail_reason,omitempty"`

	// Added with SubmitTxs and the nodes' backlog bound (issue 20).

	// AdmittedP50 and AdmittedP99: latency of the committed txs from the
	// submission the node admitted to the block, without the time a tx
	// waited in the client or for a retry (p50_ms and p99_ms include it).
	AdmittedP50 float64 `json:"admitted_p50_ms"`
	AdmittedP99 float64 `json:"admitted_p99_ms"`
	// Backpressured counts the txs refused resource_exhausted at least
	// once (then retried after the node's hint), Retries the submissions
	// after the first.
	Backpressured int `json:"backpressured"`
	Retries       int `json:"retries"`

	// Blocks is the number of blocks the followed node committed during
	// the step, BlocksPerS that over elapsed_s and TxsPerBlock the
	// committed txs per block: block overhead against load (issue 20).
	Blocks      int     `json:"blocks"`
	BlocksPerS  float64 `json:"blocks_per_s"`
	TxsPerBlock float64 `json:"txs_per_block"`
	// CPUPerTxUs is the nodes' CPU time over the step (from their
	// process_cpu_seconds_total) per committed tx and per node, in µs:
	// what a committed tx costs one node, block overhead included.
	CPUPerTxUs *float64 `json:"cpu_us_per_tx_per_node,omitempty"`
}

// benchOutcome is the fate of one planned transaction, as the runner saw it.
type benchOutcome struct {
	kind      string
	scheduled time.Time // when the open-loop schedule meant to send it
	sent      bool      // a submit was attempted
	accepted  bool
	admitted  time.Time // when the node admitted it (the answer came)
	rejectMsg string    // the last refusal; cleared by nothing: an admitted tx ignores it
	committed time.Time // when its block was seen; zero if never
	// retries counts its submissions after the first; backpressured is
	// set if the node refused it resource_exhausted (and it was retried).
	retries       int
	backpressured bool
}

// summarize computes the report of a run that started at start and offered
// load for duration. Latency is from the scheduled send time to the time
// the block holding the transaction was seen, so a backlog in the client
// shows up as latency instead of being hidden (no coordinated omission).
// committed_tps is committed / max(duration, last commit - start).
func summarize(outs []benchOutcome, start time.Time, duration time.Duration) *benchReport {
	r := &benchReport{Mix: map[string]int{}, Rejections: map[string]int{}, DurationS: duration.Seconds()}
	var lat, admLat []time.Duration
	var last time.Time
	for _, o := range outs {
		if !o.sent {
			continue
		}
		r.Offered++
		r.Mix[o.kind]++
		r.Retries += o.retries
		if o.backpressured {
			r.Backpressured++
		}
		switch {
		case !o.accepted:
			r.Rejected++
			r.Rejections[o.rejectMsg]++
		case o.committed.IsZero():
			r.Accepted++
			r.Lost++
		default:
			r.Accepted++
			r.Committed++
			lat = append(lat, max(o.committed.Sub(o.scheduled), 0))
			if !o.admitted.IsZero() {
				admLat = append(admLat, max(o.committed.Sub(o.admitted), 0))
			}
			if o.committed.After(last) {
				last = o.committed
			}
		}
	}
	slices.Sort(lat)
	r.P50, r.P90, r.P99 = ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99))
	if len(lat) > 0 {
		r.Max = ms(lat[len(lat)-1])
	}
	slices.Sort(admLat)
	r.AdmittedP50, r.AdmittedP99 = ms(percentile(admLat, 50)), ms(percentile(admLat, 99))
	window := duration
	if !last.IsZero() && last.Sub(start) > window {
		window = last.Sub(start)
	}
	r.ElapsedS = math.Round(window.Seconds()*1000) / 1000
	if window > 0 {
		r.CommittedTPS = math.Round(float64(r.Committed)/window.Seconds()*10) / 10
		r.OfferedTPS = math.Round(float64(r.Offered)/duration.Seconds()*10) / 10
	}
	if len(r.Rejections) == 0 {
		r.Rejections = nil
	}
	return r
}

// topCounts keeps the n largest counts (others summed as "other").
func topCounts(m map[string]int, n int) map[string]int {
	if len(m) <= n {
		return m
	}
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range m {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	out := map[string]int{}
	for i, e := range all {
		if i < n {
			out[e.k] = e.v
		} else {
			out["other"] += e.v
		}
	}
	return out
}
