package node

import (
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node/mempool"
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
type txChecker struct{ ledger ledgerChecker }

var _ mempool.TxChecker = txChecker{}

func (c txChecker) CheckTx(tx *exec.Tx) (*mempool.TxMeta, error) {
	res, err := c.ledger.CheckTx(tx)
	if err != nil {
		return nil, err
	}
	return &mempool.TxMeta{Hash: res.TxHash, Signer: res.Signer, Nonce: res.Nonce, NextNonce: res.NextNonce}, nil
}

func (c txChecker) NextNonce(signer string) (uint64, error) { return c.ledger.NextNonce(signer) }
