package p2p

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// MaxMembers is the largest consortium the limits in this package are sized
// for (ARCHITECTURE.md §1: one validator per department).
const MaxMembers = 64

// Member is a validator's node: its libp2p peer id, the addresses to
// dial it on, and its index in the validator set.
type Member struct {
	PeerID         peer.ID
	Addrs          []ma.Multiaddr
	ValidatorIndex uint32
	// DepartmentID, ConsensusKey and PeerBinding are the validator's
	// department, its consensus key and its Department.peer_binding
	// (MembersOf fills them). On an "sm2-sm3" chain the member is admitted
	// only when the binding verifies (crypto.CheckPeerBinding,
	// ARCHITECTURE.md §7 "Faults and hostile input"); on an
	// "ed25519-sha256" chain there is none and they may stay empty.
	DepartmentID string
	ConsensusKey *pb.PublicKey
	PeerBinding  []byte
}

// Config is the p2p layer's configuration. Start from DefaultConfig, fill in
// ChainID, ListenAddrs and Members, and call Validate (New does).
type Config struct {
	// ChainID names the topics and protocols; letters, digits, '.', '_'
	// and '-' only, since it becomes a path segment.
	ChainID string
	// Suite is the chain's crypto suite (the zero value is
	// ed25519-sha256): fetched blocks are chained by its hash, payloads
	// opened by its commitments, and on an "sm2-sm3" chain a member is
	// admitted only with its peer binding (ARCHITECTURE.md §7).
	Suite crypto.Suite
	// ListenAddrs are multiaddrs to listen on, e.g.
	// /ip4/0.0.0.0/tcp/26656 and /ip4/0.0.0.0/udp/26656/quic-v1.
	ListenAddrs []string
	// ExternalAddrs, when set, are announced to peers instead of the
	// listen addresses (a node behind NAT or a load balancer).
	ExternalAddrs []string
	// Members are the validators' nodes at start (genesis, or the set in
	// force). They are dialed, kept connected and admitted by the gater;
	// Host.SetMembership replaces them when the set changes on chain.
	Members []Member
	// Observers are peers admitted by the gater that are not dialed: they
	// dial us (a public portal, a department's read replica). This is the
	// operator's static list: it stays admitted whatever membership
	// Host.SetMembership sets.
	Observers []peer.ID

	// MaxTxBytes bounds a transaction sent to us.
	MaxTxBytes int
	// MaxConsensusBytes bounds a consensus message (a proposal that
	// carries full transactions is the largest).
	MaxConsensusBytes int
	// MaxResponseBytes bounds one sync response frame; the server fills a
	// response up to it and the client refuses anything larger.
	MaxResponseBytes int
	// MaxBlocksPerRequest caps the height range one sync request may ask for.
	MaxBlocksPerRequest int
	// MaxTxHashesPerRequest caps the hashes in one transaction request.
	MaxTxHashesPerRequest int
	// SyncTimeout is the deadline for a whole request/response exchange, on
	// both sides.
	SyncTimeout time.Duration

	// DialTimeout bounds one dial attempt.
	DialTimeout time.Duration
	// BackoffMin and BackoffMax bound the redial delay, which doubles after
	// each failed attempt and is jittered by ±BackoffJitter of itself.
	BackoffMin, BackoffMax time.Duration
	// BackoffJitter is the jitter fraction in [0, 1).
	BackoffJitter float64
	// PingInterval is how often each connected peer is pinged for its
	// round-trip time and liveness: a peer that answers none for
	// UnresponsiveAfter intervals is reported Unresponsive (PeerInfo).
	PingInterval time.Duration

	// MessageBuffer is the capacity of each Messages channel.
	MessageBuffer int
	// MaxBatchTxs and MaxBatchBytes bound one tx batch of the direct
	// protocol (a tx larger than MaxBatchBytes goes alone); the batcher
	// flushes a batch that reaches either at once, and a receiver refuses
	// a batch of more than MaxBatchTxs txs.
	MaxBatchTxs, MaxBatchBytes int
	// BatchWindowMin and BatchWindowMax bound the batcher's adaptive
	// window (the batcher in direct_send.go states the rule).
	BatchWindowMin, BatchWindowMax time.Duration
	// SendQueue is the capacity of each of a member's two send lanes
	// (frames: consensus messages, tx batches) and of the batcher's queue
	// (txs): when one is full, what does not fit is dropped and counted,
	// and the caller is never blocked.
	SendQueue int
	// FrameTimeout bounds the write of a direct frame and the read of one
	// once its first byte has arrived.
	FrameTimeout time.Duration
}

// DefaultConfig returns the defaults; ChainID, ListenAddrs and Members are
// left for the caller.
func DefaultConfig() Config {
	return Config{
		MaxTxBytes:            128 << 10,
		MaxConsensusBytes:     4 << 20,
		MaxResponseBytes:      16 << 20,
		MaxBlocksPerRequest:   128,
		MaxTxHashesPerRequest: 4096,
		SyncTimeout:           20 * time.Second,
		DialTimeout:           10 * time.Second,
		BackoffMin:            500 * time.Millisecond,
		BackoffMax:            time.Minute,
		BackoffJitter:         0.2,
		PingInterval:          time.Second,
		MessageBuffer:         1024,
		MaxBatchTxs:           256,
		MaxBatchBytes:         1 << 20,
		BatchWindowMin:        time.Millisecond,
		BatchWindowMax:        20 * time.Millisecond,
		SendQueue:             4096,
		FrameTimeout:          10 * time.Second,
	}
}

var chainIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Validate reports every problem with the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if !chainIDRe.MatchString(c.ChainID) {
		bad("chain id %q: want 1-64 of [A-Za-z0-9._-]", c.ChainID)
	}
	if len(c.ListenAddrs) == 0 {
		bad("no listen addresses")
	}
	for i, s := range c.ListenAddrs {
		if _, err := ma.NewMultiaddr(s); err != nil {
			bad("listen address %d (%q): %v", i, s, err)
		}
	}
	for i, s := range c.ExternalAddrs {
		if _, err := ma.NewMultiaddr(s); err != nil {
			bad("external address %d (%q): %v", i, s, err)
		}
	}
	checkPeers(c.Members, c.Observers, bad)
	positive := []struct {
		name string
		v    int64
	}{
		{"MaxTxBytes", int64(c.MaxTxBytes)},
		{"MaxConsensusBytes", int64(c.MaxConsensusBytes)},
		{"MaxResponseBytes", int64(c.MaxResponseBytes)},
		{"MaxBlocksPerRequest", int64(c.MaxBlocksPerRequest)},
		{"MaxTxHashesPerRequest", int64(c.MaxTxHashesPerRequest)},
		{"SyncTimeout", int64(c.SyncTimeout)},
		{"DialTimeout", int64(c.DialTimeout)},
		{"BackoffMin", int64(c.BackoffMin)},
		{"PingInterval", int64(c.PingInterval)},
		{"MessageBuffer", int64(c.MessageBuffer)},
		{"MaxBatchTxs", int64(c.MaxBatchTxs)},
		{"MaxBatchBytes", int64(c.MaxBatchBytes)},
		{"BatchWindowMin", int64(c.BatchWindowMin)},
		{"SendQueue", int64(c.SendQueue)},
		{"FrameTimeout", int64(c.FrameTimeout)},
	}
	for _, p := range positive {
		if p.v <= 0 {
			bad("%s must be positive, got %d", p.name, p.v)
		}
	}
	if c.BackoffMax < c.BackoffMin {
		bad("BackoffMax %v below BackoffMin %v", c.BackoffMax, c.BackoffMin)
	}
	if c.BackoffJitter < 0 || c.BackoffJitter >= 1 {
		bad("BackoffJitter %v outside [0, 1)", c.BackoffJitter)
	}
	if c.MaxResponseBytes > maxFrameCeiling {
		bad("MaxResponseBytes %d above the %d ceiling", c.MaxResponseBytes, maxFrameCeiling)
	}
	if c.BatchWindowMax < c.BatchWindowMin {
		bad("BatchWindowMax %v below BatchWindowMin %v", c.BatchWindowMax, c.BatchWindowMin)
	}
	if c.MaxConsensusBytes > maxMessageCeiling || c.MaxTxBytes > maxMessageCeiling || c.MaxBatchBytes > maxMessageCeiling {
		bad("message limits above the %d ceiling", maxMessageCeiling)
	}
	if len(errs) > 0 {
		return fmt.Errorf("p2p config: %w", errors.Join(errs...))
	}
	return nil
}

// checkPeers reports, through bad, what is wrong with a member list and an
// observer list: none or too many members, a malformed peer id, a peer
// listed twice (as a member or an observer) and a validator index used
// twice. Config.Validate and SetMembership share it.
func checkPeers(members []Member, observers []peer.ID, bad func(format string, args ...any)) {
	if len(members) == 0 {
		bad("no members")
	}
	if len(members) > MaxMembers {
		bad("%d members, at most %d", len(members), MaxMembers)
	}
	seen := make(map[peer.ID]string)
	index := make(map[uint32]bool)
	for i, m := range members {
		if err := m.PeerID.Validate(); err != nil {
			bad("member %d: peer id: %v", i, err)
			continue
		}
		if what, dup := seen[m.PeerID]; dup {
			bad("member %d: peer id %s already listed as %s", i, m.PeerID, what)
		}
		seen[m.PeerID] = fmt.Sprintf("member %d", i)
		if index[m.ValidatorIndex] {
			bad("member %d: validator index %d used twice", i, m.ValidatorIndex)
		}
		index[m.ValidatorIndex] = true
	}
	for i, o := range observers {
		if err := o.Validate(); err != nil {
			bad("observer %d: peer id: %v", i, err)
			continue
		}
		if what, dup := seen[o]; dup {
			bad("observer %d: peer id %s already listed as %s", i, o, what)
		}
		seen[o] = fmt.Sprintf("observer %d", i)
	}
}

// Ceilings that no configuration may exceed: they keep one frame or one
// message within what the per-peer memory limits can hold.
const (
	maxFrameCeiling   = 64 << 20
	maxMessageCeiling = 16 << 20
)

// TopicKind names a kind of message (a tx, a consensus message); each has
// its Messages channel and its counters. (The name is from when each kind
// had its gossip topic.)
type TopicKind uint8

// The kinds of message.
const (
	TopicTx TopicKind = iota
	TopicConsensus
	numTopics
)

func (k TopicKind) String() string {
	switch k {
	case TopicTx:
		return "tx"
	case TopicConsensus:
		return "consensus"
	default:
		return fmt.Sprintf("topic(%d)", uint8(k))
	}
}

// SyncProtocol is the block-sync stream protocol of chainID.
func SyncProtocol(chainID string) protocol.ID {
	return protocol.ID(fmt.Sprintf("/govnode/%s/sync/1", chainID))
}
