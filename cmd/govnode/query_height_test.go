package main

// `govnode query record|identity|state --height N` (docs/ARCHITECTURE.md
// §6): the answer is the state after block N as it was then, and with
// --prove its proof is verified against a committed header attesting N,
// anchored to the genesis file.

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/exec/exectest"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func TestQueryAtHeight(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node")
	}
	ch := nodetest.NewChain(t, nodetest.Options{ChainID: "height-cli"})
	n := ch.Start(t)
	t.Cleanup(func() { _ = n.Stop() })
	gen := filepath.Join(t.TempDir(), "genesis.json")
	if err := genesis.Save(gen, ch.Genesis, false); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(n.URL, "http://")
	off := ch.Official
	contents := []string{"one", "two", "three"}
	// A first block, so that the heights before each change are past
	// heights (0 asks for the newest state).
	n.CommitOK(t, off.Tx(nodetest.CreateRecord("rec-other", nodetest.BusinessLicense, "citizen1", []byte("x"))))
	heights := []uint64{n.CommitOK(t, off.Tx(nodetest.CreateRecord("rec-h", nodetest.BusinessLicense, "citizen0", []byte(contents[0])))).GetHeight()}
	suspended := n.CommitOK(t, off.Tx(&pb.TxBody{Action: &pb.TxBody_SetIdentityStatus{SetIdentityStatus: &pb.SetIdentityStatus{
		IdentityId: "citizen1", Status: pb.IdentityStatus_IDENTITY_STATUS_SUSPENDED, Reason: "audit"}}})).GetHeight()
	for v := 1; v < 3; v++ {
		heights = append(heights, n.CommitOK(t, off.Tx(nodetest.AmendRecord("rec-h", uint64(v), []byte(contents[v]), "update"))).GetHeight())
	}
	n.WaitIdle(t)
	query := func(args ...string) []string {
		return append(append([]string{"query"}, args...), "--prove", "--genesis", gen, "--node", addr)
	}

	// Each version's height: the record and versions as they were, the
	// proof verified at exactly that height.
	for i, h := range heights {
		m := jsonObject(t, mustRun(t, nil, append(query("record", "rec-h", "--height", itoa(int(h)), "--versions"), "--output", "json")...).out)
		rec := m["record"].(map[string]any)
		vs := m["versions"].([]any)
		pr := m["proof"].(map[string]any)
		if m["height"] != float64(h) || rec["version"] != float64(i+1) || len(vs) != i+1 {
			t.Fatalf("record at %d: height %v, version %v, %d versions", h, m["height"], rec["version"], len(vs))
		}
		if last := vs[i].(map[string]any); last["content"] != fmt.Sprintf("%x", contents[i]) && last["content_text"] != contents[i] {
			t.Errorf("version %d at %d: %v", i+1, h, last)
		}
		if pr["verified"] != true || pr["state_height"] != float64(h) || pr["present"] != true {
			t.Fatalf("proof at %d: %v", h, pr)
		}
	}
	txt := mustRun(t, nil, query("record", "rec-h", "--height", itoa(int(heights[0])))...).out
	if !strings.Contains(txt, "version: 1\n") || !strings.Contains(txt, fmt.Sprintf("at state height %d;", heights[0])) {
		t.Errorf("text at height %d:\n%s", heights[0], txt)
	}

	// The identity before and at its suspension.
	for _, tc := range []struct {
		h    uint64
		want string
	}{{suspended - 1, "IDENTITY_STATUS_ACTIVE"}, {suspended, "IDENTITY_STATUS_SUSPENDED"}} {
		m := jsonObject(t, mustRun(t, nil, append(query("identity", "citizen1", "--height", itoa(int(tc.h))), "--output", "json")...).out)
		if m["identity"].(map[string]any)["status"] != tc.want || m["proof"].(map[string]any)["state_height"] != float64(tc.h) {
			t.Errorf("identity at %d: %v, want %s", tc.h, m, tc.want)
		}
	}

	// Before the record existed: query record is NotFound; query state
	// proves the absence at that height.
	before := heights[0] - 1
	if r := run(t, nil, query("record", "rec-h", "--height", itoa(int(before)))...); r.err == nil || !strings.Contains(r.err.Error(), fmt.Sprintf("not found at height %d", before)) {
		t.Errorf("record before it existed: %v", r.err)
	}
	m := jsonObject(t, mustRun(t, nil, append(query("state", "rec/rec-h", "--text", "--height", itoa(int(before))), "--output", "json")...).out)
	if pr := m["proof"].(map[string]any); m["found"] != false || pr["verified"] != true || pr["present"] != false || pr["state_height"] != float64(before) {
		t.Errorf("absence at %d: %v", before, m)
	}

	// Refused: in the future, not attested yet, and heights no flag holds.
	st := n.Status(t)
	if r := run(t, nil, query("record", "rec-h", "--height", itoa(int(st.GetHeight()+100)))...); r.err == nil ||
		!strings.Contains(r.err.Error(), "is in the future: the chain is at height") || !strings.Contains(r.err.Error(), "newest state a committed header attests is at height") {
		t.Errorf("a future height: %v", r.err)
	}
	for _, bad := range []string{"-1", "18446744073709551616", "ten", "1e3"} {
		if r := run(t, nil, query("record", "rec-h", "--height", bad)...); r.err == nil || !strings.Contains(r.err.Error(), `"--height" flag`) {
			t.Errorf("--height %s: %v", bad, r.err)
		}
	}
}

// checkAnsweredHeight refuses an answer, or a proof, of another height
// than the one asked: a node cannot pass off the newest state, or a proof
// of it, as the state at a past height.
func TestCheckAnsweredHeight(t *testing.T) {
	prove, plain := &proveFlags{prove: true}, &proveFlags{}
	at := func(h uint64) *pb.StateProof { return &pb.StateProof{StateHeight: h} }
	for _, tc := range []struct {
		name             string
		asked, answered  uint64
		pf               *proveFlags
		p                *pb.StateProof
		wantErr, isProof bool
	}{
		{"no height asked", 0, 9, prove, at(7), false, false},
		{"as asked", 5, 5, prove, at(5), false, false},
		{"as asked, no proof asked", 5, 5, plain, nil, false, false},
		{"answered at another height", 5, 9, plain, nil, true, false},
		{"proof of another height", 5, 5, prove, at(7), true, true},
	} {
		err := checkAnsweredHeight(tc.asked, tc.answered, tc.pf, tc.p)
		if (err != nil) != tc.wantErr || errors.Is(err, ErrProof) != tc.isProof {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// Across a validator-set change (ARCHITECTURE.md §4, "Proofs across set
// changes"): once the new set is in force, a proof at a height before the
// change rests on a header of the genesis set and follows no change; one
// at a height after it follows the change from the genesis set.
func TestQueryAtHeightAcrossValidatorSetChange(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node")
	}
	params := nodetest.FastParams()
	params.ValidatorChangeDelay = 12
	ch := nodetest.NewChain(t, nodetest.Options{ChainID: "height-sets", Params: params})
	n := ch.Start(t)
	t.Cleanup(func() { _ = n.Stop() })
	gen := filepath.Join(t.TempDir(), "genesis.json")
	if err := genesis.Save(gen, ch.Genesis, false); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(n.URL, "http://")

	early := n.CommitOK(t, ch.Official.Tx(nodetest.CreateRecord("rec-early", nodetest.BusinessLicense, "citizen0", []byte("before the change")))).GetHeight()
	n.CommitOK(t, ch.Admin.Tx(&pb.TxBody{Action: &pb.TxBody_SubmitProposal{SubmitProposal: &pb.SubmitProposal{
		ProposalId: "rotate-node", Title: "rotate dept0's node key", VotingEndHeight: 100_000,
		Change: &pb.SubmitProposal_RotateNodeKey{RotateNodeKey: &pb.RotateNodeKey{DepartmentId: nodetest.Dept, PeerId: exectest.PeerID("dept0-height-node-key")}},
	}}}))
	r := n.CommitOK(t, ch.Admin.Tx(&pb.TxBody{Action: &pb.TxBody_VoteProposal{VoteProposal: &pb.VoteProposal{ProposalId: "rotate-node", Approve: true}}}))
	eff := r.GetHeight() + params.GetValidatorChangeDelay()
	var late uint64
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; n.Status(t).GetHeight() < eff+3; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("stuck at height %d, change at %d", n.Status(t).GetHeight(), eff)
		}
		res := n.Commit(t, ch.Official.Tx(nodetest.CreateRecord("r"+itoa(i), nodetest.BusinessLicense, "citizen0", []byte("x"))))
		if res.GetHeight() > eff {
			late = res.GetHeight()
		}
	}
	n.WaitIdle(t)
	if late == 0 {
		t.Fatalf("no record committed after the change at %d", eff)
	}
	for _, tc := range []struct {
		id      string
		h       uint64
		changes float64
		from    float64
	}{{"rec-early", early, 0, 1}, {"rec-early", late, 1, float64(eff)}} {
		m := jsonObject(t, mustRun(t, nil, "query", "record", tc.id, "--height", itoa(int(tc.h)), "--prove", "--genesis", gen, "--node", addr, "--output", "json").out)
		pr := m["proof"].(map[string]any)
		if pr["verified"] != true || pr["state_height"] != float64(tc.h) || pr["validator_set_changes"] != tc.changes || pr["validator_set_from"] != tc.from {
			t.Errorf("proof at %d (change in force from %d): %v", tc.h, eff, pr)
		}
	}
}
