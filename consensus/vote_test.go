package consensus_test

import (
	"errors"
	"math"
	"testing"

	"github.com/govnode/govnode/consensus"
)

// TestVoteRule is ARCHITECTURE.md §4 "Vote", case by case.
func TestVoteRule(t *testing.T) {
	normal := consensus.VoteCase{View: 5, LastVotedView: 5, LastVotedHeight: 9, BlockView: 5, BlockHeight: 10,
		ProposerIsLeader: true, JustifyView: 5, JustifyHeight: 9}
	first := consensus.VoteCase{View: 5, LastVotedView: 4, LastVotedHeight: math.MaxUint64, BlockView: 5, BlockHeight: 10,
		ProposerIsLeader: true, JustifyView: 3, JustifyHeight: 9, HasTC: true, TCView: 4, TCHighView: 3, TCHighHeight: 9}
	edit := func(c consensus.VoteCase, f func(*consensus.VoteCase)) consensus.VoteCase { f(&c); return c }
	tests := []struct {
		name string
		c    consensus.VoteCase
		ok   bool
	}{
		{"normal path", normal, true},
		{"block of another view", edit(normal, func(c *consensus.VoteCase) { c.BlockView = 6 }), false},
		{"not from the leader", edit(normal, func(c *consensus.VoteCase) { c.ProposerIsLeader = false }), false},
		{"same (view, height) again", edit(normal, func(c *consensus.VoteCase) { c.LastVotedHeight = 10 }), false},
		{"below last voted", edit(normal, func(c *consensus.VoteCase) { c.LastVotedHeight = 12 }), false},
		{"height does not follow justify", edit(normal, func(c *consensus.VoteCase) { c.JustifyHeight = 8 }), false},
		{"after timing out in the view", edit(normal, func(c *consensus.VoteCase) { c.LastVotedHeight = math.MaxUint64 }), false},
		{"first block with TC(v-1), justify = TC high QC", first, true},
		{"first block, justify above TC high QC", edit(first, func(c *consensus.VoteCase) { c.JustifyView, c.TCHighHeight = 4, 12 }), true},
		{"first block, justify below TC high QC", edit(first, func(c *consensus.VoteCase) { c.TCHighHeight = 10 }), false},
		{"first block, justify of an older view than TC high QC", edit(first, func(c *consensus.VoteCase) { c.TCHighView = 4; c.TCHighHeight = 2 }), false},
		{"first block without TC", edit(first, func(c *consensus.VoteCase) { c.HasTC = false }), false},
		{"first block with TC of another view", edit(first, func(c *consensus.VoteCase) { c.TCView = 3 }), false},
		{"second TC-path block in a view", edit(first, func(c *consensus.VoteCase) { c.LastVotedView, c.LastVotedHeight = 5, 7 }), false},
		{"justify from a later view", edit(normal, func(c *consensus.VoteCase) { c.JustifyView = 6 }), false},
		{"view 0 from genesis", consensus.VoteCase{BlockHeight: 1, ProposerIsLeader: true}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := consensus.VoteRule(tc.c)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, consensus.ErrVoteRefused) {
				t.Fatalf("VoteRule = %v, want refusal", err)
			}
		})
	}
}
