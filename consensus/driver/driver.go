// Package driver runs a consensus.Core: one goroutine per replica that
// feeds it from a Transport and a ticker and carries out its Ready
// (persist, send, apply), plus a file-backed SafetyStore. It is the thin
// shell around the pure core; node wires the real p2p and ledger into its
// interfaces, tests and the simulator wire fakes.
package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Transport carries consensus messages between validators. The p2p layer
// implements it in node; tests use channels.
//
// Contract: Send and Broadcast do not block for long and never call back
// into the driver; they may drop messages (the protocol retransmits what it
// needs through timeouts). The driver owns nothing it passes in after the
// call returns, and the transport must not modify messages. Messages
// delivered on Inbox are untrusted; their Sender is the peer's claimed
// validator index.
type Transport interface {
	// Send sends m to validator to.
	Send(to int, m *pb.ConsensusMessage) error
	// Broadcast sends m to every other validator.
	Broadcast(m *pb.ConsensusMessage) error
	// Fetch asks validator from for the block with hash; the block comes
	// back on Inbox as a Proposal message (best effort, may never come).
	Fetch(from int, hash []byte) error
	// Inbox delivers messages from peers.
	Inbox() <-chan *pb.ConsensusMessage
	// BlockRequests delivers peers' fetches for blocks this replica holds;
	// the driver answers each on its Reply channel (buffered, capacity 1)
	// with the block or nil.
	BlockRequests() <-chan BlockRequest
}

// BlockRequest is a peer's fetch of one block, answered by the driver.
type BlockRequest struct {
	Hash  []byte
	Reply chan<- *pb.Block
}

// SafetyStore persists the SafetyState (ARCHITECTURE.md §4 "Persist before you
// speak").
//
// Contract: Save returns only after the state is durable (synced); a
// failed Save stops the driver, because a replica that cannot persist must
// not vote. Load returns the zero SafetyState when nothing was saved yet,
// and an error when the stored state is unreadable (never a guess).
type SafetyStore interface {
	Load() (consensus.SafetyState, error)
	Save(consensus.SafetyState) error
}

// Executor is the application side of consensus: the block executor
// (ledger/blockexec), a fake in tests. Calls come from the driver
// goroutine, one at a time.
type Executor interface {
	// Head returns the last committed block, nil at genesis. Called once at
	// start.
	Head() (*pb.Block, error)
	// Commit executes and stores committed blocks, given in height order,
	// each directly above the one before (and the first above Head). It must
	// be durable before returning; an error stops the driver.
	Commit(blocks []consensus.CommittedBlock) error
	// ValidateBlock checks a proposal's payload and application header
	// fields before this replica votes for it (ABCI ProcessProposal). All
	// blocks up to req.StateHeight have been committed through Commit. A nil
	// error accepts; any error refuses (the replica will not vote for it).
	// It must be deterministic across correct replicas.
	ValidateBlock(req consensus.ValidationRequest) error
	// BuildPayload returns the header application fields for a block of
	// txs at slot (state_height = slot.StateHeight and the state root after
	// it, tx_root, time, ...). Every block up to slot.StateHeight has been
	// committed through Commit.
	BuildPayload(slot consensus.ProposeSlot, txs [][]byte) (*pb.Header, error)
}

// Membership is implemented by an Executor whose committed state can change
// the validator set (ARCHITECTURE.md §4, "Reconfiguration"). Its Commit
// stops after a block that ends the validator set's epoch (the set in
// force above it differs from the one that certified it): the blocks after
// it in the batch are the old set's suffix, certified above its last
// height, and are never executed. After each Commit the driver asks for
// the epoch in force above the committed head; when it is not the one
// running, a new core runs the next set from the block that ended the
// epoch before.
type Membership interface {
	// Epoch returns the validator set that certifies the blocks above the
	// committed head, and where it started.
	Epoch() (consensus.Epoch, error)
	// ChangePending reports a decided set change not yet in force: the
	// chain must reach its height even with no transactions, so the
	// leader proposes (empty blocks if need be) until it is in force.
	ChangePending() bool
}

// Pipeliner is implemented by an Executor that can leave the ledger write
// of the last block it commits in flight while the replica goes on
// (ARCHITECTURE.md §4 "Pipelined ledger writes"): the write is most of a
// commit's time, and the votes and proposals that follow need only the
// block's execution (its state root). The driver tells the core a block
// is stored (Core.Applied) only once its write has returned, so until
// then the synced safety state carries it and a crash loses nothing; the
// mempool learns of it then too (its nonces are read from the ledger),
// and meanwhile the leader leaves its txs out of proposals as those of an
// uncommitted ancestor.
type Pipeliner interface {
	// CommitAsync is Commit, except that the last block's write may still
	// be in flight when it returns (Written is then not nil). The blocks
	// before it are stored.
	CommitAsync(blocks []consensus.CommittedBlock) error
	// Written is closed when the write in flight has returned; nil when
	// none is in flight.
	Written() <-chan struct{}
	// FinishWrite waits for the write in flight, if any, completes it,
	// and returns the height the ledger has stored and the wall time of
	// that block's commit (execution and write; 0 if none was in flight).
	// An error stops the driver.
	FinishWrite() (durable uint64, took time.Duration, err error)
}

// Timing is implemented by an Executor whose committed state sets the
// consensus timeouts (the chain's parameters): after each commit the
// driver applies them to the running core (Core.SetTimeouts), and to each
// core it starts.
type Timing interface {
	// Timeouts returns the view timeout after progress, its ceiling and
	// the heartbeat interval, in ticks, from committed state.
	Timeouts() (base, max, heartbeat int)
}

// Deadlines is implemented by an Executor whose committed state holds
// work due at a time: contract deadlines, which the state machine fires in
// the first block whose header time is past them (ARCHITECTURE.md §4
// "Deadlines drive blocks"). An idle chain makes no blocks, so the driver
// reports work pending to the core, as for txs, while DeadlineDue holds:
// the leader proposes (empty blocks if need be) within a tick of the due
// time, and keeps proposing until the block that fires it is committed
// and attested. The wall clock stays here, out of the deterministic core.
type Deadlines interface {
	// DeadlineDue reports whether the chain must make blocks for a
	// deadline at wall-clock time now.
	DeadlineDue(now time.Time) bool
}

// Mempool supplies transactions to the leader.
type Mempool interface {
	// Reap returns up to max txs (the core's ceiling) to propose in the
	// block of slot, leaving out the txs of slot.Uncommitted (proposed but
	// not committed yet). The block must fit the chain parameters in force
	// at slot.StateHeight, the ones every validator checks it against
	// (ARCHITECTURE.md §5). The returned slices are not modified
	// afterwards.
	Reap(max int, slot consensus.ProposeSlot) [][]byte
	// Update removes txs committed in blocks.
	Update(blocks []consensus.CommittedBlock)
	// Pending reports whether txs wait to be committed.
	Pending() bool
}

// EvidencePool keeps proof of equivocation to put on chain (optional).
type EvidencePool interface {
	AddEvidence(ev *pb.EquivocationEvidence)
}

// Deps are the driver's collaborators and its tick; Evidence and Logger
// may be nil.
type Deps struct {
	// TickInterval is the wall-clock length of one core tick (the core's
	// timeouts are counted in ticks); Run needs it positive.
	TickInterval time.Duration
	Transport    Transport
	Store        SafetyStore
	Executor     Executor
	Mempool      Mempool
	Evidence     EvidencePool
	Logger       *slog.Logger
	// Keys are other keys this replica holds besides the signer New was
	// given: a validator key rotated by governance, put in place before
	// the set that names it takes over. At each epoch the replica signs
	// with whichever of its keys the set names (none: it observes).
	Keys []consensus.Signer
	// Wake, if set, tells Run that the mempool gained transactions: Run
	// then carries out the core's Ready at once (Poke), so an idle leader
	// proposes without waiting for its next tick.
	Wake <-chan struct{}
	// Now is the wall clock a Deadlines executor is asked with (nil:
	// time.Now); the node gives the clock that stamps its block times.
	Now func() time.Time
	// MaxPace, if positive, paces this replica's proposals when it leads
	// (Run only; see pace.go): a proposal waits until PaceFactor times the
	// recent cost of a commit on this node, at most MaxPace, has passed
	// since its previous proposal, unless the mempool holds a full block.
	MaxPace time.Duration
}

// Driver runs one replica: a single goroutine (Run) owns the consensus.Core, feeds it
// from the transport and a ticker, and carries out its Ready.
type Driver struct {
	maxTxs int
	cfg    consensus.Config
	first  consensus.Signer // the signer New was given
	signer consensus.Signer // the key the running core signs with
	core   *consensus.Core
	deps   Deps
	base   *slog.Logger // Deps.Logger
	log    *slog.Logger // base with this replica's index
	// members is deps.Executor as a Membership, nil if it is not one.
	members Membership
	// deadlines is deps.Executor as a Deadlines, nil if it is not one.
	deadlines Deadlines
	// pipe is deps.Executor as a Pipeliner, nil if it is not one;
	// inflight are the committed blocks whose ledger write it has in
	// flight (not yet Applied, not yet in the mempool's Update).
	pipe     Pipeliner
	inflight []consensus.CommittedBlock
	pace     pacer
}

// New loads the safety state and the committed head and builds the
// core.
func New(cfg consensus.Config, signer consensus.Signer, deps Deps) (*Driver, error) {
	if deps.Transport == nil || deps.Store == nil || deps.Executor == nil || deps.Mempool == nil {
		return nil, errors.New("consensus: driver needs a transport, safety store, executor and mempool")
	}
	st, err := deps.Store.Load()
	if err != nil {
		return nil, fmt.Errorf("consensus: load safety state: %w", err)
	}
	head, err := deps.Executor.Head()
	if err != nil {
		return nil, fmt.Errorf("consensus: load committed head: %w", err)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Driver{maxTxs: cfg.MaxBlockTxs, cfg: cfg, first: signer, signer: signer, deps: deps, base: log}
	d.members, _ = deps.Executor.(Membership)
	d.deadlines, _ = deps.Executor.(Deadlines)
	d.pipe, _ = deps.Executor.(Pipeliner)
	if d.deps.Now == nil {
		d.deps.Now = time.Now
	}
	if d.members != nil {
		// The set in force above the ledger's head, which may have changed
		// since genesis: the core runs that epoch.
		e, err := d.members.Epoch()
		if err != nil {
			return nil, fmt.Errorf("consensus: read the validator set in force: %w", err)
		}
		var self int
		d.signer, self = d.keyIn(e.Validators)
		d.cfg = cfg.WithEpoch(e, self)
	}
	if d.core, err = consensus.NewCore(d.cfg, d.signer, consensus.RestartState{Safety: st, Head: head}); err != nil {
		return nil, err
	}
	d.log = log.With("self", d.cfg.Self)
	d.applyTiming()
	return d, nil
}

// applyTiming gives the core the timeouts of committed state, if the
// executor sets them; values the core refuses are logged and ignored.
func (d *Driver) applyTiming() {
	t, ok := d.deps.Executor.(Timing)
	if !ok {
		return
	}
	base, max, hb := t.Timeouts()
	if base == d.cfg.BaseTimeoutTicks && max == d.cfg.MaxTimeoutTicks && hb == d.cfg.HeartbeatTicks {
		return
	}
	if err := d.core.SetTimeouts(base, max, hb); err != nil {
		d.log.Warn("timeouts from the chain's parameters refused", "err", err)
		return
	}
	d.cfg.BaseTimeoutTicks, d.cfg.MaxTimeoutTicks, d.cfg.HeartbeatTicks = base, max, hb
	d.log.Info("consensus timeouts changed", "base_ticks", base, "max_ticks", max, "heartbeat_ticks", hb)
}

// keyIn returns the key of this replica's that validators names, and its
// index there; or the signer New was given and -1 (the replica observes).
func (d *Driver) keyIn(validators []*pb.PublicKey) (consensus.Signer, int) {
	for _, k := range append([]consensus.Signer{d.first}, d.deps.Keys...) {
		if k == nil {
			continue
		}
		for i, v := range validators {
			if crypto.PublicKeyEqual(v, k.Public()) {
				return k, i
			}
		}
	}
	return d.first, -1
}

// Epoch is the validator set the running core certifies with.
func (d *Driver) Epoch() consensus.Epoch { return d.cfg.EpochOf() }

// enter starts a core for epoch e above root, the block that ended the
// epoch before: its safety state starts afresh in the root's view, and is
// persisted before the new core can say anything.
func (d *Driver) enter(e consensus.Epoch, root *pb.Block) error {
	// The new core's safety state starts without the old one's blocks:
	// every committed block must be stored first.
	if err := d.finishWrite(); err != nil {
		return err
	}
	signer, self := d.keyIn(e.Validators)
	cfg := d.cfg.WithEpoch(e, self)
	st := consensus.SafetyState{View: e.Root.GetView()}
	if err := d.deps.Store.Save(st); err != nil {
		return fmt.Errorf("consensus: persist safety state of epoch %d: %w", e.Start, err)
	}
	core, err := consensus.NewCore(cfg, signer, consensus.RestartState{Safety: st, Head: root})
	if err != nil {
		return fmt.Errorf("consensus: start epoch %d: %w", e.Start, err)
	}
	d.base.Info("validator set changed", "epoch", e.Start, "validators", len(e.Validators), "fault_model", string(e.FaultModel),
		"self", cfg.Self, "root_height", e.Root.GetHeight())
	d.cfg, d.core, d.signer = cfg, core, signer
	d.log = d.base.With("self", cfg.Self)
	return nil
}

// commit executes committed blocks. With a Membership, the executor stops
// after a block that ends the epoch; commit returns the blocks it executed
// and then the next epoch.
//
// With a Pipeliner, the previous block's write in flight is finished
// first, and the last block's own may be left in flight (d.inflight).
func (d *Driver) commit(blocks []consensus.CommittedBlock) ([]consensus.CommittedBlock, *consensus.Epoch, error) {
	if err := d.finishWrite(); err != nil {
		return nil, nil, err
	}
	start := d.deps.Now()
	if d.pipe != nil {
		if err := d.pipe.CommitAsync(blocks); err != nil {
			return nil, nil, err
		}
	} else if err := d.deps.Executor.Commit(blocks); err != nil {
		return nil, nil, err
	}
	if d.pipe != nil && d.pipe.Written() != nil {
		// The last block's cost is known when its write returns.
		d.pace.committed(d.deps.Now().Sub(start), len(blocks)-1)
	} else {
		d.pace.committed(d.deps.Now().Sub(start), len(blocks))
	}
	if d.members == nil {
		return blocks, nil, nil
	}
	e, err := d.members.Epoch()
	if err != nil {
		// Which blocks the executor took is unknown: report none (the
		// driver stops on this error).
		return nil, nil, fmt.Errorf("read the validator set in force: %w", err)
	}
	if e.Start == d.cfg.Epoch {
		return blocks, nil, nil
	}
	for i, b := range blocks {
		if b.Height == e.Root.GetHeight() {
			if string(e.Root.GetBlockHash()) != string(b.Hash) {
				break
			}
			return blocks[:i+1], &e, nil
		}
	}
	return nil, nil, fmt.Errorf("epoch %d starts above block %d %x, which is not one of the blocks just committed", e.Start,
		e.Root.GetHeight(), e.Root.GetBlockHash())
}

// Run is the replica's loop (etcd raft's application loop): it returns
// ctx.Err() when ctx ends, or the error that made it stop (a failed
// persist, a failed commit, a safety fault).
func (d *Driver) Run(ctx context.Context) error { return d.RunWithStatus(ctx, nil) }

// RunWithStatus is Run, calling onStatus (from the loop's goroutine, so it
// must not block) with the core's Status whenever it changed after an
// input: the way to publish an immutable snapshot to API and metrics
// readers without sharing the core.
func (d *Driver) RunWithStatus(ctx context.Context, onStatus func(consensus.Status)) error {
	if d.deps.TickInterval <= 0 {
		return errors.New("consensus/driver: Run needs a positive TickInterval")
	}
	t := time.NewTicker(d.deps.TickInterval)
	defer t.Stop()
	d.pace.timer = time.NewTimer(time.Hour)
	d.pace.timer.Stop()
	defer d.pace.timer.Stop()
	d.pace.max = d.deps.MaxPace
	inbox, reqs := d.deps.Transport.Inbox(), d.deps.Transport.BlockRequests()
	// A write left in flight is finished before Run returns, so that the
	// ledger can be closed; an error here is the write's own.
	defer func() {
		if err := d.finishWrite(); err != nil {
			d.log.Error("ledger write of a committed block failed", "err", err)
		}
	}()
	if err := d.flush(); err != nil {
		return err
	}
	var last consensus.Status
	publish := func() {
		if onStatus == nil {
			return
		}
		if st := d.core.Status(); !statusEqual(st, last) {
			last = st
			onStatus(st)
		}
	}
	publish()
	for {
		var err error
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			err = d.Tick()
		case m := <-inbox:
			err = d.Deliver(m)
		case r := <-reqs:
			r.Reply <- d.core.Block(r.Hash)
		case <-d.deps.Wake: // a nil Wake never fires
			err = d.Poke()
		case <-d.pace.timer.C:
			d.pace.armed = false
			err = d.Poke()
		case <-d.written(): // nil, and never fires, without a write in flight
			if err = d.finishWrite(); err == nil {
				err = d.Poke()
			}
		}
		if err != nil {
			return err
		}
		publish()
	}
}

// pending reports whether the chain must make blocks even without new
// txs: the mempool holds txs, a decided validator-set change is not in
// force yet (Membership), or a deadline is due by the wall clock
// (Deadlines). The core proposes while it holds, and a follower that sees
// it hold while the leader only heartbeats replaces the leader.
func (d *Driver) pending() bool {
	return d.deps.Mempool.Pending() || (d.members != nil && d.members.ChangePending()) ||
		(d.deadlines != nil && d.deadlines.DeadlineDue(d.deps.Now()))
}

func statusEqual(a, b consensus.Status) bool {
	return a.View == b.View && a.Leader == b.Leader && a.CommittedHeight == b.CommittedHeight &&
		string(a.CommittedHash) == string(b.CommittedHash) && a.HighQCView == b.HighQCView &&
		a.HighQCHeight == b.HighQCHeight && a.LastVotedView == b.LastVotedView && a.LastVotedHeight == b.LastVotedHeight
}

// Tick advances the core one tick and carries out its Ready. Deliver and
// Tick are for an owner that runs its own loop (the simulator); never call
// them concurrently with Run.
func (d *Driver) Tick() error {
	d.core.Tick()
	return d.flush()
}

// Deliver steps one message and carries out the Ready. A bad message is
// counted in Stats, not returned: only errors that stop the replica are.
func (d *Driver) Deliver(m *pb.ConsensusMessage) error {
	if err := d.core.Step(m); err != nil {
		d.log.Debug("consensus message refused", "sender", m.GetSender(), "err", err)
	}
	return d.flush()
}

// Poke carries out the Ready without a tick or a message: Run calls it on
// Deps.Wake, and an owner that runs its own loop calls it when the mempool
// gains txs, so that an idle leader proposes them at once instead of at
// its next tick.
func (d *Driver) Poke() error { return d.flush() }

// Core gives the owner read access (Status, Stats, Block) from the loop's
// goroutine.
func (d *Driver) Core() *consensus.Core { return d.core }

// flush carries out Ready until the core has nothing more, in this order:
//
//  1. persist the safety state (synced) — before anything leaves the node;
//  2. send messages, then fetches;
//  3. keep evidence; apply: execute committed blocks (durably), tell the
//     core they are stored, update the mempool (a block that ends the
//     validator set's epoch ends this Ready: a new core takes over);
//  4. validate proposals (after step 3, so the state they attest exists)
//     and report the verdicts;
//  5. build and propose the leader's payload (also after step 3);
//  6. report whether work is pending (pending).
func (d *Driver) flush() error {
	for i := 0; ; i++ {
		d.core.ReportMempool(d.pending())
		if !d.core.HasReady() {
			// A slot held for pacing is filled once its wait is over
			// (the pace timer pokes the driver), Ready or not.
			if d.pace.held == nil {
				return nil
			}
			d.proposeHeld()
			if !d.core.HasReady() {
				return nil
			}
		}
		rd := d.core.Ready()
		if rd.Fault != nil {
			return rd.Fault
		}
		if rd.Safety != nil {
			if err := d.deps.Store.Save(*rd.Safety); err != nil {
				return fmt.Errorf("consensus: persist safety state: %w", err)
			}
		}
		for _, e := range rd.Messages {
			var err error
			if e.To == consensus.Broadcast {
				err = d.deps.Transport.Broadcast(e.Msg)
			} else {
				err = d.deps.Transport.Send(e.To, e.Msg)
			}
			if err != nil {
				d.log.Debug("send failed", "to", e.To, "err", err)
			}
		}
		for _, f := range rd.Fetch {
			if err := d.deps.Transport.Fetch(f.From, f.Hash); err != nil {
				d.log.Debug("fetch failed", "from", f.From, "err", err)
			}
		}
		// Evidence before the commit: a commit that ends the epoch ends
		// this Ready, and the old set's evidence must not be lost with it.
		for _, ev := range rd.Evidence {
			if d.deps.Evidence != nil {
				d.deps.Evidence.AddEvidence(ev)
			}
		}
		if len(rd.Committed) > 0 {
			done, next, err := d.commit(rd.Committed)
			var head *pb.Block // the last block executed: a new epoch's root
			if len(done) > 0 {
				head = done[len(done)-1].Block
			}
			if len(done) > 0 && d.pipe != nil {
				// The last block's write may be in flight: it is known
				// stored, and the mempool updated, only once FinishWrite
				// has said so (finishWrite; at once when the executor
				// wrote it already).
				d.inflight = append(d.inflight[:0], done[len(done)-1])
				done = done[:len(done)-1]
			}
			if len(done) > 0 {
				d.core.Applied(done[len(done)-1].Height)
				d.deps.Mempool.Update(done)
				d.applyTiming()
			}
			if err != nil {
				return fmt.Errorf("consensus: execute committed blocks: %w", err)
			}
			if next != nil {
				// The rest of this Ready is the old set's: its proposals to
				// validate and its slot to propose in end with it.
				if err := d.enter(*next, head); err != nil {
					return err
				}
				continue
			}
		}
		for _, req := range rd.ToValidate {
			err := d.deps.Executor.ValidateBlock(req)
			if err != nil {
				d.log.Info("proposal refused by the application", "height", req.Header.GetHeight(), "err", err)
			}
			d.core.Validated(req.Hash, err == nil)
		}
		if s := rd.ProposeSlot; s != nil {
			d.pace.held = s
		}
		d.proposeHeld()
	}
}

// written is the executor's signal that its write in flight has
// returned; nil (never ready) when none is in flight.
func (d *Driver) written() <-chan struct{} {
	if d.pipe == nil || len(d.inflight) == 0 {
		return nil
	}
	if c := d.pipe.Written(); c != nil {
		return c
	}
	// Finished by another caller (block sync's Commit): ready now.
	return closedChan
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// finishWrite completes the ledger write in flight, if any: the block is
// stored, so the core may drop it from the safety state (Applied), and
// the mempool drops its txs.
func (d *Driver) finishWrite() error {
	if len(d.inflight) == 0 {
		return nil
	}
	durable, took, err := d.pipe.FinishWrite()
	blocks := d.inflight
	d.inflight = nil
	if err != nil {
		return fmt.Errorf("consensus: store committed block %d: %w", blocks[len(blocks)-1].Height, err)
	}
	last := blocks[len(blocks)-1].Height
	if durable < last {
		return fmt.Errorf("consensus: committed block %d not stored (ledger at %d)", last, durable)
	}
	if took > 0 {
		d.pace.committed(took, len(blocks))
	}
	d.core.Applied(last)
	d.deps.Mempool.Update(blocks)
	d.applyTiming()
	return nil
}

// proposeHeld fills the slot the core offered last, now or, when pacing
// says to wait, once the pace timer fires (Run pokes the driver then).
func (d *Driver) proposeHeld() {
	s := d.pace.held
	if s == nil {
		return
	}
	if wait := d.pace.wait(d.deps.Now(), d.fullBlock(*s)); wait > 0 {
		d.pace.arm(wait)
		return
	}
	d.pace.held = nil
	slot := d.withInflight(*s)
	txs := d.deps.Mempool.Reap(d.maxTxs, slot)
	hdr, err := d.deps.Executor.BuildPayload(slot, txs)
	if err != nil {
		d.log.Warn("build payload", "height", s.Height, "err", err)
		return
	}
	if err := d.core.Propose(consensus.Payload{Txs: txs, Header: hdr}); err != nil {
		if !errors.Is(err, consensus.ErrNoSlot) {
			d.log.Warn("propose", "height", s.Height, "err", err)
		}
		return
	}
	d.pace.proposed(d.deps.Now())
}

// FullBlocker is implemented by a Mempool that can tell whether it holds
// a full block of runnable txs for a slot: a pacing leader proposes at
// once then.
type FullBlocker interface {
	FullBlock(max int, slot consensus.ProposeSlot) bool
}

// fullBlock reports whether the mempool holds a full block for slot (a
// mempool that cannot say counts as not full).
func (d *Driver) fullBlock(s consensus.ProposeSlot) bool {
	m, ok := d.deps.Mempool.(FullBlocker)
	return ok && m.FullBlock(d.maxTxs, d.withInflight(s))
}

// withInflight is slot with the blocks whose write is in flight among its
// uncommitted ancestors: the mempool still holds their txs (it drops them
// once the write returns), and they must not be proposed again.
func (d *Driver) withInflight(s consensus.ProposeSlot) consensus.ProposeSlot {
	if len(d.inflight) == 0 {
		return s
	}
	up := make([]*pb.Block, 0, len(d.inflight)+len(s.Uncommitted))
	for _, b := range d.inflight {
		up = append(up, b.Block)
	}
	s.Uncommitted = append(up, s.Uncommitted...)
	return s
}
