package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// timerTemplate is a contract template whose one deadline is due at the
// contract's field "due" (unix seconds) from its creation: the creation
// alone schedules it, and firing it moves the contract to "expired".
func timerTemplate() *pb.ContractTemplate {
	return &pb.ContractTemplate{
		Id: "timer", Name: "Timer", Roles: []string{"owner"}, FieldNames: []string{"due"},
		DraftState: "open", ActiveState: "signed", FinalStates: []string{"expired"},
		Transitions: []*pb.Transition{{Name: "expire", From: []string{"open", "signed"}, To: "expired", Roles: []string{"owner"}}},
		Deadlines:   []*pb.Deadline{{State: "open", At: "fields.due", Transition: "expire"}},
	}
}

// installTimer installs timerTemplate by governance: proposed by dept0's
// admin, approved by the admins of departments 0..2.
func (c *cluster) installTimer() uint64 {
	c.t.Helper()
	return c.passChange(c.admins(), []int{0, 1, 2}, "install-timer", &pb.SubmitProposal{
		Change: &pb.SubmitProposal_InstallContractTemplate{InstallContractTemplate: timerTemplate()},
	})
}

// timerTx is a's CreateContract of a timer contract id, owned by a, due
// at due (unix seconds).
func (c *cluster) timerTx(a account, id string, due int64) []byte {
	c.t.Helper()
	return c.signTx(a, &pb.TxBody{Action: &pb.TxBody_CreateContract{CreateContract: &pb.CreateContract{
		ContractId: id, TemplateId: "timer", Title: "timer " + id,
		Parties: []*pb.ContractParty{{Role: "owner", IdentityId: a.id}},
		Fields:  []*pb.ContractField{{Name: "due", Value: &pb.ContractField_IntValue{IntValue: due}}},
	}}})
}

// firing is a deadline firing as a client of the event stream sees it.
type firing struct {
	contract string
	height   uint64
	blockMs  int64     // the firing block's header time
	seen     time.Time // when the stream delivered it to the client
}

// watchDeadlines streams node i's events from height from until ctx ends,
// and sends each deadline firing of a contract whose id starts with
// prefix.
func (c *cluster) watchDeadlines(ctx context.Context, i int, from uint64, prefix string) <-chan firing {
	out := make(chan firing, 1<<14)
	st, err := c.clients[i].StreamEvents(ctx, connect.NewRequest(&pb.StreamEventsRequest{FromHeight: from}))
	if err != nil {
		c.t.Fatalf("stream events of node%d: %v", i, err)
	}
	go func() {
		defer close(out)
		defer st.Close()
		for st.Receive() {
			seen := time.Now()
			for _, ev := range st.Msg().GetEvents() {
				ce := ev.GetContract()
				if ce.GetAction() == "deadline" && strings.HasPrefix(ce.GetContractId(), prefix) {
					out <- firing{contract: ce.GetContractId(), height: ev.GetHeight(), blockMs: ev.GetTimeUnixMs(), seen: seen}
				}
			}
		}
	}()
	return out
}

// provenContract is contract id as node i proves it, and the state height
// of the proof: the state its latest committed header attests.
func (c *cluster) provenContract(i int, id string) (*pb.Contract, uint64) {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.clients[i].QueryContract(ctx, connect.NewRequest(&pb.QueryContractRequest{ContractId: id, Prove: true}))
	if err != nil {
		c.t.Fatalf("query contract %s on node%d: %v", id, i, err)
	}
	p := r.Msg.GetProof()
	proven := &pb.Contract{}
	if err := proto.Unmarshal(p.GetValue(), proven); err != nil {
		c.t.Fatalf("contract %s: proven value: %v", id, err)
	}
	return proven, p.GetStateHeight()
}

// A contract deadline fires on an otherwise idle network within about a
// tick of its due time (issue 19, ARCHITECTURE.md §4 "Deadlines drive
// blocks"): no block is made while nothing is due, the block that fires
// it is stamped just past the due time, every node commits it, the
// network finalizes it (the state it left is provable) and goes idle
// again.
func TestDeadlineFiresOnIdleNetwork(t *testing.T) {
	c := newCluster(t, 4, "crash")
	c.installTimer()
	owner := c.accounts()[0]
	due := time.Now().Unix() + 8
	dueAt := time.Unix(due, 0)
	created := c.commitTx(0, c.timerTx(owner, "idle-1", due))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fired := c.watchDeadlines(ctx, 1, created, "idle-")

	// Nothing due: once the creation is finalized the height stands still.
	idle := c.settle(30*time.Second, 0, 1, 2, 3)
	time.Sleep(time.Until(dueAt.Add(-300 * time.Millisecond)))
	if time.Now().After(dueAt) {
		t.Fatal("the setup took past the due time; nothing measured")
	}
	for i := range 4 {
		if h := c.height(i); h != idle {
			t.Fatalf("node%d at height %d with nothing due, idle at %d", i, h, idle)
		}
	}

	var f firing
	select {
	case f = <-fired:
	case <-time.After(time.Until(dueAt.Add(10 * time.Second))):
		t.Fatal("the deadline has not fired 10 s after its due time")
	}
	blockLate := time.Duration(f.blockMs-due*1000) * time.Millisecond
	wallLate := f.seen.Sub(dueAt)
	t.Logf("due %d: fired in block %d stamped %s after the due time, seen on node1's event stream %s after it", due, f.height, blockLate, wallLate)
	if blockLate <= 0 || blockLate > 2*time.Second {
		t.Fatalf("the firing block is stamped %s after the due time, want within (0, 2 s]", blockLate)
	}
	if wallLate > 2*time.Second {
		t.Fatalf("the firing reached a client %s after the due time, want within 2 s", wallLate)
	}
	// The first block proposed after the idle height fires it: the idle
	// chain's last block (certified, not committed: nothing came after it)
	// may stand between.
	if f.height > idle+2 {
		t.Fatalf("the deadline fired in block %d; the idle chain stood at %d, so blocks were made before it", f.height, idle)
	}

	// The network finalizes the firing block (a committed header attests
	// the state it left: the contract's new state is provable on every
	// node) with a few empty blocks, and is idle again.
	end := c.settle(30*time.Second, 0, 1, 2, 3)
	if end > f.height+4 {
		t.Fatalf("%d blocks after the firing block %d", end-f.height, f.height)
	}
	for i := range 4 {
		ct, at := c.provenContract(i, "idle-1")
		if ct.GetState() != "expired" || at < f.height {
			t.Fatalf("node%d proves contract idle-1 %q at state height %d; want expired, at or above the firing block %d", i, ct.GetState(), at, f.height)
		}
	}
	time.Sleep(2 * time.Second)
	for i := range 4 {
		if h := c.height(i); h != end {
			t.Fatalf("node%d went on to height %d after settling at %d with nothing due", i, h, end)
		}
	}
	select {
	case extra := <-fired:
		t.Fatalf("a second firing: %+v", extra)
	default:
	}
}
