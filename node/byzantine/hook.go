package byzantine

import (
	"context"
	"log/slog"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Hook is the seam of fault injection (issue 9): a validator built with the
// byzantine build tag misbehaves through it (byzantine.go), so that tests
// can check what honest nodes make of a lying peer. The default build's New
// (byzantine_off.go) returns Honest, which does nothing: no Byzantine
// behaviour is compiled into a production binary.
//
// The node calls it at three points only: after the transport published one
// of this node's consensus messages (so a fault can follow it with a
// conflicting one or a forged copy), after it sent a tx, and from Run,
// which starts Run in its own goroutine.
type Hook interface {
	// ConsensusSent is told of each consensus message this node published,
	// from the consensus driver's goroutine; it must not keep it long. It
	// must not modify m. publish sends a message of its own as it is
	// (node/transport's Faults).
	ConsensusSent(m *pb.ConsensusMessage, publish func(*pb.ConsensusMessage) error)
	// TxSent is told of each transaction this node sent.
	TxSent(tx []byte)
	// Run misbehaves on its own schedule until ctx ends.
	Run(ctx context.Context)
}

// Honest is the hook of a correct node.
type Honest struct{}

func (Honest) ConsensusSent(*pb.ConsensusMessage, func(*pb.ConsensusMessage) error) {}
func (Honest) TxSent([]byte)                                                        {}
func (Honest) Run(context.Context)                                                  {}

// Host is the p2p host a misbehaving validator writes its invalid traffic
// through, bypassing its own transport (*p2p.Host).
type Host interface {
	// Peers are the host's known peers.
	Peers() []p2p.PeerInfo
	// Host is the libp2p host, to open raw streams to peers.
	Host() host.Host
}

var _ Host = (*p2p.Host)(nil)

// Deps are what a misbehaving validator works with.
type Deps struct {
	ChainID string
	// Signer is the validator's consensus key; nil on an observer, which
	// cannot misbehave.
	Signer crypto.PrivateKey
	// Self is the validator's index in the validator set.
	Self   int
	Host   Host
	Logger *slog.Logger
}

func (d Deps) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}
