package p2p

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/p2p/wire"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// fuzzSource is an in-memory BlockSource: blocks 1..n chained by parent
// hash, each with one transaction of txSize bytes. It mirrors
// p2ptest.Blocks, which an in-package test cannot import (p2ptest imports
// p2p). It is read-only once built, so it needs no lock.
type fuzzSource struct {
	blocks []*pb.CommittedBlock // blocks[h-1] has height h
	txs    map[string][]byte
	// payloads are held by commitment; commitments lists them in order.
	payloads    map[string]*pb.Payload
	commitments [][]byte
}

var (
	_ BlockSource   = (*fuzzSource)(nil)
	_ PayloadSource = (*fuzzSource)(nil)
)

func newFuzzSource(tb testing.TB, n, txSize int) *fuzzSource {
	tb.Helper()
	s := &fuzzSource{txs: map[string][]byte{}, payloads: map[string]*pb.Payload{}}
	for i := range 8 {
		salt := bytes.Repeat([]byte{byte(i + 1)}, crypto.PayloadSaltSize)
		content := bytes.Repeat([]byte{byte(i)}, txSize*(i+1))
		c := crypto.Ed25519SHA256.PayloadCommitment(salt, content)
		s.payloads[string(c)] = &pb.Payload{Salt: salt, Content: content}
		s.commitments = append(s.commitments, c)
	}
	var parent []byte
	for h := 1; h <= n; h++ {
		tx := bytes.Repeat([]byte{byte(h)}, txSize)
		s.txs[string(crypto.Ed25519SHA256.Hash(tx))] = tx
		hdr, err := proto.Marshal(&pb.Header{ChainId: testChain, Height: uint64(h), TxCount: 1, ParentHash: parent})
		if err != nil {
			tb.Fatal(err)
		}
		parent = crypto.Ed25519SHA256.Hash(hdr)
		s.blocks = append(s.blocks, &pb.CommittedBlock{
			Block: &pb.Block{Header: hdr, Txs: [][]byte{tx}},
			Cert:  &pb.CommitCert{Height: uint64(h), BlockHash: parent},
		})
	}
	return s
}

func (s *fuzzSource) Payloads(commitments [][]byte) []*pb.Payload {
	var out []*pb.Payload
	for _, c := range commitments {
		if p, ok := s.payloads[string(c)]; ok {
			out = append(out, p)
		}
	}
	return out
}

func (s *fuzzSource) Height() uint64 { return uint64(len(s.blocks)) }

func (s *fuzzSource) BlocksRange(from, to uint64) ([]*pb.CommittedBlock, error) {
	if from == 0 || to < from || to > uint64(len(s.blocks)) {
		return nil, fmt.Errorf("range %d..%d outside 1..%d", from, to, len(s.blocks))
	}
	return append([]*pb.CommittedBlock(nil), s.blocks[from-1:to]...), nil
}

func (s *fuzzSource) TxsByHash(hashes [][]byte) [][]byte {
	var out [][]byte
	for _, h := range hashes {
		if tx, ok := s.txs[string(h)]; ok {
			out = append(out, tx)
		}
	}
	return out
}

func (s *fuzzSource) Status() *pb.SyncStatus {
	st := &pb.SyncStatus{ChainId: testChain, Height: s.Height()}
	if n := len(s.blocks); n > 0 {
		st.LastBlockHash = s.blocks[n-1].GetCert().GetBlockHash()
	}
	return st
}

func (s *fuzzSource) BlocksByHash(hash []byte, maxAncestors int) []*pb.Block {
	if maxAncestors < 0 {
		// The interface does not say; p2ptest.Blocks would slice out of
		// range. serve must never ask for a negative count.
		panic(fmt.Sprintf("BlocksByHash with maxAncestors %d", maxAncestors))
	}
	for i, cb := range s.blocks {
		if bytes.Equal(cb.GetCert().GetBlockHash(), hash) {
			var out []*pb.Block
			for _, c := range s.blocks[max(0, i-maxAncestors) : i+1] {
				out = append(out, c.GetBlock())
			}
			return out
		}
	}
	return nil
}

// fuzzMember is the peer FuzzSyncServe's requests come from: a member, so
// payloads requests are served.
const fuzzMember = peer.ID("fuzz-member")

// FuzzSyncServe runs arbitrary request payloads through the server side of
// block sync the way handle does: framed, read with the request bound,
// decoded, then served from a 40-block source under tight caps (8 blocks
// per request, 16 hashes, a response budget of about ten blocks) so that
// every clamp is reached, and payloads for a member peer from eight held
// ones of growing size. serve must not panic and must answer with
// exactly one of a response or an error. What it answers must be
// writable within the response frame limit (else handle resets the
// stream), and must pass the client's own checks for the request sent
// (a server that answers what its own client refuses is a bug on one of
// the two sides). It fails only by refusing (errRefused): this source
// has every block up to its height. The corpus in testdata/fuzz/FuzzSyncServe holds
// malformed payloads and boundary requests.
func FuzzSyncServe(f *testing.F) {
	src := newFuzzSource(f, 40, 300)
	cfg := DefaultConfig()
	cfg.ChainID = testChain
	cfg.MaxBlocksPerRequest = 8
	cfg.MaxTxHashesPerRequest = 16
	cfg.MaxResponseBytes = 10 * proto.Size(src.blocks[0])
	n := &Host{cfg: cfg, log: slog.New(slog.DiscardHandler), members: []Member{{PeerID: fuzzMember}}}
	s := newSyncService(n, src, src, realClock{})

	add := func(r *pb.SyncRequest) {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	blocks := func(from, to uint64) *pb.SyncRequest {
		return &pb.SyncRequest{Req: &pb.SyncRequest_Blocks{Blocks: &pb.BlocksRequest{FromHeight: from, ToHeight: to}}}
	}
	byHash := func(h []byte, anc uint32) *pb.SyncRequest {
		return &pb.SyncRequest{Req: &pb.SyncRequest_BlockByHash{BlockByHash: &pb.BlockByHashRequest{Hash: h, MaxAncestors: anc}}}
	}
	add(blocks(1, 40))
	add(blocks(35, 1<<40))
	add(blocks(^uint64(0)-2, ^uint64(0)))
	add(&pb.SyncRequest{Req: &pb.SyncRequest_Txs{Txs: &pb.TxsRequest{Hashes: [][]byte{
		crypto.Ed25519SHA256.Hash(src.blocks[6].GetBlock().GetTxs()[0]), crypto.Ed25519SHA256.Hash(nil), crypto.Ed25519SHA256.Hash(src.blocks[8].GetBlock().GetTxs()[0]),
	}}}})
	add(&pb.SyncRequest{Req: &pb.SyncRequest_Status{Status: &pb.SyncStatusRequest{}}})
	add(byHash(src.blocks[30].GetCert().GetBlockHash(), 1<<31))
	add(byHash(src.blocks[2].GetCert().GetBlockHash(), 3))
	add(&pb.SyncRequest{Req: &pb.SyncRequest_Payloads{Payloads: &pb.PayloadsRequest{Commitments: src.commitments}}})
	add(&pb.SyncRequest{Req: &pb.SyncRequest_Payloads{Payloads: &pb.PayloadsRequest{Commitments: [][]byte{crypto.Ed25519SHA256.Hash(nil), src.commitments[3]}}}})
	add(&pb.SyncRequest{Req: &pb.SyncRequest_Payloads{Payloads: &pb.PayloadsRequest{Commitments: [][]byte{{1, 2, 3}}}}})

	f.Fuzz(func(t *testing.T, data []byte) {
		req := new(pb.SyncRequest)
		frame := bytes.NewReader(wire.AppendFrame(nil, data))
		if err := wire.ReadMsgReserve(wire.NewReader(frame), cfg.maxRequestBytes(), req, func(int) error { return nil }); err != nil {
			return
		}
		resp, err := s.serve(fuzzMember, req)
		if (resp == nil) == (err == nil) {
			t.Fatalf("serve returned response %v and error %v: want exactly one", resp, err)
		}
		if err != nil && !errors.Is(err, errRefused) {
			// The source fails only for a range outside 1..height, which
			// serve must have clamped away.
			t.Fatalf("serve failed on a request it did not refuse: %v", err)
		}
		if err != nil {
			// handle answers with the error's text: it must fit the frame.
			resp = &pb.SyncResponse{Resp: &pb.SyncResponse_Error{Error: &pb.SyncError{Message: err.Error()}}}
		}
		if err := wire.WriteMsg(new(bytes.Buffer), resp, cfg.responseFrameBytes()); err != nil {
			t.Fatalf("answer cannot be sent: %v", err)
		}
		if err != nil {
			return
		}
		checkServed(t, &cfg, src, req, resp)
	})
}

// checkServed checks a served answer against the request as the client
// would, and against the caps.
func checkServed(t *testing.T, cfg *Config, src *fuzzSource, req *pb.SyncRequest, resp *pb.SyncResponse) {
	t.Helper()
	switch r := req.GetReq().(type) {
	case *pb.SyncRequest_Blocks:
		got, ok := resp.GetResp().(*pb.SyncResponse_Blocks)
		if !ok {
			t.Fatalf("%T to a blocks request", resp.GetResp())
		}
		bs := got.Blocks.GetBlocks()
		from, to := r.Blocks.GetFromHeight(), r.Blocks.GetToHeight()
		if err := checkBlocks(bs, from, to); err != nil {
			t.Fatalf("client refuses the answer to %d..%d: %v", from, to, err)
		}
		if len(bs) > cfg.MaxBlocksPerRequest {
			t.Fatalf("%d blocks, cap %d", len(bs), cfg.MaxBlocksPerRequest)
		}
		// The client asks again from where the answer stops: an empty answer
		// below our height would stall it.
		if len(bs) == 0 && from <= src.Height() {
			t.Fatalf("empty answer to %d..%d at height %d", from, to, src.Height())
		}
	case *pb.SyncRequest_Txs:
		got, ok := resp.GetResp().(*pb.SyncResponse_Txs)
		if !ok {
			t.Fatalf("%T to a txs request", resp.GetResp())
		}
		if len(got.Txs.GetTxs()) > len(r.Txs.GetHashes()) {
			t.Fatalf("%d txs for %d hashes", len(got.Txs.GetTxs()), len(r.Txs.GetHashes()))
		}
	case *pb.SyncRequest_Status:
		if _, ok := resp.GetResp().(*pb.SyncResponse_Status); !ok {
			t.Fatalf("%T to a status request", resp.GetResp())
		}
	case *pb.SyncRequest_BlockByHash:
		got, ok := resp.GetResp().(*pb.SyncResponse_BlockChain)
		if !ok || got.BlockChain == nil {
			t.Fatalf("%T to a block-by-hash request", resp.GetResp())
		}
		bs := got.BlockChain.GetBlocks()
		if len(bs) > MaxFetchAncestors+1 {
			t.Fatalf("%d blocks for one fetch", len(bs))
		}
		// RequestBlockByHash's checks: each extends the one before, the last
		// is the one asked.
		var prev []byte
		for i, b := range bs {
			var hdr pb.Header
			if err := proto.Unmarshal(b.GetHeader(), &hdr); err != nil {
				t.Fatalf("block %d: %v", i, err)
			}
			if prev != nil && !bytes.Equal(hdr.GetParentHash(), prev) {
				t.Fatalf("block %d does not extend the one before", i)
			}
			prev = crypto.Ed25519SHA256.Hash(b.GetHeader())
		}
		if len(bs) > 0 && !bytes.Equal(prev, r.BlockByHash.GetHash()) {
			t.Fatal("answered another block than the one asked")
		}
	case *pb.SyncRequest_Payloads:
		got, ok := resp.GetResp().(*pb.SyncResponse_Payloads)
		if !ok {
			t.Fatalf("%T to a payloads request", resp.GetResp())
		}
		asked := r.Payloads.GetCommitments()
		ps := got.Payloads.GetPayloads()
		if len(ps) > len(asked) || len(asked) > MaxPayloadsPerRequest {
			t.Fatalf("%d payloads for %d commitments", len(ps), len(asked))
		}
		for i, p := range ps {
			c := crypto.Ed25519SHA256.PayloadCommitment(p.GetSalt(), p.GetContent())
			if !slices.ContainsFunc(asked, func(a []byte) bool { return bytes.Equal(a, c) }) {
				t.Fatalf("payload %d opens no commitment asked", i)
			}
		}
		// The client asks again for what is left out: an empty answer while
		// the source holds one asked would stall it.
		if len(ps) == 0 && len(src.Payloads(asked)) > 0 {
			t.Fatal("empty answer for held payloads")
		}
	default:
		t.Fatalf("served an unknown request kind %T", r)
	}
}
