package blockexec

import (
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/state"
	"github.com/govnode/govnode/ledger/store"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// testMetrics are instruments registered nowhere.
func testMetrics() Metrics {
	return Metrics{
		Height:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "height"}),
		CommittedTxs:   prometheus.NewCounter(prometheus.CounterOpts{Name: "committed"}),
		FailedTxs:      prometheus.NewCounter(prometheus.CounterOpts{Name: "failed"}),
		BlockInterval:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "interval"}),
		ApplyDuration:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "apply"}),
		CommitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "commit"}),
	}
}

// newTestApp is an Executor on a fresh store with a one-department genesis.
func newTestApp(t testing.TB) *Executor {
	t.Helper()
	return newTestAppWith(t, nil)
}

// newTestAppWith is newTestApp with extra state changes at genesis.
func newTestAppWith(t testing.TB, extra []state.Change) *Executor {
	t.Helper()
	key, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.NewChaCha8([32]byte{'a', 'p', 'p'}))
	if err != nil {
		t.Fatal(err)
	}
	doc := genesis.New("app-test", "crash", time.Unix(1_700_000_000, 0).UTC())
	doc.Validators = []*pb.Department{{Id: "dept0", Name: "Department 0", ConsensusKey: key.Public()}}
	ex, err := exec.New(exec.DefaultConfig(doc.GetChainId()))
	if err != nil {
		t.Fatal(err)
	}
	changes, err := ex.InitGenesis(doc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "ledger"), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sc := make([]state.Change, len(changes))
	for i, c := range changes {
		sc[i] = state.Change{Key: c.Key, Value: c.Value, Delete: c.Delete}
	}
	sc = append(sc, extra...)
	if err := st.InitGenesis(sc); err != nil {
		t.Fatal(err)
	}
	a, err := New(doc.GetChainId(), st, ex, fixedClock{time.Unix(1_800_000_000, 0)},
		slog.New(slog.DiscardHandler), testMetrics())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A proposal is voted for only if its application fields are the ones this
// node computes; each field's refusal is checked (ARCHITECTURE.md §3 step 4).
func TestValidateBlock(t *testing.T) {
	a := newTestApp(t)
	txs := [][]byte{[]byte("tx one"), []byte("tx two")}
	good := func() (*pb.Header, *pb.Block) {
		hdr, err := a.BuildPayload(consensus.ProposeSlot{Height: 1, StateHeight: 0}, txs)
		if err != nil {
			t.Fatal(err)
		}
		hdr.ChainId, hdr.Height = "app-test", 1
		return hdr, &pb.Block{Txs: txs}
	}
	hdr, blk := good()
	if err := a.ValidateBlock(consensus.ValidationRequest{Header: hdr, Block: blk, StateHeight: 0}); err != nil {
		t.Fatalf("own payload refused: %v", err)
	}
	cases := []struct {
		name   string
		mutate func(h *pb.Header, b *pb.Block)
		want   string
	}{
		{"other chain", func(h *pb.Header, b *pb.Block) { h.ChainId = "other" }, "chain id"},
		{"wrong state height", func(h *pb.Header, b *pb.Block) { h.StateHeight = 1 }, "state_height"},
		{"wrong state root", func(h *pb.Header, b *pb.Block) { h.StateRoot = make([]byte, 32) }, "state_root"},
		{"wrong results hash", func(h *pb.Header, b *pb.Block) { h.ResultsHash = make([]byte, 32) }, "results_hash"},
		{"wrong validator set", func(h *pb.Header, b *pb.Block) { h.ValidatorSetHash = make([]byte, 32) }, "validator_set_hash"},
		{"tx count", func(h *pb.Header, b *pb.Block) { h.TxCount = 3 }, "tx_count"},
		{"tx root", func(h *pb.Header, b *pb.Block) { b.Txs = [][]byte{txs[1], txs[0]} }, "tx_root"},
		{"duplicate tx", func(h *pb.Header, b *pb.Block) {
			b.Txs = [][]byte{txs[0], txs[0]}
			h.TxRoot = crypto.Ed25519SHA256.MerkleRoot([][]byte{crypto.Ed25519SHA256.Hash(txs[0]), crypto.Ed25519SHA256.Hash(txs[0])})
		}, "twice"},
		{"time in the future", func(h *pb.Header, b *pb.Block) { h.TimeUnixMs = time.Unix(1_900_000_000, 0).UnixMilli() }, "ahead"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, b := good()
			tc.mutate(h, b)
			err := a.ValidateBlock(consensus.ValidationRequest{Header: h, Block: b, StateHeight: 0})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ValidateBlock = %v, want an error naming %q", err, tc.want)
			}
		})
	}
	// Block time never goes back along the chain.
	h, b := good()
	parent := &pb.Header{TimeUnixMs: h.GetTimeUnixMs() + 1}
	if err := a.ValidateBlock(consensus.ValidationRequest{Header: h, Block: b, ParentHeader: parent}); err == nil ||
		!strings.Contains(err.Error(), "parent") {
		t.Fatalf("block older than its parent: %v", err)
	}
	// A state height this node has not executed cannot be checked.
	if _, err := a.BuildPayload(consensus.ProposeSlot{Height: 3, StateHeight: 1}, nil); err == nil {
		t.Fatal("payload built on unexecuted state")
	}
}

// A block whose txs are not the ones its header commits to is never
// executed: the node stops with an error rather than apply txs the quorum
// did not certify (its state would leave everyone else's).
func TestCommitRefusesTxsOtherThanCertified(t *testing.T) {
	a := newTestApp(t)
	txs := [][]byte{[]byte("tx one"), []byte("tx two")}
	hdr, err := a.BuildPayload(consensus.ProposeSlot{Height: 1}, txs)
	if err != nil {
		t.Fatal(err)
	}
	hdr.ChainId, hdr.Height = "app-test", 1
	hb, err := proto.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][][]byte{
		"swapped":  {txs[1], txs[0]},
		"replaced": {txs[0], []byte("forged")},
		"dropped":  txs[:1],
	} {
		cb := consensus.CommittedBlock{Height: 1, Hash: crypto.Ed25519SHA256.Hash(hb), Block: &pb.Block{Header: hb, Txs: got}, Header: hdr}
		if err := a.Commit([]consensus.CommittedBlock{cb}); err == nil || !strings.Contains(err.Error(), "tx_root") {
			t.Fatalf("%s: Commit = %v, want a refusal naming tx_root", name, err)
		}
		if h, _ := a.store.Height(); h != 0 {
			t.Fatalf("%s: the store moved to height %d", name, h)
		}
	}
}

// Each OnCommit listener learns of each committed block once, with its
// height, hash and txs; a block handed over again (block sync and
// consensus both deliver it) is not announced twice.
func TestOnCommitAnnouncesEachBlockOnce(t *testing.T) {
	a := newTestApp(t)
	var got []*CommittedInfo
	a.OnCommit(func(c *CommittedInfo) { got = append(got, c) })
	txs := [][]byte{[]byte("tx one"), []byte("tx two")}
	hdr, err := a.BuildPayload(consensus.ProposeSlot{Height: 1}, txs)
	if err != nil {
		t.Fatal(err)
	}
	hdr.ChainId, hdr.Height = "app-test", 1
	hb, err := proto.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	cb := consensus.CommittedBlock{Height: 1, Hash: crypto.Ed25519SHA256.Hash(hb), Block: &pb.Block{Header: hb, Txs: txs}, Header: hdr,
		Cert: &pb.CommitCert{Height: 1, BlockHash: crypto.Ed25519SHA256.Hash(hb)}}
	for range 2 {
		if err := a.Commit([]consensus.CommittedBlock{cb}); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d announcements, want 1", len(got))
	}
	c := got[0]
	if c.Height != 1 || string(c.Hash) != string(cb.Hash) || len(c.TxHashes) != len(txs) || len(c.Results) != len(txs) {
		t.Fatalf("announced height %d hash %x with %d tx hashes and %d results; want height 1, hash %x, %d txs",
			c.Height, c.Hash, len(c.TxHashes), len(c.Results), cb.Hash, len(txs))
	}
	for i, tx := range txs {
		if string(c.TxHashes[i]) != string(crypto.Ed25519SHA256.Hash(tx)) {
			t.Fatalf("tx hash %d is %x, want %x", i, c.TxHashes[i], crypto.Ed25519SHA256.Hash(tx))
		}
	}
}

// An executor without one of its instruments is refused at construction,
// naming the missing one, rather than panicking at its first commit.
func TestNewRefusesUnsetMetrics(t *testing.T) {
	cases := []struct {
		field string
		unset func(m *Metrics)
	}{
		{"Height", func(m *Metrics) { m.Height = nil }},
		{"CommittedTxs", func(m *Metrics) { m.CommittedTxs = nil }},
		{"FailedTxs", func(m *Metrics) { m.FailedTxs = nil }},
		{"BlockInterval", func(m *Metrics) { m.BlockInterval = nil }},
		{"ApplyDuration", func(m *Metrics) { m.ApplyDuration = nil }},
		{"CommitDuration", func(m *Metrics) { m.CommitDuration = nil }},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			m := testMetrics()
			tc.unset(&m)
			_, err := New("app-test", nil, nil, fixedClock{}, slog.New(slog.DiscardHandler), m)
			if err == nil || !strings.Contains(err.Error(), "Metrics."+tc.field) {
				t.Fatalf("New = %v, want an error naming Metrics.%s", err, tc.field)
			}
		})
	}
}

// Two validator-set changes decided within the delay are both pending;
// each takes over at its own effective height, the nearer first
// (driver.Membership), rooted at the block before it.
// pendingSets are genesis records of two decided validator sets, in force
// from heights 3 and 5.
func pendingSets(t *testing.T) []state.Change {
	set := func(eff uint64, ids ...string) state.Change {
		vs := &pb.ValidatorSet{FaultModel: "crash", EffectiveHeight: eff}
		for _, id := range ids {
			k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.NewChaCha8([32]byte{byte(eff), id[4]}))
			if err != nil {
				t.Fatal(err)
			}
			vs.Validators = append(vs.Validators, &pb.Department{Id: id, ConsensusKey: k.Public()})
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(vs)
		if err != nil {
			t.Fatal(err)
		}
		return state.Change{Key: exec.ValidatorSetKey(eff), Value: b}
	}
	return []state.Change{set(3, "deptA"), set(5, "deptA", "deptB")}
}

func TestPendingSetsTakeOverInOrder(t *testing.T) {
	a := newTestAppWith(t, pendingSets(t))
	if !a.ChangePending() {
		t.Fatal("no change pending")
	}
	block := func(h uint64) consensus.CommittedBlock {
		hdr, err := a.BuildPayload(consensus.ProposeSlot{Height: h, StateHeight: h - 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		hdr.ChainId, hdr.Height = "app-test", h
		if h > 1 {
			prev, _ := a.Head()
			hdr.ParentHash = crypto.Ed25519SHA256.Hash(prev.GetHeader())
		}
		hb, err := proto.Marshal(hdr)
		if err != nil {
			t.Fatal(err)
		}
		return consensus.CommittedBlock{Height: h, Hash: crypto.Ed25519SHA256.Hash(hb), Block: &pb.Block{Header: hb}, Header: hdr,
			Cert: &pb.CommitCert{Height: h, BlockHash: crypto.Ed25519SHA256.Hash(hb)}}
	}
	want := map[uint64]uint64{1: 0, 2: 3, 3: 3, 4: 5, 5: 5} // committed head -> epoch in force above it
	for h := uint64(1); h <= 5; h++ {
		b := block(h)
		if err := a.Commit([]consensus.CommittedBlock{b}); err != nil {
			t.Fatal(err)
		}
		ep, _ := a.Epoch()
		if ep.Start != want[h] {
			t.Fatalf("after block %d the epoch in force is %d, want %d", h, ep.Start, want[h])
		}
		if ep.Start > 0 && (ep.Root.GetHeight() != ep.Start-1) {
			t.Fatalf("epoch %d rooted at %d", ep.Start, ep.Root.GetHeight())
		}
	}
	if a.ChangePending() {
		t.Fatal("a change still pending after both took over")
	}
}
