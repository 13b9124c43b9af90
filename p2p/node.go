package p2p

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ErrClosed is returned by calls on a closed Host.
var ErrClosed = errors.New("p2p: node closed")

// Host is a running p2p layer (one per govnode node; not to be confused with
// node.Node, the whole daemon): the host, the direct protocol and sync. All methods are
// safe for concurrent use.
type Host struct {
	cfg      Config
	log      *slog.Logger
	host     host.Host
	gater    *gater
	vset     atomic.Pointer[ValidatorSet]
	counters counters

	direct *direct
	peers  *peerManager
	sync   *syncService

	// memberMu serialises SetMembership calls, so the gater, the peer
	// manager and the peerstore always end on the same membership.
	memberMu sync.Mutex
	members  []Member // in force and admitted (bound), in validator order; under memberMu
	// unbound holds the members left out for their peer binding whose
	// warning is logged (unboundKey); under memberMu.
	unbound map[string]bool
	// localAddrs are the Config.Members addresses (genesis and the
	// operator's persistent peers, ConfigFor): kept as extra addresses of
	// the peer while it is a member. Read-only after New.
	localAddrs map[peer.ID][]ma.Multiaddr

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
	stopped   chan struct{} // closed when Close is done
}

// New starts a node: it listens on cfg.ListenAddrs, takes direct frames
// from peers and sends its own to the members, serves block sync and
// starts dialing the members. ctx bounds the
// start-up only; Close stops the node. WithIdentity and WithValidatorSet
// are required.
func New(ctx context.Context, cfg Config, opts ...Option) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{log: slog.New(slog.DiscardHandler), clock: realClock{}}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("p2p: %w", err)
		}
	}
	if o.key == nil {
		return nil, errors.New("p2p: WithIdentity is required")
	}
	if o.vset == nil {
		return nil, errors.New("p2p: WithValidatorSet is required")
	}
	if o.consCheck == nil {
		// Without it every consensus message would be rejected, and
		// every honest peer penalised for them.
		return nil, errors.New("p2p: WithConsensusCheck is required (the node installs consensus.CheckSender)")
	}
	if o.rng == nil {
		var seed [16]byte
		if _, err := crand.Read(seed[:]); err != nil {
			return nil, fmt.Errorf("p2p: seed: %w", err)
		}
		o.rng = rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
	}
	cfg = cloneConfig(cfg)
	unbound := make(map[string]bool)
	cfg.Members = boundMembers(cfg.Suite, cfg.ChainID, cfg.Members, o.log, unbound)

	n := &Host{cfg: cfg, log: o.log, members: cfg.Members, unbound: unbound, localAddrs: make(map[peer.ID][]ma.Multiaddr, len(cfg.Members)),
		stopped: make(chan struct{})}
	n.vset.Store(o.vset)
	for _, m := range cfg.Members {
		n.localAddrs[m.PeerID] = transportAddrs(m.Addrs)
	}

	n.gater = newGater(&cfg, o.log, &n.counters.connsRefused, o.clock)
	h, err := newHost(&cfg, o.key, n.gater)
	if err != nil {
		return nil, err
	}
	n.host = h
	n.log = n.log.With("self", h.ID().String())

	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	fail := func(err error) (*Host, error) {
		cancel()
		n.wg.Wait()
		_ = h.Close()
		return nil, err
	}

	n.sync = newSyncService(n, o.blocks, o.payloads, o.clock)
	h.SetStreamHandler(n.sync.protocol, n.sync.handle)

	n.direct = newDirect(n, &o, runCtx)
	h.SetStreamHandler(n.direct.protocol, n.direct.handle)

	n.peers, err = newPeerManager(n, o.clock, o.rng)
	if err != nil {
		return fail(err)
	}
	n.wg.Go(func() { n.peers.run(runCtx) })
	n.direct.start(runCtx, &n.wg)

	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	n.log.Info("p2p: started", "addrs", fmt.Sprint(h.Addrs()), "members", len(cfg.Members), "observers", len(cfg.Observers))
	return n, nil
}

func cloneConfig(c Config) Config {
	c.ListenAddrs = append([]string(nil), c.ListenAddrs...)
	c.Observers = append([]peer.ID(nil), c.Observers...)
	ms := make([]Member, len(c.Members))
	for i, m := range c.Members {
		m.Addrs = append([]ma.Multiaddr(nil), m.Addrs...)
		m.PeerBinding = append([]byte(nil), m.PeerBinding...)
		ms[i] = m
	}
	c.Members = ms
	return c
}

// ID is this node's peer id.
func (n *Host) ID() peer.ID { return n.host.ID() }

// Addrs are the addresses the host listens on (without /p2p/<id>), ready
// to go into another node's Member.Addrs.
func (n *Host) Addrs() []ma.Multiaddr { return n.host.Addrs() }

// Host exposes the libp2p host, for the node's diagnostics only: opening
// streams or changing handlers behind p2p's back is not supported.
func (n *Host) Host() host.Host { return n.host }

// SetValidatorSet replaces the validator set consensus messages are
// checked against, at the height a set change takes effect (ARCHITECTURE.md §4).
func (n *Host) SetValidatorSet(vs *ValidatorSet) error {
	if vs == nil {
		return errors.New("p2p: nil validator set")
	}
	n.vset.Store(vs)
	return nil
}

// Close stops the node and closes the host. It is idempotent.
func (n *Host) Close() error {
	n.closeOnce.Do(func() {
		n.cancel()
		n.host.RemoveStreamHandler(n.sync.protocol)
		n.host.RemoveStreamHandler(n.direct.protocol)
		n.wg.Wait()
		n.closeErr = n.host.Close()
		close(n.stopped)
	})
	return n.closeErr
}

// closed reports whether Close has run (its goroutines have stopped).
func (n *Host) closed() bool {
	select {
	case <-n.stopped:
		return true
	default:
		return false
	}
}

// connected reports whether the host has a live connection to p.
func (n *Host) connected(p peer.ID) bool {
	return n.host.Network().Connectedness(p) == network.Connected
}
