package home

import (
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
)

// PendingConsensusKey loads the validator's pending consensus key, the
// file beside validatorKeyFile that `govnode keys pending` writes
// (keystore.PendingPath), opened with the node's passphrase; nil without
// one. The node hands it to the consensus driver (driver.Deps.Keys), which
// signs with it from the epoch whose validator set names it
// (ARCHITECTURE.md §5, governance: rotate_validator_key).
func PendingConsensusKey(validatorKeyFile, passphrase string) (crypto.PrivateKey, error) {
	if validatorKeyFile == "" {
		return nil, nil
	}
	k, _, err := keystore.LoadPending(validatorKeyFile, passphrase, keystore.KindValidator)
	return k, err
}

// PendingNodeKey loads the node's pending libp2p key, beside nodeKeyFile;
// nil without one. Its peer id (keystore.PeerIDFromPublicKey) is the one a
// rotate_node_key proposal names.
func PendingNodeKey(nodeKeyFile, passphrase string) (crypto.PrivateKey, error) {
	if nodeKeyFile == "" {
		return nil, nil
	}
	k, _, err := keystore.LoadPending(nodeKeyFile, passphrase, keystore.KindNode)
	return k, err
}
