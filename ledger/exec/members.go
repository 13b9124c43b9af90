package exec

import (
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Governed changes of the members' validators and of the observers
// (ARCHITECTURE.md §5, governance):
//   - rotate_validator_key, rotate_node_key: proposed by an admin of the
//     department whose keys change (no department chooses another's key);
//     the department must be a member with a validator in the last set
//     decided. A new ValidatorSet with the department's new consensus key
//     (or peer id and addrs) is in force from the deciding height +
//     validator_change_delay, as for add/remove-department; the Department
//     record changes at once, when the proposal executes, as add_department
//     writes it at once: the Department record says what governance
//     decided, the ValidatorSet records say from which height consensus and
//     the p2p allow-list use it.
//   - A consensus key that any validator set ever named is never used
//     again (by a rotation or a new department): a leaked retired key must
//     sign nothing that counts, now or later.
//   - A peer id is used by one validator of the set at a time; a governed
//     peer id is in its canonical form (ValidatePeerID).
//   - fault_model: "crash" or "byzantine", not the model of the last set
//     decided; the same validators in a new ValidatorSet.
//   - add_observer / remove_observer: a list of peer ids in state
//     (observer/<peer_id>), read live by the nodes' p2p allow-list
//     (Observers); a peer id is listed once, and not while a validator of
//     the set in force or decided has it.
//   - Each validator-set change passes the quorum-safety rules (quorum.go).

// rotationTarget is the department a key rotation changes; "" for other
// proposals.
func rotationTarget(p *pb.SubmitProposal) string {
	switch c := p.GetChange().(type) {
	case *pb.SubmitProposal_RotateValidatorKey:
		return c.RotateValidatorKey.GetDepartmentId()
	case *pb.SubmitProposal_RotateNodeKey:
		return c.RotateNodeKey.GetDepartmentId()
	}
	return ""
}

// checkProposer refuses a key rotation proposed by another department
// than the one rotated.
func checkProposer(proposerDept string, p *pb.SubmitProposal) error {
	if t := rotationTarget(p); t != "" && t != proposerDept {
		return unauthorized("only an admin of department %s may propose rotating its keys (the proposer is of %s)", t, proposerDept)
	}
	return nil
}

// validateMemberChangeShape is the stateless check of the changes of this
// file; ok is false for other changes.
func validateMemberChangeShape(suite crypto.Suite, p *pb.SubmitProposal) (ok bool, err error) {
	switch c := p.GetChange().(type) {
	case *pb.SubmitProposal_RotateValidatorKey:
		if c.RotateValidatorKey == nil {
			return true, invalid("rotate_validator_key is empty")
		}
		if err := checkID("department id", c.RotateValidatorKey.GetDepartmentId()); err != nil {
			return true, err
		}
		return true, checkPublicKey(suite, "new consensus key", c.RotateValidatorKey.GetConsensusKey())
	case *pb.SubmitProposal_RotateNodeKey:
		r := c.RotateNodeKey
		if r == nil {
			return true, invalid("rotate_node_key is empty")
		}
		if err := checkID("department id", r.GetDepartmentId()); err != nil {
			return true, err
		}
		if err := checkPeerID("new peer id", r.GetPeerId()); err != nil {
			return true, err
		}
		return true, checkNodeAddrs(r.GetPeerId(), r.GetAddrs())
	case *pb.SubmitProposal_FaultModel:
		m := consensus.FaultModel(c.FaultModel.GetFaultModel())
		if m != consensus.Crash && m != consensus.Byzantine {
			return true, invalid("fault model %q: want %q or %q", m, consensus.Crash, consensus.Byzantine)
		}
		return true, nil
	case *pb.SubmitProposal_AddObserver:
		if err := checkPeerID("observer peer id", c.AddObserver.GetPeerId()); err != nil {
			return true, err
		}
		return true, checkText("observer name", c.AddObserver.GetName(), MaxNameBytes, false)
	case *pb.SubmitProposal_RemoveObserver:
		return true, checkPeerID("observer peer id", c.RemoveObserver.GetPeerId())
	}
	return false, nil
}

// checkMemberChange checks a change of this file against the state (at
// submission and again at execution); ok is false for other changes.
func (tc *txCtx) checkMemberChange(a *pb.SubmitProposal) (ok bool, err error) {
	switch c := a.GetChange().(type) {
	case *pb.SubmitProposal_RotateValidatorKey:
		r := c.RotateValidatorKey
		cur, err := tc.validatorOf(r.GetDepartmentId())
		if err != nil {
			return true, err
		}
		if crypto.PublicKeyEqual(cur.GetConsensusKey(), r.GetConsensusKey()) {
			return true, conflict("the new consensus key is department %s's key already", r.GetDepartmentId())
		}
		if err := checkKeyNeverUsed(tc.st, r.GetConsensusKey()); err != nil {
			return true, err
		}
		// The new key binds the node the department has (an sm2-sm3
		// chain's Department.peer_binding); checked at execution again, so
		// a node rotation decided meanwhile voids it.
		if err := tc.e.checkPeerBinding("rotate_validator_key peer binding (the new key's, of the current peer id)",
			r.GetDepartmentId(), cur.GetPeerId(), r.GetConsensusKey(), r.GetPeerBinding()); err != nil {
			return true, err
		}
	case *pb.SubmitProposal_RotateNodeKey:
		r := c.RotateNodeKey
		cur, err := tc.validatorOf(r.GetDepartmentId())
		if err != nil {
			return true, err
		}
		if cur.GetPeerId() == r.GetPeerId() {
			return true, conflict("the new peer id is department %s's peer id already", r.GetDepartmentId())
		}
		if err := tc.checkPeerFree(r.GetPeerId(), r.GetDepartmentId()); err != nil {
			return true, err
		}
		// The current key binds the new node; checked at execution again,
		// so a validator key rotation decided meanwhile voids it.
		if err := tc.e.checkPeerBinding("rotate_node_key peer binding (the current consensus key's, of the new peer id)",
			r.GetDepartmentId(), r.GetPeerId(), cur.GetConsensusKey(), r.GetPeerBinding()); err != nil {
			return true, err
		}
		if len(r.GetAddrs()) == 0 {
			// The addrs kept must not name the old peer id.
			if err := checkNodeAddrs(r.GetPeerId(), cur.GetAddrs()); err != nil {
				return true, invalid("department %s's current addrs do not fit the new peer id (%v): give the new addrs", r.GetDepartmentId(), err)
			}
		}
	case *pb.SubmitProposal_FaultModel:
		vs, err := currentValset(tc.st)
		if err != nil {
			return true, err
		}
		if vs.GetFaultModel() == c.FaultModel.GetFaultModel() {
			return true, conflict("the fault model is %s already (in the last validator set decided, effective at height %d)", vs.GetFaultModel(), vs.GetEffectiveHeight())
		}
	case *pb.SubmitProposal_AddObserver:
		id := c.AddObserver.GetPeerId()
		if ok, err := tc.st.has(kObserver(id)); err != nil {
			return true, err
		} else if ok {
			return true, exists("observer %s is listed already", id)
		}
		if err := tc.checkPeerFree(id, ""); err != nil {
			return true, err
		}
		return true, nil
	case *pb.SubmitProposal_RemoveObserver:
		id := c.RemoveObserver.GetPeerId()
		if ok, err := tc.st.has(kObserver(id)); err != nil {
			return true, err
		} else if !ok {
			return true, notFound("observer %s is not listed", id)
		}
		return true, nil
	default:
		return false, nil
	}
	return true, checkQuorumSafety(tc.st, tc.b.height, true, a)
}

// validatorOf returns department id's validator in the last set decided,
// refusing a department that is not a member or has no validator there.
func (tc *txCtx) validatorOf(id string) (*pb.Department, error) {
	if ok, err := tc.isMember(id); err != nil {
		return nil, err
	} else if !ok {
		return nil, notFound("department %s is not a member", id)
	}
	vs, err := currentValset(tc.st)
	if err != nil {
		return nil, err
	}
	for _, v := range vs.GetValidators() {
		if v.GetId() == id {
			return v, nil
		}
	}
	return nil, conflict("department %s has no validator in the last set decided", id)
}

// checkKeyNeverUsed refuses a consensus key that a validator set, in force
// or decided, ever named.
func checkKeyNeverUsed(st *overlay, k *pb.PublicKey) error {
	var by string
	var height uint64
	if err := st.iterate(prefixValset, prefixEnd(prefixValset), func(key string, v []byte) error {
		if by != "" {
			return nil
		}
		vs := &pb.ValidatorSet{}
		if err := proto.Unmarshal(v, vs); err != nil {
			return fmtInvariant("decode %q: %v", key, err)
		}
		for _, d := range vs.GetValidators() {
			if crypto.PublicKeyEqual(d.GetConsensusKey(), k) {
				by, height = d.GetId(), vs.GetEffectiveHeight()
				return nil
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if by != "" {
		return conflict("consensus key already used by %s (in the validator set effective at height %d); a validator key is never reused", by, height)
	}
	return nil
}

// checkPeerFree refuses a peer id that another validator than dept has in
// the set in force or the last one decided.
func (tc *txCtx) checkPeerFree(id, dept string) error {
	decided, err := currentValset(tc.st)
	if err != nil {
		return err
	}
	inForce, err := valsetAt(tc.st, tc.b.height)
	if err != nil {
		return err
	}
	for _, vs := range []*pb.ValidatorSet{inForce, decided} {
		for _, v := range vs.GetValidators() {
			if v.GetPeerId() == id && v.GetId() != dept {
				return conflict("peer id %s is department %s's validator node", id, v.GetId())
			}
		}
	}
	return nil
}

// checkDepartmentPeer is add_department's peer id check against the set.
func (tc *txCtx) checkDepartmentPeer(d *pb.Department) error {
	return tc.checkPeerFree(d.GetPeerId(), d.GetId())
}

// rotateNode gives d r's peer id and its binding, and its addrs unless r
// has none.
func rotateNode(d *pb.Department, r *pb.RotateNodeKey) {
	d.PeerId = r.GetPeerId()
	d.PeerBinding = r.GetPeerBinding()
	if len(r.GetAddrs()) > 0 {
		d.Addrs = slices.Clone(r.GetAddrs())
	}
}

// rotateValidatorKey gives d r's consensus key and the new key's binding
// of d's peer id.
func rotateValidatorKey(d *pb.Department, r *pb.RotateValidatorKey) {
	d.ConsensusKey = r.GetConsensusKey()
	d.PeerBinding = r.GetPeerBinding()
}

// applyMemberChange applies a change of this file; ok is false for other
// changes.
func (tc *txCtx) applyMemberChange(sub *pb.SubmitProposal) (ok bool, err error) {
	pid := sub.GetProposalId()
	passed := pb.ProposalStatus_PROPOSAL_STATUS_PASSED
	switch c := sub.GetChange().(type) {
	case *pb.SubmitProposal_RotateValidatorKey:
		r := c.RotateValidatorKey
		var old *pb.PublicKey
		if err := tc.editDepartment(r.GetDepartmentId(), func(d *pb.Department) {
			old = d.GetConsensusKey()
			rotateValidatorKey(d, r)
		}); err != nil {
			return true, err
		}
		if err := tc.rekeyValidatorIdentity(r.GetDepartmentId(), old, r.GetConsensusKey(), pid); err != nil {
			return true, err
		}
		if err := tc.changeValset(r.GetDepartmentId(), sub); err != nil {
			return true, err
		}
		tc.govEvent(pid, "validator_key_rotated", r.GetDepartmentId(), passed, tc.b.valset.GetEffectiveHeight())
	case *pb.SubmitProposal_RotateNodeKey:
		r := c.RotateNodeKey
		if err := tc.editDepartment(r.GetDepartmentId(), func(d *pb.Department) { rotateNode(d, r) }); err != nil {
			return true, err
		}
		if err := tc.changeValset(r.GetDepartmentId(), sub); err != nil {
			return true, err
		}
		tc.peerEvent(pid, "node_key_rotated", r.GetDepartmentId(), r.GetPeerId(), tc.b.valset.GetEffectiveHeight())
	case *pb.SubmitProposal_FaultModel:
		if err := tc.changeValset("", sub); err != nil {
			return true, err
		}
		tc.govEvent(pid, "fault_model_changed", "", passed, tc.b.valset.GetEffectiveHeight())
	case *pb.SubmitProposal_AddObserver:
		o := &pb.Observer{PeerId: c.AddObserver.GetPeerId(), Name: c.AddObserver.GetName(), ProposalId: pid, AddedHeight: tc.b.height}
		if err := tc.st.putMsg(kObserver(o.GetPeerId()), o); err != nil {
			return true, err
		}
		tc.peerEvent(pid, "observer_added", "", o.GetPeerId(), 0)
	case *pb.SubmitProposal_RemoveObserver:
		tc.st.del(kObserver(c.RemoveObserver.GetPeerId()))
		tc.peerEvent(pid, "observer_removed", "", c.RemoveObserver.GetPeerId(), 0)
	default:
		return false, nil
	}
	return true, nil
}

// rekeyValidatorIdentity gives department dept's validator identity
// (ValidatorIdentityID) the rotated consensus key, when the identity is
// still keyed by the old one: the node signs its evidence txs with the key
// it votes with, and after the rotation it holds only the new key for
// good. The old key goes into the identity's history, as any key rotation
// does. An identity its department keyed otherwise (RotateIdentityKey),
// revoked, or missing is left as it is.
func (tc *txCtx) rekeyValidatorIdentity(dept string, old, next *pb.PublicKey, proposal string) error {
	idn := &pb.Identity{}
	ok, err := tc.st.getMsg(kIdentity(ValidatorIdentityID(dept)), idn)
	if err != nil || !ok {
		return err
	}
	if idn.GetStatus() == pb.IdentityStatus_IDENTITY_STATUS_REVOKED || !crypto.PublicKeyEqual(idn.GetPublicKey(), old) {
		return nil
	}
	idn.KeyHistory = append(idn.KeyHistory, &pb.KeyChange{
		PublicKey: old, ReplacedHeight: tc.b.height, ReplacedBy: tc.actor(), Reason: "validator key rotated by governance proposal " + proposal,
	})
	idn.PublicKey = next
	idn.UpdatedHeight = tc.b.height
	if err := tc.st.putMsg(kIdentity(idn.GetId()), idn); err != nil {
		return err
	}
	tc.emit(identityEvent(idn.GetId(), "key_rotated", idn.GetStatus(), tc.actor()))
	return nil
}

// editDepartment rewrites a member department's record with f applied.
func (tc *txCtx) editDepartment(id string, f func(*pb.Department)) error {
	d := &pb.Department{}
	ok, err := tc.st.getMsg(kDept(id), d)
	if err != nil {
		return err
	}
	if !ok {
		return fmtInvariant("department %s missing", id)
	}
	f(d)
	return tc.st.putMsg(kDept(id), d)
}

func (tc *txCtx) peerEvent(id, action, dept, peerID string, eff uint64) {
	tc.emit(&pb.Event{Kind: &pb.Event_Governance{Governance: &pb.GovernanceEvent{
		ProposalId: id, Action: action, DepartmentId: dept, Status: pb.ProposalStatus_PROPOSAL_STATUS_PASSED,
		EffectiveHeight: eff, PeerId: peerID,
	}}})
}

// Observers returns the peer ids of the observers governance admitted,
// sorted: the p2p allow-list reads it live, beside the validators of the
// set in force and the node's static list.
func Observers(r Reader) ([]string, error) {
	keys, err := newOverlay(readerKV{r}).keysWithPrefix(prefixObserver)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k[len(prefixObserver):])
	}
	return out, nil
}

// Observer returns an observer's entry.
func Observer(r Reader, peerID string) (*pb.Observer, error) {
	return queryMsg(r, kObserver(peerID), &pb.Observer{})
}

// ObserverKey is the state key of an observer's entry, for proofs.
func ObserverKey(peerID string) []byte { return []byte(kObserver(peerID)) }
