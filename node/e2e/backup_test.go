package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestBackupRestoreIntoNewHome follows docs/DEPLOY.md, "Backups and
// restore", on a 4-validator byzantine network under load: department 3
// stops its node, archives the home without the consensus safety state
// (tar --exclude ./data/safety.state) and starts it again; the chain moves
// on with its votes, so the archive is stale from then on. Its machine is
// then lost (SIGKILL, home deleted). The archive is unpacked into a new
// home at another path: started there as it is, the node refuses (the home
// marker says it voted; its safety state is missing); started with
// --recover-missing-state it catches up by block sync to the same blocks
// and state root as the others, and takes part again: with department 2
// down, every new block needs its vote.
func TestBackupRestoreIntoNewHome(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	c := newCluster(t, 4, "byzantine")
	acked := c.submitLoad(2, 0, 1, 2, 3)
	c.waitCommitted(3, acked, 30*time.Second)

	// The backup: stop, archive the home but its safety state, start.
	c.kill(3, syscall.SIGTERM)
	backup := filepath.Join(t.TempDir(), "dept3-backup.tar.gz")
	tarRun(t, "-C", c.home(3), "--exclude=./data/safety.state", "-czf", backup, ".")
	listing := tarRun(t, "-tzf", backup)
	for _, want := range []string{"./config.toml", "./genesis.json", "./keys/validator.key", "./keys/node.key", "./node_state.json", "./data/ledger/"} {
		if !strings.Contains(listing, want+"\n") {
			t.Fatalf("the backup lacks %s:\n%s", want, listing)
		}
	}
	if strings.Contains(listing, "safety.state") {
		t.Fatalf("the backup holds the safety state:\n%s", listing)
	}
	c.start(3)
	c.waitUp(3)

	// The chain moves on with node 3 voting: the backup is stale now.
	backedUp := c.height(3)
	acked2 := c.submitLoad(2, 0, 1, 2, 3)
	c.waitCommitted(3, acked2, 30*time.Second)
	if h := c.height(3); h <= backedUp {
		t.Fatalf("no block after the backup (height %d, backup at %d)", h, backedUp)
	}

	// The machine is lost.
	c.kill(3, syscall.SIGKILL)
	if err := os.RemoveAll(c.home(3)); err != nil {
		t.Fatal(err)
	}
	acked3 := c.submitLoad(1, 0, 1, 2)
	c.waitCommitted(0, acked3, 30*time.Second)

	// Restored into a new home, at another path.
	restored := filepath.Join(t.TempDir(), "restored", "govnode")
	if err := os.MkdirAll(restored, 0o700); err != nil {
		t.Fatal(err)
	}
	tarRun(t, "-C", restored, "-xzf", backup)

	// As it is, the node refuses: it voted before, and its votes are not
	// in the backup.
	logBefore := len(c.nodeLog(3))
	c.startHome(3, restored)
	select {
	case <-c.exited[3]:
	case <-time.After(30 * time.Second):
		t.Fatalf("the restored node started without --recover-missing-state:\n%s", c.logTail(3))
	}
	if code := c.procs[3].ProcessState.ExitCode(); code == 0 {
		t.Fatalf("the restored node exited 0 without --recover-missing-state:\n%s", c.logTail(3))
	}
	refusal := c.nodeLog(3)[logBefore:]
	t.Logf("the restored node, started as it is:\n%s", refusal)
	for _, want := range []string{"node state missing", "safety state", "--recover-missing-state"} {
		if !strings.Contains(refusal, want) {
			t.Fatalf("the refusal does not say %q:\n%s", want, refusal)
		}
	}
	if _, err := os.Stat(filepath.Join(restored, "data", "safety.state")); err == nil {
		t.Fatal("the refused start created a safety state")
	}

	// With the flag it catches up and agrees with the others.
	c.startHome(3, restored, "--recover-missing-state")
	c.waitUp(3)
	c.waitHeight(c.height(0), 60*time.Second, 3)
	c.settle(60*time.Second, 0, 1, 2, 3)
	if _, err := os.Stat(filepath.Join(restored, "data", "safety.state")); err != nil {
		t.Fatalf("the recovered node keeps no safety state: %v", err)
	}

	// It takes part: with node 2 down, a quorum (3 of 4) needs node 3, so
	// every block holding a tx sent after node 2 died is certified with
	// its signature.
	c.kill(2, syscall.SIGKILL)
	acked4 := c.submitLoad(2, 0, 1, 3)
	c.waitCommitted(0, acked4, 60*time.Second)
	c.waitCommitted(3, acked4, 30*time.Second)
	c.settle(60*time.Second, 0, 1, 3)
	heights := map[uint64]bool{}
	for _, h := range acked4 {
		ctx, cancel := c.ctx()
		r, err := c.clients[0].GetTx(ctx, connect.NewRequest(&pb.GetTxRequest{TxHash: h}))
		cancel()
		if err != nil {
			t.Fatalf("GetTx %x: %v", h, err)
		}
		heights[r.Msg.GetHeight()] = true
	}
	for h := range heights {
		if ids := c.block(0, h).GetSignerIds(); !slices.Contains(ids, "dept3") {
			t.Fatalf("block %d, committed while node2 is down, is certified without the restored validator: signers %v", h, ids)
		}
	}
	_, counts := c.checkAgreement(0, 1, 3)
	exactlyOnce(t, slices.Concat(acked, acked2, acked3, acked4), counts)
}

// tarRun runs tar with args and returns its output.
func tarRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("tar", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tar %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startHome runs node i from home, a home other than the one the network
// wrote for it (a restored copy), with extra flags for `govnode start`;
// its output goes to node<i>.log, as start's does.
func (c *cluster) startHome(i int, home string, extra ...string) {
	c.t.Helper()
	logf, err := os.OpenFile(filepath.Join(c.dir, fmt.Sprintf("node%d.log", i)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(binary, append([]string{"start", "--home", home, "--log-format", "json"}, extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	c.mu.Lock()
	c.procs[i], c.exited[i] = cmd, done
	c.mu.Unlock()
}
