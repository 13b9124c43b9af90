package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/govnode/govnode/keystore"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestInitCryptoSuite: init --crypto-suite sm2-sm3 writes an SM2
// validator key and an Ed25519 node key; the default is Ed25519 for both;
// an unknown suite writes nothing.
func TestInitCryptoSuite(t *testing.T) {
	for _, c := range []struct {
		args []string
		want pb.KeyScheme
	}{{nil, pb.KeyScheme_KEY_SCHEME_ED25519}, {[]string{"--crypto-suite", "sm2-sm3"}, pb.KeyScheme_KEY_SCHEME_SM2}, {[]string{"--crypto-suite", "ed25519-sha256"}, pb.KeyScheme_KEY_SCHEME_ED25519}} {
		home := filepath.Join(t.TempDir(), "h")
		mustRun(t, nil, append([]string{"init", "--home", home, "--insecure-unencrypted"}, c.args...)...)
		v, err := keystore.LoadPublic(filepath.Join(home, "keys", "validator.key"))
		if err != nil {
			t.Fatalf("%v: validator key: %v", c.args, err)
		}
		if v.PublicKey.GetScheme() != c.want || v.Kind != keystore.KindValidator {
			t.Fatalf("%v: validator key %v (%s), want %v", c.args, v.PublicKey.GetScheme(), v.Kind, c.want)
		}
		n, err := keystore.LoadPublic(filepath.Join(home, "keys", "node.key"))
		if err != nil || n.PublicKey.GetScheme() != pb.KeyScheme_KEY_SCHEME_ED25519 {
			t.Fatalf("%v: node key %v, %v: want Ed25519", c.args, n, err)
		}
	}
	home := filepath.Join(t.TempDir(), "bad")
	r := run(t, nil, "init", "--home", home, "--insecure-unencrypted", "--crypto-suite", "sm9-sm3")
	if r.err == nil || !strings.Contains(r.err.Error(), "sm2-sm3") {
		t.Fatalf("unknown suite: %v", r.err)
	}
	if found, _ := filepath.Glob(filepath.Join(home, "*")); len(found) != 0 {
		t.Fatalf("an unknown suite wrote %v", found)
	}
}
