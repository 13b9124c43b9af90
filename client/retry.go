package client

// Backpressure (docs/ARCHITECTURE.md §7, "Backpressure" and "API rate
// limits"): a node refuses a call past its rate limits, or a submission
// past its backlog bound, with resource_exhausted and when to retry: a
// google.rpc.RetryInfo detail, and the headers Govnode-Retry-After-Ms
// (exact) and Retry-After (whole seconds). Such a refusal changed nothing
// on the node, so the same request is sent again after the hint. A
// refusal without a hint (a full mempool, an oversized tx) is returned as
// is.

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
)

// maxRetryDelay bounds one wait: a hint beyond it is not waited for.
const maxRetryDelay = time.Minute

type retryInterceptor struct{ max int }

func (r retryInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		for attempt := 0; ; attempt++ {
			resp, err := next(ctx, req)
			delay, ok := RetryDelay(err)
			if !ok || attempt >= r.max || delay > maxRetryDelay {
				return resp, err
			}
			if dl, has := ctx.Deadline(); has && time.Until(dl) < delay {
				return resp, err // the hint is past the caller's deadline
			}
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return resp, err
			case <-t.C:
			}
		}
	}
}

func (retryInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (retryInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// RetryDelay is the node's retry hint of a resource_exhausted refusal:
// its RetryInfo, else Govnode-Retry-After-Ms, else Retry-After. ok is false
// for any other error, and for a refusal without a hint.
func RetryDelay(err error) (d time.Duration, ok bool) {
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeResourceExhausted {
		return 0, false
	}
	for _, det := range ce.Details() {
		v, derr := det.Value()
		if ri, isRI := v.(*errdetails.RetryInfo); derr == nil && isRI {
			return max(ri.GetRetryDelay().AsDuration(), 10*time.Millisecond), true
		}
	}
	return headerDelay(ce.Meta())
}

func headerDelay(h http.Header) (time.Duration, bool) {
	if ms, err := strconv.ParseInt(h.Get("Govnode-Retry-After-Ms"), 10, 64); err == nil && ms >= 0 {
		return max(time.Duration(ms)*time.Millisecond, 10*time.Millisecond), true
	}
	if s, err := strconv.ParseInt(h.Get("Retry-After"), 10, 64); err == nil && s >= 0 {
		return max(time.Duration(s)*time.Second, 10*time.Millisecond), true
	}
	return 0, false
}
