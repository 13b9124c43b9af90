package keystore

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// testWork keeps scrypt fast in tests; production uses DefaultScryptWorkFactor.
const testWork = 10

func newKey(t *testing.T) crypto.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func encOpts(kind Kind, pass string) Options {
	return Options{Kind: kind, Passphrase: pass, ScryptWorkFactor: testWork}
}

func sameKey(t *testing.T, a, b crypto.PrivateKey) {
	t.Helper()
	if !bytes.Equal(a.Bytes(), b.Bytes()) || !crypto.PublicKeyEqual(a.Public(), b.Public()) {
		t.Fatal("loaded key differs from saved key")
	}
	sig, err := b.Sign([]byte("msg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := crypto.Verify(a.Public(), []byte("msg"), sig); err != nil {
		t.Fatalf("loaded key's signature does not verify: %v", err)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, kind := range []Kind{KindValidator, KindNode, KindAccount} {
		for _, encrypted := range []bool{true, false} {
			name := string(kind) + map[bool]string{true: "-encrypted", false: "-plain"}[encrypted]
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "keys", "k.key")
				key := newKey(t)
				opts := encOpts(kind, "correct horse")
				if !encrypted {
					opts = Options{Kind: kind, Unencrypted: true}
				}
				if err := Save(path, key, opts); err != nil {
					t.Fatal(err)
				}
				st, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != 0o600 {
					t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
				}
				if st, _ := os.Stat(filepath.Dir(path)); st.Mode().Perm() != 0o700 {
					t.Fatalf("key dir mode %v, want 0700", st.Mode().Perm())
				}
				raw, _ := os.ReadFile(path)
				if encrypted && bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(key.Bytes()))) {
					t.Fatal("encrypted file contains the private key in the clear")
				}

				info, err := LoadPublic(path)
				if err != nil {
					t.Fatal(err)
				}
				if info.Kind != kind || info.Encrypted != encrypted || info.Version != Version ||
					!crypto.PublicKeyEqual(info.PublicKey, key.Public()) || info.Path != path {
					t.Fatalf("LoadPublic = %+v", info)
				}
				got, err := Load(path, "correct horse")
				if err != nil {
					t.Fatal(err)
				}
				sameKey(t, key, got)

				entries, err := List(filepath.Dir(path))
				if err != nil {
					t.Fatal(err)
				}
				if len(entries) != 1 || entries[0].Name != "k" || entries[0].Err != nil || entries[0].Info.Kind != kind {
					t.Fatalf("List = %+v", entries)
				}
			})
		}
	}
}

// TestExportImport re-encodes a key as export does (plain form, and
// re-encrypted under a new passphrase) and reads it back as import does.
func TestExportImport(t *testing.T) {
	key := newKey(t)
	enc, err := Encode(key, encOpts(KindValidator, "old"))
	if err != nil {
		t.Fatal(err)
	}
	k1, info, err := Decode(enc, "old")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Encode(k1, Options{Kind: info.Kind, Unencrypted: true})
	if err != nil {
		t.Fatal(err)
	}
	// The documented plain form: data is base64 of the private key bytes.
	var env map[string]any
	if err := json.Unmarshal(plain, &env); err != nil {
		t.Fatal(err)
	}
	if env["encrypted"] != false || env["data"] != base64.StdEncoding.EncodeToString(key.Bytes()) || env["kind"] != "validator" {
		t.Fatalf("plain export = %s", plain)
	}
	k2, _, err := Decode(plain, "")
	if err != nil {
		t.Fatal(err)
	}
	sameKey(t, key, k2)

	reenc, err := Encode(k2, encOpts(KindValidator, "new"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Decode(reenc, "old"); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("old passphrase on re-encrypted key: %v", err)
	}
	k3, _, err := Decode(reenc, "new")
	if err != nil {
		t.Fatal(err)
	}
	sameKey(t, key, k3)
}

func TestWrongPassphrase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.key")
	if err := Save(path, newKey(t), encOpts(KindValidator, "right")); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, "wrong")
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Load with wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	if !strings.Contains(err.Error(), "wrong passphrase") || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q should say wrong passphrase and name the file", err)
	}
	if _, err := Load(path, ""); !errors.Is(err, ErrPassphraseRequired) {
		t.Fatalf("Load with no passphrase: %v, want ErrPassphraseRequired", err)
	}
}

func TestDamagedFiles(t *testing.T) {
	key := newKey(t)
	enc, err := Encode(key, encOpts(KindAccount, "pw"))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Encode(key, Options{Kind: KindAccount, Unencrypted: true})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(src []byte, f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(src, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	flipData := func(src []byte, at func(n int) int) []byte {
		return edit(src, func(m map[string]any) {
			d, err := base64.StdEncoding.DecodeString(m["data"].(string))
			if err != nil {
				t.Fatal(err)
			}
			d[at(len(d))] ^= 0x01
			m["data"] = base64.StdEncoding.EncodeToString(d)
		})
	}
	other := newKey(t)
	cases := []struct {
		name string
		data []byte
		want error
		text string
	}{
		{"truncated", enc[:len(enc)/2], ErrCorrupt, "not a JSON key file"},
		{"empty", nil, ErrCorrupt, "not a JSON key file"},
		{"bad JSON", []byte("{version: 1"), ErrCorrupt, "not a JSON key file"},
		{"wrong version", edit(enc, func(m map[string]any) { m["version"] = 2 }), ErrUnsupportedVersion, "version 2"},
		{"no version", edit(enc, func(m map[string]any) { delete(m, "version") }), ErrCorrupt, "version: missing"},
		{"unknown field", edit(enc, func(m map[string]any) { m["extra"] = true }), ErrCorrupt, "unknown field"},
		{"unknown kind", edit(enc, func(m map[string]any) { m["kind"] = "wallet" }), ErrCorrupt, "kind"},
		{"unknown scheme", edit(enc, func(m map[string]any) { m["scheme"] = "rsa" }), ErrCorrupt, "scheme"},
		{"short public key", edit(enc, func(m map[string]any) { m["public_key"] = "AAAA" }), ErrCorrupt, "public_key"},
		{"data not base64", edit(enc, func(m map[string]any) { m["data"] = "***" }), ErrCorrupt, "not base64"},
		{"flipped payload byte", flipData(enc, func(n int) int { return n - 1 }), ErrCorrupt, "encrypted data"},
		{"flipped header byte", flipData(enc, func(n int) int { return 3 }), ErrCorrupt, "encrypted data"},
		{"flipped plain key byte", flipData(plain, func(n int) int { return 0 }), ErrCorrupt, "does not belong"},
		{"swapped public key", edit(enc, func(m map[string]any) {
			m["public_key"] = base64.StdEncoding.EncodeToString(other.Public().GetKey())
		}), ErrCorrupt, "does not belong"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k.key")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, "pw")
			if !errors.Is(err, tc.want) {
				t.Fatalf("Load: %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Load error %q should contain %q and the path", err, tc.text)
			}
		})
	}
}

func TestListReportsBadFiles(t *testing.T) {
	dir := t.TempDir()
	if err := Save(filepath.Join(dir, "good.key"), newKey(t), Options{Kind: KindAccount, Unencrypted: true}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "bad.key"), []byte("nope"), 0o600)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o600)
	entries, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Name != "bad" || !errors.Is(entries[0].Err, ErrCorrupt) || entries[1].Name != "good" || entries[1].Err != nil {
		t.Fatalf("List = %+v", entries)
	}
	if e, err := List(filepath.Join(dir, "missing")); err != nil || len(e) != 0 {
		t.Fatalf("List(missing) = %v, %v", e, err)
	}
}

func TestSaveRefusesOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.key")
	opts := Options{Kind: KindNode, Unencrypted: true}
	if err := Save(path, newKey(t), opts); err != nil {
		t.Fatal(err)
	}
	if err := Save(path, newKey(t), opts); !errors.Is(err, ErrExists) {
		t.Fatalf("second Save: %v, want ErrExists", err)
	}
	k := newKey(t)
	opts.Overwrite = true
	if err := Save(path, k, opts); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, "")
	if err != nil {
		t.Fatal(err)
	}
	sameKey(t, k, got)
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
}

func TestOptionsValidate(t *testing.T) {
	bad := []Options{
		{Kind: "", Passphrase: "x"},
		{Kind: KindAccount},
		{Kind: KindAccount, Unencrypted: true, Passphrase: "x"},
		{Kind: KindAccount, Passphrase: "x", ScryptWorkFactor: MaxScryptWorkFactor + 1},
		{Kind: KindAccount, Passphrase: "x", ScryptWorkFactor: -1},
	}
	for _, o := range bad {
		if err := o.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want error", o)
		}
		if _, err := Encode(newKey(t), o); err == nil {
			t.Errorf("Encode with %+v succeeded", o)
		}
	}
	if err := (Options{Kind: KindAccount, Passphrase: "x"}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestNodeKeyToLibp2p(t *testing.T) {
	key := newKey(t)
	lk, err := NodeKeyToLibp2p(key)
	if err != nil {
		t.Fatal(err)
	}
	if lk.Type() != lcrypto.Ed25519 {
		t.Fatalf("libp2p key type %v", lk.Type())
	}
	raw, err := lk.GetPublic().Raw()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, key.Public().GetKey()) {
		t.Fatal("libp2p public key differs from the node key's")
	}
	fromPriv, err := peer.IDFromPrivateKey(lk)
	if err != nil {
		t.Fatal(err)
	}
	fromPub, err := PeerIDFromPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if fromPriv != fromPub {
		t.Fatalf("peer ids differ: %s vs %s", fromPriv, fromPub)
	}
	if _, err := peer.Decode(fromPub.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := PeerIDFromPublicKey(&pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_ED25519, Key: []byte{1}}); err == nil {
		t.Fatal("PeerIDFromPublicKey accepted a short key")
	}
}

// A key path that names a device, a directory or a file far larger than
// any key file is refused with an error naming the path and the bound,
// without reading it whole (reading /dev/zero never ends).
func TestLoadRefusesNonRegularAndOversizedFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.key")
	if err := Save(good, newKey(t), Options{Kind: KindNode, Unencrypted: true}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// Still a valid envelope (JSON ignores trailing white space), but
	// beyond the bound.
	big := writeTestFile(t, filepath.Join(dir, "big.key"), append(raw, bytes.Repeat([]byte(" "), MaxFileBytes)...))
	atBound := writeTestFile(t, filepath.Join(dir, "at-bound.key"), append(raw, bytes.Repeat([]byte(" "), MaxFileBytes-len(raw))...))

	cases := []struct {
		name    string
		path    string
		want    error // nil: loads
		wantMsg string
	}{
		{"regular file", good, nil, ""},
		{"exactly at the bound", atBound, nil, ""},
		{"over the bound", big, ErrFileTooLarge, "65536"},
		{"directory", dir, ErrNotRegularFile, "directory"},
		{"character device", "/dev/zero", ErrNotRegularFile, "character device"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.path); err != nil {
				t.Skipf("%s: %v", tc.path, err)
			}
			for _, load := range []struct {
				name string
				fn   func() error
			}{
				{"Load", func() error { _, err := Load(tc.path, ""); return err }},
				{"LoadPublic", func() error { _, err := LoadPublic(tc.path); return err }},
			} {
				err := withDeadline(t, 10*time.Second, load.fn)
				if tc.want == nil {
					if err != nil {
						t.Fatalf("%s: %v", load.name, err)
					}
					continue
				}
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("%s: error %v, want %v naming %s and %q", load.name, err, tc.want, tc.path, tc.wantMsg)
				}
			}
		})
	}
}

// withDeadline runs fn and fails the test if it has not returned within d
// (a load that reads an endless file would otherwise hang the test run).
func withDeadline(t *testing.T, d time.Duration, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("still reading after %v", d)
		return nil
	}
}

func writeTestFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Info.Perm reports the key file's mode, and CheckPerm flags any access by
// group or others, the way ssh judges a private key.
func TestCheckPerm(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.key")
	if err := Save(path, newKey(t), Options{Kind: KindAccount, Unencrypted: true}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		perm    os.FileMode
		exposed bool
	}{
		{0o600, false},
		{0o400, false},
		{0o700, false},
		{0o640, true},
		{0o604, true},
		{0o620, true},
		{0o644, true},
		{0o666, true},
	} {
		t.Run(tc.perm.String(), func(t *testing.T) {
			if err := os.Chmod(path, tc.perm); err != nil {
				t.Fatal(err)
			}
			info, err := LoadPublic(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Perm != tc.perm {
				t.Fatalf("Info.Perm %v, want %v", info.Perm, tc.perm)
			}
			err = CheckPerm(info.Path, info.Perm)
			if tc.exposed != errors.Is(err, ErrFileExposed) {
				t.Fatalf("CheckPerm(%v) = %v, want exposed %v", tc.perm, err, tc.exposed)
			}
			if tc.exposed && (!strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod 600")) {
				t.Fatalf("CheckPerm error %q does not name the file and the fix", err)
			}
		})
	}
}
