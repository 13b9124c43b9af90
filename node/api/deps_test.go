package api

import (
	"context"
	"strings"
	"testing"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/ledger/blockexec"
	"github.com/govnode/govnode/ledger/store"
	"github.com/govnode/govnode/node/mempool"
	"github.com/govnode/govnode/node/metrics"
	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// fullDeps has every required part; none is called.
func fullDeps() Deps {
	return Deps{
		Ledger:     (*store.Store)(nil),
		State:      blockexec.StateReader(nil),
		Validators: func() *pb.ValidatorSet { return nil },
		Mempool:    (*mempool.Mempool)(nil),
		Submit:     func(context.Context, []byte) ([]byte, error) { return nil, nil },
		Consensus:  func() *consensus.Status { return nil },
		Syncing:    func() bool { return false },
		Peers:      func() []p2p.PeerInfo { return nil },
		Commits:    NewHeightNotifier(0),
		Done:       make(chan struct{}),
		Metrics:    metrics.New(),
	}
}

// New refuses Deps without a required part, naming it.
func TestNewNamesMissingDeps(t *testing.T) {
	cases := []struct {
		name  string
		unset func(*Deps)
	}{
		{"Ledger", func(d *Deps) { d.Ledger = nil }},
		{"State", func(d *Deps) { d.State = nil }},
		{"Validators", func(d *Deps) { d.Validators = nil }},
		{"Mempool", func(d *Deps) { d.Mempool = nil }},
		{"Submit", func(d *Deps) { d.Submit = nil }},
		{"Consensus", func(d *Deps) { d.Consensus = nil }},
		{"Syncing", func(d *Deps) { d.Syncing = nil }},
		{"Peers", func(d *Deps) { d.Peers = nil }},
		{"Commits", func(d *Deps) { d.Commits = nil }},
		{"Done", func(d *Deps) { d.Done = nil }},
		{"Metrics", func(d *Deps) { d.Metrics = nil }},
	}
	if _, err := New(fullDeps()); err != nil {
		t.Fatalf("full deps refused: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := fullDeps()
			tc.unset(&d)
			_, err := New(d)
			if err == nil || !strings.Contains(err.Error(), tc.name) {
				t.Fatalf("New without %s: %v, want an error naming it", tc.name, err)
			}
		})
	}
}

// A waiter's channel closes at the next Set and not before; the height it
// then reads is the new one.
func TestHeightNotifierWakes(t *testing.T) {
	n := NewHeightNotifier(4)
	h, changed := n.Wait()
	if h != 4 {
		t.Fatalf("height %d, want 4", h)
	}
	select {
	case <-changed:
		t.Fatal("woken before any commit")
	default:
	}
	n.Set(5) // closes the channel before it returns
	select {
	case <-changed:
	default:
		t.Fatal("not woken by a commit")
	}
	h, again := n.Wait()
	if h != 5 {
		t.Fatalf("height %d after Set(5)", h)
	}
	select {
	case <-again:
		t.Fatal("the new channel is already closed")
	default:
	}
}
