package consensus_test

import (
	"errors"
	"testing"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/consensus/consensustest"
)

// TestQuorum checks the ARCHITECTURE.md §4 table: crash q = ⌊n/2⌋+1, byzantine
// q = ⌊2n/3⌋+1, and that two quorums always share a correct validator.
func TestQuorum(t *testing.T) {
	tests := []struct {
		model consensus.FaultModel
		n     int
		q, f  int
	}{
		{consensus.Crash, 1, 1, 0}, {consensus.Crash, 2, 2, 0}, {consensus.Crash, 3, 2, 1},
		{consensus.Crash, 4, 3, 1}, {consensus.Crash, 5, 3, 2}, {consensus.Crash, 7, 4, 3},
		{consensus.Byzantine, 1, 1, 0}, {consensus.Byzantine, 3, 3, 0}, {consensus.Byzantine, 4, 3, 1},
		{consensus.Byzantine, 5, 4, 1}, {consensus.Byzantine, 6, 5, 1}, {consensus.Byzantine, 7, 5, 2},
		{consensus.Byzantine, 10, 7, 3}, {consensus.Byzantine, 100, 67, 33},
	}
	for _, tc := range tests {
		q, f := consensus.Quorum(tc.model, tc.n), consensus.MaxFaulty(tc.model, tc.n)
		if q != tc.q || f != tc.f {
			t.Errorf("%s n=%d: q=%d f=%d, want q=%d f=%d", tc.model, tc.n, q, f, tc.q, tc.f)
		}
		// Two quorums overlap in more than the faulty validators that may lie.
		overlap := 2*q - tc.n
		if tc.model == consensus.Byzantine && overlap <= f {
			t.Errorf("%s n=%d: quorums overlap in %d ≤ f=%d", tc.model, tc.n, overlap, f)
		}
		if tc.model == consensus.Crash && overlap < 1 {
			t.Errorf("%s n=%d: quorums may be disjoint", tc.model, tc.n)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	keys := consensustest.Keys(4, 1)
	good := consensustest.Config(keys, consensus.Byzantine)
	good.Self = 2
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name string
		edit func(c *consensus.Config)
	}{
		{"empty chain id", func(c *consensus.Config) { c.ChainID = "" }},
		{"short genesis", func(c *consensus.Config) { c.GenesisHash = c.GenesisHash[:5] }},
		{"no validators", func(c *consensus.Config) { c.Validators = nil }},
		{"bad key", func(c *consensus.Config) { c.Validators[1] = nil }},
		{"self out of range", func(c *consensus.Config) { c.Self = 4 }},
		{"self below -1", func(c *consensus.Config) { c.Self = -2 }},
		{"fault model", func(c *consensus.Config) { c.FaultModel = "raft" }},
		{"max timeout below base", func(c *consensus.Config) { c.MaxTimeoutTicks = c.BaseTimeoutTicks - 1 }},
		{"heartbeat not below timeout", func(c *consensus.Config) { c.HeartbeatTicks = c.BaseTimeoutTicks }},
		{"zero limit", func(c *consensus.Config) { c.MaxOrphans = 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := consensustest.Config(consensustest.Keys(4, 1), consensus.Byzantine)
			tc.edit(&c)
			if err := c.Validate(); !errors.Is(err, consensus.ErrInvalidConfig) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
			}
		})
	}
}
