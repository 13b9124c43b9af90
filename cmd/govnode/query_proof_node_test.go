package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/exec/exectest"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// A one-validator chain whose department rotates its node key by
// governance (the only change a set of one may make: the consensus key
// stays, so its quorum stays live). While the change is decided and not
// in force, `govnode status` lists it with its activation height; once in
// force, `query identity --prove --genesis` follows the change from the
// genesis set (ARCHITECTURE.md §4, "Proofs across set changes").
func TestProveAcrossValidatorSetChange(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node")
	}
	params := nodetest.FastParams()
	params.ValidatorChangeDelay = 12
	ch := nodetest.NewChain(t, nodetest.Options{ChainID: "prove-sets", Params: params})
	n := ch.Start(t)
	t.Cleanup(func() { _ = n.Stop() })
	gen := filepath.Join(t.TempDir(), "genesis.json")
	if err := genesis.Save(gen, ch.Genesis, false); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(strings.TrimPrefix(n.URL, "http://"), "https://")

	pid := exectest.PeerID("dept0-new-node-key")
	n.CommitOK(t, ch.Admin.Tx(&pb.TxBody{Action: &pb.TxBody_SubmitProposal{SubmitProposal: &pb.SubmitProposal{
		ProposalId: "rotate-node", Title: "rotate dept0's node key", VotingEndHeight: 100_000,
		Change: &pb.SubmitProposal_RotateNodeKey{RotateNodeKey: &pb.RotateNodeKey{DepartmentId: nodetest.Dept, PeerId: pid}},
	}}}))
	r := n.CommitOK(t, ch.Admin.Tx(&pb.TxBody{Action: &pb.TxBody_VoteProposal{VoteProposal: &pb.VoteProposal{ProposalId: "rotate-node", Approve: true}}}))
	eff := r.GetHeight() + params.GetValidatorChangeDelay()

	st := n.Status(t)
	if st.GetHeight()+1 >= eff {
		t.Fatalf("head %d already reaches the change's height %d", st.GetHeight(), eff)
	}
	if ps := st.GetPendingValidatorSets(); len(ps) != 1 || ps[0].GetEffectiveHeight() != eff || ps[0].GetValidators()[0].GetPeerId() != pid {
		t.Fatalf("pending sets %v, want one in force from %d naming %s", ps, eff, pid)
	}
	if st.GetValidators().GetValidators()[0].GetPeerId() != ch.PeerID {
		t.Errorf("validators (the set in force) names %s", st.GetValidators().GetValidators()[0].GetPeerId())
	}
	txt := mustRun(t, nil, "status", "--node", addr).out
	if want := "in force from height " + itoa(int(eff)) + ": rotates the node key of dept0"; !strings.Contains(txt, want) {
		t.Errorf("status text lacks %q:\n%s", want, txt)
	}

	// Before the change: a proof under the genesis set alone.
	m := jsonObject(t, mustRun(t, nil, "query", "identity", ch.Official.ID, "--prove", "--genesis", gen, "--node", addr, "--output", "json").out)
	if pr := m["proof"].(map[string]any); pr["verified"] != true || pr["validator_set_changes"] != float64(0) {
		t.Errorf("proof before the change: %v", pr)
	}

	// Past it (idle: the leader proposes until the change is in force),
	// then a few blocks more so that the head is in the new epoch.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; n.Status(t).GetHeight() < eff+3; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("stuck at height %d, change at %d", n.Status(t).GetHeight(), eff)
		}
		n.Commit(t, ch.Official.Tx(nodetest.CreateRecord("r"+itoa(i), nodetest.BusinessLicense, "citizen0", []byte("x"))))
	}
	st = n.Status(t)
	if len(st.GetPendingValidatorSets()) != 0 || st.GetValidators().GetEffectiveHeight() != eff {
		t.Fatalf("after the change: pending %v, in force from %d", st.GetPendingValidatorSets(), st.GetValidators().GetEffectiveHeight())
	}
	m = jsonObject(t, mustRun(t, nil, "query", "identity", ch.Official.ID, "--prove", "--genesis", gen, "--node", addr, "--output", "json").out)
	pr := m["proof"].(map[string]any)
	if pr["verified"] != true || pr["validator_set_changes"] != float64(1) || pr["validator_set_from"] != float64(eff) {
		t.Errorf("proof across the change: %v", pr)
	}
	txt = mustRun(t, nil, "query", "identity", ch.Official.ID, "--prove", "--genesis", gen, "--node", addr).out
	t.Logf("change decided at %d, in force from %d; head %d; proof: %v", r.GetHeight(), eff, st.GetHeight(), pr)
	if !strings.Contains(txt, "then 1 validator-set change, each proven under the set before (in force from height "+itoa(int(eff))+")") {
		t.Errorf("text: %s", txt)
	}

	// A genesis that is not this chain's: refused.
	other := proto.Clone(ch.Genesis).(*pb.GenesisDoc)
	other.Validators[0].ConsensusKey = exectest.NewKey("someone else").Public()
	bad := filepath.Join(t.TempDir(), "other.json")
	if err := genesis.Save(bad, other, false); err != nil {
		t.Fatal(err)
	}
	if r := run(t, nil, "query", "identity", ch.Official.ID, "--prove", "--genesis", bad, "--node", addr); r.err == nil ||
		!strings.Contains(r.err.Error(), "not proven committed by the validator set in force from 1") {
		t.Errorf("proof against another genesis: %v", r.err)
	}
}
