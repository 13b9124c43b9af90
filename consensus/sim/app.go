package sim

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/driver"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// ledger is the fake application: it keeps every committed block (it is
// the durable part of a replica and survives crashes) and a state root that
// is a hash chain of the committed payloads, so a header attesting a wrong
// state is refused.
type ledger struct {
	s       *simulation
	id      int
	blocks  []*pb.Block // index h-1
	hashes  [][]byte    // index h (0 = genesis)
	roots   [][]byte    // index h: state root after block h
	byHash  map[string]int
	badRoot bool // Byzantine: build headers with a wrong state root
	// powerCut: the replica loses power in its next Commit, after its
	// safety state was synced and its messages sent, with only some of
	// the blocks (perhaps none) stored.
	powerCut bool
}

// errPowerCut is the failed Commit of a power cut: the driver stops, and
// the replica is down until it is restarted.
var errPowerCut = errors.New("sim: power cut during commit")

func newLedger(s *simulation, id int) *ledger {
	return &ledger{s: s, id: id, hashes: [][]byte{s.genesis}, roots: [][]byte{crypto.Hash([]byte("sim/genesis-state"))},
		byHash: map[string]int{string(s.genesis): 0}}
}

func (l *ledger) height() uint64 { return uint64(len(l.blocks)) }

func nextRoot(prev []byte, txs [][]byte) []byte {
	b := append([]byte("sim/state"), prev...)
	for _, tx := range txs {
		b = append(b, crypto.Hash(tx)...)
	}
	return crypto.Hash(b)
}

func txRoot(txs [][]byte) []byte {
	hs := make([][]byte, len(txs))
	for i, tx := range txs {
		hs[i] = crypto.Hash(tx)
	}
	return crypto.MerkleRoot(hs)
}

func (l *ledger) Head() (*pb.Block, error) {
	if len(l.blocks) == 0 {
		return nil, nil
	}
	return l.blocks[len(l.blocks)-1], nil
}

func (l *ledger) Commit(bs []consensus.CommittedBlock) error {
	stored := len(bs)
	if l.powerCut {
		l.powerCut = false
		stored = l.s.rng.IntN(len(bs))
		l.s.stats.PowerCuts++
	}
	for i, cb := range bs[:stored] {
		h := l.height()
		if cb.Height != h+1 || !bytes.Equal(cb.Header.GetParentHash(), l.hashes[h]) {
			l.s.safety(fmt.Sprintf("replica %d: committed block at %d does not extend its ledger at %d (lost or forked commit)", l.id, cb.Height, h))
			return errors.New("ledger: non-contiguous commit")
		}
		// Validity: the block was proposed, and its certificate chain verifies.
		if !l.s.proposed[string(cb.Hash)] {
			l.s.safety(fmt.Sprintf("replica %d: committed block %x at %d was never proposed", l.id, cb.Hash[:4], cb.Height))
		}
		var chain [][]byte
		for _, later := range bs[i+1:] {
			if later.Height > cb.Cert.GetHeight() {
				break
			}
			chain = append(chain, later.Block.GetHeader())
		}
		if err := consensus.VerifyCommit(l.s.cfg, cb.Block, cb.Cert, chain); err != nil {
			l.s.safety(fmt.Sprintf("replica %d: commit certificate of height %d: %v", l.id, cb.Height, err))
		}
		l.blocks = append(l.blocks, cb.Block)
		l.hashes = append(l.hashes, cb.Hash)
		l.roots = append(l.roots, nextRoot(l.roots[h], cb.Block.GetTxs()))
		l.byHash[string(cb.Hash)] = int(cb.Height)
		l.s.onCommit(l.id, cb)
	}
	if stored < len(bs) {
		return errPowerCut
	}
	return nil
}

func (l *ledger) ValidateBlock(req consensus.ValidationRequest) error {
	h := req.Header
	if h.GetStateHeight() != req.StateHeight {
		return fmt.Errorf("header attests height %d, ancestry commits %d", h.GetStateHeight(), req.StateHeight)
	}
	if req.StateHeight > l.height() {
		return fmt.Errorf("state height %d not executed (at %d)", req.StateHeight, l.height())
	}
	if !bytes.Equal(h.GetStateRoot(), l.roots[req.StateHeight]) {
		l.s.stats.BadPayloadRefused++
		return errors.New("wrong state root")
	}
	if !bytes.Equal(h.GetTxRoot(), txRoot(req.Block.GetTxs())) || int(h.GetTxCount()) != len(req.Block.GetTxs()) {
		return errors.New("wrong tx root")
	}
	if !bytes.Equal(h.GetValidatorSetHash(), l.s.vsHash) {
		return errors.New("wrong validator set hash")
	}
	return nil
}

func (l *ledger) BuildPayload(slot consensus.ProposeSlot, txs [][]byte) (*pb.Header, error) {
	if slot.StateHeight > l.height() {
		return nil, fmt.Errorf("state height %d not executed", slot.StateHeight)
	}
	root := l.roots[slot.StateHeight]
	if l.badRoot && l.s.rng.IntN(2) == 0 {
		root = crypto.Hash([]byte(fmt.Sprintf("evil-%d", l.s.now)))
	}
	return &pb.Header{TimeUnixMs: int64(l.s.now), TxRoot: txRoot(txs), TxCount: uint32(len(txs)),
		StateHeight: slot.StateHeight, StateRoot: root, ValidatorSetHash: l.s.vsHash}, nil
}

// block returns a committed block by hash.
func (l *ledger) block(hash []byte) *pb.Block {
	if h, ok := l.byHash[string(hash)]; ok && h > 0 {
		return l.blocks[h-1]
	}
	return nil
}

// mempool is volatile: a crash loses it.
type mempool struct {
	txs    [][]byte
	in     map[string]bool
	censor bool // Byzantine leader that heartbeats but never proposes txs
}

func newMempool() *mempool { return &mempool{in: map[string]bool{}} }

func (m *mempool) add(tx []byte) {
	if !m.in[string(tx)] {
		m.in[string(tx)] = true
		m.txs = append(m.txs, tx)
	}
}

func (m *mempool) Reap(max int, slot consensus.ProposeSlot) [][]byte {
	if m.censor {
		return nil
	}
	ex := map[string]bool{}
	for _, b := range slot.Uncommitted {
		for _, tx := range b.GetTxs() {
			ex[string(tx)] = true
		}
	}
	var out [][]byte
	for _, tx := range m.txs {
		if len(out) >= max {
			break
		}
		if !ex[string(tx)] {
			out = append(out, tx)
		}
	}
	return out
}

func (m *mempool) Update(bs []consensus.CommittedBlock) {
	gone := map[string]bool{}
	for _, b := range bs {
		for _, tx := range b.Block.GetTxs() {
			if m.in[string(tx)] {
				gone[string(tx)] = true
				delete(m.in, string(tx))
			}
		}
	}
	if len(gone) == 0 {
		return
	}
	kept := m.txs[:0]
	for _, tx := range m.txs {
		if !gone[string(tx)] {
			kept = append(kept, tx)
		}
	}
	m.txs = kept
}

func (m *mempool) Pending() bool { return len(m.txs) > 0 && !m.censor }

// memStore is the replica's safety store: durable across crashes.
type memStore struct {
	st    consensus.SafetyState
	saves int
}

func (s *memStore) Load() (consensus.SafetyState, error) { return s.st.Clone(), nil }
func (s *memStore) Save(st consensus.SafetyState) error {
	s.st = st.Clone()
	s.saves++
	return nil
}

var (
	_ driver.Executor    = (*ledger)(nil)
	_ driver.Mempool     = (*mempool)(nil)
	_ driver.SafetyStore = (*memStore)(nil)
)
