package blockexec

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// FuzzValidateBlock decodes arbitrary bytes as a proposed block (the
// payload a leader gossips) and its header, and asks the executor to
// validate it above the genesis, as a validator does before voting
// (ARCHITECTURE.md §3 step 4). Decoding and validation must not panic, and a block
// that passes must carry exactly the txs its header commits to: the
// header's chain id, tx count and tx root, no tx twice, no tx over the
// size limit.
func FuzzValidateBlock(f *testing.F) {
	a := newTestApp(f)
	txs := [][]byte{[]byte("tx one"), []byte("tx two")}
	hdr, err := a.BuildPayload(consensus.ProposeSlot{Height: 1}, txs)
	if err != nil {
		f.Fatal(err)
	}
	hdr.ChainId, hdr.Height = a.chainID, 1
	good := &pb.Block{Header: fuzzMarshal(f, hdr), Txs: txs}
	f.Add(fuzzMarshal(f, good))
	empty, err := a.BuildPayload(consensus.ProposeSlot{Height: 1}, nil)
	if err != nil {
		f.Fatal(err)
	}
	empty.ChainId, empty.Height = a.chainID, 1
	f.Add(fuzzMarshal(f, &pb.Block{Header: fuzzMarshal(f, empty)}))
	// The genuine seeds must pass, or the fuzzer explores only refusals.
	for _, b := range []*pb.Block{good} {
		var h pb.Header
		if err := proto.Unmarshal(b.GetHeader(), &h); err != nil {
			f.Fatal(err)
		}
		if err := a.ValidateBlock(consensus.ValidationRequest{Hash: crypto.Ed25519SHA256.Hash(b.GetHeader()), Block: b, Header: &h}); err != nil {
			f.Fatalf("genuine block refused: %v", err)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})                   // empty header
	f.Add([]byte{0x0a, 0x02, 0x08, 0x01, 0x12}) // truncated tx
	swapped := proto.Clone(good).(*pb.Block)
	swapped.Txs = [][]byte{txs[1], txs[0]}
	f.Add(fuzzMarshal(f, swapped))
	twice := proto.Clone(good).(*pb.Block)
	twice.Txs = [][]byte{txs[0], txs[0]}
	f.Add(fuzzMarshal(f, twice))

	f.Fuzz(func(t *testing.T, data []byte) {
		var b pb.Block
		if proto.Unmarshal(data, &b) != nil {
			return
		}
		var h pb.Header
		if proto.Unmarshal(b.GetHeader(), &h) != nil {
			return
		}
		if a.ValidateBlock(consensus.ValidationRequest{Hash: crypto.Ed25519SHA256.Hash(b.GetHeader()), Block: &b, Header: &h}) != nil {
			return
		}
		if h.GetChainId() != a.chainID {
			t.Fatalf("accepted chain id %q", h.GetChainId())
		}
		if int(h.GetTxCount()) != len(b.GetTxs()) {
			t.Fatalf("accepted tx_count %d with %d txs", h.GetTxCount(), len(b.GetTxs()))
		}
		hashes := make([][]byte, len(b.GetTxs()))
		seen := map[string]bool{}
		for i, tx := range b.GetTxs() {
			if uint64(len(tx)) > a.Params().GetMaxTxBytes() {
				t.Fatalf("accepted a %d-byte tx", len(tx))
			}
			hashes[i] = crypto.Ed25519SHA256.Hash(tx)
			if seen[string(hashes[i])] {
				t.Fatal("accepted a tx twice")
			}
			seen[string(hashes[i])] = true
		}
		if !bytes.Equal(h.GetTxRoot(), crypto.Ed25519SHA256.MerkleRoot(hashes)) {
			t.Fatal("accepted a tx root that does not commit to the txs")
		}
	})
}

func fuzzMarshal(tb testing.TB, m proto.Message) []byte {
	tb.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
