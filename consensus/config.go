package consensus

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// FaultModel selects the quorum rule (ARCHITECTURE.md §4).
type FaultModel string

// The fault models a genesis may choose.
const (
	// Crash tolerates f = n - q crashed validators with q = ⌊n/2⌋+1.
	Crash FaultModel = "crash"
	// Byzantine tolerates f = ⌊(n-1)/3⌋ arbitrary validators with q = ⌊2n/3⌋+1.
	Byzantine FaultModel = "byzantine"
)

// Quorum returns q for n validators under the model (ARCHITECTURE.md §4 table).
func Quorum(model FaultModel, n int) int {
	if model == Byzantine {
		return 2*n/3 + 1
	}
	return n/2 + 1
}

// MaxFaulty returns f, the number of faulty validators the model tolerates:
// n - q for crash, ⌊(n-1)/3⌋ for byzantine. f+1 timeouts for a view prove
// that at least one correct validator gave up on it.
func MaxFaulty(model FaultModel, n int) int {
	if model == Byzantine {
		return (n - 1) / 3
	}
	return n - Quorum(model, n)
}

// Config is the consensus configuration of one replica. It is a plain value:
// the node fills it from genesis and its own key, Validate checks it, and the
// core never changes it.
//
// Validator-set changes: the set is fixed here for now. The core reads it only
// through Config.Validators, the quorum helpers and verifier, so a later change
// can swap in a per-height set (ARCHITECTURE.md §4 "Validator set change") by giving
// the verifier a set chosen by block height; nothing else holds on to indexes.
type Config struct {
	// ChainID goes into every sign bytes and every header.
	ChainID string
	// Suite is the chain's crypto suite: its hash names blocks and tx
	// roots, and every header names it (ARCHITECTURE.md §6, "Crypto
	// suites"). The zero value is ed25519-sha256.
	Suite crypto.Suite
	// GenesisHash is the hash of block 0; the genesis QC certifies it.
	GenesisHash []byte
	// Epoch is the first height Validators certify when they are not the
	// genesis set, 0 for the genesis set (ARCHITECTURE.md §4,
	// "Reconfiguration"). Its signatures are made over SignDomain(ChainID,
	// Epoch), so no vote, timeout or proposal of one epoch counts in
	// another.
	Epoch uint64
	// Root is the committed block an epoch starts above, at height
	// Epoch-1, as a QC position (view, height, block hash) with no
	// signatures: the core takes it as certified, as it takes the genesis
	// QC. Nil for the genesis set, whose root is the genesis QC.
	Root *pb.QuorumCert
	// Validators are the validator public keys; the index is the validator
	// index used in votes, QCs and headers.
	Validators []*pb.PublicKey
	// Self is this replica's validator index, or -1 for an observer that
	// follows commits without voting or proposing.
	Self int
	// FaultModel is Crash or Byzantine.
	FaultModel FaultModel

	// BaseTimeoutTicks is the view timeout after progress. Each view that
	// ends by timeout doubles it, up to MaxTimeoutTicks.
	BaseTimeoutTicks int
	MaxTimeoutTicks  int
	// HeartbeatTicks is how often an idle leader sends a heartbeat. It must
	// be below BaseTimeoutTicks.
	HeartbeatTicks int
	// FetchRetryTicks is how often a missing block is asked for again.
	FetchRetryTicks int

	// MaxBlockTxs and MaxTxBytes bound a proposal; MaxHeaderBytes bounds a
	// serialized header.
	MaxBlockTxs    int
	MaxTxBytes     int
	MaxHeaderBytes int
	// MaxFuturePerSender bounds the messages kept per sender for a view
	// above ours.
	MaxFuturePerSender int
	// MaxOrphans bounds the blocks kept while their parent is fetched.
	MaxOrphans int
	// VerifyCacheSize bounds the signature verification cache the core
	// makes when SigCache is nil.
	VerifyCacheSize int
	// SigCache, if set, is a verification cache shared with other
	// verifiers in the process (the gossip validator); nil gives the core
	// its own.
	SigCache *crypto.SigCache
	// RetainBlocks is how many committed blocks below the committed head the
	// core keeps in memory (to serve fetches); older ones are in the ledger.
	RetainBlocks int

	// bugs switches rules off for the broken-rule tests. It is unexported and
	// set only by export_test.go, so no production configuration reaches it.
	bugs *bugs
}

// bugs are test-only rule switches (see export_test.go). Field names are
// exported so the external test package can fill them through an alias.
type bugs struct {
	// SkipTCCheck votes for a view's first block without checking TC(v-1).
	SkipTCCheck bool
	// WeakTC forms and accepts TCs of q-1 timeouts.
	WeakTC bool
	// OneChainCommit commits a block as soon as it has a QC.
	OneChainCommit bool
	// ForgetSafety ignores the persisted safety state on restart.
	ForgetSafety bool
}

// DefaultConfig returns a Config with the default limits and timing; the
// caller fills ChainID, GenesisHash, Validators, Self and FaultModel.
func DefaultConfig() Config {
	return Config{
		Self:               -1,
		FaultModel:         Crash,
		BaseTimeoutTicks:   20,
		MaxTimeoutTicks:    160,
		HeartbeatTicks:     5,
		FetchRetryTicks:    10,
		MaxBlockTxs:        5000,
		MaxTxBytes:         64 << 10,
		MaxHeaderBytes:     2048,
		MaxFuturePerSender: 64,
		MaxOrphans:         512,
		VerifyCacheSize:    8192,
		RetainBlocks:       256,
	}
}

// ErrInvalidConfig wraps every Validate error.
var ErrInvalidConfig = errors.New("consensus: invalid config")

// Validate checks the configuration.
func (c *Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	if c.ChainID == "" {
		return bad("empty chain id")
	}
	if len(c.GenesisHash) != crypto.HashSize {
		return bad("genesis hash is %d bytes, want %d", len(c.GenesisHash), crypto.HashSize)
	}
	if (c.Epoch == 0) != (c.Root == nil) {
		return bad("epoch %d with root %v: an epoch after the genesis set needs its root block, and only it", c.Epoch, c.Root != nil)
	}
	if r := c.Root; r != nil {
		if r.GetHeight()+1 != c.Epoch || len(r.GetBlockHash()) != crypto.HashSize || len(r.GetSigs()) != 0 {
			return bad("epoch %d root at height %d with a %d-byte hash and %d signatures, want height %d, %d bytes, none",
				c.Epoch, r.GetHeight(), len(r.GetBlockHash()), len(r.GetSigs()), c.Epoch-1, crypto.HashSize)
		}
	}
	if len(c.Validators) == 0 {
		return bad("no validators")
	}
	if len(c.Validators) > 1<<16 {
		return bad("%d validators", len(c.Validators))
	}
	if !c.Suite.Valid() {
		return bad("unknown crypto suite %d", c.Suite)
	}
	for i, v := range c.Validators {
		if err := c.Suite.CheckKey(fmt.Sprintf("validator %d", i), v); err != nil {
			return bad("%v", err)
		}
	}
	if c.Self < -1 || c.Self >= len(c.Validators) {
		return bad("self %d out of range [-1, %d)", c.Self, len(c.Validators))
	}
	if c.FaultModel != Crash && c.FaultModel != Byzantine {
		return bad("fault model %q, want %q or %q", c.FaultModel, Crash, Byzantine)
	}
	if c.BaseTimeoutTicks < 2 || c.MaxTimeoutTicks < c.BaseTimeoutTicks {
		return bad("timeouts base %d max %d", c.BaseTimeoutTicks, c.MaxTimeoutTicks)
	}
	if c.HeartbeatTicks < 1 || c.HeartbeatTicks >= c.BaseTimeoutTicks {
		return bad("heartbeat %d ticks must be in [1, base timeout %d)", c.HeartbeatTicks, c.BaseTimeoutTicks)
	}
	for _, l := range []struct {
		name string
		v    int
	}{
		{"FetchRetryTicks", c.FetchRetryTicks}, {"MaxBlockTxs", c.MaxBlockTxs}, {"MaxTxBytes", c.MaxTxBytes},
		{"MaxHeaderBytes", c.MaxHeaderBytes}, {"MaxFuturePerSender", c.MaxFuturePerSender},
		{"MaxOrphans", c.MaxOrphans}, {"VerifyCacheSize", c.VerifyCacheSize}, {"RetainBlocks", c.RetainBlocks},
	} {
		if l.v < 1 {
			return bad("%s %d must be positive", l.name, l.v)
		}
	}
	return nil
}

// Epoch is a validator set and where it starts (ARCHITECTURE.md §4,
// "Reconfiguration"): the application reads it from committed state.
type Epoch struct {
	// Start is the first height the set certifies, 0 for the genesis set.
	Start uint64
	// Root is the committed block at Start-1 as a QC position, nil for the
	// genesis set.
	Root       *pb.QuorumCert
	Validators []*pb.PublicKey
	FaultModel FaultModel
}

// EpochOf is the epoch this config runs.
func (c *Config) EpochOf() Epoch {
	return Epoch{Start: c.Epoch, Root: c.Root, Validators: c.Validators, FaultModel: c.FaultModel}
}

// WithEpoch returns c running epoch e, as validator self (-1: observer).
func (c Config) WithEpoch(e Epoch, self int) Config {
	c.Epoch, c.Root, c.Validators, c.FaultModel, c.Self = e.Start, e.Root, e.Validators, e.FaultModel, self
	return c
}

// SignDomain is the domain consensus signatures of an epoch are made over:
// the chain id for the genesis set (epoch 0), the chain id and the epoch
// after it. A chain id holds no '@' (exec.ValidChainID), so no two epochs
// of any chains share a domain.
func SignDomain(chainID string, epoch uint64) string {
	if epoch == 0 {
		return chainID
	}
	return chainID + "@" + strconv.FormatUint(epoch, 10)
}

// Domain is SignDomain of this config's chain and epoch.
func (c *Config) Domain() string { return SignDomain(c.ChainID, c.Epoch) }

// RootQC is the QC the epoch starts from: Root, or the genesis QC.
func (c *Config) RootQC() *pb.QuorumCert {
	if c.Root != nil {
		return &pb.QuorumCert{View: c.Root.GetView(), Height: c.Root.GetHeight(), BlockHash: c.Root.GetBlockHash()}
	}
	return &pb.QuorumCert{View: 0, Height: 0, BlockHash: c.GenesisHash}
}

// quorum and faulty for this config.
func (c *Config) quorum() int { return Quorum(c.FaultModel, len(c.Validators)) }
func (c *Config) faulty() int { return MaxFaulty(c.FaultModel, len(c.Validators)) }

// Leader returns L(v) = v mod n.
func (c *Config) Leader(view uint64) int { return int(view % uint64(len(c.Validators))) }

func (c *Config) bug() bugs {
	if c.bugs == nil {
		return bugs{}
	}
	return *c.bugs
}
