package main

// Rate steps and the saturation search of `govnode bench`. Both are pure:
// the search takes the measurement as a function, so tests drive it with
// a model of a network instead of a network.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// parseRates reads --rate: one offered rate in tx/s, or comma-separated
// steps run one after another ("1000,2000,4000").
func parseRates(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("--rate: empty, want a rate in tx/s or steps like 1000,2000,4000")
	}
	var out []float64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		r, err := strconv.ParseFloat(part, 64)
		switch {
		case part == "":
			return nil, fmt.Errorf("--rate %q: empty step", s)
		case err != nil:
			return nil, fmt.Errorf("--rate %q: step %q is not a number", s, part)
		case !(r > 0) || math.IsInf(r, 0):
			return nil, fmt.Errorf("--rate %v: want a positive number", part)
		}
		out = append(out, r)
	}
	return out, nil
}

// benchCriteria is what a rate must meet to count as sustained.
type benchCriteria struct {
	// MinCommitRatio is the least share of offered txs that must commit
	// (within --grace).
	MinCommitRatio float64
	// MaxP99 bounds the p99 submit-to-commit latency.
	MaxP99 time.Duration
}

// check reports whether r meets the criteria, and why not.
func (c benchCriteria) check(r *benchReport) (bool, string) {
	if r.Offered == 0 {
		return false, "nothing offered"
	}
	ratio := float64(r.Committed) / float64(r.Offered)
	if ratio < c.MinCommitRatio {
		return false, fmt.Sprintf("committed %.1f%% of offered, want at least %.1f%%", 100*ratio, 100*c.MinCommitRatio)
	}
	if maxMs := ms(c.MaxP99); r.P99 > maxMs {
		return false, fmt.Sprintf("p99 %.0f ms, want at most %.0f ms", r.P99, maxMs)
	}
	return true, ""
}

// searchConfig bounds the saturation search.
type searchConfig struct {
	// Min is the first rate probed; Max the highest one probed.
	Min, Max float64
	// Factor multiplies the rate while probes pass (the ramp).
	Factor float64
	// Precision ends the bisection when hi-lo <= Precision*lo.
	Precision float64
	// MaxProbes bounds the number of probes.
	MaxProbes int
}

func (c searchConfig) validate() error {
	switch {
	case !(c.Min > 0) || math.IsInf(c.Min, 0):
		return fmt.Errorf("--find-min-rate %v: want a positive number", c.Min)
	case !(c.Max >= c.Min) || math.IsInf(c.Max, 0):
		return fmt.Errorf("--find-max-rate %v: want a number at least --find-min-rate %v", c.Max, c.Min)
	case !(c.Factor > 1) || math.IsInf(c.Factor, 0):
		return fmt.Errorf("ramp factor %v: want more than 1", c.Factor)
	case !(c.Precision > 0 && c.Precision < 1):
		return fmt.Errorf("--find-precision %v: want a fraction between 0 and 1", c.Precision)
	case c.MaxProbes < 1:
		return fmt.Errorf("--find-probes %d: want at least 1", c.MaxProbes)
	}
	return nil
}

// searchProbe is one measured rate.
type searchProbe struct {
	Rate float64
	OK   bool
}

// searchResult is the outcome of findMax.
type searchResult struct {
	// Rate is the highest rate that passed, 0 if none did.
	Rate float64
	// Probes are the rates measured, in order.
	Probes []searchProbe
	// AtMax: the rate passed at the upper bound, so the saturation point
	// is above it. BelowMin: the lowest rate already failed.
	AtMax, BelowMin bool
}

// findMax searches for the highest offered rate that passes measure: a
// ramp from cfg.Min multiplying by cfg.Factor (capped at cfg.Max) while
// probes pass, then a bisection between the last rate that passed and the
// first that failed, until they are within cfg.Precision of each other.
// Rates are rounded to whole tx/s. measure is called once per probe, in
// order; an error from it (or ctx) ends the search and is returned with
// the probes so far.
//
// The search assumes passing is monotone in the rate; a noisy machine can
// break that, so the result is the highest rate seen to pass, not a proof.
func findMax(ctx context.Context, cfg searchConfig, measure func(ctx context.Context, rate float64) (bool, error)) (searchResult, error) {
	var res searchResult
	if err := cfg.validate(); err != nil {
		return res, err
	}
	probe := func(rate float64) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		ok, err := measure(ctx, rate)
		if err != nil {
			return false, err
		}
		res.Probes = append(res.Probes, searchProbe{Rate: rate, OK: ok})
		if ok && rate > res.Rate {
			res.Rate = rate
		}
		return ok, nil
	}
	round := func(r float64) float64 { return max(math.Round(r), 1) }

	// Ramp.
	lo, hi := 0.0, 0.0 // lo passed (0: none yet), hi failed (0: none yet)
	for rate := round(cfg.Min); len(res.Probes) < cfg.MaxProbes; {
		ok, err := probe(rate)
		if err != nil {
			return res, err
		}
		if !ok {
			hi = rate
			break
		}
		lo = rate
		if rate >= cfg.Max {
			res.AtMax = true
			return res, nil
		}
		rate = min(round(rate*cfg.Factor), round(cfg.Max))
	}
	if hi == 0 { // out of probes while passing
		return res, nil
	}
	if lo == 0 {
		res.BelowMin = true
		return res, nil
	}
	// Bisect: lo passed, hi failed.
	for len(res.Probes) < cfg.MaxProbes && hi-lo > cfg.Precision*lo {
		mid := round((lo + hi) / 2)
		if mid <= lo || mid >= hi {
			break
		}
		ok, err := probe(mid)
		if err != nil {
			return res, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return res, nil
}
