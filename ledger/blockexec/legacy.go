package blockexec

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// ErrUnappliedSetChange: the ledger holds blocks certified by a validator
// set other than the one its state says was in force at their height.
// Binaries before live membership (ARCHITECTURE.md §4, "Reconfiguration")
// recorded a governed set change in state but went on running consensus
// with the genesis set, and named its hash in every header. This binary
// applies the recorded change at its effective height, so it can neither
// verify the blocks those binaries certified after that height nor agree
// with the nodes that still run one: it refuses the ledger rather than
// stall or split from them.
var ErrUnappliedSetChange = errors.New("blockexec: the ledger's blocks were certified by a set other than the one state puts in force")

// checkSetChangesApplied checks, for every validator set with an effective
// height E in 2..head, that the stored header at E names it
// (validator_set_hash), as every header of this binary does. It reads one
// header per change.
func checkSetChangesApplied(suite crypto.Suite, r exec.Reader, head uint64, header func(h uint64) (*pb.Header, error)) error {
	sets, err := exec.ValidatorSets(r, exec.GenesisHeight+2, head)
	if err != nil {
		return fmt.Errorf("validator sets up to %d: %w", head, err)
	}
	for _, vs := range sets {
		e := vs.GetEffectiveHeight()
		want, err := validatorSetHash(suite, vs)
		if err != nil {
			return err
		}
		hdr, err := header(e)
		if err != nil {
			return fmt.Errorf("header %d: %w", e, err)
		}
		if !bytes.Equal(hdr.GetValidatorSetHash(), want) {
			return fmt.Errorf("%w: state puts a new validator set (%d validators, %s) in force from height %d, "+
				"but block %d names set %x, not %x: the change was recorded by a govnode before live membership, which never applied it. "+
				"This binary cannot continue this chain; run the binary the chain was started with",
				ErrUnappliedSetChange, len(vs.GetValidators()), vs.GetFaultModel(), e, e, hdr.GetValidatorSetHash(), want)
		}
	}
	return nil
}

// storedHeader is the header of the committed block at h.
func storedHeader(a *Executor) func(h uint64) (*pb.Header, error) {
	return func(h uint64) (*pb.Header, error) {
		b, err := LoadBlock(a.store, h)
		if err != nil {
			return nil, err
		}
		hdr := &pb.Header{}
		if err := proto.Unmarshal(b.GetHeader(), hdr); err != nil {
			return nil, fmt.Errorf("decode header %d: %w", h, err)
		}
		return hdr, nil
	}
}
