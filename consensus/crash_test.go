package consensus_test

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestRecoversFromCrashBeforeCommitStored: replicas lose power in the
// middle of a Ready that commits blocks: the safety state (with the QC
// that commits them) is synced and the messages sent, the ledger never
// stores the blocks. A lone validator has no peer to fetch them from, and
// neither does a network that loses power all at once; each must recover
// from its own safety state, commit the lost blocks again with the same
// hashes, and go on committing. (A lone validator's dev chain stalled for
// good here: the blocks were left out of the safety state once committed.)
func TestRecoversFromCrashBeforeCommitStored(t *testing.T) {
	for _, tc := range []struct {
		n     int
		model consensus.FaultModel
	}{{1, consensus.Crash}, {4, consensus.Crash}, {4, consensus.Byzantine}} {
		t.Run(fmt.Sprintf("%d-%s", tc.n, tc.model), func(t *testing.T) {
			h := newHarness(t, tc.n, tc.model)
			for round := range 3 {
				h.pending[0] = true
				h.deliver()
				h.tick(h.cfg.HeartbeatTicks)
				for i := range h.cores {
					h.crashAtCommit[i] = true
				}
				before := make([]int, tc.n)
				for i := range h.cores {
					before[i] = len(h.committed[i])
				}
				h.pending[0] = true
				for i := range h.cores {
					h.pending[i] = true
				}
				h.deliver()
				h.tick(4 * h.cfg.HeartbeatTicks)
				for i, c := range h.cores {
					if c != nil {
						t.Fatalf("round %d: replica %d never reached a commit to crash at", round, i)
					}
				}
				// Power comes back everywhere. Each replica commits the lost
				// blocks again from its own safety state, before it hears
				// from anyone.
				for i := range h.cores {
					h.start(i)
					h.process(i)
					if got := len(h.committed[i]); got <= before[i] {
						t.Fatalf("round %d: replica %d did not commit the lost blocks at restart (%d committed before, %d now)", round, i, before[i], got)
					}
				}
				h.pending[0] = true
				h.deliver()
				h.tick(20 * h.cfg.BaseTimeoutTicks)
				for i := range h.cores {
					if got := len(h.committed[i]); got <= before[i]+1 {
						t.Fatalf("round %d: replica %d committed %d blocks before the crash and %d after restart: stalled", round, i, before[i], got)
					}
				}
			}
			// Every replica committed the same chain.
			for i := 1; i < tc.n; i++ {
				m := min(len(h.committed[0]), len(h.committed[i]))
				for k := range m {
					if string(h.committed[0][k].Hash) != string(h.committed[i][k].Hash) {
						t.Fatalf("replicas 0 and %d differ at height %d", i, h.committed[0][k].Height)
					}
				}
			}
		})
	}
}

// TestSafetyStateKeepsEveryBlockTheLedgerLacks: a replica that was cut off
// catches up by fetching, and one Ready commits far more blocks than it
// retains (RetainBlocks). The safety state written with that Ready must
// still hold every block above the ledger's head: garbage collection and
// the persisted-blocks cap may drop committed blocks only once the ledger
// holds them. It crashes before storing them and restarts with no peer.
func TestSafetyStateKeepsEveryBlockTheLedgerLacks(t *testing.T) {
	h := newHarness(t, 4, consensus.Byzantine)
	// Replica 3 keeps few committed blocks; the others serve fetches.
	cfg := h.cfg
	cfg.Self, cfg.RetainBlocks = 3, 2
	c3, err := consensus.NewCore(cfg, h.keys[3], consensus.RestartState{})
	if err != nil {
		t.Fatal(err)
	}
	h.cores[3] = c3
	h.drop = func(from, to int, m *pb.ConsensusMessage) bool { return from == 3 || to == 3 }
	for range 10 {
		h.pending[0] = true
		h.deliver()
		h.tick(h.cfg.HeartbeatTicks)
	}
	top := h.cores[0].Status().CommittedHeight
	if top < 20 {
		t.Fatalf("setup: only %d blocks committed", top)
	}
	h.drop = nil
	h.crashAtCommit[3] = true
	h.pending[0] = true
	h.deliver()
	h.tick(4 * h.cfg.HeartbeatTicks)
	if h.cores[3] != nil {
		t.Fatal("setup: replica 3 never committed")
	}
	have := map[uint64]bool{}
	for _, b := range h.stores[3].Blocks {
		hdr := new(pb.Header)
		if err := proto.Unmarshal(b.GetHeader(), hdr); err != nil {
			t.Fatal(err)
		}
		have[hdr.GetHeight()] = true
	}
	for ht := h.committedHeight(3) + 1; ht <= top; ht++ {
		if !have[ht] {
			t.Fatalf("the safety state written with the commit lacks block %d (ledger at %d, %d committed)", ht, h.committedHeight(3), top)
		}
	}
	// Restarted alone, it commits them from its own disk.
	h.drop = func(from, to int, m *pb.ConsensusMessage) bool { return true }
	c3, err = consensus.NewCore(cfg, h.keys[3], consensus.RestartState{Safety: h.stores[3], Head: h.heads[3]})
	if err != nil {
		t.Fatal(err)
	}
	h.cores[3] = c3
	h.process(3)
	if got := h.committedHeight(3); got < top {
		t.Fatalf("restarted replica committed up to %d from its own state, want %d", got, top)
	}
}

// TestRestartAfterLimitsLowered: governance lowered max_block_txs while a
// replica's safety state held a bigger block. The replica must still
// start from its own record (it used to exit with "persisted block: block
// has 5 txs, max 2", on every node, for good); blocks it receives are
// checked against the new limits as ever.
func TestRestartAfterLimitsLowered(t *testing.T) {
	h := newHarness(t, 1, consensus.Crash)
	h.crashAtCommit[0] = true
	c := h.cores[0]
	c.ReportMempool(true)
	rd := c.Ready()
	if rd.ProposeSlot == nil {
		t.Fatal("setup: no slot")
	}
	txs := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d"), []byte("e")}
	if err := c.Propose(consensus.Payload{Txs: txs, Header: &pb.Header{StateHeight: rd.ProposeSlot.StateHeight}}); err != nil {
		t.Fatal(err)
	}
	h.process(0)
	if len(h.stores[0].Blocks) == 0 {
		t.Fatal("setup: the 5-tx block is not in the safety state")
	}
	cfg := h.cfg
	cfg.Self, cfg.MaxBlockTxs = 0, 2
	if _, err := consensus.NewCore(cfg, h.keys[0], consensus.RestartState{Safety: h.stores[0], Head: h.heads[0]}); err != nil {
		t.Fatalf("restart under lowered limits: %v", err)
	}
}
