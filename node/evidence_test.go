package node_test

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// equivocation is a pair of votes by key at (view, height) for two blocks.
func equivocation(t *testing.T, chainID string, key crypto.PrivateKey, view, height uint64) *pb.EquivocationEvidence {
	t.Helper()
	vote := func() *pb.Vote {
		h := make([]byte, crypto.HashSize)
		_, _ = rand.Read(h)
		sig, err := key.Sign(crypto.VoteSignBytes(chainID, view, height, h))
		if err != nil {
			t.Fatal(err)
		}
		return &pb.Vote{View: view, Height: height, BlockHash: h, Voter: 0, Signature: sig}
	}
	return &pb.EquivocationEvidence{VoteA: vote(), VoteB: vote()}
}

// waitEvidence polls the API (QueryState of exec.EvidenceKey) until the
// evidence against dept at (view, height) is recorded.
func waitEvidence(t *testing.T, n *nodetest.Node, dept string, view, height uint64) *pb.EquivocationEvidence {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := n.Client.QueryState(nodetest.Ctx(t), connect.NewRequest(&pb.QueryStateRequest{Key: exec.EvidenceKey(dept, view, height)}))
		if err != nil {
			t.Fatalf("QueryState: %v", err)
		}
		if r.Msg.GetFound() {
			ev := &pb.EquivocationEvidence{}
			if err := proto.Unmarshal(r.Msg.GetValue(), ev); err != nil {
				t.Fatal(err)
			}
			return ev
		}
		if time.Now().After(deadline) {
			t.Fatalf("no evidence against %s at (%d, %d) on chain", dept, view, height)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// evidenceTxs counts the committed SubmitEvidence txs, by signer.
func evidenceTxs(t *testing.T, n *nodetest.Node) map[string]int {
	t.Helper()
	out := map[string]int{}
	top := n.Status(t).GetHeight()
	for h := uint64(1); h <= top; h++ {
		r, err := n.Client.GetBlock(nodetest.Ctx(t), connect.NewRequest(&pb.GetBlockRequest{Height: h}))
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range r.Msg.GetBlock().GetTxs() {
			_, body, err := exec.DecodeTx(tx)
			if err == nil && body.GetSubmitEvidence() != nil {
				out[body.GetSigner()]++
			}
		}
	}
	return out
}

// Issue 9: a validator node puts the equivocations its consensus core finds
// on chain, signed by its validator identity (genesis.ValidatorIdentityID),
// once: evidence already recorded is not submitted again, nor is another
// equivocation of a validator already proven in the epoch (one is enough
// to act on; a liar equivocating at every height would otherwise keep the
// chain busy for ever), and a second submission by someone else is
// refused by the state machine.
func TestEvidenceSubmittedOnce(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	signer := genesis.ValidatorIdentityID(nodetest.Dept)

	ev := equivocation(t, c.ChainID, c.ValidatorKey, 5, 3)
	node.AddEvidence(n.Node, ev)
	got := waitEvidence(t, n, nodetest.Dept, 5, 3)
	a, b := ev.GetVoteA(), ev.GetVoteB()
	if bytes.Compare(a.GetBlockHash(), b.GetBlockHash()) > 0 {
		a, b = b, a // stored in canonical order
	}
	if !proto.Equal(got.GetVoteA(), a) || !proto.Equal(got.GetVoteB(), b) {
		t.Fatalf("recorded evidence %v, want the submitted votes", got)
	}

	// The same evidence again (another detection of it, a restarted
	// driver), and another equivocation of the same validator in the
	// epoch: the node sends neither.
	node.AddEvidence(n.Node, ev)
	node.AddEvidence(n.Node, equivocation(t, c.ChainID, c.ValidatorKey, 6, 4))
	for deadline := time.Now().Add(20 * time.Second); node.EvidenceHandled(n.Node) < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("the pool handled %d pieces of evidence, want 3", node.EvidenceHandled(n.Node))
		}
		time.Sleep(10 * time.Millisecond)
	}
	n.WaitIdle(t)
	if counts := evidenceTxs(t, n); counts[signer] != 1 || len(counts) != 1 {
		t.Fatalf("evidence txs by signer %v, want 1 by %s", counts, signer)
	}
	if r, err := n.Client.QueryState(nodetest.Ctx(t), connect.NewRequest(&pb.QueryStateRequest{Key: exec.EvidenceKey(nodetest.Dept, 6, 4)})); err != nil || r.Msg.GetFound() {
		t.Fatalf("the second equivocation of a proven validator is on chain (%v)", err)
	}

	// Anyone may submit evidence, but the state machine records it once.
	r := n.Commit(t, c.Official.Tx(&pb.TxBody{Action: &pb.TxBody_SubmitEvidence{SubmitEvidence: &pb.SubmitEvidence{Evidence: ev}}}))
	if r.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_ALREADY_EXISTS {
		t.Fatalf("second submission: %v %s, want ALREADY_EXISTS", r.GetResult().GetCode(), r.GetResult().GetReason())
	}
	t.Logf("second submission refused: %s", r.GetResult().GetReason())
}
