package p2p

import (
	"fmt"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"google.golang.org/protobuf/proto"
)

// ValidatorSet maps a validator index to its consensus public key. It is
// immutable once built, so the direct protocol's checks can read it from many
// goroutines without a lock; a set change builds a new one.
type ValidatorSet struct {
	keys []*pb.PublicKey
}

// NewValidatorSet builds a set from keys, where keys[i] belongs to validator
// i. Every key must be well formed; the keys are copied.
func NewValidatorSet(keys []*pb.PublicKey) (*ValidatorSet, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("p2p: empty validator set")
	}
	vs := &ValidatorSet{keys: make([]*pb.PublicKey, len(keys))}
	for i, k := range keys {
		if err := crypto.ValidatePublicKey(k); err != nil {
			return nil, fmt.Errorf("p2p: validator %d: %w", i, err)
		}
		vs.keys[i] = proto.Clone(k).(*pb.PublicKey)
	}
	return vs, nil
}

// Len is the number of validators.
func (vs *ValidatorSet) Len() int { return len(vs.keys) }

// Key returns validator i's key; the caller must not modify it.
func (vs *ValidatorSet) Key(i uint32) (*pb.PublicKey, bool) {
	if uint64(i) >= uint64(len(vs.keys)) {
		return nil, false
	}
	return vs.keys[i], true
}
