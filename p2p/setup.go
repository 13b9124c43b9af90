package p2p

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Setup is what ConfigFor builds a Config from: the chain's validator set
// and limits, and the node's own p2p settings (its config file's [p2p]).
type Setup struct {
	ChainID    string
	Validators *pb.ValidatorSet
	Params     *pb.Params
	// ListenAddrs and ExternalAddrs are multiaddrs; PersistentPeers are
	// multiaddrs ending in /p2p/<id> of members; Observers are peer ids.
	ListenAddrs, ExternalAddrs, PersistentPeers, Observers []string
	// Self is this node's peer id.
	Self peer.ID
	// Skipped, if set, is told of each persistent peer that is not a
	// member of Validators (a department removed since the config was
	// written, or not yet added): it is not dialed, and not an error, since
	// membership changes by governance while configs stay as they were.
	Skipped func(peer string)
}

// MembersOf is the p2p membership of a validator set: each validator's
// node, by its department's peer id and addresses, in validator order,
// with the department's consensus key and peer binding, which the host
// checks on an "sm2-sm3" chain before it admits the node.
// ConfigFor uses it at start, and the node at each governed change
// (Host.SetMembership).
func MembersOf(vs *pb.ValidatorSet) ([]Member, error) {
	var out []Member
	for i, v := range vs.GetValidators() {
		id, err := peer.Decode(v.GetPeerId())
		if err != nil {
			return nil, fmt.Errorf("validator %d peer id: %w", i, err)
		}
		m := Member{PeerID: id, ValidatorIndex: uint32(i), DepartmentID: v.GetId(),
			ConsensusKey: v.GetConsensusKey(), PeerBinding: v.GetPeerBinding()}
		for _, a := range v.GetAddrs() {
			addr, err := ma.NewMultiaddr(a)
			if err != nil {
				return nil, fmt.Errorf("validator %d address %q: %w", i, a, err)
			}
			m.Addrs = append(m.Addrs, addr)
		}
		out = append(out, m)
	}
	return out, nil
}

// ConfigFor builds the p2p configuration of a node of the chain: its
// members from the validator set, message limits from the chain's
// parameters, and the node's addresses, extra peer addresses and
// observers, each checked with an error naming the bad value.
func ConfigFor(s Setup) (Config, error) {
	c := DefaultConfig()
	c.ChainID = s.ChainID
	c.ListenAddrs = s.ListenAddrs
	c.ExternalAddrs = s.ExternalAddrs
	c.MaxTxBytes = int(s.Params.GetMaxTxBytes())
	if mb := int(s.Params.GetMaxBlockBytes()) + (1 << 20); mb > c.MaxConsensusBytes {
		c.MaxConsensusBytes = mb
	}
	members, err := MembersOf(s.Validators)
	if err != nil {
		return c, err
	}
	c.Members = members
	// Persistent peers give more addresses for members (a department's
	// other interface, a relay host); a peer that is not a member now is
	// skipped (Setup.Skipped): the gater would refuse it anyway, and
	// governance may have removed it, or not added it yet.
	for _, p := range s.PersistentPeers {
		addr, err := ma.NewMultiaddr(p)
		if err != nil {
			return c, fmt.Errorf("p2p.persistent_peers %q: %w", p, err)
		}
		info, err := peer.AddrInfoFromP2pAddr(addr)
		if err != nil {
			return c, fmt.Errorf("p2p.persistent_peers %q: %w", p, err)
		}
		found := false
		for i := range c.Members {
			if c.Members[i].PeerID == info.ID {
				c.Members[i].Addrs = append(c.Members[i].Addrs, info.Addrs...)
				found = true
			}
		}
		if !found && info.ID != s.Self && s.Skipped != nil {
			s.Skipped(p)
		}
	}
	for _, o := range s.Observers {
		id, err := peer.Decode(o)
		if err != nil {
			return c, fmt.Errorf("p2p.observers %q: %w", o, err)
		}
		c.Observers = append(c.Observers, id)
	}
	return c, nil
}
