package api

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/state"
	"github.com/govnode/govnode/ledger/store"
	"github.com/govnode/govnode/node/metrics"
	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Ledger is the committed chain the API reads (*store.Store): blocks,
// their certificates, results and events, the tx index, and the state with
// its proofs. It must be safe for concurrent use; a missing entry is
// store.ErrNotFound.
type Ledger interface {
	// Height is the highest committed height; false before genesis is
	// written.
	Height() (height uint64, ok bool)
	// BlockByHeight returns the hash and the encoded Block at height h.
	BlockByHeight(h uint64) (hash [32]byte, block []byte, err error)
	// CommitCert returns the encoded CommitCert of height h.
	CommitCert(h uint64) ([]byte, error)
	// BlockEvents returns the encoded events of block h that belong to no
	// tx (a StreamEventsResponse), nil if there are none.
	BlockEvents(h uint64) ([]byte, error)
	// Results returns the txs' results of block h, in block order.
	Results(h uint64) ([]store.TxResult, error)
	// TxByHash returns where the tx with hash was committed and its
	// encoded TxResult.
	TxByHash(hash [32]byte) (store.TxLocation, []byte, error)
	// Get reads key in the latest state (at Height).
	Get(key []byte) ([]byte, error)
	// GetWithProof reads key in the state after height h, with a proof of
	// its value or absence against StateRoot(h).
	GetWithProof(h uint64, key []byte) ([]byte, *state.Proof, error)
	// StateRoot is the root of the state after height h.
	StateRoot(h uint64) (state.Hash, error)
}

var _ Ledger = (*store.Store)(nil)

// Mempool is the mempool as the API sees it. It must be safe for
// concurrent use.
type Mempool interface {
	// Get returns the pending tx with hash, if the mempool holds it.
	Get(hash []byte) ([]byte, bool)
	// Size is the number of txs held and their bytes.
	Size() (txs, bytes int)
	// Dropped is why an admitted tx was dropped since (committed state
	// came to refuse it), if the mempool remembers.
	Dropped(hash []byte) (string, bool)
	// Reserve and Release are the backlog bound (mempool.Mempool.Reserve):
	// SubmitTx and SubmitTxs reserve room for their txs before decoding
	// any, and release it once the mempool has answered.
	Reserve(n int, now time.Time) (granted int, err error)
	Release(n int)
}

// Commits is the API's source of commit events (HeightNotifier).
type Commits interface {
	// Wait returns the committed height and a channel closed at the next
	// commit.
	Wait() (height uint64, changed <-chan struct{})
}

// Deps are what the API server reads and calls. All but PreSubmit are
// required; the funcs must be safe for concurrent use, since every request
// runs on its own goroutine.
type Deps struct {
	// What Status reports about the node itself.
	ChainID     string
	GenesisHash []byte
	FaultModel  string
	// Suite is the chain's crypto suite (its txs' hash, payload
	// commitments; Status names it).
	Suite   crypto.Suite
	Version string
	// Genesis is the chain's genesis document, which a proof bundle
	// carries (bundle.go); nil refuses GetRecordBundle.
	Genesis *pb.GenesisDoc
	// NodeID is this node's peer id now (a governed node-key rotation
	// changes it while the node runs).
	NodeID func() string
	// ValidatorIndex is this node's index in the validator set in force
	// now (governance changes it), -1 for an observer; nil is -1. It is
	// observer.
	ValidatorIndex func() int

	Ledger Ledger
	// State is the committed state as the state machine's queries read it
	// (exec.Identity, exec.Record, ...).
	State exec.Reader
	// Validators returns the current validator set.
	Validators func() *pb.ValidatorSet

	Mempool Mempool
	// Submit admits tx to the mempool and gossips it, returning its hash.
	// A refusal is the mempool's error (mempool.ErrMempoolFull, ...) or
	// wraps the checker's Refusal; submitErr maps each to its API code.
	Submit func(ctx context.Context, tx []byte) (hash []byte, err error)
	// PreSubmit is optional: the node's own check of a tx before Submit
	// (the node sets QuorumCheck.Check). Its error, a connect error, is
	// SubmitTx's answer, and the tx goes nowhere.
	PreSubmit func(tx []byte) error
	// Preverify is optional: verify the signatures of a SubmitTxs batch as
	// one signature batch into the cache admission reads (the node sets
	// the mempool fanout's), about half the cost per tx of one by one.
	Preverify func(txs [][]byte) []*exec.Tx

	// Consensus returns the consensus core's latest status, nil before
	// the core first reported.
	Consensus func() *consensus.Status
	// PendingUpgrade is the decided upgrade the chain halts for (nil:
	// none); optional.
	PendingUpgrade func() *pb.UpgradePlan
	// Syncing reports whether the node is catching up by block sync.
	Syncing func() bool
	// Peers lists the p2p host's peers.
	Peers func() []p2p.PeerInfo

	// Commits wakes waits for commit and event streams at each commit.
	Commits Commits
	// Done is closed when the node stops: waits and streams end.
	Done <-chan struct{}

	// Payloads keeps protected content beside the chain (node/payloads);
	// nil on a node that keeps none (an observer): SubmitTx with payloads
	// and reads of protected content are refused there.
	Payloads Payloads
	// Accesses is the identity the node puts access entries on chain
	// with (personal.go); nil on a node that has none (an observer).
	Accesses AccessSigner
	// CheckTx is the state machine's admission check of a tx against
	// committed state (signature, signer, nonce window, the action's
	// pre-checks), without admitting it; SubmitTx runs it before it
	// stores a protected payload, so a tx that will be refused stores
	// nothing. nil skips it (the mempool still checks the tx).
	CheckTx func(tx []byte) error
	// Logger logs refused reads of protected content; nil discards.
	Logger *slog.Logger

	Metrics *metrics.Metrics
}

// check names the parts that are missing.
func (d Deps) check() error {
	var missing []string
	for _, p := range []struct {
		name string
		nil  bool
	}{
		{"Ledger", d.Ledger == nil},
		{"State", d.State == nil},
		{"Validators", d.Validators == nil},
		{"Mempool", d.Mempool == nil},
		{"Submit", d.Submit == nil},
		{"Consensus", d.Consensus == nil},
		{"Syncing", d.Syncing == nil},
		{"Peers", d.Peers == nil},
		{"Commits", d.Commits == nil},
		{"Done", d.Done == nil},
		{"Metrics", d.Metrics == nil},
	} {
		if p.nil {
			missing = append(missing, p.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("api: Deps lacks %s; every part but the identity strings and PreSubmit is required", strings.Join(missing, ", "))
	}
	return nil
}
