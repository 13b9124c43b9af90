package node_test

// Node lifecycle: restart on the same home, refusal of another genesis,
// shutdown with transactions in flight (the ledger must audit clean and
// keep every acknowledged commit), and shutdown paths that must not hang.

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/state"
	"github.com/govnode/govnode/ledger/store"
	"github.com/govnode/govnode/node/nodetest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// chainSnapshot is everything a restart must keep: status and every block.
type chainSnapshot struct {
	status *pb.StatusResponse
	blocks []*pb.GetBlockResponse
}

func snapshot(t *testing.T, n *nodetest.Node) chainSnapshot {
	t.Helper()
	st := n.WaitIdle(t)
	s := chainSnapshot{status: st}
	for h := uint64(1); h <= st.GetHeight(); h++ {
		b, err := n.Client.GetBlock(ctxOf(t), req(&pb.GetBlockRequest{Height: h}))
		if err != nil {
			t.Fatalf("GetBlock(%d): %v", h, err)
		}
		s.blocks = append(s.blocks, b.Msg)
	}
	return s
}

func TestRestartKeepsChain(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	var hashes [][]byte
	for i := range 5 {
		r := n.CommitOK(t, c.Official.Tx(nodetest.CreateRecord(fmt.Sprintf("lic-%d", i), nodetest.BusinessLicense, "citizen0", []byte("x"))))
		hashes = append(hashes, r.GetTxHash())
	}
	before := snapshot(t, n)
	if err := n.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	n2 := c.Start(t)
	st := n2.Status(t)
	// The restarted validator may already have added an empty block.
	if st.GetHeight() < before.status.GetHeight() || !bytes.Equal(st.GetStateRoot(), before.status.GetStateRoot()) ||
		!bytes.Equal(st.GetGenesisHash(), before.status.GetGenesisHash()) {
		t.Fatalf("after restart: height %d root %x last %x; before: height %d root %x last %x", st.GetHeight(), st.GetStateRoot(),
			st.GetLastBlockHash(), before.status.GetHeight(), before.status.GetStateRoot(), before.status.GetLastBlockHash())
	}
	// A restarted validator may add empty blocks while it re-establishes
	// its view (its uncommitted tip was in memory only); the committed
	// blocks stay as they were and the state does not move.
	after := snapshot(t, n2)
	if len(after.blocks) < len(before.blocks) {
		t.Fatalf("%d blocks after restart, %d before", len(after.blocks), len(before.blocks))
	}
	for i := range before.blocks {
		if !proto.Equal(before.blocks[i], after.blocks[i]) {
			t.Fatalf("block %d changed across the restart", i+1)
		}
	}
	for _, b := range after.blocks[len(before.blocks):] {
		if len(b.GetBlock().GetTxs()) != 0 {
			t.Fatalf("block %d after the restart has txs", b.GetHeight())
		}
	}
	if !bytes.Equal(after.status.GetStateRoot(), before.status.GetStateRoot()) {
		t.Fatal("state root moved after the restart without txs")
	}
	for _, h := range hashes {
		if _, err := n2.Client.GetTx(ctxOf(t), req(&pb.GetTxRequest{TxHash: h})); err != nil {
			t.Fatalf("committed tx %x lost across the restart: %v", h, err)
		}
	}
	// The chain goes on from there.
	r := n2.CommitOK(t, c.Official.Tx(nodetest.CreateRecord("after", nodetest.BusinessLicense, "citizen1", []byte("x"))))
	if r.GetHeight() <= before.status.GetHeight() {
		t.Fatalf("new tx committed at %d, not above the old head %d", r.GetHeight(), before.status.GetHeight())
	}
}

func TestNewRefusesAnotherGenesis(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	n.CommitOK(t, c.Official.Tx(nodetest.CreateRecord("lic", nodetest.BusinessLicense, "citizen0", []byte("x"))))
	before := n.WaitIdle(t)
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}

	other := proto.Clone(c.Genesis).(*pb.GenesisDoc)
	other.ChainId = "another-chain"
	otherHash, err := genesis.Hash(other)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nn, err := c.New(ctx, t, other)
	if err == nil {
		_ = nn.Close()
		t.Fatal("node started on a data dir of another genesis")
	}
	msg := err.Error()
	if !strings.Contains(msg, "genesis") || !strings.Contains(msg, hex.EncodeToString(otherHash)) || !strings.Contains(msg, "another chain") {
		t.Fatalf("refusal does not name the chain and the genesis: %v", err)
	}

	// The refusal left the data dir alone.
	n2 := c.Start(t)
	// (A restarted validator may add empty blocks; the state stays.)
	if st := n2.Status(t); st.GetHeight() < before.GetHeight() || !bytes.Equal(st.GetStateRoot(), before.GetStateRoot()) {
		t.Fatalf("data dir changed by the refused start: %v", st)
	}
}

// TestNewRefusesForeignLedgerWithoutMarker: New writes the ledger's genesis
// state before the genesis marker, so a crash between the two leaves a
// ledger of one genesis and no marker. A later start with another genesis
// must still be refused; today it is accepted and the marker of the new
// genesis is written over the old chain's state.
func TestNewRefusesForeignLedgerWithoutMarker(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	crashed := proto.Clone(c.Genesis).(*pb.GenesisDoc)
	crashed.ChainId = "crashed-chain"
	// What New had done when it crashed: ledger initialised for the first
	// genesis, marker not yet written.
	st, err := store.Open(filepath.Join(c.Home, "data", "ledger"), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ex, err := exec.New(exec.DefaultConfig(crashed.GetChainId()))
	if err != nil {
		t.Fatal(err)
	}
	changes, err := ex.InitGenesis(crashed)
	if err != nil {
		t.Fatal(err)
	}
	sc := make([]state.Change, len(changes))
	for i, ch := range changes {
		sc[i] = state.Change{Key: ch.Key, Value: ch.Value, Delete: ch.Delete}
	}
	if err := st.InitGenesis(sc); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nn, err := c.New(ctx, t, nil)
	if err == nil {
		_ = nn.Close()
		t.Fatalf("node started with genesis %q on a ledger initialised for %q", c.Genesis.GetChainId(), crashed.GetChainId())
	}
	if !strings.Contains(err.Error(), "genesis") {
		t.Fatalf("refusal does not name the genesis: %v", err)
	}
}

// TestStopWithTxsInFlight stops the node (as SIGTERM does: Run's context
// is cancelled) while clients are submitting, then audits the ledger and
// checks that every acknowledged commit is in it and survives a restart.
func TestStopWithTxsInFlight(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)

	var (
		mu    sync.Mutex
		acked [][]byte // committed, as the API said
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w, a := range c.Accounts() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := nodetest.GrantTypeAccess(fmt.Sprintf("g-%d-%d", w, i), nodetest.Dept, nodetest.BusinessLicense, math.MaxInt32)
				if w < 2 {
					body = nodetest.CreateRecord(fmt.Sprintf("r-%d-%d", w, i), nodetest.BusinessLicense, "citizen0", []byte("x"))
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				resp, err := n.Client.SubmitTx(ctx, req(&pb.SubmitTxRequest{Tx: a.Tx(body), WaitForCommit: true}))
				cancel()
				if err != nil {
					return // the node is going away
				}
				if resp.Msg.GetCommitted() {
					mu.Lock()
					acked = append(acked, resp.Msg.GetTxHash())
					mu.Unlock()
				}
			}
		}()
	}
	n.WaitHeight(t, 20)
	stopErr := n.Stop()
	close(stop)
	wg.Wait()
	if stopErr != nil {
		t.Fatalf("stop with txs in flight: %v", stopErr)
	}
	if len(acked) == 0 {
		t.Fatal("no tx was acknowledged as committed")
	}

	ledger, err := store.Open(filepath.Join(c.Home, "data", "ledger"), store.DefaultOptions())
	if err != nil {
		t.Fatalf("reopen ledger: %v", err)
	}
	if err := ledger.Audit(); err != nil {
		t.Errorf("ledger audit after shutdown: %v", err)
	}
	for _, h := range acked {
		var k [32]byte
		copy(k[:], h)
		if _, _, err := ledger.TxByHash(k); err != nil {
			t.Errorf("acknowledged tx %x not in the ledger: %v", h, err)
		}
	}
	head, _ := ledger.Height()
	if err := ledger.Close(); err != nil {
		t.Fatal(err)
	}

	n2 := c.Start(t)
	if st := n2.Status(t); st.GetHeight() < head {
		t.Fatalf("restarted at %d, ledger was at %d", st.GetHeight(), head)
	}
	// The restarted node commits again the blocks its safety state carried
	// (some with txs of these accounts) before it goes idle: read the
	// nonces after that, or a new tx may take a nonce one of them uses.
	n2.WaitIdle(t)
	for _, a := range c.Accounts() {
		n2.SyncNonce(t, a)
	}
	n2.CommitOK(t, c.Citizens[0].Tx(nodetest.GrantTypeAccess("after-restart", nodetest.Dept, nodetest.BusinessLicense, math.MaxInt32)))
}

// TestCloseWhileRunning: Close is the documented way to stop everything;
// called while Run is running (without cancelling Run's context) it must
// return, not wait forever for goroutines that only watch that context.
func TestCloseWhileRunning(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	n.CommitOK(t, c.Official.Tx(nodetest.CreateRecord("lic", nodetest.BusinessLicense, "citizen0", []byte("x"))))
	n.WaitIdle(t)
	closed := make(chan error, 1)
	go func() { closed <- n.Node.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(nodetest.StopTimeout):
		t.Errorf("Close did not return within %v while Run was running", nodetest.StopTimeout)
		// Unblock it the way SIGTERM would, so the test ends cleanly.
		_ = n.Stop()
		<-closed
	}
	select {
	case <-n.Done():
	case <-time.After(nodetest.StopTimeout):
		t.Fatal("Run did not return after Close")
	}
}

// TestGappedTxDoesNotSpin: a tx waiting behind a nonce gap cannot be
// proposed, so it must not make the leader propose: the chain stays idle
// until the gap fills. Any signer can submit such a tx (up to
// mempool.max_nonce_gap ahead).
func TestGappedTxDoesNotSpin(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	cit := c.Citizens[0]
	n.CommitOK(t, cit.Tx(nodetest.GrantTypeAccess("g1", nodetest.Dept, nodetest.BusinessLicense, math.MaxInt32)))
	h0 := n.WaitIdle(t).GetHeight()

	gapped := cit.Tx(&pb.TxBody{Nonce: cit.NextNonce() + 1, Action: nodetest.GrantTypeAccess("g3", nodetest.Dept, nodetest.BusinessLicense, math.MaxInt32).Action})
	if _, err := n.Client.SubmitTx(ctxOf(t), req(&pb.SubmitTxRequest{Tx: gapped})); err != nil {
		t.Fatal(err)
	}
	// Watch the chain for 200 status round trips.
	var h uint64
	for range 200 {
		h = n.Status(t).GetHeight()
	}
	if h > h0+2 {
		t.Errorf("a tx behind a nonce gap made the chain commit %d empty blocks (height %d -> %d)", h-h0, h0, h)
	}
	// Filling the gap releases both.
	fillGap(t, n, cit, cit.NextNonce(), cit.NextNonce()+1)
	waitCommitted(t, n, crypto.Ed25519SHA256.Hash(gapped))
}

// TestStopWithPendingTx: a client waiting for a commit when the node shuts
// down gets Unavailable (retry elsewhere), the code StreamEvents uses, not
// Canceled (which says the client gave up); and the stop itself completes.
func TestStopWithPendingTx(t *testing.T) {
	c := nodetest.NewChain(t, nodetest.Options{})
	n := c.Start(t)
	cit := c.Citizens[1]
	gapped := cit.Tx(&pb.TxBody{Nonce: 2, Action: nodetest.GrantTypeAccess("g2", nodetest.Dept, nodetest.BusinessLicense, math.MaxInt32).Action})
	waitErr := make(chan error, 1)
	go func() {
		_, err := n.Client.SubmitTx(ctxOf(t), req(&pb.SubmitTxRequest{Tx: gapped, WaitForCommit: true}))
		waitErr <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := n.Client.GetTx(ctxOf(t), req(&pb.GetTxRequest{TxHash: crypto.Ed25519SHA256.Hash(gapped)}))
		if err == nil && p.Msg.GetPending() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gapped tx never pending")
		}
		pause()
	}
	stopped := make(chan error, 1)
	go func() { stopped <- n.Stop() }()
	select {
	case err := <-waitErr:
		if code := connect.CodeOf(err); code != connect.CodeUnavailable {
			t.Errorf("waiting client got %v (%v), want unavailable", code, err)
		}
	case <-time.After(nodetest.StopTimeout):
		t.Error("waiting client not answered on shutdown")
	}
	if err := <-stopped; err != nil {
		t.Errorf("stop with a pending tx: %v", err)
	}
}
