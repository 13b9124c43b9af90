package consensus

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Errors callers test for.
var (
	// ErrNoSlot: Propose was called without a current ProposeSlot (the view
	// moved on, or the slot was already used).
	ErrNoSlot = errors.New("consensus: no proposal slot")
	// ErrSafetyFault: the core found a commit that conflicts with its
	// committed chain; the replica must stop.
	ErrSafetyFault = errors.New("consensus: safety fault")
)

// Core is the consensus state machine of one replica (ARCHITECTURE.md §4). It is
// deterministic: its outputs depend only on its Config, the RestartState it
// started from and the sequence of calls made on it. It has no goroutines,
// clock, randomness or I/O, and is not safe for concurrent use: one owner
// (the Driver, or the simulator) calls it.
type Core struct {
	cfg    Config
	bugs   bugs
	n, q   int
	f      int
	self   int
	signer Signer
	ver    *verifier
	lim    blockLimits

	// Safety state (persisted).
	view           uint64
	lastVV, lastVH uint64
	lastVotedKey   string // block of the last vote, kept in SafetyState.Blocks
	highQC         *pb.QuorumCert
	safetyDirty    bool

	// Timing, in ticks.
	tick           uint64
	deadline       uint64
	failures       int
	progressHeight uint64
	lastHeartbeat  uint64
	hbSeq          uint64
	hbSeen         uint64 // highest heartbeat seq seen in this view
	ownTimeout     *pb.Timeout

	// Block tree above (and a little below) the committed head.
	blocks          map[string]*node
	certified       map[string]*pb.QuorumCert
	orphans         map[string][]*orphan
	orphanSet       map[string]bool
	orphanCount     int
	missing         map[string]*fetchState
	committedHeight uint64
	committedKey    string
	attested        uint64
	// durable is the height up to which the application has stored the
	// committed blocks (Applied). Blocks above it stay in
	// SafetyState.Blocks even once committed: a crash between the synced
	// safety state and the ledger's write must not lose a block that the
	// safety state's high QC builds on.
	durable uint64

	// Votes and timeouts.
	votes        map[voteKey]map[uint32][]byte
	seenVotes    map[votePos]*pb.Vote
	evidenceSeen map[votePos]bool
	timeouts     map[uint64]map[uint32]*pb.Timeout
	tcs          map[uint64]*pb.TimeoutCert
	highTC       *pb.TimeoutCert

	future       map[uint32][]futureMsg
	replayFuture bool

	// Leader state.
	slot           *ProposeSlot
	slotTick       uint64
	proposedView   uint64
	proposedHeight uint64
	hasProposed    bool

	mempoolPending bool
	pendingSince   uint64

	out   Ready
	stats Stats
	fault error
}

type validation int8

const (
	validationNone validation = iota
	validationPending
	validationOK
	validationBad
)

// node is a block in the tree, decoded once.
type node struct {
	hash        []byte
	key         string
	block       *pb.Block // nil for the genesis root
	hdr         *pb.Header
	view        uint64
	height      uint64
	parent      string
	justifyView uint64
	// stateHeight is the highest height committed by this block's own
	// ancestry under the two-chain rule: the height its header attests.
	stateHeight uint64
	// lastTx is the highest height with transactions in the ancestry
	// (inclusive).
	lastTx     uint64
	validation validation
	committed  bool
}

type orphan struct {
	db   *decodedBlock
	from int
}

type futureMsg struct {
	view uint64
	msg  *pb.ConsensusMessage
}

// NewCore makes a core from a validated Config, the replica's signer (nil for
// an observer) and the state it restarts from.
func NewCore(cfg Config, signer Signer, rs RestartState) (*Core, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Self >= 0 {
		if signer == nil || !crypto.PublicKeyEqual(signer.Public(), cfg.Validators[cfg.Self]) {
			return nil, fmt.Errorf("%w: signer is not validator %d", ErrInvalidConfig, cfg.Self)
		}
	}
	c := &Core{
		cfg: cfg, bugs: cfg.bug(), n: len(cfg.Validators), q: cfg.quorum(), f: cfg.faulty(),
		self: cfg.Self, signer: signer,
		lim:          blockLimits{maxTxs: cfg.MaxBlockTxs, maxTxBytes: cfg.MaxTxBytes, maxHeader: cfg.MaxHeaderBytes},
		blocks:       map[string]*node{},
		certified:    map[string]*pb.QuorumCert{},
		orphans:      map[string][]*orphan{},
		orphanSet:    map[string]bool{},
		missing:      map[string]*fetchState{},
		votes:        map[voteKey]map[uint32][]byte{},
		seenVotes:    map[votePos]*pb.Vote{},
		evidenceSeen: map[votePos]bool{},
		timeouts:     map[uint64]map[uint32]*pb.Timeout{},
		tcs:          map[uint64]*pb.TimeoutCert{},
		future:       map[uint32][]futureMsg{},
	}
	c.stats.InvalidBySender = map[int]uint64{}
	c.ver = newVerifier(&c.cfg, &c.stats.Verified, &c.stats.CacheHits)

	s := rs.Safety.Clone()
	if cfg.Root != nil && s.HighQC != nil {
		if err := c.ver.qc(s.HighQC); err != nil {
			// A high QC this epoch's set did not sign: the state of an
			// epoch before, which ended at the root this node has
			// committed. Its votes were over another domain and bind
			// nothing here; the epoch starts from its root.
			s = SafetyState{View: cfg.Root.GetView()}
		}
	}
	if c.bugs.ForgetSafety {
		// Broken rule, tests only: keep the view, forget the vote and lock.
		s = SafetyState{View: s.View}
	}
	c.view, c.lastVV, c.lastVH = s.View, s.LastVotedView, s.LastVotedHeight
	c.highQC = s.HighQC
	if c.highQC == nil {
		c.highQC = c.rootQC()
	}

	var root *node
	if rs.Head == nil && cfg.Root != nil {
		return nil, fmt.Errorf("%w: epoch %d starts above block %d, and no committed head was given", ErrInvalidConfig, cfg.Epoch, cfg.Root.GetHeight())
	}
	if rs.Head == nil {
		root = &node{hash: cfg.GenesisHash, key: string(cfg.GenesisHash), hdr: &pb.Header{ChainId: cfg.ChainID}}
	} else {
		hdr := new(pb.Header)
		if err := proto.Unmarshal(rs.Head.GetHeader(), hdr); err != nil {
			return nil, fmt.Errorf("consensus: decode committed head: %w", err)
		}
		h := cfg.Suite.Hash(rs.Head.GetHeader())
		root = &node{
			hash: h, key: string(h), block: rs.Head, hdr: hdr, view: hdr.GetView(), height: hdr.GetHeight(),
			parent: string(hdr.GetParentHash()), justifyView: rs.Head.GetJustify().GetView(),
			stateHeight: hdr.GetStateHeight(),
			// The root's finality is unknown after a restart: treat it as
			// carrying transactions so a leader finalizes it.
			lastTx: hdr.GetHeight(),
		}
	}
	root.committed, root.validation = true, validationOK
	c.blocks[root.key] = root
	c.committedHeight, c.committedKey, c.attested = root.height, root.key, root.stateHeight
	c.durable = root.height
	c.deadline = c.tick + c.duration()
	// Blocks persisted with the safety state: the replica's own record,
	// checked all the same.
	// They are checked without the size limits: they were accepted under
	// the limits in force then, and governance may have lowered them
	// since; refusing them would keep the replica from starting at all.
	// (Signatures and certificates are checked as always.)
	ownRecord := blockLimits{maxTxs: math.MaxInt, maxTxBytes: math.MaxInt, maxHeader: math.MaxInt}
	for _, b := range s.Blocks {
		db, err := c.ver.block(b, ownRecord)
		if err != nil {
			return nil, fmt.Errorf("consensus: persisted block: %w", err)
		}
		if db.header.GetHeight() > c.committedHeight {
			c.addBlock(db, -1)
		}
	}
	// The blocks' justifies were taken in as they connected, committing
	// what they prove; the high QC certifies the last block and may commit
	// its parent. Both were known before the crash, so whatever they commit
	// had been committed then, perhaps without reaching the ledger: the
	// first Ready hands it out again, and recovery needs no peer (a lone
	// validator, or a whole network restarted at once, has none to ask).
	c.onVerifiedQC(c.highQC, c.cfg.Leader(c.highQC.GetView()))
	return c, nil
}

// SetTimeouts changes the view timeout after progress (base), its ceiling
// (max) and the idle leader's heartbeat interval, in ticks, as governance
// changes the chain's parameters. They take effect from the next deadline
// the core sets; the running one is kept. Timeouts bear on liveness only,
// so replicas need not change them at the same tick. Values Config.Validate
// would refuse are refused and change nothing.
func (c *Core) SetTimeouts(base, max, heartbeat int) error {
	if base < 2 || max < base || heartbeat < 1 || heartbeat >= base {
		return fmt.Errorf("%w: timeouts base %d max %d heartbeat %d (want 2 <= base <= max, 1 <= heartbeat < base)", ErrInvalidConfig, base, max, heartbeat)
	}
	c.cfg.BaseTimeoutTicks, c.cfg.MaxTimeoutTicks, c.cfg.HeartbeatTicks = base, max, heartbeat
	return nil
}

// rootQC is the QC the epoch starts from (Config.RootQC).
func (c *Core) rootQC() *pb.QuorumCert { return c.cfg.RootQC() }

// sign signs with the replica's key. A failing signer leaves no safe way on
// (the replica could not vote or time out), so it panics.
func (c *Core) sign(msg []byte) []byte {
	sig, err := c.signer.Sign(msg)
	if err != nil {
		panic(fmt.Sprintf("consensus: signer failed: %v", err))
	}
	return sig
}

func (c *Core) broadcast(m *pb.ConsensusMessage) {
	m.Sender, m.Epoch = uint32(c.self), c.cfg.Epoch
	c.out.Messages = append(c.out.Messages, Envelope{To: Broadcast, Msg: m})
}

func (c *Core) send(to int, m *pb.ConsensusMessage) {
	m.Sender, m.Epoch = uint32(c.self), c.cfg.Epoch
	c.out.Messages = append(c.out.Messages, Envelope{To: to, Msg: m})
}

// duration is the current view timeout: base doubled per failed view.
func (c *Core) duration() uint64 {
	d := uint64(c.cfg.BaseTimeoutTicks)
	for i := 0; i < c.failures && d < uint64(c.cfg.MaxTimeoutTicks); i++ {
		d *= 2
	}
	return min(d, uint64(c.cfg.MaxTimeoutTicks))
}

// ---------------------------------------------------------------- inputs

// Step feeds one message from the network. The message is untrusted: it is
// verified before it changes anything. A non-nil error wrapping ErrInvalid
// means the message is provably bad (penalise the sender); stale and
// duplicate messages return nil and are counted in Stats.
func (c *Core) Step(m *pb.ConsensusMessage) error {
	c.stats.Received++
	err := c.step(m)
	if errors.Is(err, ErrInvalid) {
		c.stats.Invalid++
		c.stats.InvalidBySender[int(m.GetSender())]++
	}
	c.afterInput()
	return err
}

func (c *Core) step(m *pb.ConsensusMessage) error {
	if m == nil {
		return invalid("nil message")
	}
	if m.GetEpoch() != c.cfg.Epoch {
		// Another validator set's message: its sender index and signature
		// mean nothing here (ARCHITECTURE.md §4, "Reconfiguration").
		c.stats.OtherEpoch++
		return nil
	}
	if int(m.GetSender()) >= c.n {
		return invalid("sender %d out of range", m.GetSender())
	}
	if c.fault != nil {
		return nil
	}
	sender := m.GetSender()
	switch msg := m.GetMsg().(type) {
	case *pb.ConsensusMessage_Proposal:
		return c.onProposal(sender, msg.Proposal)
	case *pb.ConsensusMessage_Vote:
		return c.onVote(sender, msg.Vote)
	case *pb.ConsensusMessage_Timeout:
		return c.onTimeout(sender, msg.Timeout)
	case *pb.ConsensusMessage_TimeoutCert:
		return c.onTC(msg.TimeoutCert, int(sender))
	case *pb.ConsensusMessage_Heartbeat:
		return c.onHeartbeat(sender, msg.Heartbeat)
	default:
		return invalid("empty message")
	}
}

// Tick advances the core's clock by one tick.
func (c *Core) Tick() {
	c.tick++
	if c.fault == nil && c.self >= 0 {
		if c.tick >= c.deadline {
			if !c.timedOut(c.view) {
				c.sendTimeout(c.view)
			} else if c.ownTimeout != nil && c.ownTimeout.GetView() == c.view {
				// Retransmit: our timeout or the TC may have been lost.
				c.stats.Timeouts++
				c.broadcast(&pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Timeout{Timeout: c.ownTimeout}})
			} else if c.lastVV == c.view {
				// Timed out in this view before a restart lost the message.
				c.broadcastTimeout(c.view)
			}
			c.deadline = c.tick + c.duration()
			if c.timedOut(c.view) {
				// From now on this replica only retransmits the same
				// timeout: at the base timeout, not at the view's grown
				// duration, so that a TC forms soon after a partition
				// heals or a peer that missed the timeout restarts.
				c.deadline = c.tick + uint64(c.cfg.BaseTimeoutTicks)
			}
		}
		if c.cfg.Leader(c.view) == c.self && !c.timedOut(c.view) && c.slot == nil && !c.awaitingQC() &&
			c.canPropose() && c.tick-c.lastHeartbeat >= uint64(c.cfg.HeartbeatTicks) {
			c.sendHeartbeat()
		}
		if c.slot != nil && c.tick-c.slotTick > uint64(c.cfg.BaseTimeoutTicks) {
			c.slot = nil // the driver never filled it; offer it again
		}
	}
	c.retryFetches()
	c.afterInput()
}

// ReportMempool tells the core whether the mempool holds transactions. The
// core remembers since when, to replace a leader that heartbeats while
// transactions wait (ARCHITECTURE.md §4 "Pipelining").
func (c *Core) ReportMempool(pending bool) {
	if pending && !c.mempoolPending {
		c.pendingSince = c.tick
	}
	c.mempoolPending = pending
	c.afterInput()
}

// Applied tells the core that the application has durably stored every
// committed block up to height (the driver calls it once Executor.Commit
// has returned for a Ready's Committed). Until then those blocks stay in
// the persisted SafetyState.Blocks; see Core.durable.
func (c *Core) Applied(height uint64) {
	if height > c.durable {
		c.durable = height
	}
}

// Validated reports the application's verdict on a block from
// Ready.ToValidate. A block found invalid is never voted for.
func (c *Core) Validated(hash []byte, ok bool) {
	x := c.blocks[string(hash)]
	if x != nil && x.validation == validationPending {
		if ok {
			x.validation = validationOK
			c.considerVote(x)
		} else {
			x.validation = validationBad
		}
	}
	c.afterInput()
}

// afterInput runs the work every input may unlock: messages kept for the
// view just entered, and the leader's next proposal.
func (c *Core) afterInput() {
	for c.replayFuture && c.fault == nil {
		c.replayFuture = false
		var now []*pb.ConsensusMessage
		for _, s := range sortedSenders(c.future) {
			kept := c.future[s][:0]
			for _, fm := range c.future[s] {
				if fm.view <= c.view {
					now = append(now, fm.msg)
				} else {
					kept = append(kept, fm)
				}
			}
			if len(kept) == 0 {
				delete(c.future, s)
			} else {
				c.future[s] = kept
			}
		}
		for _, m := range now {
			_ = c.step(m) // verified on replay; errors were counted on arrival only if bad
		}
	}
	if c.fault == nil {
		c.maybePropose()
	}
}

func sortedSenders(m map[uint32][]futureMsg) []uint32 {
	s := make([]uint32, 0, len(m))
	for k := range m {
		s = append(s, k)
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

// buffer keeps a message for a view above ours, bounded per sender.
func (c *Core) buffer(sender uint32, view uint64, m *pb.ConsensusMessage) {
	if len(c.future[sender]) >= c.cfg.MaxFuturePerSender {
		c.stats.Dropped++
		return
	}
	c.stats.Buffered++
	c.future[sender] = append(c.future[sender], futureMsg{view: view, msg: m})
}

// ---------------------------------------------------------------- outputs

// HasReady reports whether Ready would return anything.
func (c *Core) HasReady() bool { return c.safetyDirty || !c.out.Empty() }

// Ready returns what the driver must do now and clears it (the core assumes
// it will be carried out in the documented order; there is no Advance).
func (c *Core) Ready() Ready {
	rd := c.out
	c.out = Ready{}
	if c.safetyDirty {
		s := c.safety()
		rd.Safety = &s
		c.safetyDirty = false
	}
	return rd
}

func (c *Core) safety() SafetyState {
	return SafetyState{View: c.view, LastVotedView: c.lastVV, LastVotedHeight: c.lastVH,
		HighQC: proto.Clone(c.highQC).(*pb.QuorumCert), Blocks: c.uncommittedPaths()}
}

// maxPersistedBlocks bounds the uncommitted blocks of SafetyState.Blocks.
// Beyond it (no commit for that many blocks) the oldest are left out; they
// are certified, so a quorum held them when they were newer. Committed
// blocks the ledger may not hold yet are always kept; there are at most as
// many as one Ready commits.
const maxPersistedBlocks = 256

// uncommittedPaths returns the blocks from the application's durable head
// (exclusive) to the high QC's block and to the last voted block, oldest
// first: the uncommitted ones, and the committed ones the ledger may not
// hold yet.
func (c *Core) uncommittedPaths() []*pb.Block {
	seen := map[string]bool{}
	var out []*node
	for _, key := range []string{string(c.highQC.GetBlockHash()), c.lastVotedKey} {
		var path []*node
		for x := c.blocks[key]; x != nil && x.height > c.durable && !seen[x.key] && x.block != nil; x = c.blocks[x.parent] {
			seen[x.key] = true
			path = append(path, x)
		}
		out = append(out, path...)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].height != out[j].height {
			return out[i].height < out[j].height
		}
		return out[i].key < out[j].key
	})
	// The cap leaves out the oldest uncommitted blocks, never a committed
	// one the ledger may not hold yet (those come first, by height).
	committed := 0
	for committed < len(out) && out[committed].committed {
		committed++
	}
	if len(out)-committed > maxPersistedBlocks {
		out = append(out[:committed:committed], out[len(out)-maxPersistedBlocks:]...)
	}
	bs := make([]*pb.Block, len(out))
	for i, x := range out {
		bs[i] = x.block
	}
	return bs
}

// Status returns the core's position.
func (c *Core) Status() Status {
	return Status{
		View: c.view, Leader: c.cfg.Leader(c.view),
		CommittedHeight: c.committedHeight, CommittedHash: []byte(c.committedKey),
		HighQCView: c.highQC.GetView(), HighQCHeight: c.highQC.GetHeight(),
		LastVotedView: c.lastVV, LastVotedHeight: c.lastVH,
	}
}

// Stats returns a copy of the counters.
func (c *Core) Stats() Stats {
	s := c.stats
	s.InvalidBySender = make(map[int]uint64, len(c.stats.InvalidBySender))
	for k, v := range c.stats.InvalidBySender {
		s.InvalidBySender[k] = v
	}
	return s
}

// Block returns a block the core holds (to answer a peer's fetch), or nil.
// The caller must not modify it.
func (c *Core) Block(hash []byte) *pb.Block {
	if x := c.blocks[string(hash)]; x != nil {
		return x.block
	}
	return nil
}
