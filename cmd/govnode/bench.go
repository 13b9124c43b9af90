package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

type benchOpts struct {
	testnet      string
	rate         float64
	duration     time.Duration
	grace        time.Duration
	concurrency  int
	mix          string
	seed         uint64
	followNode   int
	poll         time.Duration
	setup        bool
	setupTimeout time.Duration
	checkResults bool
	callTimeout  time.Duration
	kf           keyFlags
}

func newBenchCmd(c *cli) *cobra.Command {
	o := &benchOpts{}
	cmd := &cobra.Command{
		Use:   "bench --testnet DIR --rate R --duration D",
		Short: "Offer a realistic transaction load to a local network and measure commits",
		Long: `Bench signs every transaction before the clock starts, from the identities
a test network provisions (DIR/testnet.json: department officials create,
amend and access records; citizen accounts grant access and consent to
transfers), then offers them open-loop at --rate tx/s for --duration: a
ticker releases transactions on schedule whether or not the nodes keep up,
and --concurrency workers send them. Each signer always uses the same node,
and one worker, so its nonces arrive in order. Before the clock, a setup
phase gives each citizen a land title (waited for until committed).

Commits are seen by following blocks on one node (--follow-node) and matching
transaction hashes. Latency runs from a transaction's scheduled send time to
the moment its block was seen. After --duration, bench waits up to --grace
for stragglers, then (--check-results) asks for each committed transaction's
result, so refused actions are counted as failed.

Report: offered, accepted, rejected (refused by SubmitTx), committed,
failed, uncommitted, offered_tps, committed_tps, p50_ms, p90_ms, p99_ms.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return c.runBench(ctx, cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.testnet, "testnet", "", "test network directory written by `govnode testnet`")
	f.Float64Var(&o.rate, "rate", 100, "offered load, transactions per second")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long to offer load")
	f.DurationVar(&o.grace, "grace", 10*time.Second, "how long to wait for stragglers after --duration")
	f.IntVar(&o.concurrency, "concurrency", 64, "most submissions in flight")
	f.StringVar(&o.mix, "mix", "", "mix weights, e.g. create_record=25,amend_record=15,access_record=15,grant_access=25,consent_transfer=20 (the default)")
	f.Uint64Var(&o.seed, "seed", 0, "random seed of the plan (default: from the clock)")
	f.IntVar(&o.followNode, "follow-node", 0, "index of the node whose blocks are followed to see commits")
	f.DurationVar(&o.poll, "poll", 20*time.Millisecond, "how often the followed node is asked for new blocks")
	f.BoolVar(&o.setup, "setup", true, "create the citizens' land titles before the run (needed by consent_transfer)")
	f.DurationVar(&o.setupTimeout, "setup-timeout", 60*time.Second, "how long to wait for the setup transactions to commit")
	f.BoolVar(&o.checkResults, "check-results", true, "after the run, read each committed transaction's result")
	f.DurationVar(&o.callTimeout, "timeout", 10*time.Second, "deadline of each call to a node")
	addKeyFlags(cmd, &o.kf, false)
	_ = cmd.MarkFlagRequired("testnet")
	return cmd
}

func (o *benchOpts) validate() (int, error) {
	switch {
	case !(o.rate > 0) || math.IsInf(o.rate, 0):
		return 0, fmt.Errorf("--rate %v: want a positive number", o.rate)
	case o.duration <= 0:
		return 0, fmt.Errorf("--duration %s: want a positive duration", o.duration)
	case o.grace < 0:
		return 0, fmt.Errorf("--grace %s: want zero or more", o.grace)
	case o.concurrency < 1:
		return 0, fmt.Errorf("--concurrency %d: want at least 1", o.concurrency)
	case o.poll <= 0:
		return 0, fmt.Errorf("--poll %s: want a positive duration", o.poll)
	case o.callTimeout <= 0:
		return 0, fmt.Errorf("--timeout %s: want a positive duration", o.callTimeout)
	}
	n := o.rate * o.duration.Seconds()
	if n < 1 {
		return 0, fmt.Errorf("--rate %v for --duration %s offers no transaction", o.rate, o.duration)
	}
	if n > 10_000_000 {
		return 0, fmt.Errorf("--rate %v for --duration %s is %.0f transactions, at most 10000000 are pre-signed", o.rate, o.duration, n)
	}
	return int(n), nil
}

func (c *cli) runBench(ctx context.Context, cmd *cobra.Command, o *benchOpts) error {
	count, err := o.validate()
	if err != nil {
		return err
	}
	mix, err := parseBenchMix(o.mix)
	if err != nil {
		return err
	}
	sum, err := loadTestnetSummary(o.testnet)
	if err != nil {
		return err
	}
	if o.followNode < 0 || o.followNode >= len(sum.Nodes) {
		return fmt.Errorf("--follow-node %d: the network has nodes 0..%d", o.followNode, len(sum.Nodes)-1)
	}
	hc := newHTTPClient(o.concurrency)
	var conns []*nodeConn
	nodeOfDept := map[string]int{}
	var depts []string
	for i, n := range sum.Nodes {
		nc, err := dialNode(n.APIAddr, hc)
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		conns = append(conns, nc)
		nodeOfDept[n.DepartmentID] = i
		depts = append(depts, n.DepartmentID)
	}

	// Signers: every department official and every citizen account.
	var signers []*benchSigner
	load := func(a testnetAccount, official bool) error {
		lk, err := c.loadKey(cmd, a.Key, o.kf.passphraseFile)
		if err != nil {
			return fmt.Errorf("key of %s: %w", a.ID, err)
		}
		signers = append(signers, &benchSigner{id: a.ID, key: lk.key, official: official, dept: a.DepartmentID})
		return nil
	}
	for _, n := range sum.Nodes {
		if err := load(n.Official, true); err != nil {
			return err
		}
	}
	for _, a := range sum.Accounts {
		if err := load(a, false); err != nil {
			return err
		}
	}
	assignNodes(signers, nodeOfDept, len(conns))

	callCtx := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, o.callTimeout) }
	cctx, cancel := callCtx()
	st, err := conns[o.followNode].status(cctx)
	cancel()
	if err != nil {
		return err
	}
	if sum.ChainID != "" && st.GetChainId() != sum.ChainID {
		return fmt.Errorf("node %s is on chain %q, the test network in %s is %q", conns[o.followNode].url, st.GetChainId(), o.testnet, sum.ChainID)
	}
	for _, s := range signers {
		cctx, cancel := callCtx()
		s.next, err = conns[s.node].nextNonce(cctx, s.id)
		cancel()
		if err != nil {
			return err
		}
	}

	seed := o.seed
	if !cmd.Flags().Changed("seed") {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, 0x676f766e6f6465))
	runID := fmt.Sprintf("%x", rng.Uint32())
	planner, err := newBenchPlanner(st.GetChainId(), runID, signers, depts, rng, time.Now())
	if err != nil {
		return err
	}
	var setupTxs []*benchTx
	if o.setup {
		if setupTxs, err = planner.setup(); err != nil {
			return err
		}
	}
	txs, err := planner.plan(count, mix)
	if err != nil {
		return err
	}
	c.log.Info("bench planned", "txs", len(txs), "setup_txs", len(setupTxs), "signers", len(signers), "nodes", len(conns), "run", runID, "seed", seed)

	r := &benchRunner{conns: conns, follow: conns[o.followNode], concurrency: o.concurrency, callTimeout: o.callTimeout, poll: o.poll}
	next := st.GetHeight() + 1
	if len(setupTxs) > 0 {
		res := r.phase(ctx, setupTxs, 0, 0, o.setupTimeout, next)
		next = res.next
		rep := summarize(res.outs, res.start, time.Millisecond)
		if rep.Rejected > 0 {
			return fmt.Errorf("bench setup: %d of %d transactions refused, e.g. %s", rep.Rejected, len(setupTxs), firstKey(rep.Rejections))
		}
		if rep.Lost > 0 {
			warn(cmd, "bench setup: %d of %d transactions not committed within --setup-timeout %s; consent_transfer may fail", rep.Lost, len(setupTxs), o.setupTimeout)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	res := r.phase(ctx, txs, o.rate, o.duration, o.grace, next)
	rep := summarize(res.outs, res.start, o.duration)
	rep.Nodes, rep.Signers, rep.Concurrency, rep.SetupTxs = len(conns), len(signers), o.concurrency, len(setupTxs)
	rep.Rejections = topCounts(rep.Rejections, 5)
	if o.checkResults && ctx.Err() == nil {
		failures := r.checkResults(context.WithoutCancel(ctx), txs, res.outs)
		failed := 0
		for _, n := range failures {
			failed += n
		}
		rep.Failed = &failed
		if len(failures) > 0 {
			rep.Failures = topCounts(failures, 5)
		}
	}
	if c.output == "json" {
		return writeJSON(cmd.OutOrStdout(), rep)
	}
	printBenchReport(cmd, o, rep)
	return nil
}

func firstKey(m map[string]int) string {
	for k := range m {
		return k
	}
	return ""
}

func printBenchReport(cmd *cobra.Command, o *benchOpts, r *benchReport) {
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "offered\t%d\t(%.1f tx/s for %s, %d nodes, %d signers, concurrency %d)\n", r.Offered, r.OfferedTPS, o.duration, r.Nodes, r.Signers, r.Concurrency)
	fmt.Fprintf(w, "accepted\t%d\t\n", r.Accepted)
	fmt.Fprintf(w, "rejected\t%d\t\n", r.Rejected)
	fmt.Fprintf(w, "committed\t%d\t(%.1f tx/s over %.2fs)\n", r.Committed, r.CommittedTPS, r.ElapsedS)
	if r.Failed != nil {
		fmt.Fprintf(w, "  of which failed\t%d\t(committed, action refused)\n", *r.Failed)
	}
	fmt.Fprintf(w, "uncommitted\t%d\t(accepted, not seen in a block within --grace)\n", r.Lost)
	fmt.Fprintf(w, "latency p50\t%.1f ms\t\n", r.P50)
	fmt.Fprintf(w, "latency p90\t%.1f ms\t\n", r.P90)
	fmt.Fprintf(w, "latency p99\t%.1f ms\t\n", r.P99)
	fmt.Fprintf(w, "latency max\t%.1f ms\t\n", r.Max)
	w.Flush()
	printCounts := func(title string, m map[string]int) {
		if len(m) == 0 {
			return
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s:\n", title)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(cmd.OutOrStdout(), "  %6d  %s\n", m[k], k)
		}
	}
	printCounts("mix", r.Mix)
	printCounts("rejections", r.Rejections)
	printCounts("failures", r.Failures)
}

// benchRunner sends planned transactions and follows blocks.
type benchRunner struct {
	conns       []*nodeConn
	follow      *nodeConn
	concurrency int
	callTimeout time.Duration
	poll        time.Duration
}

// phaseResult is a phase's outcomes and the next height to follow from.
type phaseResult struct {
	outs  []benchOutcome
	start time.Time
	next  uint64
}

// phase offers txs open-loop at rate tx/s (rate 0: all at once) for
// duration, then waits until every accepted transaction is seen in a block
// or duration+grace has passed. Blocks are followed from height from.
//
// Ownership: outs[i] is written by the one worker that sends tx i and read
// only after every worker is done; commit times are atomics written by the
// follower; the scheduler owns the schedule.
func (r *benchRunner) phase(ctx context.Context, txs []*benchTx, rate float64, duration, grace time.Duration, from uint64) phaseResult {
	index := make(map[string]int, len(txs))
	for i, tx := range txs {
		index[tx.hash] = i
	}
	outs := make([]benchOutcome, len(txs))
	committed := make([]atomic.Int64, len(txs))

	followCtx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	var next atomic.Uint64
	next.Store(from)
	followDone := make(chan struct{})
	go func() {
		defer close(followDone)
		r.followBlocks(followCtx, &next, index, committed)
	}()

	// One queue per worker; a signer always maps to the same worker, so its
	// transactions are sent one after another in nonce order. Queues hold
	// the whole plan, so the scheduler never blocks on a slow node.
	workerOf := map[*benchSigner]int{}
	queues := make([]chan int, r.concurrency)
	for i := range queues {
		queues[i] = make(chan int, len(txs))
	}
	start := time.Now()
	deadline := start.Add(duration + grace)
	sendCtx, stopSends := context.WithDeadline(ctx, deadline)
	defer stopSends()
	scheduled := func(i int) time.Time {
		if rate <= 0 {
			return start
		}
		return start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
	}
	var wg sync.WaitGroup
	for w := range queues {
		wg.Go(func() {
			for i := range queues[w] {
				r.send(sendCtx, txs[i], &outs[i], scheduled(i))
			}
		})
	}

	dispatched := 0
	dispatch := func(upTo int) {
		for ; dispatched < upTo; dispatched++ {
			s := txs[dispatched].signer
			w, ok := workerOf[s]
			if !ok {
				w = len(workerOf) % r.concurrency
				workerOf[s] = w
			}
			queues[w] <- dispatched
		}
	}
	if rate <= 0 {
		dispatch(len(txs))
	} else {
		tick := max(time.Duration(float64(time.Second)/rate), time.Millisecond)
		ticker := time.NewTicker(tick)
		dispatch(1)
		for dispatched < len(txs) && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case now := <-ticker.C:
				due := int(now.Sub(start).Seconds()*rate) + 1
				dispatch(min(due, len(txs)))
			}
		}
		ticker.Stop()
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()

	// Wait for stragglers: every accepted transaction committed, or the
	// deadline.
	for ctx.Err() == nil && time.Now().Before(deadline) {
		pending := 0
		for i := range outs {
			if outs[i].accepted && committed[i].Load() == 0 {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(r.poll):
		}
	}
	stopFollow()
	<-followDone
	for i := range outs {
		if ns := committed[i].Load(); ns != 0 && outs[i].accepted {
			outs[i].committed = time.Unix(0, ns)
		}
	}
	return phaseResult{outs: outs, start: start, next: next.Load()}
}

// send submits one transaction and records the outcome.
func (r *benchRunner) send(ctx context.Context, tx *benchTx, o *benchOutcome, scheduled time.Time) {
	o.kind, o.scheduled, o.sent = tx.kind, scheduled, true
	if ctx.Err() != nil {
		o.rejectMsg = "not sent: client backlog still queued at the deadline"
		return
	}
	cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
	defer cancel()
	_, err := r.conns[tx.node].client.SubmitTx(cctx, connect.NewRequest(&pb.SubmitTxRequest{Tx: tx.raw}))
	if err != nil {
		o.rejectMsg = rejectReason(err)
		return
	}
	o.accepted = true
}

// rejectReason groups a SubmitTx error: its code and message.
func rejectReason(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		msg := ce.Message()
		if len(msg) > 120 {
			msg = msg[:120] + "..."
		}
		return ce.Code().String() + ": " + msg
	}
	return err.Error()
}

// followBlocks polls the followed node for new heights and marks the
// planned transactions found in each block as committed, with the time the
// block was seen.
func (r *benchRunner) followBlocks(ctx context.Context, next *atomic.Uint64, index map[string]int, committed []atomic.Int64) {
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
		st, err := r.follow.status(cctx)
		cancel()
		if err == nil {
			for h := next.Load(); h <= st.GetHeight() && ctx.Err() == nil; h = next.Load() {
				cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
				res, err := r.follow.client.GetBlock(cctx, connect.NewRequest(&pb.GetBlockRequest{Height: h}))
				cancel()
				if err != nil {
					break
				}
				seen := time.Now().UnixNano()
				for _, raw := range res.Msg.GetBlock().GetTxs() {
					if i, ok := index[string(crypto.Hash(raw))]; ok {
						committed[i].CompareAndSwap(0, seen)
					}
				}
				next.Store(h + 1)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(r.poll):
		}
	}
}

// checkResults reads the result of every committed transaction and counts
// the failed ones by result code.
func (r *benchRunner) checkResults(ctx context.Context, txs []*benchTx, outs []benchOutcome) map[string]int {
	var mu sync.Mutex
	failures := map[string]int{}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range r.concurrency {
		wg.Go(func() {
			for i := range jobs {
				cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
				res, err := r.conns[txs[i].node].client.GetTx(cctx, connect.NewRequest(&pb.GetTxRequest{TxHash: []byte(txs[i].hash)}))
				cancel()
				var why string
				switch {
				case err != nil:
					why = "result unreadable: " + connect.CodeOf(err).String()
				case res.Msg.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_OK:
					why = txs[i].kind + ": " + res.Msg.GetResult().GetCode().String()
				}
				if why != "" {
					mu.Lock()
					failures[why]++
					mu.Unlock()
				}
			}
		})
	}
	for i := range outs {
		if !outs[i].committed.IsZero() {
			jobs <- i
		}
	}
	close(jobs)
	wg.Wait()
	return failures
}
