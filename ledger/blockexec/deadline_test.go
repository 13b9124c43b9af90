package blockexec

import (
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	"github.com/govnode/govnode/ledger/store"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// setClock is a clock a test sets.
type setClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *setClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *setClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// deadlineChain is an executor on the exec fixture's genesis with a timer
// template: a contract of it is due at its field "due" (unix seconds)
// from its creation, and then moves to "expired".
type deadlineChain struct {
	t     *testing.T
	a     *Executor
	st    *store.Store
	ex    *exec.Executor
	f     *exectest.Fixture
	clock *setClock
}

func newDeadlineChain(t *testing.T) *deadlineChain {
	t.Helper()
	f := exectest.NewFixture(2)
	f.Genesis.ContractTemplates = append(f.Genesis.ContractTemplates, &pb.ContractTemplate{
		Id: "timer", Name: "Timer", Roles: []string{"owner"}, FieldNames: []string{"due"},
		DraftState: "open", ActiveState: "signed", FinalStates: []string{"expired"},
		Transitions: []*pb.Transition{{Name: "expire", From: []string{"open", "signed"}, To: "expired", Roles: []string{"owner"}}},
		Deadlines:   []*pb.Deadline{{State: "open", At: "fields.due", Transition: "expire"}},
	})
	ex, err := exec.New(exec.DefaultConfig(exectest.ChainID))
	if err != nil {
		t.Fatal(err)
	}
	changes, err := ex.InitGenesis(f.Genesis)
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
	c := &deadlineChain{t: t, st: st, ex: ex, f: f, clock: &setClock{t: time.UnixMilli(exectest.GenesisTimeMs)}}
	c.a = c.open()
	return c
}

// open starts an executor on the chain's store, as a node does at start.
func (c *deadlineChain) open() *Executor {
	c.t.Helper()
	a, err := New(exectest.ChainID, c.st, c.ex, c.clock, slog.New(slog.DiscardHandler), testMetrics())
	if err != nil {
		c.t.Fatal(err)
	}
	return a
}

// propose builds the next block (height h, attesting h-1) at the clock's
// time, as the leader does.
func (c *deadlineChain) propose(txs ...[]byte) (*pb.Header, consensus.ProposeSlot) {
	c.t.Helper()
	head, _ := c.st.Height()
	slot := consensus.ProposeSlot{Height: head + 1, StateHeight: head}
	hdr, err := c.a.BuildPayload(slot, txs)
	if err != nil {
		c.t.Fatal(err)
	}
	hdr.ChainId, hdr.Height = exectest.ChainID, head+1
	if head > 0 {
		prev, err := c.a.Head()
		if err != nil {
			c.t.Fatal(err)
		}
		hdr.ParentHash = crypto.Ed25519SHA256.Hash(prev.GetHeader())
	}
	return hdr, slot
}

// commit commits hdr's block with txs.
func (c *deadlineChain) commit(hdr *pb.Header, txs ...[]byte) {
	c.t.Helper()
	hb, err := proto.Marshal(hdr)
	if err != nil {
		c.t.Fatal(err)
	}
	cb := consensus.CommittedBlock{Height: hdr.GetHeight(), Hash: crypto.Ed25519SHA256.Hash(hb), Block: &pb.Block{Header: hb, Txs: txs}, Header: hdr,
		Cert: &pb.CommitCert{Height: hdr.GetHeight(), BlockHash: crypto.Ed25519SHA256.Hash(hb)}}
	if err := c.a.Commit([]consensus.CommittedBlock{cb}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *deadlineChain) createTimer(id string, due int64) []byte {
	return c.f.S("cit0").Tx(&pb.TxBody{Action: &pb.TxBody_CreateContract{CreateContract: &pb.CreateContract{
		ContractId: id, TemplateId: "timer", Title: "timer " + id,
		Parties: []*pb.ContractParty{{Role: "owner", IdentityId: "cit0"}},
		Fields:  []*pb.ContractField{{Name: "due", Value: &pb.ContractField_IntValue{IntValue: due}}},
	}}})
}

func (c *deadlineChain) state(id string) string {
	c.t.Helper()
	ct, err := exec.Contract(StateReader(c.st), id)
	if err != nil {
		c.t.Fatal(err)
	}
	return ct.GetState()
}

func (c *deadlineChain) wantNext(a *Executor, want int64, wantOK bool) {
	c.t.Helper()
	got, ok := a.NextDeadline()
	if ok != wantOK || (ok && got.Unix() != want) || (ok && got.Nanosecond() != 0) {
		c.t.Fatalf("NextDeadline = %v, %v; want %d, %v", got, ok, want, wantOK)
	}
}

// The executor keeps the next deadline of committed state and says when
// the chain must make a block for it (driver.Deadlines): due once the
// wall clock is past it, and until the block that fired it is attested by
// a committed header. A proposal stamped early fires nothing; one stamped
// further ahead of the follower's clock than maxClockDrift is refused, so
// a leader can fire a deadline at most that much early
// (ARCHITECTURE.md §4 "Deadlines drive blocks").
func TestDeadlineDue(t *testing.T) {
	c := newDeadlineChain(t)
	a := c.a
	t0 := c.clock.Now()
	if a.DeadlineDue(t0.Add(1000 * time.Hour)) {
		t.Fatal("a deadline is due with none scheduled")
	}
	c.wantNext(a, 0, false)

	due := t0.Unix() + 100
	tx := c.createTimer("c1", due)
	hdr, _ := c.propose(tx)
	c.commit(hdr, tx)
	c.wantNext(a, due, true)
	if c.state("c1") != "open" {
		t.Fatalf("contract c1 is %s", c.state("c1"))
	}
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{{t0, false}, {time.UnixMilli(due * 1000), false}, {time.UnixMilli(due*1000 + 1), true}, {time.Unix(due+3600, 0), true}} {
		if got := a.DeadlineDue(tc.at); got != tc.want {
			t.Fatalf("DeadlineDue(%d ms) = %v, want %v", tc.at.UnixMilli(), got, tc.want)
		}
	}

	// The clock reaches the due time, not past it: a block stamped then
	// (a leader whose clock is behind) fires nothing.
	c.clock.Set(time.UnixMilli(due * 1000))
	hdr, _ = c.propose()
	c.commit(hdr)
	if c.state("c1") != "open" {
		t.Fatalf("a block at the due time moved c1 to %s", c.state("c1"))
	}
	c.wantNext(a, due, true)
	if a.DeadlineDue(c.clock.Now()) || !a.DeadlineDue(c.clock.Now().Add(time.Millisecond)) {
		t.Fatal("DeadlineDue does not follow the firing rule after an early block")
	}

	// A follower 30 s before the due time refuses a proposal stamped more
	// than maxClockDrift ahead of its clock, past the due time; within the
	// drift it votes (a leader can fire a deadline at most that early).
	c.clock.Set(time.Unix(due-30, 0))
	hdr, slot := c.propose()
	hdr.TimeUnixMs = time.Unix(due+1, 0).UnixMilli()
	req := consensus.ValidationRequest{Header: hdr, Block: &pb.Block{}, StateHeight: slot.StateHeight}
	if err := a.ValidateBlock(req); err == nil || !strings.Contains(err.Error(), "ahead") {
		t.Fatalf("a proposal 31 s ahead of the follower's clock: %v, want refused as ahead", err)
	}
	c.clock.Set(time.Unix(due+1, 0).Add(-maxClockDrift))
	if err := a.ValidateBlock(req); err != nil {
		t.Fatalf("a proposal within the drift refused: %v", err)
	}
	// Nor does block time go back: a proposal before the committed
	// block's time is refused, so a deadline never fires twice nor un-fires.
	hdr2, slot2 := c.propose()
	hdr2.TimeUnixMs = due*1000 - 1
	if err := a.ValidateBlock(consensus.ValidationRequest{Header: hdr2, Block: &pb.Block{}, StateHeight: slot2.StateHeight}); err == nil ||
		!strings.Contains(err.Error(), "before committed block time") {
		t.Fatalf("a proposal older than the committed block: %v", err)
	}

	// The block past the due time fires it; the chain still needs blocks
	// until a committed header attests the state it left.
	c.clock.Set(time.UnixMilli(due*1000 + 5))
	hdr, _ = c.propose()
	c.commit(hdr)
	fired := hdr.GetHeight()
	if c.state("c1") != "expired" {
		t.Fatalf("the block past the deadline left c1 %s", c.state("c1"))
	}
	c.wantNext(a, 0, false)
	if !a.DeadlineDue(c.clock.Now()) {
		t.Fatal("no block asked for after the firing block, whose state no committed header attests")
	}
	// A restarted node knows it too (the firing block's events are stored).
	if !c.open().DeadlineDue(c.clock.Now()) {
		t.Fatal("after a restart, no block asked for the unattested firing block")
	}
	hdr, _ = c.propose()
	if hdr.GetStateHeight() != fired {
		t.Fatalf("next block attests %d, want %d", hdr.GetStateHeight(), fired)
	}
	c.commit(hdr)
	if a.DeadlineDue(c.clock.Now().Add(1000 * time.Hour)) {
		t.Fatal("a block asked for with the firing block attested and nothing scheduled")
	}
	if c.open().DeadlineDue(c.clock.Now().Add(1000 * time.Hour)) {
		t.Fatal("after a restart, a block asked for with nothing to do")
	}
}

// A deadline scheduled already past (its due time before the block that
// schedules it) is due at once: the next block fires it.
func TestDeadlineScheduledInThePast(t *testing.T) {
	c := newDeadlineChain(t)
	a := c.a
	c.clock.Set(c.clock.Now().Add(time.Hour))
	due := c.clock.Now().Unix() - 60
	tx := c.createTimer("late", due)
	hdr, _ := c.propose(tx)
	c.commit(hdr, tx)
	c.wantNext(a, due, true)
	if !a.DeadlineDue(c.clock.Now()) {
		t.Fatal("a deadline in the past is not due")
	}
	hdr, _ = c.propose()
	c.commit(hdr)
	if c.state("late") != "expired" {
		t.Fatalf("contract late is %s after the next block", c.state("late"))
	}
	c.wantNext(a, 0, false)
}
