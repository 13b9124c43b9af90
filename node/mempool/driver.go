package mempool

import (
	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/driver"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// CommittedTxsOf is what the mempool must learn of committed blocks: each
// tx's hash, and its signer and nonce when it decodes. known is the
// node's table of decoded txs (nil: decode every tx).
func CommittedTxsOf(known *exec.Known, cbs []consensus.CommittedBlock) []CommittedTx {
	var out []CommittedTx
	for _, cb := range cbs {
		for _, raw := range cb.Block.GetTxs() {
			tx := known.Tx(raw)
			c := CommittedTx{Hash: tx.Hash}
			// A committed tx that does not decode used no nonce; it
			// changes nothing the mempool tracks.
			if body := tx.Body; tx.Err == nil {
				c.Signer, c.Nonce, c.Admission = body.GetSigner(), body.GetNonce(), exec.AffectsAdmission(body)
			}
			out = append(out, c)
		}
	}
	return out
}

// ForDriver is the mempool as the consensus driver sees it
// (driver.Mempool): Params returns the chain's current parameters, Updated
// is told after each commit (the mempool gauges).
type ForDriver struct {
	Pool    *Mempool
	Params  func() *pb.Params
	Updated func()
}

var _ driver.Mempool = ForDriver{}

// ReapLimit is the most txs the leader may propose: the consensus core's
// limit, fixed when the driver started, or the chain's max_block_txs now
// if governance has lowered it since. Every validator checks a proposal
// against the current parameters, so a leader reaping with the old limit
// would have every block refused and stall the chain.
func ReapLimit(driverMax int, p *pb.Params) int {
	if live := p.GetMaxBlockTxs(); live > 0 && uint64(live) < uint64(driverMax) {
		return int(live)
	}
	return driverMax
}

// Reap returns up to max runnable txs, within the current limits, that
// are not in the blocks of exclude (proposed, not yet committed).
func (d ForDriver) Reap(max int, exclude []*pb.Block) [][]byte {
	known := d.Pool.known
	skip := map[string]bool{}
	for _, b := range exclude {
		for _, h := range known.Hashes(b.GetTxs()) {
			skip[string(h)] = true
		}
	}
	params := d.Params()
	max = ReapLimit(max, params)
	maxBytes := int(params.GetMaxBlockBytes())
	txs := d.Pool.Reap(max+len(skip), maxBytes)
	var hashes [][]byte
	if len(skip) > 0 {
		hashes = known.Hashes(txs)
	}
	out := txs[:0:0]
	for i, tx := range txs {
		if len(out) >= max {
			break
		}
		if len(skip) == 0 || !skip[string(hashes[i])] {
			out = append(out, tx)
		}
	}
	return out
}

// Update drops the txs of committed blocks.
func (d ForDriver) Update(blocks []consensus.CommittedBlock) {
	d.Pool.Update(CommittedTxsOf(d.Pool.known, blocks))
	d.Updated()
}

// Pending reports txs the leader could propose now; txs behind a nonce gap
// must not keep the chain making empty blocks.
func (d ForDriver) Pending() bool { return d.Pool.Ready() }
