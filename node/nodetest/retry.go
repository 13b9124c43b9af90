package nodetest

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// RetryBackpressure is a client interceptor that does what a well-behaved
// application does when a node refuses a submission past its backlog bound
// (mempool.max_backlog_ms; ResourceExhausted with RetryInfo): it waits the
// node's hint and sends the same request again, until the call's context
// ends. Only SubmitTx is retried, and only refusals that carry RetryInfo
// (SubmitTxs answers per tx; the caller retries those itself).
func RetryBackpressure() connect.Interceptor { return retryBackpressure{} }

type retryBackpressure struct{}

func (retryBackpressure) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		for {
			resp, err := next(ctx, req)
			delay, ok := backpressureDelay(req, err)
			if !ok {
				return resp, err
			}
			select {
			case <-ctx.Done():
				return resp, err
			case <-time.After(delay):
			}
		}
	}
}

func (retryBackpressure) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (retryBackpressure) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// backpressureDelay is the node's retry hint for a refused SubmitTx.
func backpressureDelay(req connect.AnyRequest, err error) (time.Duration, bool) {
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeResourceExhausted || req.Spec().Procedure != govnodev1connect.NodeServiceSubmitTxProcedure {
		return 0, false
	}
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if ri, isRI := v.(*errdetails.RetryInfo); derr == nil && isRI {
			return max(ri.GetRetryDelay().AsDuration(), 10*time.Millisecond), true
		}
	}
	return 0, false
}
