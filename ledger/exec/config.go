package exec

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/govnode/govnode/crypto"
)

// Hard limits that hold whatever the chain parameters say.
const (
	// HardMaxTxBytes caps what DecodeTx will even try to decode. The chain's
	// Params.max_tx_bytes (normally far lower) is checked after it.
	HardMaxTxBytes = 4 << 20
	// DefaultCELCostLimit bounds one CEL evaluation (guard, deadline,
	// penalty, field assignment, tender score): CELCostLimit (cel.go).
	// CEL's cost is computed from the evaluation itself, so it is
	// deterministic across nodes; every node of a chain must use the same
	// limit.
	DefaultCELCostLimit = CELCostLimit
	// DefaultMaxExprBytes bounds the source of one CEL expression.
	DefaultMaxExprBytes = 2048
)

// SigCache remembers transactions whose signature already verified (the
// mempool's verdict), so ApplyBlock does not verify them again. Keys are
// opaque: the executor derives them from the tx hash AND the signer's key,
// so a key rotated between admission and execution is verified again.
// Implementations must be safe for concurrent use; a cache may forget keys
// at any time (that only costs a verification). CheckTx and PreverifyTxs
// add keys; CheckTx, PreverifyTxs and ApplyBlock look them up.
type SigCache interface {
	Seen(key []byte) bool
	Add(key []byte)
}

// Config configures an Executor. It is a plain value; DefaultConfig fills
// the defaults and Validate checks it.
type Config struct {
	// ChainID is the chain every transaction and header must name.
	ChainID string
	// Suite is the chain's crypto suite (ARCHITECTURE.md §6, "Crypto
	// suites"): tx hashes, content hashes and bid commitments are its
	// hash, and every key that enters the state must be of its scheme.
	// The zero value is ed25519-sha256.
	Suite crypto.Suite
	// CELCostLimit bounds one CEL evaluation; an evaluation over it fails
	// (guard failed), deterministically on every node.
	CELCostLimit uint64
	// MaxExprBytes bounds each CEL expression of a template.
	MaxExprBytes int
	// SigCache is optional; nil means every signature is verified.
	SigCache SigCache
	// VerifyWorkers bounds the goroutines that verify one block's
	// signatures (a batch split into chunks); 0 or 1: the caller's only.
	// Verdicts do not depend on it.
	VerifyWorkers int
	// Known is optional: the node's table of txs decoded at admission,
	// whose facts ApplyBlock, PreverifyTxs and CheckTx take instead of
	// decoding again. Results do not depend on it.
	Known *Known
}

// DefaultConfig returns a Config for chainID with the default limits and
// a verify worker per CPU the Go runtime uses.
func DefaultConfig(chainID string) Config {
	return Config{ChainID: chainID, CELCostLimit: DefaultCELCostLimit, MaxExprBytes: DefaultMaxExprBytes,
		VerifyWorkers: runtime.GOMAXPROCS(0)}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.ChainID == "" {
		errs = append(errs, errors.New("chain id is empty"))
	} else if err := ValidChainID(c.ChainID); err != nil {
		errs = append(errs, fmt.Errorf("chain id: %w", err))
	}
	if c.CELCostLimit == 0 {
		errs = append(errs, errors.New("CEL cost limit is 0"))
	}
	if c.MaxExprBytes <= 0 || c.MaxExprBytes > 64<<10 {
		errs = append(errs, fmt.Errorf("max expression bytes %d out of range (1..65536)", c.MaxExprBytes))
	}
	if c.VerifyWorkers < 0 || c.VerifyWorkers > 1024 {
		errs = append(errs, fmt.Errorf("verify workers %d out of range (0..1024)", c.VerifyWorkers))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("exec config: %w", err)
	}
	return nil
}
