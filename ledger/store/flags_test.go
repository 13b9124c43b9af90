package store_test

import (
	"flag"
	"strconv"
	"strings"
)

var benchStates = flag.String("bench.states", "10000,100000", "comma-separated state sizes (keys) for the store benchmarks")

func benchSizes() []int {
	var out []int
	for _, f := range strings.Split(*benchStates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}
