package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// runStdin is run with stdin.
func runStdin(t *testing.T, env map[string]string, stdin []byte, args ...string) result {
	t.Helper()
	root := newRootCmd(cliEnv{
		LookupEnv:   func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		DefaultHome: filepath.Join(t.TempDir(), "default-home"),
		Hostname:    "testhost",
	})
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(bytes.NewReader(stdin))
	root.SetArgs(args)
	err := root.Execute()
	return result{out: out.String(), errOut: errOut.String(), err: err}
}

func keyViewOf(t *testing.T, out string) keyView {
	t.Helper()
	var v keyView
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return v
}

// pemPKCS8 is key as the PEM "PRIVATE KEY" block gmsm (like OpenSSL) writes.
func pemPKCS8(t *testing.T, key any) []byte {
	t.Helper()
	der, err := smx509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// `keys new --scheme sm2` writes an sm2 key file, encrypted or not, that
// loads and signs; an unknown scheme is refused naming the known ones, and
// an sm2 node key is refused (libp2p keys are ed25519).
func TestKeysNewSM2(t *testing.T) {
	dir := t.TempDir()
	ring := "--keyring-dir=" + dir
	r := mustRun(t, nil, "keys", "new", "v1", ring, "--scheme", "sm2", "--kind", "validator", "--insecure-unencrypted", "--output", "json")
	v := keyViewOf(t, r.out)
	if v.Scheme != "sm2" || v.Kind != "validator" || v.Encrypted {
		t.Fatalf("view %+v", v)
	}
	key, err := keystore.Load(filepath.Join(dir, "v1.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	if key.Scheme() != pb.KeyScheme_KEY_SCHEME_SM2 || b64(key.Public().GetKey()) != v.PublicKey || len(key.Public().GetKey()) != 65 {
		t.Fatalf("loaded key %v, view %+v", key.Public(), v)
	}
	msg := crypto.TxSignBytes("c", []byte("b"))
	sig, _ := key.Sign(msg)
	if err := crypto.SM2SM3.CheckKey("key", key.Public()); err != nil || crypto.Verify(key.Public(), msg, sig) != nil {
		t.Fatalf("the new key does not sign for an sm2-sm3 chain: %v", err)
	}

	pass := writeFile(t, filepath.Join(t.TempDir(), "pass"), "sm2 pass\n")
	mustRun(t, nil, "keys", "new", "a1", ring, "--scheme", "sm2", "--passphrase-file", pass, fastScrypt)
	if k, err := keystore.Load(filepath.Join(dir, "a1.key"), "sm2 pass"); err != nil || k.Scheme() != pb.KeyScheme_KEY_SCHEME_SM2 {
		t.Fatalf("encrypted sm2 key: %v %v", k, err)
	}
	r = mustRun(t, nil, "keys", "list", ring)
	if !strings.Contains(r.out, "a1") || !strings.Contains(r.out, "sm2") {
		t.Fatalf("list:\n%s", r.out)
	}

	r = run(t, nil, "keys", "new", "x", ring, "--scheme", "sm3", "--insecure-unencrypted")
	if r.err == nil || !strings.Contains(r.err.Error(), `"ed25519"`) || !strings.Contains(r.err.Error(), `"sm2"`) || !strings.Contains(r.err.Error(), "--scheme") {
		t.Fatalf("unknown scheme: %v", r.err)
	}
	r = run(t, nil, "keys", "new", "n", ring, "--scheme", "sm2", "--kind", "node", "--insecure-unencrypted")
	if r.err == nil || !strings.Contains(r.err.Error(), "ed25519") {
		t.Fatalf("sm2 node key: %v", r.err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.key")); err == nil {
		t.Fatal("a refused key was written")
	}
}

// `keys show --pem` prints the SubjectPublicKeyInfo PEM of the key, for
// sm2 and ed25519 keys alike; it parses back to the key.
func TestKeysShowPEM(t *testing.T) {
	dir := t.TempDir()
	ring := "--keyring-dir=" + dir
	for _, scheme := range []string{"sm2", "ed25519"} {
		mustRun(t, nil, "keys", "new", scheme, ring, "--scheme", scheme, "--insecure-unencrypted")
		info, err := keystore.LoadPublic(filepath.Join(dir, scheme+".key"))
		if err != nil {
			t.Fatal(err)
		}
		out := mustRun(t, nil, "keys", "show", scheme, ring, "--pem").out
		b, rest := pem.Decode([]byte(out))
		if b == nil || b.Type != "PUBLIC KEY" || len(rest) != 0 {
			t.Fatalf("%s: not one PUBLIC KEY block:\n%s", scheme, out)
		}
		pub, err := keystore.ParsePKIXPublicKey(b.Bytes)
		if err != nil || !crypto.PublicKeyEqual(pub, info.PublicKey) {
			t.Fatalf("%s: PEM holds %v (%v), the file %v", scheme, pub, err, info.PublicKey)
		}
	}
}

// `keys import NAME FILE --pkcs8`: a PKCS#8 SM2 key (PEM, DER or stdin)
// becomes a key file of the same key; other keys and encodings are refused
// with what to do.
func TestKeysImportPKCS8SM2(t *testing.T) {
	dir, tmp := t.TempDir(), t.TempDir()
	ring := "--keyring-dir=" + dir
	priv, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	want := elliptic.Marshal(sm2.P256(), priv.X, priv.Y)
	pemFile := filepath.Join(tmp, "sm2.pem")
	if err := os.WriteFile(pemFile, pemPKCS8(t, priv), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(name, kind string) {
		t.Helper()
		key, info, err := keystore.LoadWithInfo(filepath.Join(dir, name+".key"), "")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(key.Public().GetKey(), want) || string(info.Kind) != kind {
			t.Fatalf("%s: imported %x kind %s, want %x kind %s", name, key.Public().GetKey(), info.Kind, want, kind)
		}
		msg := []byte("m")
		sig, _ := key.Sign(msg)
		if !sm2.VerifyASN1WithSM2(&priv.PublicKey, nil, msg, sig) {
			t.Fatalf("%s: the imported key signs as another key", name)
		}
	}
	r := mustRun(t, nil, "keys", "import", "alice", pemFile, ring, "--pkcs8", "--insecure-unencrypted", "--output", "json")
	if v := keyViewOf(t, r.out); v.Scheme != "sm2" || v.Kind != "account" {
		t.Fatalf("view %+v", v)
	}
	check("alice", "account")

	der, _ := smx509.MarshalPKCS8PrivateKey(priv)
	derFile := filepath.Join(tmp, "sm2.der")
	os.WriteFile(derFile, der, 0o600)
	mustRun(t, nil, "keys", "import", "bob", derFile, ring, "--pkcs8", "--kind", "validator", "--insecure-unencrypted")
	check("bob", "validator")

	env := map[string]string{envPassphrase: "ring pass"}
	if r := runStdin(t, env, pemPKCS8(t, priv), "keys", "import", "carol", "-", ring, "--pkcs8", fastScrypt); r.err != nil {
		t.Fatalf("from stdin: %v", r.err)
	}
	if k, err := keystore.Load(filepath.Join(dir, "carol.key"), "ring pass"); err != nil || !bytes.Equal(k.Public().GetKey(), want) {
		t.Fatalf("carol: %v", err)
	}

	// Refusals, each saying why.
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p256der, _ := x509.MarshalPKCS8PrivateKey(p256)
	write := func(name string, data []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sec1, _ := smx509.MarshalECPrivateKey(&priv.PrivateKey)
	for _, c := range []struct {
		name string
		args []string
		says string
	}{
		{"a P-256 key", []string{write("p256.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p256der}))}, "not an SM2 private key: an EC key on curve P-256"},
		{"an encrypted key", []string{write("enc.pem", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}))}, "openssl pkey -in"},
		{"a SEC 1 key", []string{write("sec1.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))}, "not PKCS#8"},
		{"a public key", []string{write("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}))}, `"PUBLIC KEY"`},
		{"garbage", []string{write("junk", []byte("junk"))}, "not a PKCS#8 private key"},
		{"a missing file", []string{filepath.Join(tmp, "nope.pem")}, "no such file"},
		{"a node key", []string{pemFile, "--kind", "node"}, "ed25519"},
		{"an import passphrase", []string{pemFile, "--import-passphrase-file", pemFile}, "unencrypted"},
	} {
		args := append([]string{"keys", "import", "x", c.args[0], ring, "--pkcs8", "--insecure-unencrypted"}, c.args[1:]...)
		r := run(t, nil, args...)
		if r.err == nil || !strings.Contains(r.err.Error(), c.says) {
			t.Errorf("%s: %v, want an error saying %q", c.name, r.err, c.says)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.key")); err == nil {
		t.Fatal("a refused import wrote a key")
	}
	// A PEM file given without --pkcs8 gets the hint.
	if r := run(t, nil, "keys", "import", "x", pemFile, ring, "--insecure-unencrypted"); r.err == nil || !strings.Contains(r.err.Error(), "--pkcs8") {
		t.Fatalf("PEM without --pkcs8: %v", r.err)
	}
}

// End to end with OpenSSL 3 (skipped without openssl): a key from
// `openssl genpkey -algorithm SM2` imports, signs a tx, and OpenSSL
// verifies the signature under the PEM `keys show --pem` prints.
func TestKeysSM2OpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not on PATH")
	}
	dir, tmp := t.TempDir(), t.TempDir()
	ring := "--keyring-dir=" + dir
	ossl := func(args ...string) (string, error) {
		cmd := exec.Command(openssl, args...)
		cmd.Dir = tmp
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := ossl("genpkey", "-algorithm", "SM2", "-out", "k.pem"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mustRun(t, nil, "keys", "import", "os", filepath.Join(tmp, "k.pem"), ring, "--pkcs8", "--insecure-unencrypted")
	os.WriteFile(filepath.Join(tmp, "pub.pem"), []byte(mustRun(t, nil, "keys", "show", "os", ring, "--pem").out), 0o600)
	key, err := keystore.Load(filepath.Join(dir, "os.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	msg := crypto.TxSignBytes("gov-sm2", []byte("a tx body"))
	sig, _ := key.Sign(msg)
	os.WriteFile(filepath.Join(tmp, "msg"), msg, 0o600)
	os.WriteFile(filepath.Join(tmp, "sig"), sig, 0o600)
	verify := []string{"pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "msg", "-sigfile", "sig", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678"}
	if out, err := ossl(verify...); err != nil {
		t.Fatalf("OpenSSL refuses the imported key's signature: %v\n%s", err, out)
	}
	msg[len(msg)-1] ^= 1
	os.WriteFile(filepath.Join(tmp, "msg"), msg, 0o600)
	if out, err := ossl(verify...); err == nil || !strings.Contains(out, "Verification Failure") {
		t.Fatalf("OpenSSL on a tampered message: %v\n%s", err, out)
	}
}
