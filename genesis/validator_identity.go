package genesis

import (
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// ValidatorIdentityID is exec.ValidatorIdentityID: the state machine owns
// the rule, since governance creates the identity of a department it adds.
func ValidatorIdentityID(dept string) string { return exec.ValidatorIdentityID(dept) }

// ValidatorIdentity is exec.ValidatorIdentity.
func ValidatorIdentity(d *pb.Department) *pb.Identity { return exec.ValidatorIdentity(d) }
