package blockexec

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/state"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func upgradeRecord(t *testing.T, key []byte, p *pb.UpgradePlan) state.Change {
	t.Helper()
	b, err := proto.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return state.Change{Key: key, Value: b}
}

// emptyBlock is the next block of a with no txs, committed by a bare
// certificate.
func emptyBlock(t *testing.T, a *Executor) consensus.CommittedBlock {
	t.Helper()
	head, _ := a.store.Height()
	hdr, err := a.BuildPayload(consensus.ProposeSlot{Height: head + 1, StateHeight: head}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hdr.ChainId, hdr.Height = "app-test", head+1
	hb, err := proto.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	return consensus.CommittedBlock{Height: head + 1, Hash: crypto.Ed25519SHA256.Hash(hb), Block: &pb.Block{Header: hb}, Header: hdr,
		Cert: &pb.CommitCert{Height: head + 1, BlockHash: crypto.Ed25519SHA256.Hash(hb)}}
}

// A binary that does not know the pending upgrade commits up to its halt
// height and refuses the block above (nothing of it written, the error
// naming the upgrade); one that knows it executes that block, which
// applies the plan.
func TestCommitHaltsAtAnUnknownUpgrade(t *testing.T) {
	for _, known := range []bool{false, true} {
		plan := &pb.UpgradePlan{Name: "v2", HaltHeight: 2, Info: "notes", ProposalId: "p"}
		a := newTestAppWith(t, []state.Change{upgradeRecord(t, exec.UpgradePlanKey(), plan)})
		var names []string
		if known {
			names = []string{"v1", "v2"}
		}
		if err := a.SetKnownUpgrades(names); err != nil {
			t.Fatal(err)
		}
		if got := a.PendingUpgrade(); got.GetName() != "v2" {
			t.Fatalf("pending upgrade %v", got)
		}
		for h := uint64(1); h <= 2; h++ {
			if err := a.AtUnknownHalt(); err != nil {
				t.Fatalf("at %d, below the halt height: %v", h-1, err)
			}
			if err := a.Commit([]consensus.CommittedBlock{emptyBlock(t, a)}); err != nil {
				t.Fatalf("block %d below the halt: %v", h, err)
			}
		}
		// At the halt height: a node that does not know the upgrade is
		// done there, even if the block above never comes.
		if err := a.AtUnknownHalt(); (err != nil) == known || (err != nil && !errors.Is(err, ErrUpgradeHalt)) {
			t.Fatalf("at the halt height, v2 known %v: %v", known, err)
		}
		err := a.Commit([]consensus.CommittedBlock{emptyBlock(t, a)})
		head, _ := a.store.Height()
		if !known {
			var uh *UpgradeHalt
			if !errors.As(err, &uh) || !errors.Is(err, ErrUpgradeHalt) || uh.Plan.GetName() != "v2" || uh.Head != 2 || head != 2 {
				t.Fatalf("block 3 with v2 unknown: %v, ledger at %d", err, head)
			}
			t.Log(err)
			// Started again, the same binary stops at once.
			if err := a.SetKnownUpgrades(nil); !errors.As(err, &uh) {
				t.Fatalf("restart at the halt height: %v", err)
			}
			continue
		}
		if err != nil || head != 3 || a.PendingUpgrade() != nil {
			t.Fatalf("block 3 with v2 known: %v, ledger at %d, pending %v", err, head, a.PendingUpgrade())
		}
		done, err := exec.AppliedUpgrades(reader{a.store})
		if err != nil || len(done) != 1 || done[0].GetAppliedHeight() != 3 {
			t.Fatalf("applied %v %v", done, err)
		}
	}
}

// A ledger that went through an upgrade this binary does not know is
// refused: the binary is older than the chain. That is no planned halt
// (which govnode start ends with exit status 0) but a wrong binary.
func TestRefusesALedgerNewerThanTheBinary(t *testing.T) {
	done := &pb.UpgradePlan{Name: "v3", HaltHeight: 9, AppliedHeight: 10}
	a := newTestAppWith(t, []state.Change{upgradeRecord(t, append(exec.UpgradeDonePrefix(), "v3"...), done)})
	err := a.SetKnownUpgrades([]string{"v2"})
	var uh *UpgradeHalt
	if !errors.Is(err, ErrBinaryTooOld) || errors.Is(err, ErrUpgradeHalt) || errors.As(err, &uh) || !strings.Contains(err.Error(), "v3") {
		t.Fatalf("a ledger past upgrade v3 with a binary knowing v2: %v", err)
	}
	t.Log(err)
	if err := a.SetKnownUpgrades([]string{"v2", "v3"}); err != nil {
		t.Fatalf("a binary knowing v3: %v", err)
	}
}
