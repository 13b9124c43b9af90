package node

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/blockexec"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/store"
	"github.com/govnode/govnode/node/mempool"
	"github.com/govnode/govnode/node/metrics"
	"github.com/govnode/govnode/node/transport"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// sigNode is the ledger side of one node: the state machine with this
// node's signature cache, its block executor and its mempool.
type sigNode struct {
	exec    *exec.Executor
	store   *store.Store
	app     *blockexec.Executor
	mempool *mempool.Mempool
}

func (n *sigNode) verified() uint64 { return n.exec.SigStats().Verified }

// resultsHash is the results hash of committed height h, as this node's
// proposal above h names it.
func (n *sigNode) resultsHash(h uint64) ([]byte, error) {
	hdr, err := n.app.BuildPayload(consensus.ProposeSlot{Height: h + 1, StateHeight: h}, nil)
	return hdr.GetResultsHash(), err
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// sigTestChain is a genesis with one department and four citizens who sign
// the txs; newNode starts a node on it from genesis.
type sigTestChain struct {
	doc      *pb.GenesisDoc
	citizens []crypto.PrivateKey
}

func newSigTestChain(t *testing.T) *sigTestChain {
	t.Helper()
	rng := rand.NewChaCha8([32]byte{'s', 'i', 'g'})
	key := func() crypto.PrivateKey {
		k, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rng)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	c := &sigTestChain{doc: genesis.New("sig-test", "crash", time.Unix(1_700_000_000, 0).UTC())}
	c.doc.Validators = []*pb.Department{{Id: "dept0", Name: "Department 0", ConsensusKey: key().Public()}}
	c.doc.RecordTypes = genesis.SampleRecordTypes([]string{"dept0"})
	for i := range 4 {
		k := key()
		c.citizens = append(c.citizens, k)
		c.doc.Identities = append(c.doc.Identities, &pb.Identity{
			Id: fmt.Sprintf("cit%d", i), Kind: pb.IdentityKind_IDENTITY_KIND_CITIZEN, DepartmentId: "dept0",
			DisplayName: "citizen", PublicKey: k.Public(), Status: pb.IdentityStatus_IDENTITY_STATUS_ACTIVE,
		})
	}
	return c
}

// grants returns n grant txs signed by the citizens in turn.
func (c *sigTestChain) grants(t *testing.T, n int) [][]byte {
	t.Helper()
	txs := make([][]byte, n)
	for i := range txs {
		who := i % len(c.citizens)
		body, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.TxBody{
			ChainId: c.doc.GetChainId(), Signer: fmt.Sprintf("cit%d", who), Nonce: uint64(i/len(c.citizens) + 1),
			Action: &pb.TxBody_GrantAccess{GrantAccess: &pb.GrantAccess{
				GrantId: fmt.Sprintf("g%d", i), GranteeDepartmentId: "dept0", RecordType: genesis.SampleLandTitle,
				Purpose: "benefit claim", ValidUntil: 1 << 40,
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		sig, err := c.citizens[who].Sign(crypto.TxSignBytes(c.doc.GetChainId(), body))
		if err != nil {
			t.Fatal(err)
		}
		if txs[i], err = proto.Marshal(&pb.SignedTx{Body: body, Signature: sig}); err != nil {
			t.Fatal(err)
		}
	}
	return txs
}

func (c *sigTestChain) newNode(t *testing.T) *sigNode {
	t.Helper()
	return c.startNode(t, exec.NewKnown(crypto.Ed25519SHA256))
}

// newNodeWithout starts a node with no Known table: every step decodes.
func (c *sigTestChain) newNodeWithout(t *testing.T) *sigNode {
	t.Helper()
	return c.startNode(t, nil)
}

func (c *sigTestChain) startNode(t *testing.T, known *exec.Known) *sigNode {
	t.Helper()
	cfg := exec.DefaultConfig(c.doc.GetChainId())
	cfg.SigCache, cfg.VerifyWorkers = transport.NewTxSigCache(1<<16), 2
	cfg.Known = known
	ex, err := exec.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := ex.InitGenesis(c.doc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "ledger"), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.InitGenesis(changes); err != nil {
		t.Fatal(err)
	}
	app, err := blockexec.New(c.doc.GetChainId(), st, ex, fixedClock{time.Unix(1_800_000_000, 0)},
		slog.New(slog.DiscardHandler), metrics.New().Ledger())
	if err != nil {
		t.Fatal(err)
	}
	mp, err := mempool.New(mempool.Config{MaxTxs: 1000, MaxBytes: 16 << 20, MaxTxBytes: 64 << 10, MaxNonceGap: 64,
		MaxSignerTxs: 64, MaxSignerBytes: 1 << 20, MaxQueuedPercent: 25, QueuedTTL: time.Minute}, txChecker{ledger: app}, cfg.Known)
	if err != nil {
		t.Fatal(err)
	}
	return &sigNode{exec: ex, store: st, app: app, mempool: mp}
}

func wantNodeVerified(t *testing.T, n *sigNode, step string, want int) {
	t.Helper()
	if got := n.verified(); got != uint64(want) {
		t.Fatalf("%s: %d signatures verified in all, want %d", step, got, want)
	}
}

// Each tx's signature is verified once per node (issue 8, ARCHITECTURE.md §3
// steps 1-5) across submit, gossip, proposal, validation, commit and the
// mempool's recheck, whichever way the node met the tx; and block sync
// verifies each once.
func TestSignaturesVerifiedOncePerNode(t *testing.T) {
	chain := newSigTestChain(t)
	txs := chain.grants(t, 48)
	block, pending := txs[:40], txs[40:]
	leader, follower, late, syncer := chain.newNode(t), chain.newNode(t), chain.newNode(t), chain.newNode(t)

	// Submit: the leader takes every tx from the API, the follower from
	// gossip; the late node sees only the block's last ten by gossip.
	for _, tx := range txs {
		for _, n := range []*sigNode{leader, follower} {
			if _, err := n.mempool.Add(tx); err != nil {
				t.Fatalf("admit: %v", err)
			}
		}
	}
	for _, tx := range block[30:] {
		if _, err := late.mempool.Add(tx); err != nil {
			t.Fatalf("admit: %v", err)
		}
	}
	// Gossip runs the validator again on our own publications and on a
	// copy relayed by another peer: the mempool's Add, a duplicate now.
	for _, tx := range txs {
		for _, n := range []*sigNode{leader, follower} {
			if _, err := n.mempool.Add(tx); err != mempool.ErrDuplicateTx {
				t.Fatalf("second admit: %v", err)
			}
		}
	}
	wantNodeVerified(t, leader, "leader after submit", 48)
	wantNodeVerified(t, follower, "follower after gossip", 48)
	wantNodeVerified(t, late, "late node after gossip", 10)

	// Propose and validate: every node checks the proposal; the leader
	// does too (its own proposal comes back through consensus).
	hdr, err := leader.app.BuildPayload(consensus.ProposeSlot{Height: 1}, block)
	if err != nil {
		t.Fatal(err)
	}
	hdr.ChainId, hdr.Height = chain.doc.GetChainId(), 1
	hb, err := proto.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	blk := &pb.Block{Header: hb, Txs: block}
	for _, n := range []*sigNode{leader, follower, late} {
		if err := n.app.ValidateBlock(consensus.ValidationRequest{Hash: crypto.Ed25519SHA256.Hash(hb), Block: blk, Header: hdr}); err != nil {
			t.Fatalf("validate: %v", err)
		}
	}
	wantNodeVerified(t, leader, "leader after validation", 48)
	wantNodeVerified(t, follower, "follower after validation", 48)
	wantNodeVerified(t, late, "late node after validation", 40)

	// Commit, then the mempool's recheck of what is still pending.
	cb := consensus.CommittedBlock{Height: 1, Hash: crypto.Ed25519SHA256.Hash(hb), Block: blk, Header: hdr, Cert: &pb.CommitCert{Height: 1, BlockHash: crypto.Ed25519SHA256.Hash(hb)}}
	for _, n := range []*sigNode{leader, follower, late} {
		if err := n.app.Commit([]consensus.CommittedBlock{cb}); err != nil {
			t.Fatal(err)
		}
		n.mempool.Update(mempool.CommittedTxsOf(n.exec.Known(), []consensus.CommittedBlock{cb}))
	}
	if txs, _ := leader.mempool.Size(); txs != len(pending) {
		t.Fatalf("leader's mempool holds %d txs after the commit, want %d", txs, len(pending))
	}
	wantNodeVerified(t, leader, "leader after commit and recheck", 48)
	wantNodeVerified(t, follower, "follower after commit and recheck", 48)
	wantNodeVerified(t, late, "late node after commit", 40)
	for _, tx := range block[:30] { // the rest of the block arrives by gossip after the commit
		if _, err := late.mempool.Add(tx); err == nil {
			t.Fatal("a committed tx was admitted")
		}
	}
	wantNodeVerified(t, late, "late node after late gossip", 40)

	// Block sync: the block alone, every signature once.
	if err := syncer.app.Commit([]consensus.CommittedBlock{cb}); err != nil {
		t.Fatal(err)
	}
	wantNodeVerified(t, syncer, "block sync", 40)

	// The same results everywhere.
	want, err := leader.resultsHash(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*sigNode{follower, late, syncer} {
		got, err := n.resultsHash(1)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatal("results differ between nodes")
		}
	}
	rs, err := leader.store.Results(1)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		res := &pb.TxResult{}
		if err := proto.Unmarshal(r.Result, res); err != nil || res.GetCode() != pb.ResultCode_RESULT_CODE_OK {
			t.Fatalf("tx %d: %v %v", i, res.GetCode(), err)
		}
	}
}

// Each tx is decoded and hashed once per node, at admission (ARCHITECTURE.md
// §3): reaping around proposed blocks, building and validating the
// proposal, committing it and the mempool's update all take the facts from
// the node's Known table. A node that meets txs first in the block decodes
// those, and only those; the table never holds more than the mempool.
func TestTxDecodedOncePerNode(t *testing.T) {
	chain := newSigTestChain(t)
	txs := chain.grants(t, 48)
	const blockTxs, pending = 40, 8
	leader, follower, late := chain.newNode(t), chain.newNode(t), chain.newNode(t)
	for _, tx := range txs {
		for _, n := range []*sigNode{leader, follower} {
			if _, err := n.mempool.Add(tx); err != nil {
				t.Fatalf("admit: %v", err)
			}
		}
	}
	drv := mempool.ForDriver{Pool: leader.mempool, ParamsAt: func(uint64) (*pb.Params, error) { return genesis.DefaultParams(), nil }, Updated: func() {}}
	reaped := drv.Reap(blockTxs, consensus.ProposeSlot{})
	if len(reaped) != blockTxs {
		t.Fatalf("reaped %d txs, want %d", len(reaped), blockTxs)
	}
	for _, tx := range reaped[30:] {
		if _, err := late.mempool.Add(tx); err != nil {
			t.Fatalf("admit: %v", err)
		}
	}
	for _, n := range []*sigNode{leader, follower, late} {
		if got, want := n.exec.Known().Len(), n.mempoolTxs(); got != want {
			t.Fatalf("known table holds %d txs, the mempool %d", got, want)
		}
	}
	hdr, err := leader.app.BuildPayload(consensus.ProposeSlot{Height: 1}, reaped)
	if err != nil {
		t.Fatal(err)
	}
	hdr.ChainId, hdr.Height = chain.doc.GetChainId(), 1
	hb, err := proto.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	blk := &pb.Block{Header: hb, Txs: reaped}
	// The leader's next proposal leaves out the block in flight.
	if next := drv.Reap(len(txs), consensus.ProposeSlot{Uncommitted: []*pb.Block{blk}}); len(next) != pending {
		t.Fatalf("reaped %d txs beside the proposed block, want %d", len(next), pending)
	}
	cb := consensus.CommittedBlock{Height: 1, Hash: crypto.Ed25519SHA256.Hash(hb), Block: blk, Header: hdr, Cert: &pb.CommitCert{Height: 1, BlockHash: crypto.Ed25519SHA256.Hash(hb)}}
	for _, n := range []*sigNode{leader, follower, late} {
		if err := n.app.ValidateBlock(consensus.ValidationRequest{Hash: crypto.Ed25519SHA256.Hash(hb), Block: blk, Header: hdr}); err != nil {
			t.Fatalf("validate: %v", err)
		}
		if err := n.app.Commit([]consensus.CommittedBlock{cb}); err != nil {
			t.Fatal(err)
		}
		n.mempool.Update(mempool.CommittedTxsOf(n.exec.Known(), []consensus.CommittedBlock{cb}))
	}
	// Each step finds each tx: the follower's five (validation's hashes
	// and signatures, the commit's tx check, execution, the mempool's
	// update), and the leader's header and reap around the block too.
	for name, n := range map[string]*sigNode{"leader": leader, "follower": follower} {
		st, steps := n.exec.Known().Stats(), uint64(5)
		if n == leader {
			steps = 7
		}
		if st.Misses != 0 || st.Hits < steps*blockTxs {
			t.Errorf("%s: %d lookups hashed or decoded a tx again, %d found it; want none and at least %d", name, st.Misses, st.Hits, steps*blockTxs)
		}
	}
	// The late node held 10 of the block's 40 txs: the other 30 are
	// decoded at each step that meets them, never the 10.
	if st := late.exec.Known().Stats(); st.Misses == 0 || st.Misses%30 != 0 {
		t.Errorf("late node: %d misses, want a multiple of the 30 txs it had not admitted", st.Misses)
	}
	for _, n := range []*sigNode{leader, follower, late} {
		if got, want := n.exec.Known().Len(), n.mempoolTxs(); got != want || (n != late && want != pending) {
			t.Fatalf("after the commit the known table holds %d txs, the mempool %d", got, want)
		}
	}
	// The results are those of a node with no table at all.
	want, err := leader.resultsHash(1)
	if err != nil {
		t.Fatal(err)
	}
	bare := chain.newNodeWithout(t)
	if err := bare.app.Commit([]consensus.CommittedBlock{cb}); err != nil {
		t.Fatal(err)
	}
	got, err := bare.resultsHash(1)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("results with the known table differ from results without")
	}
}

func (n *sigNode) mempoolTxs() int { txs, _ := n.mempool.Size(); return txs }

// The chain's timeout parameters become the core's ticks with floors that
// keep its rules (2 <= base <= max, 1 <= heartbeat < base), at start and
// whenever governance changes them (timedExecutor, driver.Timing).
func TestTimeoutTicks(t *testing.T) {
	for _, c := range []struct {
		p                 *pb.Params
		base, max, beatHi int
	}{
		{&pb.Params{ProposeTimeoutMs: 1000, MaxViewTimeoutMs: 8000, HeartbeatIntervalMs: 250}, int(time.Second / tickInterval), int(8 * time.Second / tickInterval), int(250 * time.Millisecond / tickInterval)},
		{&pb.Params{ProposeTimeoutMs: 1, MaxViewTimeoutMs: 1, HeartbeatIntervalMs: 1}, 10, 10, 1},
		{&pb.Params{ProposeTimeoutMs: 5000, MaxViewTimeoutMs: 100, HeartbeatIntervalMs: 60000}, int(5 * time.Second / tickInterval), int(5 * time.Second / tickInterval), int(5*time.Second/tickInterval) / 2},
	} {
		base, max, beat := timeoutTicks(c.p)
		if base != c.base || max != c.max || beat != c.beatHi || beat < 1 || beat >= base || max < base {
			t.Errorf("timeoutTicks(%v) = %d, %d, %d; want %d, %d, %d", c.p, base, max, beat, c.base, c.max, c.beatHi)
		}
	}
}
