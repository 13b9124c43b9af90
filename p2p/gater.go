package p2p

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// gater admits only the consortium: the members and observers in force and
// the operator's static observers (Config.Observers). The peer id is known
// after the security handshake, so that is where strangers are refused
// (InterceptSecured); we also never dial one. The allowed set is an
// immutable map behind an atomic pointer: reads take no lock, and
// Host.SetMembership replaces the whole map at a membership change.
type gater struct {
	allowed atomic.Pointer[map[peer.ID]struct{}]
	// static are Config.Observers, the operator's local allow-list: they
	// stay admitted whatever the membership in force.
	static  []peer.ID
	log     *slog.Logger
	refused *atomic.Uint64
	lines   *refusalLog
}

var _ connmgr.ConnectionGater = (*gater)(nil)

func newGater(cfg *Config, log *slog.Logger, refused *atomic.Uint64, clock Clock) *gater {
	g := &gater{static: append([]peer.ID(nil), cfg.Observers...), log: log, refused: refused,
		lines: &refusalLog{clock: clock, window: refusalLogWindow, burst: refusalLogBurst}}
	g.set(cfg.Members, nil)
	return g
}

// set makes the allowed set members ∪ observers ∪ the static observers. The
// new map is built aside and published at once: a reader sees the old set
// or the new one, never a mix.
func (g *gater) set(members []Member, observers []peer.ID) {
	allowed := make(map[peer.ID]struct{}, len(members)+len(observers)+len(g.static))
	for _, m := range members {
		allowed[m.PeerID] = struct{}{}
	}
	for _, o := range observers {
		allowed[o] = struct{}{}
	}
	for _, o := range g.static {
		allowed[o] = struct{}{}
	}
	g.allowed.Store(&allowed)
}

func (g *gater) admits(p peer.ID) bool {
	_, ok := (*g.allowed.Load())[p]
	return ok
}

func (g *gater) InterceptPeerDial(p peer.ID) bool { return g.admits(p) }

func (g *gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

// InterceptAccept admits every inbound connection to the handshake: the
// remote's identity is not known before it.
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured refuses a stranger. Every refusal is counted (Stats,
// govnode_p2p_conns_refused_total); only a few per window are logged, so a
// stranger knocking in a loop cannot fill the operator's disk or bury the
// node's other log lines.
func (g *gater) InterceptSecured(dir network.Direction, p peer.ID, addrs network.ConnMultiaddrs) bool {
	if g.admits(p) {
		return true
	}
	g.refused.Add(1)
	ok, unlogged, last := g.lines.allow()
	if !ok {
		return false
	}
	attrs := []any{"peer", p.String(), "remote_addr", addrs.RemoteMultiaddr().String(), "direction", dir.String()}
	if unlogged > 0 {
		attrs = append(attrs, "unlogged_refusals", unlogged)
	}
	if last {
		attrs = append(attrs, "note", "further refusals in the next "+g.lines.window.String()+
			" are counted in govnode_p2p_conns_refused_total but not logged")
	}
	g.log.Warn("p2p: refused connection from a peer outside the consortium", attrs...)
	return false
}

func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// The refusal log limit: at most refusalLogBurst lines per refusalLogWindow.
const (
	refusalLogWindow = time.Minute
	refusalLogBurst  = 5
)

// refusalLog limits the gater's refusal lines to burst per fixed window of
// the clock. It is one limit for all peers: a stranger can make a new peer
// id for every connection, so a per-peer limit would bound neither the
// lines nor the memory its map needs. The refusals it holds back are
// counted and reported on the next line written. Safe for concurrent use
// (the gater is called from libp2p's connection goroutines); the lock is
// held for a few comparisons only.
type refusalLog struct {
	clock  Clock
	window time.Duration
	burst  int

	mu       sync.Mutex
	start    time.Time // of the current window
	lines    int       // written in the current window
	unlogged uint64    // refusals held back since the last line written
}

// allow reports whether a refusal may be logged now; if so, how many were
// held back since the last line, and whether this is the last line of the
// window.
func (r *refusalLog) allow() (ok bool, unlogged uint64, last bool) {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start.IsZero() || !now.Before(r.start.Add(r.window)) || now.Before(r.start) {
		r.start, r.lines = now, 0
	}
	if r.lines >= r.burst {
		r.unlogged++
		return false, 0, false
	}
	r.lines++
	unlogged, r.unlogged = r.unlogged, 0
	return true, unlogged, r.lines == r.burst
}
