package crypto

import (
	"bytes"
	"testing"
)

func TestPayloadCommitment(t *testing.T) {
	salt, err := NewPayloadSalt()
	if err != nil {
		t.Fatal(err)
	}
	c := Ed25519SHA256.PayloadCommitment(salt, []byte("born 1990-01-01"))
	if err := Ed25519SHA256.CheckPayload(c, salt, []byte("born 1990-01-01")); err != nil {
		t.Fatalf("the payload does not open its own commitment: %v", err)
	}
	if bytes.Equal(c, Ed25519SHA256.Hash([]byte("born 1990-01-01"))) {
		t.Fatal("the commitment is the bare content hash: a guess could be checked against it")
	}
	other, _ := NewPayloadSalt()
	if bytes.Equal(Ed25519SHA256.PayloadCommitment(other, []byte("born 1990-01-01")), c) {
		t.Fatal("two salts give one commitment")
	}
	for name, tc := range map[string]struct{ c, salt, content []byte }{
		"other content":    {c, salt, []byte("born 1990-01-02")},
		"other salt":       {c, other, []byte("born 1990-01-01")},
		"short salt":       {c, salt[:31], []byte("born 1990-01-01")},
		"short commitment": {c[:31], salt, []byte("born 1990-01-01")},
		// salt||content equal to the original, cut elsewhere: refused by
		// the salt's fixed size.
		"shifted boundary": {c, append(append([]byte{}, salt...), 'b'), []byte("orn 1990-01-01")},
	} {
		if err := Ed25519SHA256.CheckPayload(tc.c, tc.salt, tc.content); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestBidCommitment(t *testing.T) {
	salt := bytes.Repeat([]byte{7}, PayloadSaltSize)
	c := Ed25519SHA256.BidCommitment("t1", "acme", salt, 1000, []byte("f"))
	for name, other := range map[string][]byte{
		"other tender": Ed25519SHA256.BidCommitment("t2", "acme", salt, 1000, []byte("f")),
		"other bidder": Ed25519SHA256.BidCommitment("t1", "acme2", salt, 1000, []byte("f")),
		"other price":  Ed25519SHA256.BidCommitment("t1", "acme", salt, 1001, []byte("f")),
		"other fields": Ed25519SHA256.BidCommitment("t1", "acme", salt, 1000, []byte("g")),
		"ids shifted":  Ed25519SHA256.BidCommitment("t1a", "cme", salt, 1000, []byte("f")),
	} {
		if bytes.Equal(c, other) {
			t.Errorf("%s: same commitment", name)
		}
	}
	if !bytes.Equal(c, Ed25519SHA256.BidCommitment("t1", "acme", salt, 1000, []byte("f"))) {
		t.Fatal("not deterministic")
	}
}
