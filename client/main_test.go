package client_test

// The runnable examples run against one in-process node (nodetest), started
// in TestMain: a one-validator chain "nodetest" whose genesis names
// dept0-official (a registrar and issuer of every record type) and the
// citizens citizen0 and citizen1.

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/node/nodetest"
)

// The example node: its API address, the genesis file and hash an
// application trusts, and the official's key file (unencrypted).
var (
	nodeAddr        string
	genesisFile     string
	trustedHash     []byte
	officialKeyFile string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tb := &mainTB{}
	defer tb.cleanup()
	chain := nodetest.NewChain(tb, nodetest.Options{ChainID: "nodetest"})
	n := chain.Start(tb)
	nodeAddr = n.APIAddr()
	genesisFile = filepath.Join(tb.TempDir(), "genesis.json")
	if err := genesis.Save(genesisFile, chain.Genesis, false); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	h, err := genesis.Hash(chain.Genesis)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	trustedHash = h
	officialKeyFile = chain.Official.KeyFile
	return m.Run()
}

// mainTB is the testing.TB nodetest needs, outside of any test: TestMain
// starts the node the examples share. A failure panics (TestMain has no
// test to fail); cleanups run when runMain returns.
type mainTB struct {
	testing.TB // nil: only the methods below are called
	cleanups   []func()
}

func (*mainTB) Helper()                   {}
func (*mainTB) Fatal(a ...any)            { panic(fmt.Sprint(a...)) }
func (*mainTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (*mainTB) Errorf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (*mainTB) Logf(f string, a ...any)   {}
func (tb *mainTB) Cleanup(f func())       { tb.cleanups = append(tb.cleanups, f) }
func (tb *mainTB) cleanup() {
	for i := len(tb.cleanups) - 1; i >= 0; i-- {
		tb.cleanups[i]()
	}
}

func (tb *mainTB) TempDir() string {
	d, err := os.MkdirTemp("", "govnode-client-example")
	if err != nil {
		panic(err)
	}
	tb.Cleanup(func() { os.RemoveAll(d) })
	return d
}
