package transport

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// nullLedger is a ledger at genesis.
type nullLedger struct{}

func (nullLedger) Height() (uint64, bool) { return 0, true }
func (nullLedger) BlockByHeight(uint64) ([32]byte, []byte, error) {
	return [32]byte{}, nil, errors.New("no block")
}
func (nullLedger) BlockByHash([32]byte) (uint64, []byte, error) {
	return 0, nil, errors.New("no block")
}
func (nullLedger) CommitCert(uint64) ([]byte, error) { return nil, errors.New("no cert") }

// chainLedger is a committed chain of blocks 1..n, each the child of the one
// before.
type chainLedger struct {
	blocks [][]byte // encoded Block of height i+1
	hashes [][32]byte
}

func newChainLedger(t *testing.T, n int) *chainLedger {
	t.Helper()
	l := &chainLedger{}
	var parent []byte
	for h := uint64(1); h <= uint64(n); h++ {
		hdr, err := proto.Marshal(&pb.Header{ChainId: "src", Height: h, ParentHash: parent})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := proto.Marshal(&pb.Block{Header: hdr})
		if err != nil {
			t.Fatal(err)
		}
		l.blocks = append(l.blocks, raw)
		l.hashes = append(l.hashes, [32]byte(crypto.Ed25519SHA256.Hash(hdr)))
		parent = crypto.Ed25519SHA256.Hash(hdr)
	}
	return l
}

func (l *chainLedger) Height() (uint64, bool) { return uint64(len(l.blocks)), true }

func (l *chainLedger) BlockByHeight(h uint64) ([32]byte, []byte, error) {
	if h < 1 || h > uint64(len(l.blocks)) {
		return [32]byte{}, nil, errors.New("not found")
	}
	return l.hashes[h-1], l.blocks[h-1], nil
}

func (l *chainLedger) BlockByHash(hash [32]byte) (uint64, []byte, error) {
	for i, h := range l.hashes {
		if h == hash {
			return uint64(i + 1), l.blocks[i], nil
		}
	}
	return 0, nil, errors.New("not found")
}

func (l *chainLedger) CommitCert(h uint64) ([]byte, error) {
	if h < 1 || h > uint64(len(l.blocks)) {
		return nil, errors.New("not found")
	}
	return proto.Marshal(&pb.CommitCert{Height: h, BlockHash: l.hashes[h-1][:]})
}

// The block source serves the ledger's blocks with their certificates, its
// status with the core's view, a block and its ancestors by hash from the
// ledger, and a block the ledger lacks from the consensus core through
// the transport's block requests.
func TestBlockSourceServes(t *testing.T) {
	l := newChainLedger(t, 5)
	done := make(chan struct{})
	defer close(done)
	tx := []byte("tx")
	src, err := NewBlockSource(SourceDeps{ChainID: "src", GenesisHash: []byte("genesis"), Ledger: l,
		Pool: poolOf(tx), View: func() uint64 { return 9 }, Done: done})
	if err != nil {
		t.Fatal(err)
	}

	cbs, err := src.BlocksRange(2, 4)
	if err != nil || len(cbs) != 3 {
		t.Fatalf("BlocksRange(2, 4): %d blocks, %v", len(cbs), err)
	}
	for i, cb := range cbs {
		h := uint64(i + 2)
		if cb.GetCert().GetHeight() != h || !bytes.Equal(crypto.Ed25519SHA256.Hash(cb.GetBlock().GetHeader()), l.hashes[h-1][:]) {
			t.Fatalf("block %d served with the wrong block or certificate", h)
		}
	}
	if cbs, err := src.BlocksRange(4, 6); err == nil || len(cbs) != 2 {
		t.Fatalf("BlocksRange past the head: %d blocks, err %v; want the 2 held and an error", len(cbs), err)
	}

	st := src.Status()
	if st.GetHeight() != 5 || st.GetView() != 9 || st.GetChainId() != "src" || string(st.GetGenesisHash()) != "genesis" ||
		!bytes.Equal(st.GetLastBlockHash(), l.hashes[4][:]) {
		t.Fatalf("status %v", st)
	}
	if got := src.TxsByHash([][]byte{crypto.Ed25519SHA256.Hash([]byte("other")), crypto.Ed25519SHA256.Hash(tx)}); len(got) != 1 || !bytes.Equal(got[0], tx) {
		t.Fatalf("TxsByHash: %q", got)
	}

	chain := src.BlocksByHash(l.hashes[3][:], 2)
	if len(chain) != 3 {
		t.Fatalf("block 4 with 2 ancestors: %d blocks", len(chain))
	}
	for i, b := range chain {
		if !bytes.Equal(crypto.Ed25519SHA256.Hash(b.GetHeader()), l.hashes[i+1][:]) {
			t.Fatalf("block %d of the chain is not block %d", i, i+2)
		}
	}

	// A block not committed yet: asked of the core, which answers.
	pending := &pb.Block{Header: []byte("pending")}
	want := crypto.Ed25519SHA256.Hash([]byte("uncommitted"))
	go func() {
		req := <-src.requests
		if bytes.Equal(req.Hash, want) {
			req.Reply <- pending
		}
		close(req.Reply)
	}()
	if got := src.BlocksByHash(want, 0); len(got) != 1 || !proto.Equal(got[0], pending) {
		t.Fatalf("uncommitted block from the core: %v", got)
	}
}

// Bad sizes and missing dependencies are refused, naming what is wrong.
func TestNewRefuses(t *testing.T) {
	good := func() (Config, Deps) {
		tr := newTestTransport(t, 16)
		return Config{MaxTxHashes: 16}, Deps{Host: tr.host, Source: &BlockSource{}, Pool: tr.pool, Validators: tr.validators,
			CheckTxs: tr.checkTxs, Metrics: tr.metrics, Done: tr.done, WG: tr.wg}
	}
	cases := map[string]struct {
		edit func(*Config, *Deps)
		want string
	}{
		"no hashes a request": {func(c *Config, _ *Deps) { c.MaxTxHashes = 0 }, "MaxTxHashes 0, want at least 1"},
		"negative block txs":  {func(c *Config, _ *Deps) { c.MaxBlockTxs = -1 }, "MaxBlockTxs -1"},
		"no host":             {func(_ *Config, d *Deps) { d.Host = nil }, "needs a host"},
		"no block source":     {func(_ *Config, d *Deps) { d.Source = nil }, "needs a host"},
		"no tx check":         {func(_ *Config, d *Deps) { d.CheckTxs = nil }, "needs a host"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, d := good()
			c.edit(&cfg, &d)
			if _, err := New(cfg, d); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one saying %q", err, c.want)
			}
		})
	}
	cfg, d := good()
	if _, err := New(cfg, d); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	if _, err := NewBlockSource(SourceDeps{Pool: nullPool{}, View: func() uint64 { return 0 }, Done: make(chan struct{})}); err == nil {
		t.Fatal("a block source without a ledger was made")
	}
}
