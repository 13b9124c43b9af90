package crypto_test

import (
	cryptorand "crypto/rand"
	"errors"
	"testing"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func TestCheckPeerBinding(t *testing.T) {
	sm2Key, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_SM2, cryptorand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherSM2, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_SM2, cryptorand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edKey, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, cryptorand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const chain, dept, peerID = "chain-1", "finance", "12D3KooWExamplePeer"
	bind := func(k crypto.PrivateKey, chain, dept, peerID string) []byte {
		t.Helper()
		b, err := crypto.BindPeer(k, chain, dept, peerID)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := bind(sm2Key, chain, dept, peerID)
	if err := crypto.CheckPeerBinding(crypto.SM2SM3, chain, dept, peerID, sm2Key.Public(), good); err != nil {
		t.Fatalf("good binding refused: %v", err)
	}
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)-1] ^= 1
	for _, tc := range []struct {
		name    string
		suite   crypto.Suite
		key     *pb.PublicKey
		binding []byte
		want    error
	}{
		{"sm2 missing", crypto.SM2SM3, sm2Key.Public(), nil, crypto.ErrPeerBindingMissing},
		{"sm2 other chain", crypto.SM2SM3, sm2Key.Public(), bind(sm2Key, "chain-2", dept, peerID), crypto.ErrBadSignature},
		{"sm2 other department", crypto.SM2SM3, sm2Key.Public(), bind(sm2Key, chain, "health", peerID), crypto.ErrBadSignature},
		{"sm2 other peer", crypto.SM2SM3, sm2Key.Public(), bind(sm2Key, chain, dept, "12D3KooWOther"), crypto.ErrBadSignature},
		{"sm2 other key", crypto.SM2SM3, sm2Key.Public(), bind(otherSM2, chain, dept, peerID), crypto.ErrBadSignature},
		{"sm2 corrupted", crypto.SM2SM3, sm2Key.Public(), flipped, crypto.ErrBadSignature},
		{"sm2 chain, ed25519 key", crypto.SM2SM3, edKey.Public(), bind(edKey, chain, dept, peerID), crypto.ErrWrongScheme},
		{"ed25519 chain, binding", crypto.Ed25519SHA256, edKey.Public(), bind(edKey, chain, dept, peerID), crypto.ErrPeerBindingUnexpected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := crypto.CheckPeerBinding(tc.suite, chain, dept, peerID, tc.key, tc.binding)
			if !errors.Is(err, tc.want) {
				t.Fatalf("CheckPeerBinding: %v, want %v", err, tc.want)
			}
		})
	}
	if err := crypto.CheckPeerBinding(crypto.Ed25519SHA256, chain, dept, peerID, edKey.Public(), nil); err != nil {
		t.Fatalf("ed25519 chain without a binding: %v", err)
	}
	if _, err := crypto.BindPeer(nil, chain, dept, peerID); err == nil {
		t.Fatal("BindPeer with no key: no error")
	}
}
