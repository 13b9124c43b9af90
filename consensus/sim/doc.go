// Package sim runs N replicas of the real consensus core and driver in one
// process under a seeded scheduler and a virtual clock (ARCHITECTURE.md §4, last
// paragraph), injects faults, and checks the safety and liveness
// invariants on every run.
//
// A run is a pure function of (configuration, seed, template): the same
// arguments replay the same schedule, so a failing seed is a reproducer.
//
// Faults, during the fault window of a run: message drop, delay, reorder
// and duplication; partitions that form and heal; crash and restart from
// the persisted safety state (volatile state lost, the ledger kept); slow
// replicas. In byzantine configurations up to f replicas are Byzantine for
// the whole run, each with a seeded mix of behaviours (see byz.go); it
// attacks in the epoch its own core runs, with that set's index, key and
// signing domain.
//
// Invariants (check.go): agreement, validity, no committed block lost
// across a restart, and liveness after the last fault heals.
package sim
