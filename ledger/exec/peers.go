package exec

import (
	"fmt"
	"strings"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Peer ids of validators' nodes and of observers (ARCHITECTURE.md §5,
// governance). The one rule for a node's libp2p peer id wherever it
// enters: genesis (genesis.Validate), governance (add-department,
// rotate-node-key, add-observer) and the CLI.

// ValidatePeerID decodes s, a libp2p peer id, and refuses one whose node
// key is one an honest node could not hold. An Ed25519 peer id embeds its
// public key, and libp2p authenticates the node with it, so a small-order
// key there would let anyone pose as the node; crypto.ValidatePublicKey is
// the one rule for every key that enters. Ids of other key types are
// refused: a node key is Ed25519 (keystore.LoadNodeKey).
func ValidatePeerID(s string) (peer.ID, error) {
	pid, err := peer.Decode(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a libp2p peer id: %v", s, err)
	}
	if err := checkPeerKey(pid); err != nil {
		return "", fmt.Errorf("%s: %v", s, err)
	}
	return pid, nil
}

func checkPeerKey(pid peer.ID) error {
	pk, err := pid.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("the peer id does not embed its public key: %v", err)
	}
	if pk.Type() != lcrypto.Ed25519 {
		return fmt.Errorf("node key is %v, want Ed25519", pk.Type())
	}
	raw, err := pk.Raw()
	if err != nil {
		return err
	}
	return crypto.ValidatePublicKey(&pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_ED25519, Key: raw})
}

// checkPeerID is ValidatePeerID as a tx refusal. State compares peer ids
// as strings (the allow-list, the duplicate checks), so a governed peer id
// must also be in its canonical form, the one peer.ID.String gives.
func checkPeerID(what, s string) error {
	if s == "" {
		return invalid("%s is required", what)
	}
	if err := checkText(what, s, MaxNameBytes, true); err != nil {
		return err
	}
	pid, err := ValidatePeerID(s)
	if err != nil {
		return invalid("%s: %v", what, err)
	}
	if pid.String() != s {
		return invalid("%s %q is not in its canonical form %s", what, s, pid.String())
	}
	return nil
}

// checkNodeAddrs checks a node's addresses: bounded text, and an address
// naming a peer (…/p2p/<id>) names this node's. The state machine does
// not parse multiaddrs: which protocols a multiaddr library knows changes
// between its versions, and a tx's validity may not (the CLI and genesis
// parse them).
func checkNodeAddrs(peerID string, addrs []string) error {
	if err := checkListLen("addrs", len(addrs)); err != nil {
		return err
	}
	for _, a := range addrs {
		if err := checkText("addr", a, MaxNameBytes, true); err != nil {
			return err
		}
		if !strings.HasPrefix(a, "/") {
			return invalid("addr %q is not a multiaddr (it starts with /)", a)
		}
		if id, ok := addrPeer(a); ok && id != peerID {
			return invalid("addr %q names peer %s, not the node's peer id %s", a, id, peerID)
		}
	}
	return nil
}

// addrPeer returns the peer id an address names in its /p2p/ (or /ipfs/)
// component.
func addrPeer(a string) (string, bool) {
	parts := strings.Split(a, "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "p2p" || parts[i] == "ipfs" {
			return parts[i+1], true
		}
	}
	return "", false
}
