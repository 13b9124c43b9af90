package driver

import (
	"time"

	"github.com/govnode/govnode/consensus"
)

// Pacing (docs/ARCHITECTURE.md §4 "Pacing"). A block costs every node a
// fixed amount besides its txs: the proposal's and votes' signatures, a
// synced safety-state write, a synced ledger batch, a new state root. The
// core offers the leader a slot as soon as the previous block is
// certified, so on a fast network at light load blocks were made at the
// speed of a round trip (150 a second at 250 tx/s, under two txs each),
// and per-block work took most of the machine.
//
// A pacing leader waits, before it fills a slot, until PaceFactor times
// the recent cost of one commit on this node (the wall time of
// Executor.Commit per block, smoothed) has passed since its previous
// proposal, and never longer than Deps.MaxPace. So a block costs at most
// about 1/PaceFactor of the leader's time in commits, whatever the rate;
// at light load, where commits are cheap, the wait is a few
// milliseconds; under heavy load, where commits take longer, blocks grow
// instead of multiplying. A mempool that holds a full block proposes at
// once. The core stays free of clocks: the wait is the driver's, and a
// slot the driver holds is one the core offered and can take back (a
// view change makes Propose answer ErrNoSlot, and a fresh slot replaces
// the held one).
const PaceFactor = 4

type pacer struct {
	max   time.Duration // Deps.MaxPace; 0: no pacing
	cost  time.Duration // smoothed commit cost per block
	last  time.Time     // when this replica last proposed
	held  *consensus.ProposeSlot
	timer *time.Timer
	armed bool
}

// committed takes the wall time of a commit of n blocks.
func (p *pacer) committed(d time.Duration, n int) {
	if n <= 0 || d < 0 {
		return
	}
	per := d / time.Duration(n)
	if p.cost == 0 {
		p.cost = per
		return
	}
	p.cost += (per - p.cost) / 4
}

func (p *pacer) proposed(now time.Time) { p.last = now }

// interval is the least time between two proposals.
func (p *pacer) interval() time.Duration {
	if p.max <= 0 {
		return 0
	}
	return min(p.max, PaceFactor*p.cost)
}

// wait is how long the held slot still waits at now.
func (p *pacer) wait(now time.Time, full bool) time.Duration {
	iv := p.interval()
	if iv <= 0 || full || p.last.IsZero() {
		return 0
	}
	// At most the interval, should the clock ever step back.
	return min(iv-now.Sub(p.last), iv)
}

// arm starts the timer for d unless it runs already (Run's loop stops it
// by receiving).
func (p *pacer) arm(d time.Duration) {
	if p.timer == nil || p.armed {
		return
	}
	p.timer.Reset(d)
	p.armed = true
}
