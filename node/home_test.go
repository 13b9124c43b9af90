package node_test

// A home whose ledger or consensus safety state went missing after the
// node ran in it is refused at start (it would begin again at height 0, or
// forget the views it voted in, and could vote twice); the operator's
// explicit flag starts it; a new home starts as before.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/node"
	nodehome "github.com/govnode/govnode/node/home"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func TestStartRefusesHomeWithMissingState(t *testing.T) {
	ledger := func(home string) string { return filepath.Join(home, "data", "ledger") }
	safety := func(home string) string { return filepath.Join(home, "data", nodehome.SafetyFile) }
	remove := func(path func(string) string) func(t *testing.T, home string) {
		return func(t *testing.T, home string) {
			if err := os.RemoveAll(path(home)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name string
		// damage is done to the home of a node that ran and stopped;
		// nil starts a new home.
		damage  func(t *testing.T, home string)
		recover bool
		// wantMissing are paths the refusal must name; none: it starts.
		wantMissing []func(string) string
		// live: after starting, the chain commits a new tx.
		live bool
	}{
		{name: "new home starts", live: true},
		{name: "intact home restarts", damage: func(*testing.T, string) {}, live: true},
		{name: "ledger deleted", damage: remove(ledger), wantMissing: []func(string) string{ledger}},
		{name: "ledger emptied", damage: func(t *testing.T, home string) {
			ents, err := os.ReadDir(ledger(home))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				if err := os.RemoveAll(filepath.Join(ledger(home), e.Name())); err != nil {
					t.Fatal(err)
				}
			}
		}, wantMissing: []func(string) string{ledger}},
		{name: "safety state deleted", damage: remove(safety), wantMissing: []func(string) string{safety}},
		{name: "data dir deleted", damage: remove(func(h string) string { return filepath.Join(h, "data") }),
			wantMissing: []func(string) string{ledger, safety}},
		// A lone validator that lost its safety state starts with the
		// flag, but has no QC for its committed head to extend: whether
		// it commits again is the concern of TestRecoverSafetyStateInCluster,
		// where peers supply the QC.
		{name: "safety state deleted, flag given", damage: remove(safety), recover: true},
		{name: "ledger deleted, flag given", damage: remove(ledger), recover: true},
		{name: "home of an older govnode (no marker) restarts", damage: func(t *testing.T, home string) {
			if err := os.Remove(filepath.Join(home, "node_state.json")); err != nil {
				t.Fatal(err)
			}
		}, live: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recoverFlag := false
			c := nodetest.NewChain(t, nodetest.Options{NodeOptions: func(o *node.Options) { o.RecoverMissingState = recoverFlag }})
			if tc.damage != nil {
				n := c.Start(t)
				n.CommitOK(t, c.Official.Tx(nodetest.CreateRecord("lic-before", nodetest.BusinessLicense, "citizen0", []byte("x"))))
				if err := n.Stop(); err != nil {
					t.Fatal(err)
				}
				tc.damage(t, c.Home)
			}
			recoverFlag = tc.recover
			n, err := c.StartErr(t)
			if len(tc.wantMissing) > 0 {
				if err == nil {
					t.Fatal("node started on a home whose state is missing")
				}
				msg := err.Error()
				if !errors.Is(err, node.ErrMissingState) || !strings.Contains(msg, "--recover-missing-state") {
					t.Fatalf("refusal %q is not ErrMissingState naming the flag", msg)
				}
				for _, p := range tc.wantMissing {
					if !strings.Contains(msg, p(c.Home)) {
						t.Errorf("refusal does not name %s: %s", p(c.Home), msg)
					}
				}
				// The refusal created nothing.
				if _, err := os.Stat(tc.wantMissing[0](c.Home)); err == nil && !strings.Contains(tc.name, "emptied") {
					t.Errorf("refused start created %s", tc.wantMissing[0](c.Home))
				}
				return
			}
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			marker := readMarker(t, c.Home)
			if !marker.SafetyState || marker.GenesisHash == "" || marker.DataDir != filepath.Join(c.Home, "data") {
				t.Fatalf("home marker %+v", marker)
			}
			if _, err := os.Stat(safety(c.Home)); err != nil && !tc.recover {
				t.Fatalf("a started validator has no safety state file: %v", err)
			}
			if !tc.live {
				return
			}
			n.CommitOK(t, c.Official.Tx(nodetest.CreateRecord("lic-after", nodetest.BusinessLicense, "citizen1", []byte("x"))))
			if err := n.Stop(); err != nil {
				t.Fatal(err)
			}
			// What the node wrote since makes the home whole again: a
			// start without the flag goes through.
			recoverFlag = false
			if _, err := c.StartErr(t); err != nil {
				t.Fatalf("restart after recovery: %v", err)
			}
		})
	}
}

// A validator that lost its safety state and started with the flag before
// voting again is still refused at the next start without the flag: until
// the driver saves a state, the loss is not repaired.
func TestRecoveryNotRepairedUntilSaved(t *testing.T) {
	recoverFlag := false
	c := nodetest.NewChain(t, nodetest.Options{NodeOptions: func(o *node.Options) { o.RecoverMissingState = recoverFlag }})
	n := c.Start(t)
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(c.Home, "data", nodehome.SafetyFile)); err != nil {
		t.Fatal(err)
	}
	// New with the flag, never run: the driver never saved.
	recoverFlag = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nn, err := c.New(ctx, t, nil)
	if err != nil {
		t.Fatalf("start with the flag: %v", err)
	}
	if err := nn.Close(); err != nil {
		t.Fatal(err)
	}
	recoverFlag = false
	if _, err := c.New(ctx, t, nil); !errors.Is(err, node.ErrMissingState) {
		t.Fatalf("start without the flag after an unfinished recovery: %v, want ErrMissingState", err)
	}
}

// A home that ran another chain, its data dir deleted, starts a node of a
// new chain: the old chain's state is no use to it.
func TestHomeMarkerOfAnotherChain(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(c.Home, "data")); err != nil {
		t.Fatal(err)
	}
	other := proto.Clone(c.Genesis).(*pb.GenesisDoc)
	other.ChainId = "another-chain"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nn, err := c.New(ctx, t, other)
	if err != nil {
		t.Fatalf("new chain in a home whose old chain's data was deleted: %v", err)
	}
	if err := nn.Close(); err != nil {
		t.Fatal(err)
	}
}

type homeMarker struct {
	GenesisHash string `json:"genesis_hash"`
	DataDir     string `json:"data_dir"`
	SafetyState bool   `json:"safety_state"`
}

func readMarker(t *testing.T, home string) homeMarker {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(home, "node_state.json"))
	if err != nil {
		t.Fatalf("home marker: %v", err)
	}
	var m homeMarker
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("home marker: %v", err)
	}
	return m
}

// A validator of a three-node network loses its safety state. Without the
// flag it is refused; with it, it starts, catches up, and votes again: with
// another validator then stopped, the chain commits only if it does.
func TestRecoverSafetyStateInCluster(t *testing.T) {
	recoverFlag := false
	cl := nodetest.NewCluster(t, 3, nodetest.Options{Seed: 15, NodeOptions: func(o *node.Options) { o.RecoverMissingState = recoverFlag }})
	for i := range 3 {
		cl.Nodes[0].Commit(t, cl.Official.Tx(nodetest.CreateRecord(fmt.Sprintf("lic-%d", i), nodetest.BusinessLicense, "citizen0", []byte("x"))))
	}
	lost := cl.Chains[2]
	if err := cl.Nodes[2].Stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(lost.Home, "data", nodehome.SafetyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := lost.StartErr(t); !errors.Is(err, node.ErrMissingState) {
		t.Fatalf("restart without the flag: %v, want ErrMissingState", err)
	}
	recoverFlag = true
	n2, err := lost.StartErr(t)
	recoverFlag = false
	if err != nil {
		t.Fatalf("restart with the flag: %v", err)
	}
	cl.Nodes[2] = n2
	// Commit with all three up until n2 has caught up and saved a state.
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		r := cl.Nodes[0].Commit(t, cl.Official.Tx(nodetest.CreateRecord(fmt.Sprintf("lic-up-%d", i), nodetest.BusinessLicense, "citizen0", []byte("x"))))
		if st := n2.Status(t); st.GetHeight() >= r.GetHeight() {
			if _, err := os.Stat(filepath.Join(lost.Home, "data", nodehome.SafetyFile)); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("recovered node at height %d, network at %d, after 60 s", n2.Status(t).GetHeight(), r.GetHeight())
		}
	}
	// Now a quorum (2 of 3) needs n2's votes.
	if err := cl.Nodes[1].Stop(); err != nil {
		t.Fatal(err)
	}
	r := cl.Nodes[0].Commit(t, cl.Official.Tx(nodetest.CreateRecord("lic-quorum", nodetest.BusinessLicense, "citizen1", []byte("x"))))
	n2.WaitHeight(t, r.GetHeight())
}
