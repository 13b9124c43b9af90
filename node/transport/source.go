package transport

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus/driver"
	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Ledger is the committed chain a BlockSource serves (*store.Store).
type Ledger interface {
	// Height is the highest committed height; false before genesis is
	// written.
	Height() (height uint64, ok bool)
	// BlockByHeight returns the hash and the encoded Block at height h.
	BlockByHeight(h uint64) (hash [32]byte, block []byte, err error)
	// BlockByHash returns the height and the encoded Block with hash.
	BlockByHash(hash [32]byte) (height uint64, block []byte, err error)
	// CommitCert returns the encoded CommitCert of height h.
	CommitCert(h uint64) ([]byte, error)
}

// SourceDeps are what a BlockSource reads. All are required.
type SourceDeps struct {
	ChainID     string
	GenesisHash []byte
	Ledger      Ledger
	// Pool answers peers' requests for txs by hash (hash-only proposals).
	Pool TxPool
	// View returns the consensus core's current view, 0 before it ran. It
	// must be safe for concurrent use.
	View func() uint64
	// Done is closed when the node stops: requests waiting on the
	// consensus core end.
	Done <-chan struct{}
}

// BlockSource answers peers' requests of the sync protocol
// (p2p.BlockSource): block sync from the ledger; block fetches from the
// ledger or, for blocks not committed yet, the consensus core, asked
// through the driver (Transport.BlockRequests); txs by hash from the
// mempool.
type BlockSource struct {
	chainID     string
	genesisHash []byte
	ledger      Ledger
	pool        TxPool
	view        func() uint64
	done        <-chan struct{}
	requests    chan driver.BlockRequest
}

var _ p2p.BlockSource = (*BlockSource)(nil)

// NewBlockSource makes the block source the p2p host serves from; the
// node's Transport, made with it, hands its requests for uncommitted blocks
// to the driver.
func NewBlockSource(d SourceDeps) (*BlockSource, error) {
	if d.Ledger == nil || d.Pool == nil || d.View == nil || d.Done == nil {
		return nil, errors.New("transport: block source needs a ledger, mempool, view and done channel")
	}
	return &BlockSource{
		chainID:     d.ChainID,
		genesisHash: d.GenesisHash,
		ledger:      d.Ledger,
		pool:        d.Pool,
		view:        d.View,
		done:        d.Done,
		requests:    make(chan driver.BlockRequest, blockRequestSize),
	}, nil
}

func (s *BlockSource) Height() uint64 {
	h, _ := s.ledger.Height()
	return h
}

func (s *BlockSource) BlocksRange(from, to uint64) ([]*pb.CommittedBlock, error) {
	var out []*pb.CommittedBlock
	for h := from; h <= to; h++ {
		cb, err := s.committedBlock(h)
		if err != nil {
			return out, err
		}
		out = append(out, cb)
	}
	return out, nil
}

// committedBlock loads block h with its certificate, as block sync sends it.
func (s *BlockSource) committedBlock(h uint64) (*pb.CommittedBlock, error) {
	_, raw, err := s.ledger.BlockByHeight(h)
	if err != nil {
		return nil, fmt.Errorf("load block %d: %w", h, err)
	}
	b := &pb.Block{}
	if err := proto.Unmarshal(raw, b); err != nil {
		return nil, fmt.Errorf("decode block %d: %w", h, err)
	}
	rawCert, err := s.ledger.CommitCert(h)
	if err != nil {
		return nil, fmt.Errorf("load commit certificate %d: %w", h, err)
	}
	cert := &pb.CommitCert{}
	if err := proto.Unmarshal(rawCert, cert); err != nil {
		return nil, fmt.Errorf("decode commit certificate %d: %w", h, err)
	}
	return &pb.CommittedBlock{Block: b, Cert: cert}, nil
}

func (s *BlockSource) TxsByHash(hashes [][]byte) [][]byte {
	var out [][]byte
	for _, h := range hashes {
		if tx, ok := s.pool.Get(h); ok {
			out = append(out, tx)
		}
	}
	return out
}

func (s *BlockSource) Status() *pb.SyncStatus {
	h, _ := s.ledger.Height()
	st := &pb.SyncStatus{ChainId: s.chainID, Height: h, GenesisHash: s.genesisHash}
	if h > 0 {
		if hash, _, err := s.ledger.BlockByHeight(h); err == nil {
			st.LastBlockHash = hash[:]
		}
	}
	st.View = s.view()
	return st
}

// BlocksByHash returns the block with hash and up to maxAncestors of its
// ancestors, oldest first: from the consensus core's tree (asked through
// the driver, which owns it) or from the ledger.
func (s *BlockSource) BlocksByHash(hash []byte, maxAncestors int) []*pb.Block {
	var chain []*pb.Block
	for i := 0; i <= maxAncestors && len(hash) == 32; i++ {
		b := s.blockByHash(hash)
		if b == nil {
			break
		}
		chain = append(chain, b)
		hdr := &pb.Header{}
		if proto.Unmarshal(b.GetHeader(), hdr) != nil || hdr.GetHeight() <= 1 {
			break
		}
		hash = hdr.GetParentHash()
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain
}

func (s *BlockSource) blockByHash(hash []byte) *pb.Block {
	var h [32]byte
	copy(h[:], hash)
	if height, raw, err := s.ledger.BlockByHash(h); err == nil && height > 0 {
		b := &pb.Block{}
		if proto.Unmarshal(raw, b) == nil {
			return b
		}
	}
	reply := make(chan *pb.Block, 1)
	select {
	case s.requests <- driver.BlockRequest{Hash: hash, Reply: reply}:
	default:
		return nil
	}
	select {
	case b := <-reply:
		return b
	case <-time.After(time.Second):
		return nil
	case <-s.done:
		return nil
	}
}
