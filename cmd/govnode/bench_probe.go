package main

// What `govnode bench` measures of the nodes themselves, beside the load:
// CPU and memory from each node's Prometheus endpoint (the process
// collector's process_cpu_seconds_total and process_resident_memory_bytes),
// and the growth of each node's data directory when the test network's
// homes are on this machine.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/govnode/govnode/node"
)

const (
	metricCPU = "process_cpu_seconds_total"
	metricRSS = "process_resident_memory_bytes"
)

// parsePromText reads the Prometheus text exposition format and returns
// the value of each unlabelled sample whose name is in names. Comments,
// labelled samples and other names are skipped; a malformed line of a
// wanted name is an error.
func parsePromText(r io.Reader, names ...string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		name, rest, _ := strings.Cut(s, " ")
		if strings.ContainsRune(name, '{') || !want[name] {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 1 || len(fields) > 2 {
			return nil, fmt.Errorf("metrics line %d: %q: want name value [timestamp]", line, s)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %s: value %q: %w", line, name, fields[0], err)
		}
		out[name] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return out, nil
}

// procSample is one reading of a node's process metrics.
type procSample struct {
	at     time.Time
	cpuSec float64
	rss    float64
}

// scrapeProc reads one node's process metrics from its /metrics URL.
func scrapeProc(ctx context.Context, hc *http.Client, url string) (procSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return procSample{}, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return procSample{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return procSample{}, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	at := time.Now()
	m, err := parsePromText(res.Body, metricCPU, metricRSS)
	if err != nil {
		return procSample{}, err
	}
	cpu, ok1 := m[metricCPU]
	rss, ok2 := m[metricRSS]
	if !ok1 || !ok2 {
		return procSample{}, fmt.Errorf("%s has no %s or %s (process collector off?)", url, metricCPU, metricRSS)
	}
	return procSample{at: at, cpuSec: cpu, rss: rss}, nil
}

// procWindow summarises the samples of one node over a run.
type procWindow struct {
	first, last procSample
	maxRSS      float64
	n           int
	err         error // the last scrape error, kept when no sample succeeded
}

func (w *procWindow) add(s procSample) {
	if w.n == 0 {
		w.first = s
	}
	w.last = s
	w.maxRSS = max(w.maxRSS, s.rss)
	w.n++
}

// cpuCores is the average number of cores used between the first and the
// last sample; ok is false with fewer than two samples.
func (w *procWindow) cpuCores() (float64, bool) {
	dt := w.last.at.Sub(w.first.at).Seconds()
	if w.n < 2 || dt <= 0 {
		return 0, false
	}
	return (w.last.cpuSec - w.first.cpuSec) / dt, true
}

// cpuPerTx is the CPU time the nodes used over their windows, per
// committed tx and per node, in µs; nil without a window of two samples.
func cpuPerTx(wins []procWindow, committed int) *float64 {
	sum, n := 0.0, 0
	for i := range wins {
		if w := &wins[i]; w.n >= 2 {
			sum += w.last.cpuSec - w.first.cpuSec
			n++
		}
	}
	if n == 0 || committed == 0 {
		return nil
	}
	v := math.Round(sum/float64(n)/float64(committed)*1e6*10) / 10
	return &v
}

// procSampler scrapes every node's metrics every interval from start
// until stop. Each node has one goroutine, which alone writes its window;
// windows are read after stop returns.
type procSampler struct {
	hc       *http.Client
	urls     []string // "" where a node has no metrics address
	interval time.Duration
	timeout  time.Duration
}

// start samples until the returned stop is called (or ctx is done); stop
// takes one last sample of every node and returns one window per node.
func (s *procSampler) start(ctx context.Context) (stop func() []procWindow) {
	ctx, cancel := context.WithCancel(ctx)
	wins := make([]procWindow, len(s.urls))
	var wg sync.WaitGroup
	for i, url := range s.urls {
		if url == "" {
			wins[i].err = errors.New("no metrics address in testnet.json")
			continue
		}
		wg.Go(func() {
			t := time.NewTicker(s.interval)
			defer t.Stop()
			for {
				cctx, ccancel := context.WithTimeout(ctx, s.timeout)
				smp, err := scrapeProc(cctx, s.hc, url)
				ccancel()
				if err == nil {
					wins[i].add(smp)
				} else if ctx.Err() == nil {
					wins[i].err = err
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	return func() []procWindow {
		cancel()
		wg.Wait()
		// One last sample closes every window at the same moment.
		final := context.Background()
		var fwg sync.WaitGroup
		for i, url := range s.urls {
			if url == "" {
				continue
			}
			fwg.Go(func() {
				cctx, ccancel := context.WithTimeout(final, s.timeout)
				defer ccancel()
				if smp, err := scrapeProc(cctx, s.hc, url); err == nil {
					wins[i].add(smp)
				}
			})
		}
		fwg.Wait()
		return wins
	}
}

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			// Files vanish under a running LevelDB (compaction).
			if errors.Is(err, fs.ErrNotExist) && path != dir {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		total += info.Size()
		return nil
	})
	return total, err
}

// nodeDataDir is the data directory of a test network node, "" if its
// home is not on this machine.
func nodeDataDir(n testnetNode) string {
	if n.Config == "" {
		return ""
	}
	if _, err := os.Stat(n.Config); err != nil {
		return ""
	}
	cfg, err := node.LoadConfig(n.Config)
	if err != nil {
		return ""
	}
	dir := cfg.ResolvePath(cfg.DataDir)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return ""
	}
	return dir
}

// benchNodeStats is what one node did during a run.
type benchNodeStats struct {
	Name      string `json:"name"`
	API       string `json:"api"`
	Conns     int    `json:"conns"`
	Submitted int    `json:"submitted"`
	// CPUCores is the average number of cores the node's process used.
	CPUCores *float64 `json:"cpu_cores_avg,omitempty"`
	// RSSMaxMiB is the largest resident set size seen.
	RSSMaxMiB    *float64 `json:"rss_max_mib,omitempty"`
	MetricsError string   `json:"metrics_error,omitempty"`
	// DiskGrowth is the growth of the data directory over the run, and
	// DiskPerTx that divided by the run's committed transactions.
	DiskGrowth *int64   `json:"disk_growth_bytes,omitempty"`
	DiskPerTx  *float64 `json:"disk_bytes_per_tx,omitempty"`
}

// nodeStats fills per-node statistics from sampler windows and data
// directory sizes before and after (-1: unknown), and returns the average
// disk bytes per committed tx over the nodes that have one.
func nodeStats(stats []benchNodeStats, wins []procWindow, before, after []int64, committed int) *float64 {
	round := func(v float64, digits int) *float64 {
		p := math.Pow(10, float64(digits))
		r := math.Round(v*p) / p
		return &r
	}
	sum, n := 0.0, 0
	for i := range stats {
		if i < len(wins) {
			w := wins[i]
			if c, ok := w.cpuCores(); ok {
				stats[i].CPUCores = round(c, 2)
			}
			if w.n > 0 {
				stats[i].RSSMaxMiB = round(w.maxRSS/(1<<20), 1)
			}
			if w.n < 2 && w.err != nil {
				stats[i].MetricsError = w.err.Error()
			}
		}
		if i < len(before) && i < len(after) && before[i] >= 0 && after[i] >= 0 {
			g := after[i] - before[i]
			stats[i].DiskGrowth = &g
			if committed > 0 {
				stats[i].DiskPerTx = round(float64(g)/float64(committed), 1)
				sum += *stats[i].DiskPerTx
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	return round(sum/float64(n), 1)
}

// benchDownNode is a node of the network found down when a run started.
type benchDownNode struct {
	Name  string `json:"name"`
	API   string `json:"api"`
	Error string `json:"error"`
}

// liveNodes asks every node of sum for its status, all at once, and
// returns a copy of sum with the nodes that answered and the list of
// those that did not. With none answering it fails.
func liveNodes(ctx context.Context, sum *testnetSummary, tlsCfg *tls.Config, timeout time.Duration) (*testnetSummary, []benchDownNode, error) {
	hc := benchHTTPClient(len(sum.Nodes))
	if tlsCfg != nil {
		t := hc.Transport.(*http.Transport)
		t.TLSClientConfig, t.ForceAttemptHTTP2 = tlsCfg.Clone(), true
	}
	defer hc.CloseIdleConnections()
	errs := make([]error, len(sum.Nodes))
	var wg sync.WaitGroup
	for i, n := range sum.Nodes {
		wg.Go(func() {
			nc, err := dialNode(benchAPI(n), hc)
			if err == nil {
				cctx, cancel := context.WithTimeout(ctx, timeout)
				_, err = nc.status(cctx)
				cancel()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	live := *sum
	live.Nodes = nil
	var down []benchDownNode
	for i, n := range sum.Nodes {
		if errs[i] != nil {
			down = append(down, benchDownNode{Name: n.Name, API: n.APIAddr, Error: errs[i].Error()})
			continue
		}
		live.Nodes = append(live.Nodes, n)
	}
	if len(live.Nodes) == 0 {
		return nil, nil, fmt.Errorf("no node of the network answers: %s: %v", down[0].Name, errs[0])
	}
	return &live, down, nil
}
