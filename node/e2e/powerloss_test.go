package e2e

import (
	"bytes"
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Power loss: every validator of a network is SIGKILLed at the same
// moment while clients wait for commits, and restarted. A validator's
// safety state (synced before it speaks) may then hold a QC for blocks its
// ledger never stored, and no peer holds them either: recovery must come
// from each node's own disk. Every transaction acknowledged as committed
// before the cut must be committed afterwards, exactly once, on every
// node, and the network must go on committing. The lone validator of a
// --dev chain is the extreme case (it has no peer at all); it used to
// stall for good after such a kill.

func TestPowerLossLoneValidator(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end network test")
	}
	powerLoss(t, 1, "crash", 3)
}

func TestPowerLossWholeNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end network test")
	}
	powerLoss(t, 4, "byzantine", 2)
}

// powerLoss runs rounds of: load through every node with
// wait_for_commit, SIGKILL of every node at once under that load, restart
// of every node, and the checks above. Each round's load uses accounts no
// earlier round used, so a tx lost from a mempool by the kill (never
// acknowledged) leaves no nonce gap behind.
func powerLoss(t *testing.T, n int, model string, rounds int) {
	c := newCluster(t, n, model)
	accts := c.accounts()
	per := len(accts) / (rounds + 1)
	nodes := make([]int, n)
	for i := range nodes {
		nodes[i] = i
	}
	var acked [][]byte
	for round := range rounds {
		ctx, stop := context.WithCancel(context.Background())
		load := c.commitLoad(ctx, accts[round*per:(round+1)*per], nodes)
		// Let commits flow, then cut the power mid-stream.
		deadline := time.Now().Add(30 * time.Second)
		for len(load.acked()) < 20 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if len(load.acked()) < 20 {
			t.Fatalf("round %d: only %d txs committed before the cut", round, len(load.acked()))
		}
		c.killAll()
		stop()
		load.wait()
		got := load.acked()
		t.Logf("round %d: %d txs acknowledged as committed before the power cut", round, len(got))
		acked = append(acked, got...)
		for i := range n {
			c.start(i)
		}
		for i := range n {
			c.waitUp(i)
		}
		if n > 1 {
			c.waitMeshed(60*time.Second, n-1)
		}
		// Nothing acknowledged was lost, on any node.
		for i := range n {
			c.waitCommitted(i, acked, 60*time.Second)
		}
	}
	// The network goes on: new txs commit everywhere.
	after := c.submitFrom(accts[rounds*per:], 3, nodes)
	for i := range n {
		c.waitCommitted(i, after, 60*time.Second)
	}
	c.settle(30*time.Second, nodes...)
	_, counts := c.checkAgreement(nodes...)
	exactlyOnce(t, append(acked, after...), counts)
}

// loadRun is a client load in the background.
type loadRun struct {
	mu   sync.Mutex
	hash [][]byte
	wg   sync.WaitGroup
}

func (l *loadRun) acked() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][]byte(nil), l.hash...)
}

func (l *loadRun) wait() { l.wg.Wait() }

// commitLoad sends txs from each account, one at a time, to the nodes in
// turn, each waiting for its commit, until ctx ends or a submission fails
// (its node went down). It keeps the hashes the node answered committed
// with an OK result: the acknowledged ones.
func (c *cluster) commitLoad(ctx context.Context, accts []account, nodes []int) *loadRun {
	l := &loadRun{}
	for j, a := range accts {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			node := nodes[j%len(nodes)]
			for ctx.Err() == nil {
				tx := c.grantTx(a)
				rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				resp, err := c.clients[node].SubmitTx(rctx, connect.NewRequest(&pb.SubmitTxRequest{Tx: tx, WaitForCommit: true, WaitTimeoutMs: 10000}))
				cancel()
				if err != nil {
					return
				}
				if resp.Msg.GetCommitted() && resp.Msg.GetResult().GetCode() == pb.ResultCode_RESULT_CODE_OK {
					l.mu.Lock()
					l.hash = append(l.hash, resp.Msg.GetTxHash())
					l.mu.Unlock()
				}
			}
		}()
	}
	return l
}

// submitFrom sends perAccount txs from each of accts (each account's in
// nonce order, to the nodes in turn) and returns their hashes.
func (c *cluster) submitFrom(accts []account, perAccount int, nodes []int) [][]byte {
	c.t.Helper()
	var out [][]byte
	for k := range perAccount {
		for j, a := range accts {
			tx := c.grantTx(a)
			node := nodes[(j+k)%len(nodes)]
			ctx, cancel := c.ctx()
			resp, err := c.clients[node].SubmitTx(ctx, connect.NewRequest(&pb.SubmitTxRequest{Tx: tx}))
			cancel()
			if err != nil {
				c.t.Fatalf("submit to node%d: %v", node, err)
			}
			if !bytes.Equal(resp.Msg.GetTxHash(), c.suite.Hash(tx)) {
				c.t.Fatal("SubmitTx returned another hash")
			}
			out = append(out, resp.Msg.GetTxHash())
		}
	}
	return out
}

// killAll SIGKILLs every running node at once (no node sees another stop
// first) and waits for them all to exit.
func (c *cluster) killAll() {
	c.t.Helper()
	c.mu.Lock()
	procs, exited := append(c.procs[:0:0], c.procs...), append(c.exited[:0:0], c.exited...)
	c.mu.Unlock()
	for _, p := range procs {
		if p != nil {
			_ = p.Process.Signal(syscall.SIGKILL)
		}
	}
	for i, done := range exited {
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			c.t.Fatalf("node%d did not exit on SIGKILL", i)
		}
	}
}
