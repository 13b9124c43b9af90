package driver

import (
	"testing"
	"time"
)

// The pacer spaces proposals by PaceFactor times the smoothed commit cost
// per block, at most MaxPace, from the previous proposal; a full mempool,
// the first proposal and pacing off never wait.
func TestPacerWait(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var off pacer
	off.committed(50*time.Millisecond, 1)
	off.proposed(t0)
	if w := off.wait(t0, false); w != 0 {
		t.Fatalf("pacing off waits %s", w)
	}

	p := pacer{max: 20 * time.Millisecond}
	if w := p.wait(t0, false); w != 0 {
		t.Fatalf("before any proposal: waits %s", w)
	}
	p.committed(2*time.Millisecond, 1) // first sample taken as is
	p.proposed(t0)
	if iv := p.interval(); iv != PaceFactor*2*time.Millisecond {
		t.Fatalf("interval %s, want %s", iv, PaceFactor*2*time.Millisecond)
	}
	if w := p.wait(t0.Add(3*time.Millisecond), false); w != 5*time.Millisecond {
		t.Fatalf("3 ms after a proposal: waits %s, want 5ms", w)
	}
	if w := p.wait(t0.Add(3*time.Millisecond), true); w != 0 {
		t.Fatalf("a full block waits %s", w)
	}
	if w := p.wait(t0.Add(9*time.Millisecond), false); w > 0 {
		t.Fatalf("past the interval: waits %s", w)
	}
	if w := p.wait(t0.Add(-time.Hour), false); w != p.interval() {
		t.Fatalf("a clock stepped back an hour: waits %s, want at most the interval %s", w, p.interval())
	}
	// Commits of several blocks count per block; the cost is smoothed.
	p.committed(18*time.Millisecond, 3) // 6 ms a block: 2 + (6-2)/4 = 3 ms
	if p.cost != 3*time.Millisecond {
		t.Fatalf("smoothed cost %s, want 3ms", p.cost)
	}
	// Heavy commits: the interval stops at max.
	for range 20 {
		p.committed(40*time.Millisecond, 1)
	}
	if iv := p.interval(); iv != 20*time.Millisecond {
		t.Fatalf("interval %s under heavy commits, want the 20ms ceiling", iv)
	}
	p.committed(-time.Second, 1)
	p.committed(time.Second, 0)
	if iv := p.interval(); iv != 20*time.Millisecond {
		t.Fatalf("nonsense samples changed the interval to %s", iv)
	}
}
