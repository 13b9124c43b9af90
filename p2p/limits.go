package p2p

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

// directPeersHeld is how many peers' worth of frames (two full frames
// each) the direct service holds at once: the faulty members a quorum
// tolerates (MaxMembers/3) plus two, so that faulty members holding all
// they may leave room for honest peers' frames. With the default 4 MiB
// frame bound that is 23 × 9 MiB, reserved only while frames are read.
const directPeersHeld = MaxMembers/3 + 2

// syncService is the resource-manager service name of the sync server.
const syncServiceName = "govnode.sync"

// Resource limits for a consortium of at most MaxMembers peers. They are
// explicit rather than scaled from the machine's memory so that every
// department's node behaves the same. The figures:
//
//   - a peer holds at most 8 connections (TCP and QUIC to each other, plus
//     simultaneous-dial duplicates) and 256 streams (direct, identify,
//     ping and sync use a handful; the rest is headroom), and 128 MiB of
//     muxer and stream buffers: one peer cannot take more than that;
//   - the sync protocol allows 8 concurrent streams per peer each way, so a
//     peer cannot run more than 8 block-range requests against us at once;
//     every sync frame read or written is reserved in its stream's scope
//     first, and a peer's sync streams together hold at most two full
//     response frames, so a burst of large responses is refused, not
//     buffered;
//   - the direct protocol allows 4 streams per peer each way (one is in
//     use; a reopened stream may overlap the old one briefly). A frame's
//     announced length is reserved in its stream's scope before its body
//     is read, so a member that announces full frames and dribbles their
//     bodies holds the reservation until FrameTimeout: the inbound direct
//     streams of one peer together hold at most two full frames (the
//     service's per-peer limit; a third is refused and its stream reset,
//     which costs the peer no score: an honest node stopped mid-frame looks
//     the same), and the service as a whole holds directPeersHeld peers'
//     worth, more than the members a quorum tolerates being faulty
//     (MaxMembers/3), so those cannot take the memory the others' frames
//     need;
//   - the whole host allows 4 connections per possible member (256) and
//     1 GiB of tracked memory, and strangers are gated before they count
//     for long, since the transient scope (connections not yet attached to
//     a peer) is held to 64 connections and 64 MiB.
func resourceManager(cfg *Config) (network.ResourceManager, error) {
	directPeer := 2*cfg.frameMax() + 1<<20
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	base := scaling.Scale(1<<30, 4096)

	const (
		peerConns   = 8
		peerStreams = 256
		peerMemory  = 128 << 20
	)
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns:           4 * MaxMembers,
			ConnsInbound:    4 * MaxMembers,
			ConnsOutbound:   4 * MaxMembers,
			Streams:         MaxMembers * peerStreams,
			StreamsInbound:  MaxMembers * peerStreams / 2,
			StreamsOutbound: MaxMembers * peerStreams / 2,
			FD:              1024,
			Memory:          1 << 30,
		},
		Transient: rcmgr.ResourceLimits{
			Conns:           64,
			ConnsInbound:    32,
			ConnsOutbound:   64,
			Streams:         256,
			StreamsInbound:  128,
			StreamsOutbound: 128,
			FD:              64,
			Memory:          64 << 20,
		},
		PeerDefault: rcmgr.ResourceLimits{
			Conns:           peerConns,
			ConnsInbound:    peerConns,
			ConnsOutbound:   peerConns,
			Streams:         peerStreams,
			StreamsInbound:  peerStreams / 2,
			StreamsOutbound: peerStreams / 2,
			FD:              peerConns,
			Memory:          peerMemory,
		},
		// One stream may buffer one full sync response or direct frame.
		Stream: rcmgr.ResourceLimits{
			Memory: rcmgr.LimitVal64(max(16<<20, cfg.MaxResponseBytes+1<<20, cfg.frameMax()+1<<20)),
		},
		Protocol: map[protocol.ID]rcmgr.ResourceLimits{
			SyncProtocol(cfg.ChainID): {
				Streams:         MaxMembers * 16,
				StreamsInbound:  MaxMembers * 8,
				StreamsOutbound: MaxMembers * 8,
			},
		},
		ProtocolPeer: map[protocol.ID]rcmgr.ResourceLimits{
			DirectProtocol(cfg.ChainID): {
				Streams:         8,
				StreamsInbound:  4,
				StreamsOutbound: 4,
			},
			SyncProtocol(cfg.ChainID): {
				Streams:         16,
				StreamsInbound:  8,
				StreamsOutbound: 8,
				// Two full response frames in flight, at most.
				Memory: rcmgr.LimitVal64(2*cfg.MaxResponseBytes + 1<<20),
			},
		},
		Service: map[string]rcmgr.ResourceLimits{
			directServiceName: {
				Streams:        MaxMembers * 4,
				StreamsInbound: MaxMembers * 4,
				Memory:         rcmgr.LimitVal64(directPeersHeld * directPeer),
			},
			syncServiceName: {
				Streams:        MaxMembers * 8,
				StreamsInbound: MaxMembers * 8,
				Memory:         rcmgr.LimitVal64(4*cfg.MaxResponseBytes + 1<<20),
			},
		},
		ServicePeer: map[string]rcmgr.ResourceLimits{
			directServiceName: {
				Streams:        4,
				StreamsInbound: 4,
				// Two full frames in flight, at most.
				Memory: rcmgr.LimitVal64(directPeer),
			},
			syncServiceName: {
				Streams:        8,
				StreamsInbound: 8,
				Memory:         rcmgr.LimitVal64(2*cfg.MaxResponseBytes + 1<<20),
			},
		},
	}
	limits := partial.Build(base)
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits), rcmgr.WithMetricsDisabled())
	if err != nil {
		return nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	return rm, nil
}
