package chaos

import (
	"reflect"
	"testing"
	"time"
)

func TestGenerateDeterministic(t *testing.T) {
	p := Params{Nodes: 4, Duration: 40 * time.Second, Kinds: AllKinds}
	for seed := uint64(0); seed < 50; seed++ {
		a, err := Generate(seed, 3, p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Generate(seed, 3, p)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: two schedules:\n%s\n%s", seed, a, b)
		}
	}
}

// At most one node is faulty at a time (f=1), except during a split, and
// every fault is healed by the schedule's duration.
func TestGenerateOneFaultyAtATime(t *testing.T) {
	for _, d := range []time.Duration{9 * time.Second, 20 * time.Second, 40 * time.Second, 3 * time.Minute} {
		p := Params{Nodes: 4, Duration: d, Kinds: AllKinds}
		for seed := uint64(0); seed < 200; seed++ {
			s, err := Generate(seed, int(seed%5), p)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Faults) == 0 {
				t.Fatalf("seed %d, %s: no fault", seed, d)
			}
			end := s.Warmup
			for _, f := range s.Faults {
				if f.At < end {
					t.Fatalf("seed %d: fault at %s overlaps the previous one (ends %s)\n%s", seed, f.At, end, s)
				}
				if f.For < minFault {
					t.Fatalf("seed %d: fault shorter than %s\n%s", seed, minFault, s)
				}
				end = f.At + f.For
				switch f.Kind {
				case Split:
					if len(f.Half) != 2 {
						t.Fatalf("seed %d: split %v is not 2/2", seed, f.Half)
					}
				case Asym:
					if f.Peer == f.Node || f.Peer < 0 || f.Peer >= 4 {
						t.Fatalf("seed %d: asym %d->%d", seed, f.Node, f.Peer)
					}
				case PowerLoss:
					if len(f.Faulty(4)) != 4 || len(f.KillAfter) != 1 || f.Restart <= 0 {
						t.Fatalf("seed %d: power loss %s", seed, f)
					}
				default:
					if len(f.Faulty(4)) != 1 {
						t.Fatalf("seed %d: %s makes %v faulty", seed, f.Kind, f.Faulty(4))
					}
				}
			}
			if end > d {
				t.Fatalf("seed %d: last heal at %s, after the duration %s\n%s", seed, end, d, s)
			}
		}
	}
}

// A run's schedules deal every kind before any kind repeats.
func TestGenerateDealsEveryKind(t *testing.T) {
	p := Params{Nodes: 4, Duration: 40 * time.Second, Kinds: AllKinds}
	var seen []Kind
	for i := 0; len(seen) < len(AllKinds); i++ {
		s, err := Generate(7, i, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range s.Faults {
			seen = append(seen, f.Kind)
		}
	}
	set := map[Kind]bool{}
	for _, k := range seen[:len(AllKinds)] {
		set[k] = true
	}
	if len(set) != len(AllKinds) {
		t.Fatalf("first %d faults %v do not cover every kind", len(AllKinds), seen[:len(AllKinds)])
	}
}

func TestParseKinds(t *testing.T) {
	ks, err := ParseKinds("kill, split,delay")
	if err != nil || !reflect.DeepEqual(ks, []Kind{Kill, Split, Delay}) {
		t.Fatalf("got %v, %v", ks, err)
	}
	if _, err := ParseKinds("kill,meteor"); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

// A schedule has at most one Byzantine validator: a node that lied stays
// graylisted by its peers for minutes, so a second liar would be a second
// faulty node of four.
func TestOneByzantineValidatorPerSchedule(t *testing.T) {
	p := Params{Nodes: 4, Duration: 120 * time.Second, Kinds: AllKinds}
	multi := 0
	for seed := uint64(1); seed <= 50; seed++ {
		for i := range 10 {
			s, err := Generate(seed, i, p)
			if err != nil {
				t.Fatal(err)
			}
			liars := map[int]bool{}
			for _, f := range s.Faults {
				if f.Kind == Byzantine {
					liars[f.Node] = true
				}
			}
			if len(liars) > 1 {
				t.Fatalf("seed %d schedule %d: Byzantine nodes %v\n%s", seed, i, liars, s)
			}
			n := 0
			for _, f := range s.Faults {
				if f.Kind == Byzantine {
					n++
				}
			}
			if n > 1 {
				multi++
			}
		}
	}
	if multi == 0 {
		t.Fatal("no schedule drew two Byzantine faults: the test checks nothing")
	}
}

// Membership schedules (membership.go): every MemberEvery-th schedule
// of a run is one when the duration allows; it is the same for a seed;
// its steps and faults fit the duration, one at a time; the join comes
// first, then the partition of an original node and the kill of the
// joiner anchored at the activation height, and a leave, when drawn,
// never removes the load's grantee and is followed by faults that spare
// the removed node.
func TestGenerateMembership(t *testing.T) {
	for _, d := range []time.Duration{20 * time.Second, 30 * time.Second, 40 * time.Second, 60 * time.Second, 120 * time.Second} {
		p := Params{Nodes: 4, Duration: d, Kinds: AllKinds, MemberEvery: 2}
		leaves, early, killFirst, members := 0, 0, 0, 0
		for seed := uint64(0); seed < 100; seed++ {
			for i := range 4 {
				s, err := Generate(seed, i, p)
				if err != nil {
					t.Fatal(err)
				}
				if again, _ := Generate(seed, i, p); !reflect.DeepEqual(s, again) {
					t.Fatalf("seed %d schedule %d: two schedules:\n%s\n%s", seed, i, s, again)
				}
				want := i%2 == 1 && d >= MinMembershipDuration
				if s.Membership != want {
					t.Fatalf("%s, schedule %d: membership %v, want %v", d, i, s.Membership, want)
				}
				if !s.Membership {
					for _, f := range s.Faults {
						if f.Kind == Join || f.Kind == Leave || f.Anchored || f.Node >= 4 {
							t.Fatalf("seed %d: a fault schedule with %s", seed, f)
						}
					}
					continue
				}
				members++
				checkMembershipSchedule(t, s)
				if s.Faults[0].Early {
					early++
				}
				if s.Faults[1].Node == 4 {
					killFirst++
				}
				for _, f := range s.Faults {
					if f.Kind == Leave {
						leaves++
					}
				}
			}
		}
		if members == 0 {
			continue
		}
		if early == 0 || early == members || killFirst == 0 || killFirst == members {
			t.Fatalf("%s: of %d membership schedules %d start the joiner early, %d kill it first: not both ways", d, members, early, killFirst)
		}
		if d >= 40*time.Second && leaves < members/2 {
			t.Fatalf("%s: only %d of %d membership schedules remove a department", d, leaves, members)
		}
	}
}

func checkMembershipSchedule(t *testing.T, s Schedule) {
	t.Helper()
	fs := s.Faults
	if len(fs) < 3 || fs[0].Kind != Join || fs[0].Node != s.Nodes || fs[0].At != s.Warmup {
		t.Fatalf("membership schedule does not start with the join of n%d after the warm-up:\n%s", s.Nodes, s)
	}
	var part, kill Fault
	for _, f := range fs[1:3] {
		if !f.Anchored {
			t.Fatalf("fault %s after the join is not anchored:\n%s", f, s)
		}
		if f.Node == s.Nodes {
			kill = f
		} else {
			part = f
		}
	}
	if part.Kind != Isolate || part.Node >= s.Nodes || part.Offset < partitionFrom || part.Offset > partitionTo {
		t.Fatalf("no partition of an original node around the activation:\n%s", s)
	}
	if (kill.Kind != Kill && kill.Kind != CommitKill) || kill.Offset < joinerKillFrom || kill.Offset > joinerKillTo {
		t.Fatalf("no kill of the joiner around the activation:\n%s", s)
	}
	members := map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true}
	end := time.Duration(0)
	byz := -1
	for k, f := range fs {
		if f.At < end || f.For <= 0 {
			t.Fatalf("step %d (%s) overlaps the one before (ends %s):\n%s", k, f, end, s)
		}
		end = f.At + f.For
		if k > 0 && f.Anchored != (k <= 2) {
			t.Fatalf("step %d (%s): anchored %v:\n%s", k, f, f.Anchored, s)
		}
		switch f.Kind {
		case Join:
			if k != 0 {
				t.Fatalf("a second join:\n%s", s)
			}
		case Leave:
			if f.Node == loadGrantee || !members[f.Node] {
				t.Fatalf("leave of n%d:\n%s", f.Node, s)
			}
			delete(members, f.Node)
		case Split:
			for _, i := range f.Half {
				if !members[i] {
					t.Fatalf("split %v names n%d, no member:\n%s", f.Half, i, s)
				}
			}
		case PowerLoss:
		default:
			if !members[f.Node] || (f.Kind == Asym && !members[f.Peer]) {
				t.Fatalf("%s hits a node that is no member:\n%s", f, s)
			}
			if f.For < minFault {
				t.Fatalf("%s shorter than %s:\n%s", f, minFault, s)
			}
		}
		if f.Kind == Byzantine {
			if byz >= 0 && f.Node != byz {
				t.Fatalf("two Byzantine validators:\n%s", s)
			}
			byz = f.Node
		}
	}
	if end > s.Duration {
		t.Fatalf("last step ends at %s, after the duration %s:\n%s", end, s.Duration, s)
	}
}

// A run's fault schedules do not change when membership schedules are
// turned off: -membership-every 0 replays a seed drawn before they
// existed; and the membership schedules deal from the same deck.
func TestGenerateMembershipDeck(t *testing.T) {
	off := Params{Nodes: 4, Duration: 40 * time.Second, Kinds: AllKinds}
	on := off
	on.MemberEvery = 2
	a, _ := Generate(5, 0, off)
	b, _ := Generate(5, 0, on)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("schedule 0 differs with membership schedules on:\n%s\n%s", a, b)
	}
	var seen []Kind
	for i := 0; len(seen) < len(AllKinds); i++ {
		s, err := Generate(7, i, on)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range s.Faults {
			if f.Kind != Join && f.Kind != Leave && !f.Anchored {
				seen = append(seen, f.Kind)
			}
		}
	}
	set := map[Kind]bool{}
	for _, k := range seen[:len(AllKinds)] {
		set[k] = true
	}
	if len(set) != len(AllKinds) {
		t.Fatalf("first %d dealt faults %v do not cover every kind", len(AllKinds), seen[:len(AllKinds)])
	}
}
