package api

import (
	"errors"
	"fmt"
	"testing"

	"connectrpc.com/connect"

	"github.com/govnode/govnode/node/mempool"
)

// The refusals for a signer's bound and the queued share are a full
// mempool to every caller: the API answers ResourceExhausted (try later)
// and counts them by their own reason; the gossip validator ignores them.
func TestMempoolFullErrorsMapToResourceExhausted(t *testing.T) {
	cases := []struct {
		err    error
		reason string
	}{
		{fmt.Errorf("%w: signer %q holds 64 txs", mempool.ErrSignerFull, "a"), "signer_full"},
		{fmt.Errorf("%w: nonce 3 waits for nonce 2", mempool.ErrQueuedFull), "queued_full"},
		{fmt.Errorf("%w: 10 txs", mempool.ErrMempoolFull), "full"},
	}
	for _, tc := range cases {
		if code := connect.CodeOf(submitErr(tc.err)); code != connect.CodeResourceExhausted {
			t.Errorf("%v: code %v, want resource_exhausted", tc.err, code)
		}
		if got := rejectReason(tc.err); got != tc.reason {
			t.Errorf("%v: reason %q, want %q", tc.err, got, tc.reason)
		}
		if !errors.Is(tc.err, mempool.ErrMempoolFull) {
			t.Errorf("%v is not ErrMempoolFull: the gossip validator would penalise the relaying peer", tc.err)
		}
	}
}
