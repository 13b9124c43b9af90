package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scripts/testnet.sh as the README uses it: its usage is the whole comment
// block (it was cut mid-sentence), and `kill K` returns once the process
// is gone, so an immediate `start K` works (it failed with "already
// running").
func TestTestnetScriptKillThenStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node process")
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "testnet.sh"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "net")
	env := append(os.Environ(), "TESTNET_DIR="+dir, "BASE_PORT="+strconv.Itoa(freeBasePort(t, 1)), "GOVNODE="+binary, "ACCOUNTS=1",
		"CRYPTO_SUITE="+e2eSuite.String())
	sh := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	usage, err := sh()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("no verb: exit %v, want 2", err)
	}
	for _, want := range []string{"scripts/testnet.sh leave K", "CRYPTO_SUITE=sm2-sm3 scripts/testnet.sh up 4", "writes plaintext APIs (http) instead. Metrics are plaintext on 127.0.0.1."} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q:\n%s", want, usage)
		}
	}
	if strings.Contains(usage, "set -euo") {
		t.Errorf("usage runs into the script:\n%s", usage)
	}

	if out, err := sh("up", "1"); err != nil {
		t.Fatalf("up 1: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := sh("down"); err != nil {
			t.Errorf("down: %v\n%s", err, out)
		}
	})
	// The network is of $CRYPTO_SUITE, as its node reports.
	api, err := os.ReadFile(filepath.Join(dir, "api.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		CryptoSuite string `json:"crypto_suite"`
	}
	var stOut []byte
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		stOut, err = exec.Command(binary, "status", "--testnet", dir, "--node", strings.TrimSpace(string(api)), "--output", "json").Output()
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || json.Unmarshal(stOut, &st) != nil || st.CryptoSuite != e2eSuite.String() {
		t.Fatalf("status of a CRYPTO_SUITE=%s network: crypto_suite %q (%v)\n%s%s", e2eSuite, st.CryptoSuite, err, stOut, stderrOf(err))
	}
	for i := range 2 {
		if out, err := sh("kill", "0"); err != nil {
			t.Fatalf("kill 0 (round %d): %v\n%s", i, err, out)
		}
		if out, err := sh("start", "0"); err != nil {
			t.Fatalf("start 0 right after kill 0 (round %d): %v\n%s", i, err, out)
		}
	}
	out, err := sh("status")
	if err != nil || !strings.Contains(out, "node0  up") {
		t.Fatalf("status after kill and start: %v\n%s", err, out)
	}

	// A pid file outlives its node (one stopped at an upgrade halt exits
	// by itself) and its pid may be another process's since: that process
	// is not the node, and kill, stop and down never signal it.
	if out, err := sh("stop", "0"); err != nil {
		t.Fatalf("stop 0: %v\n%s", err, out)
	}
	other := exec.Command("sleep", "300")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	if err := os.WriteFile(filepath.Join(dir, "node0.pid"), []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := sh("status"); err != nil || !strings.Contains(out, "node0  down") {
		t.Errorf("status with a stale pid file: %v\n%s", err, out)
	}
	for _, verb := range []string{"kill", "stop"} {
		if out, err := sh(verb, "0"); err == nil || !strings.Contains(out, "not running") {
			t.Errorf("%s 0 with a stale pid file: %v\n%s", verb, err, out)
		}
	}
	if out, err := sh("start", "0"); err != nil {
		t.Fatalf("start 0 over a stale pid file: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "node1.pid"), []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := sh("down"); err != nil {
		t.Fatalf("down: %v\n%s", err, out)
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the process whose pid was in a stale pid file was signalled: %v", err)
	}
}
