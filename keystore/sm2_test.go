package keystore

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func newSM2Key(t *testing.T) crypto.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_SM2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// SM2 keys are stored like Ed25519 ones: "scheme": "sm2", the 65-byte
// public point, and the 32-byte private scalar as the (encrypted) data.
func TestSM2KeyFileRoundTrip(t *testing.T) {
	for _, encrypted := range []bool{true, false} {
		key := newSM2Key(t)
		opts := encOpts(KindValidator, "correct horse")
		if !encrypted {
			opts = Options{Kind: KindValidator, Unencrypted: true}
		}
		path := filepath.Join(t.TempDir(), "sm2.key")
		if err := Save(path, key, opts); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(path)
		var env envelope
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatal(err)
		}
		if env.Scheme != "sm2" || env.PublicKey != base64.StdEncoding.EncodeToString(key.Public().GetKey()) {
			t.Fatalf("envelope %+v", env)
		}
		if !encrypted && env.Data != base64.StdEncoding.EncodeToString(key.Bytes()) {
			t.Fatalf("plain data %q is not the base64 of the 32-byte scalar", env.Data)
		}
		info, err := LoadPublic(path)
		if err != nil || info.Scheme != pb.KeyScheme_KEY_SCHEME_SM2 || !crypto.PublicKeyEqual(info.PublicKey, key.Public()) {
			t.Fatalf("LoadPublic: %+v %v", info, err)
		}
		got, err := Load(path, "correct horse")
		if err != nil {
			t.Fatal(err)
		}
		sameKey(t, key, got)
	}
}

// A damaged SM2 key file is refused like any other: a public key that is
// not a curve point, a public key of another SM2 key, a scalar out of range.
func TestSM2DamagedKeyFile(t *testing.T) {
	key := newSM2Key(t)
	plain, err := Encode(key, Options{Kind: KindAccount, Unencrypted: true})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(plain, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	offCurve := append([]byte(nil), key.Public().GetKey()...)
	offCurve[64] ^= 0x01
	for _, tc := range []struct {
		name string
		data []byte
		text string
	}{
		{"public key off the curve", edit(func(m map[string]any) { m["public_key"] = base64.StdEncoding.EncodeToString(offCurve) }), "public_key"},
		{"another key's public key", edit(func(m map[string]any) {
			m["public_key"] = base64.StdEncoding.EncodeToString(newSM2Key(t).Public().GetKey())
		}), "does not belong"},
		{"scalar zero", edit(func(m map[string]any) { m["data"] = base64.StdEncoding.EncodeToString(make([]byte, 32)) }), "private key"},
		{"ed25519 scheme on an sm2 key", edit(func(m map[string]any) { m["scheme"] = "ed25519" }), "public_key"},
	} {
		_, _, err := Decode(tc.data, "")
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v, want ErrCorrupt mentioning %q", tc.name, err, tc.text)
		}
	}
}

// libp2p node keys stay Ed25519: an SM2 key is refused with the reason.
func TestSM2NodeKeyRefused(t *testing.T) {
	key := newSM2Key(t)
	if _, err := NodeKeyToLibp2p(key); err == nil || !strings.Contains(err.Error(), "must be ed25519") {
		t.Fatalf("NodeKeyToLibp2p(sm2): %v", err)
	}
	if _, err := PeerIDFromPublicKey(key.Public()); err == nil || !strings.Contains(err.Error(), "must be ed25519") {
		t.Fatalf("PeerIDFromPublicKey(sm2): %v", err)
	}
}
