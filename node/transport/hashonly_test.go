package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node/metrics"
	"github.com/govnode/govnode/p2p"
	"github.com/govnode/govnode/p2p/p2ptest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// testProposal is a proposal of txs as the core sends it: a signed-looking
// block whose header counts the txs and roots their hashes.
func testProposal(t testing.TB, txs [][]byte) *pb.ConsensusMessage {
	t.Helper()
	hashes := make([][]byte, len(txs))
	for i, tx := range txs {
		hashes[i] = crypto.Ed25519SHA256.Hash(tx)
	}
	hdr, err := proto.Marshal(&pb.Header{ChainId: "hash-only", Height: 7, TxCount: uint32(len(txs)), TxRoot: crypto.Ed25519SHA256.MerkleRoot(hashes), Proposer: 2})
	if err != nil {
		t.Fatal(err)
	}
	return &pb.ConsensusMessage{Sender: 2, Msg: &pb.ConsensusMessage_Proposal{Proposal: &pb.Proposal{Block: &pb.Block{
		Header: hdr, Txs: txs, Signature: bytes.Repeat([]byte{9}, 64),
		Justify: &pb.QuorumCert{View: 6, Height: 6, BlockHash: crypto.Ed25519SHA256.Hash([]byte("parent"))},
	}}}}
}

// testTxs are n distinct txs of size bytes.
func testTxs(n, size int) [][]byte {
	txs := make([][]byte, n)
	for i := range txs {
		tx := bytes.Repeat([]byte{byte(i)}, size)
		copy(tx, fmt.Sprintf("tx-%d-", i))
		txs[i] = tx
	}
	return txs
}

// The wire form of a proposal names its txs by hash, in order, and leaves
// the core's message alone; putting the txs back gives the very message
// the core sent (what it hashes and validates is the same). Other messages
// and empty blocks go as they are. The log reports the sizes of a
// 1000-tx proposal of 250-byte txs (issue 8).
func TestHashOnlyProposalWireForm(t *testing.T) {
	txs := testTxs(1000, 250)
	m := testProposal(t, txs)
	m.Epoch = 29 // a validator set after genesis: the tag travels with it
	orig := proto.Clone(m)

	w := hashOnlyProposal(m, testKnown)
	if !proto.Equal(m, orig) {
		t.Fatal("hashOnlyProposal modified the core's message")
	}
	wp := w.GetProposal()
	if len(wp.GetBlock().GetTxs()) != 0 || len(wp.GetTxHashes()) != len(txs) {
		t.Fatalf("wire form has %d txs and %d hashes", len(wp.GetBlock().GetTxs()), len(wp.GetTxHashes()))
	}
	for i, h := range wp.GetTxHashes() {
		if !bytes.Equal(h, crypto.Ed25519SHA256.Hash(txs[i])) {
			t.Fatalf("hash %d is not tx %d's", i, i)
		}
	}
	if !isHashOnly(w) || isHashOnly(m) {
		t.Fatal("isHashOnly")
	}
	if w.GetEpoch() != 29 || withTxs(w, txs).GetEpoch() != 29 {
		t.Fatalf("epoch %d on the wire, %d resolved; want 29", w.GetEpoch(), withTxs(w, txs).GetEpoch())
	}
	// With the node's table of admitted txs, the same hashes, taken from
	// the table for the txs it holds.
	known := exec.NewKnown(crypto.Ed25519SHA256)
	for _, tx := range txs[:600] {
		known.Put(exec.NewTx(crypto.Ed25519SHA256, tx))
	}
	wk := hashOnlyProposal(m, known)
	if !proto.Equal(wk, w) {
		t.Fatal("the wire form differs with the known table")
	}
	if st := known.Stats(); st.Hits != 600 || st.Misses != 400 {
		t.Fatalf("known table: %d hits, %d misses; want 600, 400", st.Hits, st.Misses)
	}
	if err := checkHashOnly(w, 5000); err != nil {
		t.Fatalf("an honest wire form refused: %v", err)
	}
	// The encoding too: the receiver decodes what was published.
	raw, err := proto.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	var got pb.ConsensusMessage
	if err := proto.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if back := withTxs(&got, txs); !proto.Equal(back, orig) {
		t.Fatal("the reconstructed proposal differs from the one sent")
	}
	full, _ := proto.Marshal(orig)
	t.Logf("1000-tx proposal of 250-byte txs: %d bytes full, %d bytes hash-only", len(full), len(raw))
	if len(raw)*5 > len(full) {
		t.Fatalf("hash-only proposal of %d bytes is not much smaller than the full %d", len(raw), len(full))
	}

	for name, m := range map[string]*pb.ConsensusMessage{
		"empty block": testProposal(t, nil),
		"vote":        {Sender: 1, Msg: &pb.ConsensusMessage_Vote{Vote: &pb.Vote{View: 3}}},
	} {
		if hashOnlyProposal(m, testKnown) != m || isHashOnly(m) {
			t.Errorf("%s: changed on the way out", name)
		}
	}
}

// fakePool is a mempool of the txs it holds.
type fakePool map[string][]byte

func (p fakePool) Get(h []byte) ([]byte, bool) { tx, ok := p[string(h)]; return tx, ok }

func poolOf(txs ...[]byte) fakePool {
	p := fakePool{}
	for _, tx := range txs {
		p[string(crypto.Ed25519SHA256.Hash(tx))] = tx
	}
	return p
}

// fakePeers answers tx requests per peer with answer, recording the size
// of each request.
type fakePeers struct {
	mu     sync.Mutex
	asked  map[peer.ID][]int
	answer func(ctx context.Context, p peer.ID, hashes [][]byte) ([][]byte, error)
}

func (f *fakePeers) RequestTxs(ctx context.Context, p peer.ID, hashes [][]byte) ([][]byte, error) {
	f.mu.Lock()
	if f.asked == nil {
		f.asked = map[peer.ID][]int{}
	}
	f.asked[p] = append(f.asked[p], len(hashes))
	f.mu.Unlock()
	return f.answer(ctx, p, hashes)
}

// serving answers from pool, at most limit txs a response (0: all).
func serving(pool fakePool, limit int) func(context.Context, peer.ID, [][]byte) ([][]byte, error) {
	return func(_ context.Context, _ peer.ID, hashes [][]byte) ([][]byte, error) {
		var out [][]byte
		for _, h := range hashes {
			if tx, ok := pool.Get(h); ok && (limit == 0 || len(out) < limit) {
				out = append(out, tx)
			}
		}
		return out, nil
	}
}

type resolverRig struct {
	r   *proposalResolver
	out chan *pb.ConsensusMessage
	m   *metrics.Metrics
	wg  sync.WaitGroup
}

func newResolverRig(pool TxPool, fetcher txFetcher, chunk int) *resolverRig {
	rig := &resolverRig{out: make(chan *pb.ConsensusMessage, 4), m: metrics.New()}
	rig.r = &proposalResolver{
		pool: pool, fetcher: fetcher, out: rig.out, chunk: chunk, maxTxs: 5000, timeout: 10 * time.Second,
		outcomes: rig.m.HashOnlyProposals, fetchedTxs: rig.m.FetchedTxs, log: slog.New(slog.DiscardHandler),
		wg: &rig.wg, inFlight: make(chan struct{}, maxResolveInFlight),
	}
	return rig
}

func (rig *resolverRig) outcome(o string) float64 {
	var m dto.Metric
	if err := rig.m.HashOnlyProposals.WithLabelValues(o).Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// settled waits for the background resolutions and returns what they
// delivered.
func (rig *resolverRig) settled() []*pb.ConsensusMessage {
	rig.wg.Wait()
	var got []*pb.ConsensusMessage
	for {
		select {
		case m := <-rig.out:
			got = append(got, m)
		default:
			return got
		}
	}
}

const (
	proposer = peer.ID("proposer")
	relay    = peer.ID("relay")
)

// A proposal whose txs are all in the mempool is resolved at once, for
// the transport to deliver in order; nothing is fetched.
func TestResolveFromMempool(t *testing.T) {
	txs := testTxs(50, 200)
	sent := testProposal(t, txs)
	peers := &fakePeers{answer: serving(nil, 0)}
	rig := newResolverRig(poolOf(txs...), peers, 16)
	full := rig.r.resolve(context.Background(), hashOnlyProposal(sent, testKnown), []peer.ID{proposer})
	if !proto.Equal(full, sent) {
		t.Fatal("resolved proposal differs from the one sent")
	}
	if len(rig.settled()) != 0 || len(peers.asked) != 0 {
		t.Fatal("a proposal resolved from the mempool was fetched too")
	}
	if rig.outcome(hashOnlyReceived) != 1 || rig.outcome(hashOnlyMempool) != 1 {
		t.Fatalf("outcomes received %v, mempool %v", rig.outcome(hashOnlyReceived), rig.outcome(hashOnlyMempool))
	}
}

// Missing txs are fetched in the background, in requests of at most chunk
// hashes, from the proposer, then from the relay; a peer's answer is taken
// only for hashes it matches, so a lying or faulty peer adds nothing; a
// proposal that cannot be completed is dropped and counted.
func TestResolveByFetch(t *testing.T) {
	txs := testTxs(40, 100)
	half := poolOf(txs[:15]...) // the mempool misses txs 15..39
	all := poolOf(txs...)
	liar := func(_ context.Context, _ peer.ID, hashes [][]byte) ([][]byte, error) {
		out := make([][]byte, len(hashes))
		for i := range out {
			out[i] = []byte(fmt.Sprintf("forged %d", i))
		}
		return out, nil
	}
	tests := []struct {
		name string
		// answer is per peer; a peer not listed fails.
		answer      map[peer.ID]func(context.Context, peer.ID, [][]byte) ([][]byte, error)
		wantOutcome string
		wantFetched float64
		wantAsked   map[peer.ID][]int
	}{
		{name: "proposer serves", answer: map[peer.ID]func(context.Context, peer.ID, [][]byte) ([][]byte, error){proposer: serving(all, 0)},
			wantOutcome: hashOnlyFetched, wantFetched: 25, wantAsked: map[peer.ID][]int{proposer: {10, 10, 5}}},
		{name: "responses cut short are asked again", answer: map[peer.ID]func(context.Context, peer.ID, [][]byte) ([][]byte, error){proposer: serving(all, 4)},
			wantOutcome: hashOnlyFetched, wantFetched: 25, wantAsked: map[peer.ID][]int{proposer: {10, 10, 5, 10, 3, 6, 2}}},
		{name: "proposer lacks some, relay has them", answer: map[peer.ID]func(context.Context, peer.ID, [][]byte) ([][]byte, error){
			proposer: serving(poolOf(txs[15:30]...), 0), relay: serving(all, 0)},
			wantOutcome: hashOnlyFetched, wantFetched: 25, wantAsked: map[peer.ID][]int{proposer: {10, 10, 5, 10}, relay: {10}}},
		{name: "lying proposer, honest relay", answer: map[peer.ID]func(context.Context, peer.ID, [][]byte) ([][]byte, error){proposer: liar, relay: serving(all, 0)},
			wantOutcome: hashOnlyFetched, wantFetched: 25, wantAsked: map[peer.ID][]int{proposer: {10, 10, 5}, relay: {10, 10, 5}}},
		{name: "only liars", answer: map[peer.ID]func(context.Context, peer.ID, [][]byte) ([][]byte, error){proposer: liar, relay: liar},
			wantOutcome: hashOnlyFailed, wantAsked: map[peer.ID][]int{proposer: {10, 10, 5}, relay: {10, 10, 5}}},
		{name: "wrong txs for the hashes asked", answer: map[peer.ID]func(context.Context, peer.ID, [][]byte) ([][]byte, error){
			proposer: func(context.Context, peer.ID, [][]byte) ([][]byte, error) { return txs[:15], nil }}, // ones not asked
			wantOutcome: hashOnlyFailed, wantAsked: map[peer.ID][]int{proposer: {10, 10, 5}, relay: {10}}},
		{name: "nobody answers", answer: map[peer.ID]func(context.Context, peer.ID, [][]byte) ([][]byte, error){},
			wantOutcome: hashOnlyFailed, wantAsked: map[peer.ID][]int{proposer: {10}, relay: {10}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peers := &fakePeers{answer: func(ctx context.Context, p peer.ID, h [][]byte) ([][]byte, error) {
				if a, ok := tt.answer[p]; ok {
					return a(ctx, p, h)
				}
				return nil, errors.New("connection refused")
			}}
			rig := newResolverRig(half, peers, 10)
			sent := testProposal(t, txs)
			if full := rig.r.resolve(context.Background(), hashOnlyProposal(sent, testKnown), []peer.ID{proposer, relay}); full != nil {
				t.Fatal("resolved without fetching")
			}
			got := rig.settled()
			if rig.outcome(tt.wantOutcome) != 1 || rig.outcome(hashOnlyReceived) != 1 {
				t.Fatalf("outcome %s not counted (received %v)", tt.wantOutcome, rig.outcome(hashOnlyReceived))
			}
			if f := counterValue(t, rig.m.FetchedTxs); f != tt.wantFetched {
				t.Errorf("fetched %v txs, want %v", f, tt.wantFetched)
			}
			if fmt.Sprint(peers.asked) != fmt.Sprint(tt.wantAsked) {
				t.Errorf("requests %v, want %v", peers.asked, tt.wantAsked)
			}
			switch {
			case tt.wantOutcome == hashOnlyFetched && (len(got) != 1 || !proto.Equal(got[0], sent)):
				t.Fatalf("%d proposals delivered, want the one sent", len(got))
			case tt.wantOutcome == hashOnlyFailed && len(got) != 0:
				t.Fatal("an unresolved proposal was delivered")
			}
		})
	}
}

// A peer that does not answer holds a resolution until its timeout, and
// at most maxResolveInFlight run at once: one more is dropped at once.
// Both are counted as failed.
func TestResolveBounded(t *testing.T) {
	txs := testTxs(3, 100)
	release := make(chan struct{})
	peers := &fakePeers{answer: func(ctx context.Context, _ peer.ID, _ [][]byte) ([][]byte, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-release:
			return nil, errors.New("gone")
		}
	}}
	rig := newResolverRig(fakePool{}, peers, 10)
	rig.r.timeout = 20 * time.Millisecond
	hashOnly := hashOnlyProposal(testProposal(t, txs), testKnown)
	rig.r.resolve(context.Background(), hashOnly, []peer.ID{proposer})
	if got := rig.settled(); len(got) != 0 || rig.outcome(hashOnlyFailed) != 1 {
		t.Fatalf("a timed-out resolution: %d delivered, failed %v", len(got), rig.outcome(hashOnlyFailed))
	}

	rig.r.timeout = time.Minute
	for range maxResolveInFlight + 1 {
		rig.r.resolve(context.Background(), hashOnly, []peer.ID{proposer})
	}
	if f := rig.outcome(hashOnlyFailed); f != 2 {
		t.Fatalf("failed %v with %d resolutions in flight, want 2", f, maxResolveInFlight)
	}
	close(release)
	if got := rig.settled(); len(got) != 0 || rig.outcome(hashOnlyFailed) != 2+maxResolveInFlight {
		t.Fatalf("%d delivered, failed %v", len(got), rig.outcome(hashOnlyFailed))
	}
}

// What no honest proposer sends is refused before any lookup or fetch,
// and nothing panics: txs and hashes both, a count other than the
// header's, a header that does not decode, short hashes, too many.
func TestResolveRefusesMalformed(t *testing.T) {
	txs := testTxs(5, 100)
	edit := func(f func(p *pb.Proposal)) *pb.ConsensusMessage {
		m := hashOnlyProposal(testProposal(t, txs), testKnown)
		f(m.GetProposal())
		return m
	}
	cases := map[string]*pb.ConsensusMessage{
		"txs and hashes":   edit(func(p *pb.Proposal) { p.Block.Txs = txs }),
		"one hash short":   edit(func(p *pb.Proposal) { p.TxHashes = p.TxHashes[1:] }),
		"one hash more":    edit(func(p *pb.Proposal) { p.TxHashes = append(p.TxHashes, crypto.Ed25519SHA256.Hash([]byte("x"))) }),
		"garbage header":   edit(func(p *pb.Proposal) { p.Block.Header = []byte{0xff, 0xff, 0xff} }),
		"no block":         edit(func(p *pb.Proposal) { p.Block = nil }),
		"short hash":       edit(func(p *pb.Proposal) { p.TxHashes[2] = p.TxHashes[2][:8] }),
		"over block limit": hashOnlyProposal(testProposal(t, testTxs(6000, 8)), testKnown),
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			peers := &fakePeers{answer: serving(poolOf(txs...), 0)}
			rig := newResolverRig(poolOf(txs...), peers, 10)
			if full := rig.r.resolve(context.Background(), m, []peer.ID{proposer}); full != nil {
				t.Fatal("malformed proposal resolved")
			}
			if len(rig.settled()) != 0 || len(peers.asked) != 0 || rig.outcome(hashOnlyMalformed) != 1 {
				t.Fatalf("malformed proposal not refused (malformed %v, asked %v)", rig.outcome(hashOnlyMalformed), peers.asked)
			}
		})
	}
	// A tx twice (ValidateBlock refuses the block) is resolved, not
	// refused here: the core's validation decides.
	dup := testProposal(t, [][]byte{txs[0], txs[1], txs[0]})
	rig := newResolverRig(poolOf(txs[1]), &fakePeers{answer: serving(poolOf(txs...), 0)}, 10)
	rig.r.resolve(context.Background(), hashOnlyProposal(dup, testKnown), []peer.ID{proposer})
	if got := rig.settled(); len(got) != 1 || !proto.Equal(got[0], dup) {
		t.Fatal("a proposal with a tx twice was not resolved as sent")
	}
}

// Resolution by fetch over the real sync protocol between two p2p hosts:
// the proposer's host serves the txs from its source, and a hash it lacks
// leaves the proposal unresolved.
func TestResolveOverP2P(t *testing.T) {
	nw := p2ptest.NewNetwork(t, 2, 8)
	src := p2ptest.NewBlocks(t, 30, 250) // txs p2ptest.Tx(1..30)
	cfg := nw.Config(0)
	cfg.MaxTxHashesPerRequest = 8
	server := nw.Start(0, cfg, p2p.WithBlockSource(src))
	client := nw.Start(1, nw.Config(1))
	nw.WaitConnected(10 * time.Second)

	var txs [][]byte
	for h := uint64(1); h <= 30; h++ {
		txs = append(txs, src.Tx(h))
	}
	rig := newResolverRig(poolOf(txs[:5]...), client, 8)
	sent := testProposal(t, txs)
	rig.r.resolve(context.Background(), hashOnlyProposal(sent, testKnown), []peer.ID{server.ID()})
	if got := rig.settled(); len(got) != 1 || !proto.Equal(got[0], sent) {
		t.Fatalf("%d proposals resolved over p2p, want the one sent", len(got))
	}
	if f := counterValue(t, rig.m.FetchedTxs); f != 25 {
		t.Fatalf("fetched %v txs, want 25", f)
	}

	unknown := testProposal(t, append(txs[:10:10], []byte("a tx the server lacks")))
	rig.r.resolve(context.Background(), hashOnlyProposal(unknown, testKnown), []peer.ID{server.ID()})
	if got := rig.settled(); len(got) != 0 || rig.outcome(hashOnlyFailed) != 1 {
		t.Fatal("a proposal with a tx nobody has was delivered")
	}
}

// hashOnlyProposal and withTxs copy a Block field by field: a field added
// to Block must be added there too, or hash-only proposals would drop it.
func TestBlockFieldsKnownToHashOnly(t *testing.T) {
	want := []string{"header", "txs", "justify", "tc", "signature"}
	fields := (&pb.Block{}).ProtoReflect().Descriptor().Fields()
	var got []string
	for i := range fields.Len() {
		got = append(got, string(fields.Get(i).Name()))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Block has fields %v; hashOnlyProposal and withTxs copy %v: update them", got, want)
	}
}

// testKnown is an empty table of decoded txs: every hash it is asked for
// is computed (a node always has its table; hashOnlyProposal needs one).
var testKnown = exec.NewKnown(crypto.Ed25519SHA256)
