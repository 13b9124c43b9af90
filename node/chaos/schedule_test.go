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
