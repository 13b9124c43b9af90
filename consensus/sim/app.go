package sim

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

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
	s      *simulation
	id     int
	blocks []*pb.Block // index h-1
	hashes [][]byte    // index h (0 = genesis)
	roots  [][]byte    // index h: state root after block h
	byHash map[string]int
	synced []consensus.CommittedBlock // index h-1, what block sync serves: each block with its stored certificate
	// epochs are the validator sets in force, oldest first (the genesis
	// set first); members the latest set decided, as indexes of
	// simulation.keys; pending the decided sets not yet in force.
	epochs  []consensus.Epoch
	members []int
	pending []pendingSet
	badRoot bool // Byzantine: build headers with a wrong state root
	// powerCut: the replica loses power in its next Commit, after its
	// safety state was synced and its messages sent, with only some of
	// the blocks (perhaps none) stored.
	powerCut bool
}

// errPowerCut is the failed Commit of a power cut: the driver stops, and
// the replica is down until it is restarted.
var errPowerCut = errors.New("sim: power cut during commit")

// pendingSet is a decided validator set and the height it is in force
// from.
type pendingSet struct {
	start   uint64
	members []int
}

func newLedger(s *simulation, id int) *ledger {
	l := &ledger{s: s, id: id, hashes: [][]byte{s.genesis}, roots: [][]byte{crypto.Ed25519SHA256.Hash([]byte("sim/genesis-state"))},
		byHash: map[string]int{string(s.genesis): 0}}
	l.epochs = []consensus.Epoch{s.cfg.EpochOf()}
	for i := range s.cfg.Validators {
		l.members = append(l.members, i)
	}
	return l
}

// Epoch is the validator set in force above the committed head
// (driver.Membership).
func (l *ledger) Epoch() (consensus.Epoch, error) { return l.epochs[len(l.epochs)-1], nil }

// ChangePending reports a decided set not yet in force
// (driver.Membership).
func (l *ledger) ChangePending() bool { return len(l.pending) > 0 }

// setHash is what headers of the set in force name as validator_set_hash.
func (l *ledger) setHash() []byte { return setHashOf(l.epochs[len(l.epochs)-1].Validators) }

// setHashOf is the simulated validator_set_hash of a set: its keys, hashed.
func setHashOf(vs []*pb.PublicKey) []byte {
	var b []byte
	for _, v := range vs {
		b = append(b, v.GetKey()...)
	}
	return crypto.Ed25519SHA256.Hash(b)
}

// decide applies a committed membership tx ("member:add:K",
// "member:remove:K", "member:rotate:K:K2", K key indexes) to the latest
// decided set, to be in force from height start. A change that names no
// key, or leaves fewer than the fault model needs, is ignored, as the
// state machine refuses it.
func (l *ledger) decide(tx []byte, start uint64) {
	var a, b int
	scan := func(format string, args ...any) bool {
		n, err := fmt.Sscanf(string(tx), format, args...)
		return err == nil && n == len(args)
	}
	known := func(k int) bool { return k >= 0 && k < len(l.s.keys) }
	next := append([]int(nil), l.members...)
	switch {
	case scan("member:add:%d", &a) && known(a) && !slices.Contains(next, a):
		next = append(next, a)
	case scan("member:remove:%d", &a) && slices.Contains(next, a):
		next = slices.DeleteFunc(next, func(k int) bool { return k == a })
	case scan("member:rotate:%d:%d", &a, &b) && known(b) && slices.Contains(next, a) && !slices.Contains(next, b):
		next[slices.Index(next, a)] = b
	default:
		return
	}
	min := 3
	if l.s.cfg.FaultModel == consensus.Byzantine {
		min = 4
	}
	if len(next) < min {
		return
	}
	l.members = next
	if k := len(l.pending); k > 0 && l.pending[k-1].start == start {
		l.pending[k-1].members = next // decided in the same block: one change
		return
	}
	l.pending = append(l.pending, pendingSet{start: start, members: next})
}

func (l *ledger) height() uint64 { return uint64(len(l.blocks)) }

func nextRoot(prev []byte, txs [][]byte) []byte {
	b := append([]byte("sim/state"), prev...)
	for _, tx := range txs {
		b = append(b, crypto.Ed25519SHA256.Hash(tx)...)
	}
	return crypto.Ed25519SHA256.Hash(b)
}

func txRoot(suite crypto.Suite, txs [][]byte) []byte {
	hs := make([][]byte, len(txs))
	for i, tx := range txs {
		hs[i] = suite.Hash(tx)
	}
	return suite.MerkleRoot(hs)
}

func (l *ledger) Head() (*pb.Block, error) {
	if len(l.blocks) == 0 {
		return nil, nil
	}
	return l.blocks[len(l.blocks)-1], nil
}

func (l *ledger) Commit(bs []consensus.CommittedBlock) error {
	return l.commit(bs, false)
}

// sync commits blocks another replica's ledger served, each with the
// certificate that ledger stored.
func (l *ledger) sync(bs []consensus.CommittedBlock) error { return l.commit(bs, true) }

// commit stores bs, handed out by consensus or, synced, served by another
// replica's ledger. As blockexec's Executor.Commit does, a certificate
// that commits a later block of a consensus batch directly is stored with
// the headers in between (pb.CommitCert.chain): at an epoch's end they may
// be the old set's suffix, which no ledger holds. A certificate is then
// verified with its own chain, or else with the later blocks of bs (for a
// synced batch, the serving ledger's blocks, as node/blocksync does): the
// root block of an epoch must be proven by its stored certificate alone.
func (l *ledger) commit(bs []consensus.CommittedBlock, synced bool) error {
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
		if !synced {
			cb.Cert = withChain(cb, bs[i+1:])
		}
		var chain [][]byte
		if len(cb.Cert.GetChain()) == 0 {
			for _, later := range bs[i+1:] {
				if later.Height > cb.Cert.GetHeight() {
					break
				}
				chain = append(chain, later.Block.GetHeader())
			}
		}
		// The certificate is checked against the set in force at the
		// block's height, and the header must name that set.
		ep := l.epochs[len(l.epochs)-1]
		if err := consensus.VerifyCommit(l.s.cfg.WithEpoch(ep, -1), cb.Block, cb.Cert, chain); err != nil {
			l.s.safety(fmt.Sprintf("replica %d: commit certificate of height %d (epoch %d): %v", l.id, cb.Height, ep.Start, err))
		}
		if !bytes.Equal(cb.Header.GetValidatorSetHash(), l.setHash()) {
			l.s.safety(fmt.Sprintf("replica %d: committed block at %d names another validator set than the one in force (epoch %d)", l.id, cb.Height, ep.Start))
		}
		l.blocks = append(l.blocks, cb.Block)
		l.hashes = append(l.hashes, cb.Hash)
		l.roots = append(l.roots, nextRoot(l.roots[h], cb.Block.GetTxs()))
		l.byHash[string(cb.Hash)] = int(cb.Height)
		l.synced = append(l.synced, cb)
		for _, tx := range cb.Block.GetTxs() {
			l.decide(tx, cb.Height+memberDelay)
		}
		l.s.onCommit(l.id, cb)
		if len(l.pending) > 0 && l.pending[0].start == cb.Height+1 {
			// This block ends the epoch: the next set certifies the
			// blocks above it; the rest of the batch is the old set's
			// suffix, never executed (driver.Membership).
			next := l.pending[0]
			l.pending = l.pending[1:]
			e := consensus.Epoch{Start: next.start, FaultModel: l.s.cfg.FaultModel,
				Root: &pb.QuorumCert{View: cb.Header.GetView(), Height: cb.Height, BlockHash: cb.Hash}}
			for _, k := range next.members {
				e.Validators = append(e.Validators, l.s.keys[k].Public())
			}
			l.epochs = append(l.epochs, e)
			l.s.onEpoch(l.id, e)
			if !l.s.opts.suffixBug {
				return nil
			}
		}
	}
	if stored < len(bs) {
		return errPowerCut
	}
	return nil
}

// withChain is cb's certificate as a ledger stores it: when it commits a
// later block directly, a copy carrying the headers of the later blocks
// up to it (at most consensus.MaxCertChain), if later holds them.
func withChain(cb consensus.CommittedBlock, later []consensus.CommittedBlock) *pb.CommitCert {
	cert := cb.Cert
	n := cert.GetHeight() - cb.Height
	if cert.GetHeight() <= cb.Height || len(cert.GetChain()) > 0 || n > consensus.MaxCertChain || uint64(len(later)) < n {
		return cert
	}
	own := proto.Clone(cert).(*pb.CommitCert)
	for _, x := range later[:n] {
		own.Chain = append(own.Chain, x.Block.GetHeader())
	}
	return own
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
	if !bytes.Equal(h.GetTxRoot(), txRoot(l.s.opts.Suite, req.Block.GetTxs())) || int(h.GetTxCount()) != len(req.Block.GetTxs()) {
		return errors.New("wrong tx root")
	}
	if !bytes.Equal(h.GetValidatorSetHash(), l.setHash()) {
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
		root = crypto.Ed25519SHA256.Hash([]byte(fmt.Sprintf("evil-%d", l.s.now)))
	}
	return &pb.Header{TimeUnixMs: int64(l.s.now), TxRoot: txRoot(l.s.opts.Suite, txs), TxCount: uint32(len(txs)),
		StateHeight: slot.StateHeight, StateRoot: root, ValidatorSetHash: l.setHash()}, nil
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
	_ driver.Membership  = (*ledger)(nil)
	_ driver.Mempool     = (*mempool)(nil)
	_ driver.SafetyStore = (*memStore)(nil)
)
