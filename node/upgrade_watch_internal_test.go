package node

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// A node that has committed exactly the halt height of an upgrade it does
// not know stops once no block has come for the grace period (the others
// stopped when the block above committed, and an idle chain makes none);
// it does not while blocks still come, nor below the halt.
func TestWatchUpgradeHalt(t *testing.T) {
	halt := errors.New("halted for an upgrade v2 at height 7")
	grace := 200 * time.Millisecond

	// Standing at the halt height: stops after the grace period.
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := watchUpgradeHalt(ctx, grace, func() uint64 { return 7 }, func() error { return halt })
	if !errors.Is(err, halt) || time.Since(start) < grace {
		t.Fatalf("at the halt height: %v after %v, want the halt after %v", err, time.Since(start), grace)
	}

	// Blocks still coming, or not at an unknown halt: no stop.
	var h atomic.Uint64
	for name, c := range map[string]struct {
		height func() uint64
		atHalt func() error
	}{
		"blocks coming": {func() uint64 { return h.Add(1) }, func() error { return halt }},
		"not at a halt": {func() uint64 { return 7 }, func() error { return nil }},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 4*grace)
		err := watchUpgradeHalt(ctx, grace, c.height, c.atHalt)
		cancel()
		if err != nil {
			t.Errorf("%s: %v, want none", name, err)
		}
	}
}
