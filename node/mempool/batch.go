package mempool

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/p2p"
)

// AdmitBatch is the p2p layer's tx validator (p2p.TxValidator): the
// admission of a batch of txs another node sent, in order, each with its
// own verdict. The batch's signatures are verified together first
// (Preverify), which costs about half as much per tx as verifying each
// alone; a bad signature fails only its own tx.
//
// Verdicts: nil for a tx admitted; a rejection, which penalises the
// peer's tx score, only for a refusal that no honest node can cause
// (Provable: a tx that does not decode, or is for another chain); ErrIgnore
// for everything else: a tx we hold already, a refusal that depends on
// this node (its committed state, its fill, its own mempool.max_tx_bytes,
// which may be below the chain's limit), a code not known to be provable,
// and a checker error that is no refusal (a storage read failed here).
func (f *Fanout) AdmitBatch(_ context.Context, txs [][]byte) []error {
	var facts []*exec.Tx
	if f.Preverify != nil && len(txs) > 1 {
		facts = f.Preverify(txs)
	}
	out := make([]error, len(txs))
	now := time.Now()
	for i, tx := range txs {
		var hash []byte
		var err error
		if i < len(facts) && facts[i] != nil {
			hash, err = f.Pool.AddTx(facts[i])
		} else {
			hash, err = f.Pool.Add(tx)
		}
		switch {
		case err == nil:
			f.Pool.MarkGossiped(hash, now)
		case errors.Is(err, ErrDuplicateTx):
			f.Pool.MarkGossiped(hash, now)
			out[i] = fmt.Errorf("%w: %v", p2p.ErrIgnore, err)
		case Provable(err):
			out[i] = err
		default:
			out[i] = fmt.Errorf("%w: %v", p2p.ErrIgnore, err)
		}
	}
	return out
}
