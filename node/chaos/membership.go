package chaos

import (
	"math/rand/v2"
	"slices"
	"time"
)

// Membership schedules (issue 17, live consortium membership;
// ARCHITECTURE.md §4, "Reconfiguration"). Under load, a department joins
// by governance and, when the schedule has time, one leaves, with faults
// drawn around the change:
//
//  1. warm-up;
//  2. Join: the harness submits the add-department proposal for the spare
//     node's department (written like `govnode testnet join` writes it)
//     and the current admins' votes until it passes, and starts the spare
//     node, before the proposal (Early) or once it passed. The new set is
//     in force from the deciding height + validator_change_delay: the
//     activation height A;
//  3. two faults anchored at A, in a drawn order: an original node
//     isolated from A-6..A+2 on (a partition around the activation
//     height), and the joining node killed (kill or commit-kill) from
//     A-2..A+8 on. An anchored fault waits for its height, not its
//     planned time: under load the chain makes blocks every 50-100 ms,
//     so A comes within a second of the vote that decided the change,
//     and only the first of the two meets its anchor; the second follows
//     it after the minimum gap (the joiner killed while it still catches
//     up, or an original partitioned while the joiner's first votes
//     count);
//  4. faults dealt from the run's deck, as in any schedule, on the
//     members of the moment (the joiner included);
//  5. Leave, when at least leaveBudget is left after step 3: a
//     remove-department proposal for the joiner or an original department
//     (never dept1, the grantee of the load's transactions), inserted at
//     a drawn place among the dealt faults; later faults spare the
//     removed node.
//
// Faults stay one at a time, as in every schedule; the governance steps
// run while no fault is active, so the live-quorum pre-check at
// submission (node/api/quorum.go) sees every member that can vote.
// Check then requires that each change applied: the joiner's department
// signs commit certificates from A on, the removed one none from its
// removal on, and every member reports the set expected.

// MinMembershipDuration is the shortest schedule that is made a
// membership schedule: warm-up, the join and both anchored faults fit.
const MinMembershipDuration = 30 * time.Second

// The planned windows of the governance steps. The schedule's later faults
// start after the step, however long it takes; the budgets only place
// them in the plan.
const (
	// joinBudget: the proposal and three votes, each a commit (about a
	// second in all under load), then validator_change_delay blocks (10
	// in a testnet genesis, under a second).
	joinBudget = 4 * time.Second
	// leaveBudget: the proposal and four votes, and the delay.
	leaveBudget = 5 * time.Second
)

// The anchors of the faults around the activation height A, in blocks.
const (
	partitionFrom, partitionTo   = -6, 2
	joinerKillFrom, joinerKillTo = -2, 8
)

// loadGrantee is the department the load's grants name (load.go); it is
// never removed, or every grant would be refused.
const loadGrantee = 1

// memberPlan is the timing of a membership schedule, drawn from the
// schedule's seed alone (like timeline), so the number of faults it deals
// is known without the deck.
type memberPlan struct {
	warmup   time.Duration
	join     slot
	anchored [2]slot
	// normal are the windows of the faults dealt from the deck, in order.
	normal []slot
	// leave is the Leave step's window, before normal[leaveAt]
	// (leaveAt == len(normal): after them all); leaveAt < 0: no Leave.
	leave   slot
	leaveAt int
}

func memberTimeline(seed uint64, d time.Duration) memberPlan {
	r := rand.New(rand.NewPCG(seed, 0x6d656d62)) // "memb"
	var p memberPlan
	p.warmup = between(r, minWarmup, maxWarmup)
	p.join = slot{p.warmup, joinBudget}
	at := p.warmup + joinBudget
	d1, d2, g := between(r, minFault, maxFault), between(r, minFault, maxFault), between(r, minGap, maxGap)
	if at+d1+g+d2 > d {
		d1, d2, g = minFault, minFault, minGap // fits: MinMembershipDuration
	}
	p.anchored = [2]slot{{at, d1}, {at + d1 + g, d2}}
	at += d1 + g + d2 + between(r, minGap, maxGap)
	start := at
	limit := d
	p.leaveAt = -1
	withLeave := d-at >= leaveBudget+minGap
	if withLeave {
		limit = d - leaveBudget - minGap
	}
	for {
		dur := between(r, minFault, maxFault)
		if at+dur > limit {
			if limit-at >= minFault {
				p.normal = append(p.normal, slot{at, limit - at})
			}
			break
		}
		p.normal = append(p.normal, slot{at, dur})
		at += dur + between(r, minGap, maxGap)
	}
	if withLeave {
		k := r.IntN(len(p.normal) + 1)
		p.leaveAt = k
		p.leave = slot{start, leaveBudget}
		if k > 0 {
			p.leave.at = p.normal[k-1].at + p.normal[k-1].dur + minGap
		}
		for i := k; i < len(p.normal); i++ {
			p.normal[i].at += leaveBudget + minGap
		}
	}
	return p
}

// generateMembership fills s, a membership schedule: r is the schedule's
// random source, deck the run's.
func generateMembership(s *Schedule, r *rand.Rand, deck *deck) {
	pl := memberTimeline(s.Seed, s.Duration)
	s.Membership, s.Warmup = true, pl.warmup
	spare := s.Nodes
	join := Fault{Kind: Join, At: pl.join.at, For: pl.join.dur, Node: spare, Early: r.IntN(2) == 0}
	part := Fault{Kind: Isolate, Node: r.IntN(s.Nodes), Anchored: true,
		Offset: partitionFrom + r.IntN(partitionTo-partitionFrom+1)}
	kill := Fault{Kind: Kill, Node: spare, Anchored: true,
		Offset: joinerKillFrom + r.IntN(joinerKillTo-joinerKillFrom+1)}
	if r.IntN(2) == 0 {
		kill.Kind = CommitKill
		for range 2 + r.IntN(2) {
			kill.KillAfter = append(kill.KillAfter, time.Duration(r.IntN(8))*time.Millisecond)
		}
		kill.Restart = time.Duration(200+r.IntN(800)) * time.Millisecond
	}
	first, second := part, kill
	if r.IntN(2) == 0 {
		first, second = kill, part
	}
	first.At, first.For = pl.anchored[0].at, pl.anchored[0].dur
	second.At, second.For = pl.anchored[1].at, pl.anchored[1].dur
	s.Faults = append(s.Faults, join, first, second)

	members := seq(s.Nodes + 1)
	leave := Fault{Kind: Leave, At: pl.leave.at, For: pl.leave.dur, Node: -1}
	stays := members
	if pl.leaveAt >= 0 {
		if r.IntN(2) == 0 {
			leave.Node = spare
		} else {
			var cand []int
			for i := range s.Nodes {
				if i != loadGrantee {
					cand = append(cand, i)
				}
			}
			leave.Node = cand[r.IntN(len(cand))]
		}
		stays = slices.DeleteFunc(slices.Clone(members), func(i int) bool { return i == leave.Node })
	}
	// The Byzantine validator, if the deck deals one, is one that stays a
	// member to the end (one per schedule, as in every schedule).
	byz := stays[r.IntN(len(stays))]
	nodes := members
	for i, sl := range pl.normal {
		if i == pl.leaveAt {
			s.Faults = append(s.Faults, leave)
			nodes = stays
		}
		s.Faults = append(s.Faults, drawFault(r, deck.next(), sl, nodes, &byz))
	}
	if pl.leaveAt == len(pl.normal) {
		s.Faults = append(s.Faults, leave)
	}
}
