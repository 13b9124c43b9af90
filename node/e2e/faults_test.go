package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	ledgerexec "github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// The byzantine test build (go build -tags byzantine), made on first use.
var (
	byzOnce sync.Once
	byzBin  string
	byzErr  error
)

func byzantineBinary(t *testing.T) string {
	t.Helper()
	byzOnce.Do(func() {
		byzBin = filepath.Join(filepath.Dir(binary), "govnode-byzantine")
		out, err := exec.Command("go", "build", "-tags", "byzantine", "-o", byzBin, "github.com/govnode/govnode/cmd/govnode").CombinedOutput()
		if err != nil {
			byzErr = fmt.Errorf("build govnode -tags byzantine: %v\n%s", err, out)
		}
	})
	if byzErr != nil {
		t.Fatal(byzErr)
	}
	return byzBin
}

// evidenceAgainst scans node i's chain for committed SubmitEvidence txs
// against validator voter and returns the (view, height) of each.
func (c *cluster) evidenceAgainst(i int, voter uint32) [][2]uint64 {
	c.t.Helper()
	var out [][2]uint64
	top := c.height(i)
	for h := uint64(1); h <= top; h++ {
		for _, tx := range c.block(i, h).GetBlock().GetTxs() {
			_, body, err := ledgerexec.DecodeTx(tx)
			if err != nil || body.GetSubmitEvidence() == nil {
				continue
			}
			if va := body.GetSubmitEvidence().GetEvidence().GetVoteA(); va.GetVoter() == voter {
				out = append(out, [2]uint64{va.GetView(), va.GetHeight()})
			}
		}
	}
	return out
}

// recordedEvidence reads the evidence against dept at (view, height) from
// node i's state through the API.
func (c *cluster) recordedEvidence(i int, dept string, view, height uint64) *pb.EquivocationEvidence {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.clients[i].QueryState(ctx, connect.NewRequest(&pb.QueryStateRequest{Key: ledgerexec.EvidenceKey(dept, view, height)}))
	if err != nil {
		c.t.Fatalf("query evidence on node%d: %v", i, err)
	}
	if !r.Msg.GetFound() {
		return nil
	}
	ev := &pb.EquivocationEvidence{}
	if err := proto.Unmarshal(r.Msg.GetValue(), ev); err != nil {
		c.t.Fatalf("evidence on node%d does not decode: %v", i, err)
	}
	return ev
}

// Issue 9, ARCHITECTURE.md §7: one validator of four lies in every way the byzantine
// build knows (equivocating proposals, double votes, forged signatures,
// garbage gossip and sync streams). The three honest nodes agree on every
// block and state root, commit every acknowledged tx exactly once, keep
// making progress, and put the equivocation on chain.
func TestByzantineValidatorAll(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end network test")
	}
	const liar = 3
	c := newClusterWith(t, 4, "byzantine", clusterOpts{
		binary: byzantineBinary(t),
		env:    map[int][]string{liar: {"GOVNODE_BYZANTINE=all"}},
	})
	honest := []int{0, 1, 2}

	acked := c.submitLoad(12, honest...)
	for _, i := range honest {
		c.waitCommitted(i, acked, 60*time.Second)
	}

	// The evidence: found by the honest cores, submitted by one of them,
	// recorded in every honest node's state.
	var found [][2]uint64
	deadline := time.Now().Add(30 * time.Second)
	for len(found) == 0 {
		found = c.evidenceAgainst(0, liar)
		if len(found) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no equivocation evidence against node%d on chain\nliar log:\n%s", liar, c.logTail(liar))
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	for _, i := range honest {
		c.waitHeight(c.height(0), 30*time.Second, i)
		for _, vh := range found {
			ev := c.recordedEvidence(i, "dept3", vh[0], vh[1])
			if ev == nil || ev.GetVoteA().GetVoter() != liar || bytes.Equal(ev.GetVoteA().GetBlockHash(), ev.GetVoteB().GetBlockHash()) {
				t.Fatalf("node%d: evidence at (%d, %d) against dept3 is %v", i, vh[0], vh[1], ev)
			}
		}
	}
	t.Logf("evidence against dept3 on chain at (view, height) %v", found)

	// Progress goes on with the liar still running.
	before := c.height(0)
	more := c.submitLoad(2, honest...)
	for _, i := range honest {
		c.waitCommitted(i, more, 60*time.Second)
	}
	if c.height(0) <= before {
		t.Fatal("no progress after the evidence")
	}
	acked = append(acked, more...)
	// The forged and garbage gossip reached honest nodes, which rejected it.
	// The liar starts it only after its first votes (so that its
	// equivocation is heard before scoring cuts it off): wait for it,
	// past the second load; while it has not come, more load makes more
	// blocks for the liar to vote on.
	rejected := 0.0
	for deadline := time.Now().Add(60 * time.Second); ; {
		for _, i := range honest {
			rejected += c.labelledMetric(i, "govnode_p2p_messages_total", `outcome="rejected"`)
		}
		if rejected > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no honest node rejected any gossip: the liar's forged messages never arrived\nliar log:\n%s", c.logTail(liar))
		}
		extra := c.submitLoad(1, honest...)
		for _, i := range honest {
			c.waitCommitted(i, extra, 60*time.Second)
		}
		acked = append(acked, extra...)
	}
	t.Logf("honest nodes rejected %v gossip messages", rejected)

	c.settle(30*time.Second, honest...)
	_, counts := c.checkAgreement(honest...)
	exactlyOnce(t, acked, counts)
	for _, i := range honest {
		if !c.running(i) {
			t.Fatalf("honest node%d died:\n%s", i, c.logTail(i))
		}
	}
}

// The default build carries no Byzantine behaviour: it runs honestly with
// GOVNODE_BYZANTINE set and says so; the byzantine build refuses a
// behaviour it does not know, naming it.
func TestByzantineSwitchNeedsTaggedBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end network test")
	}
	// Two nodes: the load grants access to dept1.
	c := newClusterWith(t, 2, "crash", clusterOpts{env: map[int][]string{0: {"GOVNODE_BYZANTINE=all"}}})
	acked := c.submitLoad(1, 0)
	c.waitCommitted(0, acked, 30*time.Second)
	log, err := os.ReadFile(filepath.Join(c.dir, "node0.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "built without the byzantine tag") || strings.Contains(string(log), "BYZANTINE") {
		t.Fatalf("default build with GOVNODE_BYZANTINE=all: log does not show it was ignored:\n%s", c.logTail(0))
	}
	c.stopAll()

	cmd := exec.Command(byzantineBinary(t), "start", "--home", c.home(0))
	cmd.Env = append(os.Environ(), "GOVNODE_BYZANTINE=equivocate,lies")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown behaviour "lies"`) {
		t.Fatalf("byzantine build with an unknown behaviour: %v\n%s", err, out)
	}
}

// GOVNODE_TEST_CLOCK_OFFSET skews nodes' clocks. Nodes 5 s ahead and 5 s
// behind stay within the 10 s the others accept, so they take part in full;
// node0, 30 s ahead and the leader of the first view, has its proposals
// refused (a block time too far in the future), and its view times out to
// the next leader: it slows the chain but cannot stall it. Block times never
// go back, and never run ahead of real time by more than the largest
// accepted skew.
func TestClockSkew(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end network test")
	}
	c := newClusterWith(t, 4, "byzantine", clusterOpts{env: map[int][]string{
		0: {"GOVNODE_TEST_CLOCK_OFFSET=+30s"},
		1: {"GOVNODE_TEST_CLOCK_OFFSET=+5s"},
		3: {"GOVNODE_TEST_CLOCK_OFFSET=-5s"},
	}})
	all := []int{0, 1, 2, 3}
	acked := c.submitLoad(6, all...)
	for _, i := range all {
		c.waitCommitted(i, acked, 60*time.Second)
	}
	top := c.settle(30*time.Second, all...)
	_, counts := c.checkAgreement(all...)
	exactlyOnce(t, acked, counts)

	now := time.Now()
	var prev int64
	for h := uint64(1); h <= top; h++ {
		ts := c.block(0, h).GetHeader().GetTimeUnixMs()
		if ts < prev {
			t.Fatalf("block %d time %d before its parent's %d", h, ts, prev)
		}
		if ahead := time.UnixMilli(ts).Sub(now); ahead > 11*time.Second {
			t.Fatalf("block %d time is %s ahead of real time", h, ahead)
		}
		prev = ts
	}
	st, err := c.status(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d blocks; node1 in view %d (view 0's leader, node0, is 30 s ahead)", top, st.GetView())
}

// labelledMetric sums the samples of metric name on node i whose labels
// contain label (e.g. outcome="rejected").
func (c *cluster) labelledMetric(i int, name, label string) float64 {
	c.t.Helper()
	resp, err := http.Get("http://" + c.metrics[i] + "/metrics")
	if err != nil {
		c.t.Fatalf("metrics of node%d: %v", i, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	sum := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, label) {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}
