package exec

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// ValidatorSets returns the validator sets recorded in state whose
// effective heights are in [from, to], in order of effective height
// (ARCHITECTURE.md §4, "Reconfiguration"): the genesis set has effective
// height GenesisHeight+1, every later one the height it takes force at.
// The record at effective height E is final once block E-1 is executed
// (a set decided at c is in force from c + validator_change_delay ≥ c+1),
// so the sets at or below the next height never change again.
func ValidatorSets(r Reader, from, to uint64) ([]*pb.ValidatorSet, error) {
	if from > to {
		return nil, nil
	}
	var out []*pb.ValidatorSet
	end := prefixEnd(prefixValset)
	if to < ^uint64(0) {
		end = kValset(to + 1)
	}
	err := newOverlay(readerKV{r}).iterate(kValset(from), end, func(k string, v []byte) error {
		vs := &pb.ValidatorSet{}
		if err := proto.Unmarshal(v, vs); err != nil {
			return fmtInvariant("decode %q: %v", k, err)
		}
		out = append(out, vs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PendingValidatorSets returns the validator sets decided and not yet in
// force after committed height head: those in force from head+2 or later
// (the one in force from head+1 is the next block's), in order of
// effective height.
func PendingValidatorSets(r Reader, head uint64) ([]*pb.ValidatorSet, error) {
	if head >= ^uint64(0)-1 {
		return nil, nil
	}
	return ValidatorSets(r, head+2, ^uint64(0))
}
