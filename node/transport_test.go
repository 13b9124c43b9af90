package node

import (
	"log/slog"
	"testing"

	"github.com/govnode/govnode/node/metrics"
)

// A restarted node must not number its consensus messages as its previous
// run did: gossip drops a message whose bytes it saw within its seen-cache
// TTL, and a restarted node's first timeout is often the very one it sent
// before the restart.
func TestTransportNonceDiffersAcrossRestarts(t *testing.T) {
	n := &Node{log: slog.New(slog.DiscardHandler), metrics: metrics.New()}
	seen := map[uint64]bool{}
	for range 8 {
		first := newTransport(n, 16).nonce.Add(1)
		if seen[first] {
			t.Fatalf("two transports started at nonce %d", first)
		}
		seen[first] = true
	}
}
