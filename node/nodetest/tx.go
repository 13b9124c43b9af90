package nodetest

import (
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Account is a genesis identity with its key. It numbers the transactions
// it signs: Tx takes the next nonce unless the body names one. It is safe
// for concurrent use.
type Account struct {
	ID      string
	Key     crypto.PrivateKey
	KeyFile string // the unencrypted key file under the chain's home

	chainID string
	mu      sync.Mutex
	last    uint64 // last nonce handed out
}

// Tx signs body for the account: it fills chain_id (if empty), signer (if
// empty) and nonce (if zero: the next one, which is then used up) and
// returns the serialized SignedTx.
func (a *Account) Tx(body *pb.TxBody) []byte {
	if body.ChainId == "" {
		body.ChainId = a.chainID
	}
	if body.Signer == "" {
		body.Signer = a.ID
	}
	if body.Nonce == 0 {
		a.mu.Lock()
		a.last++
		body.Nonce = a.last
		a.mu.Unlock()
	}
	return Sign(a.Key, body)
}

// NextNonce is the nonce Tx would use next, without using it up.
func (a *Account) NextNonce() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last + 1
}

// SetLastNonce sets the last used nonce (after a restart, or when a test
// signed transactions with explicit nonces).
func (a *Account) SetLastNonce(n uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last = n
}

// Sign serializes body deterministically, signs it with key for
// body.ChainId (ARCHITECTURE.md §5: the "tx" domain and the chain id) and returns the
// SignedTx bytes. It fills nothing in: hostile tests use it to sign exactly
// what they built.
func Sign(key crypto.PrivateKey, body *pb.TxBody) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	if err != nil {
		panic(fmt.Sprintf("nodetest: marshal tx body: %v", err))
	}
	return SignBytes(key, body.GetChainId(), b)
}

// SignBytes signs raw body bytes (which need not decode) for chainID and
// returns the SignedTx bytes.
func SignBytes(key crypto.PrivateKey, chainID string, body []byte) []byte {
	sig, err := key.Sign(crypto.TxSignBytes(chainID, body))
	if err != nil {
		panic(fmt.Sprintf("nodetest: sign: %v", err))
	}
	out, err := proto.Marshal(&pb.SignedTx{Body: body, Signature: sig})
	if err != nil {
		panic(fmt.Sprintf("nodetest: marshal signed tx: %v", err))
	}
	return out
}

// Action constructors for the bodies tests send most.

// CreateRecord is a CreateRecord body with on-chain content.
func CreateRecord(id, recordType, subject string, content []byte) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_CreateRecord{CreateRecord: &pb.CreateRecord{
		RecordId: id, RecordType: recordType, SubjectId: subject, Content: content, ContentType: "text/plain",
	}}}
}

// AmendRecord is an AmendRecord body.
func AmendRecord(id string, expectedVersion uint64, content []byte, reason string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_AmendRecord{AmendRecord: &pb.AmendRecord{
		RecordId: id, ExpectedVersion: expectedVersion, Content: content, Reason: reason,
	}}}
}

// AccessRecord is an AccessRecord body.
func AccessRecord(id, purpose, legalBasis string) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_AccessRecord{AccessRecord: &pb.AccessRecord{
		RecordId: id, Purpose: purpose, LegalBasis: legalBasis,
	}}}
}

// GrantTypeAccess is a GrantAccess body for every record of a type.
func GrantTypeAccess(grantID, dept, recordType string, validUntil int64) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_GrantAccess{GrantAccess: &pb.GrantAccess{
		GrantId: grantID, GranteeDepartmentId: dept, RecordType: recordType, Purpose: "test", ValidUntil: validUntil,
	}}}
}
