package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ARCHITECTURE.md §3, §4, §7 on a byzantine 4-node network of real processes, in
// phases on one network: load, a killed validator that catches up, and a
// stopped minority of... two of four (no quorum), then recovery.
func TestByzantineFourNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end network test")
	}
	c := newCluster(t, 4, "byzantine")
	all := []int{0, 1, 2, 3}
	var acked [][]byte

	t.Run("load committed exactly once everywhere", func(t *testing.T) {
		c.t = t
		// The test network's memory_limit_mib reached the runtime.
		log, _ := os.ReadFile(filepath.Join(c.dir, "node0.log"))
		if !slices.ContainsFunc(strings.Split(string(log), "\n"), func(l string) bool {
			return strings.Contains(l, `"msg":"memory limit set"`) && strings.Contains(l, `"mib":448`)
		}) {
			t.Fatalf("node0 did not set its memory limit:\n%s", c.logTail(0))
		}
		// 16 accounts × 66 txs = 1,056 txs over all four nodes.
		acked = append(acked, c.submitLoad(66, all...)...)
		if len(acked) < 1000 {
			t.Fatalf("only %d txs acknowledged", len(acked))
		}
		for _, i := range all {
			c.waitCommitted(i, acked, 120*time.Second)
		}
		c.settle(30*time.Second, all...)
		_, counts := c.checkAgreement(all...)
		exactlyOnce(t, acked, counts)
	})

	t.Run("killed validator; the rest go on; it catches up", func(t *testing.T) {
		c.t = t
		c.kill(3, syscall.SIGKILL)
		before := c.height(0)
		more := c.submitLoad(5, 0, 1, 2)
		c.waitCommitted(0, more, 60*time.Second)
		if c.height(0) <= before {
			t.Fatal("no progress with one validator down")
		}
		acked = append(acked, more...)
		c.start(3)
		c.waitUp(3)
		c.waitCommitted(3, more, 60*time.Second)
		if synced := c.metric(3, "govnode_sync_blocks_total"); synced < 1 {
			t.Fatalf("node3 caught up without block sync (%v blocks synced)", synced)
		}
		c.settle(30*time.Second, all...)
		_, counts := c.checkAgreement(all...)
		exactlyOnce(t, acked, counts)
	})

	t.Run("two of four stopped: no commits, no divergence; restarted: progress", func(t *testing.T) {
		c.t = t
		c.kill(2, syscall.SIGTERM)
		c.kill(3, syscall.SIGTERM)
		h0 := c.height(0)
		pending := c.submitLoad(2, 0, 1)
		time.Sleep(4 * time.Second) // a negative check: nothing may commit
		if h := c.height(0); h > h0+2 {
			// Blocks certified before the stop may still finalize; new
			// transactions may not.
			t.Fatalf("height moved from %d to %d without a quorum", h0, h)
		}
		for _, h := range pending {
			if c.committedOn(0, h) {
				t.Fatalf("tx %x committed without a quorum", h)
			}
		}
		c.checkAgreement(0, 1)
		c.start(2)
		c.start(3)
		c.waitUp(2)
		c.waitUp(3)
		for _, i := range all {
			c.waitCommitted(i, pending, 90*time.Second)
		}
		acked = append(acked, pending...)
		c.settle(30*time.Second, all...)
		_, counts := c.checkAgreement(all...)
		exactlyOnce(t, acked, counts)
	})
	for i := range all {
		if !c.running(i) {
			t.Errorf("node%d died outside the schedule", i)
		}
	}
}

// A broken config or genesis stops `govnode start` at once with a message
// naming the problem, and changes nothing on disk.
func TestStartRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	base := freeBasePort(t, 1)
	if out, err := exec.Command(binary, append([]string{"testnet", "--validators", "1", "--out", dir, "--base-port", strconv.Itoa(base)}, testnetSuiteArgs()...)...).CombinedOutput(); err != nil {
		t.Fatalf("testnet: %v\n%s", err, out)
	}
	home := filepath.Join(dir, "node0")
	cfgPath := filepath.Join(home, "config.toml")
	good, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	otherGenesis := filepath.Join(t.TempDir(), "genesis.json")
	if out, err := exec.Command(binary, "genesis", "new", "--chain-id", "other", "--out", otherGenesis).CombinedOutput(); err != nil {
		t.Fatalf("genesis new: %v\n%s", err, out)
	}
	cases := []struct {
		name   string
		config string
		args   []string
		want   string
	}{
		{"unknown key", string(good) + "\nbogus_key = 1\n", nil, "bogus_key"},
		{"broken toml", string(good) + "\n[api\n", nil, "line"},
		{"memory limit too small", string(good), []string{"--memory-limit-mib", "64"}, "memory_limit_mib"},
		{"bad listen address", strings.Replace(string(good), `listen_addr = "127.0.0.1:`, `listen_addr = "nonsense:`, 1), nil, "api.listen_addr"},
		{"missing genesis", string(good), []string{"--genesis", filepath.Join(dir, "nope.json")}, "nope.json"},
		{"genesis without validators", string(good), []string{"--genesis", otherGenesis}, "validators"},
		// A persistent peer that is not a validator in force is skipped
		// with a warning, not refused: governance removes departments
		// while configs stay as they were (TestMembershipBadInputsRefused
		// restarts a member with such a config).
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(cfgPath, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, binary, append([]string{"start", "--home", home}, tc.args...)...).CombinedOutput()
			if err == nil {
				t.Fatalf("start succeeded:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("error does not name %q:\n%s", tc.want, out)
			}
			if _, err := os.Stat(filepath.Join(home, "data", "ledger")); err == nil {
				t.Fatal("a refused start created the ledger")
			}
		})
	}
}

// Crash fault model, 3 nodes: one killed, the other two keep committing.
func TestCrashThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end network test")
	}
	c := newCluster(t, 3, "crash")
	first := c.submitLoad(3, 0, 1, 2)
	c.waitCommitted(0, first, 60*time.Second)
	c.kill(0, syscall.SIGKILL)
	more := c.submitLoad(3, 1, 2)
	c.waitCommitted(1, more, 60*time.Second)
	c.waitCommitted(2, more, 60*time.Second)
	c.settle(30*time.Second, 1, 2)
	_, counts := c.checkAgreement(1, 2)
	exactlyOnce(t, append(first, more...), counts)
}
