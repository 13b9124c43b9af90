package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/ledger/exec"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}, {90, 90 * time.Millisecond}} {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
	one := []time.Duration{7 * time.Millisecond}
	if percentile(one, 50) != one[0] || percentile(one, 99) != one[0] {
		t.Error("percentiles of one value")
	}
	// Nearest rank of 3 values: p50 is the 2nd, p99 the 3rd.
	three := []time.Duration{1, 2, 3}
	if percentile(three, 50) != 2 || percentile(three, 99) != 3 || percentile(three, 33) != 1 {
		t.Error("nearest rank of three values")
	}
}

func TestSummarize(t *testing.T) {
	start := time.Unix(1000, 0)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	outs := []benchOutcome{
		{kind: "a", scheduled: at(0), sent: true, accepted: true, committed: at(100)},
		{kind: "a", scheduled: at(10), sent: true, accepted: true, committed: at(310)},
		{kind: "b", scheduled: at(20), sent: true, accepted: true, committed: at(220)},
		{kind: "b", scheduled: at(30), sent: true, accepted: true},                       // never committed
		{kind: "b", scheduled: at(40), sent: true, rejectMsg: "invalid_argument: nonce"}, // refused
		{kind: "b"}, // never sent (run cancelled)
	}
	r := summarize(outs, start, 2*time.Second)
	if r.Offered != 5 || r.Accepted != 4 || r.Rejected != 1 || r.Committed != 3 || r.Lost != 1 {
		t.Fatalf("counts: %+v", r)
	}
	if r.P50 != 200 || r.P99 != 300 || r.Max != 300 {
		t.Errorf("latencies: p50 %v p99 %v max %v", r.P50, r.P99, r.Max)
	}
	if r.CommittedTPS != 1.5 || r.OfferedTPS != 2.5 {
		t.Errorf("tps: committed %v offered %v", r.CommittedTPS, r.OfferedTPS)
	}
	if r.Rejections["invalid_argument: nonce"] != 1 || r.Mix["a"] != 2 || r.Mix["b"] != 3 {
		t.Errorf("rejections %v mix %v", r.Rejections, r.Mix)
	}
	// Commits seen after the offered window stretch the window.
	outs[1].committed = at(4000)
	if r := summarize(outs, start, 2*time.Second); r.CommittedTPS != 0.8 || r.ElapsedS != 4 {
		t.Errorf("stretched window: tps %v elapsed %v", r.CommittedTPS, r.ElapsedS)
	}
}

// benchSigners loads the signers of a test network fixture.
func benchSigners(t *testing.T, sum *testnetSummary) ([]*benchSigner, map[string]int, []string) {
	t.Helper()
	var out []*benchSigner
	nodeOfDept := map[string]int{}
	var depts []string
	add := func(a testnetAccount, official bool) {
		k, _, err := keystore.LoadWithInfo(a.Key, "")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &benchSigner{id: a.ID, key: k, official: official, dept: a.DepartmentID, next: 1})
	}
	for i, n := range sum.Nodes {
		nodeOfDept[n.DepartmentID] = i
		depts = append(depts, n.DepartmentID)
		add(n.Official, true)
	}
	for _, a := range sum.Accounts {
		add(a, false)
	}
	return out, nodeOfDept, depts
}

func TestBenchPlan(t *testing.T) {
	_, sum, _ := testnetFixture(t, 2)
	signers, nodeOfDept, depts := benchSigners(t, sum)
	signers[0].next = 17 // an official who signed before
	assignNodes(signers, nodeOfDept, 2)
	pub := map[string]*pb.PublicKey{}
	for _, s := range signers {
		pub[s.id] = s.key.Public()
	}
	p, err := newBenchPlanner(sum.ChainID, crypto.Ed25519SHA256, "t1", signers, depts, nil, rand.New(rand.NewPCG(1, 2)), time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	setup, err := p.setup()
	if err != nil {
		t.Fatal(err)
	}
	if len(setup) != len(sum.Accounts) {
		t.Fatalf("setup: %d txs for %d citizens", len(setup), len(sum.Accounts))
	}
	const n = 4000
	txs, err := p.plan(n, defaultBenchMix)
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != n {
		t.Fatalf("planned %d, want %d", len(txs), n)
	}
	nextNonce := map[string]uint64{signers[0].id: 17}
	nodeOf := map[string]int{}
	kinds := map[string]int{}
	versions := map[string]uint64{}
	hashes := map[string]bool{}
	for i, tx := range append(setup, txs...) {
		stx := &pb.SignedTx{}
		body := &pb.TxBody{}
		if err := proto.Unmarshal(tx.raw, stx); err != nil {
			t.Fatal(err)
		}
		if err := proto.Unmarshal(stx.GetBody(), body); err != nil {
			t.Fatal(err)
		}
		if err := crypto.Verify(pub[body.GetSigner()], crypto.TxSignBytes(sum.ChainID, stx.GetBody()), stx.GetSignature()); err != nil {
			t.Fatalf("tx %d: signature: %v", i, err)
		}
		if body.GetChainId() != sum.ChainID || string(crypto.Ed25519SHA256.Hash(tx.raw)) != tx.hash || hashes[tx.hash] {
			t.Fatalf("tx %d: chain %q, hash or duplicate", i, body.GetChainId())
		}
		hashes[tx.hash] = true
		s := body.GetSigner()
		want := nextNonce[s]
		if want == 0 {
			want = 1
		}
		if body.GetNonce() != want || tx.nonce != want {
			t.Fatalf("tx %d: signer %s nonce %d, want %d (contiguous)", i, s, body.GetNonce(), want)
		}
		nextNonce[s] = want + 1
		if prev, ok := nodeOf[s]; ok && prev != tx.node {
			t.Fatalf("signer %s sent to nodes %d and %d", s, prev, tx.node)
		}
		nodeOf[s] = tx.node
		if actionName(body) != tx.kind {
			t.Fatalf("tx %d: kind %s, action %s", i, tx.kind, actionName(body))
		}
		switch a := body.GetAction().(type) {
		case *pb.TxBody_CreateRecord:
			versions[a.CreateRecord.GetRecordId()] = 1
		case *pb.TxBody_AmendRecord:
			v := versions[a.AmendRecord.GetRecordId()]
			if v == 0 || a.AmendRecord.GetExpectedVersion() != v {
				t.Fatalf("tx %d: amend of %s expects version %d, plan is at %d", i, a.AmendRecord.GetRecordId(), a.AmendRecord.GetExpectedVersion(), v)
			}
			versions[a.AmendRecord.GetRecordId()] = v + 1
		case *pb.TxBody_AccessRecord:
			if versions[a.AccessRecord.GetRecordId()] == 0 {
				t.Fatalf("tx %d: access to a record not created before", i)
			}
		case *pb.TxBody_ConsentTransfer:
			if a.ConsentTransfer.GetNewHolderId() == s || a.ConsentTransfer.GetValidUntil() <= 1700000000 {
				t.Fatalf("tx %d: consent %v", i, a.ConsentTransfer)
			}
		}
		if i >= len(setup) {
			kinds[tx.kind]++
		}
		// Officials send through their department's node.
		for _, nd := range sum.Nodes {
			if nd.Official.ID == s && tx.node != nodeOfDept[nd.DepartmentID] {
				t.Fatalf("official %s sent to node %d", s, tx.node)
			}
		}
	}
	total := 0.0
	for _, m := range defaultBenchMix {
		total += m.weight
	}
	for _, m := range defaultBenchMix {
		want := float64(m.weight) / float64(total)
		got := float64(kinds[m.kind]) / n
		if math.Abs(got-want) > 0.03 {
			t.Errorf("mix %s: %.3f, want %.3f", m.kind, got, want)
		}
	}
	// Citizens are spread over both nodes.
	used := map[int]bool{}
	for _, a := range sum.Accounts {
		used[nodeOf[a.ID]] = true
	}
	if len(used) != 2 {
		t.Errorf("citizens use nodes %v", used)
	}
	// Every kind, through the groups: contracts are signed only by their
	// creator after creating them, and every kind is planned.
	full, err := p.plan(3000, must(parseBenchMix("record=40,identity=20,transfer=20,contract=20")))
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]string{}
	seen := map[string]int{}
	for i, tx := range full {
		seen[tx.kind]++
		_, body, err := exec.DecodeTx(tx.raw)
		if err != nil {
			t.Fatal(err)
		}
		switch a := body.GetAction().(type) {
		case *pb.TxBody_CreateContract:
			created[a.CreateContract.GetContractId()] = body.GetSigner()
			if a.CreateContract.GetParties()[0].GetIdentityId() != body.GetSigner() {
				t.Fatalf("tx %d: creator is not the buyer", i)
			}
		case *pb.TxBody_SignContract:
			if c, ok := created[a.SignContract.GetContractId()]; !ok || c != body.GetSigner() {
				t.Fatalf("tx %d: signs contract %s not created before by its signer", i, a.SignContract.GetContractId())
			}
			delete(created, a.SignContract.GetContractId())
		case *pb.TxBody_RegisterSubject, *pb.TxBody_IssueCredential:
			if !tx.signer.official {
				t.Fatalf("tx %d: %s by a citizen", i, tx.kind)
			}
		}
	}
	for _, k := range benchKinds {
		if seen[k] == 0 {
			t.Errorf("kind %s never planned: %v", k, seen)
		}
	}
	if _, err := parseBenchMix("create_record=1,bogus=2"); err == nil {
		t.Error("unknown mix kind accepted")
	}
	if m, err := parseBenchMix("grant_access=1"); err != nil || len(m) != 1 {
		t.Errorf("mix: %v %v", m, err)
	}
}

// benchNetwork serves a 2-node fake network and points testnet.json at it.
func benchNetwork(t *testing.T) (string, *fakeChain) {
	t.Helper()
	dir, sum, f := testnetFixture(t, 2)
	for i := range sum.Nodes {
		sum.Nodes[i].APIAddr = f.serve(t, i)
		sum.Nodes[i].APIURL, sum.Nodes[i].APITLS = "http://"+sum.Nodes[i].APIAddr, false
	}
	if err := writeJSONFile(filepath.Join(dir, "testnet.json"), sum); err != nil {
		t.Fatal(err)
	}
	return dir, f
}

func TestBenchAgainstFakeNetwork(t *testing.T) {
	dir, f := benchNetwork(t)
	r := mustRun(t, nil, "bench", "--testnet", dir, "--rate", "200", "--duration", "300ms", "--grace", "3s", "--poll", "5ms",
		"--seed", "3", "--output", "json", "--concurrency", "8")
	m := jsonObject(t, r.out)
	if m["offered"] != float64(60) || m["committed"] != float64(60) || m["rejected"] != float64(0) || m["failed"] != float64(0) ||
		m["uncommitted"] != float64(0) || m["setup_txs"] != float64(3) {
		t.Fatalf("bench report: %s", r.out)
	}
	p50, p99 := m["p50_ms"].(float64), m["p99_ms"].(float64)
	if p50 <= 0 || p99 < p50 || m["committed_tps"].(float64) <= 0 {
		t.Errorf("latency/tps: %s", r.out)
	}
	// Every signer used one node, and the fake saw every nonce in order
	// (it refuses gaps), setup first.
	f.mu.Lock()
	nodeOf := map[string]int{}
	for _, a := range f.accepted {
		if n, ok := nodeOf[a.body.GetSigner()]; ok && n != a.node {
			t.Errorf("signer %s used nodes %d and %d", a.body.GetSigner(), n, a.node)
		}
		nodeOf[a.body.GetSigner()] = a.node
	}
	if len(f.accepted) != 63 {
		t.Errorf("fake accepted %d txs, want 63", len(f.accepted))
	}
	f.mu.Unlock()

	// A second run continues from the nonces on chain; refusals are counted.
	f.mu.Lock()
	f.refuse = func(b *pb.TxBody) error {
		if b.GetGrantAccess() != nil {
			return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("grants closed"))
		}
		return nil
	}
	f.mu.Unlock()
	r = mustRun(t, nil, "bench", "--testnet", dir, "--rate", "100", "--duration", "300ms", "--grace", "2s", "--poll", "5ms",
		"--seed", "4", "--output", "json", "--setup=false", "--mix", "grant_access=1,create_record=1")
	m = jsonObject(t, r.out)
	rej := m["rejected"].(float64)
	if m["offered"] != float64(30) || rej == 0 || m["committed"].(float64)+rej != 30 {
		t.Errorf("bench with refusals: %s", r.out)
	}
	if txt := mustRun(t, nil, "bench", "--testnet", dir, "--rate", "50", "--duration", "100ms", "--grace", "1s", "--poll", "5ms", "--setup=false",
		"--mix", "create_record=1").out; !(strings.Contains(txt, "committed") && strings.Contains(txt, "latency p99") && strings.Contains(txt, "create_record")) {
		t.Errorf("text report:\n%s", txt)
	}
}

func TestBenchStepsAndFindMaxAgainstFakeNetwork(t *testing.T) {
	dir, f := benchNetwork(t)
	r := mustRun(t, nil, "bench", "--testnet", dir, "--rate", "100,200", "--duration", "200ms", "--grace", "3s", "--poll", "5ms",
		"--seed", "5", "--output", "json", "--conns", "3", "--mix", "record=70,identity=10,transfer=10,contract=10", "--drain-timeout", "1s")
	m := jsonObject(t, r.out)
	steps, ok := m["steps"].([]any)
	if !ok || len(steps) != 2 {
		t.Fatalf("steps report: %s", r.out)
	}
	for i, want := range []float64{20, 40} {
		st := steps[i].(map[string]any)
		if st["offered"] != want || st["committed"] != want || st["rate"] != []float64{100, 200}[i] || st["conns"] != float64(3) ||
			st["protocol"] != "http/1.1" || st["failed"] != float64(0) {
			t.Errorf("step %d: %v", i, st)
		}
		nodes := st["node_stats"].([]any)
		n0, n1 := nodes[0].(map[string]any), nodes[1].(map[string]any)
		// Connections 0 and 2 go to node 0, 1 to node 1.
		if n0["conns"] != float64(2) || n1["conns"] != float64(1) || n0["submitted"].(float64)+n1["submitted"].(float64) != want {
			t.Errorf("step %d nodes: %v", i, nodes)
		}
		// The fake has no metrics endpoint: the error is reported, not fatal.
		if n0["metrics_error"] == nil || n0["cpu_cores_avg"] != nil {
			t.Errorf("step %d metrics: %v", i, n0)
		}
	}
	// The second step continued every signer's nonces: the fake refuses gaps.
	f.mu.Lock()
	if len(f.accepted) != 3+20+40 {
		t.Errorf("fake accepted %d", len(f.accepted))
	}
	f.mu.Unlock()

	r = mustRun(t, nil, "bench", "--testnet", dir, "--find-max", "--find-min-rate", "50", "--find-max-rate", "150", "--duration", "200ms",
		"--grace", "3s", "--poll", "5ms", "--setup=false", "--output", "json", "--drain-timeout", "1s")
	fm, ok := jsonObject(t, r.out)["find_max"].(map[string]any)
	if !ok || fm["rate"] != float64(150) || fm["at_upper_bound"] != true || len(fm["probes"].([]any)) != 3 || fm["committed_tps"].(float64) <= 0 {
		t.Fatalf("find-max report: %s", r.out)
	}
	txt := mustRun(t, nil, "bench", "--testnet", dir, "--rate", "50,100", "--duration", "100ms", "--grace", "2s", "--poll", "5ms", "--setup=false").out
	for _, want := range []string{"2 steps of 100ms", "committed/s", "step 100 tx/s:", "rss max MiB", "metrics:"} {
		if !strings.Contains(txt, want) {
			t.Errorf("steps text lacks %q:\n%s", want, txt)
		}
	}
	txt = mustRun(t, nil, "bench", "--testnet", dir, "--find-max", "--find-min-rate", "50", "--find-max-rate", "100", "--duration", "100ms",
		"--grace", "2s", "--poll", "5ms", "--setup=false").out
	for _, want := range []string{"find-max: probes of 100ms", "verdict", "pass", "saturation: above 100 tx/s"} {
		if !strings.Contains(txt, want) {
			t.Errorf("find-max text lacks %q:\n%s", want, txt)
		}
	}
}

func TestBenchFlagErrors(t *testing.T) {
	dir, _ := benchNetwork(t)
	for _, args := range [][]string{
		{"bench"},
		{"bench", "--testnet", dir, "--rate", "0"},
		{"bench", "--testnet", dir, "--rate", "NaN"},
		{"bench", "--testnet", dir, "--duration", "0s"},
		{"bench", "--testnet", dir, "--concurrency", "0"},
		{"bench", "--testnet", dir, "--rate", "0.5", "--duration", "1s"},
		{"bench", "--testnet", dir, "--follow-node", "5"},
		{"bench", "--testnet", dir, "--mix", "x=1"},
		{"bench", "--testnet", dir, "--rate", "100,x"},
		{"bench", "--testnet", dir, "--rate", "100,0"},
		{"bench", "--testnet", dir, "--conns", "1"},
		{"bench", "--testnet", dir, "--conns", "-1"},
		{"bench", "--testnet", dir, "--find-max", "--rate", "100"},
		{"bench", "--testnet", dir, "--find-max", "--max-p99", "0s"},
		{"bench", "--testnet", dir, "--find-max", "--min-commit", "1.5"},
		{"bench", "--testnet", dir, "--find-max", "--find-min-rate", "500", "--find-max-rate", "100"},
		{"bench", "--testnet", dir, "--find-max", "--find-precision", "1"},
		{"bench", "--testnet", filepath.Join(dir, "nope")},
	} {
		if r := run(t, nil, args...); r.err == nil {
			t.Errorf("govnode %v: no error", args)
		}
	}
}

// SubmitTxs is the fake node's batch call: each tx as SubmitTx takes it,
// a result per tx; while f.exhaust is positive the txs past the first are
// refused resource_exhausted with a retry hint, as a node past its backlog
// bound refuses them (node/api/batch.go).
func (n *fakeNode) SubmitTxs(ctx context.Context, req *connect.Request[pb.SubmitTxsRequest]) (*connect.Response[pb.SubmitTxsResponse], error) {
	f := n.chain
	resp := connect.NewResponse(&pb.SubmitTxsResponse{})
	busy := false
	for i, tx := range req.Msg.GetTxs() {
		f.mu.Lock()
		refuse := f.exhaust > 0 && (i > 0 || busy)
		if refuse {
			f.exhaust--
		}
		f.mu.Unlock()
		busy = busy || refuse
		r := &pb.SubmitTxsResult{TxHash: crypto.Ed25519SHA256.Hash(tx)}
		resp.Msg.Results = append(resp.Msg.Results, r)
		if busy {
			r.Code, r.Message = connect.CodeResourceExhausted.String(), "mempool full: backlog over what the chain commits"
			continue
		}
		if _, err := f.submit(n.idx, tx, nil); err != nil {
			r.Code, r.Message = connect.CodeOf(err).String(), err.Error()
		}
	}
	if busy {
		resp.Header().Set("Retry-After", "1")
		resp.Header().Set("Govnode-Retry-After-Ms", "20")
	}
	return resp, nil
}

// A node that refuses part of each batch resource_exhausted: the client
// retries after the hint, holding the signer's later txs back, so every
// tx commits in nonce order (the fake refuses gaps) and the refusals are
// counted as backpressure, not as rejections.
func TestBenchRetriesBackpressuredTxs(t *testing.T) {
	dir, f := benchNetwork(t)
	mustRun(t, nil, "bench", "--testnet", dir, "--rate", "100", "--duration", "100ms", "--grace", "3s", "--poll", "5ms",
		"--seed", "8", "--output", "json", "--mix", "create_record=1")
	f.mu.Lock()
	f.exhaust = 40
	f.mu.Unlock()
	r := mustRun(t, nil, "bench", "--testnet", dir, "--rate", "1000", "--duration", "100ms", "--grace", "5s", "--poll", "5ms",
		"--seed", "9", "--output", "json", "--setup=false", "--mix", "create_record=1,grant_access=1", "--concurrency", "4")
	m := jsonObject(t, r.out)
	if m["offered"].(float64) == 0 || m["committed"] != m["offered"] || m["rejected"] != float64(0) ||
		m["backpressured"].(float64) == 0 || m["retries"].(float64) < m["backpressured"].(float64) {
		t.Fatalf("bench with backpressure: %s", r.out)
	}
	if m["admitted_p99_ms"].(float64) <= 0 || m["admitted_p99_ms"].(float64) > m["p99_ms"].(float64) {
		t.Errorf("admitted latency: %s", r.out)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.exhaust != 0 {
		t.Errorf("%d refusals left: the client stopped retrying", f.exhaust)
	}
}

// batchRecorder answers SubmitTxs as a node with room for every tx, and
// records each request's size; the node refuses a request of more than
// 1024 txs whole (node/api/batch.go).
type batchRecorder struct {
	govnodev1connect.NodeServiceClient
	sizes []int
}

func (b *batchRecorder) SubmitTxs(_ context.Context, req *connect.Request[pb.SubmitTxsRequest]) (*connect.Response[pb.SubmitTxsResponse], error) {
	b.sizes = append(b.sizes, len(req.Msg.GetTxs()))
	if len(req.Msg.GetTxs()) > 1024 {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%d txs in one request, at most 1024", len(req.Msg.GetTxs())))
	}
	resp := &pb.SubmitTxsResponse{}
	for range req.Msg.GetTxs() {
		resp.Results = append(resp.Results, &pb.SubmitTxsResult{})
	}
	return connect.NewResponse(resp), nil
}

// A batch longer than one request may carry (held signers' txs all come
// back at their retry time) goes out in requests of at most benchBatchMax
// txs, in order; at 3,500 tx/s offered, one request of more than 1,024
// was refused whole as invalid_argument.
func TestBenchSplitsLongBatches(t *testing.T) {
	const n = 3*benchBatchMax + 7
	rec := &batchRecorder{}
	c := &connSender{
		r:         &benchRunner{callTimeout: time.Second},
		conn:      &nodeConn{client: rec},
		outs:      make([]benchOutcome, n),
		scheduled: func(int) time.Time { return time.Time{} },
		held:      map[*benchSigner][]int{}, retryAt: map[*benchSigner]time.Time{}, dead: map[*benchSigner]bool{},
	}
	batch := make([]int, n)
	for i := range n {
		c.txs = append(c.txs, &benchTx{signer: &benchSigner{id: fmt.Sprint(i)}, kind: "create_record", raw: []byte{byte(i)}})
		batch[i] = i
	}
	c.send(context.Background(), batch)
	if want := []int{benchBatchMax, benchBatchMax, benchBatchMax, 7}; !slices.Equal(rec.sizes, want) {
		t.Fatalf("request sizes %v, want %v", rec.sizes, want)
	}
	for i, o := range c.outs {
		if !o.accepted {
			t.Fatalf("tx %d not accepted: %q", i, o.rejectMsg)
		}
	}

	// A tx over benchBatchBytes goes alone (the node answers for it);
	// send does not spin on it.
	rec.sizes = nil
	c.txs = []*benchTx{
		{signer: &benchSigner{id: "big"}, kind: "create_record", raw: make([]byte, benchBatchBytes+1)},
		{signer: &benchSigner{id: "small"}, kind: "create_record", raw: []byte{1}},
	}
	c.outs = make([]benchOutcome, 2)
	done := make(chan struct{})
	go func() { defer close(done); c.send(context.Background(), []int{0, 1}) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("send did not return with a tx over benchBatchBytes")
	}
	if want := []int{1, 1}; !slices.Equal(rec.sizes, want) {
		t.Fatalf("request sizes %v, want %v", rec.sizes, want)
	}
}
