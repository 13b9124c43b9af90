package node_test

// SubmitTxs (issue 20; node/api/batch.go) driven through the API of a
// running one-validator node: a result per tx with SubmitTx's codes, the
// request's bounds, and the backlog bound's fast ResourceExhausted.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/node"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func submitTxs(t *testing.T, n *nodetest.Node, wait bool, txs ...[]byte) (*connect.Response[pb.SubmitTxsResponse], error) {
	t.Helper()
	return n.Client.SubmitTxs(ctxOf(t), req(&pb.SubmitTxsRequest{Txs: txs, WaitForCommit: wait, WaitTimeoutMs: 20_000}))
}

// wantResults checks each result's code ("" admitted) and that the
// message of a refusal contains the given text.
func wantResults(t *testing.T, got []*pb.SubmitTxsResult, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		code, text, _ := strings.Cut(w, ": ")
		if got[i].GetCode() != code || (text != "" && !strings.Contains(got[i].GetMessage(), text)) {
			t.Errorf("result %d: %q %q, want %q", i, got[i].GetCode(), got[i].GetMessage(), w)
		}
	}
}

func TestSubmitTxsCommitsInOrder(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	off := c.Official
	var txs [][]byte
	for i := range 5 {
		txs = append(txs, off.Tx(nodetest.CreateRecord(fmt.Sprintf("b-%d", i), nodetest.BusinessLicense, "citizen0", []byte("x"))))
	}
	resp, err := submitTxs(t, n, true, txs...)
	if err != nil {
		t.Fatal(err)
	}
	wantResults(t, resp.Msg.GetResults(), "", "", "", "", "")
	for i, r := range resp.Msg.GetResults() {
		if !bytes.Equal(r.GetTxHash(), crypto.Ed25519SHA256.Hash(txs[i])) || !r.GetCommitted() || r.GetHeight() == 0 ||
			r.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_OK {
			t.Fatalf("result %d: %v", i, r)
		}
	}

	// Without wait: hashes at once, then the txs commit; a batch may hold
	// a signer's txs out of nonce order (the later one waits for the gap).
	next := off.NextNonce()
	a := off.Tx(&pb.TxBody{Nonce: next + 1, Action: nodetest.CreateRecord("late", nodetest.BusinessLicense, "citizen0", []byte("x")).Action})
	b := off.Tx(&pb.TxBody{Nonce: next, Action: nodetest.CreateRecord("early", nodetest.BusinessLicense, "citizen0", []byte("x")).Action})
	off.SetLastNonce(next + 1)
	resp, err = submitTxs(t, n, false, a, b)
	if err != nil {
		t.Fatal(err)
	}
	wantResults(t, resp.Msg.GetResults(), "", "")
	ra, rb := waitCommitted(t, n, crypto.Ed25519SHA256.Hash(a)), waitCommitted(t, n, crypto.Ed25519SHA256.Hash(b))
	if ra.GetHeight() < rb.GetHeight() || ra.GetHeight() == rb.GetHeight() && ra.GetIndex() < rb.GetIndex() {
		t.Fatalf("nonce %d committed before nonce %d", next+1, next)
	}
}

func TestSubmitTxsRefusals(t *testing.T) {
	// A floor of the backlog bound above the largest batch: this test is
	// about each tx's own refusal.
	c := nodetest.NewChain(t, nodetest.Options{Configure: func(cfg *node.Config) { cfg.Mempool.MinBacklogTxs = 2048 }})
	n := c.Start(t)
	off, cit := c.Official, c.Citizens[0]

	t.Run("empty request is InvalidArgument", func(t *testing.T) {
		_, err := submitTxs(t, n, false)
		nodetest.WantCode(t, err, connect.CodeInvalidArgument)
	})
	t.Run("more than 1024 txs is InvalidArgument", func(t *testing.T) {
		txs := make([][]byte, 1025)
		for i := range txs {
			txs[i] = []byte{1}
		}
		_, err := submitTxs(t, n, false, txs...)
		nodetest.WantCode(t, err, connect.CodeInvalidArgument)
		if !strings.Contains(err.Error(), "at most 1024") {
			t.Fatalf("message: %v", err)
		}
	})
	t.Run("1024 txs of 4000 bytes fit; of 4 KiB the request is too large", func(t *testing.T) {
		before := n.Status(t).GetMempoolTxs()
		txs := make([][]byte, 1024)
		for i := range txs {
			txs[i] = bytes.Repeat([]byte{byte(i)}, 4000)
		}
		resp, err := submitTxs(t, n, false, txs...)
		if err != nil {
			t.Fatalf("1024 x 4000 bytes: %v", err)
		}
		for i, r := range resp.Msg.GetResults() {
			if r.GetCode() != connect.CodeInvalidArgument.String() {
				t.Fatalf("garbage tx %d: %v", i, r)
			}
		}
		for i := range txs {
			txs[i] = bytes.Repeat([]byte{byte(i)}, 4096)
		}
		_, err = submitTxs(t, n, false, txs...)
		nodetest.WantCode(t, err, connect.CodeResourceExhausted)
		if !strings.Contains(err.Error(), "larger than configured max 4194304") {
			t.Fatalf("message: %v", err)
		}
		if after := n.Status(t).GetMempoolTxs(); after != before {
			t.Fatalf("mempool %d -> %d txs", before, after)
		}
	})
	t.Run("each tx gets SubmitTx's code", func(t *testing.T) {
		good1 := off.Tx(nodetest.CreateRecord("g-1", nodetest.BusinessLicense, "citizen0", []byte("x")))
		good2 := off.Tx(nodetest.CreateRecord("g-2", nodetest.BusinessLicense, "citizen0", []byte("x")))
		stale := off.Tx(&pb.TxBody{Nonce: 1, Action: nodetest.CreateRecord("stale", nodetest.BusinessLicense, "citizen0", []byte("x")).Action})
		badSig := func() []byte {
			tx := off.Tx(&pb.TxBody{Nonce: 1000, Action: nodetest.CreateRecord("badsig", nodetest.BusinessLicense, "citizen0", []byte("x")).Action})
			stx := &pb.SignedTx{}
			if err := proto.Unmarshal(tx, stx); err != nil {
				t.Fatal(err)
			}
			stx.Signature[0] ^= 1
			b, _ := proto.Marshal(stx)
			return b
		}()
		off.SetLastNonce(off.NextNonce() - 1) // nonce 1000 was explicit
		forged := cit.Tx(nodetest.CreateRecord("forged", nodetest.BusinessLicense, "citizen0", []byte("x")))
		cit.SetLastNonce(cit.NextNonce() - 2) // refused: its nonce is unused
		body, _ := protectedCreate(t, "bc-batch", "citizen0", []byte("secret"))
		protected := c.Admin.Tx(body)
		c.Admin.SetLastNonce(c.Admin.NextNonce() - 2)
		resp, err := submitTxs(t, n, true, good1, []byte("not a tx"), nil, good1, stale, badSig, forged, protected, good2)
		if err != nil {
			t.Fatal(err)
		}
		rs := resp.Msg.GetResults()
		wantResults(t, rs, "",
			"invalid_argument: ",
			"invalid_argument: tx is empty",
			"already_exists: ",
			"failed_precondition: nonce",
			"unauthenticated: ",
			"permission_denied: ",
			"invalid_argument: SubmitTxs carries no payloads",
			"")
		if !rs[0].GetCommitted() || !rs[8].GetCommitted() || rs[3].GetCommitted() {
			t.Fatalf("commits: %v", rs)
		}
		if !bytes.Equal(rs[3].GetTxHash(), crypto.Ed25519SHA256.Hash(good1)) || len(rs[2].GetTxHash()) != 0 {
			t.Fatalf("hashes: duplicate %x, empty %x", rs[3].GetTxHash(), rs[2].GetTxHash())
		}
		for _, id := range []string{"forged", "bc-batch", "badsig"} {
			if _, err := n.Client.QueryRecord(ctxOf(t), req(&pb.QueryRecordRequest{RecordId: id})); connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("refused record %s: %v", id, err)
			}
		}
	})
	t.Run("JSON", func(t *testing.T) {
		tx := off.Tx(nodetest.CreateRecord("j-1", nodetest.BusinessLicense, "citizen0", []byte("x")))
		body := fmt.Sprintf(`{"txs":[%q,""],"waitForCommit":true}`, base64.StdEncoding.EncodeToString(tx))
		resp, err := n.HTTP.Post(n.URL+"/govnode.v1.NodeService/SubmitTxs", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out struct {
			Results []struct {
				TxHash, Code, Message string
				Committed             bool
				Height                string
			}
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &out) != nil || len(out.Results) != 2 {
			t.Fatalf("%d %s", resp.StatusCode, raw)
		}
		if r := out.Results[0]; r.TxHash != base64.StdEncoding.EncodeToString(crypto.Ed25519SHA256.Hash(tx)) || !r.Committed || r.Code != "" {
			t.Fatalf("%s", raw)
		}
		if out.Results[1].Code != "invalid_argument" {
			t.Fatalf("%s", raw)
		}
	})
}

// The backlog bound (mempool.max_backlog_ms): a flood on a chain that
// commits little is refused at once with ResourceExhausted and when to
// retry, while what was admitted commits.
func TestSubmitTxsBacklogRefusesFastAndAdmittedCommit(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{Configure: func(cfg *node.Config) {
		cfg.Mempool.MaxBacklogMs, cfg.Mempool.MinBacklogTxs = 50, 16
	}})
	n := c.Start(t)
	off := c.Official
	txs := make([][]byte, 600)
	for i := range txs {
		txs[i] = off.Tx(nodetest.CreateRecord(fmt.Sprintf("f-%d", i), nodetest.BusinessLicense, "citizen0", []byte("x")))
	}
	resp, err := submitTxs(t, n, false, txs...)
	if err != nil {
		t.Fatal(err)
	}
	rs := resp.Msg.GetResults()
	admitted := 0
	for admitted < len(rs) && rs[admitted].GetCode() == "" {
		admitted++
	}
	// The idle chain's rate is ~0: the floor, 16, is what is admitted.
	if admitted != 16 {
		t.Fatalf("%d admitted, want the floor of 16", admitted)
	}
	for i, r := range rs[admitted:] {
		if r.GetCode() != connect.CodeResourceExhausted.String() || !strings.Contains(r.GetMessage(), "retry after") ||
			!bytes.Equal(r.GetTxHash(), crypto.Ed25519SHA256.Hash(txs[admitted+i])) {
			t.Fatalf("result %d: %v", admitted+i, r)
		}
	}
	if ra, _ := strconv.Atoi(resp.Header().Get("Retry-After")); ra < 1 || resp.Header().Get("Govnode-Retry-After-Ms") == "" {
		t.Fatalf("headers %v", resp.Header())
	}
	// SubmitTx is refused the same way, with RetryInfo: checked below, as
	// the backlog is drained, on a tx just refused (the chain may commit
	// the admitted ones before a call here, which would admit it).
	// The admitted commit; then the rest is admitted as the backlog drains
	// (the client retries in nonce order).
	waitCommitted(t, n, crypto.Ed25519SHA256.Hash(txs[admitted-1]))
	rest := txs[admitted:]
	submitTxRefused := false
	deadline := time.Now().Add(60 * time.Second)
	for len(rest) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d txs still refused after 60 s", len(rest))
		}
		resp, err := submitTxs(t, n, false, rest...)
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		for k < len(rest) && resp.Msg.GetResults()[k].GetCode() == "" {
			k++
		}
		rest = rest[k:]
		if len(rest) > 0 && !submitTxRefused {
			_, err = n.Client.SubmitTx(ctxOf(t), req(&pb.SubmitTxRequest{Tx: rest[0]}))
			var ce *connect.Error
			switch {
			case err == nil:
				rest = rest[1:]
			case errors.As(err, &ce) && ce.Code() == connect.CodeResourceExhausted:
				if ce.Meta().Get("Retry-After") == "" || !hasRetryInfo(ce) {
					t.Fatalf("SubmitTx refusal without retry hints: %v %v", err, ce.Meta())
				}
				submitTxRefused = true
			default:
				t.Fatalf("SubmitTx past the backlog: %v", err)
			}
		}
		if len(rest) > 0 {
			ms, _ := strconv.Atoi(resp.Header().Get("Govnode-Retry-After-Ms"))
			time.Sleep(time.Duration(ms) * time.Millisecond) // the server's own hint
		}
	}
	if !submitTxRefused {
		t.Fatal("SubmitTx was never refused while the backlog was full")
	}
	waitCommitted(t, n, crypto.Ed25519SHA256.Hash(txs[len(txs)-1]))
	body := metricsText(t, n)
	if !strings.Contains(body, `govnode_mempool_rejected_txs_total{reason="backlog"}`) {
		t.Fatal("no backlog refusals counted")
	}
	if !strings.Contains(body, "govnode_mempool_backlog_limit_txs") {
		t.Fatal("no backlog limit gauge")
	}
}

func hasRetryInfo(ce *connect.Error) bool {
	for _, d := range ce.Details() {
		v, err := d.Value()
		if ri, ok := v.(*errdetails.RetryInfo); err == nil && ok && ri.GetRetryDelay().AsDuration() > 0 {
			return true
		}
	}
	return false
}
