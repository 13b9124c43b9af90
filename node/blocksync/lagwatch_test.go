package blocksync

import "testing"

func TestLagWatch(t *testing.T) {
	type check struct {
		ours, best uint64
		want       bool
	}
	for name, checks := range map[string][]check{
		"in step":                {{10, 10, false}, {11, 11, false}, {12, 12, false}, {12, 12, false}, {12, 12, false}},
		"a block behind, moving": {{10, 11, false}, {11, 12, false}, {12, 13, false}, {13, 14, false}},
		"far behind twice":       {{10, 30, false}, {11, 40, true}},
		"far behind once":        {{10, 30, false}, {25, 30, false}, {30, 30, false}},
		// A few blocks behind and committing nothing: catch up.
		"stuck behind":       {{10, 17, false}, {10, 17, false}, {10, 17, true}},
		"stuck, then moves":  {{10, 17, false}, {10, 17, false}, {11, 17, false}, {11, 17, false}, {11, 17, false}, {11, 17, true}},
		"idle, nobody ahead": {{10, 10, false}, {10, 10, false}, {10, 10, false}, {10, 10, false}},
	} {
		w := NewLagWatch(checks[0].ours)
		for i, c := range checks {
			if got := w.FellBehind(c.ours, c.best); got != c.want {
				t.Fatalf("%s: check %d (ours %d, best %d) = %v, want %v", name, i, c.ours, c.best, got, c.want)
			}
		}
	}
}
