package home

import (
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func TestPendingKeys(t *testing.T) {
	dir := t.TempDir()
	val, node := filepath.Join(dir, "validator.key"), filepath.Join(dir, "node.key")
	if k, err := PendingConsensusKey(val, ""); k != nil || err != nil {
		t.Fatalf("none: %v %v", k, err)
	}
	if k, err := PendingConsensusKey("", ""); k != nil || err != nil {
		t.Fatalf("an observer: %v %v", k, err)
	}
	save := func(path string, kind keystore.Kind) crypto.PrivateKey {
		k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := keystore.Save(keystore.PendingPath(path), k, keystore.Options{Kind: kind, Unencrypted: true}); err != nil {
			t.Fatal(err)
		}
		return k
	}
	vk, nk := save(val, keystore.KindValidator), save(node, keystore.KindNode)
	if k, err := PendingConsensusKey(val, ""); err != nil || !crypto.PublicKeyEqual(k.Public(), vk.Public()) {
		t.Fatalf("pending consensus key: %v %v", k, err)
	}
	if k, err := PendingNodeKey(node, ""); err != nil || !crypto.PublicKeyEqual(k.Public(), nk.Public()) {
		t.Fatalf("pending node key: %v %v", k, err)
	}
	// A node key where the validator's pending key belongs is refused.
	if _, err := PendingConsensusKey(node, ""); err == nil {
		t.Fatal("a node key loaded as the pending consensus key")
	}
}
