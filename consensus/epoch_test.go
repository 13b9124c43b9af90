package consensus_test

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/consensustest"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// A validator set after the genesis set (an epoch, ARCHITECTURE.md §4
// "Reconfiguration") starts above a committed root block, whose QC it takes
// unsigned as the genesis set takes the genesis QC; it certifies the
// heights above the root only; every message it sends is tagged with its
// epoch and signed over the epoch's own domain, so nothing the set before
// signed counts in it, and nothing it signs counts in the set before.
func TestEpochStartsAboveItsRoot(t *testing.T) {
	old := newHarness(t, 4, consensus.Byzantine)
	for range 40 {
		busy(old)
		old.tick(5)
		if minHeight(old.heights()) >= 4 {
			break
		}
	}
	if minHeight(old.heights()) < 4 {
		t.Fatalf("the genesis set did not commit 4 blocks: %v", old.heights())
	}
	root := old.committed[0][2]
	if root.Height != 3 {
		t.Fatalf("third committed block at height %d", root.Height)
	}

	// The next set: three of the four, one new validator, another order.
	newKeys := []crypto.PrivateKey{old.keys[2], old.keys[1], consensustest.Keys(1, 99)[0], old.keys[3]}
	cfg := consensustest.Config(newKeys, consensus.Byzantine)
	cfg.Epoch = root.Height + 1
	cfg.Root = &pb.QuorumCert{View: root.Header.GetView(), Height: root.Height, BlockHash: root.Hash}
	h := newHarnessFrom(t, newKeys, cfg, root.Block, consensus.SafetyState{View: root.Header.GetView()})
	for range 40 {
		busy(h)
		h.tick(5)
		if minHeight(h.heights()) >= root.Height+3 {
			break
		}
	}
	if minHeight(h.heights()) < root.Height+3 {
		t.Fatalf("the new set did not commit above its root: %v", h.heights())
	}
	first := h.committed[0][0]
	if first.Height != root.Height+1 || !proto.Equal(first.Block.GetJustify(), cfg.RootQC()) || len(first.Block.GetJustify().GetSigs()) != 0 {
		t.Fatalf("first block of the epoch: height %d, justify %v; want height %d on the unsigned root QC", first.Height, first.Block.GetJustify(), root.Height+1)
	}
	for i := range h.committed {
		for j, cb := range h.committed[i] {
			if string(cb.Hash) != string(h.committed[0][j].Hash) {
				t.Fatalf("replicas %d and 0 committed different blocks at %d", i, cb.Height)
			}
		}
	}
	for i, sent := range h.sent {
		for _, m := range sent {
			if m.GetEpoch() != cfg.Epoch {
				t.Fatalf("replica %d sent a message of epoch %d in epoch %d", i, m.GetEpoch(), cfg.Epoch)
			}
		}
	}

	// The genesis set's messages are dropped unread by the new set...
	c := h.cores[0]
	before := c.Stats()
	olds := old.sent[2]
	for _, m := range olds {
		if err := c.Step(m); err != nil {
			t.Fatalf("a message of another epoch was refused, not dropped: %v", err)
		}
	}
	if after := c.Stats(); after.OtherEpoch != before.OtherEpoch+uint64(len(olds)) || after.Invalid != before.Invalid || len(olds) == 0 {
		t.Fatalf("other-epoch messages: %d dropped, %d invalid; want %d dropped", after.OtherEpoch-before.OtherEpoch, after.Invalid-before.Invalid, len(olds))
	}
	// ...and a new-set vote re-tagged for the genesis set does not verify
	// there (the gossip check every message passes first): it is signed
	// over the new epoch's domain.
	var vote *pb.ConsensusMessage
	for _, m := range h.sent[1] {
		if m.GetVote() != nil {
			vote = proto.Clone(m).(*pb.ConsensusMessage)
			break
		}
	}
	vote.Epoch = 0
	vote.Sender = 1 // the same key is validator 1 in both sets
	vote.GetVote().Voter = 1
	if err := consensus.CheckSender(cfg.ChainID, cfg.Suite, 0, validatorKeys(old.cfg.Validators), nil, vote); !errors.Is(err, consensus.ErrInvalid) {
		t.Fatalf("CheckSender took a vote of another epoch's domain: %v", err)
	}
	vote.Epoch = cfg.Epoch
	if err := consensus.CheckSender(cfg.ChainID, cfg.Suite, 0, validatorKeys(old.cfg.Validators), nil, vote); !errors.Is(err, consensus.ErrOtherEpoch) {
		t.Fatalf("CheckSender: %v, want ErrOtherEpoch", err)
	}
}

func TestEpochConfigValidate(t *testing.T) {
	keys := consensustest.Keys(4, 3)
	root := &pb.QuorumCert{View: 2, Height: 9, BlockHash: crypto.Ed25519SHA256.Hash([]byte("root"))}
	for name, c := range map[string]struct {
		epoch uint64
		root  *pb.QuorumCert
		want  string
	}{
		"epoch without root":   {10, nil, "needs its root"},
		"root without epoch":   {0, root, "needs its root"},
		"root at wrong height": {11, root, "want height 10"},
		"signed root":          {10, &pb.QuorumCert{View: 2, Height: 9, BlockHash: root.BlockHash, Sigs: []*pb.ValidatorSig{{Validator: 1}}}, "1 signatures"},
		"short root hash":      {10, &pb.QuorumCert{View: 2, Height: 9, BlockHash: []byte{1}}, "1-byte hash"},
	} {
		cfg := consensustest.Config(keys, consensus.Crash)
		cfg.Epoch, cfg.Root = c.epoch, c.root
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
	cfg := consensustest.Config(keys, consensus.Crash)
	cfg.Epoch, cfg.Root = 10, root
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := consensus.NewCore(cfg, nil, consensus.RestartState{}); err == nil {
		t.Fatal("an epoch core started with no committed head")
	}
	if d0, d := consensus.SignDomain("c", 0), consensus.SignDomain("c", 10); d0 != "c" || d != "c@10" {
		t.Fatalf("domains %q %q", d0, d)
	}
}

// busy gives every replica txs to propose.
func busy(h *harness) {
	for i := range h.pending {
		h.pending[i] = true
	}
}

func minHeight(hs []uint64) uint64 {
	m := hs[0]
	for _, h := range hs {
		m = min(m, h)
	}
	return m
}

// validatorKeys is a validator set as CheckSender reads it.
type validatorKeys []*pb.PublicKey

func (v validatorKeys) Key(i uint32) (*pb.PublicKey, bool) {
	if int(i) >= len(v) {
		return nil, false
	}
	return v[i], true
}
func (v validatorKeys) Len() int { return len(v) }

// Governance changes the chain's timeouts (ARCHITECTURE.md §5): the core
// takes them from its next deadline on, and refuses values its config
// would refuse, changing nothing.
func TestSetTimeouts(t *testing.T) {
	keys := consensustest.Keys(4, 5)
	cfg := consensustest.Config(keys, consensus.Crash)
	cfg.Self = 1 // a follower: it times out a leader it never hears
	c, err := consensus.NewCore(cfg, keys[1], consensus.RestartState{})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][3]int{{1, 10, 1}, {10, 5, 1}, {10, 20, 0}, {10, 20, 10}} {
		if err := c.SetTimeouts(bad[0], bad[1], bad[2]); !errors.Is(err, consensus.ErrInvalidConfig) {
			t.Fatalf("SetTimeouts%v: %v", bad, err)
		}
	}
	// Alone of four, the replica times out the silent leader and then
	// sends its timeout again every base timeout, since no certificate
	// forms: the gap between two is the base timeout in force.
	timeoutsAt := func(ticks int) []int {
		var at []int
		for i := range ticks {
			c.Tick()
			for c.HasReady() {
				for _, m := range c.Ready().Messages {
					if m.Msg.GetTimeout() != nil {
						at = append(at, i)
					}
				}
			}
		}
		return at
	}
	before := timeoutsAt(3*cfg.BaseTimeoutTicks + 1)
	if len(before) < 2 || before[len(before)-1]-before[len(before)-2] != cfg.BaseTimeoutTicks {
		t.Fatalf("timeouts at ticks %v: want them %d ticks apart", before, cfg.BaseTimeoutTicks)
	}
	if err := c.SetTimeouts(5, 160, 2); err != nil {
		t.Fatal(err)
	}
	after := timeoutsAt(cfg.BaseTimeoutTicks + 3*5)
	if len(after) < 3 || after[len(after)-1]-after[len(after)-2] != 5 {
		t.Fatalf("timeouts at ticks %v after SetTimeouts(5, ...): want them 5 ticks apart", after)
	}
}
