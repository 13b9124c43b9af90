package crypto_test

import (
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Interoperability with OpenSSL 3 (CI has Debian's 3.0): SM2 keys made by
// `openssl genpkey -algorithm SM2` import, our signatures verify in OpenSSL
// and OpenSSL's in Verify, over a transaction's real sign bytes, and a
// tampered message is refused by both. The OpenSSL side is
//
//	openssl pkeyutl -sign   -inkey priv.pem       -rawin -in MSG -out SIG     -digest sm3 -pkeyopt distid:1234567812345678
//	openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in MSG -sigfile SIG -digest sm3 -pkeyopt distid:1234567812345678
//
// (-rawin: OpenSSL computes SM3(Z_A || MSG) itself; distid: the standard
// distinguishing ID, which Z_A covers.)

// sm2DistID is OpenSSL's spelling of the standard distinguishing ID.
const sm2DistID = "distid:1234567812345678"

// openSSL runs openssl in dir and returns its combined output; it skips
// the test when openssl is not installed.
type openSSL struct {
	t    *testing.T
	path string
	dir  string
}

func newOpenSSL(t *testing.T) *openSSL {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no openssl in PATH while CI is set: .ci/run installs it (apt-get install openssl)")
		}
		t.Skip("openssl is not on PATH: the OpenSSL 3 interoperability tests need it (Debian: apt-get install openssl); CI runs them")
	}
	o := &openSSL{t: t, path: path, dir: t.TempDir()}
	out, err := o.run("version")
	if err != nil || !strings.HasPrefix(out, "OpenSSL 3.") {
		t.Fatalf("these tests need OpenSSL 3 (SM2 with -rawin and distid); %s says %q (%v)", path, out, err)
	}
	return o
}

// run runs openssl with args in the test's directory.
func (o *openSSL) run(args ...string) (string, error) {
	cmd := exec.Command(o.path, args...)
	cmd.Dir = o.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// must runs openssl and fails the test unless it succeeds.
func (o *openSSL) must(args ...string) string {
	o.t.Helper()
	out, err := o.run(args...)
	if err != nil {
		o.t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (o *openSSL) write(name string, data []byte) {
	o.t.Helper()
	if err := os.WriteFile(filepath.Join(o.dir, name), data, 0o600); err != nil {
		o.t.Fatal(err)
	}
}

func (o *openSSL) read(name string) []byte {
	o.t.Helper()
	b, err := os.ReadFile(filepath.Join(o.dir, name))
	if err != nil {
		o.t.Fatal(err)
	}
	return b
}

// pemBlock reads the single PEM block of type typ in file name.
func (o *openSSL) pemBlock(name, typ string) []byte {
	o.t.Helper()
	b, rest := pem.Decode(o.read(name))
	if b == nil || b.Type != typ || len(strings.TrimSpace(string(rest))) != 0 {
		o.t.Fatalf("%s: want one %s PEM block", name, typ)
	}
	return b.Bytes
}

// verify runs OpenSSL's SM2 verification of sig over msg under pubPEM and
// reports whether it accepts.
func (o *openSSL) verify(pubPEM string, msg, sig []byte, extra ...string) bool {
	o.t.Helper()
	o.write("vmsg", msg)
	o.write("vsig", sig)
	args := slices.Concat([]string{"pkeyutl", "-verify", "-pubin", "-inkey", pubPEM, "-rawin", "-in", "vmsg", "-sigfile", "vsig"}, extra)
	out, err := o.run(args...)
	var exit *exec.ExitError
	switch {
	case err == nil && strings.Contains(out, "Signature Verified Successfully"):
		return true
	case errors.As(err, &exit) && strings.Contains(out, "Signature Verification Failure"):
		return false
	}
	o.t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	return false
}

// txSignBytes is what the signer of a real transaction signs: a TxBody
// marshalled deterministically, in the tx domain of its chain.
func txSignBytes(t *testing.T, nonce uint64) []byte {
	t.Helper()
	body := &pb.TxBody{
		ChainId: "gov-sm2-test",
		Signer:  "official-7",
		Nonce:   nonce,
		Memo:    "国密 interop",
		Action: &pb.TxBody_CreateRecord{CreateRecord: &pb.CreateRecord{
			RecordId: fmt.Sprintf("rec-%d", nonce), RecordType: "land-title", SubjectId: "citizen-42",
			Content: []byte("parcel 17, block C"),
		}},
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return crypto.TxSignBytes(body.GetChainId(), b)
}

func tampered(msg []byte) []byte {
	m := slices.Clone(msg)
	m[len(m)-1] ^= 0x01
	return m
}

// (a) A key from `openssl genpkey -algorithm SM2` imports with
// ParsePKCS8SM2; our signatures with it verify in OpenSSL under the public
// key we export (MarshalPKIXPublicKey) and under the one OpenSSL derives,
// and not on a tampered message. The PEM OpenSSL writes for the public key
// is byte for byte the one we write.
func TestOpenSSLVerifiesOurSM2Signatures(t *testing.T) {
	o := newOpenSSL(t)
	o.must("genpkey", "-algorithm", "SM2", "-out", "priv.pem")
	o.must("pkey", "-in", "priv.pem", "-pubout", "-out", "openssl-pub.pem")
	key, err := keystore.ParsePKCS8SM2(o.pemBlock("priv.pem", "PRIVATE KEY"))
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := keystore.ParsePKIXPublicKey(o.pemBlock("openssl-pub.pem", "PUBLIC KEY"))
	if err != nil || !crypto.PublicKeyEqual(theirs, key.Public()) {
		t.Fatalf("OpenSSL's public key %v (%v) is not the imported key's %v", theirs, err, key.Public())
	}
	spki, err := keystore.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	ours := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	if string(ours) != string(o.read("openssl-pub.pem")) {
		t.Errorf("our PEM\n%s\nOpenSSL's\n%s", ours, o.read("openssl-pub.pem"))
	}
	o.write("our-pub.pem", ours)

	lens := map[int]bool{}
	for nonce := range uint64(12) {
		msg := txSignBytes(t, nonce+1)
		sig, err := key.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		lens[len(sig)] = true
		for _, pub := range []string{"our-pub.pem", "openssl-pub.pem"} {
			if !o.verify(pub, msg, sig, "-digest", "sm3", "-pkeyopt", sm2DistID) {
				t.Fatalf("tx %d: OpenSSL refuses our signature %x under %s", nonce+1, sig, pub)
			}
		}
		if o.verify("our-pub.pem", tampered(msg), sig, "-digest", "sm3", "-pkeyopt", sm2DistID) {
			t.Fatalf("tx %d: OpenSSL accepts our signature on a tampered message", nonce+1)
		}
		if err := crypto.Verify(key.Public(), tampered(msg), sig); !errors.Is(err, crypto.ErrBadSignature) {
			t.Fatalf("tx %d: Verify on a tampered message: %v", nonce+1, err)
		}
		// Under another ID, OpenSSL refuses it: the ID is the standard one.
		if o.verify("our-pub.pem", msg, sig, "-digest", "sm3", "-pkeyopt", "distid:ALICE123@YAHOO.COM") {
			t.Fatalf("tx %d: OpenSSL accepts our signature under another ID", nonce+1)
		}
	}
	t.Logf("signature sizes seen: %v", lens)
}

// (b) OpenSSL signs a transaction's sign bytes; Verify accepts each
// signature under the key read from OpenSSL's PEM (so OpenSSL's DER passes
// the strict DER rule), refuses it on a tampered message (as OpenSSL
// does), and refuses one made under another distinguishing ID.
func TestOpenSSLSM2SignaturesVerifyHere(t *testing.T) {
	o := newOpenSSL(t)
	o.must("genpkey", "-algorithm", "SM2", "-out", "priv.pem")
	o.must("pkey", "-in", "priv.pem", "-pubout", "-out", "pub.pem")
	pub, err := keystore.ParsePKIXPublicKey(o.pemBlock("pub.pem", "PUBLIC KEY"))
	if err != nil {
		t.Fatal(err)
	}
	if pub.GetScheme() != pb.KeyScheme_KEY_SCHEME_SM2 {
		t.Fatalf("OpenSSL's SM2 key read as %v", pub.GetScheme())
	}
	sign := func(msg []byte, distID string) []byte {
		o.write("msg", msg)
		o.must("pkeyutl", "-sign", "-inkey", "priv.pem", "-rawin", "-in", "msg", "-out", "sig", "-digest", "sm3", "-pkeyopt", distID)
		return o.read("sig")
	}
	lens := map[int]bool{}
	for nonce := range uint64(16) { // OpenSSL's nonces are random: sizes 70 to 72 occur
		msg := txSignBytes(t, nonce+1)
		sig := sign(msg, sm2DistID)
		lens[len(sig)] = true
		if err := crypto.Verify(pub, msg, sig); err != nil {
			t.Fatalf("tx %d: OpenSSL's signature %x: %v", nonce+1, sig, err)
		}
		b := crypto.NewBatch(1)
		b.Add(pub, msg, sig)
		if errs := b.Verify(2); errs[0] != nil {
			t.Fatalf("tx %d: OpenSSL's signature in a batch: %v", nonce+1, errs[0])
		}
		if err := crypto.Verify(pub, tampered(msg), sig); !errors.Is(err, crypto.ErrBadSignature) {
			t.Fatalf("tx %d: Verify on a tampered message: %v", nonce+1, err)
		}
		if o.verify("pub.pem", tampered(msg), sig, "-digest", "sm3", "-pkeyopt", sm2DistID) {
			t.Fatalf("tx %d: OpenSSL accepts its signature on a tampered message", nonce+1)
		}
	}
	t.Logf("signature sizes seen: %v", lens)
	msg := txSignBytes(t, 99)
	if err := crypto.Verify(pub, msg, sign(msg, "distid:ALICE123@YAHOO.COM")); !errors.Is(err, crypto.ErrBadSignature) {
		t.Fatalf("OpenSSL's signature under another ID: %v", err)
	}
}

// Ed25519 too: OpenSSL reads the public key MarshalPKIXPublicKey writes and
// verifies our signature with it (RFC 8410, pure Ed25519).
func TestOpenSSLVerifiesOurEd25519Signatures(t *testing.T) {
	o := newOpenSSL(t)
	key := newKey(t, 5)
	spki, err := keystore.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	o.write("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	msg := txSignBytes(t, 1)
	sig, _ := key.Sign(msg)
	if !o.verify("pub.pem", msg, sig) {
		t.Fatal("OpenSSL refuses our ed25519 signature")
	}
	if o.verify("pub.pem", tampered(msg), sig) {
		t.Fatal("OpenSSL accepts our ed25519 signature on a tampered message")
	}
}
