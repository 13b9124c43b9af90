package client

// Sealed bids (docs/ARCHITECTURE.md §5, "Tenders"): a company bids by
// sending only a commitment crypto.BidCommitment(tender, bidder, salt,
// price, fields) before the bid deadline, and reveals price, fields and
// salt after it; the chain checks the reveal against the commitment. The
// secret (salt, price, fields) exists only with the bidder: keep it (its
// JSON encoding is what `govnode tx tender bid --secret-file` writes)
// until the reveal.

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// SealedBid is a bid's secret and the commitment the bid sends. Its JSON
// form is the CLI's secret file.
type SealedBid struct {
	ChainID string `json:"chain_id,omitempty"`
	// CryptoSuite names the chain's crypto suite, whose hash the
	// commitment is ("" is ed25519-sha256, as in secret files written
	// before suites).
	CryptoSuite string        `json:"crypto_suite,omitempty"`
	Tender      string        `json:"tender"`
	Bidder      string        `json:"bidder"`
	Price       int64         `json:"price"`
	Fields      []SecretField `json:"fields"`
	Salt        string        `json:"salt"`       // hex, crypto.PayloadSaltSize bytes
	Commitment  string        `json:"commitment"` // hex
}

// SecretField is a bid field; exactly one value is set (bytes in hex).
type SecretField struct {
	Name  string  `json:"name"`
	Str   *string `json:"str,omitempty"`
	Int   *int64  `json:"int,omitempty"`
	Bool  *bool   `json:"bool,omitempty"`
	Bytes *string `json:"bytes,omitempty"`
}

// NewSealedBid makes bidder's sealed bid on tender, on a chain of crypto
// suite suite: a fresh salt, and the commitment over price (minor units,
// above 0) and fields.
func NewSealedBid(suite crypto.Suite, tender, bidder string, price int64, fields []*pb.ContractField) (*SealedBid, error) {
	if err := exec.ValidID(tender); err != nil {
		return nil, fmt.Errorf("tender %q: %w", tender, err)
	}
	if price <= 0 {
		return nil, fmt.Errorf("price %d: must be above 0", price)
	}
	salt, err := crypto.NewPayloadSalt()
	if err != nil {
		return nil, err
	}
	b := &SealedBid{CryptoSuite: suite.HeaderName(), Tender: tender, Price: price, Salt: hex.EncodeToString(salt), Fields: secretFields(fields)}
	if bidder != "" {
		if err := b.Seal(bidder); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Seal binds the bid to its bidder (the tx's signer) and computes the
// commitment.
func (b *SealedBid) Seal(bidder string) error {
	if err := exec.ValidID(bidder); err != nil {
		return fmt.Errorf("bidder %q: %w", bidder, err)
	}
	b.Bidder = bidder
	cm, err := b.commitment()
	if err != nil {
		return err
	}
	b.Commitment = hex.EncodeToString(cm)
	return nil
}

// Bid is the tx body of the bid: only the commitment goes on chain.
func (b *SealedBid) Bid() (*pb.TxBody, error) {
	cm, err := hex.DecodeString(b.Commitment)
	if err != nil || len(cm) != crypto.HashSize {
		return nil, errors.New("sealed bid: not sealed (Seal it for its bidder)")
	}
	return &pb.TxBody{Action: &pb.TxBody_SubmitBid{SubmitBid: &pb.SubmitBid{TenderId: b.Tender, Commitment: cm}}}, nil
}

// Reveal checks the secret (well formed, and it opens its recorded
// commitment: a changed secret would be refused by the chain) and returns
// the tx body of the reveal.
func (b *SealedBid) Reveal() (*pb.TxBody, error) {
	if err := exec.ValidID(b.Tender); err != nil {
		return nil, fmt.Errorf("tender %q: %v", b.Tender, err)
	}
	if err := exec.ValidID(b.Bidder); err != nil {
		return nil, fmt.Errorf("bidder %q: %v", b.Bidder, err)
	}
	if b.Price <= 0 {
		return nil, fmt.Errorf("price %d: must be above 0", b.Price)
	}
	recorded, err := hex.DecodeString(b.Commitment)
	if err != nil || len(recorded) != crypto.HashSize {
		return nil, fmt.Errorf("commitment: want %d bytes in hex", crypto.HashSize)
	}
	cm, err := b.commitment()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(cm, recorded) {
		return nil, fmt.Errorf("%w: the bid does not match its commitment %x (it opens to %x)", ErrBidChanged, recorded, cm)
	}
	fs, _ := b.ContractFields()
	salt, _ := hex.DecodeString(b.Salt)
	return &pb.TxBody{Action: &pb.TxBody_RevealBid{RevealBid: &pb.RevealBid{TenderId: b.Tender, Price: b.Price, Fields: fs, Salt: salt}}}, nil
}

// ErrBidChanged: a secret that does not open its commitment.
var ErrBidChanged = errors.New("the bid was changed after it was sealed")

func secretFields(fs []*pb.ContractField) []SecretField {
	out := []SecretField{}
	for _, f := range fs {
		sf := SecretField{Name: f.GetName()}
		switch v := f.GetValue().(type) {
		case *pb.ContractField_StringValue:
			sf.Str = &v.StringValue
		case *pb.ContractField_IntValue:
			sf.Int = &v.IntValue
		case *pb.ContractField_BoolValue:
			sf.Bool = &v.BoolValue
		case *pb.ContractField_BytesValue:
			h := hex.EncodeToString(v.BytesValue)
			sf.Bytes = &h
		}
		out = append(out, sf)
	}
	return out
}

// ContractFields are the bid's fields as the chain takes them.
func (b *SealedBid) ContractFields() ([]*pb.ContractField, error) {
	var out []*pb.ContractField
	for i, sf := range b.Fields {
		if sf.Name == "" {
			return nil, fmt.Errorf("fields[%d] has no name", i)
		}
		f := &pb.ContractField{Name: sf.Name}
		set := 0
		if sf.Str != nil {
			f.Value, set = &pb.ContractField_StringValue{StringValue: *sf.Str}, set+1
		}
		if sf.Int != nil {
			f.Value, set = &pb.ContractField_IntValue{IntValue: *sf.Int}, set+1
		}
		if sf.Bool != nil {
			f.Value, set = &pb.ContractField_BoolValue{BoolValue: *sf.Bool}, set+1
		}
		if sf.Bytes != nil {
			v, err := hex.DecodeString(*sf.Bytes)
			if err != nil {
				return nil, fmt.Errorf("fields[%d] (%s): bytes not hex", i, sf.Name)
			}
			f.Value, set = &pb.ContractField_BytesValue{BytesValue: v}, set+1
		}
		if set != 1 {
			return nil, fmt.Errorf("fields[%d] (%s): want exactly one of str, int, bool, bytes", i, sf.Name)
		}
		out = append(out, f)
	}
	return out, nil
}

// commitment is the bid's Suite.BidCommitment, over the fields as the
// chain encodes them (exec.BidFieldsBytes).
func (b *SealedBid) commitment() ([]byte, error) {
	salt, err := hex.DecodeString(b.Salt)
	if err != nil || len(salt) != crypto.PayloadSaltSize {
		return nil, fmt.Errorf("salt: want %d bytes in hex", crypto.PayloadSaltSize)
	}
	fs, err := b.ContractFields()
	if err != nil {
		return nil, err
	}
	suite, err := crypto.SuiteByName(b.CryptoSuite)
	if err != nil {
		return nil, err
	}
	return suite.BidCommitment(b.Tender, b.Bidder, salt, b.Price, exec.BidFieldsBytes(fs)), nil
}
