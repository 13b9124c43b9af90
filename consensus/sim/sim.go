package sim

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/driver"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Configuration names one cluster shape.
type Configuration struct {
	Name      string
	N         int
	Model     consensus.FaultModel
	Byzantine int // replicas that are Byzantine for the whole run (≤ f)
	// Members runs governed validator-set changes during the fault window
	// (ARCHITECTURE.md §4, "Reconfiguration"): a replica that starts as an
	// observer joins, a genesis validator leaves, another rotates its key.
	Members bool
}

// Configurations are the shapes `make sim` runs.
var Configurations = []Configuration{
	{Name: "crash-3", N: 3, Model: consensus.Crash},
	{Name: "crash-5", N: 5, Model: consensus.Crash},
	{Name: "byz-4", N: 4, Model: consensus.Byzantine, Byzantine: 1},
	{Name: "byz-7", N: 7, Model: consensus.Byzantine, Byzantine: 2},
	{Name: "crash-4-members", N: 4, Model: consensus.Crash, Members: true},
	{Name: "byz-4-members", N: 4, Model: consensus.Byzantine, Byzantine: 1, Members: true},
}

// memberDelay is the simulated chain's validator_change_delay: a set
// change committed at height h is in force from h + memberDelay.
const memberDelay = 3

// ConfigurationByName finds one of Configurations.
func ConfigurationByName(name string) (Configuration, error) {
	var names []string
	for _, c := range Configurations {
		if c.Name == name {
			return c, nil
		}
		names = append(names, c.Name)
	}
	return Configuration{}, fmt.Errorf("sim: unknown configuration %q (have %s)", name, strings.Join(names, ", "))
}

// Options select one run.
type Options struct {
	Config Configuration
	Seed   uint64
	// Suite is the simulated chain's crypto suite (the zero value is
	// ed25519-sha256): its keys sign, its hash names blocks.
	Suite crypto.Suite
	// Template, if set, supplies the consensus timing and limits (and, in
	// this module's tests, rule switches); the simulator fills in chain id,
	// genesis, validators and self. Zero value: consensus.DefaultConfig().
	Template *consensus.Config
	// FaultTicks is the length of the fault window (default 450).
	FaultTicks uint64
	// Faults scales fault intensity: 1 default; higher for the broken-rule
	// hunts.
	Faults float64
	// Trace, if set, receives one line per delivered message and per
	// replica status change (for replaying a failing seed).
	Trace io.Writer

	// suffixBug plants a reconfiguration bug for the checker to find
	// (export_test.go): the ledger executes the blocks the old set
	// certified above its last height.
	suffixBug bool
}

// Result is the outcome of one run.
type Result struct {
	Config    string
	Seed      uint64
	Suite     crypto.Suite
	Safety    []string // safety violations (empty: none)
	Liveness  string   // liveness failure ("": none)
	Ticks     uint64   // simulated ticks run
	HealAt    uint64
	Recovered uint64 // ticks from heal until every correct replica committed the probe
	Commits   int    // highest committed height among correct replicas
	Stats     Stats
}

// Stats are counters of one run.
type Stats struct {
	Messages          int
	Dropped           int
	Crashes           int
	PowerCuts         int // crashes in the middle of a Commit
	Partitions        int
	Evidence          int
	BadPayloadRefused int
	ByzantineSent     int
	// Messages the Byzantine replicas made up (not their core's own), and
	// what became of those a correct replica received: stepped by a core
	// in the message's epoch, of an epoch after genesis, of those refused
	// as provably invalid; or dropped unread as another epoch's.
	Crafted             int
	CraftedStepped      int
	CraftedLater        int
	CraftedLaterInvalid int
	CraftedOtherEpoch   int
	CraftedLeft         int // made up after the set removed the replica
	EvidenceLater       int // equivocation evidence of an epoch after genesis
	CoreSteps           uint64
	SetChanges          int // validator-set changes that took effect (counted once)
	CatchUps            int // replicas brought across an epoch by the sim's block sync
}

// Failed reports whether the run broke an invariant.
func (r *Result) Failed() bool { return len(r.Safety) > 0 || r.Liveness != "" }

// ReplayCommand is the command line that replays this run.
func (r *Result) ReplayCommand() string {
	return fmt.Sprintf("go run ./consensus/sim/cmd/simrun -config %s -seed %d -suite %s -v", r.Config, r.Seed, r.Suite)
}

// LivenessBound is the simulated time within which, after the last fault
// heals, every correct replica must commit the probe transaction: enough
// for each of the f faulty leaders that may come next to cost a maximal
// view timeout, twice over, plus catch-up.
func LivenessBound(cfg consensus.Config, c Configuration) uint64 {
	f := uint64(consensus.MaxFaulty(c.Model, c.N))
	return 2*(f+2)*uint64(cfg.MaxTimeoutTicks) + 20*uint64(cfg.BaseTimeoutTicks)
}

// simulation is one run in progress.
type simulation struct {
	opts      Options
	rng       *rand.Rand
	cfg       consensus.Config // shared parts (Self = -1)
	genesis   []byte
	keys      []crypto.PrivateKey // validator keys: the genesis set's, then (Members) the joiner's and the rotated one
	rotator   int                 // Members: the replica that rotates its key to keys[N+1]
	epochAt   map[uint64]string   // epoch start -> the set a correct replica started there
	memberTxs []string            // Members: the changes, submitted again at heal
	replicas  []*replica
	q         eventQueue
	seq       uint64
	now       uint64
	proposed  map[string]bool
	global    map[uint64][]byte // height -> hash committed by a correct replica
	probe     []byte
	healAt    uint64
	healed    bool
	res       Result
	stats     Stats
	txSeq     int
	crafted   map[*pb.ConsensusMessage]bool // made up by a Byzantine replica

	// Network faults, active until heal.
	drop, dup, reorder float64
	group              []int // partition group per replica, nil when whole
	filter             func(from, to int, m *pb.ConsensusMessage) bool
}

type replica struct {
	id     int
	byz    *byzantine
	drv    *driver.Driver
	store  *memStore
	ledger *ledger
	keys   []int // indexes in simulation.keys of the keys this replica holds
	mp     *mempool
	up     bool
	slow   uint64 // extra tick period and delivery delay
	probe  bool   // committed the probe tx
	steps  uint64
}

// Run executes one run and checks the invariants.
func Run(opts Options) Result {
	s := newSim(opts)
	s.run()
	return s.res
}

func seededReader(seed uint64, stream uint64) *rand.ChaCha8 {
	var b [32]byte
	binary.LittleEndian.PutUint64(b[0:], seed)
	binary.LittleEndian.PutUint64(b[8:], stream)
	copy(b[16:], "govnode-sim")
	return rand.NewChaCha8(b)
}

func newSim(opts Options) *simulation {
	if opts.FaultTicks == 0 {
		opts.FaultTicks = 450
	}
	if opts.Faults == 0 {
		opts.Faults = 1
	}
	c := opts.Config
	s := &simulation{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, 0x5eed)), proposed: map[string]bool{}, global: map[uint64][]byte{},
		epochAt: map[uint64]string{}, crafted: map[*pb.ConsensusMessage]bool{}}
	s.res.Config, s.res.Seed, s.res.Suite = c.Name, opts.Seed, opts.Suite
	cfg := consensus.DefaultConfig()
	if opts.Template != nil {
		cfg = *opts.Template
	}
	cfg.ChainID = "sim-" + c.Name
	cfg.Suite = opts.Suite
	cfg.GenesisHash = s.opts.Suite.Hash([]byte("sim/genesis/" + c.Name))
	cfg.FaultModel = c.Model
	cfg.Self = -1
	cfg.SigCache = crypto.NewSigCache(4096)
	keyRand := seededReader(uint64(c.N), 1) // keys depend on the shape only
	pool, replicas := c.N, c.N
	if c.Members {
		// Key N is the joining replica's; key N+1 the key a genesis
		// validator rotates to.
		pool, replicas = c.N+2, c.N+1
	}
	for i := 0; i < pool; i++ {
		k, err := crypto.GenerateKey(opts.Suite.Scheme(), keyRand)
		if err != nil {
			panic(err)
		}
		s.keys = append(s.keys, k)
		if i < c.N {
			cfg.Validators = append(cfg.Validators, k.Public())
		}
	}
	s.cfg, s.genesis = cfg, cfg.GenesisHash
	// Byzantine replicas: a seeded choice of indexes.
	byzIdx := map[int]bool{}
	for _, i := range s.rng.Perm(c.N)[:c.Byzantine] {
		byzIdx[i] = true
	}
	if c.Members {
		// A correct genesis validator rotates its key; it holds both.
		for _, i := range s.rng.Perm(c.N) {
			if !byzIdx[i] {
				s.rotator = i
				break
			}
		}
	}
	for i := 0; i < replicas; i++ {
		r := &replica{id: i, store: &memStore{}, ledger: newLedger(s, i), keys: []int{i}}
		if c.Members && i == s.rotator {
			// The key it rotates to is in place from the start, as an
			// operator puts a pending key file beside the current one.
			r.keys = append(r.keys, c.N+1)
		}
		if byzIdx[i] {
			r.byz = newByzantine(s, r)
			r.ledger.badRoot = r.byz.has(bBadPayload)
		}
		s.replicas = append(s.replicas, r)
		s.start(r)
		s.push(&event{at: uint64(s.rng.IntN(3)), kind: evTick, to: i})
	}
	s.schedule()
	return s
}

func (s *simulation) push(e *event) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.q, e)
}

func (s *simulation) at(t uint64, f func()) { s.push(&event{at: t, kind: evAction, act: f}) }

func (s *simulation) safety(msg string) {
	if len(s.res.Safety) < 20 {
		s.res.Safety = append(s.res.Safety, fmt.Sprintf("t=%d: %s", s.now, msg))
	}
}

// start (re)creates a replica's volatile part from its durable store and
// ledger.
func (s *simulation) start(r *replica) {
	cfg := s.cfg
	cfg.Self = -1
	if r.id < len(cfg.Validators) {
		cfg.Self = r.id
	}
	if r.mp == nil { // a crash lost it; block sync keeps it
		r.mp = newMempool()
		r.mp.censor = r.byz != nil && r.byz.has(bCensor)
	}
	var more []consensus.Signer
	for _, k := range r.keys[1:] {
		more = append(more, s.keys[k])
	}
	drv, err := driver.New(cfg, s.keys[r.keys[0]], driver.Deps{
		Transport: &transport{s: s, from: r.id}, Store: r.store, Executor: r.ledger, Mempool: r.mp,
		Evidence: evidenceCounter{s}, Keys: more,
	})
	if err != nil {
		panic(fmt.Sprintf("sim: start replica %d: %v", r.id, err))
	}
	// The core starts at the ledger's head, or above it when its safety
	// state proves blocks committed that a power cut kept from the ledger
	// (it hands them out again in its first Ready; the ledger checks they
	// extend it). Below the ledger would be a lost commit.
	if got := drv.Core().Status().CommittedHeight; got < r.ledger.height() {
		s.safety(fmt.Sprintf("replica %d restarted at committed height %d, ledger holds %d", r.id, got, r.ledger.height()))
	}
	r.drv, r.up = drv, true
}

type evidenceCounter struct{ s *simulation }

func (e evidenceCounter) AddEvidence(ev *pb.EquivocationEvidence) {
	e.s.stats.Evidence++
	if ev.GetEpoch() > 0 {
		e.s.stats.EvidenceLater++
	}
}

func (s *simulation) correct(r *replica) bool { return r.byz == nil }

// schedule draws the fault schedule and the client load for the run.
func (s *simulation) schedule() {
	F := s.opts.FaultTicks
	k := s.opts.Faults
	s.drop = []float64{0, 0.02, 0.1, 0.25}[s.rng.IntN(4)] * k
	s.dup = []float64{0, 0.05, 0.2}[s.rng.IntN(3)] * k
	s.reorder = []float64{0, 0.1, 0.3}[s.rng.IntN(3)]
	n := len(s.replicas)
	// Crash and restart episodes.
	for i := 0; i < int(float64(s.rng.IntN(4))*k); i++ {
		id := s.rng.IntN(n)
		start := uint64(s.rng.Int64N(int64(F)))
		dur := uint64(5 + s.rng.IntN(150))
		s.at(start, func() { s.crash(id) })
		s.at(min(start+dur, F), func() { s.restart(id) })
	}
	// Power cuts: one replica, or every replica at once, stops in the
	// middle of its next Commit (safety state synced, messages sent, the
	// ledger short of the blocks) and comes back later. No peer may hold
	// the lost blocks; each replica must recover them from its own state.
	for i := 0; i < int(float64(s.rng.IntN(3))*k); i++ {
		ids := []int{s.rng.IntN(n)}
		if s.rng.IntN(3) == 0 {
			ids = ids[:0]
			for id := range n {
				ids = append(ids, id)
			}
		}
		start := uint64(s.rng.Int64N(int64(F)))
		dur := uint64(5 + s.rng.IntN(150))
		s.at(start, func() {
			for _, id := range ids {
				s.replicas[id].ledger.powerCut = true
			}
		})
		s.at(min(start+dur, F), func() {
			for _, id := range ids {
				s.replicas[id].ledger.powerCut = false
				s.restart(id)
			}
		})
	}
	// Partitions.
	for i := 0; i < int(float64(s.rng.IntN(3))*k); i++ {
		start := uint64(s.rng.Int64N(int64(F)))
		dur := uint64(10 + s.rng.IntN(200))
		groups := make([]int, n)
		for j := range groups {
			groups[j] = s.rng.IntN(2)
		}
		s.at(start, func() { s.group = groups; s.stats.Partitions++ })
		s.at(min(start+dur, F), func() { s.group = nil })
	}
	// Slow replicas.
	for i := 0; i < s.rng.IntN(3); i++ {
		id := s.rng.IntN(n)
		start := uint64(s.rng.Int64N(int64(F)))
		slow := uint64(1 + s.rng.IntN(4))
		s.at(start, func() { s.replicas[id].slow = slow })
		s.at(min(start+uint64(50+s.rng.IntN(200)), F), func() { s.replicas[id].slow = 0 })
	}
	if s.opts.Config.Members {
		// Governed set changes, one after another: the joiner (an
		// observer until then) is added, a genesis validator other than
		// the rotator removed, the rotator's key replaced. Each is a tx;
		// it is in force memberDelay blocks after the block that commits
		// it, whatever faults are active then.
		N := s.opts.Config.N
		leave := (s.rotator + 1 + s.rng.IntN(N-1)) % N
		changes := []string{fmt.Sprintf("member:add:%d", N), fmt.Sprintf("member:remove:%d", leave), fmt.Sprintf("member:rotate:%d:%d", s.rotator, N+1)}
		for i, c := range changes {
			s.at(uint64(i+1)*F/5+uint64(s.rng.IntN(int(F/10))), func() { s.submit(s.newTx(c)) })
		}
		// A change whose tx a crash took from every mempool is submitted
		// again, in order, as a client retries (applied twice, a change
		// is a no-op the second time).
		s.at(4*F/5, func() {
			for _, c := range changes {
				s.submit(s.newTx(c))
			}
		})
		s.memberTxs = changes
	}
	// Client load: bursts of txs with idle gaps (so heartbeats happen too).
	for t := uint64(s.rng.IntN(20)); t < F; t += uint64(10 + s.rng.IntN(90)) {
		burst := 1 + s.rng.IntN(4)
		s.at(t, func() {
			for range burst {
				s.submit(s.newTx("load"))
			}
		})
	}
	s.at(F, s.heal)
}

func (s *simulation) newTx(kind string) []byte {
	s.txSeq++
	return []byte(fmt.Sprintf("%s-%d-%d", kind, s.opts.Seed, s.txSeq))
}

// submit gives a tx to every running replica's mempool (gossip).
func (s *simulation) submit(tx []byte) {
	for _, r := range s.replicas {
		if r.up {
			r.mp.add(tx)
		}
	}
}

func (s *simulation) crash(id int) {
	r := s.replicas[id]
	if !r.up {
		return
	}
	if s.opts.Trace != nil {
		fmt.Fprintf(s.opts.Trace, "t=%d crash %d\n", s.now, id)
	}
	r.up, r.drv, r.mp = false, nil, nil
	s.stats.Crashes++
}

func (s *simulation) restart(id int) {
	r := s.replicas[id]
	if r.up {
		return
	}
	if s.opts.Trace != nil {
		fmt.Fprintf(s.opts.Trace, "t=%d restart %d\n", s.now, id)
	}
	s.start(r)
}

// heal ends every fault; the liveness clock starts.
func (s *simulation) heal() {
	for _, r := range s.replicas {
		r.ledger.powerCut = false
		s.restart(r.id)
		r.slow = 0
	}
	s.group, s.drop, s.dup, s.reorder = nil, 0, 0, 0
	s.healed, s.healAt = true, s.now
	for _, c := range s.memberTxs { // and once more after the faults
		s.submit(s.newTx(c))
	}
	s.probe = s.newTx("probe")
	s.submit(s.probe)
}

func (s *simulation) run() {
	bound := LivenessBound(s.cfg, s.opts.Config)
	deadline := s.opts.FaultTicks + bound
	for s.q.Len() > 0 {
		e := heap.Pop(&s.q).(*event)
		if e.at > deadline {
			break
		}
		s.now = e.at
		s.handle(e)
		if s.healed && s.allProbed() {
			s.res.Recovered = s.now - s.healAt
			break
		}
	}
	s.res.Ticks, s.res.HealAt = s.now, s.healAt
	if !s.allProbed() {
		var lag []string
		for _, r := range s.replicas {
			if s.correct(r) && !r.probe {
				st := "down"
				if r.drv != nil {
					x := r.drv.Core().Status()
					st = fmt.Sprintf("view %d committed %d highQC (%d,%d)", x.View, x.CommittedHeight, x.HighQCView, x.HighQCHeight)
				}
				lag = append(lag, fmt.Sprintf("replica %d (%s)", r.id, st))
			}
		}
		s.res.Liveness = fmt.Sprintf("probe tx not committed within %d ticks of heal at t=%d by %s", bound, s.healAt, strings.Join(lag, ", "))
	}
	for _, r := range s.replicas {
		if s.correct(r) {
			s.res.Commits = max(s.res.Commits, int(r.ledger.height()))
		}
		s.stats.CoreSteps += r.steps
	}
	s.res.Stats = s.stats
}

// allProbed reports that every correct replica committed the probe, and
// holds no decided validator-set change that is not yet in force (the
// chain must reach it with no load).
func (s *simulation) allProbed() bool {
	for _, r := range s.replicas {
		if s.correct(r) && (!r.probe || r.ledger.ChangePending()) {
			return false
		}
	}
	return true
}

func (s *simulation) handle(e *event) {
	switch e.kind {
	case evAction:
		e.act()
	case evTick:
		r := s.replicas[e.to]
		if r.up {
			r.steps++
			s.check(r, r.drv.Tick())
			if r.byz != nil {
				r.byz.tick()
			}
		}
		s.push(&event{at: s.now + 1 + r.slow, kind: evTick, to: e.to})
	case evDeliver:
		r := s.replicas[e.to]
		if s.opts.Trace != nil {
			s.trace(e)
		}
		if r.up && e.msg.GetEpoch() > r.drv.Epoch().Start {
			s.catchUp(r)
		}
		if r.up {
			r.steps++
			if r.byz != nil {
				r.byz.inbound(e.msg)
			}
			if s.crafted[e.msg] && s.correct(r) {
				s.deliverCrafted(r, e.msg)
			} else {
				s.check(r, r.drv.Deliver(e.msg))
			}
		}
	case evFetch:
		s.serveFetch(e.from, e.to, e.hash)
	}
}

// deliverCrafted delivers a Byzantine replica's made-up message to a
// correct replica and counts whether its core read it (the message is of
// the core's epoch) and refused it as invalid.
func (s *simulation) deliverCrafted(r *replica, m *pb.ConsensusMessage) {
	core := r.drv.Core()
	if m.GetEpoch() != r.drv.Epoch().Start {
		s.stats.CraftedOtherEpoch++
		s.check(r, r.drv.Deliver(m))
		return
	}
	s.stats.CraftedStepped++
	before := core.Stats().Invalid
	s.check(r, r.drv.Deliver(m))
	if m.GetEpoch() > 0 {
		s.stats.CraftedLater++
		if core.Stats().Invalid > before {
			s.stats.CraftedLaterInvalid++
		}
	}
}

func (s *simulation) check(r *replica, err error) {
	if err == nil {
		return
	}
	if errors.Is(err, consensus.ErrSafetyFault) && s.correct(r) {
		s.safety(fmt.Sprintf("replica %d: %v", r.id, err))
	}
	// The replica stops (as its driver's Run would); it comes back only on
	// a scheduled restart.
	s.crash(r.id)
}

func (s *simulation) trace(e *event) {
	m := e.msg
	var what string
	switch {
	case m.GetProposal() != nil:
		h := decodeHeader(m.GetProposal().GetBlock().GetHeader())
		j := m.GetProposal().GetBlock().GetJustify()
		what = fmt.Sprintf("proposal v%d h%d justify (%d,%d) tc=%v", h.GetView(), h.GetHeight(), j.GetView(), j.GetHeight(), m.GetProposal().GetBlock().GetTc() != nil)
	case m.GetVote() != nil:
		what = fmt.Sprintf("vote v%d h%d", m.GetVote().GetView(), m.GetVote().GetHeight())
	case m.GetTimeout() != nil:
		what = fmt.Sprintf("timeout v%d hqc (%d,%d)", m.GetTimeout().GetView(), m.GetTimeout().GetHighQc().GetView(), m.GetTimeout().GetHighQc().GetHeight())
	case m.GetTimeoutCert() != nil:
		what = fmt.Sprintf("TC v%d", m.GetTimeoutCert().GetView())
	case m.GetHeartbeat() != nil:
		what = fmt.Sprintf("heartbeat v%d", m.GetHeartbeat().GetView())
	default:
		what = "junk"
	}
	st := "down"
	if r := s.replicas[e.to]; r.up {
		x := r.drv.Core().Status()
		st = fmt.Sprintf("at e%d v%d c%d ledger %d hqc (%d,%d) lv (%d,%d)", r.drv.Epoch().Start, x.View, x.CommittedHeight, r.ledger.height(),
			x.HighQCView, x.HighQCHeight, x.LastVotedView, int64(x.LastVotedHeight))
	}
	fmt.Fprintf(s.opts.Trace, "t=%d %d->%d e%d %s [%s]\n", s.now, e.from, e.to, m.GetEpoch(), what, st)
}

// onEpoch checks that correct replicas switch sets at the same block to
// the same set, and counts the switches.
func (s *simulation) onEpoch(id int, e consensus.Epoch) {
	if !s.correct(s.replicas[id]) {
		return
	}
	var b []byte
	for _, v := range e.Validators {
		b = append(b, v.GetKey()...)
	}
	key := fmt.Sprintf("%d/%x/%x", e.Start, e.Root.GetBlockHash(), s.opts.Suite.Hash(b))
	if prev, ok := s.epochAt[e.Start]; ok && prev != key {
		s.safety(fmt.Sprintf("reconfiguration: replica %d starts set %s, another correct replica %s", id, key, prev))
	} else if !ok {
		s.epochAt[e.Start] = key
		s.stats.SetChanges++
	}
}

// onCommit checks agreement as correct replicas commit.
func (s *simulation) onCommit(id int, cb consensus.CommittedBlock) {
	r := s.replicas[id]
	if !s.correct(r) {
		return
	}
	if prev, ok := s.global[cb.Height]; ok && string(prev) != string(cb.Hash) {
		s.safety(fmt.Sprintf("agreement: replica %d committed %x at height %d, another correct replica committed %x", id, cb.Hash[:4], cb.Height, prev[:4]))
	} else if !ok {
		s.global[cb.Height] = cb.Hash
	}
	if s.probe != nil {
		for _, tx := range cb.Block.GetTxs() {
			if string(tx) == string(s.probe) {
				r.probe = true
			}
		}
	}
}

// ---------------------------------------------------------------- network

type transport struct {
	s    *simulation
	from int
}

func (t *transport) Send(to int, m *pb.ConsensusMessage) error {
	if r := t.s.holder(t.from, to); r >= 0 {
		t.s.emit(t.from, r, m)
	}
	return nil
}

// holder is the replica holding validator idx's key in the epoch replica
// from runs, -1 if none: validator indexes name keys of one set, replica
// ids name processes.
func (s *simulation) holder(from, idx int) int {
	r := s.replicas[from]
	if r.drv == nil {
		return -1
	}
	vs := r.drv.Epoch().Validators
	if idx < 0 || idx >= len(vs) {
		return -1
	}
	for _, x := range s.replicas {
		for _, k := range x.keys {
			if crypto.PublicKeyEqual(s.keys[k].Public(), vs[idx]) {
				return x.id
			}
		}
	}
	return -1
}

func (t *transport) Broadcast(m *pb.ConsensusMessage) error {
	for to := range t.s.replicas {
		if to != t.from {
			t.s.emit(t.from, to, m)
		}
	}
	return nil
}

func (t *transport) Fetch(from int, hash []byte) error {
	if r := t.s.holder(t.from, from); r >= 0 {
		t.s.push(&event{at: t.s.now + t.s.delay(t.from, r), kind: evFetch, from: t.from, to: r, hash: hash})
	}
	return nil
}

func (t *transport) Inbox() <-chan *pb.ConsensusMessage        { return nil }
func (t *transport) BlockRequests() <-chan driver.BlockRequest { return nil }

// emit is every message leaving a replica: Byzantine replicas rewrite
// theirs, then the network applies its faults.
func (s *simulation) emit(from, to int, m *pb.ConsensusMessage) {
	if r := s.replicas[from]; r.byz != nil {
		r.byz.outbound(to, m)
		return
	}
	s.net(from, to, m)
}

// net delivers m subject to the network faults.
func (s *simulation) net(from, to int, m *pb.ConsensusMessage) {
	s.stats.Messages++
	if p := m.GetProposal(); p != nil {
		if hb := p.GetBlock().GetHeader(); hb != nil && !s.proposed[string(s.opts.Suite.Hash(hb))] {
			// Record proposals sent by their proposer, for the validity check.
			if d := decodeHeader(hb); d != nil && s.holder(from, int(d.GetProposer())) == from {
				s.proposed[string(s.opts.Suite.Hash(hb))] = true
			}
		}
	}
	if s.group != nil && s.group[from] != s.group[to] {
		s.stats.Dropped++
		return
	}
	if s.filter != nil && s.filter(from, to, m) {
		s.stats.Dropped++
		return
	}
	if s.drop > 0 && s.rng.Float64() < s.drop {
		s.stats.Dropped++
		return
	}
	s.push(&event{at: s.now + s.delay(from, to), kind: evDeliver, to: to, from: from, msg: m})
	if s.dup > 0 && s.rng.Float64() < s.dup {
		s.push(&event{at: s.now + s.delay(from, to) + uint64(s.rng.IntN(10)), kind: evDeliver, to: to, from: from, msg: m})
	}
}

func (s *simulation) delay(from, to int) uint64 {
	d := uint64(1 + s.rng.IntN(3))
	if s.reorder > 0 && s.rng.Float64() < s.reorder {
		d += uint64(s.rng.IntN(15))
	}
	return d + s.replicas[to].slow + s.replicas[from].slow
}

// serveFetch answers a fetch at replica `at` from replica `for`: the block
// and up to 16 ancestors, oldest first, from the core or the ledger.
func (s *simulation) serveFetch(requester, at int, hash []byte) {
	r := s.replicas[at]
	if !r.up || (s.group != nil && s.group[at] != s.group[requester]) {
		return
	}
	var chain []*pb.Block
	for i := 0; i < 16 && hash != nil; i++ {
		b := r.drv.Core().Block(hash)
		if b == nil {
			b = r.ledger.block(hash)
		}
		if b == nil {
			break
		}
		chain = append(chain, b)
		h := decodeHeader(b.GetHeader())
		if h == nil || h.GetHeight() <= 1 {
			break
		}
		hash = h.GetParentHash()
	}
	// The answer is for the requester's core: its epoch, and the server's
	// index in that epoch's set (any index when it is not in it; a
	// fetched block is checked on its own).
	ep := s.replicas[requester].drv
	if ep == nil {
		return
	}
	epoch, sender := ep.Epoch().Start, uint32(0)
	for i := range ep.Epoch().Validators {
		if s.holder(requester, i) == at {
			sender = uint32(i)
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		s.net(at, requester, &pb.ConsensusMessage{Sender: sender, Epoch: epoch, Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{Block: chain[i]}}})
	}
}

// catchUp is the simulator's block sync: a replica that hears from a
// later epoch than its own (it missed the switch, or the old set's last
// blocks never reached it) takes the committed blocks, with their
// certificates, from a correct replica ahead of it, and restarts its
// driver on the longer ledger, as a node's block sync does. The ledger
// checks every certificate against the set in force at its height.
func (s *simulation) catchUp(r *replica) {
	var src *replica
	for _, x := range s.replicas {
		if x != r && x.up && s.correct(x) && x.ledger.height() > r.ledger.height() && (src == nil || x.ledger.height() > src.ledger.height()) {
			src = x
		}
	}
	if src == nil || (s.group != nil && s.group[src.id] != s.group[r.id]) {
		return
	}
	before := r.ledger.height()
	for r.ledger.height() < src.ledger.height() {
		h := r.ledger.height()
		if err := r.ledger.sync(src.ledger.synced[h:]); err != nil || r.ledger.height() == h {
			break
		}
	}
	if r.ledger.height() == before {
		return
	}
	s.stats.CatchUps++
	if s.opts.Trace != nil {
		fmt.Fprintf(s.opts.Trace, "t=%d catch-up %d: %d -> %d\n", s.now, r.id, before, r.ledger.height())
	}
	r.up, r.drv = false, nil
	s.start(r)
}

// sortedKeys is a helper for deterministic iteration.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
