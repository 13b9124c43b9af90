package mempool

import (
	"log/slog"

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
// (driver.Mempool): ParamsAt returns the chain parameters in committed
// state at a height (blockexec.Executor.ParamsAt), Updated is told after
// each commit (the mempool gauges), Log (optional) hears of a failed
// parameters read.
type ForDriver struct {
	Pool     *Mempool
	ParamsAt func(h uint64) (*pb.Params, error)
	Updated  func()
	Log      *slog.Logger
}

var _ driver.Mempool = ForDriver{}

var _ driver.FullBlocker = ForDriver{}

// FullBlock reports whether the runnable txs fill a block of slot (by
// count, within the parameters in force for it): a pacing leader proposes
// at once then.
func (d ForDriver) FullBlock(max int, slot consensus.ProposeSlot) bool {
	params, err := d.ParamsAt(slot.StateHeight)
	if err != nil {
		return false
	}
	return d.Pool.Runnable() >= ReapLimit(max, params)
}

// ReapLimit is the most txs the leader may propose: the consensus core's
// ceiling, or the max_block_txs of the parameters in force for the block
// if lower. Every validator checks a proposal against those parameters,
// so a leader reaping more would have its block refused and stall the
// chain.
func ReapLimit(driverMax int, p *pb.Params) int {
	if live := p.GetMaxBlockTxs(); live > 0 && uint64(live) < uint64(driverMax) {
		return int(live)
	}
	return driverMax
}

// Reap returns up to max runnable txs for the block of slot, within the
// limits of the parameters in force for it (those in committed state at
// slot.StateHeight, ARCHITECTURE.md §5), that are not in the blocks of
// slot.Uncommitted (proposed, not yet committed). If those parameters
// cannot be read it proposes an empty block, which fits any parameters.
func (d ForDriver) Reap(max int, slot consensus.ProposeSlot) [][]byte {
	params, err := d.ParamsAt(slot.StateHeight)
	if err != nil {
		if d.Log != nil {
			d.Log.Warn("reap: read the chain parameters; proposing no txs", "state_height", slot.StateHeight, "err", err)
		}
		return nil
	}
	known := d.Pool.known
	// The txs of the uncommitted ancestors (and of the committed block
	// whose ledger write is in flight, driver.Pipeliner) are still held:
	// the pool reaps them first, so they widen its limits, count and
	// bytes alike, and only the txs kept count against the block's.
	skip := map[string]bool{}
	skipBytes := 0
	for _, b := range slot.Uncommitted {
		for i, h := range known.Hashes(b.GetTxs()) {
			if !skip[string(h)] {
				skip[string(h)] = true
				skipBytes += len(b.GetTxs()[i])
			}
		}
	}
	max = ReapLimit(max, params)
	maxBytes := int(params.GetMaxBlockBytes())
	txs := d.Pool.Reap(max+len(skip), maxBytes+skipBytes)
	var hashes [][]byte
	if len(skip) > 0 {
		hashes = known.Hashes(txs)
	}
	// A tx admitted before governance lowered max_tx_bytes may exceed it
	// now: leave it out, and the rest of its signer's run (their nonces
	// follow it), rather than propose a block every validator refuses.
	maxTx := params.GetMaxTxBytes()
	var stopped map[string]bool
	out := txs[:0:0]
	size := 0
	for i, tx := range txs {
		if len(out) >= max {
			break
		}
		if len(skip) > 0 && skip[string(hashes[i])] {
			continue
		}
		if uint64(len(tx)) > maxTx || stopped != nil {
			if hashes == nil {
				hashes = known.Hashes(txs)
			}
			signer := d.Pool.signerOf(hashes[i])
			if uint64(len(tx)) > maxTx {
				if stopped == nil {
					stopped = map[string]bool{}
				}
				stopped[signer] = true
			}
			if stopped[signer] {
				continue
			}
		}
		if size+len(tx) > maxBytes {
			break
		}
		out = append(out, tx)
		size += len(tx)
	}
	return out
}

// signerOf is the signer of the held tx with hash ("" if not held).
func (m *Mempool) signerOf(hash []byte) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.byHash[string(hash)]; ok {
		return t.meta.Signer
	}
	return ""
}

// Update drops the txs of committed blocks.
func (d ForDriver) Update(blocks []consensus.CommittedBlock) {
	d.Pool.Update(CommittedTxsOf(d.Pool.known, blocks))
	d.Updated()
}

// Pending reports txs the leader could propose now; txs behind a nonce gap
// must not keep the chain making empty blocks.
func (d ForDriver) Pending() bool { return d.Pool.Ready() }
