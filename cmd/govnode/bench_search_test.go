package main

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRates(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []float64
		err  string
	}{
		{in: "100", want: []float64{100}},
		{in: "1000,2000,4000", want: []float64{1000, 2000, 4000}},
		{in: " 250.5 , 500 ", want: []float64{250.5, 500}},
		{in: "", err: "empty"},
		{in: "1000,,2000", err: "empty step"},
		{in: "1000,", err: "empty step"},
		{in: "fast", err: `step "fast" is not a number`},
		{in: "0", err: "positive"},
		{in: "1000,-5", err: "positive"},
		{in: "NaN", err: "positive"},
		{in: "+Inf", err: "positive"},
	} {
		got, err := parseRates(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseRates(%q) = %v, %v; want error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseRates(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseBenchMix(t *testing.T) {
	weights := func(m []benchMixEntry) map[string]float64 {
		out := map[string]float64{}
		for _, e := range m {
			out[e.kind] += e.weight
		}
		return out
	}
	if m, err := parseBenchMix(""); err != nil || !slices.Equal(m, defaultBenchMix) {
		t.Errorf("empty mix: %v %v, want the default", m, err)
	}
	m, err := parseBenchMix("record=70,identity=10,transfer=10,contract=10")
	if err != nil {
		t.Fatal(err)
	}
	w := weights(m)
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	// record=70 shares 25:15:15:25 among its kinds.
	if !near(w[benchCreate], 70*25.0/80) || !near(w[benchAccess], 70*15.0/80) || !near(w[benchRegister], 5) || !near(w[benchIssue], 5) ||
		!near(w[benchConsent], 10) || !near(w[benchContract], 5) || !near(w[benchSign], 5) {
		t.Errorf("groups: %v", w)
	}
	sum := 0.0
	for _, v := range w {
		sum += v
	}
	if !near(sum, 100) {
		t.Errorf("group weights sum to %v, want 100", sum)
	}
	// Kinds and groups add up; spaces and fractional weights are fine.
	if w := weights(must(parseBenchMix(" create_record = 1.5 , record=8, register_subject=0 "))); !near(w[benchCreate], 1.5+8*25.0/80) || w[benchRegister] != 0 {
		t.Errorf("kind and group: %v", w)
	}
	for _, tc := range []struct{ in, err string }{
		{"bogus=1", `unknown kind "bogus"`},
		{"record", "want kind=weight"},
		{"=3", "want kind=weight"},
		{"record=-1", "not a non-negative number"},
		{"record=x", "not a non-negative number"},
		{"record=NaN", "not a non-negative number"},
		{"record=0,identity=0", "all weights are zero"},
		{"record=1,", "want kind=weight"},
	} {
		if _, err := parseBenchMix(tc.in); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("parseBenchMix(%q): %v, want error with %q", tc.in, err, tc.err)
		}
	}
	// The error lists what is accepted.
	_, err = parseBenchMix("bogus=1")
	for _, k := range append(slices.Clone(benchKinds), "record", "identity", "transfer", "contract") {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error %q does not name %s", err, k)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// model is a network that sustains rates up to capacity.
func model(capacity float64, calls *[]float64) func(context.Context, float64) (bool, error) {
	return func(_ context.Context, rate float64) (bool, error) {
		*calls = append(*calls, rate)
		return rate <= capacity, nil
	}
}

func TestFindMax(t *testing.T) {
	cfg := searchConfig{Min: 250, Max: 16000, Factor: 2, Precision: 0.05, MaxProbes: 20}
	for _, capacity := range []float64{260, 999, 1000, 1337, 5000, 15999} {
		var calls []float64
		res, err := findMax(context.Background(), cfg, model(capacity, &calls))
		if err != nil {
			t.Fatal(err)
		}
		if res.Rate > capacity || res.Rate < capacity*(1-cfg.Precision)-1 {
			t.Errorf("capacity %v: found %v (probes %v)", capacity, res.Rate, calls)
		}
		if res.AtMax || res.BelowMin || len(res.Probes) != len(calls) {
			t.Errorf("capacity %v: %+v", capacity, res)
		}
		// The ramp doubles from the minimum until the first failure.
		for i := 1; i < len(calls) && calls[i-1] <= capacity && calls[i] > calls[i-1]; i++ {
			if calls[i] != min(2*calls[i-1], cfg.Max) {
				t.Errorf("capacity %v: ramp %v", capacity, calls)
				break
			}
		}
		for _, r := range calls {
			if r != math.Round(r) || r < cfg.Min || r > cfg.Max {
				t.Errorf("capacity %v: probe %v", capacity, r)
			}
		}
	}
	// 1000: the ramp passes 250, 500, 1000, fails 2000, bisects.
	var calls []float64
	res, _ := findMax(context.Background(), cfg, model(1000, &calls))
	if !slices.Equal(calls[:4], []float64{250, 500, 1000, 2000}) || calls[4] != 1500 || res.Rate != 1000 {
		t.Errorf("probes %v, found %v", calls, res.Rate)
	}

	// Bounds: everything passes, or nothing does.
	calls = nil
	res, _ = findMax(context.Background(), cfg, model(1e9, &calls))
	if !res.AtMax || res.Rate != 16000 || calls[len(calls)-1] != 16000 {
		t.Errorf("above the bounds: %+v %v", res, calls)
	}
	calls = nil
	res, _ = findMax(context.Background(), cfg, model(100, &calls))
	if !res.BelowMin || res.Rate != 0 || len(calls) != 1 {
		t.Errorf("below the bounds: %+v %v", res, calls)
	}
	// A non-power-of-two maximum is probed itself.
	calls = nil
	res, _ = findMax(context.Background(), searchConfig{Min: 300, Max: 1000, Factor: 2, Precision: 0.1, MaxProbes: 10}, model(5000, &calls))
	if !slices.Equal(calls, []float64{300, 600, 1000}) || !res.AtMax {
		t.Errorf("capped ramp %v %+v", calls, res)
	}
	// The probe budget ends the search.
	calls = nil
	res, _ = findMax(context.Background(), searchConfig{Min: 250, Max: 16000, Factor: 2, Precision: 0.001, MaxProbes: 6}, model(1234, &calls))
	if len(calls) != 6 || res.Rate < 1000 || res.Rate > 1234 {
		t.Errorf("budget: %v %+v", calls, res)
	}
	// A noisy network: the highest rate seen to pass is reported.
	flaky := func(_ context.Context, r float64) (bool, error) { return r == 250 || r == 500 || r == 750, nil }
	if res, _ := findMax(context.Background(), cfg, flaky); res.Rate != 750 {
		t.Errorf("flaky: %+v", res)
	}
	// Errors end the search with the probes so far.
	boom := errors.New("node down")
	res, err := findMax(context.Background(), cfg, func(_ context.Context, r float64) (bool, error) {
		if r > 500 {
			return false, boom
		}
		return true, nil
	})
	if !errors.Is(err, boom) || len(res.Probes) != 2 || res.Rate != 500 {
		t.Errorf("error: %v %+v", err, res)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := findMax(ctx, cfg, model(1000, &calls)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	for _, bad := range []searchConfig{
		{Min: 0, Max: 10, Factor: 2, Precision: 0.1, MaxProbes: 1},
		{Min: 10, Max: 5, Factor: 2, Precision: 0.1, MaxProbes: 1},
		{Min: 10, Max: 50, Factor: 1, Precision: 0.1, MaxProbes: 1},
		{Min: 10, Max: 50, Factor: 2, Precision: 0, MaxProbes: 1},
		{Min: 10, Max: 50, Factor: 2, Precision: 0.1, MaxProbes: 0},
	} {
		if _, err := findMax(context.Background(), bad, model(1, &calls)); err == nil {
			t.Errorf("config %+v accepted", bad)
		}
	}
}

func TestBenchCriteria(t *testing.T) {
	c := benchCriteria{MinCommitRatio: 0.95, MaxP99: time.Second}
	for _, tc := range []struct {
		r    benchReport
		ok   bool
		why  string
		name string
	}{
		{benchReport{Offered: 100, Committed: 95, P99: 1000}, true, "", "at both limits"},
		{benchReport{Offered: 100, Committed: 94, P99: 10}, false, "committed 94.0%", "too few commits"},
		{benchReport{Offered: 100, Committed: 100, P99: 1000.5}, false, "p99 1000 ms", "slow"},
		{benchReport{}, false, "nothing offered", "empty"},
	} {
		ok, why := c.check(&tc.r)
		if ok != tc.ok || !strings.Contains(why, tc.why) {
			t.Errorf("%s: %v %q", tc.name, ok, why)
		}
	}
}

func TestParsePromText(t *testing.T) {
	text := `# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.34
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.2345678e+08
govnode_mempool_rejected_txs_total{reason="full"} 3
process_resident_memory_bytes_other 9
go_goroutines 42 1700000000000

process_max_fds 1024
`
	m, err := parsePromText(strings.NewReader(text), metricCPU, metricRSS, "go_goroutines", "absent")
	if err != nil {
		t.Fatal(err)
	}
	if m[metricCPU] != 12.34 || m[metricRSS] != 123456780 || m["go_goroutines"] != 42 || len(m) != 3 {
		t.Errorf("parsed %v", m)
	}
	for _, bad := range []string{"process_cpu_seconds_total\n", "process_cpu_seconds_total abc\n", "process_cpu_seconds_total 1 2 3\n"} {
		if _, err := parsePromText(strings.NewReader(bad), metricCPU); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// Malformed lines of other names do not matter.
	if _, err := parsePromText(strings.NewReader("other_metric abc\n"), metricCPU); err != nil {
		t.Error(err)
	}
}

func TestProcWindowAndNodeStats(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var w procWindow
	if _, ok := w.cpuCores(); ok {
		t.Error("cores from no samples")
	}
	w.add(procSample{at: t0, cpuSec: 10, rss: 100 << 20})
	if _, ok := w.cpuCores(); ok {
		t.Error("cores from one sample")
	}
	w.add(procSample{at: t0.Add(2 * time.Second), cpuSec: 11, rss: 300 << 20})
	w.add(procSample{at: t0.Add(4 * time.Second), cpuSec: 13, rss: 200 << 20})
	if c, ok := w.cpuCores(); !ok || c != 0.75 || w.maxRSS != 300<<20 {
		t.Errorf("cores %v rss %v", c, w.maxRSS)
	}
	stats := make([]benchNodeStats, 3)
	wins := []procWindow{w, {err: errors.New("connection refused")}, {}}
	avg := nodeStats(stats, wins, []int64{1000, -1, 0}, []int64{5000, 10, 2000}, 10)
	if *stats[0].CPUCores != 0.75 || *stats[0].RSSMaxMiB != 300 || *stats[0].DiskGrowth != 4000 || *stats[0].DiskPerTx != 400 {
		t.Errorf("node 0: %+v", stats[0])
	}
	if stats[1].CPUCores != nil || stats[1].MetricsError != "connection refused" || stats[1].DiskGrowth != nil {
		t.Errorf("node 1: %+v", stats[1])
	}
	if *stats[2].DiskPerTx != 200 || avg == nil || *avg != 300 {
		t.Errorf("node 2 %+v, average %v", stats[2], avg)
	}
	if avg := nodeStats(make([]benchNodeStats, 1), nil, []int64{-1}, []int64{-1}, 10); avg != nil {
		t.Errorf("average of nothing: %v", *avg)
	}
	// CPU per committed tx and node: node 0 used 3 s over its window, the
	// others have no window; 10 committed txs: 300,000 µs each.
	if got := cpuPerTx(wins, 10); got == nil || *got != 300_000 {
		t.Errorf("cpu per tx = %v, want 300000 µs", got)
	}
	w2 := w
	w2.last.cpuSec = w.first.cpuSec + 1
	if got := cpuPerTx([]procWindow{w, w2}, 1000); got == nil || *got != 2000 {
		t.Errorf("cpu per tx over two nodes (3 s and 1 s, 1,000 txs) = %v, want 2000 µs", got)
	}
	if cpuPerTx(wins, 0) != nil || cpuPerTx(wins[1:], 10) != nil {
		t.Error("cpu per tx without commits or windows")
	}
}

func TestDirSize(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	for p, n := range map[string]int{"x": 10, "a/y": 20, "a/b/z": 30} {
		if err := os.WriteFile(filepath.Join(dir, p), make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := dirSize(dir); err != nil || n != 60 {
		t.Errorf("dirSize = %d, %v", n, err)
	}
	if _, err := dirSize(filepath.Join(dir, "nope")); err == nil {
		t.Error("missing dir")
	}
}

func TestSpreadAndAssignConns(t *testing.T) {
	connsOf := spreadConns(10, 4)
	if !slices.Equal(connsOf[0], []int{0, 4, 8}) || !slices.Equal(connsOf[3], []int{3, 7}) {
		t.Fatalf("spread: %v", connsOf)
	}
	var signers []*benchSigner
	for i := range 12 {
		signers = append(signers, &benchSigner{node: i % 4})
	}
	assignConns(signers, connsOf)
	use := map[int]int{}
	for _, s := range signers {
		if !slices.Contains(connsOf[s.node], s.conn) {
			t.Fatalf("signer on node %d uses connection %d", s.node, s.conn)
		}
		use[s.conn]++
	}
	if len(use) != 10 {
		t.Errorf("connections used: %v", use)
	}
}
