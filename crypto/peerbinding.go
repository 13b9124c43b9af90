package crypto

import (
	"errors"
	"fmt"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Peer binding errors callers test for.
var (
	// ErrPeerBindingMissing: an "sm2-sm3" chain's department carries no
	// peer binding.
	ErrPeerBindingMissing = errors.New("crypto: missing peer binding")
	// ErrPeerBindingUnexpected: an "ed25519-sha256" chain's department
	// carries a peer binding. Such a chain admits peers by peer id alone;
	// a binding there would be bytes nobody checks, which anyone could
	// change without changing what the department means, so it is refused
	// rather than ignored.
	ErrPeerBindingUnexpected = errors.New("crypto: peer binding on a chain whose suite takes none")
)

// BindPeer returns key's peer binding of peerID for department
// departmentID on chain chainID: key's signature over
// PeerBindingSignBytes (Department.peer_binding, ARCHITECTURE.md §7 "Faults
// and hostile input"). key is the department's SM2 consensus key.
func BindPeer(key PrivateKey, chainID, departmentID, peerID string) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no consensus key to bind the peer id with", ErrBadKey)
	}
	return key.Sign(PeerBindingSignBytes(chainID, departmentID, peerID))
}

// CheckPeerBinding is the one rule of a department's peer binding. On a
// chain of suite SM2SM3, binding must be key's valid signature over
// PeerBindingSignBytes(chainID, departmentID, peerID): the department's
// SM2 consensus key vouches for its node's Ed25519 libp2p peer id. On an
// Ed25519SHA256 chain, whose consensus keys are of the peer id's own
// scheme, binding must be empty. Genesis, the state machine and peer
// admission all apply it.
func CheckPeerBinding(suite Suite, chainID, departmentID, peerID string, key *pb.PublicKey, binding []byte) error {
	if suite != SM2SM3 {
		if len(binding) != 0 {
			return fmt.Errorf("%w: %s (a %d-byte peer_binding; leave it empty)", ErrPeerBindingUnexpected, suite, len(binding))
		}
		return nil
	}
	if len(binding) == 0 {
		return fmt.Errorf("%w: on a %s chain, department %q's consensus key must sign its peer id %s (peer_binding)", ErrPeerBindingMissing, suite, departmentID, peerID)
	}
	if key.GetScheme() != suite.Scheme() {
		return fmt.Errorf("peer_binding of department %q: %w: a %s consensus key on a %s chain", departmentID, ErrWrongScheme, SchemeName(key.GetScheme()), suite)
	}
	if err := Verify(key, PeerBindingSignBytes(chainID, departmentID, peerID), binding); err != nil {
		return fmt.Errorf("peer_binding of department %q, peer id %s: %w", departmentID, peerID, err)
	}
	return nil
}
