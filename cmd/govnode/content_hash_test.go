package main

import (
	"strings"
	"testing"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// TestCheckContentHashBySuite: a record tx's content hash must be its
// content's under the hash of the signing key's chain, SHA-256 or SM3.
func TestCheckContentHashBySuite(t *testing.T) {
	content := []byte("land title 7, parcel 12")
	create := func(hash []byte) *pb.TxBody {
		return &pb.TxBody{Action: &pb.TxBody_CreateRecord{CreateRecord: &pb.CreateRecord{Content: content, ContentHash: hash}}}
	}
	amend := func(hash []byte) *pb.TxBody {
		return &pb.TxBody{Action: &pb.TxBody_AmendRecord{AmendRecord: &pb.AmendRecord{Content: content, ContentHash: hash}}}
	}
	for _, suite := range []crypto.Suite{crypto.Ed25519SHA256, crypto.SM2SM3} {
		other := crypto.SM2SM3
		if suite == crypto.SM2SM3 {
			other = crypto.Ed25519SHA256
		}
		for _, body := range []func([]byte) *pb.TxBody{create, amend} {
			if err := checkContentHash(suite, body(suite.Hash(content))); err != nil {
				t.Fatalf("%s: the content's own hash refused: %v", suite, err)
			}
			if err := checkContentHash(suite, body(nil)); err != nil {
				t.Fatalf("%s: content without a hash refused: %v", suite, err)
			}
			err := checkContentHash(suite, body(other.Hash(content)))
			if err == nil || !strings.Contains(err.Error(), suite.String()) {
				t.Fatalf("%s: the %s hash of the content accepted or not named: %v", suite, other, err)
			}
		}
	}
	if err := checkContentHash(crypto.SM2SM3, &pb.TxBody{Action: &pb.TxBody_GrantAccess{GrantAccess: &pb.GrantAccess{}}}); err != nil {
		t.Fatalf("a tx without content: %v", err)
	}
}
