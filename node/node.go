package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/driver"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/ledger/blockexec"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/store"
	"github.com/govnode/govnode/node/api"
	"github.com/govnode/govnode/node/blocksync"
	"github.com/govnode/govnode/node/byzantine"
	"github.com/govnode/govnode/node/evidence"
	"github.com/govnode/govnode/node/home"
	"github.com/govnode/govnode/node/mempool"
	"github.com/govnode/govnode/node/metrics"
	"github.com/govnode/govnode/node/payloads"
	"github.com/govnode/govnode/node/portal"
	"github.com/govnode/govnode/node/transport"
	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// tickInterval is the wall-clock length of one consensus tick; the chain's
// timeouts (in milliseconds) are converted to ticks with it.
const tickInterval = 10 * time.Millisecond

// ErrMissingState: the node ran in this home before, but its ledger or
// consensus safety state is gone (node/home); New refuses to start without
// Options.RecoverMissingState.
var ErrMissingState = home.ErrMissingState

// Options are what New needs besides the config file.
type Options struct {
	// Config is the node's configuration (LoadConfig, then flags).
	Config *Config
	// GenesisFile overrides Config.GenesisFile when set.
	GenesisFile string
	// Genesis, when set, is used instead of reading a file (the embedded
	// development genesis).
	Genesis *pb.GenesisDoc
	// Passphrase decrypts encrypted key files.
	Passphrase string
	// Logger; nil logs nothing.
	Logger *slog.Logger
	// Version is reported by Status.
	Version string
	// Clock is the node's time source; nil is the wall clock shifted by
	// ClockOffset.
	Clock blockexec.Clock
	// ClockOffset shifts every wall-clock reading the node stamps or checks
	// block times with (monotonic timers are unaffected). It is for tests
	// of clock skew only: `govnode start` takes it from
	// $GOVNODE_TEST_CLOCK_OFFSET.
	ClockOffset time.Duration
	// Byzantine lists fault behaviours, comma-separated ($GOVNODE_BYZANTINE:
	// equivocate, doublevote, badsig, garbage, all). Only a binary built
	// with the byzantine tag honours it (node/byzantine); the default build
	// warns and ignores it.
	Byzantine string
	// RecoverMissingState starts a node whose home ran before but whose
	// ledger or consensus safety state is missing (home.go), which New
	// otherwise refuses with ErrMissingState. It is an option, not a config
	// key: `govnode start --recover-missing-state` accepts one such start,
	// and a setting kept in config.toml would silence the check for good.
	RecoverMissingState bool
	// KnownUpgrades are the governed upgrades this binary implements (every
	// one up to its release; ARCHITECTURE.md §5, "Upgrades"): the node
	// stops at the halt height of any other (blockexec.UpgradeHalt).
	KnownUpgrades []string
}

// Node is a running govnode: ledger, state machine, mempool, p2p,
// consensus driver, API and metrics.
type Node struct {
	cfg         *Config
	log         *slog.Logger
	version     string
	genesis     *pb.GenesisDoc
	genesisHash []byte
	// suite is the chain's crypto suite, the genesis's (ARCHITECTURE.md
	// §6, "Crypto suites"): every part that hashes chain data takes it.
	suite   crypto.Suite
	metrics *metrics.Metrics

	store   *store.Store
	exec    *exec.Executor
	app     *blockexec.Executor
	commits *api.HeightNotifier // the committed height, moved by n.app
	mempool *mempool.Mempool
	fanout  *mempool.Fanout
	sigs    *transport.TxSigCache
	known   *exec.Known // txs decoded at admission

	host     *hostSlot // the p2p host; replaced at a node-key rotation (rekey.go)
	pcfg     p2p.Config
	nodeKeys nodeKeys
	rekey    chan struct{} // followSet asks runRekeys to check the identity in force
	// members is the last membership given to p2p (followMembers), for a
	// host that replaces the running one; under membersMu.
	members *membership
	// blockSource and consensusCheck are what every host the node runs
	// is built with (hostOptions).
	blockSource    p2p.BlockSource
	consensusCheck p2p.ConsensusCheck
	sync           *blocksync.Syncer
	transport      *transport.Transport
	consCfg        consensus.Config
	// checkSet is the validator set received consensus messages are
	// checked against (p2p's direct protocol), with its epoch: the set in
	// force above the ledger's head, swapped whole when a governed change
	// takes effect.
	checkSet atomic.Pointer[checkEpoch]
	signer   crypto.PrivateKey // nil for an observer
	// pendingKeys are validator keys put in place for a governed key
	// rotation: the driver signs with the one the set in force names.
	pendingKeys []crypto.PrivateKey
	membersMu   sync.Mutex // serialises followMembers, followSet's set swap and switchIdentity
	self        int
	safety      driver.SafetyStore
	evidence    *evidence.Pool // nil for an observer
	// payloadStore and payloads keep protected content beside the chain
	// (node/payloads, ARCHITECTURE.md §5 "Erasing personal data").
	payloadStore *payloads.Store
	payloads     *payloads.Manager
	byz          byzantine.Hook // byzantine.Honest{} but in a byzantine test build

	api       *api.Server
	listeners *api.Listeners // bound in New, served by Run
	portal    *portal.Server // nil unless portal.listen_addr is set

	status  atomic.Pointer[consensus.Status]
	syncing atomic.Bool

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// New opens the ledger, checks the genesis, starts the p2p host and binds
// the API. Run starts consensus and serving; Close stops everything.
func New(ctx context.Context, o Options) (_ *Node, err error) {
	if o.Config == nil {
		return nil, errors.New("node: no config")
	}
	cfg := o.Config
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clock := o.Clock
	if clock == nil {
		// The one place the node's wall clock is made: block times are
		// stamped and checked with it (ledger/blockexec), nothing else reads
		// the wall clock for a timestamp.
		clock = blockexec.WallClock{Offset: o.ClockOffset}
		if o.ClockOffset != 0 {
			log.Warn("test clock offset: this node's wall clock is shifted", "offset", o.ClockOffset.String())
		}
	}
	n := &Node{cfg: cfg, log: log, version: o.Version, metrics: metrics.New(), done: make(chan struct{}), self: -1, byz: byzantine.Honest{}}
	var created []string // what this call made on disk, removed if it fails
	defer func() {
		if err != nil {
			n.closeParts()
			for i := len(created) - 1; i >= 0; i-- {
				_ = os.RemoveAll(created[i])
			}
		}
	}()

	// Genesis.
	doc := o.Genesis
	if doc == nil {
		path := o.GenesisFile
		if path == "" {
			path = cfg.ResolvePath(cfg.GenesisFile)
		}
		if doc, err = genesis.Load(path); err != nil {
			return nil, fmt.Errorf("genesis %s: %w", path, err)
		}
	}
	warnings, err := genesis.Validate(doc)
	if err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	for _, w := range warnings {
		log.Warn("genesis", "warning", w.String())
	}
	if n.suite, err = genesis.Suite(doc); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	if n.genesisHash, err = genesis.Hash(doc); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	n.genesis = doc

	// Ledger.
	dataDir := cfg.ResolvePath(cfg.DataDir)
	if err := home.MigrateSafetyFile(dataDir); err != nil {
		return nil, err
	}
	hc, err := home.CheckHome(cfg.ResolvePath(home.MarkerName), dataDir, n.genesisHash, o.RecoverMissingState, log)
	if err != nil {
		return nil, err
	}
	for _, p := range []string{dataDir, filepath.Join(dataDir, home.LedgerDir), filepath.Join(dataDir, home.GenesisMarker)} {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			created = append(created, p)
		}
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := home.CheckGenesisMarker(dataDir, n.genesisHash); err != nil {
		return nil, err
	}
	// The marker goes first: a ledger never exists without the genesis it
	// belongs to written beside it.
	if err := home.WriteGenesisMarker(dataDir, n.genesisHash); err != nil {
		return nil, err
	}
	if n.payloadStore, err = payloads.OpenStore(filepath.Join(dataDir, home.PayloadsDir), payloads.StoreOptions{Suite: n.suite}); err != nil {
		return nil, err
	}
	sopts := store.DefaultOptions()
	sopts.Suite = n.suite
	if n.store, err = store.Open(filepath.Join(dataDir, home.LedgerDir), sopts); err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	n.sigs = transport.NewTxSigCache(1 << 16)
	ecfg := exec.DefaultConfig(doc.GetChainId())
	ecfg.Suite = n.suite
	ecfg.SigCache = n.sigs
	// Each tx is decoded once, at admission; the executor, the mempool
	// and the transport share the facts (ARCHITECTURE.md §2).
	n.known = exec.NewKnown(n.suite)
	ecfg.Known = n.known
	if n.exec, err = exec.New(ecfg); err != nil {
		return nil, err
	}
	if _, ok := n.store.Height(); !ok {
		changes, err := n.exec.InitGenesis(doc)
		if err != nil {
			return nil, fmt.Errorf("genesis state: %w", err)
		}
		if err := n.store.InitGenesis(changes); err != nil {
			return nil, fmt.Errorf("write genesis state: %w", err)
		}
	}
	if n.app, err = blockexec.New(doc.GetChainId(), n.store, n.exec, clock, log.With("part", "ledger"), n.metrics.Ledger()); err != nil {
		return nil, err
	}
	if err := n.app.SetKnownUpgrades(o.KnownUpgrades); err != nil {
		return nil, err
	}
	// The API's waiters wake at each commit, whether consensus or block
	// sync brought the block.
	head, _ := n.store.Height()
	n.commits = api.NewHeightNotifier(head)
	// The payload manager (made below, before anything commits) takes the
	// block's events from memory first, so that it finds them when the
	// notifier wakes it.
	n.app.OnCommit(func(c *blockexec.CommittedInfo) {
		if n.payloads != nil {
			n.payloads.Committed(c.Height, c.Events)
		}
		n.commits.Set(c.Height)
	})
	mcfg := cfg.Mempool.MempoolConfig()
	mcfg.Suite = n.suite
	if n.mempool, err = mempool.New(mcfg, txChecker{ledger: n.app, state: blockexec.StateReader(n.store), now: n.app.Now}, n.known); err != nil {
		return nil, fmt.Errorf("mempool: %w", err)
	}
	n.metrics.Registry.MustRegister(mempool.NewCollector(n.mempool.Stats))
	n.fanout = &mempool.Fanout{
		Pool: n.mempool,
		// The host and the fault hook are made below; the fanout only
		// runs once they are.
		Host: txSender(func(tx []byte) error { return n.host.SendTx(tx) }),
		// A peer's batch is verified as one signature batch, into the
		// cache admission reads (ARCHITECTURE.md §3 step 4).
		Preverify: func(txs [][]byte) []*exec.Tx {
			facts, err := n.exec.PreverifyTxs(blockexec.StateReader(n.store), txs)
			if err != nil {
				log.Debug("verify a tx batch's signatures ahead", "err", err)
			}
			return facts
		},
		Submitted: func() {
			txs, bytes := n.mempool.Size()
			n.metrics.MempoolTxs.Set(float64(txs))
			n.metrics.MempoolBytes.Set(float64(bytes))
		},
		Sent: func(tx []byte) { n.byz.TxSent(tx) },
		Log:  log,
	}

	// Keys. A key file others may read is a warning, not a refusal (see
	// keystore.CheckPerm).
	nodeKey, nodeKeyInfo, err := keystore.LoadWithInfo(cfg.ResolvePath(cfg.NodeKeyFile), o.Passphrase)
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	warnKeyPerm(log, "node_key_file", nodeKeyInfo)
	// A node key put in place for a governed rotation: the node takes it
	// as its identity from the height the set in force names its peer id.
	pendingNode, err := home.PendingNodeKey(cfg.ResolvePath(cfg.NodeKeyFile), o.Passphrase)
	if err != nil {
		return nil, fmt.Errorf("pending node key: %w", err)
	}
	if n.nodeKeys, err = loadNodeKeys(nodeKey, pendingNode); err != nil {
		return nil, err
	}
	n.rekey = make(chan struct{}, 1)
	if cfg.ValidatorKeyFile != "" {
		var info *keystore.Info
		if n.signer, info, err = keystore.LoadWithInfo(cfg.ResolvePath(cfg.ValidatorKeyFile), o.Passphrase); err != nil {
			return nil, fmt.Errorf("validator key: %w", err)
		}
		warnKeyPerm(log, "validator_key_file", info)
		// A key put in place for a governed rotation: the driver signs
		// with it from the height the set in force names it.
		pk, err := home.PendingConsensusKey(cfg.ResolvePath(cfg.ValidatorKeyFile), o.Passphrase)
		if err != nil {
			return nil, fmt.Errorf("pending validator key: %w", err)
		}
		if pk != nil {
			n.pendingKeys = append(n.pendingKeys, pk)
			log.Info("pending validator key loaded", "key", fmt.Sprintf("%x", pk.Public().GetKey()))
		}
	}

	// Consensus configuration from genesis and state.
	vs, _ := n.app.Validators()
	keys := make([]*pb.PublicKey, len(vs.GetValidators()))
	for i, v := range vs.GetValidators() {
		keys[i] = v.GetConsensusKey()
		if n.signer != nil && crypto.PublicKeyEqual(v.GetConsensusKey(), n.signer.Public()) {
			n.self = i
		}
	}
	if n.signer != nil && n.self < 0 {
		// A department whose addition is still to take effect starts its
		// node before it: it follows by block sync and joins consensus
		// when the set in force names its key (runConsensus).
		log.Warn("validator key is not in the validator set in force: following as an observer until it is", "key", fmt.Sprintf("%x", n.signer.Public().GetKey()))
	}
	n.consCfg = consensusConfig(doc, n.app.Params(), n.genesisHash, keys, n.self)
	// One cache for consensus signatures, shared by p2p's check of
	// received consensus messages and the core: a proposal's or vote's
	// signature that p2p checked on arrival is not checked again when the
	// core steps it.
	n.consCfg.SigCache = crypto.NewSigCache(n.consCfg.VerifyCacheSize)
	if err := n.consCfg.Validate(); err != nil {
		return nil, fmt.Errorf("consensus config: %w", err)
	}
	n.safety = driver.NewFileSafetyStore(filepath.Join(dataDir, home.SafetyFile))
	if err := hc.InitSafety(n.safety, dataDir, n.signer != nil); err != nil {
		return nil, err
	}
	if hc.SafetyLost && n.signer != nil {
		n.safety = &home.RecoveringSafety{Inner: n.safety, Floor: n.recoveryView, Log: log.With("part", "consensus")}
	}

	// P2P.
	lkey := n.nodeKeys.inForce(vs)
	if lkey == nil {
		lkey = n.nodeKeys.current
	}
	if lkey == n.nodeKeys.pending {
		log.Info("the rotated node key is in force: the pending node key is this node's identity")
	} else if n.nodeKeys.pending != nil {
		log.Info("pending node key loaded: it becomes this node's identity at the height the validator set in force names its peer id")
	}
	self, err := peer.IDFromPrivateKey(lkey)
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	pcfg, err := p2p.ConfigFor(p2p.Setup{
		// p2p bounds frames by the ceilings no params exceed, not the
		// params of the day: governance may raise max_tx_bytes or
		// max_block_bytes while the node runs, and the mempool and
		// ValidateBlock apply the params in force (ARCHITECTURE.md §5).
		ChainID: doc.GetChainId(), Validators: vs,
		Params:      &pb.Params{MaxTxBytes: exec.MaxMaxTxBytes, MaxBlockBytes: exec.MaxMaxBlockBytes},
		ListenAddrs: cfg.P2P.ListenAddrs, ExternalAddrs: cfg.P2P.ExternalAddrs,
		PersistentPeers: cfg.P2P.PersistentPeers, Observers: cfg.P2P.Observers, Self: self,
		Skipped: func(p string) {
			log.Warn("p2p.persistent_peers names a node that is not a validator in force (removed by governance, or not yet added): not dialed", "peer", p)
		},
	})
	if err != nil {
		return nil, err
	}
	pcfg.Suite = n.suite
	pvs, err := p2p.NewValidatorSet(keys)
	if err != nil {
		return nil, err
	}
	ep, _ := n.app.Epoch()
	n.checkSet.Store(&checkEpoch{epoch: ep.Start, vs: pvs})
	src, err := transport.NewBlockSource(transport.SourceDeps{
		ChainID: doc.GetChainId(), GenesisHash: n.genesisHash, Ledger: n.store, Pool: n.mempool, Done: n.done,
		View: func() uint64 {
			if cs := n.status.Load(); cs != nil {
				return cs.View
			}
			return 0
		},
	})
	if err != nil {
		return nil, err
	}
	n.pcfg = pcfg
	n.blockSource = src
	n.consensusCheck = func(_ *p2p.ValidatorSet, m *pb.ConsensusMessage) error {
		// The set and its epoch, read together (they change together).
		g := n.checkSet.Load()
		err := consensus.CheckSender(doc.GetChainId(), n.suite, g.epoch, g.vs, n.consCfg.SigCache, m)
		if errors.Is(err, consensus.ErrOtherEpoch) {
			// Another validator set's message proves nothing against
			// the relaying peer.
			return fmt.Errorf("%w: %v", p2p.ErrIgnore, err)
		}
		return err
	}
	h, err := p2p.New(ctx, pcfg, n.hostOptions(lkey, pvs)...)
	if err != nil {
		return nil, fmt.Errorf("p2p: %w", err)
	}
	n.host = newHostSlot(h)
	if n.sync, err = blocksync.New(blocksync.Config{
		Consensus: n.consCfg, Epoch: n.app.Epoch, Peers: n.host, Ledger: n.store, Commit: n.app.Commit,
		Committed: func(cbs []consensus.CommittedBlock) { n.mempool.Update(mempool.CommittedTxsOf(n.known, cbs)) },
		Synced:    n.metrics.SyncedBlocks, Logger: log.With("part", "sync"),
	}); err != nil {
		return nil, err
	}
	if n.signer != nil {
		if n.evidence, err = evidence.New(evidence.Deps{
			ChainID: doc.GetChainId(), Keys: append([]crypto.PrivateKey{n.signer}, n.pendingKeys...),
			Validators: func() *pb.ValidatorSet { vs, _ := n.app.Validators(); return vs },
			State:      blockexec.StateReader(n.store), Submit: n.fanout.Submit, WaitForTx: n.waitForTx,
			Logger: log,
		}); err != nil {
			return nil, err
		}
	}
	if n.byz, err = byzantine.New(o.Byzantine, byzantine.Deps{
		ChainID: n.consCfg.ChainID, Signer: n.signer, Self: n.self, Host: n.host, Logger: log,
	}); err != nil {
		return nil, fmt.Errorf("byzantine behaviours: %w", err)
	}
	if n.transport, err = transport.New(transport.Config{Suite: n.suite, MaxTxHashes: pcfg.MaxTxHashesPerRequest, MaxBlockTxs: n.consCfg.MaxBlockTxs}, transport.Deps{
		Host: n.host, Source: src, Pool: n.mempool, CheckTxs: func(b *pb.Block, hdr *pb.Header) error { return blockexec.CheckBlockTxs(n.suite, b, hdr) }, Known: n.known, Faults: n.byz,
		Epoch:      func() uint64 { ep, _ := n.app.Epoch(); return ep.Start },
		Validators: func() *pb.ValidatorSet { vs, _ := n.app.Validators(); return vs },
		Metrics:    n.metrics, Logger: log, Done: n.done, WG: &n.wg,
	}); err != nil {
		return nil, err
	}
	n.metrics.Registry.MustRegister(metrics.NewP2PCollector(n.host.Stats, n.host.Peers))
	n.app.OnEpoch(n.followSet)
	// Observers admitted or removed by governance take effect at the
	// block that decides them.
	n.app.OnCommit(func(c *blockexec.CommittedInfo) {
		// Only a block that changed the observers reads them: no state
		// scan on every commit.
		changed := false
		for _, ev := range c.Events {
			if a := ev.GetGovernance().GetAction(); a == "observer_added" || a == "observer_removed" {
				changed = true
			}
		}
		if changed {
			vs, _ := n.app.Validators()
			n.followMembers(vs)
		}
	})
	vs0, _ := n.app.Validators()
	n.followMembers(vs0) // the observers in state at start

	if n.payloads, err = payloads.New(payloads.Deps{
		Store: n.payloadStore, State: blockexec.StateReader(n.store), Ledger: n.store, Commits: n.commits,
		Fetch: n.fetchPayloads, Member: func() bool { return n.validatorIndex() >= 0 }, Logger: log.With("part", "payloads"),
	}); err != nil {
		return nil, err
	}
	registerPayloadMetrics(n.metrics.Registry, n.payloads)

	// API, metrics and pprof listeners (node/api).
	if n.api, err = api.New(api.Deps{
		ChainID: doc.GetChainId(), GenesisHash: n.genesisHash, FaultModel: doc.GetFaultModel(), Suite: n.suite, Version: o.Version, Genesis: doc,
		NodeID: func() string { return n.host.ID().String() }, ValidatorIndex: n.validatorIndex,
		Ledger: n.store, State: blockexec.StateReader(n.store),
		Validators: func() *pb.ValidatorSet { vs, _ := n.app.Validators(); return vs },
		Mempool:    n.mempool, Submit: n.fanout.Submit,
		Preverify: n.fanout.Preverify,
		// The quorum-safety pre-check of validator-set proposals
		// (ARCHITECTURE.md §5): the node supplies who is live.
		PreSubmit: api.QuorumCheck{Ledger: n.store, State: blockexec.StateReader(n.store), Suite: n.suite,
			Admit: func(tx *exec.Tx) error { _, err := n.app.CheckTx(tx); return err }}.Check,
		Consensus: n.status.Load, Syncing: n.syncing.Load, Peers: n.host.Peers, PendingUpgrade: n.app.PendingUpgrade,
		Commits: n.commits, Done: n.done, Metrics: n.metrics,
		Payloads: n.payloads, Accesses: n.accessSigner(), Logger: log.With("part", "api"),
		CheckTx: func(raw []byte) error { _, err := n.app.CheckTx(exec.NewTx(n.suite, raw)); return err },
	}); err != nil {
		return nil, err
	}
	n.metrics.Registry.MustRegister(n.api.ReadinessCollector())
	tlsCfg, err := cfg.LoadTLS(time.Now())
	if err != nil {
		return nil, err
	}
	if n.listeners, err = api.Listen(cfg.listenConfig(tlsCfg), n.api, log); err != nil {
		return nil, err
	}
	if err := n.listenPortal(tlsCfg); err != nil {
		return nil, err
	}
	// Last: the marker says the home ran a node, which only a New that
	// went through may say.
	if err := hc.Record(dataDir, n.genesisHash, n.signer != nil); err != nil {
		return nil, err
	}
	h0, _ := n.store.Height()
	n.log.Info("node ready", "chain_id", doc.GetChainId(), "height", h0, "validator_index", n.self,
		"peer_id", n.host.ID().String(), "api", n.listeners.APIAddr())
	return n, nil
}

// checkEpoch is a validator set for p2p's consensus check and its epoch.
type checkEpoch struct {
	epoch uint64
	vs    *p2p.ValidatorSet
}

// followSet moves the node's consensus-message check and p2p allow-list to the set in
// force after a governed change (blockexec.Executor.OnEpoch).
func (n *Node) followSet(ep consensus.Epoch, vs *pb.ValidatorSet) {
	pvs, err := p2p.NewValidatorSet(ep.Validators)
	if err != nil {
		n.log.Error("validator set in force is not usable by p2p", "epoch", ep.Start, "err", err)
		return
	}
	// Under membersMu, so that a host replacing the running one
	// (switchIdentity) starts from this set or is given it.
	n.membersMu.Lock()
	n.checkSet.Store(&checkEpoch{epoch: ep.Start, vs: pvs})
	if err := n.host.SetValidatorSet(pvs); err != nil {
		n.log.Error("p2p validator set", "err", err)
	}
	n.membersMu.Unlock()
	// The allow-list follows: the new set's nodes are admitted and
	// dialed, a removed department's disconnected and refused.
	n.followMembers(vs)
	if n.nodeKeys.pending != nil {
		// A node-key rotation may take effect with this set.
		select {
		case n.rekey <- struct{}{}:
		default:
		}
	}
	n.log.Info("following the validator set in force", "epoch", ep.Start, "validators", len(vs.GetValidators()), "fault_model", vs.GetFaultModel())
}

// followMembers gives p2p the membership of committed state: the nodes of
// validator set vs, and the observers governance admitted
// (exec.Observers); the static p2p.observers of the config stay admitted
// besides (p2p.Host.SetMembership).
func (n *Node) followMembers(vs *pb.ValidatorSet) {
	n.membersMu.Lock()
	defer n.membersMu.Unlock()
	obs, err := exec.Observers(blockexec.StateReader(n.store))
	if err != nil {
		n.log.Error("read the observers in state", "err", err)
		return
	}
	var ids []peer.ID
	for _, o := range obs {
		id, err := peer.Decode(o)
		if err != nil {
			n.log.Error("observer in state is not a peer id", "observer", o, "err", err)
			continue
		}
		ids = append(ids, id)
	}
	members, err := p2p.MembersOf(vs)
	if err == nil {
		err = n.host.SetMembership(members, ids)
	}
	if err != nil {
		n.log.Error("p2p membership of the committed state", "err", err)
		return
	}
	n.members = &membership{members: members, observers: ids}
}

// membership is one SetMembership call's arguments.
type membership struct {
	members   []p2p.Member
	observers []peer.ID
}

// hostOptions are the options of the node's p2p host with identity key,
// checking received consensus messages against vs, and extra.
func (n *Node) hostOptions(key lcrypto.PrivKey, vs *p2p.ValidatorSet, extra ...p2p.Option) []p2p.Option {
	return append([]p2p.Option{
		p2p.WithIdentity(key),
		p2p.WithLogger(n.log.With("part", "p2p")),
		p2p.WithValidatorSet(vs),
		// p2p authenticates consensus messages with the consensus
		// package's own rule, through the cache the core reads too, so a
		// signature checked on arrival is a cache hit in the core.
		p2p.WithConsensusCheck(n.consensusCheck),
		p2p.WithTxValidator(n.fanout.AdmitBatch),
		p2p.WithBlockSource(n.blockSource),
		p2p.WithPayloadSource(payloadSource{n}),
	}, extra...)
}

// timeoutTicks converts the chain's timeout parameters into the core's
// ticks, with floors that keep the core's rules (2 <= base <= max,
// 1 <= heartbeat < base). The node applies them at start and, through the
// driver (driver.Timing), whenever governance changes them.
func timeoutTicks(params *pb.Params) (base, maxT, heartbeat int) {
	ticks := func(ms uint64, floor int) int {
		t := int(time.Duration(ms) * time.Millisecond / tickInterval)
		return max(t, floor)
	}
	base = ticks(params.GetProposeTimeoutMs(), 10)
	maxT = max(ticks(params.GetMaxViewTimeoutMs(), 10), base)
	heartbeat = max(min(ticks(params.GetHeartbeatIntervalMs(), 1), base/2), 1)
	return base, maxT, heartbeat
}

// timedExecutor is the block executor as the consensus driver sees it,
// with the timeouts of committed state (driver.Timing).
type timedExecutor struct{ *blockexec.Executor }

func (e timedExecutor) Timeouts() (base, maxT, heartbeat int) { return timeoutTicks(e.Params()) }

// consensusConfig derives the consensus configuration from genesis and the
// chain parameters (its timeouts from params; the driver follows later
// changes of them, see timedExecutor).
func consensusConfig(doc *pb.GenesisDoc, params *pb.Params, genesisHash []byte, keys []*pb.PublicKey, self int) consensus.Config {
	c := consensus.DefaultConfig()
	c.ChainID = doc.GetChainId()
	c.Suite, _ = genesis.Suite(doc) // Validate has refused an unknown suite
	c.GenesisHash = genesisHash
	c.Validators = keys
	c.Self = self
	c.FaultModel = consensus.FaultModel(doc.GetFaultModel())
	c.BaseTimeoutTicks, c.MaxTimeoutTicks, c.HeartbeatTicks = timeoutTicks(params)
	// The core's own size limits are fixed while it runs, and governance
	// changes the chain's: set them to the ceilings no params can exceed,
	// so that the application's check against the params in force at each
	// block's state_height decides (ARCHITECTURE.md §5), not the params
	// this node happened to start with. The leader reaps within those
	// params too (mempool.ForDriver).
	c.MaxBlockTxs = exec.MaxMaxBlockTxs
	c.MaxTxBytes = exec.MaxMaxTxBytes
	return c
}

// The block executor's refusal of a tx carries the state machine's code,
// which picks the API's answer to SubmitTx.
var _ api.Refusal = (*blockexec.TxRefusal)(nil)

// waitForTx waits until the tx with hash is committed or ctx ends (the
// API's wait, which the evidence pool uses too).
func (n *Node) waitForTx(ctx context.Context, hash []byte) (store.TxLocation, *pb.TxResult, error) {
	return n.api.WaitForTx(ctx, hash)
}

// APIAddr is the address the API listens on.
func (n *Node) APIAddr() string { return n.listeners.APIAddr() }

// PeerID is the node's libp2p id.
func (n *Node) PeerID() peer.ID { return n.host.ID() }

// Run serves the API and runs consensus and block sync until ctx ends or a
// part fails. It then stops everything (Close).
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // Close while Run runs stops it too.
		select {
		case <-n.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	errc := make(chan error, 8) // one per sender at most: the listeners, the portal, rekeys, consensus, the upgrade watch
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.listeners.Serve(func(err error) { errc <- err })
	}()
	if n.portal != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.portal.Serve(); err != nil {
				errc <- err
			}
		}()
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.transport.Run(ctx)
	}()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.fanout.Run(ctx)
	}()
	if n.evidence != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.evidence.Run(ctx)
		}()
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.payloads.Run(ctx)
	}()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.byz.Run(ctx)
	}()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.runRekeys(ctx); err != nil {
			errc <- err
		}
	}()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.runConsensus(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- err
		}
	}()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		height := func() uint64 { h, _ := n.store.Height(); return h }
		if err := watchUpgradeHalt(ctx, upgradeHaltGrace, height, n.app.AtUnknownHalt); err != nil {
			errc <- err
		}
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if errors.Is(err, blockexec.ErrUpgradeHalt) {
			n.log.Warn("node stopping for an upgrade", "err", err)
		} else {
			n.log.Error("node stopping", "err", err)
		}
	}
	cancel()
	// A failure to close (the ledger's, say) is never lost behind the
	// error that stopped the node: govnode start exits 0 at an upgrade
	// halt only when nothing else failed.
	if cerr := n.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return err
}

// Close stops the servers, the p2p host and the ledger. It waits for the
// consensus loop to finish the block in hand before closing the ledger.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		close(n.done)
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if n.listeners != nil {
			n.listeners.Shutdown(sctx)
		}
		if n.portal != nil {
			n.portal.Shutdown(sctx)
		}
		if n.host != nil {
			_ = n.host.Close()
		}
		n.wg.Wait()
		err = n.closeParts()
	})
	return err
}

func (n *Node) closeParts() error {
	var errs []error
	// Listeners New bound and Run never served.
	if n.listeners != nil {
		n.listeners.Close()
	}
	if n.portal != nil {
		n.portal.Close()
	}
	if n.host != nil {
		_ = n.host.Close()
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
		n.store = nil
	}
	if n.payloadStore != nil {
		errs = append(errs, n.payloadStore.Close())
		n.payloadStore = nil
	}
	return errors.Join(errs...)
}

// txSender adapts a function to mempool.Sender.
type txSender func(tx []byte) error

func (f txSender) SendTx(tx []byte) error { return f(tx) }

// The block executor's refusal is what the mempool's fanout reads the
// state machine's code from.
var _ mempool.Refusal = (*blockexec.TxRefusal)(nil)

// validatorIndex is this node's index in the validator set in force, by
// its key or a pending key the set names; -1 when it is not a validator.
func (n *Node) validatorIndex() int {
	if n.signer == nil {
		return -1
	}
	vs, _ := n.app.Validators()
	for i, v := range vs.GetValidators() {
		for _, k := range append([]crypto.PrivateKey{n.signer}, n.pendingKeys...) {
			if crypto.PublicKeyEqual(v.GetConsensusKey(), k.Public()) {
				return i
			}
		}
	}
	return -1
}

// upgradeHaltGrace is how long a node that has committed exactly the halt
// height of an upgrade its binary does not know waits for the block above
// it before it stops anyway (watchUpgradeHalt).
const upgradeHaltGrace = 5 * time.Second

// watchUpgradeHalt stops the node at the halt height of an upgrade its
// binary does not know when the block above it never commits here: the
// others stop when it commits (blockexec.Commit refuses to execute it),
// and a node that lagged a step behind them would otherwise wait at the
// halt height for good, connected to nobody. It returns the
// blockexec.UpgradeHalt once the ledger has stood at the halt height for
// grace, nil when ctx ends.
func watchUpgradeHalt(ctx context.Context, grace time.Duration, height func() uint64, atHalt func() error) error {
	t := time.NewTicker(min(grace/4, 500*time.Millisecond))
	defer t.Stop()
	last, since := uint64(0), time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		h := height()
		if h != last {
			last, since = h, time.Now()
			continue
		}
		if time.Since(since) < grace {
			continue
		}
		if err := atHalt(); err != nil {
			return err
		}
	}
}
