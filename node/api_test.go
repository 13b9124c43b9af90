package node_test

// The API of ARCHITECTURE.md §6 driven through the Connect client of a running
// one-validator node: every RPC's good path and its refusals with their
// codes, state proofs checked as a light client would, the event stream,
// and /metrics on the API port.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

var ctxOf = nodetest.Ctx

func req[T any](m *T) *connect.Request[T] { return connect.NewRequest(m) }

func TestSubmitTxCommits(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)

	// Plain submit: the hash comes back at once and the tx commits later.
	tx := c.Official.Tx(nodetest.CreateRecord("lic-1", nodetest.BusinessLicense, "citizen0", []byte("licence one")))
	resp, err := n.Client.SubmitTx(ctxOf(t), req(&pb.SubmitTxRequest{Tx: tx}))
	if err != nil {
		t.Fatalf("SubmitTx: %v", err)
	}
	if !bytes.Equal(resp.Msg.GetTxHash(), crypto.Ed25519SHA256.Hash(tx)) {
		t.Fatalf("tx hash %x, want sha256 of the tx %x", resp.Msg.GetTxHash(), crypto.Ed25519SHA256.Hash(tx))
	}
	if resp.Msg.GetCommitted() || resp.Msg.GetResult() != nil {
		t.Fatalf("a submit without wait_for_commit reports a commit: %v", resp.Msg)
	}
	waitCommitted(t, n, resp.Msg.GetTxHash())

	// wait_for_commit: the answer carries the committed result.
	tx = c.Official.Tx(nodetest.CreateRecord("lic-2", nodetest.BusinessLicense, "citizen1", []byte("licence two")))
	r := n.CommitOK(t, tx)
	if r.GetHeight() == 0 || !bytes.Equal(r.GetResult().GetTxHash(), crypto.Ed25519SHA256.Hash(tx)) || len(r.GetResult().GetEvents()) == 0 {
		t.Fatalf("committed result incomplete: %v", r)
	}
	got, err := n.Client.GetTx(ctxOf(t), req(&pb.GetTxRequest{TxHash: r.GetTxHash()}))
	if err != nil {
		t.Fatalf("GetTx: %v", err)
	}
	if got.Msg.GetHeight() != r.GetHeight() || !proto.Equal(got.Msg.GetResult(), r.GetResult()) {
		t.Fatalf("GetTx %v disagrees with SubmitTx %v", got.Msg, r)
	}
}

func waitCommitted(t *testing.T, n *nodetest.Node, hash []byte) *pb.GetTxResponse {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := n.Client.GetTx(ctxOf(t), req(&pb.GetTxRequest{TxHash: hash}))
		if err == nil && !resp.Msg.GetPending() {
			return resp.Msg
		}
		if err != nil && connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("GetTx: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("tx %x not committed within 20s", hash)
		}
		pause()
	}
}

// fillGap commits txs of a with nonces [from, to), so that a tx waiting
// behind them is released, and leaves a's last nonce at to.
func fillGap(t *testing.T, n *nodetest.Node, a *nodetest.Account, from, to uint64) {
	t.Helper()
	for x := from; x < to; x++ {
		n.CommitOK(t, a.Tx(&pb.TxBody{Nonce: x, Action: nodetest.GrantTypeAccess(fmt.Sprintf("fill-%s-%d", a.ID, x), nodetest.Dept, nodetest.BusinessLicense, math.MaxInt32).Action}))
	}
	a.SetLastNonce(to)
}

// pause spaces the polls of deadline-bounded loops.
func pause() { time.Sleep(5 * time.Millisecond) }

func TestSubmitTxRefusals(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	off, cit0, cit1 := c.Official, c.Citizens[0], c.Citizens[1]
	n.CommitOK(t, off.Tx(nodetest.CreateRecord("title-1", nodetest.LandTitle, "citizen0", []byte("plot 7"))))

	submit := func(tx []byte) error {
		_, err := n.Client.SubmitTx(ctxOf(t), req(&pb.SubmitTxRequest{Tx: tx}))
		return err
	}

	t.Run("duplicate pending tx is AlreadyExists", func(t *testing.T) {
		// A tx one nonce ahead waits in the mempool for the gap to fill.
		next := cit1.NextNonce()
		gapped := cit1.Tx(&pb.TxBody{Nonce: next + 1, Action: nodetest.GrantTypeAccess("g-gap", nodetest.Dept, nodetest.BusinessLicense, math.MaxInt32).Action})
		if err := submit(gapped); err != nil {
			t.Fatalf("gapped tx: %v", err)
		}
		nodetest.WantCode(t, submit(gapped), connect.CodeAlreadyExists)
		p, err := n.Client.GetTx(ctxOf(t), req(&pb.GetTxRequest{TxHash: crypto.Ed25519SHA256.Hash(gapped)}))
		if err != nil || !p.Msg.GetPending() || !bytes.Equal(p.Msg.GetTx(), gapped) {
			t.Fatalf("GetTx of a pending tx: %v, %v", p, err)
		}
		// Fill the gap: both commit, in nonce order.
		n.CommitOK(t, cit1.Tx(&pb.TxBody{Nonce: next, Action: nodetest.GrantTypeAccess("g-fill", nodetest.Dept, nodetest.BusinessLicense, math.MaxInt32).Action}))
		cit1.SetLastNonce(next + 1)
		if res := waitCommitted(t, n, crypto.Ed25519SHA256.Hash(gapped)); res.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_OK {
			t.Fatalf("gapped tx committed with %v", res.GetResult())
		}
	})

	t.Run("stale nonce is FailedPrecondition", func(t *testing.T) {
		used := off.NextNonce() - 1
		tx := off.Tx(&pb.TxBody{Nonce: used, Action: nodetest.CreateRecord("stale", nodetest.BusinessLicense, "citizen0", []byte("x")).Action})
		err := submit(tx)
		nodetest.WantCode(t, err, connect.CodeFailedPrecondition)
		if !strings.Contains(err.Error(), "nonce") {
			t.Fatalf("message does not name the nonce: %v", err)
		}
	})

	t.Run("replayed committed tx is FailedPrecondition", func(t *testing.T) {
		tx := off.Tx(nodetest.CreateRecord("once", nodetest.BusinessLicense, "citizen0", []byte("x")))
		n.CommitOK(t, tx)
		nodetest.WantCode(t, submit(tx), connect.CodeFailedPrecondition)
	})

	t.Run("bad signature is Unauthenticated", func(t *testing.T) {
		tx := off.Tx(&pb.TxBody{Nonce: off.NextNonce(), Action: nodetest.CreateRecord("badsig", nodetest.BusinessLicense, "citizen0", []byte("x")).Action})
		stx := &pb.SignedTx{}
		if err := proto.Unmarshal(tx, stx); err != nil {
			t.Fatal(err)
		}
		stx.Signature[0] ^= 1
		bad, _ := proto.Marshal(stx)
		nodetest.WantCode(t, submit(bad), connect.CodeUnauthenticated)
	})

	t.Run("official-only action by a citizen is PermissionDenied before any block", func(t *testing.T) {
		before := n.Status(t)
		nonce := cit0.NextNonce()
		tx := cit0.Tx(&pb.TxBody{Nonce: nonce, Action: nodetest.CreateRecord("forged", nodetest.BusinessLicense, "citizen0", []byte("x")).Action})
		nodetest.WantCode(t, submit(tx), connect.CodePermissionDenied)
		if _, err := n.Client.QueryRecord(ctxOf(t), req(&pb.QueryRecordRequest{RecordId: "forged"})); connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("refused record exists: %v", err)
		}
		if st := n.Status(t); st.GetMempoolTxs() != before.GetMempoolTxs() {
			t.Fatalf("refused tx entered the mempool")
		}
		// The refusal consumed nothing: the same nonce still works.
		n.CommitOK(t, cit0.Tx(&pb.TxBody{Nonce: nonce, Action: nodetest.GrantTypeAccess("g0", nodetest.Dept, nodetest.BusinessLicense, math.MaxInt32).Action}))
		cit0.SetLastNonce(nonce)
	})

	t.Run("action refused by state is committed as a failed result", func(t *testing.T) {
		// citizen1 grants access to citizen0's record: the pre-check cannot
		// know the record's subject, so the tx commits and fails, and its
		// nonce is used up (ARCHITECTURE.md §5 nonce policy).
		body := &pb.TxBody{Action: &pb.TxBody_GrantAccess{GrantAccess: &pb.GrantAccess{
			GrantId: "g-steal", GranteeDepartmentId: nodetest.Dept, RecordId: "title-1", Purpose: "steal", ValidUntil: math.MaxInt32,
		}}}
		r := n.Commit(t, cit1.Tx(body))
		if r.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_UNAUTHORIZED || r.GetResult().GetReason() == "" {
			t.Fatalf("want a committed UNAUTHORIZED result with a reason, got %v", r.GetResult())
		}
		if len(r.GetResult().GetEvents()) != 0 {
			t.Fatalf("a failed action emitted events: %v", r.GetResult().GetEvents())
		}
		st, err := n.Client.QueryState(ctxOf(t), req(&pb.QueryStateRequest{Key: exec.GrantKey("g-steal")}))
		if err != nil || st.Msg.GetFound() {
			t.Fatalf("failed action wrote its grant: %v %v", st, err)
		}
	})

	t.Run("wait_for_commit that times out is DeadlineExceeded and the tx stays pending", func(t *testing.T) {
		next := cit0.NextNonce()
		tx := cit0.Tx(&pb.TxBody{Nonce: next + 1, Action: nodetest.GrantTypeAccess("g-late", nodetest.Dept, nodetest.BusinessLicense, math.MaxInt32).Action})
		_, err := n.Client.SubmitTx(ctxOf(t), req(&pb.SubmitTxRequest{Tx: tx, WaitForCommit: true, WaitTimeoutMs: 50}))
		nodetest.WantCode(t, err, connect.CodeDeadlineExceeded)
		p, err := n.Client.GetTx(ctxOf(t), req(&pb.GetTxRequest{TxHash: crypto.Ed25519SHA256.Hash(tx)}))
		if err != nil || !p.Msg.GetPending() {
			t.Fatalf("tx not pending after the wait timed out: %v %v", p, err)
		}
		fillGap(t, n, cit0, next, next+1)
		waitCommitted(t, n, crypto.Ed25519SHA256.Hash(tx))
	})

	t.Run("empty tx is InvalidArgument", func(t *testing.T) {
		nodetest.WantCode(t, submit(nil), connect.CodeInvalidArgument)
	})
}

// TestSubmitTxHugeWaitTimeout: wait_timeout_ms is capped by the server
// (api.proto), so the largest value must wait the cap, not overflow
// time.Duration into a negative wait that fails at once.
func TestSubmitTxHugeWaitTimeout(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	for _, ms := range []uint64{math.MaxUint64, math.MaxInt64, 1 << 54} {
		tx := c.Official.Tx(nodetest.CreateRecord(fmt.Sprintf("wait-%d", ms%1000), nodetest.BusinessLicense, "citizen0", []byte("x")))
		resp, err := n.Client.SubmitTx(ctxOf(t), req(&pb.SubmitTxRequest{Tx: tx, WaitForCommit: true, WaitTimeoutMs: ms}))
		if err != nil {
			t.Errorf("wait_timeout_ms=%d: %v (the tx was admitted; the wait overflowed)", ms, err)
			waitCommitted(t, n, crypto.Ed25519SHA256.Hash(tx))
			continue
		}
		if !resp.Msg.GetCommitted() {
			t.Errorf("wait_timeout_ms=%d: not committed", ms)
		}
	}
}

func TestGetTx(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	tx := c.Official.Tx(nodetest.CreateRecord("lic", nodetest.BusinessLicense, "citizen0", []byte("x")))
	r := n.CommitOK(t, tx)

	got, err := n.Client.GetTx(ctxOf(t), req(&pb.GetTxRequest{TxHash: r.GetTxHash()}))
	if err != nil {
		t.Fatalf("GetTx: %v", err)
	}
	m := got.Msg
	if !bytes.Equal(m.GetTx(), tx) || m.GetPending() || m.GetHeight() != r.GetHeight() || m.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_OK {
		t.Fatalf("GetTx of a committed tx: %v", m)
	}
	blk, err := n.Client.GetBlock(ctxOf(t), req(&pb.GetBlockRequest{Height: m.GetHeight()}))
	if err != nil {
		t.Fatal(err)
	}
	if txs := blk.Msg.GetBlock().GetTxs(); int(m.GetIndex()) >= len(txs) || !bytes.Equal(txs[m.GetIndex()], tx) {
		t.Fatalf("block %d has not the tx at index %d", m.GetHeight(), m.GetIndex())
	}

	// Pending: a nonce gap keeps the tx in the mempool.
	pending := c.Citizens[0].Tx(&pb.TxBody{Nonce: 3, Action: nodetest.GrantTypeAccess("g", nodetest.Dept, nodetest.BusinessLicense, math.MaxInt32).Action})
	if _, err := n.Client.SubmitTx(ctxOf(t), req(&pb.SubmitTxRequest{Tx: pending})); err != nil {
		t.Fatal(err)
	}
	p, err := n.Client.GetTx(ctxOf(t), req(&pb.GetTxRequest{TxHash: crypto.Ed25519SHA256.Hash(pending)}))
	if err != nil || !p.Msg.GetPending() || !bytes.Equal(p.Msg.GetTx(), pending) || p.Msg.GetHeight() != 0 || p.Msg.GetResult() != nil {
		t.Fatalf("GetTx of a pending tx: %v %v", p, err)
	}

	fillGap(t, n, c.Citizens[0], 1, 3)
	waitCommitted(t, n, crypto.Ed25519SHA256.Hash(pending))

	_, err = n.Client.GetTx(ctxOf(t), req(&pb.GetTxRequest{TxHash: crypto.Ed25519SHA256.Hash([]byte("no such tx"))}))
	nodetest.WantCode(t, err, connect.CodeNotFound)
	for _, l := range []int{0, 1, 31, 33, 1024} {
		_, err = n.Client.GetTx(ctxOf(t), req(&pb.GetTxRequest{TxHash: make([]byte, l)}))
		nodetest.WantCode(t, err, connect.CodeInvalidArgument)
	}
}

func TestGetBlock(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	// Before any block: latest and 1 are not there yet.
	_, err := n.Client.GetBlock(ctxOf(t), req(&pb.GetBlockRequest{Height: 1}))
	nodetest.WantCode(t, err, connect.CodeNotFound)

	for i := range 3 {
		n.CommitOK(t, c.Official.Tx(nodetest.CreateRecord(fmt.Sprintf("lic-%d", i), nodetest.BusinessLicense, "citizen0", []byte("x"))))
	}
	st := n.WaitIdle(t)
	cfg := nodetest.ConsensusConfig(st)
	head := st.GetHeight()

	blocks := map[uint64]*pb.GetBlockResponse{}
	for h := uint64(1); h <= head; h++ {
		b, err := n.Client.GetBlock(ctxOf(t), req(&pb.GetBlockRequest{Height: h}))
		if err != nil {
			t.Fatalf("GetBlock(%d): %v", h, err)
		}
		if b.Msg.GetHeight() != h {
			t.Fatalf("GetBlock(%d) answered height %d", h, b.Msg.GetHeight())
		}
		blocks[h] = b.Msg
	}
	var prev []byte = st.GetGenesisHash()
	for h := uint64(1); h <= head; h++ {
		b := blocks[h]
		if !bytes.Equal(b.GetHeader().GetParentHash(), prev) {
			t.Fatalf("block %d does not extend block %d", h, h-1)
		}
		prev = b.GetHash()
		var chain [][]byte
		for x := h + 1; x <= b.GetCert().GetHeight(); x++ {
			chain = append(chain, blocks[x].GetBlock().GetHeader())
		}
		nodetest.VerifyBlock(t, cfg, b, chain)
	}

	latest, err := n.Client.GetBlock(ctxOf(t), req(&pb.GetBlockRequest{Latest: true}))
	if err != nil {
		t.Fatal(err)
	}
	if latest.Msg.GetHeight() != head || !bytes.Equal(latest.Msg.GetHash(), st.GetLastBlockHash()) {
		t.Fatalf("latest block %d %x, status says %d %x", latest.Msg.GetHeight(), latest.Msg.GetHash(), head, st.GetLastBlockHash())
	}
	_, err = n.Client.GetBlock(ctxOf(t), req(&pb.GetBlockRequest{Height: 0}))
	nodetest.WantCode(t, err, connect.CodeInvalidArgument)
	for _, h := range []uint64{head + 1, head + 1000, math.MaxUint64} {
		_, err = n.Client.GetBlock(ctxOf(t), req(&pb.GetBlockRequest{Height: h}))
		nodetest.WantCode(t, err, connect.CodeNotFound)
	}
}

func TestStatus(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{ChainID: "status-chain"})
	n := c.Start(t)
	st0 := n.Status(t)
	if st0.GetChainId() != "status-chain" || st0.GetHeight() != 0 || len(st0.GetLastBlockHash()) != 0 || len(st0.GetStateRoot()) != 32 {
		t.Fatalf("status at genesis: %v", st0)
	}
	if st0.GetValidatorIndex() != 0 || st0.GetFaultModel() != "crash" || len(st0.GetGenesisHash()) != 32 ||
		st0.GetNodeId() != c.PeerID || len(st0.GetValidators().GetValidators()) != 1 {
		t.Fatalf("status identity fields: %v", st0)
	}

	n.CommitOK(t, c.Official.Tx(nodetest.CreateRecord("lic", nodetest.BusinessLicense, "citizen0", []byte("x"))))
	st := n.WaitIdle(t)
	if st.GetHeight() == 0 || bytes.Equal(st.GetStateRoot(), st0.GetStateRoot()) {
		t.Fatalf("status did not move with the commit: %v", st)
	}
	b, err := n.Client.GetBlock(ctxOf(t), req(&pb.GetBlockRequest{Height: st.GetHeight()}))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Msg.GetHash(), st.GetLastBlockHash()) {
		t.Fatalf("last_block_hash %x, GetBlock(%d) hash %x", st.GetLastBlockHash(), st.GetHeight(), b.Msg.GetHash())
	}
	// An idle chain's head is an empty block that attests the state of the
	// block before it; empty blocks change no state, so that attested root
	// is the state root Status reports.
	if hdr := b.Msg.GetHeader(); len(b.Msg.GetBlock().GetTxs()) == 0 && !bytes.Equal(hdr.GetStateRoot(), st.GetStateRoot()) {
		t.Fatalf("idle head attests root %x at %d, status root %x at %d", hdr.GetStateRoot(), hdr.GetStateHeight(), st.GetStateRoot(), st.GetHeight())
	}
	// Same answer over JSON.
	js, err := n.JSON.Status(ctxOf(t), req(&pb.StatusRequest{}))
	if err != nil || js.Msg.GetHeight() != st.GetHeight() || !bytes.Equal(js.Msg.GetStateRoot(), st.GetStateRoot()) {
		t.Fatalf("JSON Status %v, %v", js, err)
	}
}

// queryChain is a node with one of each object: a record amended once and
// accessed once, a contract, a proposal.
func queryChain(t *testing.T) (*nodetest.Chain, *nodetest.Node) {
	t.Helper()
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	off := c.Official
	n.CommitOK(t, off.Tx(nodetest.CreateRecord("lic-1", nodetest.BusinessLicense, "citizen0", []byte("<b>v1</b>"))))
	n.CommitOK(t, off.Tx(nodetest.AmendRecord("lic-1", 1, []byte("<b>v2</b>"), "renewal")))
	n.CommitOK(t, off.Tx(nodetest.AmendRecord("lic-1", 2, []byte("<i>third</i> version, longer than the others"), "correction")))
	n.CommitOK(t, off.Tx(nodetest.AccessRecord("lic-1", "inspection", "law 1")))
	n.CommitOK(t, off.Tx(nodetest.AccessRecord("lic-1", "audit of a much longer purpose text", "law 2")))
	n.CommitOK(t, c.Citizens[0].Tx(&pb.TxBody{Action: &pb.TxBody_CreateContract{CreateContract: &pb.CreateContract{
		ContractId: "ctr-1", TemplateId: nodetest.Procurement, Title: "desks",
		Parties: []*pb.ContractParty{{Role: "buyer", IdentityId: "citizen0"}, {Role: "supplier", IdentityId: "citizen1"}},
		Fields: []*pb.ContractField{
			{Name: "amount", Value: &pb.ContractField_IntValue{IntValue: 100}},
			{Name: "item", Value: &pb.ContractField_StringValue{StringValue: "desk"}},
		},
	}}}))
	n.CommitOK(t, c.Admin.Tx(&pb.TxBody{Action: &pb.TxBody_SubmitProposal{SubmitProposal: &pb.SubmitProposal{
		ProposalId: "prop-1", Title: "permits", VotingEndHeight: 1 << 20,
		Change: &pb.SubmitProposal_InstallRecordType{InstallRecordType: &pb.RecordType{
			Id: "permit", Name: "Permit", CreateDepartments: []string{nodetest.Dept}, MaxContentBytes: 1024, OnChainContent: true,
		}},
	}}}))
	n.WaitIdle(t)
	return c, n
}

// checkProved verifies a proof and that it proves the object the query
// returned (the chain is idle, so the attested state is the latest).
func checkProved(t *testing.T, n *nodetest.Node, key []byte, p *pb.StateProof, obj proto.Message) {
	t.Helper()
	cfg := nodetest.ConsensusConfig(n.Status(t))
	nodetest.VerifyStateProof(t, cfg, key, p)
	if obj == nil {
		if p.GetValue() != nil {
			t.Fatalf("absence proof carries value %x", p.GetValue())
		}
		return
	}
	got := obj.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(p.GetValue(), got); err != nil || !proto.Equal(got, obj) {
		t.Fatalf("proved value %v is not the returned object %v (%v)", got, obj, err)
	}
}

func TestQueries(t *testing.T) {
	_, n := queryChain(t)
	ctx := ctxOf(t)

	t.Run("identity", func(t *testing.T) {
		for _, prove := range []bool{false, true} {
			r, err := n.Client.QueryIdentity(ctx, req(&pb.QueryIdentityRequest{IdentityId: "citizen0", Prove: prove}))
			if err != nil {
				t.Fatal(err)
			}
			if r.Msg.GetIdentity().GetId() != "citizen0" || r.Msg.GetHeight() == 0 || (r.Msg.GetProof() != nil) != prove {
				t.Fatalf("QueryIdentity(prove=%v): %v", prove, r.Msg)
			}
			if prove {
				checkProved(t, n, exec.IdentityKey("citizen0"), r.Msg.GetProof(), r.Msg.GetIdentity())
			}
		}
	})

	t.Run("record with versions", func(t *testing.T) {
		r, err := n.Client.QueryRecord(ctx, req(&pb.QueryRecordRequest{RecordId: "lic-1", WithVersions: true, Prove: true}))
		if err != nil {
			t.Fatal(err)
		}
		m := r.Msg
		if m.GetRecord().GetVersion() != 3 || len(m.GetVersions()) != 3 {
			t.Fatalf("record %v with %d versions", m.GetRecord(), len(m.GetVersions()))
		}
		want := []struct{ content, action string }{{"<b>v1</b>", "created"}, {"<b>v2</b>", "amended"}, {"<i>third</i> version, longer than the others", "amended"}}
		for i, v := range m.GetVersions() {
			if v.GetVersion() != uint64(i+1) || string(v.GetContent()) != want[i].content || v.GetAction() != want[i].action {
				t.Errorf("version %d: got version %d %q %q, want %q %q", i+1, v.GetVersion(), v.GetContent(), v.GetAction(), want[i].content, want[i].action)
			}
			// Each version read alone must be what the list says.
			one, err := n.Client.QueryState(ctx, req(&pb.QueryStateRequest{Key: exec.RecordVersionKey("lic-1", uint64(i+1))}))
			alone := &pb.RecordVersion{}
			if err != nil || proto.Unmarshal(one.Msg.GetValue(), alone) != nil || !proto.Equal(alone, v) {
				t.Errorf("version %d listed as %v, stored as %v (%v)", i+1, v, alone, err)
			}
		}
		checkProved(t, n, exec.RecordKey("lic-1"), m.GetProof(), m.GetRecord())
		plain, err := n.Client.QueryRecord(ctx, req(&pb.QueryRecordRequest{RecordId: "lic-1"}))
		if err != nil || plain.Msg.GetVersions() != nil || plain.Msg.GetProof() != nil {
			t.Fatalf("QueryRecord without versions or proof: %v %v", plain, err)
		}
	})

	t.Run("access log", func(t *testing.T) {
		byRec, err := n.Client.QueryAccessLog(ctx, req(&pb.QueryAccessLogRequest{RecordId: "lic-1"}))
		if err != nil {
			t.Fatal(err)
		}
		bySubj, err := n.Client.QueryAccessLog(ctx, req(&pb.QueryAccessLogRequest{SubjectId: "citizen0"}))
		if err != nil {
			t.Fatal(err)
		}
		if len(byRec.Msg.GetEntries()) != 2 || len(bySubj.Msg.GetEntries()) != 2 {
			t.Fatalf("access log by record %v, by subject %v", byRec.Msg, bySubj.Msg)
		}
		wantEntries := []struct{ purpose, basis string }{{"inspection", "law 1"}, {"audit of a much longer purpose text", "law 2"}}
		for i, e := range byRec.Msg.GetEntries() {
			if e.GetAccessorId() != nodetest.OfficeID || e.GetPurpose() != wantEntries[i].purpose || e.GetLegalBasis() != wantEntries[i].basis || e.GetSeq() != uint64(i+1) {
				t.Errorf("entry %d: %v", i, e)
			}
			if !proto.Equal(e, bySubj.Msg.GetEntries()[i]) {
				t.Errorf("entry %d by record %v, by subject %v", i, e, bySubj.Msg.GetEntries()[i])
			}
		}
		one, err := n.Client.QueryAccessLog(ctx, req(&pb.QueryAccessLogRequest{RecordId: "lic-1", Limit: 1}))
		if err != nil || len(one.Msg.GetEntries()) != 1 {
			t.Fatalf("limit 1: %v %v", one, err)
		}
		other, err := n.Client.QueryAccessLog(ctx, req(&pb.QueryAccessLogRequest{SubjectId: "citizen1", Limit: 5}))
		if err != nil || len(other.Msg.GetEntries()) != 0 {
			t.Fatalf("citizen1's access log: %v %v", other, err)
		}
		_, err = n.Client.QueryAccessLog(ctx, req(&pb.QueryAccessLogRequest{}))
		nodetest.WantCode(t, err, connect.CodeInvalidArgument)
		_, err = n.Client.QueryAccessLog(ctx, req(&pb.QueryAccessLogRequest{RecordId: "lic-1", SubjectId: "citizen0"}))
		nodetest.WantCode(t, err, connect.CodeInvalidArgument)
	})

	t.Run("contract", func(t *testing.T) {
		r, err := n.Client.QueryContract(ctx, req(&pb.QueryContractRequest{ContractId: "ctr-1", Prove: true}))
		if err != nil {
			t.Fatal(err)
		}
		if r.Msg.GetContract().GetState() != "draft" || len(r.Msg.GetContract().GetParties()) != 2 {
			t.Fatalf("contract: %v", r.Msg.GetContract())
		}
		checkProved(t, n, exec.ContractKey("ctr-1"), r.Msg.GetProof(), r.Msg.GetContract())
	})

	t.Run("proposal", func(t *testing.T) {
		r, err := n.Client.QueryProposal(ctx, req(&pb.QueryProposalRequest{ProposalId: "prop-1", Prove: true}))
		if err != nil {
			t.Fatal(err)
		}
		if r.Msg.GetProposal().GetProposerId() != nodetest.AdminID {
			t.Fatalf("proposal: %v", r.Msg.GetProposal())
		}
		checkProved(t, n, exec.ProposalKey("prop-1"), r.Msg.GetProof(), r.Msg.GetProposal())
	})

	t.Run("state", func(t *testing.T) {
		key := exec.RecordKey("lic-1")
		r, err := n.Client.QueryState(ctx, req(&pb.QueryStateRequest{Key: key, Prove: true}))
		if err != nil || !r.Msg.GetFound() {
			t.Fatalf("QueryState: %v %v", r, err)
		}
		nodetest.VerifyStateProof(t, nodetest.ConsensusConfig(n.Status(t)), key, r.Msg.GetProof())
		if !bytes.Equal(r.Msg.GetProof().GetValue(), r.Msg.GetValue()) {
			t.Fatal("proved value differs from the value")
		}
		// Absence, proved.
		absent := exec.RecordKey("no-such-record")
		r, err = n.Client.QueryState(ctx, req(&pb.QueryStateRequest{Key: absent, Prove: true}))
		if err != nil || r.Msg.GetFound() || r.Msg.GetValue() != nil {
			t.Fatalf("QueryState of an absent key: %v %v", r, err)
		}
		checkProved(t, n, absent, r.Msg.GetProof(), nil)
		r, err = n.Client.QueryState(ctx, req(&pb.QueryStateRequest{Key: absent}))
		if err != nil || r.Msg.GetProof() != nil {
			t.Fatalf("QueryState without prove: %v %v", r, err)
		}
		_, err = n.Client.QueryState(ctx, req(&pb.QueryStateRequest{}))
		nodetest.WantCode(t, err, connect.CodeInvalidArgument)
		_, err = n.Client.QueryState(ctx, req(&pb.QueryStateRequest{Key: make([]byte, 1025)}))
		nodetest.WantCode(t, err, connect.CodeInvalidArgument)
	})

	t.Run("not found and empty ids", func(t *testing.T) {
		calls := []struct {
			name string
			call func(id string) error
		}{
			{"identity", func(id string) error {
				_, err := n.Client.QueryIdentity(ctx, req(&pb.QueryIdentityRequest{IdentityId: id, Prove: true}))
				return err
			}},
			{"record", func(id string) error {
				_, err := n.Client.QueryRecord(ctx, req(&pb.QueryRecordRequest{RecordId: id, WithVersions: true}))
				return err
			}},
			{"contract", func(id string) error {
				_, err := n.Client.QueryContract(ctx, req(&pb.QueryContractRequest{ContractId: id}))
				return err
			}},
			{"proposal", func(id string) error {
				_, err := n.Client.QueryProposal(ctx, req(&pb.QueryProposalRequest{ProposalId: id}))
				return err
			}},
		}
		for _, c := range calls {
			t.Run(c.name, func(t *testing.T) {
				nodetest.WantCode(t, c.call("nope"), connect.CodeNotFound)
				nodetest.WantCode(t, c.call(""), connect.CodeInvalidArgument)
			})
		}
	})
}

// TestQueryProofAtGenesis: before the first block no header attests a
// state, so a proof cannot be given; the answer must say so cleanly.
func TestQueryProofAtGenesis(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	r, err := n.Client.QueryIdentity(ctxOf(t), req(&pb.QueryIdentityRequest{IdentityId: "citizen0"}))
	if err != nil || r.Msg.GetIdentity().GetId() != "citizen0" {
		t.Fatalf("QueryIdentity at genesis: %v %v", r, err)
	}
	_, err = n.Client.QueryIdentity(ctxOf(t), req(&pb.QueryIdentityRequest{IdentityId: "citizen0", Prove: true}))
	if err == nil {
		t.Fatal("a proof at genesis, where no header attests the state")
	}
	if code := connect.CodeOf(err); code != connect.CodeInternal && code != connect.CodeFailedPrecondition && code != connect.CodeUnavailable {
		t.Fatalf("proof at genesis: %v", err)
	}
}

func TestStreamEvents(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	var hashes [][]byte
	for i := range 4 {
		r := n.CommitOK(t, c.Official.Tx(nodetest.CreateRecord(fmt.Sprintf("lic-%d", i), nodetest.BusinessLicense, "citizen0", []byte("x"))))
		hashes = append(hashes, r.GetTxHash())
	}
	st := n.WaitIdle(t)
	head := st.GetHeight()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := n.Client.StreamEvents(ctx, req(&pb.StreamEventsRequest{FromHeight: 1}))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]uint64{}
	recv := func() *pb.StreamEventsResponse {
		t.Helper()
		if !stream.Receive() {
			t.Fatalf("stream ended: %v", stream.Err())
		}
		m := stream.Msg()
		for i, e := range m.GetEvents() {
			if e.GetHeight() != m.GetHeight() || (i > 0 && e.GetEventIndex() <= m.GetEvents()[i-1].GetEventIndex()) {
				t.Fatalf("block %d: events out of order or of another height: %v", m.GetHeight(), m.GetEvents())
			}
			if len(e.GetTxHash()) > 0 {
				seen[string(e.GetTxHash())] = m.GetHeight()
			}
		}
		return m
	}
	for h := uint64(1); h <= head; h++ {
		m := recv()
		if m.GetHeight() != h {
			t.Fatalf("stream sent height %d, want %d (every block, in order)", m.GetHeight(), h)
		}
		b, err := n.Client.GetBlock(ctxOf(t), req(&pb.GetBlockRequest{Height: h}))
		if err != nil || !bytes.Equal(b.Msg.GetHash(), m.GetBlockHash()) {
			t.Fatalf("stream block hash %x at %d differs from GetBlock: %v", m.GetBlockHash(), h, err)
		}
	}
	for _, h := range hashes {
		tx, err := n.Client.GetTx(ctxOf(t), req(&pb.GetTxRequest{TxHash: h}))
		if err != nil {
			t.Fatal(err)
		}
		if seen[string(h)] != tx.Msg.GetHeight() {
			t.Fatalf("tx %x committed at %d, its events streamed at %d", h, tx.Msg.GetHeight(), seen[string(h)])
		}
	}

	// Live: a new commit reaches the open stream.
	live := n.CommitOK(t, c.Official.Tx(nodetest.CreateRecord("live", nodetest.BusinessLicense, "citizen1", []byte("x"))))
	for seen[string(live.GetTxHash())] == 0 {
		m := recv()
		if m.GetHeight() <= head {
			t.Fatalf("stream went back to height %d", m.GetHeight())
		}
		head = m.GetHeight()
	}
	if seen[string(live.GetTxHash())] != live.GetHeight() {
		t.Fatalf("live tx at %d streamed at %d", live.GetHeight(), seen[string(live.GetTxHash())])
	}

	// Cancelling the context ends the stream.
	cancel()
	ended := make(chan struct{})
	go func() {
		for stream.Receive() {
		}
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("stream did not end within 10s of its context being cancelled")
	}
	_ = stream.Close()

	// Resume from a later height: the first message is that height.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	s2, err := n.Client.StreamEvents(ctx2, req(&pb.StreamEventsRequest{FromHeight: 3}))
	if err != nil {
		t.Fatal(err)
	}
	if !s2.Receive() || s2.Msg().GetHeight() != 3 {
		t.Fatalf("resumed stream starts at %d: %v", s2.Msg().GetHeight(), s2.Err())
	}
	cancel2()
	_ = s2.Close()
	if n.Status(t).GetHeight() < head {
		t.Fatal("node went backwards")
	}
}

func TestMetricsOnAPIPort(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	n.CommitOK(t, c.Official.Tx(nodetest.CreateRecord("lic", nodetest.BusinessLicense, "citizen0", []byte("x"))))
	h := n.WaitIdle(t).GetHeight()
	resp, err := n.HTTP.Get(n.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	text := string(body)
	for _, want := range []string{
		fmt.Sprintf("govnode_chain_height %d\n", h),
		"govnode_chain_committed_txs_total 1\n",
		`govnode_api_requests_total{code="ok",procedure="/govnode.v1.NodeService/SubmitTx"}`,
		"govnode_mempool_txs ",
		// A lone validator meets the tx only at its admission: every step
		// after it reuses the decoded form (ARCHITECTURE.md §3).
		"govnode_tx_facts_recomputed_total 0\n",
		"govnode_ledger_apply_duration_seconds_bucket",
		"go_goroutines ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^govnode_tx_facts_reused_total [1-9]`).MatchString(text) {
		t.Error("no step after admission reused the tx's decoded form")
	}
}

// A client that accepts gzip gets small answers (a SubmitTx verdict, a
// status) uncompressed, since compressing them costs CPU for nothing, and
// larger ones (a block with a 2 kB record) compressed.
func TestAPICompressesOnlyLargeResponses(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	n.CommitOK(t, c.Official.Tx(nodetest.CreateRecord("big", nodetest.BusinessLicense, "citizen0", bytes.Repeat([]byte("licence text "), 150))))
	h := n.WaitIdle(t).GetHeight()
	call := func(procedure, body string) (encoding string, size int) {
		t.Helper()
		r, err := http.NewRequestWithContext(ctxOf(t), http.MethodPost, n.URL+"/govnode.v1.NodeService/"+procedure, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport then leaves the body as sent
		resp, err := n.HTTP.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v %s", procedure, resp.StatusCode, err, b)
		}
		return resp.Header.Get("Content-Encoding"), len(b)
	}
	if enc, size := call("Status", "{}"); enc != "" {
		t.Fatalf("status (%d bytes) sent with Content-Encoding %q, want none", size, enc)
	}
	if enc, size := call("GetBlock", fmt.Sprintf(`{"height": "%d"}`, h)); enc != "gzip" {
		t.Fatalf("a block with a 2 kB record (%d bytes) sent with Content-Encoding %q, want gzip", size, enc)
	}
}
