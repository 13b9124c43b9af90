package p2p_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/govnode/govnode/p2p"
	"github.com/govnode/govnode/p2p/p2ptest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// A node whose node key governance rotated replaces its host with one of
// the new identity (node/rekey.go): WithMessagesOf makes the new host
// deliver into the closed host's Messages channels, so the node's reader
// goes on reading them; a running host cannot be succeeded.
func TestSuccessorDeliversIntoTheSameChannels(t *testing.T) {
	ctx := testCtx(t, 40*time.Second)
	nw := p2ptest.NewNetwork(t, 3, 11)
	nw.StartAll()
	nw.WaitConnected(10 * time.Second)
	old := nw.Nodes[0]
	txs, cons := old.Messages(p2p.TopicTx), old.Messages(p2p.TopicConsensus)
	fresh := p2ptest.Identities(t, 1, 12)[0]

	// Refused while the old host runs.
	h, err := p2p.New(ctx, nw.Config(0), p2p.WithIdentity(fresh.NodeKey), p2p.WithValidatorSet(nw.VSet),
		p2p.WithConsensusCheck(func(*p2p.ValidatorSet, *pb.ConsensusMessage) error { return nil }), p2p.WithMessagesOf(old))
	if err == nil {
		_ = h.Close()
		t.Fatal("a successor of a running host was built")
	}
	if !strings.Contains(err.Error(), "still running") {
		t.Fatalf("successor of a running host: %v", err)
	}

	// The members take the new peer id in place of the old (as the
	// committed membership does at the rotation's height).
	var listen []string
	for _, a := range old.Host().Network().ListenAddresses() {
		listen = append(listen, a.String())
	}
	members := nw.Members(0, 1, 2)
	members[0].PeerID = fresh.PeerID
	for _, i := range []int{1, 2} {
		if err := nw.Nodes[i].SetMembership(members, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := nw.Config(0)
	cfg.ListenAddrs = listen
	cfg.Members = members
	next := nw.Start(0, cfg, p2p.WithIdentity(fresh.NodeKey), p2p.WithMessagesOf(old))
	if next.ID() != fresh.PeerID {
		t.Fatalf("successor's peer id %s, want %s", next.ID(), fresh.PeerID)
	}
	if next.Messages(p2p.TopicTx) != txs || next.Messages(p2p.TopicConsensus) != cons {
		t.Fatal("the successor has channels of its own")
	}
	nw.WaitConnected(15 * time.Second)

	tx := p2ptest.Tx(t, 7, 100)
	if err := nw.Nodes[1].SendTx(tx); err != nil {
		t.Fatal(err)
	}
	m := recv(ctx, t, txs)
	if !bytes.Equal(m.Data, tx) || m.ReceivedFrom == "" {
		t.Fatalf("the old channel got %+v after the switch", m)
	}
}
