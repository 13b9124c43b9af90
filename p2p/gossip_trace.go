package p2p

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// meshTracer follows gossipsub's mesh (which peers we relay each topic to)
// and counts what gossipsub drops, for MeshPeers and Stats. gossipsub calls
// it synchronously from its event loop; the lock is held for a map update
// and is never shared with anything outside this type.
type meshTracer struct {
	mu   sync.Mutex
	mesh map[string]map[peer.ID]struct{}

	rpcsDropped *atomic.Uint64
}

var _ pubsub.RawTracer = (*meshTracer)(nil)

func newMeshTracer(rpcsDropped *atomic.Uint64) *meshTracer {
	return &meshTracer{mesh: make(map[string]map[peer.ID]struct{}), rpcsDropped: rpcsDropped}
}

func (t *meshTracer) Graft(p peer.ID, topic string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.mesh[topic]
	if !ok {
		m = make(map[peer.ID]struct{})
		t.mesh[topic] = m
	}
	m[p] = struct{}{}
}

func (t *meshTracer) Prune(p peer.ID, topic string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.mesh[topic], p)
}

// OnClosedOutboundStream: the peer is gone, and gossipsub removes it from
// every mesh without a Prune event.
func (t *meshTracer) OnClosedOutboundStream(p peer.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range t.mesh {
		delete(m, p)
	}
}

func (t *meshTracer) Leave(topic string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.mesh, topic)
}

func (t *meshTracer) DropRPC(*pubsub.RPC, peer.ID) { t.rpcsDropped.Add(1) }

func (t *meshTracer) peers(topic string) []peer.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]peer.ID, 0, len(t.mesh[topic]))
	for p := range t.mesh[topic] {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func (t *meshTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (t *meshTracer) Join(string)                                          {}
func (t *meshTracer) ValidateMessage(*pubsub.Message)                      {}
func (t *meshTracer) DeliverMessage(*pubsub.Message)                       {}
func (t *meshTracer) RejectMessage(*pubsub.Message, string)                {}
func (t *meshTracer) DuplicateMessage(*pubsub.Message)                     {}
func (t *meshTracer) ThrottlePeer(peer.ID)                                 {}
func (t *meshTracer) RecvRPC(*pubsub.RPC)                                  {}
func (t *meshTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (t *meshTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (t *meshTracer) UndeliverableMessage(*pubsub.Message)                 {}

// MeshPeers are the peers this node relays the topic kind to: its
// gossipsub mesh, plus nothing else (direct peers are not in it). A peer
// with a negative score leaves it at the next heartbeat.
func (n *Host) MeshPeers(kind TopicKind) []peer.ID {
	if kind >= numTopics {
		return nil
	}
	return n.gossip.tracer.peers(n.gossip.topics[kind].name)
}
