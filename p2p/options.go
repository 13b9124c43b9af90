package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// ErrIgnore marks a message that is not provably bad but is not taken:
// stale (an old view, a known nonce) or a duplicate. A TxValidator or
// ConsensusCheck wraps it (fmt.Errorf("nonce %d used: %w", n, p2p.ErrIgnore))
// to keep the sender from being penalised; any other error rejects the
// message, counts against the peer's score and resets its stream.
var ErrIgnore = errors.New("p2p: ignore message")

// TxValidator is the node's check of a batch of transactions a peer sent
// (the mempool's admission: decode, size, chain id, signature and nonce
// checks, ARCHITECTURE.md §3). txs are serialized SignedTxs, each within
// Config.MaxTxBytes, in the order sent; it returns one verdict per tx, in
// order (nil: admitted). The callee may keep the slices, which p2p does
// not modify. It runs on the stream's handler goroutine, one batch at a
// time per stream but concurrently across streams, and must not block on
// the consensus loop.
type TxValidator func(ctx context.Context, txs [][]byte) []error

// ConsensusCheck authenticates a received consensus message that p2p has
// bounded and decoded: the node passes consensus.CheckSender, the one
// definition of "signed by its sender", against vs, the validator set p2p
// holds now. An error wrapping ErrIgnore ignores the message, any other
// rejects it. It runs on the stream handlers' goroutines, concurrently;
// the message is shared: do not modify it.
type ConsensusCheck func(vs *ValidatorSet, msg *pb.ConsensusMessage) error

// BlockSource serves block sync. Implementations are safe for concurrent
// use; returned values are not modified by p2p and must not be modified by
// the source afterwards.
type BlockSource interface {
	// Height is the highest committed height.
	Height() uint64
	// BlocksRange returns the committed blocks from..to inclusive, in order,
	// each with its commit certificate; it may return fewer than asked when
	// it has fewer, but never a gap.
	BlocksRange(from, to uint64) ([]*pb.CommittedBlock, error)
	// TxsByHash returns the serialized SignedTx of each hash it knows, in
	// the order asked, leaving out those it does not.
	TxsByHash(hashes [][]byte) [][]byte
	// Status describes the local chain for the status exchange.
	Status() *pb.SyncStatus
	// BlocksByHash returns the block with hash, committed or not, and up to
	// maxAncestors of its ancestors, oldest first; nil when it has no such
	// block. It serves consensus fetches of missing parents.
	BlocksByHash(hash []byte, maxAncestors int) []*pb.Block
}

// Clock is the time source of the peer manager and of the limit on the
// gater's refusal log lines.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Option configures New. Options return an error when given nonsense.
type Option func(*options) error

type options struct {
	key       lcrypto.PrivKey
	log       *slog.Logger
	vset      *ValidatorSet
	txVal     TxValidator
	consCheck ConsensusCheck
	blocks    BlockSource
	payloads  PayloadSource
	rng       *rand.Rand
	clock     Clock
	// successorOf is the closed host whose Messages channels this one
	// delivers into (WithMessagesOf).
	successorOf *Host
}

// WithIdentity sets the node key, the libp2p identity (an ed25519 key in
// govnode). Required.
func WithIdentity(key lcrypto.PrivKey) Option {
	return func(o *options) error {
		if key == nil {
			return errors.New("WithIdentity: nil key")
		}
		if key.Type() != lcrypto.Ed25519 {
			return fmt.Errorf("WithIdentity: %v key, want Ed25519", key.Type())
		}
		o.key = key
		return nil
	}
}

// WithMessagesOf makes the new host deliver into prev's Messages channels,
// so that a reader of them goes on reading across a change of identity:
// the node replaces its host when governance rotates its node key
// (rotate_node_key, ARCHITECTURE.md §4). prev must be closed, and stays
// closed: its channels then have one sender again, the new host.
func WithMessagesOf(prev *Host) Option {
	return func(o *options) error {
		if prev == nil {
			return errors.New("WithMessagesOf: nil host")
		}
		if !prev.closed() {
			return errors.New("WithMessagesOf: the previous host is still running")
		}
		o.successorOf = prev
		return nil
	}
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("WithLogger: nil logger")
		}
		o.log = l
		return nil
	}
}

// WithValidatorSet sets the validator set that consensus messages are checked
// against. Required; SetValidatorSet replaces it at a set change.
func WithValidatorSet(vs *ValidatorSet) Option {
	return func(o *options) error {
		if vs == nil {
			return errors.New("WithValidatorSet: nil set")
		}
		o.vset = vs
		return nil
	}
}

// WithTxValidator sets the node's transaction check. Without it, p2p only
// checks size and that the data decodes as a SignedTx with a body and a
// signature.
func WithTxValidator(v TxValidator) Option {
	return func(o *options) error {
		if v == nil {
			return errors.New("WithTxValidator: nil validator")
		}
		o.txVal = v
		return nil
	}
}

// WithConsensusCheck sets the check of received consensus messages
// (ConsensusCheck). It is required: without it p2p could not tell a
// forgery from a vote.
func WithConsensusCheck(c ConsensusCheck) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("WithConsensusCheck: nil check")
		}
		o.consCheck = c
		return nil
	}
}

// WithBlockSource makes the node serve block sync. Without it, sync
// requests get an error response.
func WithBlockSource(s BlockSource) Option {
	return func(o *options) error {
		if s == nil {
			return errors.New("WithBlockSource: nil source")
		}
		o.blocks = s
		return nil
	}
}

// WithPayloadSource makes the node serve protected payloads
// (SyncRequest.payloads) to the members in force; observers and other
// peers are refused. Without it, payloads requests get an error response.
func WithPayloadSource(s PayloadSource) Option {
	return func(o *options) error {
		if s == nil {
			return errors.New("WithPayloadSource: nil source")
		}
		o.payloads = s
		return nil
	}
}

// WithRand sets the random source of the backoff jitter; it becomes owned
// by the peer manager goroutine. The default is seeded from crypto/rand.
func WithRand(r *rand.Rand) Option {
	return func(o *options) error {
		if r == nil {
			return errors.New("WithRand: nil source")
		}
		o.rng = r
		return nil
	}
}

// WithClock sets the clock of the peer manager and of the gater's log
// limit.
func WithClock(c Clock) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("WithClock: nil clock")
		}
		o.clock = c
		return nil
	}
}
