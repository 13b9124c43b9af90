package transport

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/node/metrics"
	"github.com/govnode/govnode/p2p"
	"github.com/govnode/govnode/p2p/p2ptest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// nullHost is a p2p host that sends nothing and receives nothing.
type nullHost struct{}

func (nullHost) ID() peer.ID                               { return "self" }
func (nullHost) BroadcastConsensus([]byte) error           { return nil }
func (nullHost) SendConsensus([]byte, ...peer.ID) error    { return nil }
func (nullHost) FlushTxs(context.Context) error            { return nil }
func (nullHost) Messages(p2p.TopicKind) <-chan p2p.Message { return nil }
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

// sent is one consensus message a recordingHost was asked to send.
type sent struct {
	to  []peer.ID // nil: every validator
	msg *pb.ConsensusMessage
}

// recordingHost records what the transport sends, and the flushes of the
// tx batcher between sends.
type recordingHost struct {
	nullHost
	self peer.ID
	log  []any // sent, or "flush"
}

func (h *recordingHost) ID() peer.ID { return h.self }
func (h *recordingHost) BroadcastConsensus(b []byte) error {
	return h.record(b, nil)
}
func (h *recordingHost) SendConsensus(b []byte, to ...peer.ID) error {
	return h.record(b, to)
}
func (h *recordingHost) FlushTxs(context.Context) error {
	h.log = append(h.log, "flush")
	return nil
}
func (h *recordingHost) record(b []byte, to []peer.ID) error {
	m := &pb.ConsensusMessage{}
	if err := proto.Unmarshal(b, m); err != nil {
		return err
	}
	h.log = append(h.log, sent{to: to, msg: m})
	return nil
}

// testValidators is a set of n validators whose nodes' peer ids are
// p2ptest identities, and those ids.
func testValidators(t *testing.T, n int) (*pb.ValidatorSet, []peer.ID) {
	t.Helper()
	vs := &pb.ValidatorSet{}
	var ids []peer.ID
	for _, id := range p2ptest.Identities(t, n, 100) {
		ids = append(ids, id.PeerID)
		vs.Validators = append(vs.Validators, &pb.Department{PeerId: id.PeerID.String()})
	}
	return vs, ids
}

// ARCHITECTURE.md §3 step 4: a message to one validator goes to its node
// only, a message to this node nowhere, a broadcast to every validator; a
// proposal with txs flushes the tx batcher first and goes hash-only.
func TestTransportSendsDirectly(t *testing.T) {
	vs, ids := testValidators(t, 4)
	h := &recordingHost{self: ids[0]}
	tr := newTestTransport(t, 16)
	tr.host = h
	tr.validators = func() *pb.ValidatorSet { return vs }

	vote := &pb.ConsensusMessage{Sender: 0, Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{View: 3}}}
	if err := tr.Send(2, vote); err != nil {
		t.Fatal(err)
	}
	if err := tr.Send(0, vote); err != nil {
		t.Fatal(err)
	}
	if err := tr.Send(7, vote); err == nil {
		t.Fatal("a message to validator 7 of 4 was sent")
	}
	hdr, _ := proto.Marshal(&pb.Header{Height: 1, TxCount: 2})
	prop := &pb.ConsensusMessage{Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{
		Block: &pb.Block{Header: hdr, Txs: [][]byte{[]byte("tx1"), []byte("tx2")}}}}}
	if err := tr.Broadcast(prop); err != nil {
		t.Fatal(err)
	}
	if err := tr.Broadcast(vote); err != nil {
		t.Fatal(err)
	}
	if len(h.log) != 4 {
		t.Fatalf("host saw %d calls, want 4: %v", len(h.log), h.log)
	}
	if s, ok := h.log[0].(sent); !ok || len(s.to) != 1 || s.to[0] != ids[2] || s.msg.GetVote().GetView() != 3 {
		t.Errorf("Send(2): %v, want the vote to validator 2's node only", h.log[0])
	}
	if h.log[1] != "flush" {
		t.Errorf("a proposal with txs was not preceded by a flush of the batcher: %v", h.log[1])
	}
	if s, ok := h.log[2].(sent); !ok || s.to != nil || len(s.msg.GetProposal().GetTxHashes()) != 2 || len(s.msg.GetProposal().GetBlock().GetTxs()) != 0 {
		t.Errorf("Broadcast(proposal): %v, want a hash-only proposal to every validator", h.log[2])
	}
	if s, ok := h.log[3].(sent); !ok || s.to != nil || s.msg.GetVote() == nil {
		t.Errorf("Broadcast(vote): %v, want the vote to every validator", h.log[3])
	}
}

// The txs of a hash-only proposal that the mempool lacks are asked of its
// proposer, then of the node that sent it (if another), then of every
// other validator's node; never of this node.
func TestTxPeersProposerFirst(t *testing.T) {
	vs, ids := testValidators(t, 4)
	tr := newTestTransport(t, 16)
	tr.host = &recordingHost{self: ids[0]}
	tr.validators = func() *pb.ValidatorSet { return vs }
	m := p2p.Message{ReceivedFrom: ids[3], Consensus: &pb.ConsensusMessage{Sender: 2}}
	got := tr.txPeers(m)
	want := []peer.ID{ids[2], ids[3], ids[1]}
	if !slices.Equal(got, want) {
		t.Fatalf("txPeers = %v, want %v", got, want)
	}
}
