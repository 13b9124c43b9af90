package node

import (
	"context"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// byzantine is the seam of fault injection (issue 9): a validator built with
// the byzantine build tag misbehaves through it (byzantine.go), so that tests
// can check what honest nodes make of a lying peer. The default build's
// newByzantine (byzantine_off.go) returns honest{}, which does nothing: no
// Byzantine behaviour is compiled into a production binary.
//
// The node calls it at two points only: after the transport published one
// of this node's messages (so a fault can follow it with a conflicting one
// or a forged copy), and from Run, which starts run in its own goroutine.
type byzantine interface {
	// consensusSent is told of each consensus message this node published,
	// from the consensus driver's goroutine; it must not keep it long. It
	// must not modify m.
	consensusSent(m *pb.ConsensusMessage)
	// txSent is told of each transaction this node gossiped.
	txSent(tx []byte)
	// run misbehaves on its own schedule until ctx ends.
	run(ctx context.Context)
}

// honest is the byzantine hook of a correct node.
type honest struct{}

func (honest) consensusSent(*pb.ConsensusMessage) {}
func (honest) txSent([]byte)                      {}
func (honest) run(context.Context)                {}
