package exec

import (
	"fmt"
	"strings"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Bounds of the chain parameters. Governance can change the parameters, so
// each bound keeps the chain able to run, and to govern itself, whatever a
// passed proposal says: before them a change setting max_tx_bytes to 1 was
// accepted, and then no transaction fitted, the one to undo it included.
// ValidateParams checks them for genesis, for a params-change proposal when
// it is submitted (CheckTx, and its block) and again when it executes.
const (
	// MinMaxTxBytes is the floor of max_tx_bytes. Every governance
	// transaction that can mend the chain fits under it with every field
	// at its limit: a params change, a vote, a department to add (with its
	// admin) or remove, a record type to install, evidence
	// (TestGovernanceTxsFitUnderTheFloor measures each). A contract
	// template has no such bound; at the floor, raise max_tx_bytes first.
	MinMaxTxBytes = 64 << 10
	// MaxMaxTxBytes is the ceiling of max_tx_bytes: DecodeTx refuses
	// anything larger whatever the parameters say.
	MaxMaxTxBytes = HardMaxTxBytes

	// MinMaxBlockTxs is the floor of max_block_txs: a block holds a
	// proposal and the votes of MinMaxBlockTxs-1 departments, so a few
	// busy signers cannot crowd governance out of every block.
	MinMaxBlockTxs = 64
	// MaxMaxBlockTxs is the ceiling of max_block_txs: consensus takes it as
	// an int, and a hash-only proposal carries 32 bytes per tx in one p2p
	// message.
	MaxMaxBlockTxs = 100_000

	// MinMaxBlockBytes is the floor of max_block_bytes (which must also be
	// at least max_tx_bytes): room for a largest governance proposal and
	// MinMaxBlockTxs-1 votes with everything else a busy block carries.
	MinMaxBlockBytes = 1 << 20
	// MaxMaxBlockBytes is the ceiling of max_block_bytes. A proposal
	// gossips a whole block as one p2p message of up to max_block_bytes
	// plus 1 MiB for the header and certificates, and p2p refuses a limit
	// over 16 MiB: a larger block could never be proposed, and a node
	// would refuse to start with the chain's parameters.
	MaxMaxBlockBytes = 15 << 20

	// MinTimeoutMs and MaxTimeoutMs bound propose_timeout_ms and
	// max_view_timeout_ms. Below 100 ms (10 ticks of the node's 10 ms
	// clock, the least consensus uses) a view would end before a proposal
	// crossed a wide-area network; above 10 minutes a crashed leader would
	// stall the chain for that long.
	MinTimeoutMs = 100
	MaxTimeoutMs = 10 * 60 * 1000
	// MinHeartbeatIntervalMs is the floor of heartbeat_interval_ms, one
	// tick of the node's consensus clock; it must also stay below
	// propose_timeout_ms, or followers replace an idle leader.
	MinHeartbeatIntervalMs = 10

	// MinValidatorChangeDelay is the floor of validator_change_delay: the
	// consensus pipeline plus one. A header attests state at least two
	// blocks below its own height, so a set decided at c is in the state
	// the root block E-1 attests only when E >= c+3; with a shorter delay
	// a light client could not prove the set against its root block
	// (ARCHITECTURE.md §4, "Proofs across set changes").
	MinValidatorChangeDelay = 3
	// MaxValidatorChangeDelay is the ceiling of validator_change_delay. A
	// change that takes effect more than this many blocks later is one the
	// consortium cannot count on, and height + delay must not overflow.
	MaxValidatorChangeDelay = 10_000
)

// ParamProblem is one chain parameter out of its bounds.
type ParamProblem struct {
	// Field is the parameter's proto name ("max_tx_bytes"); empty when the
	// parameters are missing altogether.
	Field string
	// Reason names the value and the bound it breaks.
	Reason string
}

// ParamsError lists every parameter out of its bounds.
type ParamsError struct {
	Problems []ParamProblem
}

func (e *ParamsError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		if p.Field == "" {
			parts[i] = "params: " + p.Reason
		} else {
			parts[i] = "params." + p.Field + ": " + p.Reason
		}
	}
	return strings.Join(parts, "; ")
}

// ValidateParams checks every chain parameter against its bounds (the
// constants above) and returns nil or a *ParamsError listing each problem.
// It is the one check of a Params value: genesis validation (the genesis
// package and InitGenesis) and governance (a params-change proposal when
// submitted and when executed) call it.
func ValidateParams(p *pb.Params) error { return validateParams(p, MinValidatorChangeDelay) }

// GenesisMinValidatorChangeDelay is the floor of validator_change_delay in
// a genesis document: chains started before the floor rose to
// MinValidatorChangeDelay keep starting and admitting new nodes with
// theirs (the genesis package warns); a params change must meet
// MinValidatorChangeDelay.
const GenesisMinValidatorChangeDelay = 1

// ValidateGenesisParams is ValidateParams for a genesis document's
// parameters, with GenesisMinValidatorChangeDelay as the delay's floor.
func ValidateGenesisParams(p *pb.Params) error {
	return validateParams(p, GenesisMinValidatorChangeDelay)
}

func validateParams(p *pb.Params, minDelay uint64) error {
	if p == nil {
		return &ParamsError{Problems: []ParamProblem{{Reason: "missing"}}}
	}
	var probs []ParamProblem
	bad := func(field, format string, args ...any) {
		probs = append(probs, ParamProblem{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	inRange := func(field string, v, lo, hi uint64, why string) bool {
		if v < lo || v > hi {
			bad(field, "%d is out of range [%d, %d]%s", v, lo, hi, why)
			return false
		}
		return true
	}

	propose, view, hb := p.GetProposeTimeoutMs(), p.GetMaxViewTimeoutMs(), p.GetHeartbeatIntervalMs()
	proposeOK := inRange("propose_timeout_ms", propose, MinTimeoutMs, MaxTimeoutMs, "")
	if inRange("max_view_timeout_ms", view, MinTimeoutMs, MaxTimeoutMs, "") && proposeOK && view < propose {
		bad("max_view_timeout_ms", "%d is below propose_timeout_ms %d", view, propose)
	}
	if hb < MinHeartbeatIntervalMs {
		bad("heartbeat_interval_ms", "%d is below the floor %d", hb, MinHeartbeatIntervalMs)
	} else if proposeOK && hb >= propose {
		bad("heartbeat_interval_ms", "%d must be below propose_timeout_ms %d, or followers replace an idle leader", hb, propose)
	}

	txBytes := p.GetMaxTxBytes()
	txOK := inRange("max_tx_bytes", txBytes, MinMaxTxBytes, MaxMaxTxBytes, ": the largest governance transaction must fit, the one undoing this change included")
	blockBytes := p.GetMaxBlockBytes()
	if inRange("max_block_bytes", blockBytes, MinMaxBlockBytes, MaxMaxBlockBytes, "") && txOK && blockBytes < txBytes {
		bad("max_block_bytes", "%d is below max_tx_bytes %d: a largest transaction would fit in no block", blockBytes, txBytes)
	}
	inRange("max_block_txs", p.GetMaxBlockTxs(), MinMaxBlockTxs, MaxMaxBlockTxs, ": a block must hold a proposal and its votes")
	inRange("validator_change_delay", p.GetValidatorChangeDelay(), minDelay, MaxValidatorChangeDelay, " blocks: a change must be provable from its root block")

	if len(probs) > 0 {
		return &ParamsError{Problems: probs}
	}
	return nil
}
