package transport

// Hash-only proposals (issue 8). Every validator receives a block's
// transactions from the nodes they were submitted to (p2p's direct tx
// batches; the leader flushes its own before it proposes), so the
// leader's proposal carries only their hashes (Proposal.tx_hashes) and
// each follower puts the block back together from its mempool, asking the
// proposer for the few it lacks. A transaction then crosses the network
// once instead of twice.
//
// The consensus core never sees a hash-only proposal: the transport turns
// a full proposal into one on the way out (hashOnlyProposal) and back into
// a full one on the way in (proposalResolver). The header, and so the
// block hash, the proposer's signature and the tx_root the core checks
// through ValidateBlock, is untouched; only Block.txs is left out and put
// back in the same order. The hashes are not signed (the signature covers
// the header), so a node sending the proposal could alter them: the p2p
// layer's consensus check refuses a proposal whose hashes (or txs) do not
// make its header's tx_count and tx_root, before it reaches this code, and
// the block executor checks the txs against the header again before
// executing a block.
//
// Blocks fetched by hash and blocks served by block sync stay full: they
// are what a node falls back on when a hash-only proposal cannot be
// resolved in time (the core fetches a block it sees votes or a QC for).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Bounds of hash-only proposal resolution.
const (
	// maxResolveInFlight bounds the proposals whose missing txs are being
	// fetched at once; a proposal beyond it is dropped (and counted), and
	// the core recovers it by fetching the full block.
	maxResolveInFlight = 4
	// resolveTimeout bounds the fetch of a proposal's missing txs, so that
	// an unresponsive proposer holds a resolution slot briefly. The core
	// does not wait on it: meanwhile the votes or QC for the block make it
	// fetch the full block (Transport.Fetch).
	resolveTimeout = 2500 * time.Millisecond
)

// Outcomes of a hash-only proposal received (the outcome label of
// Metrics.HashOnlyProposals).
const (
	hashOnlyReceived  = "received"  // arrived hash-only
	hashOnlyMempool   = "mempool"   // every tx was in the mempool
	hashOnlyFetched   = "fetched"   // missing txs were fetched from peers
	hashOnlyFailed    = "failed"    // not resolved in time, or too many in flight: dropped
	hashOnlyMalformed = "malformed" // refused before resolution
)

// errMalformedProposal marks a hash-only proposal refused before any
// resolution: no honest proposer sends it.
var errMalformedProposal = errors.New("malformed hash-only proposal")

// hashOnlyProposal returns m as it goes on the wire: for a proposal whose
// block carries txs, a new message whose block shares every field of the
// original but Txs, left empty, with the txs' hashes, in order, in
// Proposal.tx_hashes. Any other message is returned as is. m is not
// modified; the result shares m's byte slices and must not be modified
// either. The hashes of txs in known are taken from there.
func hashOnlyProposal(m *pb.ConsensusMessage, known *exec.Known) *pb.ConsensusMessage {
	p := m.GetProposal()
	b := p.GetBlock()
	if len(b.GetTxs()) == 0 || len(p.GetTxHashes()) > 0 {
		return m
	}
	hashes := known.Hashes(b.GetTxs())
	return &pb.ConsensusMessage{
		Sender: m.GetSender(),
		Nonce:  m.GetNonce(),
		Epoch:  m.GetEpoch(),
		Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{
			Block:    &pb.Block{Header: b.GetHeader(), Justify: b.GetJustify(), Tc: b.GetTc(), Signature: b.GetSignature()},
			TxHashes: hashes,
		}},
	}
}

// isHashOnly reports whether m is a proposal that names its txs by hash.
func isHashOnly(m *pb.ConsensusMessage) bool {
	return len(m.GetProposal().GetTxHashes()) > 0
}

// withTxs returns the full proposal of hash-only m: a new message whose
// block has txs, and no tx_hashes. m is not modified.
func withTxs(m *pb.ConsensusMessage, txs [][]byte) *pb.ConsensusMessage {
	b := m.GetProposal().GetBlock()
	return &pb.ConsensusMessage{
		Sender: m.GetSender(),
		Nonce:  m.GetNonce(),
		Epoch:  m.GetEpoch(),
		Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{
			Block: &pb.Block{Header: b.GetHeader(), Txs: txs, Justify: b.GetJustify(), Tc: b.GetTc(), Signature: b.GetSignature()},
		}},
	}
}

// checkHashOnly refuses what no honest proposer sends: txs and hashes
// both, a header that does not decode, a tx count other than the header's,
// more txs than a block may hold. p2p's consensus check has already
// checked the hashes against the header's tx_root; a tx that appears twice
// is left to ValidateBlock, after resolution, as for a full proposal.
func checkHashOnly(m *pb.ConsensusMessage, maxTxs int) error {
	p := m.GetProposal()
	hashes := p.GetTxHashes()
	if len(p.GetBlock().GetTxs()) > 0 {
		return fmt.Errorf("%w: both %d txs and %d tx hashes", errMalformedProposal, len(p.GetBlock().GetTxs()), len(hashes))
	}
	if maxTxs > 0 && len(hashes) > maxTxs {
		return fmt.Errorf("%w: %d tx hashes, a block holds at most %d", errMalformedProposal, len(hashes), maxTxs)
	}
	var hdr pb.Header
	if err := proto.Unmarshal(p.GetBlock().GetHeader(), &hdr); err != nil {
		return fmt.Errorf("%w: header: %v", errMalformedProposal, err)
	}
	if int(hdr.GetTxCount()) != len(hashes) {
		return fmt.Errorf("%w: %d tx hashes for a header of %d txs", errMalformedProposal, len(hashes), hdr.GetTxCount())
	}
	for i, h := range hashes {
		if len(h) != crypto.HashSize {
			return fmt.Errorf("%w: tx hash %d is %d bytes", errMalformedProposal, i, len(h))
		}
	}
	return nil
}

// TxPool is where a proposal's txs are looked up first: the mempool. Get
// must be safe for concurrent use; the slice it returns is not modified.
type TxPool interface {
	Get(hash []byte) ([]byte, bool)
}

// txFetcher asks a peer for txs by hash (p2p.Host.RequestTxs): it returns
// what the peer answered, which the caller must match to the hashes asked.
type txFetcher interface {
	RequestTxs(ctx context.Context, p peer.ID, hashes [][]byte) ([][]byte, error)
}

var (
	_ txFetcher = (*p2p.Host)(nil)
	_ Host      = (*p2p.Host)(nil)
)

// proposalResolver turns hash-only proposals back into full ones. resolve
// is called from one goroutine (the transport's pump); the fetches it
// starts run in at most maxResolveInFlight goroutines of their own.
type proposalResolver struct {
	suite   crypto.Suite
	pool    TxPool
	fetcher txFetcher
	// out receives proposals resolved in the background.
	out chan<- *pb.ConsensusMessage
	// chunk is the most hashes asked in one request
	// (p2p.Config.MaxTxHashesPerRequest); maxTxs the most txs of a block.
	chunk, maxTxs int
	timeout       time.Duration
	outcomes      *prometheus.CounterVec // Metrics.HashOnlyProposals
	fetchedTxs    prometheus.Counter     // Metrics.FetchedTxs
	log           *slog.Logger
	wg            *sync.WaitGroup // the node's, waited for at Close
	inFlight      chan struct{}   // semaphore of background resolutions
}

// resolve takes hash-only proposal m. When the pool
// holds every tx it returns the full proposal, for the caller to deliver in
// order with the other consensus messages. Otherwise it returns nil and, if
// fewer than maxResolveInFlight resolutions are running, fetches the
// missing txs in the background, first from peers[0] (the proposer), then
// from the others in turn (the peer that relayed the proposal), and sends
// the full proposal to out when it has them all, unless ctx (the node's
// run) ends first. A proposal it cannot resolve is dropped and counted as
// failed.
func (r *proposalResolver) resolve(ctx context.Context, m *pb.ConsensusMessage, peers []peer.ID) *pb.ConsensusMessage {
	r.outcomes.WithLabelValues(hashOnlyReceived).Inc()
	if err := checkHashOnly(m, r.maxTxs); err != nil {
		r.outcomes.WithLabelValues(hashOnlyMalformed).Inc()
		r.log.Warn("hash-only proposal refused", "sender", m.GetSender(), "err", err)
		return nil
	}
	hashes := m.GetProposal().GetTxHashes()
	txs := make([][]byte, len(hashes))
	var missing []int
	for i, h := range hashes {
		if tx, ok := r.pool.Get(h); ok {
			txs[i] = tx
		} else {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		r.outcomes.WithLabelValues(hashOnlyMempool).Inc()
		return withTxs(m, txs)
	}
	select {
	case r.inFlight <- struct{}{}:
	default:
		r.outcomes.WithLabelValues(hashOnlyFailed).Inc()
		r.log.Debug("hash-only proposal dropped: too many resolutions in flight", "sender", m.GetSender(), "missing", len(missing))
		return nil
	}
	timeout := r.timeout
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() { <-r.inFlight }()
		fctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		fetched, err := r.fetch(fctx, hashes, txs, missing, peers)
		r.fetchedTxs.Add(float64(fetched))
		if err != nil {
			r.outcomes.WithLabelValues(hashOnlyFailed).Inc()
			r.log.Info("hash-only proposal dropped: missing txs not fetched", "sender", m.GetSender(),
				"txs", len(hashes), "missing", len(missing), "fetched", fetched, "err", err)
			return
		}
		r.outcomes.WithLabelValues(hashOnlyFetched).Inc()
		select {
		case r.out <- withTxs(m, txs):
		case <-ctx.Done():
		}
	}()
	return nil
}

// fetch fills txs[i] for each i in missing by asking peers for hashes[i],
// at most r.chunk hashes a request. A tx a peer answers is taken only if
// it hashes to one still wanted; anything else is ignored. Each peer is
// asked again while it makes progress (a response may stop short at the
// peer's byte budget), then the next. It returns how many txs it took, and
// an error unless every missing tx was found.
func (r *proposalResolver) fetch(ctx context.Context, hashes, txs [][]byte, missing []int, peers []peer.ID) (int, error) {
	// A hash may appear twice (ValidateBlock refuses that block); it is
	// asked once and fills both places.
	want := make(map[string][]int, len(missing))
	var order [][]byte
	for _, i := range missing {
		h := string(hashes[i])
		if _, ok := want[h]; !ok {
			order = append(order, hashes[i])
		}
		want[h] = append(want[h], i)
	}
	taken := 0
	var lastErr error
	for _, p := range peers {
		for len(want) > 0 {
			var ask [][]byte
			for _, h := range order {
				if _, ok := want[string(h)]; ok {
					ask = append(ask, h)
				}
			}
			progress := false
			for start := 0; start < len(ask); start += r.chunk {
				got, err := r.fetcher.RequestTxs(ctx, p, ask[start:min(start+r.chunk, len(ask))])
				if err != nil {
					lastErr = fmt.Errorf("peer %s: %w", p, err)
					break
				}
				for _, tx := range got {
					h := string(r.suite.Hash(tx))
					for _, i := range want[h] {
						txs[i] = tx
						taken++
						progress = true
					}
					delete(want, h)
				}
			}
			if err := ctx.Err(); err != nil {
				return taken, fmt.Errorf("%d of %d txs missing: %w", len(want), len(missing), err)
			}
			if !progress {
				break
			}
		}
	}
	if len(want) > 0 {
		if lastErr == nil {
			lastErr = errors.New("no peer asked has them")
		}
		return taken, fmt.Errorf("%d of %d txs missing: %w", len(want), len(missing), lastErr)
	}
	return taken, nil
}
