package e2e

import (
	"context"
	"fmt"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// loadUntil sends grant txs from every account to the running nodes,
// each waited for until committed, until stop closes; it returns the
// hashes the nodes answered committed. Refusals and errors (a node that
// halted, or is down) are not counted and not fatal.
func (c *cluster) loadUntil(stop <-chan struct{}, nodes []int) func() [][]byte {
	var mu sync.Mutex
	var committed [][]byte
	var wg sync.WaitGroup
	for j, a := range c.accounts() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				node := nodes[(j+k)%len(nodes)]
				tx := c.grantTx(a)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				r, err := c.clients[node].SubmitTx(ctx, connect.NewRequest(&pb.SubmitTxRequest{Tx: tx, WaitForCommit: true, WaitTimeoutMs: 8_000}))
				cancel()
				if err == nil && r.Msg.GetCommitted() && r.Msg.GetResult().GetCode() == pb.ResultCode_RESULT_CODE_OK {
					mu.Lock()
					committed = append(committed, r.Msg.GetTxHash())
					mu.Unlock()
					continue
				}
				// The node halted or is down: its nonce may or may not
				// be used; read it again from a live node, then pause.
				time.Sleep(200 * time.Millisecond)
				c.resyncNonce(a.id)
			}
		}()
	}
	return func() [][]byte {
		wg.Wait()
		return committed
	}
}

// resyncNonce sets the next nonce of signer from any node that answers.
func (c *cluster) resyncNonce(signer string) {
	for i := range c.n {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r, err := c.clients[i].QueryState(ctx, connect.NewRequest(&pb.QueryStateRequest{Key: exec.NonceKey(signer)}))
		cancel()
		if err != nil {
			continue
		}
		var n uint64
		for _, b := range r.Msg.GetValue() {
			n = n<<8 | uint64(b)
		}
		c.mu.Lock()
		c.nonces[signer] = n
		c.mu.Unlock()
		return
	}
}

// A governed upgrade on four processes under load (issue 22 item 7):
// the departments schedule upgrade e2e-v2; every node commits exactly the
// halt height and stops cleanly (exit status 0) naming the upgrade;
// started again, the old binary stops at once; the binary that knows the
// upgrade goes on from there; every tx acknowledged committed before the
// halt is in every node's ledger exactly once, and the load goes on.
func TestGovernedUpgradeUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four node processes")
	}
	newBinary := filepath.Join(t.TempDir(), "govnode-v2")
	build := osexec.Command("go", "build", "-ldflags", "-X main.extraUpgrades=e2e-v2", "-o", newBinary, "github.com/govnode/govnode/cmd/govnode")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the new binary: %v\n%s", err, out)
	}
	c := newCluster(t, 4, "byzantine")
	stop := make(chan struct{})
	wait := c.loadUntil(stop, []int{0, 1, 2, 3})
	var stopped atomic.Bool
	defer func() {
		if !stopped.Load() {
			close(stop)
			wait()
		}
	}()

	// Scheduled by the departments while the load runs.
	admins := c.admins()
	h := c.height(0)
	end, halt := h+40, h+60
	sub := &pb.SubmitProposal{ProposalId: "up-1", Title: "upgrade to e2e-v2", VotingEndHeight: end,
		Change: &pb.SubmitProposal_ScheduleUpgrade{ScheduleUpgrade: &pb.ScheduleUpgrade{Name: "e2e-v2", HaltHeight: halt, Info: "test release"}}}
	c.commitTx(0, c.signed(admins[0].id, admins[0].key, &pb.TxBody{Action: &pb.TxBody_SubmitProposal{SubmitProposal: sub}}))
	for _, k := range []int{0, 1, 2} {
		c.commitTx(0, c.signed(admins[k].id, admins[k].key, &pb.TxBody{Action: &pb.TxBody_VoteProposal{VoteProposal: &pb.VoteProposal{ProposalId: "up-1", Approve: true}}}))
	}
	// Node 1 may be a block behind node 0, which answered the last vote
	// committed: read its status until it has that block.
	var st *pb.StatusResponse
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st, err = c.status(1)
		if (err == nil && st.GetPendingUpgrade() != nil) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || st.GetPendingUpgrade().GetName() != "e2e-v2" || st.GetPendingUpgrade().GetHaltHeight() != halt {
		t.Fatalf("status after the vote: pending upgrade %v (%v)", st.GetPendingUpgrade(), err)
	}
	if st.GetHeight() >= halt {
		t.Fatalf("the chain reached the halt height %d before the plan was decided (at %d): raise the margin", halt, st.GetHeight())
	}

	// Every node stops by itself, cleanly, having committed the halt height.
	for i := range 4 {
		select {
		case <-c.exited[i]:
		case <-time.After(90 * time.Second):
			t.Fatalf("node%d did not stop for the upgrade (height %d):\n%s", i, c.height(i), c.logTail(i))
		}
		if code := c.procs[i].ProcessState.ExitCode(); code != 0 {
			t.Fatalf("node%d exited with %d:\n%s", i, code, c.logTail(i))
		}
		want := fmt.Sprintf("halted for an upgrade e2e-v2 at height %d (committed here: %d)", halt, halt)
		if log := c.logTail(i); !strings.Contains(log, want) || !strings.Contains(log, "test release") {
			t.Fatalf("node%d's log does not say %q:\n%s", i, want, log)
		}
	}
	close(stop)
	stopped.Store(true)
	acked := wait()
	if len(acked) == 0 {
		t.Fatal("no tx committed under load before the halt")
	}

	// The old binary, started again, stops at once with the same words.
	c.start(0)
	select {
	case <-c.exited[0]:
	case <-time.After(30 * time.Second):
		t.Fatalf("the old binary did not stop at the halt height:\n%s", c.logTail(0))
	}
	if code := c.procs[0].ProcessState.ExitCode(); code != 0 || strings.Count(c.logTail(0), "halted for an upgrade e2e-v2") < 2 {
		t.Fatalf("old binary restarted: exit %d\n%s", code, c.logTail(0))
	}

	// The new binary goes on from the halt height, under load again.
	c.opts.binary = newBinary
	for i := range 4 {
		c.start(i)
	}
	for i := range 4 {
		c.waitUp(i)
	}
	// The blocks above the halt that the old binaries certified are in
	// the safety states: the new binary commits them first, and they may
	// hold txs of the accounts, so nonces are read once the chain is idle.
	c.settle(60*time.Second, 0, 1, 2, 3)
	for _, a := range c.accounts() {
		c.resyncNonce(a.id)
	}
	after := c.submitLoad(2, 0, 1, 2, 3)
	for i := range 4 {
		c.waitCommitted(i, after, 60*time.Second)
	}
	top := c.settle(60*time.Second, 0, 1, 2, 3)
	if top <= halt+1 {
		t.Fatalf("the chain stands at %d, the upgrade's halt height is %d", top, halt)
	}
	for i := range 4 {
		ctx, cancel := c.ctx()
		r, err := c.clients[i].QueryState(ctx, connect.NewRequest(&pb.QueryStateRequest{Key: append(exec.UpgradeDonePrefix(), "e2e-v2"...)}))
		cancel()
		p := &pb.UpgradePlan{}
		if err != nil || !r.Msg.GetFound() || proto.Unmarshal(r.Msg.GetValue(), p) != nil || p.GetAppliedHeight() != halt+1 {
			t.Fatalf("node%d: upgrade e2e-v2 applied %v (%v)", i, p, err)
		}
		if st, _ := c.status(i); st.GetPendingUpgrade() != nil {
			t.Fatalf("node%d still shows a pending upgrade: %v", i, st.GetPendingUpgrade())
		}
	}
	_, counts := c.checkAgreement(0, 1, 2, 3)
	exactlyOnce(t, acked, counts)
	exactlyOnce(t, after, counts)
	t.Logf("halted at %d with %d txs committed under load before it; %d after, chain at %d", halt, len(acked), len(after), top)
}
