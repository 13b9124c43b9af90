package mempool

import (
	"testing"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// The leader reaps no more txs than the chain's current max_block_txs:
// a governance change that lowered it takes effect at once, not at the
// next restart (every validator refused the leader's bigger blocks, and
// the chain stalled).
func TestReapLimitFollowsParams(t *testing.T) {
	for _, tc := range []struct {
		driver int
		live   uint64
		want   int
	}{
		{5000, 5000, 5000},
		{5000, 64, 64},  // lowered by governance since the driver started
		{64, 5000, 64},  // raised: the core's own limit still holds until restart
		{5000, 0, 5000}, // no params (never in a valid chain): the core's limit
	} {
		if got := ReapLimit(tc.driver, &pb.Params{MaxBlockTxs: tc.live}); got != tc.want {
			t.Errorf("ReapLimit(%d, max_block_txs %d) = %d, want %d", tc.driver, tc.live, got, tc.want)
		}
	}
}
