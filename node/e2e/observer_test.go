package e2e

import (
	"syscall"
	"testing"
	"time"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestObserverAdmittedByGovernance: a node outside the consortium (a
// `govnode testnet join` home whose department is never added) is refused
// by every member until an add_observer proposal passes; from that block
// the members admit it with no restart, it catches up by block sync and
// holds the same blocks and state roots, and it never enters the
// validator set. A remove_observer proposal disconnects it again and it
// stops following, while the chain goes on (ARCHITECTURE.md §4: observers
// admitted by governance, exec.Observers, read live).
func TestObserverAdmittedByGovernance(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end network test")
	}
	began := time.Now()
	c := newCluster(t, 4, "crash")
	admins := c.admins()
	load := c.startLoad([]int{0, 1})
	defer load.finish()

	j := c.join(4)
	obs := j.department.GetPeerId()
	c.start(4)
	c.waitUp(4)
	time.Sleep(2 * time.Second)
	if h := c.height(4); h != 0 {
		t.Fatalf("node4, not admitted, is at height %d", h)
	}
	for i := range 4 {
		if c.connectedTo(i, obs) {
			t.Fatalf("node%d is connected to node4 before it is admitted", i)
		}
	}

	added := c.passChange(admins, []int{0, 1, 2}, "observe-audit", &pb.SubmitProposal{
		Change: &pb.SubmitProposal_AddObserver{AddObserver: &pb.AddObserver{PeerId: obs, Name: "National Audit Office"}},
	})
	c.waitHeight(c.height(0)+5, 60*time.Second, 4)
	deadline := time.Now().Add(30 * time.Second)
	for !c.connectedTo(0, obs) {
		if time.Now().After(deadline) {
			t.Fatalf("node0 is not connected to the observer 30 s after its admission at %d", added)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i := range 5 {
		if ids := c.validatorIDs(i); len(ids) != 4 {
			t.Fatalf("node%d: validators %v after an observer was admitted", i, ids)
		}
	}
	t.Logf("observer admitted at %d; node4 at %d", added, c.height(4))

	// Removed, it is disconnected and falls behind; the chain goes on.
	removed := c.passChange(admins, []int{0, 1, 2}, "unobserve-audit", &pb.SubmitProposal{
		Change: &pb.SubmitProposal_RemoveObserver{RemoveObserver: &pb.RemoveObserver{PeerId: obs}},
	})
	deadline = time.Now().Add(30 * time.Second)
	for {
		connected := false
		for i := range 4 {
			connected = connected || c.connectedTo(i, obs)
		}
		if !connected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a member is still connected to the observer 30 s after its removal at %d", removed)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A lagging observer may still execute the blocks it received before
	// the members closed its connections (up to about the removal, which
	// it was entitled to); past that it gets nothing more.
	h4 := max(c.height(4), removed)
	c.waitHeight(c.height(0)+20, 60*time.Second, 0)
	if h := c.height(4); h > h4+2 {
		t.Fatalf("node4 went from %d to %d after its removal as an observer at %d", h4, h, removed)
	}

	// What it synced while admitted is the members' chain: the same
	// blocks and state roots up to its height.
	if top, _ := c.checkAgreement(0, 4); top < added {
		t.Fatalf("node4 compared up to %d, below its admission at %d", top, added)
	}
	c.kill(4, syscall.SIGTERM)
	acked := load.finish()
	load.noStall(t)
	for i := range 4 {
		c.waitCommitted(i, acked, 60*time.Second)
	}
	c.settle(30*time.Second, 0, 1, 2, 3)
	_, counts := c.checkAgreement(0, 1, 2, 3)
	exactlyOnce(t, acked, counts)
	t.Logf("observer added at %d, removed at %d; it stopped at %d; %d txs; %s", added, removed, h4, len(acked), time.Since(began).Round(time.Millisecond))
}
