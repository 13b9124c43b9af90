package e2e

// A public tender from publication to final payment on four processes,
// driven by the CLI as a procurement officer and three companies would,
// with no other traffic: the chain's deadlines fire by themselves
// (docs/ARCHITECTURE.md §5, "Tenders", "Budgets and payments", and §4,
// "Deadlines drive blocks"). One tender runs to final payment; in the
// other the supplier misses its delivery deadline and is penalised and
// terminated automatically. The balances add up, the same on every node.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	ledgerexec "github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// cli runs govnode with args against the cluster's test network and
// returns its stdout; it fails the test on an error unless wantErr.
func (c *cluster) cli(wantErr bool, args ...string) string {
	c.t.Helper()
	cmd := exec.Command(binary, append(args, "--testnet", c.dir)...)
	out, err := cmd.Output()
	if (err != nil) != wantErr {
		c.t.Fatalf("govnode %s: err %v\n%s%s", strings.Join(args, " "), err, out, stderrOf(err))
	}
	if err != nil {
		return string(out) + string(stderrOf(err))
	}
	return string(out)
}

// stateOf reads key on node i and decodes it into m.
func (c *cluster) stateOf(i int, key []byte, m proto.Message) bool {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.clients[i].QueryState(ctx, connect.NewRequest(&pb.QueryStateRequest{Key: key}))
	if err != nil {
		c.t.Fatalf("state on node%d: %v", i, err)
	}
	if !r.Msg.GetFound() {
		return false
	}
	if err := proto.Unmarshal(r.Msg.GetValue(), m); err != nil {
		c.t.Fatal(err)
	}
	return true
}

func (c *cluster) contract(i int, id string) *pb.Contract {
	c.t.Helper()
	ct := &pb.Contract{}
	if !c.stateOf(i, ledgerexec.ContractKey(id), ct) {
		c.t.Fatalf("node%d has no contract %s", i, id)
	}
	return ct
}

// waitUntil waits for the wall clock to pass unix second at, plus a
// margin for the block time rules.
func waitUntil(at int64) {
	if d := time.Until(time.Unix(at, 0).Add(500 * time.Millisecond)); d > 0 {
		time.Sleep(d)
	}
}

func TestTenderToPaymentLive(t *testing.T) {
	c := newClusterWith(t, 4, "crash", clusterOpts{})
	secrets := t.TempDir()
	now := time.Now().Unix()
	bidAt, revealAt := now+12, now+22
	deliveryAt := now + 34 // the breach deadline fires at deliveryAt + grace
	const grace = 3
	budget0 := &pb.Budget{}
	if !c.stateOf(0, ledgerexec.BudgetKey("dept0"), budget0) {
		t.Fatal("dept0 has no opening budget")
	}

	// Two tenders by department 0: "roads" runs to payment, "bridge" is
	// awarded to a supplier that never delivers.
	for _, id := range []string{"roads", "bridge"} {
		c.cli(false, "tx", "tender", "publish", "--signer", "dept0-official", "--id", id, "--title", "tender "+id,
			"--requirements", "resurfacing, 2 km", "--budget", "100000",
			"--bid-deadline", strconv.FormatInt(bidAt, 10), "--reveal-deadline", strconv.FormatInt(revealAt, 10),
			"--field", "currency=str:EUR", "--field", "delivery_deadline=int:"+strconv.FormatInt(deliveryAt, 10),
			"--field", "grace_seconds=int:"+strconv.Itoa(grace), "--wait")
	}
	// Three sealed bids each; company2's on "roads" is never revealed.
	prices := map[string]map[string]string{
		"roads":  {"company0": "90000", "company1": "80000", "company2": "70000"},
		"bridge": {"company0": "60000", "company1": "99000", "company2": "120000"}, // 120000 is over budget
	}
	for tender, bids := range prices {
		for company, price := range bids {
			c.cli(false, "tx", "tender", "bid", "--signer", company, "--tender", tender, "--price", price,
				"--secret-file", filepath.Join(secrets, tender+"-"+company+".json"), "--wait")
		}
	}
	// Nothing is readable before the bid deadline: only commitments.
	tr := &pb.Tender{}
	c.stateOf(1, ledgerexec.TenderKey("roads"), tr)
	for _, b := range tr.GetBids() {
		if b.GetRevealed() || b.GetPrice() != 0 || len(b.GetCommitment()) != 32 {
			t.Fatalf("a bid is readable before the deadline: %v", b)
		}
	}
	// A bid after the deadline is refused.
	waitUntil(bidAt)
	out := c.cli(true, "tx", "tender", "bid", "--signer", "company0", "--tender", "roads", "--price", "50000",
		"--secret-file", filepath.Join(secrets, "late.json"), "--wait")
	if !strings.Contains(out, "bids closed") {
		t.Fatalf("late bid: %s", out)
	}
	for tender, bids := range prices {
		for company := range bids {
			if tender == "roads" && company == "company2" {
				continue
			}
			c.cli(false, "tx", "tender", "reveal", "--signer", company, "--secret-file", filepath.Join(secrets, tender+"-"+company+".json"), "--wait")
		}
	}
	waitUntil(revealAt)
	// An award that breaks the rule is refused: company2 asked least on
	// "roads" but never revealed, so company1 wins.
	out = c.cli(true, "tx", "tender", "award", "--signer", "dept0-official", "--tender", "roads", "--bidder", "company2", "--contract", "roads-c", "--wait")
	if !strings.Contains(out, "company1") {
		t.Fatalf("award to an unrevealed bid: %s", out)
	}
	c.cli(false, "tx", "tender", "award", "--signer", "dept0-official", "--tender", "roads", "--bidder", "company1", "--contract", "roads-c", "--wait")
	c.cli(false, "tx", "tender", "award", "--signer", "dept0-official", "--tender", "bridge", "--bidder", "company0", "--contract", "bridge-c", "--wait")
	roads := c.contract(2, "roads-c")
	if roads.GetState() != "active" || roads.GetEscrow() != 80000 || roads.GetAmount() != 80000 {
		t.Fatalf("awarded contract: state %s escrow %d amount %d", roads.GetState(), roads.GetEscrow(), roads.GetAmount())
	}
	// The losing bids are public after the award, so anyone can check it.
	tr = &pb.Tender{}
	c.stateOf(3, ledgerexec.TenderKey("roads"), tr)
	if tr.GetStatus() != pb.TenderStatus_TENDER_STATUS_AWARDED || tr.GetAwardedBidderId() != "company1" {
		t.Fatalf("tender after award: %v", tr)
	}
	for _, b := range tr.GetBids() {
		if b.GetBidderId() == "company0" && (!b.GetRevealed() || b.GetPrice() != 90000) {
			t.Fatalf("the losing bid is not readable: %v", b)
		}
	}

	// "roads": the supplier delivers, the buyer accepts; each acceptance
	// pays its share from escrow.
	evidence := filepath.Join(secrets, "evidence.txt")
	if err := os.WriteFile(evidence, []byte("delivery note and inspection report"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, step := range [][]string{
		{"submit-milestone", "--signer", "company1", "--milestone", "goods_delivered", "--evidence-file", evidence},
		{"accept-milestone", "--signer", "dept0-official", "--milestone", "goods_delivered"},
		{"fire", "--signer", "dept0-official", "--transition", "deliver"},
		{"submit-milestone", "--signer", "company1", "--milestone", "final_inspection", "--evidence-file", evidence},
		{"accept-milestone", "--signer", "dept0-official", "--milestone", "final_inspection"},
		{"fire", "--signer", "dept0-official", "--transition", "complete"},
	} {
		c.cli(false, append(append([]string{"tx", "contract"}, step[0], "--id", "roads-c"), append(step[1:], "--wait")...)...)
	}

	// "bridge": nothing more is sent. The breach deadline fires by
	// itself on the idle chain: the penalty (a tenth of the amount) goes
	// back to the buyer, the contract is terminated and the rest refunded.
	due := deliveryAt + grace
	deadline := time.Now().Add(time.Until(time.Unix(due, 0)) + 15*time.Second)
	var bridge *pb.Contract
	for {
		bridge = c.contract(1, "bridge-c")
		if bridge.GetState() == "terminated" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the breach deadline (due %d) has not fired by itself: state %s", due, bridge.GetState())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("bridge-c terminated %.1fs after its deadline was due", time.Since(time.Unix(due, 0)).Seconds())
	kinds := map[string]int64{}
	for _, p := range bridge.GetPayments() {
		kinds[p.GetKind()] += p.GetAmount()
	}
	if bridge.GetEscrow() != 0 || kinds["escrow"] != 60000 || kinds["penalty"] != 6000 || kinds["refund"] != 54000 || kinds["milestone"] != 0 {
		t.Fatalf("bridge-c payments %v, escrow %d", kinds, bridge.GetEscrow())
	}

	// The balances add up, the same on every node: department 0 paid
	// exactly what company1 received.
	var want string
	for i := 0; i < c.n; i++ {
		b, a1, a0 := &pb.Budget{}, &pb.Account{}, &pb.Account{}
		c.stateOf(i, ledgerexec.BudgetKey("dept0"), b)
		c.stateOf(i, ledgerexec.AccountKey("company1"), a1)
		c.stateOf(i, ledgerexec.AccountKey("company0"), a0)
		r := c.contract(i, "roads-c")
		if r.GetState() != "completed" || r.GetEscrow() != 0 || a1.GetBalance() != 80000 || a0.GetBalance() != 0 {
			t.Fatalf("node%d: roads-c %s escrow %d, company1 %d, company0 %d", i, r.GetState(), r.GetEscrow(), a1.GetBalance(), a0.GetBalance())
		}
		if b.GetBalance() != budget0.GetBalance()-80000 {
			t.Fatalf("node%d: dept0 budget %d, want %d", i, b.GetBalance(), budget0.GetBalance()-80000)
		}
		got := fmt.Sprint(b.GetBalance(), a1.GetBalance(), a0.GetBalance())
		if want == "" {
			want = got
		} else if got != want {
			t.Fatalf("node%d balances %s, node0 %s", i, got, want)
		}
	}
	// The CLI shows the same with proofs.
	var view struct {
		Verified bool `json:"verified"`
	}
	out = c.cli(false, "query", "budget", "dept0", "--prove", "--output", "json", "--node", c.apis[3])
	if err := json.Unmarshal([]byte(out), &view); err != nil || !strings.Contains(out, strconv.FormatInt(budget0.GetBalance()-80000, 10)) {
		t.Fatalf("query budget --prove: %v\n%s", err, out)
	}
}
