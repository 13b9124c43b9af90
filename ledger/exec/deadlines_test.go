package exec_test

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/ledger/exec/exectest"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// timerTemplate is a contract whose only deadline is due at its field
// "due" (unix seconds), from its creation: the creation alone schedules
// it, and it moves the contract to "expired".
func timerTemplate() *pb.ContractTemplate {
	return &pb.ContractTemplate{
		Id: "timer", Name: "Timer", Roles: []string{"owner"}, FieldNames: []string{"due"},
		DraftState: "open", ActiveState: "signed", FinalStates: []string{"expired"},
		Transitions: []*pb.Transition{{Name: "expire", From: []string{"open", "signed"}, To: "expired", Roles: []string{"owner"}}},
		Deadlines:   []*pb.Deadline{{State: "open", At: "fields.due", Transition: "expire"}},
	}
}

func newTimerEnv(t *testing.T) *env {
	t.Helper()
	f := exectest.NewFixture(2)
	f.Genesis.ContractTemplates = append(f.Genesis.ContractTemplates, timerTemplate())
	c, err := f.NewChain(exec.DefaultConfig(exectest.ChainID))
	if err != nil {
		t.Fatalf("new chain: %v", err)
	}
	return &env{t: t, f: f, c: c}
}

func createTimer(id string, due int64) *pb.TxBody {
	return &pb.TxBody{Action: &pb.TxBody_CreateContract{CreateContract: &pb.CreateContract{
		ContractId: id, TemplateId: "timer", Title: "timer " + id,
		Parties: []*pb.ContractParty{{Role: "owner", IdentityId: "cit0"}},
		Fields:  []*pb.ContractField{intField("due", due)},
	}}}
}

func wantNextDeadline(t *testing.T, r exec.Reader, want int64, wantOK bool) {
	t.Helper()
	got, ok, err := exec.NextDeadline(r)
	if err != nil {
		t.Fatalf("NextDeadline: %v", err)
	}
	if ok != wantOK || got != want {
		t.Fatalf("NextDeadline = %d, %v; want %d, %v", got, ok, want, wantOK)
	}
}

// NextDeadline is the earliest due time in the dl/ index, whatever the
// order the deadlines were scheduled in; it moves on as blocks past it
// fire them, counts a stale entry until a block removes it, and reports
// none once every deadline is gone.
func TestNextDeadline(t *testing.T) {
	e := newTimerEnv(t)
	wantNextDeadline(t, e.c.Store, 0, false)
	now := exectest.GenesisTimeMs / 1000
	e.ok("cit0", createTimer("late", now+100))
	wantNextDeadline(t, e.c.Store, now+100, true)
	e.ok("cit0", createTimer("early", now+50))
	wantNextDeadline(t, e.c.Store, now+50, true)
	e.ok("cit0", createTimer("stale", now+70))
	wantNextDeadline(t, e.c.Store, now+50, true)

	// A block at the due time fires nothing (fireDeadlines: time_ms > at*1000).
	if res := e.blockAt((now + 50) * 1000); len(res.Events) != 0 {
		t.Fatalf("fired at the due time: %v", res.Events)
	}
	wantNextDeadline(t, e.c.Store, now+50, true)
	res := e.blockAt((now+50)*1000 + 1)
	if len(res.Events) != 1 || res.Events[0].GetContract().GetContractId() != "early" || res.Events[0].GetContract().GetAction() != "deadline" {
		t.Fatalf("events of the block past the deadline: %v", res.Events)
	}
	wantNextDeadline(t, e.c.Store, now+70, true)

	// The owner expires "stale" by hand: its entry is stale and still the
	// next due time, until a block past it removes it (firing nothing).
	e.ok("cit0", fire("stale", "expire"))
	wantNextDeadline(t, e.c.Store, now+70, true)
	if res := e.blockAt((now + 71) * 1000); len(res.Events) != 0 {
		t.Fatalf("a stale deadline fired: %v", res.Events)
	}
	wantNextDeadline(t, e.c.Store, now+100, true)

	e.blockAt((now + 200) * 1000)
	wantNextDeadline(t, e.c.Store, 0, false)
	if c := contractOf(t, e, "late"); c.GetState() != "expired" {
		t.Fatalf("contract late is %s", c.GetState())
	}

	// A due time before 1970 is scheduled at 0 (scheduleDeadlines), due at once.
	e.ok("cit0", createTimer("past", -5))
	wantNextDeadline(t, e.c.Store, 0, true)
}

// countingReader counts the entries Iterate hands out, and fails
// iterations when err is set.
type countingReader struct {
	exec.Reader
	seen int
	err  error
}

func (r *countingReader) Iterate(start, end []byte, fn func(k, v []byte) error) error {
	if r.err != nil {
		return r.err
	}
	return r.Reader.Iterate(start, end, func(k, v []byte) error {
		r.seen++
		return fn(k, v)
	})
}

// NextDeadline reads one entry of the index however many there are, and
// passes a storage failure on.
func TestNextDeadlineReadsOneEntry(t *testing.T) {
	e := newTimerEnv(t)
	now := exectest.GenesisTimeMs / 1000
	var txs [][]byte
	for i := range 50 {
		txs = append(txs, e.s("cit0").Tx(createTimer(fmt.Sprintf("t%02d", i), now+1000+int64(i))))
	}
	res := e.block(txs...)
	for i, r := range res.Results {
		if r.GetCode() != codeOK {
			t.Fatalf("tx %d: %v %s", i, r.GetCode(), r.GetReason())
		}
	}
	r := &countingReader{Reader: e.c.Store}
	wantNextDeadline(t, r, now+1000, true)
	if r.seen != 1 {
		t.Fatalf("NextDeadline read %d index entries, want 1", r.seen)
	}
	broken := errors.New("disk on fire")
	if _, _, err := exec.NextDeadline(&countingReader{Reader: e.c.Store, err: broken}); !errors.Is(err, broken) {
		t.Fatalf("NextDeadline on a failing store = %v, want %v", err, broken)
	}
}

// DeadlinePassed is the state machine's firing rule (a block fires what is
// due strictly before its time), without overflow at the extremes.
func TestDeadlinePassed(t *testing.T) {
	for _, c := range []struct {
		at, ms int64
		want   bool
	}{
		{100, 100_000, false}, {100, 100_001, true}, {100, 99_999, false}, {100, 250_000, true},
		{0, 1, true}, {0, 0, false}, {0, -1, false},
		{math.MaxInt64, math.MaxInt64, false}, {math.MaxInt64 / 1000, math.MaxInt64, true},
		{math.MaxInt64/1000 + 1, math.MaxInt64, false},
	} {
		if got := exec.DeadlinePassed(c.at, c.ms); got != c.want {
			t.Errorf("DeadlinePassed(%d, %d) = %v, want %v", c.at, c.ms, got, c.want)
		}
	}
	// The same rule as the blocks above: the state machine fires at the
	// first block past the due time, not at it.
	e := newTimerEnv(t)
	now := exectest.GenesisTimeMs / 1000
	e.ok("cit0", createTimer("x", now+10))
	for _, ms := range []int64{(now + 10) * 1000, (now+10)*1000 + 1} {
		fired := len(e.blockAt(ms).Events) > 0
		if fired != exec.DeadlinePassed(now+10, ms) {
			t.Fatalf("block at %d fired %v, DeadlinePassed says %v", ms, fired, !fired)
		}
	}
}
