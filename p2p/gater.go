package p2p

import (
	"log/slog"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// gater admits only the consortium: genesis members and configured
// observers. The peer id is known after the security handshake, so that is
// where strangers are refused (InterceptSecured); we also never dial one.
// The allowed set is immutable and read without a lock.
type gater struct {
	allowed map[peer.ID]struct{}
	log     *slog.Logger
	refused *atomic.Uint64
}

var _ connmgr.ConnectionGater = (*gater)(nil)

func newGater(cfg *Config, log *slog.Logger, refused *atomic.Uint64) *gater {
	g := &gater{allowed: make(map[peer.ID]struct{}), log: log, refused: refused}
	for _, m := range cfg.Members {
		g.allowed[m.PeerID] = struct{}{}
	}
	for _, o := range cfg.Observers {
		g.allowed[o] = struct{}{}
	}
	return g
}

func (g *gater) admits(p peer.ID) bool {
	_, ok := g.allowed[p]
	return ok
}

func (g *gater) InterceptPeerDial(p peer.ID) bool { return g.admits(p) }

func (g *gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

// InterceptAccept admits every inbound connection to the handshake: the
// remote's identity is not known before it.
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (g *gater) InterceptSecured(dir network.Direction, p peer.ID, addrs network.ConnMultiaddrs) bool {
	if g.admits(p) {
		return true
	}
	g.refused.Add(1)
	g.log.Warn("p2p: refused connection from a peer outside the consortium",
		"peer", p.String(),
		"remote_addr", addrs.RemoteMultiaddr().String(),
		"direction", dir.String())
	return false
}

func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
