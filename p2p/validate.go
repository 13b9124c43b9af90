package p2p

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// errReject marks a provably bad message: the direct protocol refuses it,
// penalises the peer that sent it and resets its stream.
var errReject = errors.New("p2p: reject message")

func rejectf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errReject}, args...)...)
}

// checkTx is p2p's own check of a received transaction when the node set
// no TxValidator:
// size, then decoding, then the envelope's shape.
func checkTx(data []byte, max int) error {
	if err := checkTxSize(data, max); err != nil {
		return err
	}
	var tx pb.SignedTx
	if err := proto.Unmarshal(data, &tx); err != nil {
		return rejectf("tx does not decode: %v", err)
	}
	if len(tx.GetBody()) == 0 || len(tx.GetSignature()) == 0 {
		return rejectf("tx without body or signature")
	}
	return nil
}

// checkTxSize refuses a tx above the limit.
func checkTxSize(data []byte, max int) error {
	if len(data) > max {
		return rejectf("tx of %d bytes, limit %d", len(data), max)
	}
	return nil
}

// checkConsensus bounds and decodes a received consensus message, then
// authenticates it (authConsensus). Errors reject the message unless they
// wrap ErrIgnore.
func checkConsensus(vs *ValidatorSet, check ConsensusCheck, data []byte, max int) (*pb.ConsensusMessage, error) {
	msg, err := decodeConsensus(data, max)
	if err != nil {
		return nil, err
	}
	if err := authConsensus(vs, check, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// decodeConsensus bounds and decodes a received consensus message; what it
// refuses no honest node sends.
func decodeConsensus(data []byte, max int) (*pb.ConsensusMessage, error) {
	if len(data) > max {
		return nil, rejectf("consensus message of %d bytes, limit %d", len(data), max)
	}
	msg := new(pb.ConsensusMessage)
	if err := proto.Unmarshal(data, msg); err != nil {
		return nil, rejectf("consensus message does not decode: %v", err)
	}
	return msg, nil
}

// authConsensus authenticates msg with check against the snapshot vs (the
// node passes consensus.CheckSender; with no check every message is
// refused).
func authConsensus(vs *ValidatorSet, check ConsensusCheck, msg *pb.ConsensusMessage) error {
	if check == nil {
		return rejectf("no consensus check configured (WithConsensusCheck)")
	}
	if err := check(vs, msg); err != nil {
		if errors.Is(err, ErrIgnore) {
			return err
		}
		return rejectf("%v", err)
	}
	return nil
}
