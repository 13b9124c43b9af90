package blockexec

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// asyncChain builds blocks for a, each on the previous one (kept here: the
// ledger's head lags while a write is in flight).
type asyncChain struct {
	t    *testing.T
	a    *Executor
	prev []byte
}

func (c *asyncChain) block(h uint64, txs [][]byte) consensus.CommittedBlock {
	c.t.Helper()
	hdr, err := c.a.BuildPayload(consensus.ProposeSlot{Height: h, StateHeight: h - 1}, txs)
	if err != nil {
		c.t.Fatal(err)
	}
	hdr.ChainId, hdr.Height, hdr.ParentHash = "app-test", h, c.prev
	hb, err := proto.Marshal(hdr)
	if err != nil {
		c.t.Fatal(err)
	}
	hash := crypto.Ed25519SHA256.Hash(hb)
	c.prev = hash
	return consensus.CommittedBlock{Height: h, Hash: hash, Block: &pb.Block{Header: hb, Txs: txs}, Header: hdr,
		Cert: &pb.CommitCert{Height: h, BlockHash: hash}}
}

// CommitAsync leaves a plain block's write in flight: the block is
// executed (a proposal attesting it can be built and validated, with its
// parameters), the ledger and the listeners learn of it only when the
// write has returned and FinishWrite completes it, and the next commit
// finishes it first.
func TestCommitAsyncLeavesTheWriteInFlight(t *testing.T) {
	a := newTestApp(t)
	var got []uint64
	a.OnCommit(func(c *CommittedInfo) { got = append(got, c.Height) })
	c := &asyncChain{t: t, a: a}
	if a.Written() != nil {
		t.Fatal("a write in flight before any commit")
	}
	if _, took, err := a.FinishWrite(); err != nil || took != 0 {
		t.Fatalf("FinishWrite with nothing in flight: %v, %v", took, err)
	}
	b1 := c.block(1, [][]byte{[]byte("tx one"), []byte("tx two")})
	if err := a.CommitAsync([]consensus.CommittedBlock{b1}); err != nil {
		t.Fatal(err)
	}
	written := a.Written()
	if written == nil {
		t.Fatal("no write in flight after CommitAsync of a plain block")
	}
	if len(got) != 0 {
		t.Fatalf("listeners told of %v before the write was finished", got)
	}
	// The proposal above attests block 1: it builds and validates while
	// the write is in flight.
	b2 := c.block(2, [][]byte{[]byte("tx three")})
	if err := a.ValidateBlock(consensus.ValidationRequest{Hash: b2.Hash, Block: b2.Block, Header: b2.Header, StateHeight: 1}); err != nil {
		t.Fatalf("proposal attesting the block in flight refused: %v", err)
	}
	if _, err := a.ParamsAt(1); err != nil {
		t.Fatalf("ParamsAt the block in flight: %v", err)
	}
	<-written
	durable, took, err := a.FinishWrite()
	if err != nil || durable != 1 || took <= 0 {
		t.Fatalf("FinishWrite: durable %d, took %v, %v; want 1", durable, took, err)
	}
	if a.Written() != nil {
		t.Fatal("a write still in flight after FinishWrite")
	}
	if len(got) != 1 || got[0] != 1 {
		t.Fatalf("listeners told of %v, want [1]", got)
	}
	root, err := a.store.StateRoot(1)
	if err != nil || !bytes.Equal(root[:], b2.Header.GetStateRoot()) {
		t.Fatalf("stored root %x (%v); the proposal built during the write attested %x", root, err, b2.Header.GetStateRoot())
	}

	// Block 2 in flight, then block 3 committed at once: the commit
	// finishes block 2 first.
	if err := a.CommitAsync([]consensus.CommittedBlock{b2}); err != nil {
		t.Fatal(err)
	}
	b3 := c.block(3, nil)
	if err := a.Commit([]consensus.CommittedBlock{b3}); err != nil {
		t.Fatal(err)
	}
	if h, _ := a.store.Height(); h != 3 || a.Written() != nil {
		t.Fatalf("ledger at %d (write in flight: %v) after a synchronous commit, want 3 and none", h, a.Written() != nil)
	}
	if len(got) != 3 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("listeners told of %v, want [1 2 3]", got)
	}
}

// A block that changes what the executor reads back from the ledger (here
// a validator set coming into force) is written before CommitAsync
// returns, so the epoch the driver reads right after is the new one.
func TestCommitAsyncWritesEpochChangesAtOnce(t *testing.T) {
	a := newTestAppWith(t, pendingSets(t))
	c := &asyncChain{t: t, a: a}
	want := map[uint64]uint64{1: 0, 2: 3, 3: 3, 4: 5, 5: 5} // committed head -> epoch in force above it
	for h := uint64(1); h <= 5; h++ {
		if err := a.CommitAsync([]consensus.CommittedBlock{c.block(h, nil)}); err != nil {
			t.Fatal(err)
		}
		changes := h == 2 || h == 4
		if inFlight := a.Written() != nil; inFlight == changes {
			t.Fatalf("block %d: write in flight %v, want %v", h, inFlight, !changes)
		}
		ep, _ := a.Epoch()
		if ep.Start != want[h] {
			t.Fatalf("after block %d the epoch in force is %d, want %d", h, ep.Start, want[h])
		}
	}
	if durable, _, err := a.FinishWrite(); err != nil || durable != 5 {
		t.Fatalf("FinishWrite: %d, %v", durable, err)
	}
}

// The parameters of the block whose write is in flight stay known however
// many other heights are asked for meanwhile: ParamsAt's cache, emptied
// when full, keeps them (they are nowhere else until the write returns).
func TestParamsOfTheBlockInFlightSurviveTheCache(t *testing.T) {
	a := newTestApp(t)
	c := &asyncChain{t: t, a: a}
	const n = maxParamsCached + 8
	for h := uint64(1); h <= n; h++ {
		if err := a.Commit([]consensus.CommittedBlock{c.block(h, nil)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.CommitAsync([]consensus.CommittedBlock{c.block(n+1, nil)}); err != nil {
		t.Fatal(err)
	}
	if a.Written() == nil {
		t.Fatal("no write in flight")
	}
	for h := uint64(0); h <= n; h++ { // fills the cache past its bound, twice over
		if _, err := a.ParamsAt(h); err != nil {
			t.Fatal(err)
		}
		a.mu.Lock()
		a.paramsAt[1000+h] = &pb.Params{}
		a.mu.Unlock()
	}
	if _, err := a.ParamsAt(n + 1); err != nil {
		t.Fatalf("ParamsAt the block in flight after the cache was emptied: %v", err)
	}
	if _, _, err := a.FinishWrite(); err != nil {
		t.Fatal(err)
	}
}

// Each effect the executor reads back from the ledger at once makes the
// block's write synchronous; a block with none of them, whatever else it
// changed, may leave its write in flight.
func TestReadsBack(t *testing.T) {
	plain := []exec.Change{{Key: []byte("rec/r1"), Value: []byte("v")}, {Key: []byte("nonce/alice"), Value: []byte("1")}}
	with := func(k []byte) []exec.Change {
		return append(append([]exec.Change(nil), plain...), exec.Change{Key: k, Value: []byte("x")})
	}
	for _, tc := range []struct {
		name      string
		res       *exec.BlockResult
		switchNow bool
		want      bool
	}{
		{"plain block", &exec.BlockResult{Changes: plain}, false, false},
		{"validator set decided", &exec.BlockResult{Changes: plain, ValidatorUpdate: &pb.ValidatorSet{}}, false, true},
		{"set comes into force", &exec.BlockResult{Changes: plain}, true, true},
		{"parameters changed", &exec.BlockResult{Changes: plain, Params: &pb.Params{}}, false, true},
		{"parameters record written", &exec.BlockResult{Changes: with(exec.ParamsKey())}, false, true},
		{"upgrade plan", &exec.BlockResult{Changes: with(exec.UpgradePlanKey())}, false, true},
		{"deadline index", &exec.BlockResult{Changes: with([]byte(exec.DeadlinePrefix() + "1800000000/c1"))}, false, true},
	} {
		if got := readsBack(tc.res, tc.switchNow); got != tc.want {
			t.Errorf("%s: readsBack = %v, want %v", tc.name, got, tc.want)
		}
	}
}
