package blocksync

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/store"
	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// epochChain is a chain whose genesis set (4 validators, byzantine) hands
// over to another set of 4 at height 5: block 4 ends the first epoch
// (ARCHITECTURE.md §4 "Reconfiguration"). Blocks 2, 3 and 4 were committed
// indirectly, by the certificate of suffix block 5s (child 6s, same view),
// which the old set certified but nobody executes; the ledger holds the
// new set's blocks 5..7 above block 4.
type epochChain struct {
	old, next consensus.Config
	oldKeys   []crypto.PrivateKey
	nextKeys  []crypto.PrivateKey
	blocks    []*pb.CommittedBlock // as a peer's ledger serves them: blocks[h-1] at height h
	suffix    [][]byte             // headers of 5s and 6s
}

const (
	epochChainID = "epoch-chain"
	epochStart   = 5 // E; L = 4
)

func newEpochChain(t *testing.T, selfContained bool) *epochChain {
	t.Helper()
	r := rand.NewChaCha8([32]byte{'e', 'p', 'o', 'c', 'h'})
	keys := func() ([]crypto.PrivateKey, []*pb.PublicKey) {
		var ks []crypto.PrivateKey
		var pubs []*pb.PublicKey
		for range 4 {
			k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, r)
			if err != nil {
				t.Fatal(err)
			}
			ks, pubs = append(ks, k), append(pubs, k.Public())
		}
		return ks, pubs
	}
	c := &epochChain{}
	var oldPubs, nextPubs []*pb.PublicKey
	c.oldKeys, oldPubs = keys()
	c.nextKeys, nextPubs = keys()
	c.old = consensus.DefaultConfig()
	c.old.ChainID, c.old.GenesisHash = epochChainID, crypto.Ed25519SHA256.Hash([]byte("epoch genesis"))
	c.old.Validators, c.old.FaultModel = oldPubs, consensus.Byzantine

	header := func(h, view uint64, parent []byte, valset string) []byte {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.Header{ChainId: epochChainID, Height: h, View: view,
			ParentHash: parent, ValidatorSetHash: crypto.Ed25519SHA256.Hash([]byte(valset)), TxRoot: crypto.Ed25519SHA256.MerkleRoot(nil)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cert := func(cfg consensus.Config, ks []crypto.PrivateKey, block, child []byte) *pb.CommitCert {
		b, ch := &pb.Header{}, &pb.Header{}
		if proto.Unmarshal(block, b) != nil || proto.Unmarshal(child, ch) != nil {
			t.Fatal("header")
		}
		qc := &pb.QuorumCert{View: ch.GetView(), Height: ch.GetHeight(), BlockHash: crypto.Ed25519SHA256.Hash(child)}
		for i, k := range ks {
			sig, err := k.Sign(crypto.VoteSignBytes(cfg.Domain(), qc.GetView(), qc.GetHeight(), qc.GetBlockHash()))
			if err != nil {
				t.Fatal(err)
			}
			qc.Sigs = append(qc.Sigs, &pb.ValidatorSig{Validator: uint32(i), Signature: sig})
		}
		return &pb.CommitCert{Height: b.GetHeight(), BlockHash: crypto.Ed25519SHA256.Hash(block), ChildHeader: child, ChildQc: qc}
	}

	// The old set: views 1, 1, 2, 3 for blocks 1..4, then suffix 5s and 6s
	// in view 4.
	var hdrs [][]byte
	parent := c.old.GenesisHash
	for h, view := range []uint64{1, 1, 2, 3, 4, 4} {
		hdrs = append(hdrs, header(uint64(h+1), view, parent, "old"))
		parent = crypto.Ed25519SHA256.Hash(hdrs[h])
	}
	c.suffix = hdrs[4:]
	bySuffix := cert(c.old, c.oldKeys, hdrs[4], hdrs[5])
	for h := 1; h <= 4; h++ {
		ct := bySuffix
		if h == 1 {
			ct = cert(c.old, c.oldKeys, hdrs[0], hdrs[1])
		} else if selfContained {
			ct = proto.Clone(bySuffix).(*pb.CommitCert)
			ct.Chain = append([][]byte(nil), hdrs[h:5]...)
		}
		c.blocks = append(c.blocks, &pb.CommittedBlock{Block: &pb.Block{Header: hdrs[h-1]}, Cert: ct})
	}
	// The new set, rooted at block 4 (view 3): blocks 5..8 in view 4, each
	// committed by its child; 8 is not served.
	root := hdrs[3]
	c.next = c.old.WithEpoch(consensus.Epoch{Start: epochStart, Validators: nextPubs, FaultModel: consensus.Byzantine,
		Root: &pb.QuorumCert{View: 3, Height: epochStart - 1, BlockHash: crypto.Ed25519SHA256.Hash(root)}}, -1)
	parent = crypto.Ed25519SHA256.Hash(root)
	var next [][]byte
	for h := uint64(epochStart); h <= epochStart+3; h++ {
		next = append(next, header(h, 4, parent, "next"))
		parent = crypto.Ed25519SHA256.Hash(next[len(next)-1])
	}
	for i := range 3 {
		c.blocks = append(c.blocks, &pb.CommittedBlock{Block: &pb.Block{Header: next[i]}, Cert: cert(c.next, c.nextKeys, next[i], next[i+1])})
	}
	return c
}

// epochPeers is one peer serving c's blocks.
type epochPeers struct {
	id peer.ID
	c  *epochChain
}

func (p *epochPeers) Peers() []p2p.PeerInfo {
	return []p2p.PeerInfo{{ID: p.id, Member: true, Connected: true}}
}

func (p *epochPeers) RequestStatus(context.Context, peer.ID) (*pb.SyncStatus, error) {
	return &pb.SyncStatus{ChainId: epochChainID, GenesisHash: p.c.old.GenesisHash, Height: uint64(len(p.c.blocks))}, nil
}

func (p *epochPeers) RequestBlocks(_ context.Context, _ peer.ID, from, to uint64) ([]*pb.CommittedBlock, error) {
	if from == 0 || to < from || to > uint64(len(p.c.blocks)) {
		return nil, fmt.Errorf("range %d..%d", from, to)
	}
	return p.c.blocks[from-1 : to], nil
}

// syncAcross runs a Syncer above an empty ledger against one peer serving
// c, with the executor's behaviour at an epoch's end (it stores nothing
// after block L of a batch, and the next set is in force above L), and
// returns the ledger and the certificates its commits were given.
func syncAcross(t *testing.T, c *epochChain) (*store.Store, map[uint64]*pb.CommitCert) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "ledger"), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.InitGenesis(nil); err != nil {
		t.Fatal(err)
	}
	lk, _, err := lcrypto.GenerateEd25519Key(rand.NewChaCha8([32]byte{'p'}))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(lk)
	if err != nil {
		t.Fatal(err)
	}
	certs := map[uint64]*pb.CommitCert{}
	commit := func(cbs []consensus.CommittedBlock) error {
		for _, cb := range cbs {
			head, _ := st.Height()
			if cb.Height <= head {
				continue
			}
			raw, _ := proto.Marshal(cb.Block)
			rawCert, _ := proto.Marshal(cb.Cert)
			if err := st.Commit(&store.CommitData{Height: cb.Height, BlockHash: [32]byte(cb.Hash), Block: raw, Cert: rawCert}); err != nil {
				return err
			}
			certs[cb.Height] = cb.Cert
			if cb.Height == epochStart-1 {
				return nil // the rest of the batch is the suffix, or checked against the next set
			}
		}
		return nil
	}
	epoch := func() (consensus.Epoch, error) {
		if head, _ := st.Height(); head >= epochStart-1 {
			return consensus.Epoch{Start: c.next.Epoch, Root: c.next.Root, Validators: c.next.Validators, FaultModel: c.next.FaultModel}, nil
		}
		return consensus.Epoch{Validators: c.old.Validators, FaultModel: c.old.FaultModel}, nil
	}
	s, err := New(Config{Consensus: c.old, Epoch: epoch, Peers: &epochPeers{id: id, c: c}, Ledger: st, Commit: commit,
		Committed: func([]consensus.CommittedBlock) {}, Synced: nopCounter{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	return st, certs
}

type nopCounter struct{}

func (nopCounter) Add(float64) {}

// A node syncs across an epoch's end whose last block L was committed
// indirectly, by a certificate of the old set's suffix (ARCHITECTURE.md §4
// "Reconfiguration"): the stored certificates of L and its ancestors carry
// the headers up to the suffix block, so the batch's next blocks, the new
// set's, are not needed to prove them, and are checked against the new set.
func TestSyncAcrossEpochCommittedBySuffix(t *testing.T) {
	c := newEpochChain(t, true)
	st, certs := syncAcross(t, c)
	if head, _ := st.Height(); head != uint64(len(c.blocks)) {
		t.Fatalf("synced to %d, want %d", head, len(c.blocks))
	}
	for h := uint64(1); h <= uint64(len(c.blocks)); h++ {
		hash, _, err := st.BlockByHeight(h)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(hash[:], crypto.Ed25519SHA256.Hash(c.blocks[h-1].GetBlock().GetHeader())) {
			t.Fatalf("block %d is not the chain's", h)
		}
		if h < epochStart && !proto.Equal(certs[h], c.blocks[h-1].GetCert()) {
			t.Fatalf("block %d committed with another certificate than the peer's", h)
		}
	}
}

// Certificates of an epoch's last blocks that lean on the suffix without
// carrying it (as ledgers stored them before pb.CommitCert.chain) cannot be
// verified: the node stops below them rather than take the new set's
// blocks as their chain.
func TestSyncStopsAtRootCertificateWithoutChain(t *testing.T) {
	c := newEpochChain(t, false)
	st, _ := syncAcross(t, c)
	if head, _ := st.Height(); head != 1 {
		t.Fatalf("synced to %d, want 1", head)
	}
}

// A block proven through a later block of the batch is not returned when
// that block fails verification: the executor stores its certificate with
// the headers of the blocks up to the certificate's (blockexec
// Executor.Commit), and would not have them.
func TestVerifyReturnsNoBlockWithoutItsChain(t *testing.T) {
	c := newFuzzChain(t, 6)
	st, err := store.Open(filepath.Join(t.TempDir(), "ledger"), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.InitGenesis(nil); err != nil {
		t.Fatal(err)
	}
	s := &Syncer{c: Config{Consensus: c.cfg, Ledger: st}}
	// Blocks 1..5: 2 and 3 committed through 4, whose transactions are
	// replaced.
	r := c.batch(t, 1, 5, func(h int) *pb.CommitCert {
		if h == 2 || h == 3 {
			return c.cert(t, 4, 3)
		}
		return c.cert(t, h, 3)
	})
	r.Blocks[3].Block.Txs = [][]byte{[]byte("not the tx")}
	out, err := s.Verify(0, r.GetBlocks())
	if err == nil || !strings.Contains(err.Error(), "block 4") {
		t.Fatalf("Verify = %v, want an error at block 4", err)
	}
	if len(out) != 1 {
		t.Fatalf("%d blocks verified, want 1 (2 and 3 are proven through block 4)", len(out))
	}
}
