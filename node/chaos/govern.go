package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// The governance steps of a membership schedule (membership.go), as
// node/e2e/membership_test.go takes them: a proposal from one department
// admin, then yes votes from the admins of the members one at a time
// until it passed (ARCHITECTURE.md §4, "Reconfiguration"). A change that
// does not pass is not a harness failure: it is recorded in the
// schedule's MemberChange, and Check fails the schedule for it.

// govWithin bounds each governance transaction: resubmitted to the members
// in turn until one confirms it committed. A proposal refused by the
// live-quorum pre-check (a member restarted by the last fault has signed
// no recent certificate yet) is resubmitted as well.
const govWithin = 45 * time.Second

// join adds the spare node's department (f.Node) by governance and starts
// the spare node, before the proposal when f.Early, else once it passed.
func (sc *schedule) join(ctx context.Context, f Fault) error {
	dept := sc.c.Spare.GetId()
	ch := MemberChange{Add: true, Dept: dept, Node: f.Node}
	if f.Node != sc.c.Validators || dept != fmt.Sprintf("dept%d", f.Node) {
		return fmt.Errorf("join n%d: the spare node is n%d, department %s", f.Node, sc.c.Validators, dept)
	}
	// The joiner is started, not waited for: a fault anchored a few
	// blocks before the activation height follows the join at once.
	start := func() error {
		if sc.c.Running(f.Node) {
			return nil
		}
		return sc.c.Start(f.Node, nil, false)
	}
	if f.Early {
		if err := start(); err != nil {
			return err
		}
		if err := sc.c.WaitUp(ctx, f.Node, 60*time.Second); err != nil {
			return err
		}
		sc.logf("join: n%d started before the proposal", f.Node)
	}
	adminID, adminKey, err := sc.c.Admin(f.Node)
	if err != nil {
		return err
	}
	sub := &pb.SubmitProposal{ProposalId: "chaos-add-" + dept, Title: "add " + dept,
		Change: &pb.SubmitProposal_AddDepartment{AddDepartment: &pb.AddDepartment{
			Department: sc.c.Spare,
			Admin: &pb.RegisterOfficial{IdentityId: adminID, DepartmentId: dept, DisplayName: dept + " admin",
				Roles: []pb.Role{pb.Role_ROLE_ADMIN}, PublicKey: adminKey.Public()},
		}}}
	voters := slices.Clone(sc.members)
	ch.Decided, ch.Effective, err = sc.pass(ctx, sub, voters, func(ids []string) bool { return slices.Contains(ids, dept) })
	if err != nil {
		ch.Err = err.Error()
		sc.changes = append(sc.changes, ch)
		sc.logf("join: %s did not pass: %v", dept, err)
		// The schedule goes on (its faults on the spare need it running);
		// Check fails it.
		return start()
	}
	ch.Passed = true
	sc.changes = append(sc.changes, ch)
	sc.joinAt = ch.Effective
	sc.members = append(sc.members, f.Node)
	sc.logf("join: %s passed at %d, in force from %d", dept, ch.Decided, ch.Effective)
	if !f.Early {
		if err := start(); err != nil {
			return err
		}
		sc.logf("join: n%d starting", f.Node)
	}
	return nil
}

// leave removes department f.Node by governance, and waits (up to a
// minute) until every remaining member has passed the height from which
// the removal is in force, so that later faults meet the new set. The
// removed node is left running: its chain is checked with the others'
// up to where it stops.
func (sc *schedule) leave(ctx context.Context, f Fault) error {
	dept := fmt.Sprintf("dept%d", f.Node)
	if !slices.Contains(sc.members, f.Node) {
		// The join it needs did not pass (already a finding).
		sc.logf("leave: %s is not a member, skipped", dept)
		return nil
	}
	ch := MemberChange{Dept: dept, Node: f.Node}
	var voters []int
	for _, i := range sc.members {
		if i != f.Node {
			voters = append(voters, i)
		}
	}
	sub := &pb.SubmitProposal{ProposalId: "chaos-remove-" + dept, Title: "remove " + dept,
		Change: &pb.SubmitProposal_RemoveDepartment{RemoveDepartment: &pb.RemoveDepartment{DepartmentId: dept}}}
	var err error
	ch.Decided, ch.Effective, err = sc.pass(ctx, sub, voters, func(ids []string) bool { return !slices.Contains(ids, dept) })
	if err != nil {
		ch.Err = err.Error()
		sc.changes = append(sc.changes, ch)
		sc.logf("leave: %s did not pass: %v", dept, err)
		return nil
	}
	ch.Passed = true
	sc.changes = append(sc.changes, ch)
	sc.members = voters
	sc.removed = append(sc.removed, f.Node)
	sc.logf("leave: %s passed at %d, in force from %d", dept, ch.Decided, ch.Effective)
	deadline := time.Now().Add(time.Minute)
	for sc.lowHeight(ctx) < ch.Effective && time.Now().Before(deadline) {
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	sc.logf("leave: members at height %d", sc.lowHeight(ctx))
	return nil
}

// pass submits proposal sub from the admin of voters[0], then has the
// admins of voters vote yes one at a time until it passed. It returns the
// deciding height and the effective height of the validator set it
// decided: the first set, in force or pending, whose department ids
// satisfy decided.
func (sc *schedule) pass(ctx context.Context, sub *pb.SubmitProposal, voters []int, decided func([]string) bool) (uint64, uint64, error) {
	head := sc.topHeight(ctx)
	sub.VotingEndHeight = head + 100_000
	if _, _, err := sc.govTx(ctx, voters[0], &pb.TxBody{Action: &pb.TxBody_SubmitProposal{SubmitProposal: sub}}); err != nil {
		return 0, 0, fmt.Errorf("proposal %s: %w", sub.GetProposalId(), err)
	}
	id := sub.GetProposalId()
	var p *pb.GovProposal
	var via int
	for _, k := range voters {
		_, node, err := sc.govTx(ctx, k, &pb.TxBody{Action: &pb.TxBody_VoteProposal{VoteProposal: &pb.VoteProposal{ProposalId: id, Approve: true}}})
		if err != nil {
			sc.logf("vote of dept%d on %s: %v", k, id, err)
			continue
		}
		if p, err = sc.proposal(ctx, node, id); err != nil {
			return 0, 0, err
		}
		via = node
		if p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_VOTING {
			break
		}
	}
	if p.GetStatus() != pb.ProposalStatus_PROPOSAL_STATUS_PASSED {
		return 0, 0, fmt.Errorf("proposal %s: %v after the votes of %v (%s)", id, p.GetStatus(), voters, p.GetFailureReason())
	}
	st, err := sc.c.Status(ctx, via)
	if err != nil {
		return 0, 0, err
	}
	sets := append([]*pb.ValidatorSet{st.GetValidators()}, st.GetPendingValidatorSets()...)
	for _, vs := range sets {
		var ids []string
		for _, v := range vs.GetValidators() {
			ids = append(ids, v.GetId())
		}
		if decided(ids) {
			return p.GetDecidedHeight(), vs.GetEffectiveHeight(), nil
		}
	}
	return p.GetDecidedHeight(), 0, fmt.Errorf("proposal %s passed at %d, but node%d at height %d reports no such set in force or pending", id, p.GetDecidedHeight(), via, st.GetHeight())
}

// proposal reads proposal id from node i.
func (sc *schedule) proposal(ctx context.Context, i int, id string) (*pb.GovProposal, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := sc.c.Clients[i].QueryProposal(cctx, connect.NewRequest(&pb.QueryProposalRequest{ProposalId: id}))
	if err != nil {
		return nil, fmt.Errorf("query proposal %s on node%d: %w", id, i, err)
	}
	return r.Msg.GetProposal(), nil
}

// govTx signs body as department k's admin with its next nonce and
// submits the same bytes to the running members in turn until one
// confirms it committed with result OK (it returns the height and that
// node), it committed with another result, or govWithin passed.
func (sc *schedule) govTx(ctx context.Context, k int, body *pb.TxBody) (uint64, int, error) {
	id, key, err := sc.c.Admin(k)
	if err != nil {
		return 0, 0, err
	}
	body.ChainId, body.Signer, body.Nonce = sc.c.ChainID, id, sc.nonces[id]+1
	raw, err := proto.Marshal(body)
	if err != nil {
		return 0, 0, err
	}
	sig, err := key.Sign(crypto.TxSignBytes(sc.c.ChainID, raw))
	if err != nil {
		return 0, 0, err
	}
	tx, err := proto.Marshal(&pb.SignedTx{Body: raw, Signature: sig})
	if err != nil {
		return 0, 0, err
	}
	hash := sc.c.Suite.Hash(tx)
	deadline := time.Now().Add(govWithin)
	var last error
	logged := ""
	for n := 0; time.Now().Before(deadline); n++ {
		node := sc.members[n%len(sc.members)]
		if !sc.c.Running(node) {
			if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
				return 0, 0, err
			}
			continue
		}
		h, res, err := sc.submitWait(ctx, node, tx, hash)
		if err == nil {
			sc.nonces[id]++
			if res.GetCode() != pb.ResultCode_RESULT_CODE_OK {
				return h, node, fmt.Errorf("committed at %d with %v: %s", h, res.GetCode(), res.GetReason())
			}
			return h, node, nil
		}
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		if q := (*connect.Error)(nil); errors.As(err, &q) && strings.Contains(q.Message(), "quorum safety") && q.Message() != logged {
			logged = q.Message()
			sc.logf("%s of %s refused by node%d, resubmitting: %s", kindOf(body), id, node, logged)
		}
		last = err
		if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
			return 0, 0, err
		}
	}
	return 0, 0, fmt.Errorf("%s of %s not committed within %s: %w", kindOf(body), id, govWithin, last)
}

// submitWait submits tx to node i waiting for its commit; a node that
// already knows tx is asked for it.
func (sc *schedule) submitWait(ctx context.Context, i int, tx, hash []byte) (uint64, *pb.TxResult, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := sc.c.Clients[i].SubmitTx(cctx, connect.NewRequest(&pb.SubmitTxRequest{Tx: tx, WaitForCommit: true, WaitTimeoutMs: 8000}))
	if err == nil && r.Msg.GetCommitted() {
		return r.Msg.GetHeight(), r.Msg.GetResult(), nil
	}
	if err == nil {
		err = fmt.Errorf("node%d: not committed within 8s", i)
	}
	gctx, gcancel := context.WithTimeout(ctx, 3*time.Second)
	defer gcancel()
	if g, gerr := sc.c.Clients[i].GetTx(gctx, connect.NewRequest(&pb.GetTxRequest{TxHash: hash})); gerr == nil && !g.Msg.GetPending() && g.Msg.GetHeight() > 0 {
		return g.Msg.GetHeight(), g.Msg.GetResult(), nil
	}
	return 0, nil, err
}

func kindOf(body *pb.TxBody) string {
	if body.GetVoteProposal() != nil {
		return "vote"
	}
	return "proposal"
}

// waitAnchor waits until some member reaches the join's activation height
// + f.Offset (up to a minute; a stalled chain is Check's to judge). Without
// a join in force the fault is applied at its time.
func (sc *schedule) waitAnchor(ctx context.Context, f Fault) error {
	if sc.joinAt == 0 {
		return nil
	}
	target := int64(sc.joinAt) + int64(f.Offset)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		h := sc.topHeight(ctx)
		if int64(h) >= target {
			sc.logf("at height %d (activation %d%+d)", h, sc.joinAt, int64(h)-int64(sc.joinAt))
			return nil
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	sc.logf("height %d not reached within a minute: applying the fault anyway", target)
	return nil
}

// topHeight is the highest height a member reports; lowHeight the lowest
// (0 if one does not answer).
func (sc *schedule) topHeight(ctx context.Context) uint64 {
	var top uint64
	for _, i := range sc.members {
		if st, err := sc.c.Status(ctx, i); err == nil {
			top = max(top, st.GetHeight())
		}
	}
	return top
}

func (sc *schedule) lowHeight(ctx context.Context) uint64 {
	low := uint64(1<<64 - 1)
	for _, i := range sc.members {
		st, err := sc.c.Status(ctx, i)
		if err != nil {
			return 0
		}
		low = min(low, st.GetHeight())
	}
	return low
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
