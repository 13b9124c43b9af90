package chaos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Kind names a fault.
type Kind string

// The faults a schedule draws from. Each one makes exactly one node faulty
// for its window, except Split, which cuts the network in two halves of two
// (no quorum on either side: no progress is expected until it heals), and
// PowerLoss, which stops every node.
const (
	// Kill sends SIGKILL and restarts the node after the window.
	Kill Kind = "kill"
	// Pause sends SIGSTOP and SIGCONT after the window.
	Pause Kind = "pause"
	// CommitKill SIGKILLs the node a few times in a row, each time a few
	// milliseconds after it was seen writing its ledger under load (in the
	// middle of a block commit), restarting it after each kill.
	CommitKill Kind = "commit-kill"
	// PowerLoss SIGKILLs every node at the same moment, a few
	// milliseconds after Node was seen writing its ledger under load, and
	// restarts them all after Restart: a data centre losing power. No node
	// can fetch from another what the cut kept from its own ledger.
	PowerLoss Kind = "power-loss"
	// Isolate drops every packet between the node and the other nodes.
	Isolate Kind = "isolate"
	// Split drops every packet between two halves of the network.
	Split Kind = "split"
	// Asym drops packets from Node to Peer; Peer to Node still flows.
	Asym Kind = "asym"
	// Loss drops a random share of the node's packets to and from peers.
	Loss Kind = "loss"
	// Delay holds each of the node's outgoing packets to peers for a fixed
	// time before releasing it (NFQUEUE; see docs/CHAOS.md).
	Delay Kind = "delay"
	// Skew restarts the node with its clock offset (GOVNODE_TEST_CLOCK_OFFSET)
	// and restarts it without at heal.
	Skew Kind = "skew"
	// Byzantine restarts the node from the binary built with -tags byzantine
	// and GOVNODE_BYZANTINE=all, and restarts it honest at heal.
	Byzantine Kind = "byzantine"

	// Join and Leave are the governance steps of a membership schedule
	// (membership.go), never dealt from the deck. Join adds the spare
	// node's department (an add-department proposal and the admins'
	// votes) and starts the spare node; Leave removes department Node.
	Join  Kind = "join"
	Leave Kind = "leave"
)

// AllKinds are every fault, Byzantine last (it needs the tagged binary).
var AllKinds = []Kind{Kill, Pause, CommitKill, PowerLoss, Isolate, Split, Asym, Loss, Delay, Skew, Byzantine}

// ParseKinds parses a comma-separated list of kinds.
func ParseKinds(s string) ([]Kind, error) {
	var out []Kind
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		ok := false
		for _, k := range AllKinds {
			if string(k) == f {
				out, ok = append(out, k), true
			}
		}
		if !ok {
			return nil, fmt.Errorf("unknown fault %q (known: %v)", f, AllKinds)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no fault in %q", s)
	}
	return out, nil
}

// Fault is one fault of a schedule: applied At after the schedule starts,
// healed For later.
type Fault struct {
	Kind Kind
	At   time.Duration
	For  time.Duration
	// Node is the faulty node (for Split: unused).
	Node int
	// Peer is the node whose packets from Node are dropped (Asym).
	Peer int
	// Half is one side of a Split; the others are the other side.
	Half []int
	// Loss is the drop probability (Loss).
	Loss float64
	// Delay is how long each packet is held (Delay).
	Delay time.Duration
	// Skew is the clock offset (Skew).
	Skew time.Duration
	// KillAfter are, for CommitKill and PowerLoss, the delays after a
	// seen ledger write at which each kill lands (PowerLoss: one); Restart
	// is how long killed nodes stay down before they are restarted.
	KillAfter []time.Duration
	Restart   time.Duration
	// Anchored holds the fault (of a membership schedule) until the chain
	// reaches the join's activation height + Offset, and not before At:
	// when the validator set changes is known only once the join passed.
	Anchored bool
	Offset   int
	// Early (Join) starts the joining node before the proposal is
	// submitted; otherwise it starts once the proposal passed.
	Early bool
}

// Faulty reports the nodes the fault makes faulty.
// Join and Leave make none faulty.
func (f Fault) Faulty(n int) []int {
	switch f.Kind {
	case Split, PowerLoss:
		return seq(n)
	case Join, Leave:
		return nil
	}
	return []int{f.Node}
}

func (f Fault) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "t=%5.1fs %-11s", f.At.Seconds(), f.Kind)
	switch f.Kind {
	case Join:
		when := "once it passed"
		if f.Early {
			when = "before the proposal"
		}
		fmt.Fprintf(&b, " dept%d (node n%d started %s)", f.Node, f.Node, when)
		return b.String()
	case Leave:
		fmt.Fprintf(&b, " dept%d (node n%d)", f.Node, f.Node)
		return b.String()
	case Split:
		fmt.Fprintf(&b, " %v | rest", f.Half)
	case PowerLoss:
		fmt.Fprintf(&b, " all, at a write of n%d", f.Node)
	case Asym:
		fmt.Fprintf(&b, " n%d->n%d dropped", f.Node, f.Peer)
	default:
		fmt.Fprintf(&b, " n%d", f.Node)
	}
	switch f.Kind {
	case Loss:
		fmt.Fprintf(&b, " p=%.2f", f.Loss)
	case Delay:
		fmt.Fprintf(&b, " %s", f.Delay)
	case Skew:
		fmt.Fprintf(&b, " %s", FormatOffset(f.Skew))
	case CommitKill, PowerLoss:
		fmt.Fprintf(&b, " kills at write+%v, down %s", f.KillAfter, f.Restart)
	}
	if f.Anchored {
		fmt.Fprintf(&b, " from activation%+d", f.Offset)
	}
	fmt.Fprintf(&b, " for %.1fs", f.For.Seconds())
	return b.String()
}

// FormatOffset writes a clock offset with its sign, as the node's
// GOVNODE_TEST_CLOCK_OFFSET takes it (+4s, -2.5s).
func FormatOffset(d time.Duration) string {
	if d < 0 {
		return d.String()
	}
	return "+" + d.String()
}

// Schedule is one run of a cluster: Warmup of load without faults, Faults
// one after another (each healed before the next starts), all healed by
// Duration, then the recovery window.
//
// Nodes are the validators of the genesis, 0..Nodes-1. Every cluster has
// one spare node more, index Nodes, whose home is written as `govnode
// testnet join` writes it; a membership schedule (Membership) adds its
// department by governance and may remove a department later.
type Schedule struct {
	Index      int
	Seed       uint64
	Nodes      int
	Membership bool
	Warmup     time.Duration
	Duration   time.Duration
	Faults     []Fault
}

func (s Schedule) String() string {
	var b strings.Builder
	what := ""
	if s.Membership {
		what = fmt.Sprintf(" + spare n%d joining", s.Nodes)
	}
	fmt.Fprintf(&b, "schedule %d (seed %d): %d nodes%s, warm-up %s, %s", s.Index, s.Seed, s.Nodes, what, s.Warmup, s.Duration)
	for _, f := range s.Faults {
		fmt.Fprintf(&b, "\n  %s", f)
	}
	return b.String()
}

// Params bound what Generate draws.
type Params struct {
	Nodes    int
	Duration time.Duration
	// Kinds are the faults to draw from.
	Kinds []Kind
	// MemberEvery makes every MemberEvery-th schedule (index MemberEvery-1,
	// 2*MemberEvery-1, ...) a membership schedule when Duration is at
	// least MinMembershipDuration; 0: none, 1: all.
	MemberEvery int
}

// isMembership reports whether schedule index is a membership schedule.
func (p Params) isMembership(index int) bool {
	return p.MemberEvery > 0 && index%p.MemberEvery == p.MemberEvery-1 && p.Duration >= MinMembershipDuration
}

// Schedule timing, in the units Generate draws them.
const (
	minWarmup = 3 * time.Second
	maxWarmup = 6 * time.Second
	minFault  = 3 * time.Second
	maxFault  = 8 * time.Second
	minGap    = 1 * time.Second
	maxGap    = 3 * time.Second
)

// ScheduleSeed is the seed of schedule index of a run seeded with seed, so
// that one schedule of a run can be replayed alone.
func ScheduleSeed(seed uint64, index int) uint64 {
	return seed + uint64(index)*0x9e3779b97f4a7c15
}

// Generate draws schedule index of a run. The kinds come from a deck
// shuffled per run (seeded with seed, not the schedule's seed), dealt
// across schedules, so a run of a few schedules meets every kind before any
// repeats. Every p.MemberEvery-th schedule is a membership schedule
// (membership.go) when the duration allows one.
func Generate(seed uint64, index int, p Params) (Schedule, error) {
	if p.Nodes < 4 {
		return Schedule{}, fmt.Errorf("chaos needs at least 4 nodes, got %d", p.Nodes)
	}
	if len(p.Kinds) == 0 {
		return Schedule{}, fmt.Errorf("no fault kinds")
	}
	if p.Duration < maxWarmup+minFault {
		return Schedule{}, fmt.Errorf("duration %s is too short: at least %s", p.Duration, maxWarmup+minFault)
	}
	// The deck: per run, the kinds in an order seeded by the run seed; the
	// faults of schedule index continue where the previous schedule's
	// stopped. Dealing needs the number of faults of earlier schedules,
	// which depends only on their own seeds, so it is recomputed here.
	deck := newDeck(seed, p.Kinds)
	for k := 0; k < index; k++ {
		for range cards(seed, k, p) {
			deck.next()
		}
	}
	ss := ScheduleSeed(seed, index)
	s := Schedule{Index: index, Seed: ss, Nodes: p.Nodes, Duration: p.Duration}
	r := rand.New(rand.NewPCG(ss, 0x6368616f73)) // "chaos"
	if p.isMembership(index) {
		generateMembership(&s, r, deck)
		return s, nil
	}
	slots := timeline(ss, p.Duration)
	s.Warmup = slots[0].at
	// One Byzantine validator per schedule: its peers' gossip scoring
	// graylists a node that sent invalid messages for minutes after it
	// turns honest again (the penalty's half-life is about 70 s), so it
	// stays faulty in their eyes, and a second Byzantine node would make
	// two faulty of four: no quorum, by design.
	byz := -1
	nodes := seq(p.Nodes)
	for _, sl := range slots {
		s.Faults = append(s.Faults, drawFault(r, deck.next(), sl, nodes, &byz))
	}
	return s, nil
}

// cards is how many faults schedule k of a run deals from the deck.
func cards(seed uint64, k int, p Params) int {
	ss := ScheduleSeed(seed, k)
	if p.isMembership(k) {
		return len(memberTimeline(ss, p.Duration).normal)
	}
	return len(timeline(ss, p.Duration))
}

// drawFault draws the target and parameters of a fault of kind k in slot
// sl among nodes; byz is the schedule's Byzantine validator (-1: none yet).
func drawFault(r *rand.Rand, k Kind, sl slot, nodes []int, byz *int) Fault {
	n := len(nodes)
	at := r.IntN(n)
	f := Fault{Kind: k, At: sl.at, For: sl.dur, Node: nodes[at]}
	switch f.Kind {
	case Byzantine:
		if *byz < 0 {
			*byz = f.Node
		}
		f.Node = *byz
	case Split:
		perm := r.Perm(n)
		for _, x := range perm[:n/2] {
			f.Half = append(f.Half, nodes[x])
		}
		slices.Sort(f.Half)
	case Asym:
		f.Peer = nodes[(at+1+r.IntN(n-1))%n]
	case Loss:
		f.Loss = 0.1 + 0.05*float64(r.IntN(5)) // 10% .. 30%
	case Delay:
		f.Delay = []time.Duration{50, 100, 200, 400}[r.IntN(4)] * time.Millisecond
	case Skew:
		f.Skew = []time.Duration{-4, -2, 2, 4}[r.IntN(4)] * time.Second
	case CommitKill:
		for range 2 + r.IntN(2) {
			f.KillAfter = append(f.KillAfter, time.Duration(r.IntN(8))*time.Millisecond)
		}
		f.Restart = time.Duration(200+r.IntN(800)) * time.Millisecond
	case PowerLoss:
		f.KillAfter = []time.Duration{time.Duration(r.IntN(8)) * time.Millisecond}
		f.Restart = time.Duration(500+r.IntN(1500)) * time.Millisecond
	}
	return f
}

// seq is 0..n-1.
func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

type slot struct{ at, dur time.Duration }

// timeline draws the fault windows of a schedule: the first starts after
// the warm-up, each lasts minFault..maxFault and is followed by a gap, and
// the last is healed by d. At least one fault fits (Generate checks d).
func timeline(seed uint64, d time.Duration) []slot {
	r := rand.New(rand.NewPCG(seed, 0x74696d65)) // "time"
	at := between(r, minWarmup, maxWarmup)
	var out []slot
	for {
		dur := between(r, minFault, maxFault)
		if at+dur > d {
			if d-at >= minFault {
				out = append(out, slot{at, d - at})
			}
			return out
		}
		out = append(out, slot{at, dur})
		at += dur + between(r, minGap, maxGap)
	}
}

// between draws a duration in [lo, hi] at millisecond granularity.
func between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	ms := int64((hi - lo) / time.Millisecond)
	return lo + time.Duration(r.Int64N(ms+1))*time.Millisecond
}

type deck struct {
	r     *rand.Rand
	kinds []Kind
	cards []Kind
}

func newDeck(seed uint64, kinds []Kind) *deck {
	return &deck{r: rand.New(rand.NewPCG(seed, 0x6465636b)), kinds: kinds} // "deck"
}

func (d *deck) next() Kind {
	if len(d.cards) == 0 {
		d.cards = append([]Kind(nil), d.kinds...)
		d.r.Shuffle(len(d.cards), func(i, j int) { d.cards[i], d.cards[j] = d.cards[j], d.cards[i] })
	}
	k := d.cards[0]
	d.cards = d.cards[1:]
	return k
}
