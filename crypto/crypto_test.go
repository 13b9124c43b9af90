package crypto_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	return rand.NewChaCha8(s)
}

func newKey(t testing.TB, seed uint64) crypto.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, seeded(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignVerifyRoundTrip(t *testing.T) {
	k := newKey(t, 1)
	msg := crypto.TxSignBytes("chain-a", []byte("body"))
	sig, err := k.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := crypto.Verify(k.Public(), msg, sig); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// Key bytes round trip to the same public key.
	k2, err := crypto.PrivateKeyFromBytes(k.Scheme(), k.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !crypto.PublicKeyEqual(k.Public(), k2.Public()) {
		t.Fatal("key decoded from its bytes has another public key")
	}
}

func TestVerifyRejects(t *testing.T) {
	k, other := newKey(t, 1), newKey(t, 2)
	msg := crypto.VoteSignBytes("chain-a", 3, 7, bytes.Repeat([]byte{1}, 32))
	sig, _ := k.Sign(msg)
	flipped := append([]byte(nil), sig...)
	flipped[5] ^= 1
	tests := []struct {
		name string
		pub  *pb.PublicKey
		msg  []byte
		sig  []byte
		want error
	}{
		{"other key", other.Public(), msg, sig, crypto.ErrBadSignature},
		{"flipped bit", k.Public(), msg, flipped, crypto.ErrBadSignature},
		{"short signature", k.Public(), msg, sig[:10], crypto.ErrBadSignature},
		{"empty signature", k.Public(), msg, nil, crypto.ErrBadSignature},
		{"other chain", k.Public(), crypto.VoteSignBytes("chain-b", 3, 7, bytes.Repeat([]byte{1}, 32)), sig, crypto.ErrBadSignature},
		{"other view", k.Public(), crypto.VoteSignBytes("chain-a", 4, 7, bytes.Repeat([]byte{1}, 32)), sig, crypto.ErrBadSignature},
		{"nil key", nil, msg, sig, crypto.ErrBadKey},
		{"short key", &pb.PublicKey{Scheme: pb.KeyScheme_KEY_SCHEME_ED25519, Key: []byte{1, 2}}, msg, sig, crypto.ErrBadKey},
		{"unknown scheme", &pb.PublicKey{Scheme: 99, Key: k.Public().Key}, msg, sig, crypto.ErrUnknownScheme},
		{"unspecified scheme", &pb.PublicKey{Key: k.Public().Key}, msg, sig, crypto.ErrUnknownScheme},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := crypto.Verify(tc.pub, tc.msg, tc.sig)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestDomainSeparation: the same payload under another kind or chain gives
// other sign bytes, so no signature crosses kinds or chains.
func TestDomainSeparation(t *testing.T) {
	payload := []byte("same payload")
	seen := map[string]string{}
	for _, kind := range []crypto.Kind{crypto.KindTx, crypto.KindVote, crypto.KindTimeout, crypto.KindProposal, crypto.KindHeartbeat} {
		for _, chain := range []string{"a", "b", "ab"} {
			sb := string(crypto.SignBytes(kind, chain, payload))
			name := string(kind) + "/" + chain
			if prev, ok := seen[sb]; ok {
				t.Fatalf("%s and %s share sign bytes", prev, name)
			}
			seen[sb] = name
		}
	}
	// Length prefixes: moving a byte between chain id and payload changes
	// the bytes.
	if bytes.Equal(crypto.SignBytes(crypto.KindTx, "ab", []byte("c")), crypto.SignBytes(crypto.KindTx, "a", []byte("bc"))) {
		t.Fatal("chain id and payload are not separated")
	}
	// Timeout sign bytes cover the high QC position.
	if bytes.Equal(crypto.TimeoutSignBytes("c", 5, 3, 10), crypto.TimeoutSignBytes("c", 5, 3, 9)) {
		t.Fatal("timeout sign bytes ignore high_qc.height")
	}
	if bytes.Equal(crypto.HeartbeatSignBytes("c", 5, 1, 3, 10), crypto.HeartbeatSignBytes("c", 5, 2, 3, 10)) {
		t.Fatal("heartbeat sign bytes ignore seq")
	}
}

// TestTxSignatureCoversExactBody: a re-encoded body with the same meaning
// but other bytes does not verify.
func TestTxSignatureCoversExactBody(t *testing.T) {
	k := newKey(t, 3)
	body := []byte{0x0a, 0x01, 'c'}
	sig, _ := k.Sign(crypto.TxSignBytes("c", body))
	if err := crypto.Verify(k.Public(), crypto.TxSignBytes("c", append(body, 0x00)), sig); err == nil {
		t.Fatal("signature verified over other body bytes")
	}
}

func TestPrivateKeyFromBytesRejects(t *testing.T) {
	k := newKey(t, 4)
	if _, err := crypto.PrivateKeyFromBytes(pb.KeyScheme_KEY_SCHEME_ED25519, []byte{1, 2, 3}); !errors.Is(err, crypto.ErrBadKey) {
		t.Fatalf("short key: %v", err)
	}
	if _, err := crypto.PrivateKeyFromBytes(99, k.Bytes()); !errors.Is(err, crypto.ErrUnknownScheme) {
		t.Fatalf("unknown scheme: %v", err)
	}
	// A 64-byte key whose public half does not match its seed.
	bad := append(append([]byte(nil), k.Bytes()...), bytes.Repeat([]byte{7}, 32)...)
	if _, err := crypto.PrivateKeyFromBytes(pb.KeyScheme_KEY_SCHEME_ED25519, bad); !errors.Is(err, crypto.ErrBadKey) {
		t.Fatalf("mismatched 64-byte key: %v", err)
	}
}

func TestSchemeNames(t *testing.T) {
	s, err := crypto.SchemeByName("ed25519")
	if err != nil || s != pb.KeyScheme_KEY_SCHEME_ED25519 || crypto.SchemeName(s) != "ed25519" {
		t.Fatalf("ed25519: %v %v", s, err)
	}
	s, err = crypto.SchemeByName("sm2")
	if err != nil || s != pb.KeyScheme_KEY_SCHEME_SM2 || crypto.SchemeName(s) != "sm2" {
		t.Fatalf("sm2: %v %v", s, err)
	}
	if _, err := crypto.SchemeByName("sm9"); !errors.Is(err, crypto.ErrUnknownScheme) {
		t.Fatalf("sm9: %v", err)
	}
}

func leafHash(b []byte) []byte {
	h := sha256.Sum256(append([]byte{0}, b...))
	return h[:]
}

func nodeHash(l, r []byte) []byte {
	h := sha256.Sum256(append(append([]byte{1}, l...), r...))
	return h[:]
}

// TestMerkleRootRFC6962 checks the tree shape against hand-built trees.
func TestMerkleRootRFC6962(t *testing.T) {
	a, b, c := []byte("a"), []byte("b"), []byte("c")
	empty := sha256.Sum256(nil)
	tests := []struct {
		leaves [][]byte
		want   []byte
	}{
		{nil, empty[:]},
		{[][]byte{a}, leafHash(a)},
		{[][]byte{a, b}, nodeHash(leafHash(a), leafHash(b))},
		{[][]byte{a, b, c}, nodeHash(nodeHash(leafHash(a), leafHash(b)), leafHash(c))},
	}
	for i, tc := range tests {
		if got := crypto.Ed25519SHA256.MerkleRoot(tc.leaves); !bytes.Equal(got, tc.want) {
			t.Errorf("case %d: root %x, want %x", i, got, tc.want)
		}
	}
	// Known RFC 6962 vector: the empty-string leaf.
	if got := hex.EncodeToString(crypto.Ed25519SHA256.MerkleRoot([][]byte{{}})); got != "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d" {
		t.Errorf("empty leaf root %s", got)
	}
	// Order matters.
	if bytes.Equal(crypto.Ed25519SHA256.MerkleRoot([][]byte{a, b}), crypto.Ed25519SHA256.MerkleRoot([][]byte{b, a})) {
		t.Error("root ignores order")
	}
}

func BenchmarkVerifyEd25519(b *testing.B) {
	k, _ := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, seeded(9))
	msg := crypto.TxSignBytes("bench", bytes.Repeat([]byte{1}, 250))
	sig, _ := k.Sign(msg)
	b.ReportAllocs()
	for b.Loop() {
		if err := crypto.Verify(k.Public(), msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}
