package sim

import (
	"container/heap"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Scenario drives a simulation step by step for directed tests: no random
// fault schedule and no client load; the test partitions, filters, crashes
// and submits, and the same invariants are checked as in random runs.
type Scenario struct {
	s *simulation
}

// NewScenario starts the replicas of opts.Config (all correct) at genesis.
func NewScenario(opts Options) *Scenario {
	opts.Config.Byzantine = 0
	s := newSim(opts)
	// Drop the random schedule: keep only the replicas' ticks.
	var ticks eventQueue
	for _, e := range s.q {
		if e.kind == evTick {
			ticks = append(ticks, e)
		}
	}
	heap.Init(&ticks)
	s.q = ticks
	s.drop, s.dup, s.reorder = 0, 0, 0
	return &Scenario{s: s}
}

// Filter drops every message for which drop returns true (nil: none).
func (sc *Scenario) Filter(drop func(from, to int, m *pb.ConsensusMessage) bool) { sc.s.filter = drop }

// Crash stops a replica; its volatile state is lost.
func (sc *Scenario) Crash(id int) { sc.s.crash(id) }

// Restart starts a crashed replica from its safety store and ledger.
func (sc *Scenario) Restart(id int) { sc.s.restart(id) }

// Submit gives n new txs to every running replica.
func (sc *Scenario) Submit(n int) {
	for range n {
		sc.s.submit(sc.s.newTx("scenario"))
	}
}

// Committed returns the height replica id's ledger holds.
func (sc *Scenario) Committed(id int) uint64 { return sc.s.replicas[id].ledger.height() }

// RunUntil runs the simulation until cond holds or max ticks pass; it
// reports whether cond held.
func (sc *Scenario) RunUntil(cond func() bool, max uint64) bool {
	s := sc.s
	end := s.now + max
	for s.q.Len() > 0 && !cond() {
		e := heap.Pop(&s.q).(*event)
		if e.at > end {
			heap.Push(&s.q, e)
			return cond()
		}
		s.now = e.at
		s.handle(e)
	}
	return cond()
}

// Safety returns the safety violations found so far.
func (sc *Scenario) Safety() []string { return sc.s.res.Safety }

// Now returns the simulated time in ticks.
func (sc *Scenario) Now() uint64 { return sc.s.now }
