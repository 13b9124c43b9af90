package node

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The API's ResourceExhausted means busy when it says when to retry (the
// bound on bundles built at once), and too large otherwise (the bundle
// limits): the portal answers 503 with Retry-After for the one, 507 for
// the other.
func TestPortalRetryable(t *testing.T) {
	busy := connect.NewError(connect.CodeResourceExhausted, errors.New("4 proof bundles are being built"))
	d, err := connect.NewErrorDetail(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	busy.AddDetail(d)
	if !retryable(fmt.Errorf("wrapped: %w", busy)) {
		t.Error("a refusal with RetryInfo is not retryable")
	}
	if retryable(connect.NewError(connect.CodeResourceExhausted, errors.New("record has 5000 versions, limit 4096"))) {
		t.Error("a refusal without RetryInfo is retryable")
	}
	if retryable(errors.New("plain")) {
		t.Error("a plain error is retryable")
	}
}
