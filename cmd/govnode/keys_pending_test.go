package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/node/home"
)

func TestKeysPending(t *testing.T) {
	h := filepath.Join(t.TempDir(), "home")
	mustRun(t, nil, "init", "--home", h, "--moniker", "m0", "--insecure-unencrypted")
	cur := filepath.Join(h, "keys", "validator.key")
	pending := filepath.Join(h, "keys", "validator.pending.key")

	// The current key is unencrypted: the pending one is stored alike,
	// on request.
	if r := run(t, nil, "keys", "pending", "--home", h); r.err == nil || !strings.Contains(r.err.Error(), "--insecure-unencrypted") {
		t.Fatalf("pending without --insecure-unencrypted: %v", r.err)
	}
	r := mustRun(t, nil, "keys", "pending", "--home", h, "--insecure-unencrypted", "--output", "json")
	var v keyView
	if err := json.Unmarshal([]byte(r.out), &v); err != nil {
		t.Fatal(err)
	}
	if v.File != pending || v.Kind != "validator" || v.PublicKey == "" {
		t.Fatalf("pending key view %+v", v)
	}
	curInfo, _ := keystore.LoadPublic(cur)
	if v.PublicKey == b64(curInfo.PublicKey.GetKey()) {
		t.Fatal("the pending key is the current one")
	}
	// The node's loader finds it.
	k, err := home.PendingConsensusKey(cur, "")
	if err != nil || b64(k.Public().GetKey()) != v.PublicKey {
		t.Fatalf("PendingConsensusKey: %v %v", k, err)
	}
	// One pending key at a time, unless replaced knowingly.
	if r := run(t, nil, "keys", "pending", "--home", h, "--insecure-unencrypted"); r.err == nil || !strings.Contains(r.err.Error(), "exists already") {
		t.Fatalf("second pending: %v", r.err)
	}
	r = mustRun(t, nil, "keys", "pending", "--home", h, "--insecure-unencrypted", "--force")
	if !strings.Contains(r.out, "rotate-validator-key") || !strings.Contains(r.out, pending) {
		t.Fatalf("no proposal hint:\n%s", r.out)
	}
	// The proposal takes the pending file.
	pub, err := parseConsensusKeyArg("consensus-key", pending)
	if k2, _ := home.PendingConsensusKey(cur, ""); err != nil || !crypto.PublicKeyEqual(pub, k2.Public()) {
		t.Fatalf("pending file as --consensus-key: %v", err)
	}

	// A node key, with its peer id.
	r = mustRun(t, nil, "keys", "pending", "--home", h, "--kind", "node", "--insecure-unencrypted", "--output", "json")
	if err := json.Unmarshal([]byte(r.out), &v); err != nil {
		t.Fatal(err)
	}
	nk, err := home.PendingNodeKey(filepath.Join(h, "keys", "node.key"), "")
	if err != nil || !strings.HasPrefix(v.PeerID, "12D3Koo") {
		t.Fatalf("pending node key %+v %v", v, err)
	}
	if id, _ := keystore.PeerIDFromPublicKey(nk.Public()); id.String() != v.PeerID {
		t.Fatalf("peer id %s, loader's key has %s", v.PeerID, id)
	}
	if r := run(t, nil, "keys", "pending", "--home", h, "--kind", "account", "--insecure-unencrypted"); r.err == nil || !strings.Contains(r.err.Error(), "want validator or node") {
		t.Fatalf("account kind: %v", r.err)
	}
}

// An encrypted home: the pending key takes the node's passphrase, checked
// against the current key.
func TestKeysPendingEncrypted(t *testing.T) {
	h := filepath.Join(t.TempDir(), "home")
	env := map[string]string{envPassphrase: "node pass"}
	mustRun(t, env, "init", "--home", h, fastScrypt)
	if r := run(t, map[string]string{envPassphrase: "other"}, "keys", "pending", "--home", h, fastScrypt); r.err == nil || !strings.Contains(r.err.Error(), "does not open") {
		t.Fatalf("pending with another passphrase: %v", r.err)
	}
	if r := run(t, env, "keys", "pending", "--home", h, "--insecure-unencrypted"); r.err == nil || !strings.Contains(r.err.Error(), "is encrypted") {
		t.Fatalf("unencrypted pending beside an encrypted key: %v", r.err)
	}
	mustRun(t, env, "keys", "pending", "--home", h, fastScrypt)
	cur := filepath.Join(h, "keys", "validator.key")
	if info, err := keystore.LoadPublic(keystore.PendingPath(cur)); err != nil || !info.Encrypted {
		t.Fatalf("pending key %+v %v", info, err)
	}
	if k, err := home.PendingConsensusKey(cur, "node pass"); err != nil || k == nil {
		t.Fatalf("loader with the node's passphrase: %v %v", k, err)
	}
}
