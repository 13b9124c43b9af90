package node

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node/mempool"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// mapState is a committed state of a few keys.
type mapState map[string][]byte

func (m mapState) Get(k []byte) ([]byte, error) {
	if v, ok := m[string(k)]; ok {
		return v, nil
	}
	return nil, exec.ErrNotFound
}

func (m mapState) Iterate(start, end []byte, fn func(k, v []byte) error) error { return nil }

// okLedger admits everything.
type okLedger struct{ checked int }

func (l *okLedger) CheckTx(tx *exec.Tx) (*exec.CheckResult, error) {
	l.checked++
	return &exec.CheckResult{TxHash: tx.Hash, Signer: tx.Body.GetSigner(), Nonce: tx.Body.GetNonce()}, nil
}
func (l *okLedger) NextNonce(string) (uint64, error) { return 1, nil }

// A reveal sent before its tender's bid deadline never enters the mempool
// (it would publish the price in the block that refuses it); at or after
// the deadline it goes to the state machine's check; other txs are not
// looked at.
func TestRevealBeforeBidDeadlineRefused(t *testing.T) {
	deadline := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	tender, err := proto.Marshal(&pb.Tender{Id: "roads", BidDeadline: deadline.Unix(), RevealDeadline: deadline.Unix() + 60})
	if err != nil {
		t.Fatal(err)
	}
	state := mapState{string(exec.TenderKey("roads")): tender}
	reveal := func(id string) *exec.Tx {
		body, _ := proto.Marshal(&pb.TxBody{ChainId: "c", Signer: "co0", Nonce: 2,
			Action: &pb.TxBody_RevealBid{RevealBid: &pb.RevealBid{TenderId: id, Price: 90000, Salt: make([]byte, 32)}}})
		raw, _ := proto.Marshal(&pb.SignedTx{Body: body, Signature: make([]byte, 64)})
		return exec.NewTx(crypto.Ed25519SHA256, raw)
	}
	for _, tc := range []struct {
		name   string
		now    time.Time
		tx     *exec.Tx
		refuse bool
	}{
		{"a second early", deadline.Add(-time.Second), reveal("roads"), true},
		{"an hour early", deadline.Add(-time.Hour), reveal("roads"), true},
		{"at the deadline", deadline, reveal("roads"), false},
		{"after it", deadline.Add(time.Minute), reveal("roads"), false},
		{"unknown tender: the state machine says why", deadline.Add(-time.Hour), reveal("other"), false},
	} {
		l := &okLedger{}
		c := txChecker{ledger: l, state: state, now: func() time.Time { return tc.now }}
		_, err := c.CheckTx(tc.tx)
		if tc.refuse {
			var ref mempool.Refusal
			if err == nil || !errors.As(err, &ref) || !mempool.StateDependent(err) || !strings.Contains(err.Error(), "sealed until") || l.checked != 0 {
				t.Errorf("%s: %v (checked %d), want a state-dependent refusal before the state machine", tc.name, err, l.checked)
			}
			continue
		}
		if err != nil || l.checked != 1 {
			t.Errorf("%s: %v (checked %d)", tc.name, err, l.checked)
		}
	}
}
