package node

import (
	"time"

	"github.com/govnode/govnode/ledger/blockexec"
	"github.com/govnode/govnode/node/metrics"
)

// The block executor's wiring: its clock and its metrics.

// wallClock is the node's wall clock, shifted by Options.ClockOffset.
type wallClock struct{ offset time.Duration }

var _ blockexec.Clock = wallClock{}

func (c wallClock) Now() time.Time { return time.Now().Add(c.offset) }

// ledgerMetrics are the block executor's instruments in the node's
// registry.
func ledgerMetrics(m *metrics.Metrics) blockexec.Metrics {
	return blockexec.Metrics{
		Height: m.Height, CommittedTxs: m.CommittedTxs, FailedTxs: m.FailedTxs, BlockInterval: m.BlockInterval,
		ApplyDuration: m.ApplyDuration, CommitDuration: m.CommitDuration,
	}
}
