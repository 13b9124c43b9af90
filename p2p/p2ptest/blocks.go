package p2ptest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Blocks is an in-memory BlockSource of blocks 1..n with fake certificates
// (p2p does not check them) and a set of transactions by hash.
type Blocks struct {
	mu     sync.Mutex
	blocks []*pb.CommittedBlock // blocks[h-1] has height h
	txs    map[string][]byte
}

var _ p2p.BlockSource = (*Blocks)(nil)

// NewBlocks makes a chain of n blocks, each carrying one transaction of
// txSize bytes.
func NewBlocks(t testing.TB, n int, txSize int) *Blocks {
	t.Helper()
	b := &Blocks{txs: make(map[string][]byte)}
	var parent []byte
	for h := 1; h <= n; h++ {
		tx := Tx(t, uint64(h), txSize)
		b.txs[string(crypto.Ed25519SHA256.Hash(tx))] = tx
		hdr := Marshal(t, &pb.Header{ChainId: ChainID, Height: uint64(h), TxCount: 1, ParentHash: parent})
		parent = crypto.Ed25519SHA256.Hash(hdr)
		b.blocks = append(b.blocks, &pb.CommittedBlock{
			Block: &pb.Block{Header: hdr, Txs: [][]byte{tx}},
			Cert:  &pb.CommitCert{Height: uint64(h), BlockHash: crypto.Ed25519SHA256.Hash(hdr)},
		})
	}
	return b
}

func (b *Blocks) Height() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return uint64(len(b.blocks))
}

func (b *Blocks) BlocksRange(from, to uint64) ([]*pb.CommittedBlock, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if from == 0 || to < from || to > uint64(len(b.blocks)) {
		return nil, fmt.Errorf("range %d..%d outside 1..%d", from, to, len(b.blocks))
	}
	return append([]*pb.CommittedBlock(nil), b.blocks[from-1:to]...), nil
}

func (b *Blocks) TxsByHash(hashes [][]byte) [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out [][]byte
	for _, h := range hashes {
		if tx, ok := b.txs[string(h)]; ok {
			out = append(out, tx)
		}
	}
	return out
}

func (b *Blocks) Status() *pb.SyncStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := &pb.SyncStatus{ChainId: ChainID, Height: uint64(len(b.blocks))}
	if n := len(b.blocks); n > 0 {
		st.LastBlockHash = b.blocks[n-1].GetCert().GetBlockHash()
	}
	return st
}

// Tx returns the transaction of block h.
func (b *Blocks) Tx(h uint64) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.blocks[h-1].GetBlock().GetTxs()[0]
}

// BlocksByHash returns the block with hash and up to maxAncestors of its
// ancestors (by height: the fake chain is linear), oldest first.
func (b *Blocks) BlocksByHash(hash []byte, maxAncestors int) []*pb.Block {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, cb := range b.blocks {
		if string(cb.GetCert().GetBlockHash()) == string(hash) {
			lo := max(0, i-maxAncestors)
			var out []*pb.Block
			for _, c := range b.blocks[lo : i+1] {
				out = append(out, c.GetBlock())
			}
			return out
		}
	}
	return nil
}
