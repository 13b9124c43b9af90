package p2p

import (
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
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

// SetAnswersPings stops (false) or resumes (true) n answering libp2p
// pings while its connections stay open: a peer that hangs or was killed
// on a connection its transport has not noticed yet.
func SetAnswersPings(n *Host, answer bool) {
	if answer {
		ping.NewPingService(n.host)
		return
	}
	n.host.RemoveStreamHandler(ping.ID)
}
