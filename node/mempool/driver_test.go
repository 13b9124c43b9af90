package mempool

import (
	"errors"
	"fmt"
	"testing"

	"github.com/govnode/govnode/consensus"
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
		{64, 5000, 64},  // above the core's ceiling: the ceiling holds
		{5000, 0, 5000}, // no params (never in a valid chain): the core's limit
	} {
		if got := ReapLimit(tc.driver, &pb.Params{MaxBlockTxs: tc.live}); got != tc.want {
			t.Errorf("ReapLimit(%d, max_block_txs %d) = %d, want %d", tc.driver, tc.live, got, tc.want)
		}
	}
}

// The leader reaps under the parameters in force for the block it builds:
// those in committed state at the slot's state_height, the ones every
// validator checks the block against (ARCHITECTURE.md §5), whatever the
// chain's latest parameters say. A tx above that max_tx_bytes (admitted
// before governance lowered it) is left out with the rest of its signer's
// run; a failed read of the parameters proposes nothing rather than guess.
func TestReapFollowsParamsAtStateHeight(t *testing.T) {
	m, _ := newTestMempool(t, mcfg(100, 100_000, 10_000, 16))
	var txs [][]byte
	for n := 1; n <= 6; n++ {
		txs = append(txs, tx("a", n))
	}
	mustAdd(t, m, txs...)
	at := map[uint64]*pb.Params{
		0: {MaxBlockTxs: 5000, MaxBlockBytes: 1 << 20, MaxTxBytes: 1 << 10},
		1: {MaxBlockTxs: 2, MaxBlockBytes: 1 << 20, MaxTxBytes: 1 << 10},    // lowered at height 1
		2: {MaxBlockTxs: 5000, MaxBlockBytes: 1 << 20, MaxTxBytes: 1 << 10}, // raised again at height 2
	}
	var asked []uint64
	d := ForDriver{Pool: m, Updated: func() {}, ParamsAt: func(h uint64) (*pb.Params, error) {
		asked = append(asked, h)
		if p, ok := at[h]; ok {
			return p, nil
		}
		return nil, errors.New("not committed")
	}}
	for _, tc := range []struct {
		slot consensus.ProposeSlot
		want int
	}{
		{consensus.ProposeSlot{Height: 2, StateHeight: 0}, 6},
		{consensus.ProposeSlot{Height: 3, StateHeight: 1}, 2},
		{consensus.ProposeSlot{Height: 4, StateHeight: 2}, 6},
		// The txs of the uncommitted ancestors are left out, and the
		// limit still holds for the rest.
		{consensus.ProposeSlot{Height: 4, StateHeight: 1, Uncommitted: []*pb.Block{{Txs: txs[:3]}}}, 2},
		{consensus.ProposeSlot{Height: 4, StateHeight: 2, Uncommitted: []*pb.Block{{Txs: txs[:3]}}}, 3},
		{consensus.ProposeSlot{Height: 5, StateHeight: 3}, 0}, // no params at 3: an empty block
	} {
		asked = nil
		got := d.Reap(5000, tc.slot)
		if len(got) != tc.want || len(asked) != 1 || asked[0] != tc.slot.StateHeight {
			t.Fatalf("slot %+v: reaped %d txs reading params at %v, want %d at [%d]", tc.slot, len(got), asked, tc.want, tc.slot.StateHeight)
		}
	}
	// The core's own ceiling still holds below the chain's limit.
	if got := d.Reap(4, consensus.ProposeSlot{StateHeight: 0}); len(got) != 4 {
		t.Fatalf("reaped %d txs under a ceiling of 4", len(got))
	}

	// max_tx_bytes: b's second tx is above the limit at height 1; it and
	// b's third stay out (their nonces follow it), a's and c's go in.
	m2, _ := newTestMempool(t, mcfg(100, 100_000, 10_000, 16))
	mustAdd(t, m2, tx("a", 1), tx("b", 1), txN("b", 2, 2000), tx("b", 3), tx("c", 1))
	at[1] = &pb.Params{MaxBlockTxs: 5000, MaxBlockBytes: 1 << 20, MaxTxBytes: 1 << 10}
	at[2] = &pb.Params{MaxBlockTxs: 5000, MaxBlockBytes: 1 << 20, MaxTxBytes: 4 << 10}
	d.Pool = m2
	got := d.Reap(5000, consensus.ProposeSlot{StateHeight: 1})
	if want := []string{"a:1:x", "b:1:x", "c:1:x"}; fmt.Sprint(strs(got)) != fmt.Sprint(want) {
		t.Fatalf("reaped %q, want %q", strs(got), want)
	}
	if got := d.Reap(5000, consensus.ProposeSlot{StateHeight: 2}); len(got) != 5 {
		t.Fatalf("reaped %d txs under max_tx_bytes 4 KiB, want all 5", len(got))
	}
}

func strs(txs [][]byte) []string {
	out := make([]string, len(txs))
	for i, tx := range txs {
		out[i] = string(tx)
	}
	return out
}

// A pacing leader proposes at once when the runnable txs fill a block of
// the parameters in force for its slot; queued txs (behind a nonce gap)
// do not count, nor does anything when the parameters cannot be read.
func TestFullBlockCountsRunnableTxsUnderTheSlotsParams(t *testing.T) {
	m, _ := newTestMempool(t, mcfg(100, 100_000, 10_000, 16))
	mustAdd(t, m, tx("a", 1), tx("a", 2), tx("b", 1))
	mustAdd(t, m, tx("c", 3)) // queued: c's nonce 1 is missing
	if got := m.Runnable(); got != 3 {
		t.Fatalf("Runnable = %d, want 3", got)
	}
	at := map[uint64]*pb.Params{0: {MaxBlockTxs: 3}, 1: {MaxBlockTxs: 4}}
	d := ForDriver{Pool: m, Updated: func() {}, ParamsAt: func(h uint64) (*pb.Params, error) {
		if p, ok := at[h]; ok {
			return p, nil
		}
		return nil, errors.New("not committed")
	}}
	for _, tc := range []struct {
		max    int
		height uint64
		want   bool
	}{
		{5000, 0, true},  // 3 runnable fill max_block_txs 3
		{5000, 1, false}, // not 4
		{2, 1, true},     // the core's ceiling is lower
		{5000, 9, false}, // parameters unreadable
	} {
		if got := d.FullBlock(tc.max, consensus.ProposeSlot{StateHeight: tc.height}); got != tc.want {
			t.Errorf("FullBlock(max %d, state height %d) = %v, want %v", tc.max, tc.height, got, tc.want)
		}
	}
}

// The txs of the blocks the slot leaves out (its uncommitted ancestors,
// and the committed block whose ledger write is in flight, which the
// driver adds to them) do not use up the block's max_block_bytes: the
// leader's block holds as many new txs as it would once they are gone.
func TestReapLeavesOutUncommittedTxsWithoutTheirBytes(t *testing.T) {
	m, _ := newTestMempool(t, mcfg(100, 100_000, 1000, 16))
	var inflight, fresh [][]byte
	for n := 1; n <= 10; n++ {
		inflight = append(inflight, txN("a", n, 100))
	}
	for n := 1; n <= 5; n++ {
		fresh = append(fresh, txN("c", n, 100))
	}
	mustAdd(t, m, inflight...)
	mustAdd(t, m, fresh...)
	d := ForDriver{Pool: m, Updated: func() {}, ParamsAt: func(uint64) (*pb.Params, error) {
		return &pb.Params{MaxBlockTxs: 5000, MaxBlockBytes: 1000, MaxTxBytes: 1000}, nil
	}}
	got := d.Reap(5000, consensus.ProposeSlot{Height: 3, StateHeight: 1, Uncommitted: []*pb.Block{{Txs: inflight}}})
	if fmt.Sprint(strs(got)) != fmt.Sprint(strs(fresh)) {
		t.Fatalf("reaped %d txs %q, want the 5 not in the uncommitted block", len(got), strs(got))
	}
	// The limit still holds for the txs reaped.
	more := make([][]byte, 0, 10)
	for n := 6; n <= 15; n++ {
		more = append(more, txN("c", n, 100))
	}
	mustAdd(t, m, more...)
	got = d.Reap(5000, consensus.ProposeSlot{Height: 3, StateHeight: 1, Uncommitted: []*pb.Block{{Txs: inflight}}})
	size := 0
	for _, x := range got {
		size += len(x)
	}
	if len(got) != 10 || size > 1000 || string(got[0]) != string(fresh[0]) {
		t.Fatalf("reaped %d txs of %d bytes (first %q), want 10 within 1000 from c:1", len(got), size, got[0])
	}
}
