package p2p_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/p2p"
	"github.com/govnode/govnode/p2p/p2ptest"
	"github.com/govnode/govnode/p2p/wire"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func heightOf(t *testing.T, cb *pb.CommittedBlock) uint64 {
	t.Helper()
	var h pb.Header
	if err := proto.Unmarshal(cb.GetBlock().GetHeader(), &h); err != nil {
		t.Fatal(err)
	}
	return h.GetHeight()
}

// ARCHITECTURE.md §4 (block sync): blocks by height range with their certificates,
// capped per request and per response; transactions by hash; status.
func TestSyncServesBlocksTxsStatus(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	nw := p2ptest.NewNetwork(t, 3, 5)
	src := p2ptest.NewBlocks(t, 300, 100)
	cfg0 := nw.Config(0)
	cfg0.MaxBlocksPerRequest = 64
	server := nw.Start(0, cfg0, p2p.WithBlockSource(src))
	client := nw.Start(1, nw.Config(1))
	// Node 2 serves with a tight response budget: about 10 blocks.
	cfg2 := nw.Config(2)
	cfg2.MaxResponseBytes = 10 * proto.Size(mustBlocks(t, src, 1, 1)[0])
	small := nw.Start(2, cfg2, p2p.WithBlockSource(src))
	nw.WaitConnected(10 * time.Second)

	tests := []struct {
		name       string
		from, to   uint64
		peer       peer.ID
		wantFirst  uint64
		wantCount  int
		maxCount   int // when the byte budget decides
		wantErrSub string
	}{
		{name: "range", from: 5, to: 20, peer: server.ID(), wantFirst: 5, wantCount: 16},
		{name: "single", from: 300, to: 300, peer: server.ID(), wantFirst: 300, wantCount: 1},
		{name: "capped per request", from: 1, to: 1000, peer: server.ID(), wantFirst: 1, wantCount: 64},
		{name: "capped at height", from: 290, to: 400, peer: server.ID(), wantFirst: 290, wantCount: 11},
		{name: "beyond height", from: 301, to: 400, peer: server.ID(), wantCount: 0},
		{name: "capped per response bytes", from: 1, to: 50, peer: small.ID(), wantFirst: 1, maxCount: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blocks, err := client.RequestBlocks(ctx, tt.peer, tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if tt.maxCount > 0 {
				if len(blocks) == 0 || len(blocks) > tt.maxCount {
					t.Fatalf("%d blocks, want 1..%d", len(blocks), tt.maxCount)
				}
			} else if len(blocks) != tt.wantCount {
				t.Fatalf("%d blocks, want %d", len(blocks), tt.wantCount)
			}
			want := mustBlocks(t, src, tt.from, tt.from+uint64(len(blocks))-1)
			for i, b := range blocks {
				if h := heightOf(t, b); h != tt.wantFirst+uint64(i) {
					t.Fatalf("block %d has height %d", i, h)
				}
				if !proto.Equal(b, want[i]) || b.GetCert() == nil {
					t.Fatalf("block %d differs from the source's", i)
				}
			}
		})
	}

	hashes := [][]byte{crypto.Ed25519SHA256.Hash(src.Tx(7)), crypto.Ed25519SHA256.Hash([]byte("unknown")), crypto.Ed25519SHA256.Hash(src.Tx(9))}
	txs, err := client.RequestTxs(ctx, server.ID(), hashes)
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != 2 || !bytes.Equal(txs[0], src.Tx(7)) || !bytes.Equal(txs[1], src.Tx(9)) {
		t.Fatalf("txs = %d items", len(txs))
	}
	st, err := client.RequestStatus(ctx, server.ID())
	if err != nil {
		t.Fatal(err)
	}
	if st.GetHeight() != 300 || st.GetChainId() != p2ptest.ChainID {
		t.Fatalf("status = %v", st)
	}

	// Refusals come back as RemoteError, and the client checks its inputs.
	var re *p2p.RemoteError
	if _, err := client.RequestTxs(ctx, server.ID(), [][]byte{[]byte("short")}); !errors.As(err, &re) {
		t.Fatalf("bad hash: err = %v", err)
	}
	if _, err := server.RequestStatus(ctx, client.ID()); !errors.As(err, &re) || !strings.Contains(re.Message, "does not serve") {
		t.Fatalf("no block source: err = %v", err)
	}
	if _, err := client.RequestBlocks(ctx, server.ID(), 10, 5); err == nil {
		t.Fatal("inverted range accepted")
	}
	if got := server.Stats().SyncServed; got != 5+2 { // 5 block ranges, txs, status
		t.Fatalf("SyncServed = %d", got)
	}
}

func mustBlocks(t *testing.T, src *p2ptest.Blocks, from, to uint64) []*pb.CommittedBlock {
	t.Helper()
	if to < from {
		return nil
	}
	b, err := src.BlocksRange(from, to)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ARCHITECTURE.md §7 ("every bad input gets a clear error and changes nothing"):
// oversized, truncated and malformed frames and unknown request kinds are
// refused with a SyncError, and the server keeps serving.
func TestSyncRefusesBadFrames(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	nw := p2ptest.NewNetwork(t, 2, 6)
	prober := p2ptest.Identities(t, 1, 66)[0]
	cfg0 := nw.Config(0)
	cfg0.Observers = []peer.ID{prober.PeerID}
	logs := &logBuffer{}
	server := nw.Start(0, cfg0, p2p.WithBlockSource(p2ptest.NewBlocks(t, 10, 10)), p2p.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	client := nw.Start(1, nw.Config(1))
	nw.WaitConnected(10 * time.Second)

	ph := rawHost(t, prober)
	if err := ph.Connect(ctx, peer.AddrInfo{ID: server.ID(), Addrs: server.Addrs()}); err != nil {
		t.Fatal(err)
	}
	frame := func(m proto.Message) []byte { return wire.AppendFrame(nil, p2ptest.Marshal(t, m)) }
	unknownField := protowire.AppendTag(nil, 9, protowire.BytesType)
	unknownField = protowire.AppendBytes(unknownField, []byte("future request kind"))
	tooManyHashes := make([][]byte, p2p.DefaultConfig().MaxTxHashesPerRequest+1)
	for i := range tooManyHashes {
		tooManyHashes[i] = make([]byte, 32)
	}
	tests := []struct {
		name    string
		raw     []byte
		wantSub string
	}{
		{"oversized frame", binary.AppendUvarint(nil, 1<<40), "too large"},
		{"oversized, just over the request bound", binary.AppendUvarint(nil, 1<<20), "too large"},
		{"broken length prefix", bytes.Repeat([]byte{0xff}, 11), "malformed length"},
		{"truncated frame", append(binary.AppendUvarint(nil, 100), make([]byte, 10)...), "unexpected EOF"},
		{"empty stream", nil, "EOF"},
		{"malformed protobuf", wire.AppendFrame(nil, []byte{0x0a, 0xff, 0xff, 0xff}), "malformed"},
		{"unknown request kind", wire.AppendFrame(nil, nil), "unknown request kind"},
		{"future request kind", wire.AppendFrame(nil, unknownField), "unknown request kind"},
		{"zero height", frame(&pb.SyncRequest{Req: &pb.SyncRequest_Blocks{Blocks: &pb.BlocksRequest{FromHeight: 0, ToHeight: 5}}}), "bad range"},
		{"inverted range", frame(&pb.SyncRequest{Req: &pb.SyncRequest_Blocks{Blocks: &pb.BlocksRequest{FromHeight: 5, ToHeight: 4}}}), "bad range"},
		{"too many hashes", frame(&pb.SyncRequest{Req: &pb.SyncRequest_Txs{Txs: &pb.TxsRequest{Hashes: tooManyHashes}}}), "hashes, at most"},
		{"request frame over its bound", frame(&pb.SyncRequest{Req: &pb.SyncRequest_Txs{Txs: &pb.TxsRequest{Hashes: append(tooManyHashes, tooManyHashes...)}}}), "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := server.Stats().SyncRefused
			s, err := ph.NewStream(ctx, server.ID(), p2p.SyncProtocol(p2ptest.ChainID))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_ = s.SetDeadline(time.Now().Add(10 * time.Second))
			// The server may answer and stop reading before a large write
			// ends; then the write fails and the answer is still there.
			if _, err := s.Write(tt.raw); err == nil {
				_ = s.CloseWrite()
			}
			var resp pb.SyncResponse
			if err := wire.ReadMsg(wire.NewReader(s), 1<<20, &resp); err != nil {
				t.Fatalf("no response: %v", err)
			}
			msg := resp.GetError().GetMessage()
			if !strings.Contains(msg, tt.wantSub) {
				t.Fatalf("response %v, want a SyncError containing %q", &resp, tt.wantSub)
			}
			if _, err := s.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("stream not closed after the response: %v", err)
			}
			if server.Stats().SyncRefused != before+1 {
				t.Fatal("refusal not counted")
			}
		})
	}
	// The server is still up and serving.
	st, err := client.RequestStatus(ctx, server.ID())
	if err != nil || st.GetHeight() != 10 {
		t.Fatalf("after bad frames: status %v, err %v", st, err)
	}
	// Every refusal was counted; only a few were logged, the last saying
	// the rest are counted only (a peer looping bad requests cannot fill
	// the operator's disk).
	out := logs.String()
	if n := strings.Count(out, "sync request refused"); n == 0 || n >= len(tests) || !strings.Contains(out, "not logged") {
		t.Fatalf("%d refusals logged of %d (want a few, then a note):\n%s", n, len(tests), out)
	}
}

// A client refuses a response frame over its bound without reading it.
func TestSyncClientRefusesOversizedResponse(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	nw := p2ptest.NewNetwork(t, 2, 7)
	server := nw.Start(0, nw.Config(0), p2p.WithBlockSource(p2ptest.NewBlocks(t, 100, 2000)))
	cfg1 := nw.Config(1)
	cfg1.MaxResponseBytes = 4096 // the server fills up to its own, larger budget
	client := nw.Start(1, cfg1)
	nw.WaitConnected(10 * time.Second)

	_, err := client.RequestBlocks(ctx, server.ID(), 1, 100)
	if !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
	if client.Stats().SyncClientErrors == 0 {
		t.Fatal("client error not counted")
	}
	// Small requests still work.
	blocks, err := client.RequestBlocks(ctx, server.ID(), 1, 1)
	if err != nil || len(blocks) != 1 {
		t.Fatalf("small request: %d blocks, err %v", len(blocks), err)
	}
}

// Consensus fetches of a missing block: the block and its ancestors, oldest
// first; an unknown hash gives an empty answer; a bad hash is refused.
func TestSyncBlockByHash(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	nw := p2ptest.NewNetwork(t, 2, 7)
	src := p2ptest.NewBlocks(t, 40, 50)
	server := nw.Start(0, nw.Config(0), p2p.WithBlockSource(src))
	client := nw.Start(1, nw.Config(1))
	nw.WaitConnected(10 * time.Second)

	want := mustBlocks(t, src, 30, 30)[0]
	hash := want.GetCert().GetBlockHash()
	blocks, err := client.RequestBlockByHash(ctx, server.ID(), hash)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != p2p.MaxFetchAncestors+1 {
		t.Fatalf("%d blocks, want %d", len(blocks), p2p.MaxFetchAncestors+1)
	}
	if last := blocks[len(blocks)-1]; !bytes.Equal(crypto.Ed25519SHA256.Hash(last.GetHeader()), hash) {
		t.Fatal("last block is not the one asked")
	}
	if h := heightOf(t, &pb.CommittedBlock{Block: blocks[0]}); h != 30-p2p.MaxFetchAncestors {
		t.Fatalf("first block at height %d", h)
	}
	// Near genesis there are fewer ancestors.
	blocks, err = client.RequestBlockByHash(ctx, server.ID(), mustBlocks(t, src, 2, 2)[0].GetCert().GetBlockHash())
	if err != nil || len(blocks) != 2 {
		t.Fatalf("block 2: %d blocks, %v", len(blocks), err)
	}
	// Unknown block: empty.
	blocks, err = client.RequestBlockByHash(ctx, server.ID(), bytes.Repeat([]byte{7}, 32))
	if err != nil || len(blocks) != 0 {
		t.Fatalf("unknown block: %d blocks, %v", len(blocks), err)
	}
	// Malformed hash: refused by the client before sending.
	if _, err := client.RequestBlockByHash(ctx, server.ID(), []byte{1, 2}); err == nil {
		t.Fatal("short hash accepted")
	}
}

// External addresses (NAT, load balancer) are what the host announces
// instead of its listen addresses.
func TestExternalAddrsAnnounced(t *testing.T) {
	nw := p2ptest.NewNetwork(t, 1, 9)
	cfg := nw.Config(0)
	cfg.ExternalAddrs = []string{"/ip4/203.0.113.7/tcp/4001"}
	n := nw.Start(0, cfg)
	addrs := n.Addrs()
	if len(addrs) != 1 || addrs[0].String() != "/ip4/203.0.113.7/tcp/4001" {
		t.Fatalf("announced %v, want the external address only", addrs)
	}
	bad := nw.Config(0)
	bad.ExternalAddrs = []string{"not a multiaddr"}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "external address") {
		t.Fatalf("bad external address: %v", err)
	}
}
