package crypto

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// PayloadSaltSize is the size of a protected payload's salt.
const PayloadSaltSize = 32

// payloadDomain separates payload commitments from every other hash.
const payloadDomain = "govnode/payload/v1\x00"

// PayloadCommitment is the commitment a record version stores for
// protected content kept beside the chain (ARCHITECTURE.md §5, "Erasing
// personal data"): H(domain || salt || content), H the chain suite's hash. The salt (random,
// PayloadSaltSize bytes) keeps a short content (a name, a date of birth)
// from being found by hashing guesses; once the payload is erased, the
// commitment alone reveals nothing about it.
func (s Suite) PayloadCommitment(salt, content []byte) []byte {
	h := s.New()
	h.Write([]byte(payloadDomain))
	h.Write(salt)
	h.Write(content)
	return h.Sum(nil)
}

// NewPayloadSalt returns a fresh random salt.
func NewPayloadSalt() ([]byte, error) {
	s := make([]byte, PayloadSaltSize)
	if _, err := rand.Read(s); err != nil {
		return nil, fmt.Errorf("payload salt: %w", err)
	}
	return s, nil
}

// CheckPayload reports whether salt and content open commitment.
func (s Suite) CheckPayload(commitment, salt, content []byte) error {
	if len(salt) != PayloadSaltSize {
		return fmt.Errorf("payload salt is %d bytes, want %d", len(salt), PayloadSaltSize)
	}
	if len(commitment) != HashSize {
		return fmt.Errorf("payload commitment is %d bytes, want %d", len(commitment), HashSize)
	}
	if subtle.ConstantTimeCompare(s.PayloadCommitment(salt, content), commitment) != 1 {
		return errors.New("payload does not match its commitment")
	}
	return nil
}

// bidDomain separates sealed-bid commitments from every other hash.
const bidDomain = "govnode/bid/v1\x00"

// BidCommitment is a sealed bid's commitment (ARCHITECTURE.md §5,
// "Tenders"): H(domain || len-prefixed tender id || len-prefixed
// bidder id || salt (PayloadSaltSize bytes) || price (8 bytes, big
// endian) || fields), fields being the deterministic encoding of the
// bid's ContractFields (the caller's). Binding the tender and the bidder
// keeps one company's commitment from being replayed as another's or in
// another tender.
func (s Suite) BidCommitment(tenderID, bidderID string, salt []byte, price int64, fields []byte) []byte {
	h := s.New()
	h.Write([]byte(bidDomain))
	var n [8]byte
	for _, id := range []string{tenderID, bidderID} {
		binary.BigEndian.PutUint64(n[:], uint64(len(id)))
		h.Write(n[:])
		h.Write([]byte(id))
	}
	h.Write(salt)
	binary.BigEndian.PutUint64(n[:], uint64(price))
	h.Write(n[:])
	h.Write(fields)
	return h.Sum(nil)
}
