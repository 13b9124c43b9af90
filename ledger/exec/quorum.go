package exec

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Quorum safety of validator-set changes (ARCHITECTURE.md §5, governance).
// One home for the rules; the quorum and fault-tolerance formulas are
// consensus.Quorum and consensus.MaxFaulty. A change is an add_department,
// remove_department, rotate_validator_key, rotate_node_key or fault_model
// proposal; n is the size of the set in force.
//
//  1. Minimum size: a change that shrinks the set may not leave fewer than
//     MinValidators (4 byzantine, 3 crash), nor may a fault-model switch
//     leave fewer than the new model's minimum (a set of 3 does not become
//     byzantine). A set already below it may grow, one validator at a time.
//  2. One-step bound (byzantine): at most max(1, ⌊(n-1)/3⌋) validators may
//     differ between the set in force and the set the change leaves,
//     counting the changes decided and not yet in force, so that changes
//     decided within validator_change_delay of each other cannot together
//     exceed it. A validator differs when it is in one set only, or in
//     both with another consensus key: a key rotation is one validator
//     differing, a node-key rotation (same consensus key) none, a
//     fault-model switch none. (The 1 lets a byzantine set below 4, which
//     tolerates no faulty validator at all, grow.)
//  3. Live quorum: the validators of the resulting set that are live now
//     must meet its quorum. Who is live is a node's view, not state: the
//     node checks this rule at SubmitTx (node/api) and supplies the live
//     set; a validator that is not in the set in force, or is there with
//     another consensus key (a rotation: its new key has signed nothing
//     yet), is never live.
//
// Rules 1 and 2 are state: a proposal is checked at submission (CheckTx
// and its block) and again when it executes, since the state may have
// changed meanwhile (two removals each fine alone). A refusal at execution
// makes the proposal FAILED with the reason and changes nothing else.

// Names of the quorum-safety rules, as QuorumError.Rule.
const (
	RuleMinValidators = "minimum size"
	RuleStepBound     = "one-step change"
	RuleLiveQuorum    = "live quorum"
)

// QuorumError is a validator-set change refused by a quorum-safety rule.
type QuorumError struct {
	// Rule is one of RuleMinValidators, RuleStepBound, RuleLiveQuorum.
	Rule string
	// Reason names the change and the numbers.
	Reason string
}

func (e *QuorumError) Error() string { return "quorum safety, " + e.Rule + ": " + e.Reason }

// SetChange is a validator-set change as the quorum-safety rules see it.
type SetChange struct {
	// What names the change: "add-department d4", "remove-department d3".
	What string
	// InForce is the set in force at the height the change is checked for.
	InForce *pb.ValidatorSet
	// Decided is the last set decided: InForce with the changes decided and
	// not yet in force (InForce itself when there are none).
	Decided *pb.ValidatorSet
	// Next is Decided with this change: the set it leaves.
	Next *pb.ValidatorSet
}

// MinValidators is the smallest set a change may shrink the validators to
// under faultModel: 4 byzantine (f = 1), 3 crash (f = 1).
func MinValidators(faultModel string) int {
	if consensus.FaultModel(faultModel) == consensus.Byzantine {
		return 4
	}
	return 3
}

// MaxStepChange is how many validators may differ between a byzantine set
// of n in force and the set a change leaves: max(1, ⌊(n-1)/3⌋).
func MaxStepChange(n int) int {
	return max(1, consensus.MaxFaulty(consensus.Byzantine, n))
}

// CheckSetChange applies rules 1 and 2 to c; the error is a *QuorumError.
func CheckSetChange(c SetChange) error {
	n, next := len(c.InForce.GetValidators()), len(c.Next.GetValidators())
	model := c.Next.GetFaultModel()
	switched := model != c.Decided.GetFaultModel()
	if lowest := MinValidators(model); next < lowest && (next < len(c.Decided.GetValidators()) || switched) {
		return &QuorumError{Rule: RuleMinValidators, Reason: fmt.Sprintf(
			"%s would leave %d validators; %s mode needs at least %d", c.What, next, model, lowest)}
	}
	if consensus.FaultModel(model) != consensus.Byzantine && consensus.FaultModel(c.InForce.GetFaultModel()) != consensus.Byzantine {
		return nil
	}
	diff := differing(c.InForce, c.Next)
	if limit := MaxStepChange(n); len(diff) > limit {
		pending, wait := "", ""
		if d := differing(c.InForce, c.Decided); len(d) > 0 {
			pending = fmt.Sprintf(", with the changes decided and not yet in force (%s)", strings.Join(d, ", "))
			wait = ", so wait until they are in force"
		}
		return &QuorumError{Rule: RuleStepBound, Reason: fmt.Sprintf(
			"%s would make %d validators differ from the %d in force (%s)%s; byzantine mode allows at most max(1, ⌊(%d-1)/3⌋) = %d per step%s",
			c.What, len(diff), n, strings.Join(diff, ", "), pending, n, limit, wait)}
	}
	return nil
}

// CheckLiveQuorum applies rule 3 to c: live holds the ids of the
// validators the node saw live; seen says how it knows, for the message.
// The error is a *QuorumError.
func CheckLiveQuorum(c SetChange, live map[string]bool, seen string) error {
	inForce := map[string]*pb.PublicKey{}
	for _, v := range c.InForce.GetValidators() {
		inForce[v.GetId()] = v.GetConsensusKey()
	}
	var up []string
	for _, v := range c.Next.GetValidators() {
		if k, ok := inForce[v.GetId()]; ok && live[v.GetId()] && crypto.PublicKeyEqual(k, v.GetConsensusKey()) {
			up = append(up, v.GetId())
		}
	}
	model, n := c.Next.GetFaultModel(), len(c.Next.GetValidators())
	q := consensus.Quorum(consensus.FaultModel(model), n)
	if len(up) >= q {
		return nil
	}
	names := strings.Join(up, ", ")
	if names == "" {
		names = "none"
	}
	return &QuorumError{Rule: RuleLiveQuorum, Reason: fmt.Sprintf(
		"%s would leave %d validators needing a quorum of %d (%s), but only %d of them are live now (%s; %s)",
		c.What, n, q, model, len(up), names, seen)}
}

// differing lists, sorted, the validators that differ between a and b:
// "+id" in b only, "-id" in a only, "~id" in both with other keys.
func differing(a, b *pb.ValidatorSet) []string {
	keys := map[string]*pb.PublicKey{}
	for _, v := range a.GetValidators() {
		keys[v.GetId()] = v.GetConsensusKey()
	}
	var out []string
	for _, v := range b.GetValidators() {
		k, ok := keys[v.GetId()]
		switch {
		case !ok:
			out = append(out, "+"+v.GetId())
		case !crypto.PublicKeyEqual(k, v.GetConsensusKey()):
			out = append(out, "~"+v.GetId())
		}
		delete(keys, v.GetId())
	}
	for id := range keys {
		out = append(out, "-"+id)
	}
	slices.SortFunc(out, func(x, y string) int { return strings.Compare(x[1:], y[1:]) })
	return out
}

// HeightReader is a Reader that knows the height of the state it reads.
// CheckTx uses it to tell the validator set in force from the changes
// decided and not yet in force; with a plain Reader it takes the last set
// decided as in force, so rule 2 counts only the change itself there, and
// the exact rule applies at SubmitTx (node/api) and in the block.
type HeightReader interface {
	Reader
	// Height is the last committed height; false before genesis.
	Height() (uint64, bool)
}

// ProposedSetChange returns the change a proposal would make to the
// validator set, checked for the block at height h: the set in force at h,
// the last one decided, and the one the change leaves. ok is false when p
// does not change the validator set.
func ProposedSetChange(r Reader, h uint64, p *pb.SubmitProposal) (c SetChange, ok bool, err error) {
	return setChangeOf(newOverlay(readerKV{r}), h, true, p)
}

// setChangeOf is ProposedSetChange over st; without a height (atKnown
// false) the last set decided is taken as the one in force.
func setChangeOf(st *overlay, at uint64, atKnown bool, p *pb.SubmitProposal) (SetChange, bool, error) {
	what, change := validatorChange(p)
	if change == nil {
		return SetChange{}, false, nil
	}
	decided, err := currentValset(st)
	if err != nil {
		return SetChange{}, false, err
	}
	inForce := decided
	if atKnown {
		if inForce, err = valsetAt(st, at); err != nil {
			return SetChange{}, false, err
		}
	}
	return SetChange{What: what, InForce: inForce, Decided: decided, Next: change(decided)}, true, nil
}

// validatorChange names p's change to the validator set and returns it as
// a function of the last set decided, giving the set it leaves (without an
// effective height; the argument is not modified); nil when p changes no
// validator.
func validatorChange(p *pb.SubmitProposal) (string, func(*pb.ValidatorSet) *pb.ValidatorSet) {
	next := func(vs *pb.ValidatorSet, f func([]*pb.Department) []*pb.Department) *pb.ValidatorSet {
		return &pb.ValidatorSet{Validators: f(slices.Clone(vs.GetValidators())), FaultModel: vs.GetFaultModel()}
	}
	// edit replaces department id's entry with an edited copy.
	edit := func(id string, f func(*pb.Department)) func([]*pb.Department) []*pb.Department {
		return func(vs []*pb.Department) []*pb.Department {
			for i, d := range vs {
				if d.GetId() == id {
					c := proto.CloneOf(d)
					f(c)
					vs[i] = c
				}
			}
			return vs
		}
	}
	switch c := p.GetChange().(type) {
	case *pb.SubmitProposal_AddDepartment:
		d := c.AddDepartment.GetDepartment()
		return "add-department " + d.GetId(), func(vs *pb.ValidatorSet) *pb.ValidatorSet {
			return next(vs, func(vs []*pb.Department) []*pb.Department { return append(vs, d) })
		}
	case *pb.SubmitProposal_RemoveDepartment:
		id := c.RemoveDepartment.GetDepartmentId()
		return "remove-department " + id, func(vs *pb.ValidatorSet) *pb.ValidatorSet {
			return next(vs, func(vs []*pb.Department) []*pb.Department {
				return slices.DeleteFunc(vs, func(d *pb.Department) bool { return d.GetId() == id })
			})
		}
	case *pb.SubmitProposal_RotateValidatorKey:
		r := c.RotateValidatorKey
		return "rotate-validator-key " + r.GetDepartmentId(), func(vs *pb.ValidatorSet) *pb.ValidatorSet {
			return next(vs, edit(r.GetDepartmentId(), func(d *pb.Department) { rotateValidatorKey(d, r) }))
		}
	case *pb.SubmitProposal_RotateNodeKey:
		r := c.RotateNodeKey
		return "rotate-node-key " + r.GetDepartmentId(), func(vs *pb.ValidatorSet) *pb.ValidatorSet {
			return next(vs, edit(r.GetDepartmentId(), func(d *pb.Department) { rotateNode(d, r) }))
		}
	case *pb.SubmitProposal_FaultModel:
		model := c.FaultModel.GetFaultModel()
		return "fault-model " + model, func(vs *pb.ValidatorSet) *pb.ValidatorSet {
			n := next(vs, func(vs []*pb.Department) []*pb.Department { return vs })
			n.FaultModel = model
			return n
		}
	}
	return "", nil
}

// checkQuorumSafety is rules 1 and 2 for a proposal at height at (see
// setChangeOf), as a refusal with RESULT_CODE_CONFLICT: the change is
// well formed, the state does not allow it now.
func checkQuorumSafety(st *overlay, at uint64, atKnown bool, p *pb.SubmitProposal) error {
	c, ok, err := setChangeOf(st, at, atKnown, p)
	if err != nil || !ok {
		return err
	}
	if err := CheckSetChange(c); err != nil {
		return conflict("%v", err)
	}
	return nil
}
