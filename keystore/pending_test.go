package keystore_test

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func TestPendingPath(t *testing.T) {
	for in, want := range map[string]string{
		filepath.Join("keys", "validator.key"): filepath.Join("keys", "validator.pending.key"),
		filepath.Join("keys", "node"):          filepath.Join("keys", "node.pending"),
		"v.key":                                "v.pending.key",
	} {
		if got := keystore.PendingPath(in); got != want {
			t.Errorf("PendingPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoadPending(t *testing.T) {
	dir := t.TempDir()
	cur := filepath.Join(dir, "validator.key")
	gen := func() crypto.PrivateKey {
		k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	opts := keystore.Options{Kind: keystore.KindValidator, Passphrase: "pass", ScryptWorkFactor: 10}
	if err := keystore.Save(cur, gen(), opts); err != nil {
		t.Fatal(err)
	}
	// None yet.
	if k, info, err := keystore.LoadPending(cur, "pass", keystore.KindValidator); k != nil || info != nil || err != nil {
		t.Fatalf("no pending key: %v %v %v", k, info, err)
	}
	next := gen()
	if err := keystore.Save(keystore.PendingPath(cur), next, opts); err != nil {
		t.Fatal(err)
	}
	k, info, err := keystore.LoadPending(cur, "pass", keystore.KindValidator)
	if err != nil || !crypto.PublicKeyEqual(k.Public(), next.Public()) || info.Path != keystore.PendingPath(cur) {
		t.Fatalf("pending key: %v %v %v", k, info, err)
	}
	if _, _, err := keystore.LoadPending(cur, "wrong", keystore.KindValidator); err == nil || !strings.Contains(err.Error(), "pending key") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, _, err := keystore.LoadPending(cur, "pass", keystore.KindNode); err == nil || !strings.Contains(err.Error(), "of kind validator, want node") {
		t.Fatalf("wrong kind: %v", err)
	}
	os.WriteFile(keystore.PendingPath(cur), []byte("{"), 0o600)
	if _, _, err := keystore.LoadPending(cur, "pass", keystore.KindValidator); err == nil {
		t.Fatal("damaged pending key loaded")
	}
}
