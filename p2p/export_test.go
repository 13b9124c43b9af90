package p2p

import (
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

// AllowedPeers is the gater's allowed set, sorted, for the external tests.
func AllowedPeers(n *Host) []peer.ID {
	m := *n.gater.allowed.Load()
	out := make([]peer.ID, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
