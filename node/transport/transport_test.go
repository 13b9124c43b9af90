package transport

import (
	"context"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/govnode/govnode/node/metrics"
	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// nullHost is a p2p host that sends nothing and receives nothing.
type nullHost struct{}

func (nullHost) ID() peer.ID                                          { return "self" }
func (nullHost) Publish(context.Context, p2p.TopicKind, []byte) error { return nil }
func (nullHost) Messages(p2p.TopicKind) <-chan p2p.Message            { return nil }
func (nullHost) RequestBlockByHash(context.Context, peer.ID, []byte) ([]*pb.Block, error) {
	return nil, nil
}
func (nullHost) RequestTxs(context.Context, peer.ID, [][]byte) ([][]byte, error) { return nil, nil }

// nullPool is an empty mempool.
type nullPool struct{}

func (nullPool) Get([]byte) ([]byte, bool) { return nil, false }
func (nullPool) Size() (int, int)          { return 0, 0 }

// newTestTransport is a transport over nullHost with chunk as its
// MaxTxHashes.
func newTestTransport(t *testing.T, chunk int) *Transport {
	t.Helper()
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	src, err := NewBlockSource(SourceDeps{Ledger: nullLedger{}, Pool: nullPool{}, View: func() uint64 { return 0 }, Done: done})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(Config{MaxTxHashes: chunk}, Deps{
		Host: nullHost{}, Source: src, Pool: nullPool{},
		Validators: func() *pb.ValidatorSet { return nil },
		CheckTxs:   func(*pb.Block, *pb.Header) error { return nil },
		Metrics:    metrics.New(), Done: done, WG: &sync.WaitGroup{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// A restarted node must not number its consensus messages as its previous
// run did: gossip drops a message whose bytes it saw within its seen-cache
// TTL, and a restarted node's first timeout is often the very one it sent
// before the restart.
func TestTransportNonceDiffersAcrossRestarts(t *testing.T) {
	seen := map[uint64]bool{}
	for range 8 {
		first := newTestTransport(t, 16).nonce.Add(1)
		if seen[first] {
			t.Fatalf("two transports started at nonce %d", first)
		}
		seen[first] = true
	}
}
