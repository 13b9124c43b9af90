package lightclient_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	ledgerexec "github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/lightclient"
)

// TestWasmDependencies keeps the verifier buildable for the browser
// (package doc): for GOOS=js GOARCH=wasm its dependency closure holds no
// storage, network, process or cgo package, and it builds.
func TestWasmDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env := []string{"GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0"}
	list := exec.CommandContext(ctx, "go", "list", "-deps", ".")
	list.Env = append(list.Environ(), env...)
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{"github.com/syndtr/goleveldb", "github.com/libp2p", "github.com/multiformats", "connectrpc.com",
		"net", "net/http", "os/exec", "os/signal", "runtime/cgo", "plugin", "cel.dev",
		"github.com/govnode/govnode/ledger/state", "github.com/govnode/govnode/ledger/exec", "github.com/govnode/govnode/ledger/store",
		"github.com/govnode/govnode/node", "github.com/govnode/govnode/p2p", "github.com/govnode/govnode/genesis", "github.com/govnode/govnode/keystore"}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") && f != "github.com/govnode/govnode/ledger/state" {
				t.Errorf("the light client depends on %s (under %s) in a WebAssembly build", dep, f)
			}
		}
	}
	if !bytes.Contains(out, []byte("github.com/govnode/govnode/ledger/state/proof\n")) {
		t.Errorf("the light client no longer checks proofs with ledger/state/proof: is this list still the right one?")
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", t.TempDir()+"/lightclient.wasm", ".")
	build.Env = append(build.Environ(), env...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=js GOARCH=wasm go build: %v\n%s", err, out)
	}
}

// TestKeysMatchStateMachine: the light client's keys are the state
// machine's (keys.go).
func TestKeysMatchStateMachine(t *testing.T) {
	for _, c := range []struct{ got, want []byte }{
		{lightclient.RecordKey("lt-1"), ledgerexec.RecordKey("lt-1")},
		{lightclient.RecordVersionKey("lt-1", 7), ledgerexec.RecordVersionKey("lt-1", 7)},
		{lightclient.AccessEntryKey("lt-1", 12), ledgerexec.AccessEntryKey("lt-1", 12)},
		{lightclient.ValidatorSetKey(20), ledgerexec.ValidatorSetKey(20)},
		{lightclient.AccessCountKey("lt-1"), []byte("accn/lt-1")}, // exec exports no key function for it; its table says so
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("key %q, the state machine's %q", c.got, c.want)
		}
	}
}
