package blockexec

// The halt for a governed upgrade (ARCHITECTURE.md §5, "Upgrades"): the
// state machine records the plan (exec.ScheduleUpgrade); here a binary
// that does not know the plan's upgrade refuses to execute the block
// above its halt height, so every such node stops having committed
// exactly halt_height, and one that knows it goes on. A ledger that went
// through an upgrade this binary does not know is refused at start: the
// binary is older than the chain.

import (
	"errors"
	"fmt"
	"slices"

	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// ErrUpgradeHalt is wrapped by the errors of a node stopped for an upgrade
// its binary does not know (UpgradeHalt): the planned stop, after which
// the operator starts the new binary.
var ErrUpgradeHalt = errors.New("halted for an upgrade")

// ErrBinaryTooOld is wrapped by SetKnownUpgrades' refusal of a ledger that
// went through an upgrade this binary does not know. Unlike an
// UpgradeHalt it is no planned stop but a wrong binary (an older release
// installed again, say): govnode start fails on it.
var ErrBinaryTooOld = errors.New("ledger is past an upgrade this binary does not know")

// UpgradeHalt is the error Commit (and SetKnownUpgrades, at start) returns
// when the chain has reached the halt height of an upgrade this binary
// does not know: the node must stop and be started again with a binary
// that knows it.
type UpgradeHalt struct {
	Plan *pb.UpgradePlan
	// Head is the height committed here.
	Head uint64
}

func (e *UpgradeHalt) Error() string {
	msg := fmt.Sprintf("%v %s at height %d (committed here: %d): start a govnode binary that knows upgrade %s",
		ErrUpgradeHalt, e.Plan.GetName(), e.Plan.GetHaltHeight(), e.Head, e.Plan.GetName())
	if e.Plan.GetInfo() != "" {
		msg += fmt.Sprintf(" (%s)", e.Plan.GetInfo())
	}
	return msg
}

func (e *UpgradeHalt) Unwrap() error { return ErrUpgradeHalt }

// SetKnownUpgrades names the upgrades this binary implements (every one
// up to its release) and checks the ledger against them: an applied
// upgrade it does not know refuses the ledger, and a pending one whose
// halt height is committed already is an UpgradeHalt at once. Call it
// before the first Commit; without it no upgrade is known.
func (a *Executor) SetKnownUpgrades(names []string) error {
	a.commitMu.Lock()
	defer a.commitMu.Unlock()
	a.knownUpgrades = slices.Clone(names)
	done, err := exec.AppliedUpgrades(reader{a.store})
	if err != nil {
		return fmt.Errorf("read applied upgrades: %w", err)
	}
	for _, u := range done {
		if !slices.Contains(a.knownUpgrades, u.GetName()) {
			return fmt.Errorf("%w: the ledger went through upgrade %s at height %d, which this binary does not know: it is older than the chain",
				ErrBinaryTooOld, u.GetName(), u.GetAppliedHeight())
		}
	}
	if err := a.loadUpgradePlan(); err != nil {
		return err
	}
	if h, _ := a.store.Height(); h >= a.upgrade.GetHaltHeight() {
		if err := a.upgradeHalt(h + 1); err != nil {
			return err
		}
	}
	return nil
}

// loadUpgradePlan reads the pending plan from committed state.
func (a *Executor) loadUpgradePlan() error {
	p, err := exec.PendingUpgrade(reader{a.store})
	if err != nil {
		return fmt.Errorf("read the pending upgrade: %w", err)
	}
	a.mu.Lock()
	a.upgrade = p
	a.mu.Unlock()
	return nil
}

func (a *Executor) knows(name string) bool { return slices.Contains(a.knownUpgrades, name) }

// upgradeHalt is the UpgradeHalt for block h, nil when it may execute.
func (a *Executor) upgradeHalt(h uint64) error {
	a.mu.Lock()
	p := a.upgrade
	a.mu.Unlock()
	if p != nil && h == p.GetHaltHeight()+1 && !a.knows(p.GetName()) {
		return &UpgradeHalt{Plan: p, Head: h - 1}
	}
	return nil
}

// PendingUpgrade is the decided upgrade not applied yet (nil: none), as of
// the last commit.
func (a *Executor) PendingUpgrade() *pb.UpgradePlan {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.upgrade
}

// AtUnknownHalt returns the UpgradeHalt when the ledger has committed
// exactly the halt height of a pending upgrade this binary does not know,
// nil otherwise. A node usually stops when the block above the halt
// commits (Commit refuses it); one that committed the halt height last
// may never see that block commit, because the others stopped first: the
// node stops on this once no block has come for a while (node.Run).
func (a *Executor) AtUnknownHalt() error {
	h, _ := a.store.Height()
	if h == ^uint64(0) {
		return nil
	}
	return a.upgradeHalt(h + 1)
}
