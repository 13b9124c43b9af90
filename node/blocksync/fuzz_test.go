package blocksync

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/blockexec"
	"github.com/govnode/govnode/ledger/store"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// fuzzChain is a 4-validator byzantine chain (quorum 3) whose blocks and
// commit certificates are built and signed here, so that block sync
// verification can be fed both genuine batches and mutations of them.
type fuzzChain struct {
	cfg     consensus.Config
	keys    []crypto.PrivateKey
	hdrs    [][]byte // hdrs[h-1] is the serialized header at height h
	blocks  []*pb.Block
	genesis []byte
}

const fuzzChainID = "fuzz-chain"

func newFuzzChain(tb testing.TB, n int) *fuzzChain {
	tb.Helper()
	r := rand.NewChaCha8([32]byte{'s', 'y', 'n', 'c'})
	c := &fuzzChain{genesis: crypto.Ed25519SHA256.Hash([]byte("fuzz genesis"))}
	var pubs []*pb.PublicKey
	for range 4 {
		k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, r)
		if err != nil {
			tb.Fatal(err)
		}
		c.keys = append(c.keys, k)
		pubs = append(pubs, k.Public())
	}
	c.cfg = consensus.DefaultConfig()
	c.cfg.ChainID = fuzzChainID
	c.cfg.GenesisHash = c.genesis
	c.cfg.Validators = pubs
	c.cfg.FaultModel = consensus.Byzantine
	parent := c.genesis
	for h := 1; h <= n; h++ {
		var txs [][]byte
		if h%2 == 0 {
			txs = [][]byte{[]byte(fmt.Sprintf("tx of block %d", h))}
		}
		hashes := make([][]byte, len(txs))
		for i, tx := range txs {
			hashes[i] = crypto.Ed25519SHA256.Hash(tx)
		}
		hdr := fuzzMarshal(tb, &pb.Header{ChainId: fuzzChainID, Height: uint64(h), View: 1, TimeUnixMs: int64(h),
			ParentHash: parent, TxRoot: crypto.Ed25519SHA256.MerkleRoot(hashes), TxCount: uint32(len(txs))})
		c.hdrs = append(c.hdrs, hdr)
		c.blocks = append(c.blocks, &pb.Block{Header: hdr, Txs: txs})
		parent = crypto.Ed25519SHA256.Hash(hdr)
	}
	return c
}

func fuzzMarshal(tb testing.TB, m proto.Message) []byte {
	tb.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// cert is the commit certificate of block h: its child h+1 (same view)
// and the child's QC signed by signers validators.
func (c *fuzzChain) cert(tb testing.TB, h, signers int) *pb.CommitCert {
	tb.Helper()
	child := c.hdrs[h] // height h+1
	qc := &pb.QuorumCert{View: 1, Height: uint64(h + 1), BlockHash: crypto.Ed25519SHA256.Hash(child)}
	for i := range signers {
		sig, err := c.keys[i].Sign(crypto.VoteSignBytes(fuzzChainID, 1, uint64(h+1), qc.GetBlockHash()))
		if err != nil {
			tb.Fatal(err)
		}
		qc.Sigs = append(qc.Sigs, &pb.ValidatorSig{Validator: uint32(i), Signature: sig})
	}
	return &pb.CommitCert{Height: uint64(h), BlockHash: crypto.Ed25519SHA256.Hash(c.hdrs[h-1]), ChildHeader: child, ChildQc: qc}
}

// batch is blocks from..to, block h carrying the certificate of
// certOf(h).
func (c *fuzzChain) batch(tb testing.TB, from, to int, certOf func(h int) *pb.CommitCert) *pb.BlocksResponse {
	tb.Helper()
	out := &pb.BlocksResponse{}
	for h := from; h <= to; h++ {
		out.Blocks = append(out.Blocks, &pb.CommittedBlock{Block: proto.Clone(c.blocks[h-1]).(*pb.Block), Cert: certOf(h)})
	}
	return out
}

// FuzzVerifySynced decodes arbitrary bytes as the BlocksResponse a peer
// answers to a block sync request and passes its blocks to Syncer.Verify,
// above either the genesis (height 0) or a ledger whose head is block 1
// of the same chain. Verify must not panic, and every block it
// returns must be one of those given, at the next height, with the hash of
// its header, decoded from that header, and chained by parent hash from
// the head (ARCHITECTURE.md §4 "Block sync": a node commits only blocks that extend its chain
// and carry a commit certificate). The seeds are genuine batches signed
// here (each block with its own certificate, or committed through a later
// block's), and mutations of them; testdata/fuzz/FuzzVerifySynced adds
// malformed batches.
func FuzzVerifySynced(f *testing.F) {
	const n = 8
	c := newFuzzChain(f, n)

	// A ledger at height 1 holding block 1 of c.
	st, err := store.Open(filepath.Join(f.TempDir(), "ledger"), store.DefaultOptions())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	if err := st.InitGenesis(nil); err != nil {
		f.Fatal(err)
	}
	h1 := crypto.Ed25519SHA256.Hash(c.hdrs[0])
	if err := st.Commit(&store.CommitData{Height: 1, BlockHash: [32]byte(h1),
		Block: fuzzMarshal(f, c.blocks[0]), Cert: fuzzMarshal(f, c.cert(f, 1, 3))}); err != nil {
		f.Fatal(err)
	}
	node := &Syncer{c: Config{Consensus: c.cfg, Ledger: st}}

	own := func(h int) *pb.CommitCert { return c.cert(f, h, 3) }
	add := func(fromHead bool, r *pb.BlocksResponse) { f.Add(fromHead, fuzzMarshal(f, r)) }
	// The genuine batches must verify whole, or the seeds test nothing.
	genuine := func(ours uint64, r *pb.BlocksResponse) {
		if out, err := node.Verify(ours, r.GetBlocks()); err != nil || len(out) != len(r.GetBlocks()) {
			f.Fatalf("genuine batch above %d: %d of %d blocks verified: %v", ours, len(out), len(r.GetBlocks()), err)
		}
		add(ours == 1, r)
	}
	genuine(0, c.batch(f, 1, 4, own))
	genuine(1, c.batch(f, 2, 5, own))
	// Blocks 2 and 3 committed through block 4's certificate.
	genuine(1, c.batch(f, 2, 4, func(int) *pb.CommitCert { return c.cert(f, 4, 4) }))
	// A batch that does not start at the head.
	add(true, c.batch(f, 1, 3, own))
	// Block 2 certified by block 5, which is not in the batch.
	add(true, c.batch(f, 2, 4, func(h int) *pb.CommitCert { return c.cert(f, h+3, 3) }))
	// Too few signatures on block 3's certificate.
	add(false, c.batch(f, 1, 4, func(h int) *pb.CommitCert { return c.cert(f, h, 2+min(1, h%3)) }))
	// Block 2's transactions replaced.
	swapped := c.batch(f, 1, 3, own)
	swapped.Blocks[1].Block.Txs = [][]byte{[]byte("not the tx")}
	add(false, swapped)
	// A certificate for a height far beyond the batch.
	far := c.batch(f, 1, 2, own)
	far.Blocks[0].Cert.Height = 1 << 63
	add(false, far)
	add(false, &pb.BlocksResponse{Blocks: []*pb.CommittedBlock{nil, {}}})

	heads := map[bool][]byte{false: c.genesis, true: h1}
	f.Fuzz(func(t *testing.T, fromHead bool, data []byte) {
		var resp pb.BlocksResponse
		if err := proto.Unmarshal(data, &resp); err != nil {
			return
		}
		ours := uint64(0)
		if fromHead {
			ours = 1
		}
		in := resp.GetBlocks()
		out, err := node.Verify(ours, in)
		if len(out) > len(in) {
			t.Fatalf("%d blocks verified out of %d", len(out), len(in))
		}
		if err == nil && len(out) != len(in) {
			t.Fatalf("%d of %d blocks verified and no error", len(out), len(in))
		}
		prev := heads[fromHead]
		for i, cb := range out {
			want := ours + 1 + uint64(i)
			if cb.Height != want {
				t.Fatalf("verified block %d has height %d, want %d", i, cb.Height, want)
			}
			if cb.Block != in[i].GetBlock() || cb.Cert != in[i].GetCert() {
				t.Fatalf("verified block %d is not the block given at that position", i)
			}
			raw := cb.Block.GetHeader()
			if !bytes.Equal(cb.Hash, crypto.Ed25519SHA256.Hash(raw)) {
				t.Fatalf("block %d: hash %x is not the hash of its header", want, cb.Hash)
			}
			var hdr pb.Header
			if err := proto.Unmarshal(raw, &hdr); err != nil {
				t.Fatalf("block %d: verified with an undecodable header: %v", want, err)
			}
			if !proto.Equal(&hdr, cb.Header) {
				t.Fatalf("block %d: returned header is not the block's", want)
			}
			if hdr.GetHeight() != want || !bytes.Equal(hdr.GetParentHash(), prev) {
				t.Fatalf("block %d (header height %d, parent %x) does not chain from %x", want, hdr.GetHeight(), hdr.GetParentHash(), prev)
			}
			if cb.Cert == nil || cb.Cert.GetHeight() < want {
				t.Fatalf("block %d verified without a certificate at or above it", want)
			}
			if err := blockexec.CheckBlockTxs(crypto.Ed25519SHA256, cb.Block, &hdr); err != nil {
				t.Fatalf("block %d: %v", want, err)
			}
			prev = cb.Hash
		}
		// Nothing but this chain's blocks is signed by its validators: a
		// verified block is one of c's.
		for i, cb := range out {
			if !bytes.Equal(cb.Block.GetHeader(), c.hdrs[ours+uint64(i)]) {
				t.Fatalf("verified a block %d that the validators never signed", cb.Height)
			}
		}
	})
}
