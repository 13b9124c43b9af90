package exec

import (
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// ValidatorIdentityID is the id of department dept's validator identity:
// the on-chain identity its validator node signs transactions with.
//
// A validator node must sign the evidence it finds (SubmitEvidence, which
// any active identity may send), but the department's human identities
// (admin, officials) are not the node's: their keys belong to people, and a
// node sending with their nonces would race them. So each department gets
// one identity of its own for its node, "<dept>-validator", an official with
// no roles whose key is the department's consensus key. The node holds that
// key already (no new key file, no new setting), and sign bytes are
// domain-separated by kind (crypto.SignBytes), so a tx signature can never
// pass for a vote or the reverse.
func ValidatorIdentityID(dept string) string { return dept + "-validator" }

// ValidatorIdentity is the validator identity of department d (see
// ValidatorIdentityID).
func ValidatorIdentity(d *pb.Department) *pb.Identity {
	return &pb.Identity{
		Id:           ValidatorIdentityID(d.GetId()),
		Kind:         pb.IdentityKind_IDENTITY_KIND_OFFICIAL,
		DepartmentId: d.GetId(),
		DisplayName:  d.GetName() + " validator node",
		PublicKey:    d.GetConsensusKey(),
		Status:       pb.IdentityStatus_IDENTITY_STATUS_ACTIVE,
	}
}

// EpochStart is the epoch of validator set vs as consensus numbers it
// (consensus.Config.Epoch): its effective height, or 0 for the genesis set.
func EpochStart(vs *pb.ValidatorSet) uint64 {
	if e := vs.GetEffectiveHeight(); e > GenesisHeight+1 {
		return e
	}
	return 0
}
