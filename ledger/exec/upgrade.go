package exec

// Upgrades (ARCHITECTURE.md §5, "Upgrades"): a ScheduleUpgrade proposal
// decides a plan, kept at upgrade/plan, to halt at halt_height. The state
// machine only records it, and at the block above halt_height marks it
// applied (upgrade/done/<name>): the halt itself is the block executor's
// (ledger/blockexec), which refuses to execute that block with a binary
// that does not know the upgrade, so every such node stops having
// committed exactly halt_height, and a binary that knows it goes on.

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

const (
	keyUpgradePlan    = "upgrade/plan"
	prefixUpgradeDone = "upgrade/done/"
)

func kUpgradeDone(name string) string { return prefixUpgradeDone + name }

// UpgradePlanKey is the state key of the pending upgrade plan.
func UpgradePlanKey() []byte { return []byte(keyUpgradePlan) }

// UpgradeDonePrefix is the state prefix of applied upgrades, by name.
func UpgradeDonePrefix() []byte { return []byte(prefixUpgradeDone) }

// PendingUpgrade returns the decided upgrade not applied yet, nil if none.
func PendingUpgrade(r Reader) (*pb.UpgradePlan, error) {
	p := &pb.UpgradePlan{}
	ok, err := newOverlay(readerKV{r}).getMsg(keyUpgradePlan, p)
	if err != nil || !ok {
		return nil, err
	}
	return p, nil
}

// AppliedUpgrades returns the upgrades the chain went through, by name.
func AppliedUpgrades(r Reader) ([]*pb.UpgradePlan, error) {
	var out []*pb.UpgradePlan
	err := newOverlay(readerKV{r}).iterate(prefixUpgradeDone, prefixEnd(prefixUpgradeDone), func(_ string, v []byte) error {
		p := &pb.UpgradePlan{}
		if err := proto.Unmarshal(v, p); err != nil {
			return fmtInvariant("applied upgrade: %v", err)
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// validateUpgradeShape checks a ScheduleUpgrade on its own. ok is false
// for other changes.
func validateUpgradeShape(p *pb.SubmitProposal) (ok bool, err error) {
	if _, is := p.GetChange().(*pb.SubmitProposal_ScheduleUpgrade); !is {
		return false, nil
	}
	u := p.GetScheduleUpgrade()
	if u == nil {
		return true, invalid("schedule_upgrade is empty")
	}
	if err := checkID("upgrade name", u.GetName()); err != nil {
		return true, err
	}
	if err := checkText("upgrade info", u.GetInfo(), MaxTextBytes, false); err != nil {
		return true, err
	}
	if h := u.GetHaltHeight(); h != 0 && h <= p.GetVotingEndHeight() {
		// Decided at the latest at voting_end_height, it must still be
		// ahead of the chain then.
		return true, invalid("halt height %d is not above the voting end height %d", h, p.GetVotingEndHeight())
	}
	return true, nil
}

// checkUpgradeChange checks a ScheduleUpgrade against the state, at
// submission and again at execution (at height): a plan must halt above
// the block that decides it; a cancellation must name the pending plan;
// an upgrade already applied cannot be planned again.
func (tc *txCtx) checkUpgradeChange(p *pb.SubmitProposal) (ok bool, err error) {
	u := p.GetScheduleUpgrade()
	if u == nil {
		return false, nil
	}
	if done, err := tc.st.has(kUpgradeDone(u.GetName())); err != nil {
		return true, err
	} else if done {
		return true, exists("upgrade %s was applied already", u.GetName())
	}
	if u.GetHaltHeight() == 0 {
		cur := &pb.UpgradePlan{}
		if _, err := tc.st.getMsg(keyUpgradePlan, cur); err != nil {
			return true, err
		}
		if cur.GetName() != u.GetName() {
			return true, notFound("no pending upgrade %s to cancel (pending: %q)", u.GetName(), cur.GetName())
		}
		return true, nil
	}
	if u.GetHaltHeight() <= tc.b.height {
		return true, invalid("halt height %d is not above this block %d", u.GetHaltHeight(), tc.b.height)
	}
	return true, nil
}

// applyUpgradeChange records the plan, replacing a pending one, or
// cancels it.
func (tc *txCtx) applyUpgradeChange(p *pb.SubmitProposal) (ok bool, err error) {
	u := p.GetScheduleUpgrade()
	if u == nil {
		return false, nil
	}
	if u.GetHaltHeight() == 0 {
		tc.st.del(keyUpgradePlan)
		tc.govEvent(p.GetProposalId(), "upgrade_cancelled", "", pb.ProposalStatus_PROPOSAL_STATUS_PASSED, 0)
		return true, nil
	}
	plan := &pb.UpgradePlan{Name: u.GetName(), HaltHeight: u.GetHaltHeight(), Info: u.GetInfo(),
		ProposalId: p.GetProposalId(), DecidedHeight: tc.b.height}
	if err := tc.st.putMsg(keyUpgradePlan, plan); err != nil {
		return true, err
	}
	tc.govEvent(p.GetProposalId(), "upgrade_scheduled", "", pb.ProposalStatus_PROPOSAL_STATUS_PASSED, u.GetHaltHeight())
	return true, nil
}

// applyPendingUpgrade runs first in the block above a plan's halt height:
// the binary executing it knows the upgrade (the block executor halts
// otherwise), so the plan is applied: kept under upgrade/done with the
// height, and announced. An upgrade's own state migration, when a
// release needs one, runs here too (none so far).
func (e *Executor) applyPendingUpgrade(b *blockCtx) error {
	plan := &pb.UpgradePlan{}
	ok, err := b.st.getMsg(keyUpgradePlan, plan)
	if err != nil || !ok || b.height != plan.GetHaltHeight()+1 {
		return err
	}
	plan.AppliedHeight = b.height
	if err := b.st.putMsg(kUpgradeDone(plan.GetName()), plan); err != nil {
		return err
	}
	b.st.del(keyUpgradePlan)
	tc := &txCtx{e: e, b: b, st: b.st}
	tc.govEvent(plan.GetProposalId(), "upgrade_applied", "", pb.ProposalStatus_PROPOSAL_STATUS_PASSED, b.height)
	b.events = append(b.events, tc.events...)
	return nil
}
