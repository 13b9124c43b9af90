package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/govnode/govnode/ledger/blockexec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// `tx record create --help` says which flags are required and which record
// types a new chain has; no flag's value name is taken from a backquoted
// command in its help (it printed "--key govnode keys new").
func TestTxHelpNamesRequiredFlagsAndTypes(t *testing.T) {
	out := mustRun(t, nil, "tx", "record", "create", "--help").out
	for _, flag := range []string{"id", "type", "subject", "signer"} {
		re := regexp.MustCompile(`(?m)^\s+--` + flag + ` string .*\(required\)`)
		if !re.MatchString(out) {
			t.Errorf("--%s is not marked required in:\n%s", flag, out)
		}
	}
	if regexp.MustCompile(`(?m)^\s+--holder string .*\(required\)`).MatchString(out) {
		t.Error("--holder, optional, is marked required")
	}
	for _, want := range []string{"--key string", "land_title", "business_license", "birth_certificate"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(mustRun(t, nil, "bench", "--help").out, "--testnet govnode testnet") {
		t.Error("bench --help takes --testnet's value name from its help's backquotes")
	}
}

// start has one genesis flag, --genesis; --genesis-file is init's.
func TestStartHasOneGenesisFlag(t *testing.T) {
	help := mustRun(t, nil, "start", "--help").out
	if !strings.Contains(help, "--genesis string") || strings.Contains(help, "--genesis-file") {
		t.Errorf("start --help: want --genesis only:\n%s", help)
	}
	if r := run(t, nil, "start", "--genesis-file", "g.json"); r.err == nil || !strings.Contains(r.err.Error(), "unknown flag: --genesis-file") {
		t.Errorf("start --genesis-file: %v", r.err)
	}
	if !strings.Contains(mustRun(t, nil, "init", "--help").out, "--genesis-file") {
		t.Error("init lost --genesis-file")
	}
}

// lockedBuffer is a bytes.Buffer a running command writes while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startDev runs `start --dev` in-process until it prints its suggested
// commands, and returns its output and error output then.
func startDev(t *testing.T, home string, extra ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	root := newRootCmd(cliEnv{DefaultHome: filepath.Join(t.TempDir(), "h"), Hostname: "testhost"})
	out, errOut := &lockedBuffer{}, &lockedBuffer{}
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetArgs(append([]string{"start", "--dev", "--home", home, "--memory-limit-mib", "0", "--log-format", "text",
		"--p2p.listen-addrs", "/ip4/127.0.0.1/tcp/0"}, extra...))
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("start --dev: %v\n%s", err, errOut.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("start --dev did not stop")
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "--wait\n") {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("start --dev stopped: %v\n%s", err, errOut.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("start --dev printed no suggestion:\n%s\n%s", out.String(), errOut.String())
		}
	}
	return out.String(), errOut.String()
}

// The development chain's first start: one warning of each kind, the
// addresses the node really serves (flags may move them), and a suggested
// record id that a later start does not repeat.
func TestDevStartSuggestsWhatRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node")
	}
	home := filepath.Join(t.TempDir(), "dev")
	api := freeLoopback(t)
	out, errOut := startDev(t, home, "--api.listen-addr", api)
	all := out + errOut
	for _, w := range []string{"UNENCRYPTED", "tolerates no crashed validator"} {
		if n := strings.Count(all, w); n != 1 {
			t.Errorf("%q printed %d times, want once:\n%s", w, n, all)
		}
	}
	if strings.Contains(all, "26657") {
		t.Errorf("the default API port is named though --api.listen-addr moved it to %s:\n%s", api, all)
	}
	if !strings.Contains(out, "API at "+api) || !strings.Contains(out, "--node "+api) {
		t.Errorf("start --dev does not name the API it serves, %s:\n%s", api, out)
	}
	id := regexp.MustCompile(`--id (rec-[0-9a-f]+) `)
	first := id.FindStringSubmatch(out)
	out2, _ := startDev(t, home, "--api.listen-addr", api)
	second := id.FindStringSubmatch(out2)
	if first == nil || second == nil || first[1] == second[1] {
		t.Errorf("suggested record ids %v then %v: want a fresh id each start", first, second)
	}
}

// schedule-upgrade: its flags, and a bad name refused before any call.
func TestProposeScheduleUpgradeFlags(t *testing.T) {
	help := mustRun(t, nil, "tx", "gov", "propose", "schedule-upgrade", "--help").out
	for _, want := range []string{"--name string", "--halt-height uint", "--info string", "(required)"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	r := run(t, nil, "tx", "gov", "propose", "schedule-upgrade", "--id", "u1", "--voting-end-height", "10", "--name", "Bad Name",
		"--halt-height", "20", "--signer", "dept0-admin", "--key", "/nonexistent", "--node", "127.0.0.1:1")
	if r.err == nil || !strings.Contains(r.err.Error(), `--name "Bad Name"`) {
		t.Errorf("bad name: %v", r.err)
	}
	if v := mustRun(t, nil, "version", "--output", "json").out; !strings.Contains(v, `"upgrades": [`) && !strings.Contains(v, `"upgrades":[`) {
		t.Errorf("version does not list the known upgrades: %s", v)
	}
}

// govnode start exits 0 at an upgrade halt, the planned stop, and only
// there: a ledger past an upgrade the binary does not know is a wrong
// binary, and a halt that came with another failure is a failure.
func TestStartExitsCleanOnlyAtTheHalt(t *testing.T) {
	halt := &blockexec.UpgradeHalt{Plan: &pb.UpgradePlan{Name: "v2", HaltHeight: 9}, Head: 9}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"the halt", halt, true},
		{"the halt through consensus", fmt.Errorf("consensus: execute committed blocks: %w", halt), true},
		{"a binary older than the ledger", fmt.Errorf("%w: the ledger went through upgrade v3", blockexec.ErrBinaryTooOld), false},
		{"the halt and a ledger that failed to close", errors.Join(fmt.Errorf("consensus: %w", halt), errors.New("close ledger: disk full")), false},
		{"the halt's sentinel alone", fmt.Errorf("%w: something", blockexec.ErrUpgradeHalt), false},
		{"another error", errors.New("listen: address in use"), false},
		{"none", nil, false},
	} {
		if got := upgradeHalted(c.err); got != c.want {
			t.Errorf("%s (%v): upgradeHalted %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// The halt's message on stderr carries the plan's info, text from the
// chain: a control character in it (a terminal escape) is quoted, not
// written to the operator's terminal.
func TestUpgradeStopQuotesTheChainsText(t *testing.T) {
	halt := &blockexec.UpgradeHalt{Plan: &pb.UpgradePlan{Name: "v2", HaltHeight: 9, Info: "notes \x1b]0;pwned\x07\x1b[2J"}, Head: 9}
	var errOut bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetErr(&errOut)
	if err := upgradeStop(cmd, halt); err != nil {
		t.Fatal(err)
	}
	if out := errOut.String(); strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, "upgrade v2") {
		t.Fatalf("stderr %q", out)
	}
}
