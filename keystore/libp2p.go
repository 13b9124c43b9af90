package keystore

import (
	"crypto/ed25519"
	"fmt"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// NodeKeyToLibp2p converts an ed25519 node key into the libp2p private key
// of the node's host.
func NodeKeyToLibp2p(key crypto.PrivateKey) (lcrypto.PrivKey, error) {
	if key == nil {
		return nil, fmt.Errorf("node key: nil key")
	}
	if key.Scheme() != pb.KeyScheme_KEY_SCHEME_ED25519 {
		return nil, fmt.Errorf("node key: scheme %s: libp2p node keys must be ed25519", crypto.SchemeName(key.Scheme()))
	}
	seed := key.Bytes()
	defer clear(seed)
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("node key: %d-byte ed25519 seed, want %d", len(seed), ed25519.SeedSize)
	}
	// seed || public key, libp2p's encoding. libp2p keeps this slice as the
	// key itself, so it must not be cleared here.
	priv := ed25519.NewKeyFromSeed(seed)
	lk, err := lcrypto.UnmarshalEd25519PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	return lk, nil
}

// PeerIDFromPublicKey derives the libp2p peer id of a node key from its
// public key.
func PeerIDFromPublicKey(pub *pb.PublicKey) (peer.ID, error) {
	if err := crypto.ValidatePublicKey(pub); err != nil {
		return "", fmt.Errorf("peer id: %w", err)
	}
	if pub.GetScheme() != pb.KeyScheme_KEY_SCHEME_ED25519 {
		return "", fmt.Errorf("peer id: scheme %s: libp2p node keys must be ed25519", crypto.SchemeName(pub.GetScheme()))
	}
	lpub, err := lcrypto.UnmarshalEd25519PublicKey(pub.GetKey())
	if err != nil {
		return "", fmt.Errorf("peer id: %w", err)
	}
	id, err := peer.IDFromPublicKey(lpub)
	if err != nil {
		return "", fmt.Errorf("peer id: %w", err)
	}
	return id, nil
}
