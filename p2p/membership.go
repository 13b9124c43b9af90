package p2p

import (
	"errors"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
)

// SetMembership makes the consortium this node admits follow committed
// state (issue 17: departments added and removed by governance, observers
// admitted by governance) without a restart. members are the nodes of the
// validator set in force, in validator order: members[i] is validator i and
// must have ValidatorIndex i; their Addrs are dialed. observers are the
// observers admitted by governance: admitted, never dialed.
//
// When it returns nil:
//   - the gater admits exactly members ∪ observers ∪ Config.Observers (the
//     operator's static list stays admitted across calls) and refuses
//     everyone else, counted in Stats.ConnsRefused and logged as for any
//     stranger;
//   - the peer manager dials the new members and keeps them connected, and
//     no longer dials a removed one; Peers() lists the new members, with
//     Member and ValidatorIndex from members, and the observers;
//   - every connection to a peer no longer admitted has been closed (one
//     that completes its handshake concurrently is closed as soon as its
//     connection event reaches the peer manager);
//   - each member's addresses in the peerstore are its Addrs, plus those
//     Config.Members gave it at start (genesis and the operator's
//     persistent peers); a removed member's are dropped.
//
// The inputs are checked first, as Config.Validate checks Members and
// Observers (1 to MaxMembers members, well-formed peer ids, no peer listed
// twice), and also: each member's ValidatorIndex is its position, its Addrs
// are dialable addresses not naming another peer, and this node is not an
// observer (it may be a member, or neither: a removed department's node).
// A call that fails the checks changes nothing and returns an error naming
// every problem. After Close it returns ErrClosed.
//
// Calls are serialised; the caller passes each committed membership once,
// at the height it takes effect, alongside SetValidatorSet. The direct
// protocol's senders follow the members: a new member gets one, a removed
// member's stops.
func (n *Host) SetMembership(members []Member, observers []peer.ID) error {
	if err := checkMembership(members, observers, n.host.ID()); err != nil {
		return err
	}
	members = cloneMembers(members)
	observers = slices.Clone(observers)

	n.memberMu.Lock()
	defer n.memberMu.Unlock()
	select {
	case <-n.peers.done:
		return ErrClosed
	default:
	}
	members = boundMembers(n.cfg.Suite, n.cfg.ChainID, members, n.log, n.unbound)
	old := n.members
	// Addresses and protection first, so the manager's first dial of a
	// new member finds them; then the gater, so that dial is admitted.
	n.setMemberAddrs(old, members)
	n.setProtection(old, members)
	n.gater.set(members, observers)
	if err := n.peers.update(members, slices.Concat(observers, n.cfg.Observers)); err != nil {
		return err
	}
	n.members = members
	n.direct.setMembers(members)
	closing := n.notAdmitted()
	n.closePeers(closing)

	added, removed := memberDiff(old, members)
	n.log.Info("p2p: membership changed", "members", len(members), "observers", len(observers),
		"static_observers", len(n.cfg.Observers), "added", fmt.Sprint(added), "removed", fmt.Sprint(removed),
		"closed", len(closing))
	return nil
}

// checkMembership is SetMembership's input check.
func checkMembership(members []Member, observers []peer.ID, self peer.ID) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	checkPeers(members, observers, bad)
	for i, m := range members {
		if m.ValidatorIndex != uint32(i) {
			bad("member %d: validator index %d, want %d (its position in the validator set)", i, m.ValidatorIndex, i)
		}
		for j, a := range m.Addrs {
			t, id := peer.SplitAddr(a)
			if len(t) == 0 {
				bad("member %d: address %d (%q) has no transport part", i, j, a.String())
				continue
			}
			if id != "" && id != m.PeerID {
				bad("member %d: address %d (%s) names peer %s, not the member's %s", i, j, a, id, m.PeerID)
			}
		}
	}
	for i, o := range observers {
		if o == self {
			bad("observer %d: peer id %s is this node", i, o)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("p2p: membership: %w", errors.Join(errs...))
	}
	return nil
}

func cloneMembers(ms []Member) []Member {
	out := make([]Member, len(ms))
	for i, m := range ms {
		m.Addrs = slices.Clone(m.Addrs)
		m.PeerBinding = slices.Clone(m.PeerBinding)
		out[i] = m
	}
	return out
}

// setMemberAddrs makes the peerstore's permanent addresses of each member
// its Addrs and its Config addresses, and drops those of removed members.
// Addresses learned from live connections (identify) are left alone.
func (n *Host) setMemberAddrs(old, members []Member) {
	self := n.host.ID()
	ps := n.host.Peerstore()
	prev := make(map[peer.ID][]ma.Multiaddr, len(old))
	for _, m := range old {
		prev[m.PeerID] = m.Addrs
	}
	kept := make(map[peer.ID]bool, len(members))
	for _, m := range members {
		if m.PeerID == self {
			continue
		}
		kept[m.PeerID] = true
		p, was := prev[m.PeerID]
		if was && sameAddrs(p, m.Addrs) {
			continue
		}
		if was {
			ps.UpdateAddrs(m.PeerID, peerstore.PermanentAddrTTL, 0)
		}
		ps.AddAddrs(m.PeerID, slices.Concat(transportAddrs(m.Addrs), n.localAddrs[m.PeerID]), peerstore.PermanentAddrTTL)
	}
	for id := range prev {
		if !kept[id] && id != self {
			ps.UpdateAddrs(id, peerstore.PermanentAddrTTL, 0)
		}
	}
}

func sameAddrs(a, b []ma.Multiaddr) bool {
	return slices.EqualFunc(a, b, func(x, y ma.Multiaddr) bool { return x.Equal(y) })
}

// setProtection keeps members' connections safe from the connection
// manager's trimming, and removed members' no longer.
func (n *Host) setProtection(old, members []Member) {
	cm := n.host.ConnManager()
	for _, m := range members {
		cm.Protect(m.PeerID, memberTag)
	}
	_, removed := memberDiff(old, members)
	for _, id := range removed {
		cm.Unprotect(id, memberTag)
	}
}

// memberDiff lists the peers in members and not in old, and the reverse.
func memberDiff(old, members []Member) (added, removed []peer.ID) {
	in := func(ms []Member, id peer.ID) bool {
		return slices.ContainsFunc(ms, func(m Member) bool { return m.PeerID == id })
	}
	for _, m := range members {
		if !in(old, m.PeerID) {
			added = append(added, m.PeerID)
		}
	}
	for _, m := range old {
		if !in(members, m.PeerID) {
			removed = append(removed, m.PeerID)
		}
	}
	return added, removed
}

// notAdmitted lists the connected peers the gater no longer admits.
func (n *Host) notAdmitted() []peer.ID {
	var out []peer.ID
	for _, p := range n.host.Network().Peers() {
		if !n.gater.admits(p) {
			out = append(out, p)
		}
	}
	return out
}

// closePeers closes every connection to ids, peers outside the consortium
// in force; the gater refuses their next attempt.
func (n *Host) closePeers(ids []peer.ID) {
	for _, id := range ids {
		if n.gater.admits(id) {
			continue // admitted again by a later SetMembership
		}
		n.log.Info("p2p: closing the connection of a peer outside the consortium in force", "peer", id.String())
		if err := n.host.Network().ClosePeer(id); err != nil {
			n.log.Debug("p2p: close peer", "peer", id.String(), "err", err)
		}
	}
}
