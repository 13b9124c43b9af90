package api

// SubmitTxs: many signed txs in one request, a result per tx (issue 20;
// docs/ARCHITECTURE.md §3 step 2 and §6). A client with many txs to send
// (an agency's batch job, `govnode bench`) pays one request's HTTP, TLS
// and authentication instead of one per tx.
//
// Bounds, all checked before any tx is decoded:
//
//   - at most maxBatchTxs txs;
//   - the request's bytes: the API's limit on one message (apiReadMaxBytes,
//     4 MiB after decompression, listen.go), which Connect enforces while
//     it reads the body and answers ResourceExhausted "message size N is
//     larger than configured max 4194304" without calling the handler. A
//     tx costs its bytes plus 3 of framing (2 from 128 bytes up), so 1024
//     txs of up to 4,090 bytes each fit; 1024 of 4 KiB do not, and a client
//     splits such a batch. In Connect JSON the txs are base64, a third
//     larger: about 3 KB each for a full batch;
//   - the mempool's backlog bound (mempool.Reserve): one reservation for
//     the whole batch; the txs past what it grants are refused
//     resource_exhausted at once, with Retry-After.
//
// Then each tx goes through SubmitTx's admission in request order (a
// signer's txs in nonce order): a protected record's tx, which needs a
// payload that only SubmitTx carries, is refused as SubmitTx refuses it
// without one; PreSubmit; the mempool's admission and gossip. Each result
// has SubmitTx's code for that tx. A batch counts as one request against
// the API's rate limits (ratelimit.go): the limits bound the cost of
// requests (TLS, authentication, decoding), and the cost of the txs is
// bounded per signer and by the backlog bound, which the node's callers
// share.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node/mempool"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// maxBatchTxs bounds the txs of one SubmitTxs request (the request's byte
// limit bounds their size).
const maxBatchTxs = 1024

// retryAfterMsHeader carries a refusal's retry delay in milliseconds
// beside HTTP's Retry-After, which has whole seconds only.
const retryAfterMsHeader = "Govnode-Retry-After-Ms"

// SubmitTxs admits each tx of the request as SubmitTx would (without
// payloads), in order, and answers one result per tx.
func (s *Server) SubmitTxs(ctx context.Context, req *connect.Request[pb.SubmitTxsRequest]) (*connect.Response[pb.SubmitTxsResponse], error) {
	txs := req.Msg.GetTxs()
	if len(txs) == 0 {
		return nil, invalidArg("txs is empty")
	}
	if len(txs) > maxBatchTxs {
		return nil, invalidArg("%d txs in one request, at most %d: split the batch", len(txs), maxBatchTxs)
	}
	granted, backlog := s.d.Mempool.Reserve(len(txs), time.Now())
	// Each granted tx's reservation ends once it was offered to the
	// mempool (where an admitted tx counts itself), the rest on any way
	// out, a panic included: a leaked reservation would shrink the bound
	// for good.
	released := 0
	defer func() { s.d.Mempool.Release(granted - released) }()
	results := make([]pb.SubmitTxsResult, len(txs))
	resp := connect.NewResponse(&pb.SubmitTxsResponse{Results: make([]*pb.SubmitTxsResult, len(txs))})
	var facts []*exec.Tx // hashed and decoded by Preverify, if it ran
	if granted > 1 && s.d.Preverify != nil {
		facts = s.d.Preverify(txs[:granted])
	}
	admitted := 0
	for i, tx := range txs {
		r := &results[i]
		resp.Msg.Results[i] = r
		switch {
		case len(tx) == 0:
		case i < len(facts) && facts[i] != nil:
			r.TxHash = facts[i].Hash
		default:
			r.TxHash = exec.TxHash(s.d.Suite, tx)
		}
		if i >= granted {
			s.d.Metrics.MempoolRejected.WithLabelValues("backlog").Inc()
			setResultErr(r, submitErr(backlog))
			continue
		}
		if s.submitOne(ctx, tx, r) {
			admitted++
		}
		s.d.Mempool.Release(1)
		released++
	}
	if granted < len(txs) {
		setRetryHeaders(resp.Header(), backlog)
	}
	if !req.Msg.GetWaitForCommit() || admitted == 0 {
		return resp, nil
	}
	wait := waitOf(req.Msg.GetWaitTimeoutMs())
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	// One deadline for all: each wait returns at once for a tx already
	// committed, so the batch waits about as long as its last tx.
	for _, r := range resp.Msg.Results {
		if r.GetCode() != "" {
			continue
		}
		loc, result, err := s.WaitForTx(wctx, r.GetTxHash())
		switch {
		case err == nil:
			r.Committed, r.Height, r.Result = true, loc.Height, result
		case errors.Is(err, ErrTxDropped):
			r.Code, r.Message = connect.CodeFailedPrecondition.String(), fmt.Sprintf("tx %x: %v", r.GetTxHash(), err)
		case ctx.Err() != nil:
			return nil, connect.NewError(connect.CodeCanceled, ctx.Err())
		case errors.Is(err, context.DeadlineExceeded):
			// Admitted (no code), not committed yet.
			r.Message = fmt.Sprintf("not committed within %s (it stays in the mempool)", wait)
		default:
			return nil, connect.NewError(connect.CodeUnavailable, err)
		}
	}
	return resp, nil
}

// submitOne is SubmitTx's admission of one tx of a batch, with its
// refusals in r; it reports whether the tx was admitted.
func (s *Server) submitOne(ctx context.Context, tx []byte, r *pb.SubmitTxsResult) bool {
	if len(tx) == 0 {
		setResultErr(r, invalidArg("tx is empty"))
		return false
	}
	// No payloads travel with a batch: a protected record's create or
	// amendment is refused here as SubmitTx refuses it without one.
	if _, err := s.acceptPayloads(tx, nil); err != nil {
		s.d.Metrics.MempoolRejected.WithLabelValues("payload").Inc()
		setResultErr(r, err)
		r.Message += " (SubmitTxs carries no payloads: send this tx with SubmitTx)"
		return false
	}
	if s.d.PreSubmit != nil {
		if err := s.d.PreSubmit(tx); err != nil {
			s.d.Metrics.MempoolRejected.WithLabelValues("pre_submit").Inc()
			setResultErr(r, err)
			return false
		}
	}
	if _, err := s.d.Submit(ctx, tx); err != nil {
		s.d.Metrics.MempoolRejected.WithLabelValues(rejectReason(err)).Inc()
		setResultErr(r, submitErr(err))
		return false
	}
	return true
}

// waitOf is the wait for commit that wait_timeout_ms asks for (0: the
// default), capped by maxWaitForCommit.
func waitOf(ms uint64) time.Duration {
	if ms == 0 {
		return defaultWait
	}
	if ms >= uint64(maxWaitForCommit/time.Millisecond) {
		return maxWaitForCommit
	}
	return time.Duration(ms) * time.Millisecond
}

func setResultErr(r *pb.SubmitTxsResult, err error) {
	var ce *connect.Error
	if errors.As(err, &ce) {
		r.Code, r.Message = ce.Code().String(), ce.Message()
		return
	}
	r.Code, r.Message = connect.CodeInternal.String(), err.Error()
}

// setRetryHeaders puts a backlog refusal's retry delay in h: Retry-After
// in whole seconds (at least 1, as the rate limiter's) and
// Govnode-Retry-After-Ms exactly.
func setRetryHeaders(h http.Header, err error) {
	var be *mempool.BacklogError
	if !errors.As(err, &be) {
		return
	}
	secs := max(int64((be.RetryAfter+time.Second-1)/time.Second), 1)
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
	h.Set(retryAfterMsHeader, strconv.FormatInt(max(be.RetryAfter.Milliseconds(), 1), 10))
}
