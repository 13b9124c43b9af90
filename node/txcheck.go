package node

import (
	"fmt"
	"time"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node/mempool"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// ledgerChecker is the ledger as the mempool's checker needs it: the state
// machine's check of a tx against committed state, and a signer's next
// nonce there. Both must be safe for concurrent use.
type ledgerChecker interface {
	CheckTx(tx *exec.Tx) (*exec.CheckResult, error)
	NextNonce(signer string) (uint64, error)
}

// txChecker is the mempool's TxChecker over the ledger. The ledger cannot
// import the mempool, so turning its check result into a TxMeta is the
// node's wiring.
//
// It also refuses, by this node's clock, a RevealBid sent before its
// tender's bid deadline (ARCHITECTURE.md §5, "Tenders"): the state machine
// would refuse it in the block, but the failed tx would stay in the block
// and publish the bid's price while others can still bid. A refusal here
// keeps the reveal on the sender's node; the state machine's own check
// needs the block time, which admission does not have.
type txChecker struct {
	ledger ledgerChecker
	// state and now, when set, enable the reveal check.
	state exec.Reader
	now   func() time.Time
}

// sealedRefusal is the reveal check's refusal: CONFLICT, a state of
// things (the clock) that another node may see differently, so a peer
// that relays such a tx is not penalised (mempool.StateDependent).
type sealedRefusal struct{ reason string }

func (r sealedRefusal) Error() string             { return "RESULT_CODE_CONFLICT: " + r.reason }
func (r sealedRefusal) ResultCode() pb.ResultCode { return pb.ResultCode_RESULT_CODE_CONFLICT }

// checkSealed refuses a reveal before its tender's bid deadline.
func (c txChecker) checkSealed(tx *exec.Tx) error {
	rv := tx.Body.GetRevealBid()
	if rv == nil || c.state == nil || c.now == nil {
		return nil
	}
	t, err := exec.Tender(c.state, rv.GetTenderId())
	if err != nil {
		return nil // the state machine's check says what is wrong
	}
	if now := c.now().Unix(); now < t.GetBidDeadline() {
		return sealedRefusal{fmt.Sprintf("tender %s: bids are sealed until %d (%s), %d s from now by this node's clock: a reveal sent earlier would publish the bid in the block that refuses it",
			t.GetId(), t.GetBidDeadline(), time.Unix(t.GetBidDeadline(), 0).UTC().Format(time.RFC3339), t.GetBidDeadline()-now)}
	}
	return nil
}

var _ mempool.TxChecker = txChecker{}

func (c txChecker) CheckTx(tx *exec.Tx) (*mempool.TxMeta, error) {
	if tx.Body != nil {
		if err := c.checkSealed(tx); err != nil {
			return nil, err
		}
	}
	res, err := c.ledger.CheckTx(tx)
	if err != nil {
		return nil, err
	}
	return &mempool.TxMeta{Hash: res.TxHash, Signer: res.Signer, Nonce: res.Nonce, NextNonce: res.NextNonce}, nil
}

func (c txChecker) NextNonce(signer string) (uint64, error) { return c.ledger.NextNonce(signer) }
