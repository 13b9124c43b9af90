package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// maxBatchTxs bounds the txs of one SubmitTxs request (the request's byte
// limit bounds their size).
const maxBatchTxs = 1024

// SubmitTxs admits each tx of the request as SubmitTx would (without
// payloads), in order, and answers one result per tx.
func (s *Server) SubmitTxs(ctx context.Context, req *connect.Request[pb.SubmitTxsRequest]) (*connect.Response[pb.SubmitTxsResponse], error) {
	txs := req.Msg.GetTxs()
	if len(txs) == 0 {
		return nil, invalidArg("txs is empty")
	}
	if len(txs) > maxBatchTxs {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%d txs in one request, at most %d", len(txs), maxBatchTxs))
	}
	resp := &pb.SubmitTxsResponse{Results: make([]*pb.SubmitTxsResult, len(txs))}
	for i, tx := range txs {
		r := &pb.SubmitTxsResult{}
		resp.Results[i] = r
		one, err := s.SubmitTx(ctx, connect.NewRequest(&pb.SubmitTxRequest{Tx: tx}))
		if err != nil {
			setResultErr(r, err)
			continue
		}
		r.TxHash = one.Msg.GetTxHash()
	}
	if !req.Msg.GetWaitForCommit() {
		return connect.NewResponse(resp), nil
	}
	wait := defaultWait
	if ms := req.Msg.GetWaitTimeoutMs(); ms > 0 {
		wait = maxWaitForCommit
		if ms < uint64(maxWaitForCommit/time.Millisecond) {
			wait = time.Duration(ms) * time.Millisecond
		}
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for _, r := range resp.Results {
		if r.GetCode() != "" {
			continue
		}
		loc, result, err := s.WaitForTx(wctx, r.GetTxHash())
		switch {
		case err == nil:
			r.Committed, r.Height, r.Result = true, loc.Height, result
		case errors.Is(err, ErrTxDropped):
			r.Code, r.Message = connect.CodeFailedPrecondition.String(), fmt.Sprintf("tx %x: %v", r.GetTxHash(), err)
		}
	}
	return connect.NewResponse(resp), nil
}

func setResultErr(r *pb.SubmitTxsResult, err error) {
	var ce *connect.Error
	if errors.As(err, &ce) {
		r.Code, r.Message = ce.Code().String(), ce.Message()
		return
	}
	r.Code, r.Message = connect.CodeInternal.String(), err.Error()
}
