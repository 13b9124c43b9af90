package p2p

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
)

// PeerInfo is one consortium peer's state, for status output and metrics.
type PeerInfo struct {
	ID peer.ID
	// Member is true for the members in force (dialed and kept connected:
	// the genesis members, then those of the last SetMembership), false
	// for observers (admitted when they dial us).
	Member bool
	// ValidatorIndex is the member's index in the validator set in force;
	// meaningful for members only.
	ValidatorIndex uint32
	Connected      bool
	// Unresponsive is set on a connected peer that has answered no ping
	// for UnresponsiveAfter pings' worth of time: a process killed on a
	// QUIC connection stays connected for the transport until its idle
	// timeout (about 30 s), while it answers nothing. Live is what an
	// operator is told (govnode status, govnode_p2p_peers, readiness);
	// the layers that send keep using Connected.
	Unresponsive bool
	// LastSeen is the last time the peer connected or answered a ping.
	LastSeen time.Time
	// RTT is the last ping round-trip time; zero before the first.
	RTT time.Duration
	// Failures counts dial failures since the last connection.
	Failures int
	// NextDial is when a disconnected member is dialed next.
	NextDial time.Time
	// Score is the peer's direct-protocol score, the lower of FrameScore
	// and TxScore (see PeerScore and PeerScores).
	Score, FrameScore, TxScore float64
}

// UnresponsiveAfter is how many ping intervals a connected peer may go
// without answering a ping before it is reported Unresponsive.
const UnresponsiveAfter = 3

// Live reports whether the peer is connected and answers pings.
func (p PeerInfo) Live() bool { return p.Connected && !p.Unresponsive }

// peerState is owned by the peer manager goroutine.
type peerState struct {
	info     PeerInfo
	everConn bool
	dialing  bool
	pinging  bool
}

// Dial and ping results carry the state they were started for: a peer
// removed by SetMembership (and perhaps added again) while its dial or ping
// was in flight has a new state, or none, and the stale result is dropped.
type dialResult struct {
	id  peer.ID
	st  *peerState
	err error
}

type pingResult struct {
	id  peer.ID
	st  *peerState
	rtt time.Duration
	err error
}

// membershipUpdate is a new membership for the manager's loop: members in
// validator order, and every observer to track (governed and static).
type membershipUpdate struct {
	members   []Member
	observers []peer.ID
	applied   chan struct{} // closed once the loop has applied it
}

// peerManager keeps every member connected. One goroutine (run) owns all
// per-peer state; connectedness events, dial and ping results, membership
// updates and Peers() requests reach it through channels. Dials and pings
// run in goroutines of their own, at most one of each per tracked peer
// (a peer removed and added again while one is in flight may briefly have
// two), so their number is bounded by the consortium's size; each hands its
// result back unless the manager has stopped.
type peerManager struct {
	n     *Host
	clock Clock
	rng   *rand.Rand // owned by run
	sub   event.Subscription

	reqs     chan chan []PeerInfo
	updates  chan membershipUpdate
	dialDone chan dialResult
	pingDone chan pingResult
	done     chan struct{}

	state map[peer.ID]*peerState // owned by run
}

func newPeerManager(n *Host, clock Clock, rng *rand.Rand) (*peerManager, error) {
	// Subscribe before anything dials, so no connectedness change is missed.
	sub, err := n.host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged), eventbus.BufSize(256))
	if err != nil {
		return nil, fmt.Errorf("p2p: subscribe to connectedness events: %w", err)
	}
	tracked := len(n.cfg.Members) + len(n.cfg.Observers)
	m := &peerManager{
		n:        n,
		clock:    clock,
		rng:      rng,
		sub:      sub,
		reqs:     make(chan chan []PeerInfo),
		updates:  make(chan membershipUpdate),
		dialDone: make(chan dialResult, tracked),
		pingDone: make(chan pingResult, tracked),
		done:     make(chan struct{}),
		state:    make(map[peer.ID]*peerState, tracked),
	}
	self := n.host.ID()
	for _, mem := range n.cfg.Members {
		if mem.PeerID != self {
			n.host.Peerstore().AddAddrs(mem.PeerID, transportAddrs(mem.Addrs), peerstore.PermanentAddrTTL)
		}
	}
	// apply reads the host's connectedness of every peer it adds: the host
	// listens before we subscribe, and a peer that dialed in between is
	// connected with no event to tell us. Later changes are queued in sub.
	m.apply(n.cfg.Members, n.cfg.Observers, clock.Now())
	return m, nil
}

// apply makes the tracked peers the members (dialed, with their validator
// index) and the observers (not dialed; a peer that is both is a member);
// this node itself is never tracked. A peer that stays keeps its state (its
// connection, failures, RTT); a new one is due for a dial now if it is a
// member; a removed one is forgotten, and results of its dial or ping
// still in flight are dropped.
func (m *peerManager) apply(members []Member, observers []peer.ID, now time.Time) {
	self := m.n.host.ID()
	want := make(map[peer.ID]PeerInfo, len(members)+len(observers))
	for _, o := range observers {
		want[o] = PeerInfo{ID: o}
	}
	for _, mem := range members {
		want[mem.PeerID] = PeerInfo{ID: mem.PeerID, Member: true, ValidatorIndex: mem.ValidatorIndex}
	}
	delete(want, self)
	for id, s := range m.state {
		if _, ok := want[id]; !ok {
			delete(m.state, id)
			m.n.log.Debug("p2p: peer no longer tracked", "peer", id.String(), "was_member", s.info.Member)
		}
	}
	for id, w := range want {
		s, ok := m.state[id]
		if !ok {
			s = &peerState{info: PeerInfo{ID: id, Member: w.Member, ValidatorIndex: w.ValidatorIndex, NextDial: now}}
			m.state[id] = s
			m.setConnected(s, m.n.connected(id), now)
			continue
		}
		if w.Member && !s.info.Member && !s.info.Connected {
			// An observer that became a member: dial it now.
			s.info.NextDial, s.info.Failures = now, 0
		}
		s.info.Member, s.info.ValidatorIndex = w.Member, w.ValidatorIndex
	}
}

// update hands a new membership to the loop and waits until it is applied;
// ErrClosed once the manager has stopped.
func (m *peerManager) update(members []Member, observers []peer.ID) error {
	u := membershipUpdate{members: members, observers: observers, applied: make(chan struct{})}
	select {
	case m.updates <- u:
	case <-m.done:
		return ErrClosed
	}
	select {
	case <-u.applied:
		return nil
	case <-m.done:
		return ErrClosed
	}
}

// run is the manager's loop; it returns when ctx ends.
func (m *peerManager) run(ctx context.Context) {
	defer close(m.done)
	defer m.sub.Close()
	pingTick := m.clock.After(m.n.cfg.PingInterval)
	for {
		now := m.clock.Now()
		m.dialDue(ctx, now)
		var wake <-chan time.Time
		if d, ok := m.nextWake(now); ok {
			wake = m.clock.After(d)
		}
		select {
		case <-ctx.Done():
			return
		case ev := <-m.sub.Out():
			if e, ok := ev.(event.EvtPeerConnectednessChanged); ok {
				m.onConnectedness(e)
			}
		case r := <-m.dialDone:
			m.onDial(r)
		case r := <-m.pingDone:
			m.onPing(r)
		case <-pingTick:
			m.resync(m.clock.Now())
			// The events above close a removed peer's late connection;
			// this sweep covers any event the bus did not deliver.
			if ids := m.n.notAdmitted(); len(ids) > 0 {
				m.n.wg.Go(func() { m.n.closePeers(ids) })
			}
			m.pingAll(ctx)
			pingTick = m.clock.After(m.n.cfg.PingInterval)
		case reply := <-m.reqs:
			reply <- m.snapshot()
		case u := <-m.updates:
			m.apply(u.members, u.observers, m.clock.Now())
			close(u.applied)
		case <-wake:
		}
	}
}

// dialDue starts a dial to every disconnected member whose time has come.
func (m *peerManager) dialDue(ctx context.Context, now time.Time) {
	for id, s := range m.state {
		if !s.info.Member || s.info.Connected || s.dialing || now.Before(s.info.NextDial) {
			continue
		}
		s.dialing = true
		m.n.counters.dials.Add(1)
		m.n.wg.Go(func() {
			// Our own backoff replaces the swarm's, hence the forced dial.
			dctx, cancel := context.WithTimeout(network.WithForceDirectDial(ctx, "govnode member redial"), m.n.cfg.DialTimeout)
			defer cancel()
			err := m.n.host.Connect(dctx, peer.AddrInfo{ID: id})
			select {
			case m.dialDone <- dialResult{id: id, st: s, err: err}:
			case <-ctx.Done(): // the loop has stopped reading
			}
		})
	}
}

// nextWake is how long until the next member dial is due.
func (m *peerManager) nextWake(now time.Time) (time.Duration, bool) {
	var next time.Time
	for _, s := range m.state {
		if !s.info.Member || s.info.Connected || s.dialing {
			continue
		}
		if next.IsZero() || s.info.NextDial.Before(next) {
			next = s.info.NextDial
		}
	}
	if next.IsZero() {
		return 0, false
	}
	return max(next.Sub(now), 0), true
}

func (m *peerManager) onConnectedness(e event.EvtPeerConnectednessChanged) {
	s, ok := m.state[e.Peer]
	if !ok {
		// A connection the gater admitted just before SetMembership
		// removed the peer can finish its upgrade after SetMembership
		// closed the peer's connections; its event lands here.
		if id := e.Peer; e.Connectedness == network.Connected && !m.n.gater.admits(id) {
			m.n.wg.Go(func() { m.n.closePeers([]peer.ID{id}) })
		}
		return
	}
	m.setConnected(s, e.Connectedness == network.Connected, m.clock.Now())
}

// setConnected records that the peer is now connected or not; a repeat of
// the current state changes nothing.
func (m *peerManager) setConnected(s *peerState, connected bool, now time.Time) {
	if s.info.Connected == connected {
		return
	}
	id := s.info.ID.String()
	if connected {
		if s.everConn && s.info.Member {
			m.n.counters.reconnects.Add(1)
			m.n.log.Info("p2p: peer reconnected", "peer", id)
		} else {
			m.n.log.Debug("p2p: peer connected", "peer", id)
		}
		s.info.Connected, s.everConn = true, true
		s.info.LastSeen = now
		s.info.Failures = 0
		return
	}
	s.info.Connected = false
	if s.info.Member {
		s.info.NextDial = now.Add(backoffDelay(s.info.Failures, &m.n.cfg, m.rng))
		m.n.log.Info("p2p: peer disconnected", "peer", id, "redial_at", s.info.NextDial)
	}
}

// resync sets every peer's state from the host's. Events keep it current;
// this covers what no event reports: connections made before the
// subscription, and any event the bus did not deliver.
func (m *peerManager) resync(now time.Time) {
	for id, s := range m.state {
		c := m.n.connected(id)
		if c != s.info.Connected {
			m.n.log.Debug("p2p: peer state resynced from the host", "peer", id.String(), "connected", c)
		}
		m.setConnected(s, c, now)
	}
}

func (m *peerManager) onDial(r dialResult) {
	if r.err != nil {
		m.n.counters.dialFailures.Add(1)
	}
	s := m.state[r.id]
	if s == nil || s != r.st {
		return // the peer was removed while the dial was in flight
	}
	s.dialing = false
	if r.err == nil {
		// Usually the connectedness event has marked it connected already.
		// When it has not (the dial found a connection no event reported),
		// the host's word settles it: redialing a connected peer returns at
		// once, and would spin.
		now := m.clock.Now()
		if m.n.connected(r.id) {
			m.setConnected(s, true, now)
		} else {
			s.info.NextDial = now.Add(backoffDelay(s.info.Failures, &m.n.cfg, m.rng))
		}
		return
	}
	delay := backoffDelay(s.info.Failures, &m.n.cfg, m.rng)
	s.info.Failures++
	s.info.NextDial = m.clock.Now().Add(delay)
	m.n.log.Debug("p2p: dial failed", "peer", r.id.String(), "failures", s.info.Failures, "retry_in", delay, "err", r.err)
}

func (m *peerManager) pingAll(ctx context.Context) {
	// A slow answer still shows the peer alive: it may take as long as
	// the peer has before it is reported Unresponsive.
	timeout := min(UnresponsiveAfter*m.n.cfg.PingInterval, 10*time.Second)
	for id, s := range m.state {
		if !s.info.Connected || s.pinging {
			continue
		}
		s.pinging = true
		m.n.wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			res, ok := <-ping.Ping(pctx, m.n.host, id)
			if !ok { // closed without a result: the context ended first
				res.Error = pctx.Err()
			}
			select {
			case m.pingDone <- pingResult{id: id, st: s, rtt: res.RTT, err: res.Error}:
			case <-ctx.Done(): // the loop has stopped reading
			}
		})
	}
}

func (m *peerManager) onPing(r pingResult) {
	s := m.state[r.id]
	if s == nil || s != r.st {
		return // the peer was removed while the ping was in flight
	}
	s.pinging = false
	if r.err != nil {
		m.n.log.Debug("p2p: ping failed", "peer", r.id.String(), "err", r.err)
		return
	}
	s.info.RTT = r.rtt
	s.info.LastSeen = m.clock.Now()
}

func (m *peerManager) snapshot() []PeerInfo {
	out := make([]PeerInfo, 0, len(m.state))
	stale := m.clock.Now().Add(-UnresponsiveAfter * m.n.cfg.PingInterval)
	for _, s := range m.state {
		info := s.info
		info.Unresponsive = info.Connected && info.LastSeen.Before(stale)
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b PeerInfo) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// Peers returns the state of every member and observer in force (those of
// the last SetMembership, or of the Config, with the static observers),
// sorted by peer id; nil after Close.
func (n *Host) Peers() []PeerInfo {
	reply := make(chan []PeerInfo, 1)
	select {
	case n.peers.reqs <- reply:
	case <-n.peers.done:
		return nil
	}
	infos := <-reply
	for i := range infos {
		f, t, _ := n.PeerScores(infos[i].ID)
		infos[i].Score, infos[i].FrameScore, infos[i].TxScore = min(f, t), f, t
	}
	return infos
}

// backoffDelay is the redial delay after failures failed attempts: BackoffMin
// doubled per failure, capped at BackoffMax, then moved by a uniformly
// random jitter of up to ±BackoffJitter of itself, so members that lost a
// peer at the same instant do not redial in lockstep.
func backoffDelay(failures int, cfg *Config, rng *rand.Rand) time.Duration {
	d := cfg.BackoffMin
	for i := 0; i < failures && d < cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, cfg.BackoffMax)
	if cfg.BackoffJitter > 0 {
		d += time.Duration(float64(d) * cfg.BackoffJitter * (2*rng.Float64() - 1))
	}
	return max(d, 0)
}

// transportAddrs strips a trailing /p2p/<id> (genesis addresses may carry
// one; Config.Validate's caller, genesis, checks it names the member).
func transportAddrs(addrs []ma.Multiaddr) []ma.Multiaddr {
	out := make([]ma.Multiaddr, 0, len(addrs))
	for _, a := range addrs {
		if t, _ := peer.SplitAddr(a); t != nil {
			out = append(out, t)
		}
	}
	return out
}
