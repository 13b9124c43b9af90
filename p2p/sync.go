package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/p2p/wire"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Errors of the sync client.
var (
	// ErrBadResponse: the peer answered with something that is not a valid
	// answer to our request (wrong kind, blocks out of range or order). The
	// node should try another peer and may count it against this one.
	ErrBadResponse = errors.New("p2p: bad sync response")
)

// RemoteError is a SyncError the peer answered with.
type RemoteError struct {
	Peer    peer.ID
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("p2p: peer %s refused sync request: %s", e.Peer, e.Message)
}

// maxRequestBytes bounds a request frame: the largest legitimate request is
// a TxsRequest of MaxTxHashesPerRequest hashes.
func (c *Config) maxRequestBytes() int {
	return c.MaxTxHashesPerRequest*(crypto.HashSize+2) + 64
}

// responseFrameBytes bounds a response frame: the response budget plus the
// envelope of the SyncResponse around it.
func (c *Config) responseFrameBytes() int { return c.MaxResponseBytes + 64 }

// syncService is both ends of /govnode/<chain>/sync/1: one request frame
// and one response frame per stream, then both sides close.
type syncService struct {
	n        *Host
	protocol protocol.ID
	src      BlockSource
	// payloads serves SyncRequest.payloads to members (WithPayloadSource);
	// nil: such requests are refused.
	payloads PayloadSource
	// lines limits the refusal log like the gater's (refusalLog): every
	// refusal is counted (Stats.SyncRefused), a few per window logged, so
	// a peer sending bad requests in a loop cannot fill the disk.
	lines *refusalLog
}

func newSyncService(n *Host, src BlockSource, payloads PayloadSource, clock Clock) *syncService {
	return &syncService{n: n, protocol: SyncProtocol(n.cfg.ChainID), src: src, payloads: payloads,
		lines: &refusalLog{clock: clock, window: refusalLogWindow, burst: refusalLogBurst}}
}

// logRefusal logs one refusal of a sync request, unless the window's
// lines are spent.
func (s *syncService) logRefusal(msg string, attrs ...any) {
	ok, unlogged, last := s.lines.allow()
	if !ok {
		return
	}
	if unlogged > 0 {
		attrs = append(attrs, "unlogged_refusals", unlogged)
	}
	if last {
		attrs = append(attrs, "note", "further sync refusals in the next "+s.lines.window.String()+
			" are counted in govnode_p2p_sync_requests_total{outcome=\"refused\"} but not logged")
	}
	s.n.log.Info(msg, attrs...)
}

// handle serves one inbound stream. It never panics on what the peer sends:
// oversized, malformed and unknown requests get a SyncError and the stream
// is closed. libp2p runs one handler goroutine per stream, and the resource
// manager caps the sync streams per peer, so a peer cannot pile them up.
func (s *syncService) handle(st network.Stream) {
	defer st.Close()
	c := &s.n.counters
	if err := st.Scope().SetService(syncServiceName); err != nil {
		c.syncRefused.Add(1)
		s.n.log.Debug("p2p: sync stream over limits", "peer", st.Conn().RemotePeer().String(), "err", err)
		_ = st.Reset()
		return
	}
	_ = st.SetDeadline(time.Now().Add(s.n.cfg.SyncTimeout))
	from := st.Conn().RemotePeer()

	req := new(pb.SyncRequest)
	resp, err := func() (*pb.SyncResponse, error) {
		if err := readMsg(st, s.n.cfg.maxRequestBytes(), req); err != nil {
			return nil, err
		}
		return s.serve(from, req)
	}()
	if err != nil {
		c.syncRefused.Add(1)
		s.logRefusal("p2p: sync request refused", "peer", from.String(), "err", err)
		resp = &pb.SyncResponse{Resp: &pb.SyncResponse_Error{Error: &pb.SyncError{Message: err.Error()}}}
	} else {
		c.syncServed.Add(1)
	}
	// The encoded response is held in memory while it is written: count it
	// against the stream's scope like the frames we read.
	size := proto.Size(resp)
	if err := st.Scope().ReserveMemory(size, network.ReservationPriorityAlways); err != nil {
		c.syncRefused.Add(1)
		s.logRefusal("p2p: sync response over memory limits", "peer", from.String(), "bytes", size, "err", err)
		_ = st.Reset()
		return
	}
	defer st.Scope().ReleaseMemory(size)
	if err := wire.WriteMsg(st, resp, s.n.cfg.responseFrameBytes()); err != nil {
		s.n.log.Debug("p2p: sync response not sent", "peer", from.String(), "err", err)
		_ = st.Reset()
		return
	}
	_ = st.CloseWrite()
}

// readMsg reads one frame from st into m, reserving the frame's bytes in
// the stream's resource scope before allocating them, so that what a peer
// makes us buffer counts against its (and the system's) memory limit.
func readMsg(st network.Stream, max int, m proto.Message) error {
	reserved := 0
	defer func() {
		if reserved > 0 {
			st.Scope().ReleaseMemory(reserved)
		}
	}()
	return wire.ReadMsgReserve(wire.NewReader(st), max, m, func(n int) error {
		if err := st.Scope().ReserveMemory(n, network.ReservationPriorityAlways); err != nil {
			return err
		}
		reserved = n
		return nil
	})
}

// errRefused marks a well-formed request the server will not serve.
var errRefused = errors.New("refused")

// serve answers req from peer from (authenticated by the connection's
// security handshake).
func (s *syncService) serve(from peer.ID, req *pb.SyncRequest) (*pb.SyncResponse, error) {
	if r, ok := req.GetReq().(*pb.SyncRequest_Payloads); ok {
		return s.servePayloads(from, r.Payloads)
	}
	if s.src == nil {
		return nil, fmt.Errorf("%w: this node does not serve block sync", errRefused)
	}
	switch r := req.GetReq().(type) {
	case *pb.SyncRequest_Blocks:
		return s.serveBlocks(r.Blocks)
	case *pb.SyncRequest_Txs:
		return s.serveTxs(r.Txs)
	case *pb.SyncRequest_Status:
		return &pb.SyncResponse{Resp: &pb.SyncResponse_Status{Status: s.src.Status()}}, nil
	case *pb.SyncRequest_BlockByHash:
		return s.serveBlockByHash(r.BlockByHash)
	default:
		return nil, fmt.Errorf("%w: unknown request kind", errRefused)
	}
}

// serveBlocks answers from..to, clamped to MaxBlocksPerRequest blocks and to
// our height, and filled only up to MaxResponseBytes: the client asks again
// from where the answer stops.
func (s *syncService) serveBlocks(r *pb.BlocksRequest) (*pb.SyncResponse, error) {
	from, to := r.GetFromHeight(), r.GetToHeight()
	if from == 0 || to < from {
		return nil, fmt.Errorf("%w: bad range %d..%d", errRefused, from, to)
	}
	to = min(to, from+uint64(s.n.cfg.MaxBlocksPerRequest)-1, s.src.Height())
	out := &pb.BlocksResponse{}
	if to >= from {
		blocks, err := s.src.BlocksRange(from, to)
		if err != nil {
			return nil, fmt.Errorf("blocks %d..%d: %w", from, to, err)
		}
		budget := s.n.cfg.MaxResponseBytes
		for _, b := range blocks {
			size := proto.Size(b)
			cost := protowire.SizeTag(1) + protowire.SizeBytes(size)
			if cost > budget {
				break
			}
			budget -= cost
			out.Blocks = append(out.Blocks, b)
		}
		if len(out.Blocks) == 0 && len(blocks) > 0 {
			return nil, fmt.Errorf("%w: block %d alone exceeds the %d-byte response limit", errRefused, from, s.n.cfg.MaxResponseBytes)
		}
	}
	return &pb.SyncResponse{Resp: &pb.SyncResponse_Blocks{Blocks: out}}, nil
}

// MaxFetchAncestors caps the ancestors one block-by-hash answer carries.
const MaxFetchAncestors = 16

func (s *syncService) serveBlockByHash(r *pb.BlockByHashRequest) (*pb.SyncResponse, error) {
	if len(r.GetHash()) != crypto.HashSize {
		return nil, fmt.Errorf("%w: hash is %d bytes", errRefused, len(r.GetHash()))
	}
	anc := int(min(r.GetMaxAncestors(), MaxFetchAncestors))
	out := &pb.BlockChainResponse{}
	budget := s.n.cfg.MaxResponseBytes
	blocks := s.src.BlocksByHash(r.GetHash(), anc)
	// Keep the newest blocks (the asked one last) within the byte budget.
	for i := len(blocks) - 1; i >= 0; i-- {
		cost := protowire.SizeTag(1) + protowire.SizeBytes(proto.Size(blocks[i]))
		if cost > budget {
			blocks = blocks[i+1:]
			break
		}
		budget -= cost
	}
	out.Blocks = blocks
	return &pb.SyncResponse{Resp: &pb.SyncResponse_BlockChain{BlockChain: out}}, nil
}

func (s *syncService) serveTxs(r *pb.TxsRequest) (*pb.SyncResponse, error) {
	hashes := r.GetHashes()
	if len(hashes) > s.n.cfg.MaxTxHashesPerRequest {
		return nil, fmt.Errorf("%w: %d hashes, at most %d", errRefused, len(hashes), s.n.cfg.MaxTxHashesPerRequest)
	}
	for i, h := range hashes {
		if len(h) != crypto.HashSize {
			return nil, fmt.Errorf("%w: hash %d is %d bytes", errRefused, i, len(h))
		}
	}
	out := &pb.TxsResponse{}
	budget := s.n.cfg.MaxResponseBytes
	for _, tx := range s.src.TxsByHash(hashes) {
		cost := protowire.SizeTag(1) + protowire.SizeBytes(len(tx))
		if cost > budget {
			break
		}
		budget -= cost
		out.Txs = append(out.Txs, tx)
	}
	return &pb.SyncResponse{Resp: &pb.SyncResponse_Txs{Txs: out}}, nil
}

// roundTrip sends req to p on a new stream and reads the response.
func (s *syncService) roundTrip(ctx context.Context, p peer.ID, req *pb.SyncRequest) (_ *pb.SyncResponse, err error) {
	defer func() {
		if err != nil {
			s.n.counters.syncClientErrors.Add(1)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, s.n.cfg.SyncTimeout)
	defer cancel()
	st, err := s.n.host.NewStream(ctx, p, s.protocol)
	if err != nil {
		return nil, fmt.Errorf("p2p: open sync stream to %s: %w", p, err)
	}
	// Close the stream when ctx ends, so a stalled peer cannot hold us past
	// the caller's deadline; the deadline below covers the common case.
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stop()
	defer st.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	if err := wire.WriteMsg(st, req, s.n.cfg.maxRequestBytes()); err != nil {
		_ = st.Reset()
		return nil, fmt.Errorf("p2p: sync request to %s: %w", p, err)
	}
	// The server may answer and stop reading before our half-close gets
	// there (QUIC then refuses the close); the answer is what matters, and
	// reading it below fails if the write did not arrive.
	_ = st.CloseWrite()
	resp := new(pb.SyncResponse)
	if err := readMsg(st, s.n.cfg.responseFrameBytes(), resp); err != nil {
		_ = st.Reset()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("p2p: sync response from %s: %w", p, err)
	}
	if e, ok := resp.GetResp().(*pb.SyncResponse_Error); ok {
		return nil, &RemoteError{Peer: p, Message: e.Error.GetMessage()}
	}
	return resp, nil
}

// RequestBlocks asks p for the committed blocks from..to inclusive. The
// answer may stop short of to (the peer's height, its per-request caps);
// it is never empty-with-a-gap: the blocks returned are from, from+1, …, in
// order, as their headers say. Commit certificates are NOT checked here:
// the node verifies each block's certificate (consensus.VerifyCommit)
// before it stores anything.
func (n *Host) RequestBlocks(ctx context.Context, p peer.ID, from, to uint64) ([]*pb.CommittedBlock, error) {
	if from == 0 || to < from {
		return nil, fmt.Errorf("p2p: bad block range %d..%d", from, to)
	}
	resp, err := n.sync.roundTrip(ctx, p, &pb.SyncRequest{Req: &pb.SyncRequest_Blocks{Blocks: &pb.BlocksRequest{FromHeight: from, ToHeight: to}}})
	if err != nil {
		return nil, err
	}
	br, ok := resp.GetResp().(*pb.SyncResponse_Blocks)
	if !ok {
		n.counters.syncClientErrors.Add(1)
		return nil, fmt.Errorf("%w: %T to a blocks request", ErrBadResponse, resp.GetResp())
	}
	blocks := br.Blocks.GetBlocks()
	if err := checkBlocks(blocks, from, to); err != nil {
		n.counters.syncClientErrors.Add(1)
		return nil, fmt.Errorf("p2p: blocks from %s: %w", p, err)
	}
	return blocks, nil
}

// checkBlocks checks a blocks answer's shape: within from..to, contiguous
// from `from`, each with a block, a certificate and a header of the right
// height and chain. It checks no signature.
func checkBlocks(blocks []*pb.CommittedBlock, from, to uint64) error {
	if uint64(len(blocks)) > to-from+1 {
		return fmt.Errorf("%w: %d blocks for %d..%d", ErrBadResponse, len(blocks), from, to)
	}
	for i, cb := range blocks {
		want := from + uint64(i)
		if cb.GetBlock() == nil || cb.GetCert() == nil {
			return fmt.Errorf("%w: block %d without block or certificate", ErrBadResponse, want)
		}
		var hdr pb.Header
		if err := proto.Unmarshal(cb.GetBlock().GetHeader(), &hdr); err != nil {
			return fmt.Errorf("%w: block %d header: %v", ErrBadResponse, want, err)
		}
		if hdr.GetHeight() != want {
			return fmt.Errorf("%w: block at position %d has height %d, want %d", ErrBadResponse, i, hdr.GetHeight(), want)
		}
	}
	return nil
}

// RequestTxs asks p for transactions by hash (for a hash-only proposal). It
// returns the serialized SignedTx p has, in the order asked, leaving out
// those it lacks; the caller matches them to hashes by hashing.
func (n *Host) RequestTxs(ctx context.Context, p peer.ID, hashes [][]byte) ([][]byte, error) {
	if len(hashes) > n.cfg.MaxTxHashesPerRequest {
		return nil, fmt.Errorf("p2p: %d hashes in one request, at most %d", len(hashes), n.cfg.MaxTxHashesPerRequest)
	}
	resp, err := n.sync.roundTrip(ctx, p, &pb.SyncRequest{Req: &pb.SyncRequest_Txs{Txs: &pb.TxsRequest{Hashes: hashes}}})
	if err != nil {
		return nil, err
	}
	tr, ok := resp.GetResp().(*pb.SyncResponse_Txs)
	if !ok {
		n.counters.syncClientErrors.Add(1)
		return nil, fmt.Errorf("%w: %T to a txs request", ErrBadResponse, resp.GetResp())
	}
	if len(tr.Txs.GetTxs()) > len(hashes) {
		n.counters.syncClientErrors.Add(1)
		return nil, fmt.Errorf("%w: %d txs for %d hashes", ErrBadResponse, len(tr.Txs.GetTxs()), len(hashes))
	}
	return tr.Txs.GetTxs(), nil
}

// RequestStatus asks p for its chain status.
// RequestBlockByHash asks p for the block with hash and up to
// MaxFetchAncestors of its ancestors, oldest first. It checks only that the
// last block is the one asked and that each block's header extends the one
// before by parent hash; signatures and certificates are for consensus to
// check. An empty answer means p does not have the block.
func (n *Host) RequestBlockByHash(ctx context.Context, p peer.ID, hash []byte) ([]*pb.Block, error) {
	if len(hash) != crypto.HashSize {
		return nil, fmt.Errorf("p2p: block hash is %d bytes", len(hash))
	}
	resp, err := n.sync.roundTrip(ctx, p, &pb.SyncRequest{Req: &pb.SyncRequest_BlockByHash{
		BlockByHash: &pb.BlockByHashRequest{Hash: hash, MaxAncestors: MaxFetchAncestors}}})
	if err != nil {
		return nil, err
	}
	br, ok := resp.GetResp().(*pb.SyncResponse_BlockChain)
	if !ok || br.BlockChain == nil {
		n.counters.syncClientErrors.Add(1)
		return nil, fmt.Errorf("%w: %T to a block-by-hash request", ErrBadResponse, resp.GetResp())
	}
	blocks := br.BlockChain.GetBlocks()
	if len(blocks) > MaxFetchAncestors+1 {
		n.counters.syncClientErrors.Add(1)
		return nil, fmt.Errorf("%w: %d blocks for one fetch", ErrBadResponse, len(blocks))
	}
	var prev []byte
	for i, b := range blocks {
		var hdr pb.Header
		if err := proto.Unmarshal(b.GetHeader(), &hdr); err != nil {
			n.counters.syncClientErrors.Add(1)
			return nil, fmt.Errorf("%w: block %d of fetch: header: %v", ErrBadResponse, i, err)
		}
		if prev != nil && !bytes.Equal(hdr.GetParentHash(), prev) {
			n.counters.syncClientErrors.Add(1)
			return nil, fmt.Errorf("%w: block %d of fetch does not extend the one before", ErrBadResponse, i)
		}
		prev = n.cfg.Suite.Hash(b.GetHeader())
	}
	if len(blocks) > 0 && !bytes.Equal(prev, hash) {
		n.counters.syncClientErrors.Add(1)
		return nil, fmt.Errorf("%w: fetch answered another block", ErrBadResponse)
	}
	return blocks, nil
}

func (n *Host) RequestStatus(ctx context.Context, p peer.ID) (*pb.SyncStatus, error) {
	resp, err := n.sync.roundTrip(ctx, p, &pb.SyncRequest{Req: &pb.SyncRequest_Status{Status: &pb.SyncStatusRequest{}}})
	if err != nil {
		return nil, err
	}
	sr, ok := resp.GetResp().(*pb.SyncResponse_Status)
	if !ok || sr.Status == nil {
		n.counters.syncClientErrors.Add(1)
		return nil, fmt.Errorf("%w: %T to a status request", ErrBadResponse, resp.GetResp())
	}
	return sr.Status, nil
}
