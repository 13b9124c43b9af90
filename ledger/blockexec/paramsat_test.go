package blockexec

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/state"
	"github.com/govnode/govnode/ledger/store"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// commitParams commits block h straight to a's store, with no txs and one
// state change: the chain parameters become p (what a passed params
// proposal leaves in state), and makes a read them as its latest.
func commitParams(t *testing.T, a *Executor, h uint64, p *pb.Params) {
	t.Helper()
	hdr := &pb.Header{ChainId: a.chainID, Height: h, StateHeight: h - 1, TimeUnixMs: time.Unix(1_700_000_000+int64(h), 0).UnixMilli()}
	hb, err := proto.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := proto.Marshal(&pb.Block{Header: hb})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := proto.Marshal(&pb.CommitCert{Height: h, BlockHash: crypto.Ed25519SHA256.Hash(hb)})
	if err != nil {
		t.Fatal(err)
	}
	pv, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	cd := &store.CommitData{Height: h, Block: blk, Cert: cert, Changes: []state.Change{{Key: exec.ParamsKey(), Value: pv}}}
	copy(cd.BlockHash[:], crypto.Ed25519SHA256.Hash(hb))
	if err := a.store.Commit(cd); err != nil {
		t.Fatal(err)
	}
	if err := a.reloadChainState(); err != nil {
		t.Fatal(err)
	}
}

// A block is checked against the parameters in force at its own height,
// those in committed state at its state_height (ARCHITECTURE.md §5), not
// this node's latest: a node that has committed a params change (or not
// yet) votes as every other validator does. Heights: genesis
// max_block_txs 5000, height 1 lowers it to 64, height 2 raises it to 100
// and max_tx_bytes to 128 KiB.
func TestValidateBlockUsesParamsAtStateHeight(t *testing.T) {
	a := newTestApp(t)
	p0 := proto.Clone(a.Params()).(*pb.Params)
	p1 := proto.Clone(p0).(*pb.Params)
	p1.MaxBlockTxs = 64
	p2 := proto.Clone(p1).(*pb.Params)
	p2.MaxBlockTxs, p2.MaxTxBytes = 100, 128<<10
	for _, p := range []*pb.Params{p1, p2} {
		if err := exec.ValidateParams(p); err != nil {
			t.Fatal(err)
		}
	}
	txs := func(n, size int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = fmt.Appendf(nil, "tx %d ", i)
			out[i] = append(out[i], bytes.Repeat([]byte{'x'}, max(0, size-len(out[i])))...)
		}
		return out
	}
	validate := func(stateHeight uint64, txs [][]byte) error {
		hdr, err := a.BuildPayload(consensus.ProposeSlot{Height: stateHeight + 2, StateHeight: stateHeight}, txs)
		if err != nil {
			t.Fatal(err)
		}
		hdr.ChainId, hdr.Height = a.chainID, stateHeight+2
		return a.ValidateBlock(consensus.ValidationRequest{Header: hdr, Block: &pb.Block{Txs: txs}, StateHeight: stateHeight})
	}
	accept := func(what string, stateHeight uint64, txs [][]byte) {
		t.Helper()
		if err := validate(stateHeight, txs); err != nil {
			t.Fatalf("%s: refused: %v", what, err)
		}
	}
	refuse := func(what string, stateHeight uint64, txs [][]byte, want string) {
		t.Helper()
		if err := validate(stateHeight, txs); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: ValidateBlock = %v, want a refusal naming %q", what, err, want)
		}
	}

	commitParams(t, a, 1, p1)
	if got := a.Params().GetMaxBlockTxs(); got != 64 {
		t.Fatalf("latest max_block_txs %d, want 64", got)
	}
	// This node's latest params are lower than those the block is under.
	accept("80 txs attesting height 0 (limit 5000), latest limit 64", 0, txs(80, 10))
	refuse("80 txs attesting height 1 (limit 64)", 1, txs(80, 10), "block has 80 txs, limit 64")
	refuse("5001 txs attesting height 0 (limit 5000)", 0, txs(5001, 10), "block has 5001 txs, limit 5000")

	commitParams(t, a, 2, p2)
	// This node's latest params are higher than those the block is under.
	refuse("80 txs attesting height 1 (limit 64), latest limit 100", 1, txs(80, 10), "block has 80 txs, limit 64")
	accept("80 txs attesting height 2 (limit 100)", 2, txs(80, 10))
	refuse("101 txs attesting height 2 (limit 100)", 2, txs(101, 10), "block has 101 txs, limit 100")
	big := txs(1, 100<<10)
	refuse("a 100 KiB tx attesting height 1 (max_tx_bytes 64 KiB)", 1, big, "limit 65536")
	accept("a 100 KiB tx attesting height 2 (max_tx_bytes 128 KiB)", 2, big)

	// The parameters of every committed height stay readable, and a height
	// not committed yet is an error, never a guess.
	for h, want := range []*pb.Params{p0, p1, p2} {
		got, err := a.ParamsAt(uint64(h))
		if err != nil || !proto.Equal(got, want) {
			t.Fatalf("ParamsAt(%d) = %v, %v; want %v", h, got, err, want)
		}
	}
	if _, err := a.ParamsAt(3); err == nil {
		t.Fatal("ParamsAt(3) above the ledger's head gave params")
	}
}
