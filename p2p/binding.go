package p2p

import (
	"fmt"
	"log/slog"

	"github.com/govnode/govnode/crypto"
)

// boundMembers returns the members whose peer binding holds on the chain
// (suite, chainID): on an "sm2-sm3" chain a validator's node is admitted
// only when its department's SM2 consensus key signed its Ed25519 peer id
// (Department.peer_binding, crypto.CheckPeerBinding), so that a peer id in
// the validator set cannot be one the department never vouched for; on an
// "ed25519-sha256" chain, whose members carry no binding, every member is
// (ARCHITECTURE.md §7 "Faults and hostile input"). A member left out is
// neither admitted by the gater nor dialed nor sent direct frames, and is
// logged once as a warning: unbound remembers the members left out (and
// forgets those no longer left out), and a member left out again with the
// same peer id, key and binding is not logged again. The state machine
// refuses unbound members, so this is the last line, not the first.
func boundMembers(suite crypto.Suite, chainID string, members []Member, log *slog.Logger, unbound map[string]bool) []Member {
	out := make([]Member, 0, len(members))
	now := make(map[string]bool)
	defer func() {
		for k := range unbound {
			if !now[k] {
				delete(unbound, k)
			}
		}
	}()
	for _, m := range members {
		err := crypto.CheckPeerBinding(suite, chainID, m.DepartmentID, m.PeerID.String(), m.ConsensusKey, m.PeerBinding)
		if err == nil {
			out = append(out, m)
			continue
		}
		k := unboundKey(m)
		now[k] = true
		if unbound[k] {
			continue
		}
		unbound[k] = true
		log.Warn("p2p: validator node not admitted: its peer binding does not hold",
			"peer", m.PeerID.String(), "department", m.DepartmentID, "validator_index", m.ValidatorIndex,
			"crypto_suite", suite.String(), "err", err)
	}
	return out
}

// unboundKey names a member left out by boundMembers: its peer id,
// department, key and binding, so that a changed binding is logged anew.
func unboundKey(m Member) string {
	return fmt.Sprintf("%s/%s/%d/%x/%x", m.PeerID, m.DepartmentID, m.ConsensusKey.GetScheme(), m.ConsensusKey.GetKey(), m.PeerBinding)
}
