package blockexec

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/driver"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/state"
	"github.com/govnode/govnode/ledger/store"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// maxClockDrift is how far ahead of this node's clock a proposal's block
// time may be. A proposal further in the future is refused (not voted for).
const maxClockDrift = 10 * time.Second

// Clock gives the executor the time. Production uses the wall clock; the
// clock is only read to stamp and sanity-check block times, never inside
// the state machine, which takes time from headers.
type Clock interface{ Now() time.Time }

// WallClock is the wall clock, shifted by Offset (zero in production; a
// test of clock skew sets it).
type WallClock struct{ Offset time.Duration }

// Now is the shifted wall-clock time.
func (c WallClock) Now() time.Time { return time.Now().Add(c.Offset) }

// Metrics are the executor's instruments; the node fills them from its
// registry (node/metrics). Every field must be set.
type Metrics struct {
	Height         prometheus.Gauge    // last committed height
	CommittedTxs   prometheus.Counter  // txs in committed blocks
	FailedTxs      prometheus.Counter  // of which failed
	BlockInterval  prometheus.Observer // seconds between two commits
	ApplyDuration  prometheus.Observer // seconds the state machine took per block
	CommitDuration prometheus.Observer // seconds the store write took per block
}

func (m Metrics) check() error {
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"Height", m.Height != nil}, {"CommittedTxs", m.CommittedTxs != nil}, {"FailedTxs", m.FailedTxs != nil},
		{"BlockInterval", m.BlockInterval != nil}, {"ApplyDuration", m.ApplyDuration != nil}, {"CommitDuration", m.CommitDuration != nil},
	} {
		if !f.set {
			return fmt.Errorf("blockexec: Metrics.%s is nil; every field must be set", f.name)
		}
	}
	return nil
}

// Executor is the application side of consensus: it executes committed
// blocks with the state machine and writes them to the store, validates
// proposals and builds payloads for this node's proposals. The consensus
// driver calls it from one goroutine; block sync calls Commit from
// another, so commits are serialized by commitMu.
type Executor struct {
	chainID string
	suite   crypto.Suite
	store   *store.Store
	exec    *exec.Executor
	clock   Clock
	log     *slog.Logger
	metrics Metrics

	commitMu   sync.Mutex
	lastCommit time.Time
	// writeErr is the error of a ledger write left in flight
	// (CommitAsync): once set, every commit fails with it.
	writeErr error

	mu           sync.Mutex
	valset       *pb.ValidatorSet // in force above the committed head
	valsetHash   []byte
	epoch        consensus.Epoch // valset as consensus runs it
	nextSwitch   uint64          // effective height of a decided set not yet in force, 0 if none
	onEpoch      []func(consensus.Epoch, *pb.ValidatorSet)
	params       *pb.Params
	paramsAt     map[uint64]*pb.Params // ParamsAt's cache by height
	resultHashes map[uint64][]byte     // recent heights' results_hash
	times        map[uint64]int64      // recent heights' block times
	onCommit     []func(*CommittedInfo)
	deadlines    deadlineState
	sparse       *sparse // the commit path's knowledge of empty prefixes
	// upgrade is the pending upgrade plan of committed state (upgrade.go);
	// knownUpgrades are the upgrades this binary implements, set before
	// the first commit.
	upgrade       *pb.UpgradePlan
	knownUpgrades []string
	// inflight is the committed block whose ledger write runs on its own
	// goroutine (CommitAsync), nil if none.
	inflight *ledgerWrite
}

// deadlineState is what committed state says about contract deadlines
// (ARCHITECTURE.md §4 "Deadlines drive blocks"), kept after each commit.
type deadlineState struct {
	next    int64 // earliest due time in the dl/ index, unix seconds, if due
	due     bool  // a deadline is scheduled
	firedAt uint64
	// firedAt is the highest committed height whose block fired
	// deadlines, and attested the state_height of the committed head's
	// header: until attested reaches firedAt, no committed header attests
	// the state the deadlines left.
	attested uint64
}

// CommittedInfo is what listeners learn about a committed block.
type CommittedInfo struct {
	Height   uint64
	Hash     []byte
	TxHashes [][]byte
	Results  []*pb.TxResult
	// Events are all the block's events, the txs' and the block's own
	// (deadlines, governance decisions).
	Events []*pb.Event
}

var (
	_ driver.Executor   = (*Executor)(nil)
	_ driver.Membership = (*Executor)(nil)
	_ driver.Deadlines  = (*Executor)(nil)
	_ driver.Pipeliner  = (*Executor)(nil)
)

// StateReader is the committed state in st as the state machine reads it.
func StateReader(st *store.Store) exec.Reader { return reader{st} }

// reader adapts the store to the state machine's Reader.
type reader struct{ s *store.Store }

var _ exec.Reader = reader{}

func (r reader) Get(k []byte) ([]byte, error) {
	v, err := r.s.Get(k)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", exec.ErrNotFound, k)
	}
	return v, err
}

func (r reader) Iterate(start, end []byte, fn func(k, v []byte) error) error {
	// The store iterates by prefix: use the common prefix of the range and
	// filter to [start, end).
	n := 0
	for n < len(start) && n < len(end) && start[n] == end[n] {
		n++
	}
	var ferr error
	err := r.s.IteratePrefix(start[:n], func(k, v []byte) bool {
		if bytes.Compare(k, start) < 0 {
			return true
		}
		if end != nil && bytes.Compare(k, end) >= 0 {
			return false
		}
		if err := fn(k, v); err != nil {
			ferr = err
			return false
		}
		return true
	})
	if ferr != nil {
		return ferr
	}
	return err
}

// New returns the executor of chainID's blocks over the ledger st, which
// holds at least the genesis state, executed with the state machine ex.
func New(chainID string, st *store.Store, ex *exec.Executor, clock Clock, log *slog.Logger, m Metrics) (*Executor, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	a := &Executor{
		chainID: chainID, suite: ex.Suite(), store: st, exec: ex, clock: clock, log: log, metrics: m,
		resultHashes: map[uint64][]byte{}, times: map[uint64]int64{}, paramsAt: map[uint64]*pb.Params{},
		sparse: newSparse(),
	}
	h, _ := st.Height()
	if err := checkSetChangesApplied(a.suite, reader{st}, h, storedHeader(a)); err != nil {
		return nil, err
	}
	if err := a.reloadChainState(); err != nil {
		return nil, err
	}
	if err := a.loadDeadlines(h); err != nil {
		return nil, err
	}
	if err := a.loadUpgradePlan(); err != nil {
		return nil, err
	}
	m.Height.Set(float64(h))
	return a, nil
}

// maxUnattestedScan bounds how many blocks above the head's attested
// state loadDeadlines looks at (the head attests its parent or
// grandparent, unless a run of view changes left a longer gap).
const maxUnattestedScan = 64

// loadDeadlines reads the next deadline from committed state at start,
// and whether a block above the state the head attests changed state on
// its own (fired deadlines, or closed a vote): its block events are
// stored apart from its txs'. Such a block is followed by blocks until a
// committed header attests it, as after a restart of the whole network.
func (a *Executor) loadDeadlines(head uint64) error {
	next, due, err := exec.NextDeadline(reader{a.store})
	if err != nil {
		return fmt.Errorf("read the next deadline: %w", err)
	}
	d := deadlineState{next: next, due: due}
	if head > 0 {
		b, err := a.Block(head)
		if err != nil {
			return err
		}
		hdr := &pb.Header{}
		if err := proto.Unmarshal(b.GetHeader(), hdr); err != nil {
			return fmt.Errorf("decode header %d: %w", head, err)
		}
		d.attested = hdr.GetStateHeight()
		for h := head; h > d.attested && head-h < maxUnattestedScan; h-- {
			evs, err := a.store.BlockEvents(h)
			if err != nil {
				return fmt.Errorf("events of block %d: %w", h, err)
			}
			if len(evs) > 0 {
				d.firedAt = h
				break
			}
		}
	}
	a.mu.Lock()
	a.deadlines = d
	a.mu.Unlock()
	return nil
}

// NextDeadline is the earliest due time of a contract deadline in
// committed state (exec.NextDeadline), kept after each commit; ok is
// false when none is scheduled. A block whose time is past it fires it.
func (a *Executor) NextDeadline() (due time.Time, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.deadlines.due {
		return time.Time{}, false
	}
	return time.Unix(a.deadlines.next, 0), true
}

// DeadlineDue reports (driver.Deadlines) whether the chain must make
// blocks for deadlines at wall-clock time now: a block stamped now would
// fire one (exec.DeadlinePassed), or a committed block fired some and no
// committed header attests the state it left yet, the finalizing a block
// of txs gets from consensus (ARCHITECTURE.md §4 "Deadlines drive
// blocks").
func (a *Executor) DeadlineDue(now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.deadlines
	return (d.due && exec.DeadlinePassed(d.next, now.UnixMilli())) || d.firedAt > d.attested
}

// Now is the executor's clock, the one that stamps this node's proposals:
// the consensus driver asks DeadlineDue with it.
func (a *Executor) Now() time.Time { return a.clock.Now() }

// reloadChainState reads the validator set in force above the committed
// head, the next decided one if any, and the parameters from state
// (ARCHITECTURE.md §4, "Reconfiguration"). A set decided at height c is in
// force from its effective height E = c + validator_change_delay: the
// block at E-1 ends the old set's epoch, and this node's consensus driver
// (driver.Membership) and block sync follow from there.
func (a *Executor) reloadChainState() error {
	r := reader{a.store}
	head, _ := a.store.Height()
	vs, err := exec.ValidatorSetAt(r, head+1)
	if err != nil {
		return fmt.Errorf("read validator set: %w", err)
	}
	params, err := exec.Params(r)
	if err != nil {
		return fmt.Errorf("read params: %w", err)
	}
	hash, err := validatorSetHash(a.suite, vs)
	if err != nil {
		return err
	}
	// The next switch is the nearest decided set, not the latest: two
	// changes decided within the delay are both pending, and each takes
	// over at its own height.
	pending, err := exec.PendingValidatorSets(r, head)
	if err != nil {
		return fmt.Errorf("read pending validator sets: %w", err)
	}
	var next uint64
	for _, p := range pending {
		if e := p.GetEffectiveHeight(); next == 0 || e < next {
			next = e
		}
	}
	ep, err := a.epochOf(vs)
	if err != nil {
		return err
	}
	a.mu.Lock()
	changed := a.valset != nil && ep.Start != a.epoch.Start
	a.valset, a.valsetHash, a.params, a.epoch, a.nextSwitch = vs, hash, params, ep, next
	listeners := a.onEpoch
	a.mu.Unlock()
	if changed {
		a.log.Info("validator set in force changed", "epoch", ep.Start, "validators", len(vs.GetValidators()),
			"fault_model", vs.GetFaultModel(), "root_height", ep.Root.GetHeight())
		for _, f := range listeners {
			f(ep, vs)
		}
	}
	return nil
}

// epochOf is vs as consensus runs it: its keys and fault model, and the
// committed block its epoch starts above (none for the genesis set).
func (a *Executor) epochOf(vs *pb.ValidatorSet) (consensus.Epoch, error) {
	ep := consensus.Epoch{FaultModel: consensus.FaultModel(vs.GetFaultModel())}
	for _, v := range vs.GetValidators() {
		ep.Validators = append(ep.Validators, v.GetConsensusKey())
	}
	if eff := exec.EpochStart(vs); eff > 0 {
		root, err := a.Block(eff - 1)
		if err != nil {
			return ep, fmt.Errorf("root block of the validator set in force from %d: %w", eff, err)
		}
		hdr := &pb.Header{}
		if err := proto.Unmarshal(root.GetHeader(), hdr); err != nil {
			return ep, fmt.Errorf("root block %d header: %w", eff-1, err)
		}
		ep.Start = eff
		ep.Root = &pb.QuorumCert{View: hdr.GetView(), Height: eff - 1, BlockHash: a.suite.Hash(root.GetHeader())}
	}
	return ep, nil
}

func (a *Executor) currentEpoch() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.epoch.Start
}

// Epoch is the validator set in force above the committed head, as
// consensus runs it (driver.Membership).
func (a *Executor) Epoch() (consensus.Epoch, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.epoch, nil
}

// ChangePending reports a decided validator set not yet in force
// (driver.Membership): the leader proposes until the chain reaches it.
func (a *Executor) ChangePending() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nextSwitch != 0
}

// OnEpoch registers f, called with the set in force after each change of
// it (from the goroutine that committed the block ending the epoch before).
// The node moves its p2p allow-list and gossip checks with it.
func (a *Executor) OnEpoch(f func(consensus.Epoch, *pb.ValidatorSet)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onEpoch = append(a.onEpoch, f)
}

// validatorSetHash is the suite hash of the set's deterministic encoding.
func validatorSetHash(suite crypto.Suite, vs *pb.ValidatorSet) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(vs)
	if err != nil {
		return nil, fmt.Errorf("encode validator set: %w", err)
	}
	return suite.Hash(b), nil
}

// OnCommit registers f, called with each block once it is committed, in
// height order, from the goroutine that committed it. f must not call
// Commit.
func (a *Executor) OnCommit(f func(*CommittedInfo)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onCommit = append(a.onCommit, f)
}

// Params returns the chain parameters in force.
func (a *Executor) Params() *pb.Params {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.params
}

// ParamsAt returns the chain parameters in committed state at height h,
// as block h left them (h = 0: genesis). They are the parameters in force
// for a block whose header attests state_height h (ARCHITECTURE.md §5):
// every validator reads the same at the same h, whatever height it has
// committed itself, so a proposal is valid or invalid on all of them
// alike, and the leader builds it under the same limits. h must be
// committed here.
func (a *Executor) ParamsAt(h uint64) (*pb.Params, error) {
	a.mu.Lock()
	p, ok := a.paramsAt[h]
	a.mu.Unlock()
	if ok {
		return p, nil
	}
	if head, _ := a.store.Height(); h > head {
		return nil, fmt.Errorf("params at height %d: not committed yet (ledger at %d)", h, head)
	}
	raw, err := a.store.State().Get(h, exec.ParamsKey())
	if err != nil {
		return nil, fmt.Errorf("params at height %d: %w", h, err)
	}
	p = &pb.Params{}
	if err := proto.Unmarshal(raw, p); err != nil {
		return nil, fmt.Errorf("params at height %d: decode: %w", h, err)
	}
	a.mu.Lock()
	a.cacheParamsLocked(h, p)
	a.mu.Unlock()
	return p, nil
}

// cacheParamsLocked caches the parameters at height h. A full cache is
// emptied first, except for the block whose write is in flight: its
// parameters are known nowhere else until the write returns (a proposal
// attesting it must still validate). a.mu is held.
func (a *Executor) cacheParamsLocked(h uint64, p *pb.Params) {
	if len(a.paramsAt) >= maxParamsCached {
		var keep *pb.Params
		w := a.inflight
		if w != nil {
			keep = a.paramsAt[w.prep.Height()]
		}
		clear(a.paramsAt)
		if keep != nil {
			a.paramsAt[w.prep.Height()] = keep
		}
	}
	a.paramsAt[h] = p
}

// maxParamsCached bounds ParamsAt's cache; proposals attest the last few
// heights, so it holds the ones in use.
const maxParamsCached = 64

// Validators returns the validator set consensus runs with and its hash.
func (a *Executor) Validators() (*pb.ValidatorSet, []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.valset, a.valsetHash
}

// Head returns the last committed block, nil at genesis.
func (a *Executor) Head() (*pb.Block, error) {
	h, ok := a.store.Height()
	if !ok {
		return nil, errors.New("ledger has no genesis")
	}
	if h == 0 {
		return nil, nil
	}
	return a.Block(h)
}

// Block returns the committed block at height h.
func (a *Executor) Block(h uint64) (*pb.Block, error) { return LoadBlock(a.store, h) }

// BlockReader reads stored blocks by height (*store.Store).
type BlockReader interface {
	BlockByHeight(h uint64) ([32]byte, []byte, error)
}

// LoadBlock loads and decodes the committed block at height h.
func LoadBlock(r BlockReader, h uint64) (*pb.Block, error) {
	_, raw, err := r.BlockByHeight(h)
	if err != nil {
		return nil, fmt.Errorf("load block %d: %w", h, err)
	}
	b := &pb.Block{}
	if err := proto.Unmarshal(raw, b); err != nil {
		return nil, fmt.Errorf("decode block %d: %w", h, err)
	}
	return b, nil
}

// EventReader reads a committed block's stored events and tx results
// (*store.Store).
type EventReader interface {
	// BlockEvents returns the encoded events of block h that belong to
	// no tx (a StreamEventsResponse), nil if there are none.
	BlockEvents(h uint64) ([]byte, error)
	// Results returns the txs' results of block h, in block order.
	Results(h uint64) ([]store.TxResult, error)
}

// BlockEvents returns every event of committed block h in event order:
// the block's own events (deadlines, governance decisions) and its txs'.
// The API's event stream and the payload manager read events this way.
func BlockEvents(r EventReader, h uint64) ([]*pb.Event, error) {
	var evs []*pb.Event
	raw, err := r.BlockEvents(h)
	if err != nil {
		return nil, fmt.Errorf("events of block %d: %w", h, err)
	}
	if len(raw) > 0 {
		be := &pb.StreamEventsResponse{}
		if err := proto.Unmarshal(raw, be); err != nil {
			return nil, fmt.Errorf("decode events of block %d: %w", h, err)
		}
		evs = append(evs, be.GetEvents()...)
	}
	results, err := r.Results(h)
	if err != nil {
		return nil, fmt.Errorf("results of block %d: %w", h, err)
	}
	for _, res := range results {
		tr := &pb.TxResult{}
		if err := proto.Unmarshal(res.Result, tr); err != nil {
			return nil, fmt.Errorf("decode result in block %d: %w", h, err)
		}
		evs = append(evs, tr.GetEvents()...)
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].GetEventIndex() < evs[j].GetEventIndex() })
	return evs, nil
}

// Commit executes and stores committed blocks in height order
// (driver.Executor; block sync calls it too). Blocks at or below the
// committed height are skipped (block sync and consensus may both hand
// over the same block). It stops after a block that ends the validator
// set's epoch: the blocks after it were certified by the set that just
// left (driver.Membership) and are never executed.
//
// A block committed indirectly (its certificate commits a later block
// directly) is stored with a self-contained certificate: its chain holds
// the headers from the block's child up to the certificate's block, taken
// from the same batch (consensus hands out a commit's blocks together, and
// block sync verified them in one batch). The ledger may never hold those
// blocks: when they are the old set's suffix, heights above the epoch's
// last block are the next set's other blocks (ARCHITECTURE.md §4,
// "Reconfiguration"). Whether a block ends up below an epoch's end is not
// always known when it is stored (a change decided by a later block of the
// batch, with a short delay, can end the epoch inside the commit), so every
// such certificate carries its chain when it is short (certToStore), and
// a long one whenever a known change requires it.
func (a *Executor) Commit(blocks []consensus.CommittedBlock) error {
	return a.commit(blocks, false)
}

// CommitAsync is Commit, except that the last block's ledger write may be
// left in flight on a goroutine of its own (driver.Pipeliner): it is then
// executed, its state root known (proposals attesting it validate), and
// the store still at the block below. Written says when the write has
// returned; FinishWrite, or the next commit, completes it. A block whose
// effects the executor reads back from the ledger at once (validator set,
// parameters, upgrade plan, deadlines) is always written before
// CommitAsync returns.
func (a *Executor) CommitAsync(blocks []consensus.CommittedBlock) error {
	return a.commit(blocks, true)
}

// Written is closed when the write CommitAsync left in flight has
// returned; nil when none is in flight.
func (a *Executor) Written() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inflight == nil {
		return nil
	}
	return a.inflight.done
}

// FinishWrite waits for the write in flight, if any, completes it, and
// returns the height the ledger has durably stored. An error means the
// ledger could not store a committed block: the node must stop.
//
// took is the wall time of the last block's commit, from its execution to
// the end of its write (0 if no write was in flight): the pacing leader's
// measure of a commit's cost.
func (a *Executor) FinishWrite() (durable uint64, took time.Duration, err error) {
	a.commitMu.Lock()
	defer a.commitMu.Unlock()
	a.mu.Lock()
	w := a.inflight
	a.mu.Unlock()
	if err := a.waitInflight(); err != nil {
		return 0, 0, err
	}
	if w != nil {
		took = w.written.Sub(w.start)
	}
	h, _ := a.store.Height()
	return h, took, nil
}

func (a *Executor) commit(blocks []consensus.CommittedBlock, async bool) error {
	a.commitMu.Lock()
	defer a.commitMu.Unlock()
	if err := a.waitInflight(); err != nil {
		return err
	}
	start := a.currentEpoch()
	for i, cb := range blocks {
		if a.currentEpoch() != start {
			return nil
		}
		head, _ := a.store.Height()
		if cb.Height <= head {
			continue
		}
		if cb.Height != head+1 {
			return fmt.Errorf("commit block %d: ledger is at %d", cb.Height, head)
		}
		if err := a.upgradeHalt(cb.Height); err != nil {
			// Nothing of this block is written; the blocks before it are.
			return err
		}
		cert, err := a.certToStore(cb, blocks[i+1:])
		if err != nil {
			return err
		}
		cb.Cert = cert
		if err := a.commitOne(cb, async && i == len(blocks)-1); err != nil {
			// The store wrote nothing for this block; consensus must stop
			// rather than go on without it.
			return err
		}
	}
	return nil
}

// certChainAlways is how many linking headers a certificate of a block
// committed indirectly always carries in the ledger (certToStore). Longer
// chains, which only a long run of view changes makes, are attached only
// when a known change of validator set ends the epoch below the
// certificate's block, so the ledger does not grow by the square of such
// a run.
const certChainAlways = 16

// certToStore is cb's certificate as the ledger keeps it (Commit): when
// it commits a later block directly and carries no chain, a copy with the
// headers of later (the rest of the batch) from cb's child up to that
// block. Beyond certChainAlways headers the certificate is kept as it is,
// relying on the ledger's later blocks, unless a known change of validator
// set ends the epoch below its block: then those blocks will never be in
// the ledger, the chain is attached whatever its length (within
// consensus.MaxCertChain, which a commit never exceeds), and a batch
// without the headers is refused rather than a certificate nobody can
// verify stored.
func (a *Executor) certToStore(cb consensus.CommittedBlock, later []consensus.CommittedBlock) (*pb.CommitCert, error) {
	cert := cb.Cert
	if cert.GetHeight() <= cb.Height || len(cert.GetChain()) > 0 {
		return cert, nil
	}
	n := cert.GetHeight() - cb.Height
	a.mu.Lock()
	next := a.nextSwitch
	a.mu.Unlock()
	needed := next != 0 && next <= cert.GetHeight()
	if n > certChainAlways && !needed {
		a.log.Warn("commit certificate relies on the ledger's later blocks", "height", cb.Height, "cert_height", cert.GetHeight())
		return cert, nil
	}
	var chain [][]byte
	prev := cb.Hash
	for _, x := range later {
		if uint64(len(chain)) == n || n > consensus.MaxCertChain {
			break
		}
		raw := x.Block.GetHeader()
		hdr := x.Header
		if hdr == nil {
			hdr = &pb.Header{}
			if err := proto.Unmarshal(raw, hdr); err != nil {
				break
			}
		}
		if x.Height != cb.Height+1+uint64(len(chain)) || !bytes.Equal(hdr.GetParentHash(), prev) {
			break
		}
		chain = append(chain, raw)
		prev = a.suite.Hash(raw)
	}
	if uint64(len(chain)) == n && bytes.Equal(prev, cert.GetBlockHash()) {
		own := proto.Clone(cert).(*pb.CommitCert)
		own.Chain = chain
		return own, nil
	}
	if needed {
		return nil, fmt.Errorf("commit block %d: its certificate commits block %d directly, above block %d that ends the validator set's epoch, "+
			"and the %d headers between are not in the batch: its certificate could not be verified",
			cb.Height, cert.GetHeight(), next-1, n)
	}
	return cert, nil
}

// commitOne executes block cb and writes it to the store. With async,
// unless the block changed what the executor reads back from the ledger
// at once (the validator set, the parameters, an upgrade plan, the
// deadline index, or a set change coming into force), the write is left
// in flight on a goroutine of its own (inflight, finishWrite).
func (a *Executor) commitOne(cb consensus.CommittedBlock, async bool) error {
	hdr := cb.Header
	if hdr == nil {
		hdr = &pb.Header{}
		if err := proto.Unmarshal(cb.Block.GetHeader(), hdr); err != nil {
			return fmt.Errorf("commit block %d: decode header: %w", cb.Height, err)
		}
	}
	// Every path that brings a block in checks its txs against its
	// header; executing other txs than the quorum certified would put
	// this node's state apart from everyone's, so refuse to go on.
	if err := a.checkBlockTxs(cb.Block, hdr); err != nil {
		return fmt.Errorf("commit block %d: %w", cb.Height, err)
	}
	start := time.Now()
	ar := applyReader{reader{a.store}, a.sparse}
	res, err := a.exec.ApplyBlock(ar, hdr, cb.Block.GetTxs())
	if err != nil {
		return fmt.Errorf("execute block %d: %w", cb.Height, err)
	}
	a.sparse.changed(res.Changes)
	applied := time.Now()
	blockBytes, err := proto.Marshal(cb.Block)
	if err != nil {
		return fmt.Errorf("encode block %d: %w", cb.Height, err)
	}
	certBytes, err := proto.Marshal(cb.Cert)
	if err != nil {
		return fmt.Errorf("encode cert %d: %w", cb.Height, err)
	}
	cd := &store.CommitData{Height: cb.Height, Block: blockBytes, Cert: certBytes}
	copy(cd.BlockHash[:], cb.Hash)
	resultBytes := make([][]byte, len(res.Results))
	txHashes := make([][]byte, len(res.Results))
	failed := 0
	for i, r := range res.Results {
		rb, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode result %d/%d: %w", cb.Height, i, err)
		}
		var tr store.TxResult
		copy(tr.Hash[:], r.GetTxHash())
		tr.Result = rb
		cd.Txs = append(cd.Txs, tr)
		resultBytes[i] = rb
		txHashes[i] = r.GetTxHash()
		if r.GetCode() != pb.ResultCode_RESULT_CODE_OK {
			failed++
		}
	}
	cd.Changes = res.Changes
	if cd.BlockEvents, err = encodeBlockEvents(res.Events); err != nil {
		return fmt.Errorf("encode events %d: %w", cb.Height, err)
	}
	a.mu.Lock()
	switchNow := a.nextSwitch != 0 && cb.Height+1 >= a.nextSwitch
	a.mu.Unlock()
	writeNow := readsBack(res, switchNow)
	var params *pb.Params
	if async && !writeNow {
		// The parameters at this height are those below it (the block
		// changed none): known before the write, for the proposals that
		// attest this height while it is in flight (ParamsAt).
		if params, err = a.ParamsAt(cb.Height - 1); err != nil {
			async = false
		}
	}
	prep, err := a.store.Prepare(cd)
	if err != nil {
		return fmt.Errorf("store block %d: %w", cb.Height, err)
	}
	w := &ledgerWrite{prep: prep, cb: cb, hdr: hdr, res: res, txHashes: txHashes, failed: failed, start: start, applied: applied}
	a.mu.Lock()
	a.resultHashes[cb.Height] = a.suite.MerkleRoot(resultBytes)
	a.times[cb.Height] = hdr.GetTimeUnixMs()
	delete(a.resultHashes, cb.Height-64)
	delete(a.times, cb.Height-64)
	a.mu.Unlock()
	if !async || writeNow {
		w.err = prep.Write()
		w.written = time.Now()
		return a.finishWrite(w)
	}
	a.mu.Lock()
	w.done = make(chan struct{})
	a.inflight = w
	a.cacheParamsLocked(cb.Height, params)
	a.mu.Unlock()
	go func() {
		w.err = prep.Write()
		w.written = time.Now()
		close(w.done)
	}()
	return nil
}

// readsBack reports whether the executor reads block res's effects back
// from the ledger as soon as it is committed (finishWrite): a validator
// set decided or coming into force (switchNow), new parameters, the
// upgrade plan, the deadline index. Such a block is written before
// CommitAsync returns.
func readsBack(res *exec.BlockResult, switchNow bool) bool {
	return res.ValidatorUpdate != nil || res.Params != nil || switchNow ||
		touches(res.Changes, string(exec.UpgradePlanKey())) || touches(res.Changes, exec.DeadlinePrefix()) ||
		touches(res.Changes, string(exec.ParamsKey()))
}

// ledgerWrite is a block executed and prepared in the store (commitOne),
// whose write is in flight when done is not nil.
type ledgerWrite struct {
	prep     *store.Prepared
	cb       consensus.CommittedBlock
	hdr      *pb.Header
	res      *exec.BlockResult
	txHashes [][]byte
	failed   int
	start    time.Time // execution began
	applied  time.Time // execution ended
	done     chan struct{}
	// Set by the write before done is closed.
	err     error
	written time.Time
}

// finishWrite completes block w once its write has returned: the
// executor's view of committed state, metrics and listeners. An error of
// the write is returned, and the node must stop.
func (a *Executor) finishWrite(w *ledgerWrite) error {
	cb, hdr, res := w.cb, w.hdr, w.res
	if w.err != nil {
		return fmt.Errorf("store block %d: %w", cb.Height, w.err)
	}
	ar := applyReader{reader{a.store}, a.sparse}
	// The block fired the deadlines due before its time, if any were: the
	// next one is read again from the committed state when the block
	// changed the deadline index (it depends on nothing else).
	a.mu.Lock()
	next, due := a.deadlines.next, a.deadlines.due
	a.mu.Unlock()
	if touches(res.Changes, string(exec.UpgradePlanKey())) {
		if err := a.loadUpgradePlan(); err != nil {
			return err
		}
	}
	var err error
	if touches(res.Changes, exec.DeadlinePrefix()) {
		if next, due, err = exec.NextDeadline(ar); err != nil {
			return fmt.Errorf("read the next deadline after block %d: %w", cb.Height, err)
		}
	}

	a.mu.Lock()
	d := &a.deadlines
	if d.due && exec.DeadlinePassed(d.next, hdr.GetTimeUnixMs()) {
		d.firedAt = cb.Height
	}
	d.next, d.due, d.attested = next, due, max(d.attested, hdr.GetStateHeight())
	// A block that changed no parameter leaves those of its parent.
	if p, ok := a.paramsAt[cb.Height-1]; ok && res.Params == nil && !touches(res.Changes, string(exec.ParamsKey())) {
		if _, set := a.paramsAt[cb.Height]; !set {
			a.cacheParamsLocked(cb.Height, p)
		}
	}
	listeners := a.onCommit
	switchNow := a.nextSwitch != 0 && cb.Height+1 >= a.nextSwitch
	a.mu.Unlock()
	if res.ValidatorUpdate != nil || res.Params != nil || switchNow {
		if err := a.reloadChainState(); err != nil {
			return err
		}
	}

	a.metrics.ApplyDuration.Observe(w.applied.Sub(w.start).Seconds())
	a.metrics.CommitDuration.Observe(w.written.Sub(w.applied).Seconds())
	a.metrics.Height.Set(float64(cb.Height))
	a.metrics.CommittedTxs.Add(float64(len(res.Results)))
	a.metrics.FailedTxs.Add(float64(w.failed))
	if !a.lastCommit.IsZero() {
		a.metrics.BlockInterval.Observe(w.written.Sub(a.lastCommit).Seconds())
	}
	a.lastCommit = w.written
	info := &CommittedInfo{Height: cb.Height, Hash: cb.Hash, TxHashes: w.txHashes, Results: res.Results, Events: res.Events}
	for _, f := range listeners {
		f(info)
	}
	a.log.Debug("committed", "height", cb.Height, "txs", len(res.Results), "failed", w.failed,
		"apply_ms", w.applied.Sub(w.start).Milliseconds(), "write_ms", w.written.Sub(w.applied).Milliseconds())
	return nil
}

// waitInflight waits for the write in flight, if any, and completes it
// (finishWrite); the caller holds commitMu. The write's error, if it
// failed, is returned again on every later call: the ledger cannot go on.
func (a *Executor) waitInflight() error {
	a.mu.Lock()
	w := a.inflight
	a.mu.Unlock()
	if w == nil {
		return a.writeErr
	}
	<-w.done
	a.mu.Lock()
	a.inflight = nil
	a.mu.Unlock()
	if err := a.finishWrite(w); err != nil {
		a.writeErr = err
	}
	return a.writeErr
}

// encodeBlockEvents serializes the block's own events (those of no tx:
// deadlines, governance decisions) for the store; the txs' events are kept
// in their results.
func encodeBlockEvents(evs []*pb.Event) ([]byte, error) {
	var own []*pb.Event
	for _, e := range evs {
		if len(e.GetTxHash()) == 0 {
			own = append(own, e)
		}
	}
	if len(own) == 0 {
		return nil, nil
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(&pb.StreamEventsResponse{Events: own})
}

// resultsHash returns the Merkle root of the results of block h (the empty
// root at genesis).
func (a *Executor) resultsHash(h uint64) ([]byte, error) {
	a.mu.Lock()
	if rh, ok := a.resultHashes[h]; ok {
		a.mu.Unlock()
		return rh, nil
	}
	a.mu.Unlock()
	if h == 0 {
		return a.suite.MerkleRoot(nil), nil
	}
	rs, err := a.store.Results(h)
	if err != nil {
		return nil, fmt.Errorf("results of block %d: %w", h, err)
	}
	leaves := make([][]byte, len(rs))
	for i, r := range rs {
		leaves[i] = r.Result
	}
	return a.suite.MerkleRoot(leaves), nil
}

// blockTime returns the block time of committed height h (genesis: 0).
func (a *Executor) blockTime(h uint64) (int64, error) {
	if h == 0 {
		return 0, nil
	}
	a.mu.Lock()
	t, ok := a.times[h]
	a.mu.Unlock()
	if ok {
		return t, nil
	}
	b, err := a.Block(h)
	if err != nil {
		return 0, err
	}
	hdr := &pb.Header{}
	if err := proto.Unmarshal(b.GetHeader(), hdr); err != nil {
		return 0, fmt.Errorf("decode header %d: %w", h, err)
	}
	return hdr.GetTimeUnixMs(), nil
}

// attested returns the state root and results hash of height h.
// A block whose write is in flight (CommitAsync) is executed: its root
// is known.
func (a *Executor) attested(h uint64) (root, results []byte, err error) {
	var r state.Hash
	a.mu.Lock()
	w := a.inflight
	a.mu.Unlock()
	if w != nil && w.prep.Height() == h {
		r = w.prep.Root()
	} else {
		head, _ := a.store.Height()
		if h > head {
			return nil, nil, fmt.Errorf("state of height %d not executed yet (ledger at %d)", h, head)
		}
		if r, err = a.store.StateRoot(h); err != nil {
			return nil, nil, fmt.Errorf("state root %d: %w", h, err)
		}
	}
	rh, err := a.resultsHash(h)
	if err != nil {
		return nil, nil, err
	}
	return r[:], rh, nil
}

// BuildPayload fills the application fields of this node's proposal.
func (a *Executor) BuildPayload(slot consensus.ProposeSlot, txs [][]byte) (*pb.Header, error) {
	root, results, err := a.attested(slot.StateHeight)
	if err != nil {
		return nil, err
	}
	floor, err := a.blockTime(slot.StateHeight)
	if err != nil {
		return nil, err
	}
	for _, b := range slot.Uncommitted {
		h := &pb.Header{}
		if err := proto.Unmarshal(b.GetHeader(), h); err == nil && h.GetTimeUnixMs() > floor {
			floor = h.GetTimeUnixMs()
		}
	}
	now := a.clock.Now().UnixMilli()
	if now < floor {
		now = floor
	}
	_, vsHash := a.Validators()
	hashes := a.exec.TxHashes(txs)
	return &pb.Header{
		TimeUnixMs:       now,
		TxRoot:           a.suite.MerkleRoot(hashes),
		TxCount:          uint32(len(txs)),
		StateHeight:      slot.StateHeight,
		StateRoot:        root,
		ResultsHash:      results,
		ValidatorSetHash: vsHash,
	}, nil
}

// ValidateBlock checks a proposal's application fields before this node
// votes for it. Every check is deterministic across correct nodes except
// the bound on future block times, which uses this node's clock.
func (a *Executor) ValidateBlock(req consensus.ValidationRequest) error {
	hdr := req.Header
	if hdr.GetChainId() != a.chainID {
		return fmt.Errorf("chain id %q, want %q", hdr.GetChainId(), a.chainID)
	}
	if hdr.GetStateHeight() != req.StateHeight {
		return fmt.Errorf("state_height %d, want %d (last block committed by the ancestry)", hdr.GetStateHeight(), req.StateHeight)
	}
	root, results, err := a.attested(req.StateHeight)
	if err != nil {
		return err
	}
	if !bytes.Equal(hdr.GetStateRoot(), root) {
		return fmt.Errorf("state_root %x differs from ours %x at height %d", hdr.GetStateRoot(), root, req.StateHeight)
	}
	if !bytes.Equal(hdr.GetResultsHash(), results) {
		return fmt.Errorf("results_hash %x differs from ours %x at height %d", hdr.GetResultsHash(), results, req.StateHeight)
	}
	_, vsHash := a.Validators()
	if !bytes.Equal(hdr.GetValidatorSetHash(), vsHash) {
		return fmt.Errorf("validator_set_hash %x differs from ours %x", hdr.GetValidatorSetHash(), vsHash)
	}
	txs := req.Block.GetTxs()
	if int(hdr.GetTxCount()) != len(txs) {
		return fmt.Errorf("tx_count %d but %d txs", hdr.GetTxCount(), len(txs))
	}
	// The limits are those in force at the block's own height: the
	// parameters in committed state at its state_height, the same on every
	// validator (ARCHITECTURE.md §5). This node's latest parameters may be
	// newer or, on a node behind, older.
	params, err := a.ParamsAt(req.StateHeight)
	if err != nil {
		return err
	}
	if err := exec.CheckBlockLimits(params, txs); err != nil {
		return err
	}
	for i, tx := range txs {
		if uint64(len(tx)) > params.GetMaxTxBytes() {
			return fmt.Errorf("tx %d is %d bytes, limit %d", i, len(tx), params.GetMaxTxBytes())
		}
	}
	hashes := a.exec.TxHashes(txs)
	seen := make(map[string]struct{}, len(txs))
	for i := range txs {
		// The ledger indexes txs by hash and refuses a block holding one
		// twice: a leader that sends such a block must not get votes.
		if _, dup := seen[string(hashes[i])]; dup {
			return fmt.Errorf("tx %d (%x) appears twice in the block", i, hashes[i])
		}
		seen[string(hashes[i])] = struct{}{}
	}
	if !bytes.Equal(hdr.GetTxRoot(), a.suite.MerkleRoot(hashes)) {
		return errors.New("tx_root does not match the txs")
	}
	floor, err := a.blockTime(req.StateHeight)
	if err != nil {
		return err
	}
	if hdr.GetTimeUnixMs() < floor {
		return fmt.Errorf("block time %d before committed block time %d", hdr.GetTimeUnixMs(), floor)
	}
	if p := req.ParentHeader; p != nil && hdr.GetTimeUnixMs() < p.GetTimeUnixMs() {
		return fmt.Errorf("block time %d before its parent's %d", hdr.GetTimeUnixMs(), p.GetTimeUnixMs())
	}
	if limit := a.clock.Now().Add(maxClockDrift).UnixMilli(); hdr.GetTimeUnixMs() > limit {
		return fmt.Errorf("block time %d is more than %s ahead of this node's clock", hdr.GetTimeUnixMs(), maxClockDrift)
	}
	// The proposal is valid. Verify, as one batch over all cores, the
	// signatures of its txs that this node's mempool has not verified, and
	// remember them, so that committing the block verifies none of them
	// again (exec.PreverifyTxs). A bad signature does not make the block
	// invalid: ApplyBlock records that tx as failed on every node alike.
	// Nor does a failure to read state here: the signatures are then
	// verified when the block is applied.
	if _, err := a.exec.PreverifyTxs(reader{a.store}, txs); err != nil {
		a.log.Warn("verify proposal signatures ahead", "height", hdr.GetHeight(), "err", err)
	}
	return nil
}

// CheckTx is the mempool's check: the state machine's CheckTx against
// committed state. A tx the state machine refuses is a *TxRefusal; any
// other error is a failure to read state.
func (a *Executor) CheckTx(tx *exec.Tx) (*exec.CheckResult, error) {
	res, err := a.exec.Check(checkReader{reader{a.store}, a.Params()}, tx)
	if err != nil {
		return nil, err
	}
	if !res.OK() {
		return nil, &TxRefusal{code: res.Code, reason: res.Reason}
	}
	return res, nil
}

// checkReader is admission's reader: committed state and the parameters
// in force, decoded when the executor last read them (at start and after
// a block that changed them), so admission does not decode them per tx.
type checkReader struct {
	reader
	params *pb.Params
}

func (r checkReader) Params() *pb.Params { return r.params }

// NextNonce is signer's next nonce in committed state (the mempool's
// nonce tracking).
func (a *Executor) NextNonce(signer string) (uint64, error) {
	last, err := exec.Nonce(reader{a.store}, signer)
	return last + 1, err
}

// TxRefusal is the state machine's reason for refusing a tx.
type TxRefusal struct {
	code   pb.ResultCode
	reason string
}

func (e *TxRefusal) Error() string {
	return fmt.Sprintf("%s: %s", e.code, e.reason)
}

// ResultCode is the state machine's code for the refusal.
func (e *TxRefusal) ResultCode() pb.ResultCode { return e.code }

// CheckBlockTxs checks that a block's txs are the ones its header commits
// to. A header's signature or certificate covers the header only; the
// txs beside it are checked wherever a block comes from a peer (block
// sync, fetches; gossiped proposals are checked by p2p) and once more
// before a block is executed.
// suite is the chain's crypto suite.
func CheckBlockTxs(suite crypto.Suite, b *pb.Block, hdr *pb.Header) error {
	hashes := make([][]byte, len(b.GetTxs()))
	for i, raw := range b.GetTxs() {
		hashes[i] = exec.TxHash(suite, raw)
	}
	return checkTxRoot(suite, hashes, hdr)
}

// checkBlockTxs is CheckBlockTxs with the hashes of the txs the state
// machine's Known table holds taken from it.
func (a *Executor) checkBlockTxs(b *pb.Block, hdr *pb.Header) error {
	return checkTxRoot(a.suite, a.exec.TxHashes(b.GetTxs()), hdr)
}

// checkTxRoot checks the tx hashes against the header's tx_count and
// tx_root.
func checkTxRoot(suite crypto.Suite, hashes [][]byte, hdr *pb.Header) error {
	if int(hdr.GetTxCount()) != len(hashes) || !bytes.Equal(hdr.GetTxRoot(), suite.MerkleRoot(hashes)) {
		return errors.New("txs do not match the header's tx_count and tx_root")
	}
	return nil
}
