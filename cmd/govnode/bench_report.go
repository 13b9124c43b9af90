package main

// The human form of `govnode bench` reports (--output text, the default):
// tables written with text/tabwriter.

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

func printBenchReport(out io.Writer, o *benchOpts, r *benchReport) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "offered\t%d\t(%.1f tx/s for %s, %d nodes, %d signers, concurrency %d, %d %s connections)\n", r.Offered, r.OfferedTPS, o.duration, r.Nodes, r.Signers, r.Concurrency, r.Conns, r.Protocol)
	fmt.Fprintf(w, "accepted\t%d\t\n", r.Accepted)
	fmt.Fprintf(w, "rejected\t%d\t\n", r.Rejected)
	fmt.Fprintf(w, "committed\t%d\t(%.1f tx/s over %.2fs)\n", r.Committed, r.CommittedTPS, r.ElapsedS)
	if r.Failed != nil {
		fmt.Fprintf(w, "  of which failed\t%d\t(committed, action refused)\n", *r.Failed)
	}
	fmt.Fprintf(w, "uncommitted\t%d\t(accepted, not seen in a block within --grace)\n", r.Lost)
	fmt.Fprintf(w, "latency p50\t%.1f ms\t\n", r.P50)
	fmt.Fprintf(w, "latency p90\t%.1f ms\t\n", r.P90)
	fmt.Fprintf(w, "latency p99\t%.1f ms\t\n", r.P99)
	fmt.Fprintf(w, "latency max\t%.1f ms\t\n", r.Max)
	fmt.Fprintf(w, "admitted p50 / p99\t%.1f / %.1f ms\t(from the node's admission to the block)\n", r.AdmittedP50, r.AdmittedP99)
	if r.Backpressured > 0 {
		fmt.Fprintf(w, "backpressured\t%d\t(refused resource_exhausted, then retried: %d resubmissions)\n", r.Backpressured, r.Retries)
	}
	if r.DiskPerTx != nil {
		fmt.Fprintf(w, "disk per tx\t%.0f B\t(data directory growth / committed, average of nodes)\n", *r.DiskPerTx)
	}
	w.Flush()
	printCounts(out, "mix", r.Mix)
	printCounts(out, "rejections", r.Rejections)
	printCounts(out, "failures", r.Failures)
	printNodeStats(out, r.NodeStats)
	printDownNodes(out, r.DownNodes)
}

func printDownNodes(out io.Writer, down []benchDownNode) {
	for _, d := range down {
		fmt.Fprintf(out, "%s (%s) was down, left out: %s\n", d.Name, d.API, termText(d.Error))
	}
}

func printCounts(out io.Writer, title string, m map[string]int) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintf(out, "%s:\n", title)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(out, "  %6d  %s\n", m[k], termText(k))
	}
}

// fmtOpt formats an optional figure, "-" when absent.
func fmtOpt[T int64 | float64](v *T, format string) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf(format, *v)
}

func printNodeStats(out io.Writer, stats []benchNodeStats) {
	if len(stats) == 0 {
		return
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "node\tconns\tsubmitted\tcpu cores\trss max MiB\tdisk growth\tdisk B/tx\t")
	var errs []string
	for _, s := range stats {
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", s.Name, s.Conns, s.Submitted, fmtOpt(s.CPUCores, "%.2f"), fmtOpt(s.RSSMaxMiB, "%.0f"),
			fmtBytes(s.DiskGrowth), fmtOpt(s.DiskPerTx, "%.0f"))
		if s.MetricsError != "" {
			errs = append(errs, fmt.Sprintf("  %s metrics: %s", s.Name, termText(s.MetricsError)))
		}
	}
	w.Flush()
	for _, e := range errs {
		fmt.Fprintln(out, e)
	}
}

func fmtBytes(v *int64) string {
	if v == nil {
		return "-"
	}
	b := float64(*v)
	switch {
	case b >= 1<<30 || b <= -(1<<30):
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case b >= 1<<20 || b <= -(1<<20):
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10 || b <= -(1<<10):
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%d B", *v)
}

// stepTotals sums the nodes' CPU and takes the largest RSS.
func stepTotals(r *benchReport) (cpu, rss *float64) {
	for _, s := range r.NodeStats {
		if s.CPUCores != nil {
			if cpu == nil {
				cpu = new(float64)
			}
			*cpu += *s.CPUCores
		}
		if s.RSSMaxMiB != nil && (rss == nil || *s.RSSMaxMiB > *rss) {
			rss = s.RSSMaxMiB
		}
	}
	return cpu, rss
}

// printStepTable prints one row per report.
func printStepTable(out io.Writer, reps []*benchReport, withVerdict bool) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	head := "rate\toffered/s\tcommitted/s\tcommitted %\trejected\tuncommitted\tfailed\tp50 ms\tp99 ms\tmax ms\tcpu cores (all nodes)\trss max MiB\tdisk B/tx\t"
	if withVerdict {
		head += "verdict\t"
	}
	fmt.Fprintln(w, head)
	for _, r := range reps {
		pct := 0.0
		if r.Offered > 0 {
			pct = 100 * float64(r.Committed) / float64(r.Offered)
		}
		failed := "-"
		if r.Failed != nil {
			failed = fmt.Sprint(*r.Failed)
		}
		cpu, rss := stepTotals(r)
		fmt.Fprintf(w, "%.0f\t%.1f\t%.1f\t%.1f\t%d\t%d\t%s\t%.0f\t%.0f\t%.0f\t%s\t%s\t%s\t", r.Rate, r.OfferedTPS, r.CommittedTPS, pct,
			r.Rejected, r.Lost, failed, r.P50, r.P99, r.Max, fmtOpt(cpu, "%.2f"), fmtOpt(rss, "%.0f"), fmtOpt(r.DiskPerTx, "%.0f"))
		if withVerdict {
			v := "pass"
			if r.Passed == nil || !*r.Passed {
				v = "fail: " + r.FailReason
			}
			fmt.Fprintf(w, "%s\t", v)
		}
		fmt.Fprintln(w)
	}
	w.Flush()
}

func printSteps(out io.Writer, o *benchOpts, reps []*benchReport) {
	if len(reps) == 0 {
		return
	}
	r0 := reps[0]
	fmt.Fprintf(out, "%d steps of %s each (%d nodes, %d signers, concurrency %d, %d %s connections)\n\n", len(reps), o.duration, r0.Nodes, r0.Signers, r0.Concurrency, r0.Conns, r0.Protocol)
	printStepTable(out, reps, false)
	for _, r := range reps {
		fmt.Fprintf(out, "\nstep %.0f tx/s:\n", r.Rate)
		printNodeStats(out, r.NodeStats)
		if len(r.Rejections) > 0 {
			printCounts(out, "rejections", r.Rejections)
		}
		if len(r.Failures) > 0 {
			printCounts(out, "failures", r.Failures)
		}
	}
}

func printFindMax(out io.Writer, o *benchOpts, fm *findMaxReport) {
	fmt.Fprintf(out, "find-max: probes of %s; a rate passes when >= %.0f%% of offered txs commit and p99 <= %.0f ms\n\n", o.duration, 100*fm.MinCommit, fm.MaxP99)
	printStepTable(out, fm.Probes, true)
	fmt.Fprintln(out)
	switch {
	case fm.Rate == 0:
		fmt.Fprintf(out, "saturation: below %.0f tx/s (--find-min-rate already failed)\n", fm.MinRate)
		return
	case fm.AtUpperBound:
		fmt.Fprintf(out, "saturation: above %.0f tx/s (--find-max-rate passed)\n", fm.MaxRate)
	default:
		fmt.Fprintf(out, "saturation: %.0f tx/s offered -> %.1f tx/s committed, p50 %.0f ms, p99 %.0f ms\n", fm.Rate, fm.CommittedTPS, fm.P50, fm.P99)
	}
	if fm.At != nil {
		printNodeStats(out, fm.At.NodeStats)
	}
	var failed []string
	for _, p := range fm.Probes {
		if p.Passed != nil && !*p.Passed && p.Rate > fm.Rate {
			failed = append(failed, fmt.Sprintf("%.0f", p.Rate))
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(out, "failed above it: %s tx/s\n", strings.Join(failed, ", "))
	}
}
