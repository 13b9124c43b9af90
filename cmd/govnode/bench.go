package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

type benchOpts struct {
	testnet      string
	rate         string
	duration     time.Duration
	grace        time.Duration
	concurrency  int
	conns        int
	mix          string
	seed         uint64
	followNode   int
	poll         time.Duration
	setup        bool
	setupTimeout time.Duration
	checkResults bool
	callTimeout  time.Duration
	drainTimeout time.Duration
	sample       time.Duration

	findMax       bool
	maxP99        time.Duration
	minCommit     float64
	findMin       float64
	findMaxRate   float64
	findPrecision float64
	findProbes    int

	kf keyFlags
}

// benchConnsPerNode is the --conns default per node.
const benchConnsPerNode = 4

func newBenchCmd(c *cli) *cobra.Command {
	o := &benchOpts{}
	cmd := &cobra.Command{
		Use:   "bench --testnet DIR --rate R[,R2,...] --duration D | --find-max",
		Short: "Offer a realistic transaction load to a local network and measure commits",
		Long: `Bench signs every transaction before the clock starts, from the identities
a test network provisions (DIR/testnet.json: department officials create,
amend and access records, register citizens, issue credentials and make
contracts; citizen accounts grant access and consent to transfers), then
offers them open-loop at --rate tx/s for --duration: a ticker releases
transactions on schedule whether or not the nodes keep up, and
--concurrency workers send them over --conns connections spread
round-robin over the nodes (HTTP/2: over TLS, trusting each node's CA from
testnet.json, when the network serves TLS, else h2c where the node speaks it;
each connection one TCP connection). Each signer always uses the same connection, and one
worker, so its nonces arrive in order; after a signer's transaction is
refused, its later ones in the step are not sent (they would wait behind the
gap) and count as rejected. Before the clock, a setup phase gives each
citizen a land title (waited for until committed). Records of a protected
type (the test network's birth_certificate) are sent as the CLI sends them:
the payload commitment in the tx, the content beside it.

Commits are seen by following blocks on one node (--follow-node) and matching
transaction hashes. Latency runs from a transaction's scheduled send time to
the moment its block was seen. After --duration, bench waits up to --grace
for stragglers, then (--check-results) asks for each committed transaction's
result, so refused actions are counted as failed.

Modes:
  --rate R             one run (the report is one JSON object with --output json)
  --rate R1,R2,...     steps: each rate for --duration, one after another;
                       between steps bench waits for the mempools to drain
                       (--drain-timeout) and re-reads the nonces
  --find-max           the saturation point: the highest offered rate at
                       which at least --min-commit of the offered txs commit
                       and p99 stays at most --max-p99. Probes ramp from
                       --find-min-rate, doubling, up to --find-max-rate,
                       then bisect until within --find-precision.

While load runs, each node's Prometheus endpoint (metrics_addr in
testnet.json) is scraped every --sample for process_cpu_seconds_total and
process_resident_memory_bytes (average cores used, largest RSS); when the
node homes are on this machine, the growth of each data directory is
divided by the committed transactions (disk bytes per tx).

Report: offered, accepted, rejected (refused by SubmitTx), committed,
failed, uncommitted, offered_tps, committed_tps, p50_ms, p90_ms, p99_ms,
and node_stats per node.`,
		Example: `  govnode bench --testnet .testnet --rate 1000 --duration 30s
  govnode bench --testnet .testnet --rate 1000,2000,4000 --duration 30s --output json
  govnode bench --testnet .testnet --find-max --duration 10s --max-p99 1s
  govnode bench --testnet .testnet --rate 500 --mix record=70,identity=10,transfer=10,contract=10 --conns 32`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return c.runBench(ctx, cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.testnet, "testnet", "", "test network directory written by 'govnode testnet'")
	f.StringVar(&o.rate, "rate", "100", "offered load in tx/s, or steps run one after another: 1000,2000,4000")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long to offer load (per step and per --find-max probe)")
	f.DurationVar(&o.grace, "grace", 10*time.Second, "how long to wait for stragglers after --duration")
	f.IntVar(&o.concurrency, "concurrency", 64, "most submissions in flight")
	f.IntVar(&o.conns, "conns", 0, fmt.Sprintf("load connections, spread round-robin over the nodes (default %d per node)", benchConnsPerNode))
	f.StringVar(&o.mix, "mix", "", "mix weights by kind or group, e.g. record=70,identity=10,transfer=10,contract=10 or create_record=25,amend_record=15,access_record=15,grant_access=25,consent_transfer=20 (the default)")
	f.Uint64Var(&o.seed, "seed", 0, "random seed of the plan (default: from the clock)")
	f.IntVar(&o.followNode, "follow-node", 0, "index of the node whose blocks are followed to see commits")
	f.DurationVar(&o.poll, "poll", 20*time.Millisecond, "how often the followed node is asked for new blocks")
	f.BoolVar(&o.setup, "setup", true, "create the citizens' land titles before the run (needed by consent_transfer)")
	f.DurationVar(&o.setupTimeout, "setup-timeout", 60*time.Second, "how long to wait for the setup transactions to commit")
	f.BoolVar(&o.checkResults, "check-results", true, "after the run, read each committed transaction's result")
	f.DurationVar(&o.callTimeout, "timeout", 10*time.Second, "deadline of each call to a node")
	f.DurationVar(&o.drainTimeout, "drain-timeout", 60*time.Second, "between steps and probes, how long to wait for the mempools to empty")
	f.DurationVar(&o.sample, "sample", time.Second, "how often each node's metrics are scraped during a run")
	f.BoolVar(&o.findMax, "find-max", false, "search for the saturation point instead of running --rate")
	f.DurationVar(&o.maxP99, "max-p99", time.Second, "--find-max: the p99 latency a sustained rate stays under")
	f.Float64Var(&o.minCommit, "min-commit", 0.95, "--find-max: the least share of offered txs a sustained rate commits")
	f.Float64Var(&o.findMin, "find-min-rate", 250, "--find-max: the first rate probed (tx/s)")
	f.Float64Var(&o.findMaxRate, "find-max-rate", 16000, "--find-max: the highest rate probed (tx/s)")
	f.Float64Var(&o.findPrecision, "find-precision", 0.1, "--find-max: stop bisecting when the bracket is within this fraction of the rate")
	f.IntVar(&o.findProbes, "find-probes", 12, "--find-max: the most probes")
	addKeyFlags(cmd, &o.kf, false)
	_ = cmd.MarkFlagRequired("testnet")
	return cmd
}

// benchPlan is what the flags ask for, validated.
type benchPlan struct {
	rates    []float64 // the steps; one for a single run; none for --find-max
	search   searchConfig
	criteria benchCriteria
	mix      []benchMixEntry
}

// txCount is the number of transactions a run of rate for d offers.
func txCount(rate float64, d time.Duration) (int, error) {
	n := rate * d.Seconds()
	if n < 1 {
		return 0, fmt.Errorf("--rate %v for --duration %s offers no transaction", rate, d)
	}
	if n > 10_000_000 {
		return 0, fmt.Errorf("--rate %v for --duration %s is %.0f transactions, at most 10000000 are pre-signed", rate, d, n)
	}
	return int(n), nil
}

func (o *benchOpts) validate(rateChanged bool) (*benchPlan, error) {
	switch {
	case o.duration <= 0:
		return nil, fmt.Errorf("--duration %s: want a positive duration", o.duration)
	case o.grace < 0:
		return nil, fmt.Errorf("--grace %s: want zero or more", o.grace)
	case o.concurrency < 1:
		return nil, fmt.Errorf("--concurrency %d: want at least 1", o.concurrency)
	case o.conns < 0:
		return nil, fmt.Errorf("--conns %d: want at least one per node (0: %d per node)", o.conns, benchConnsPerNode)
	case o.poll <= 0:
		return nil, fmt.Errorf("--poll %s: want a positive duration", o.poll)
	case o.callTimeout <= 0:
		return nil, fmt.Errorf("--timeout %s: want a positive duration", o.callTimeout)
	case o.drainTimeout < 0:
		return nil, fmt.Errorf("--drain-timeout %s: want zero or more", o.drainTimeout)
	case o.sample <= 0:
		return nil, fmt.Errorf("--sample %s: want a positive duration", o.sample)
	}
	p := &benchPlan{}
	var err error
	if p.mix, err = parseBenchMix(o.mix); err != nil {
		return nil, err
	}
	if !o.findMax {
		if p.rates, err = parseRates(o.rate); err != nil {
			return nil, err
		}
		for _, r := range p.rates {
			if _, err := txCount(r, o.duration); err != nil {
				return nil, err
			}
		}
		return p, nil
	}
	if rateChanged {
		return nil, errors.New("--rate and --find-max: give one (--find-max chooses the rates, between --find-min-rate and --find-max-rate)")
	}
	p.search = searchConfig{Min: o.findMin, Max: o.findMaxRate, Factor: 2, Precision: o.findPrecision, MaxProbes: o.findProbes}
	if err := p.search.validate(); err != nil {
		return nil, err
	}
	if _, err := txCount(o.findMin, o.duration); err != nil {
		return nil, fmt.Errorf("--find-min-rate: %w", err)
	}
	if _, err := txCount(o.findMaxRate, o.duration); err != nil {
		return nil, fmt.Errorf("--find-max-rate: %w", err)
	}
	switch {
	case !(o.minCommit > 0 && o.minCommit <= 1):
		return nil, fmt.Errorf("--min-commit %v: want a fraction in (0, 1]", o.minCommit)
	case o.maxP99 <= 0:
		return nil, fmt.Errorf("--max-p99 %s: want a positive duration", o.maxP99)
	}
	p.criteria = benchCriteria{MinCommitRatio: o.minCommit, MaxP99: o.maxP99}
	return p, nil
}

// benchSession is a bench invocation against one network: the
// connections, the signers and the planner, carried from step to step.
type benchSession struct {
	o   *benchOpts
	sum *testnetSummary // the live nodes only
	// down are the network's nodes found down at the start, left out.
	down    []benchDownNode
	runner  *benchRunner
	planner *benchPlanner
	signers []*benchSigner
	mix     []benchMixEntry
	sampler *procSampler
	// dataDirs are the nodes' data directories ("" where not local).
	dataDirs []string
	connsOf  [][]int
	protocol string
	setupTxs int
	// next is the next height the follower reads.
	next  uint64
	steps int
	warn  func(format string, args ...any)
}

func (c *cli) runBench(ctx context.Context, cmd *cobra.Command, o *benchOpts) error {
	plan, err := o.validate(cmd.Flags().Changed("rate"))
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
	tlsCfg, err := sum.tlsConfig()
	if err != nil {
		return fmt.Errorf("--testnet: %w", err)
	}
	// A node that is down is reported and left out: the load goes to the
	// live ones (their departments' officials sign through them), as an
	// application would go on with its other nodes.
	live, down, err := liveNodes(ctx, sum, tlsCfg, o.callTimeout)
	if err != nil {
		return err
	}
	if len(down) > 0 {
		followed := sum.Nodes[o.followNode].Name
		for _, d := range down {
			warn(cmd, "node %s (%s) is down, left out of the run: %s", d.Name, d.API, termText(d.Error))
			if d.Name == followed {
				if cmd.Flags().Changed("follow-node") {
					return fmt.Errorf("--follow-node %d: node %s is down", o.followNode, followed)
				}
				o.followNode = 0
			}
		}
		for i, n := range live.Nodes {
			if n.Name == followed {
				o.followNode = i
			}
		}
	}
	sum = live
	nconns := o.conns
	if nconns == 0 {
		nconns = benchConnsPerNode * len(sum.Nodes)
	}
	if nconns < len(sum.Nodes) {
		return fmt.Errorf("--conns %d: want at least one per node (%d nodes)", nconns, len(sum.Nodes))
	}
	hc := benchHTTPClient(o.concurrency)
	if tlsCfg != nil {
		t := hc.Transport.(*http.Transport)
		t.TLSClientConfig, t.ForceAttemptHTTP2 = tlsCfg.Clone(), true
	}
	var conns []*nodeConn
	nodeOfDept := map[string]int{}
	var depts []string
	for i, n := range sum.Nodes {
		nc, err := dialNode(benchAPI(n), hc)
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		conns = append(conns, nc)
		nodeOfDept[n.DepartmentID] = i
		depts = append(depts, n.DepartmentID)
	}
	s := &benchSession{o: o, sum: sum, down: down, mix: plan.mix, warn: func(format string, args ...any) { warn(cmd, format, args...) }}
	s.connsOf = spreadConns(nconns, len(sum.Nodes))

	// Signers: every department official and every citizen account.
	load := func(a testnetAccount, official bool) error {
		lk, err := c.loadKey(cmd, a.Key, o.kf.passphraseFile)
		if err != nil {
			return fmt.Errorf("key of %s: %w", a.ID, err)
		}
		s.signers = append(s.signers, &benchSigner{id: a.ID, key: lk.key, official: official, dept: a.DepartmentID})
		return nil
	}
	for _, n := range sum.Nodes {
		if err := load(n.Official, true); err != nil {
			return err
		}
	}
	for _, a := range sum.Accounts {
		if a.Kind == pb.IdentityKind_IDENTITY_KIND_COMPANY.String() {
			continue // the test network's bidders; the load is citizens'
		}
		if err := load(a, false); err != nil {
			return err
		}
	}
	assignNodes(s.signers, nodeOfDept, len(conns))
	assignConns(s.signers, s.connsOf)

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
	loads, protocol, err := dialLoadConns(ctx, sum, tlsCfg, s.connsOf, nconns, o.callTimeout)
	if err != nil {
		return err
	}
	s.protocol = protocol
	if err := s.readNonces(ctx, conns); err != nil {
		return err
	}
	protected, err := benchProtectedTypes(ctx, conns[o.followNode], o.callTimeout)
	if err != nil {
		return err
	}

	seed := o.seed
	if !cmd.Flags().Changed("seed") {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, 0x676f766e6f6465))
	runID := fmt.Sprintf("%x", rng.Uint32())
	suite, err := crypto.SuiteByName(st.GetCryptoSuite())
	if err != nil {
		return fmt.Errorf("node %s: %w", conns[o.followNode].url, err)
	}
	if s.planner, err = newBenchPlanner(st.GetChainId(), suite, runID, s.signers, depts, protected, rng, time.Now()); err != nil {
		return err
	}
	s.runner = &benchRunner{suite: suite, conns: conns, loads: loads, follow: conns[o.followNode], concurrency: o.concurrency, callTimeout: o.callTimeout, poll: o.poll}
	s.next = st.GetHeight() + 1
	s.sampler = &procSampler{hc: &http.Client{}, interval: o.sample, timeout: min(o.callTimeout, 5*time.Second)}
	for _, n := range sum.Nodes {
		url := ""
		if n.MetricsAddr != "" {
			if u, err := client.BaseURL(n.MetricsAddr); err == nil {
				url = u + "/metrics"
			}
		}
		s.sampler.urls = append(s.sampler.urls, url)
		s.dataDirs = append(s.dataDirs, nodeDataDir(n))
	}

	if o.setup {
		setupTxs, err := s.planner.setup()
		if err != nil {
			return err
		}
		s.setupTxs = len(setupTxs)
		c.log.Info("bench setup", "txs", len(setupTxs))
		res := s.runner.phase(ctx, setupTxs, 0, 0, o.setupTimeout, s.next)
		s.next = res.next
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
	c.log.Info("bench ready", "signers", len(s.signers), "nodes", len(conns), "conns", nconns, "protocol", protocol, "run", runID, "seed", seed)

	out := cmd.OutOrStdout()
	switch {
	case o.findMax:
		fm, err := s.findMax(ctx, plan, c)
		if err != nil && fm == nil {
			return err
		}
		if c.output == "json" {
			if werr := writeJSON(out, &benchMultiReport{FindMax: fm}); werr != nil {
				return werr
			}
		} else {
			printFindMax(out, o, fm)
		}
		return err
	case len(plan.rates) == 1:
		rep, err := s.step(ctx, plan.rates[0], c)
		if err != nil {
			return err
		}
		if c.output == "json" {
			return writeJSON(out, rep)
		}
		printBenchReport(out, o, rep)
		return nil
	default:
		var reps []*benchReport
		for _, rate := range plan.rates {
			rep, err := s.step(ctx, rate, c)
			if err != nil {
				if len(reps) == 0 {
					return err
				}
				warn(cmd, "bench stopped at step %v tx/s: %v", rate, err)
				break
			}
			reps = append(reps, rep)
		}
		if c.output == "json" {
			return writeJSON(out, &benchMultiReport{Steps: reps})
		}
		printSteps(out, o, reps)
		return ctx.Err()
	}
}

// benchAPI is the address bench calls node n at: https:// when it serves
// TLS (trusting the network's CAs, testnetSummary.tlsConfig).
func benchAPI(n testnetNode) string {
	if n.APITLS {
		return "https://" + n.APIAddr
	}
	return n.APIAddr
}

// benchProtectedTypes are the sample record types the bench creates whose
// visibility is PROTECTED on the chain (read from committed state).
func benchProtectedTypes(ctx context.Context, n *nodeConn, timeout time.Duration) (map[string]bool, error) {
	out := map[string]bool{}
	for _, id := range []string{genesis.SampleLandTitle, genesis.SampleBirthCert, genesis.SampleBusinessLicense} {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		rt, err := n.recordType(cctx, id)
		cancel()
		if err != nil {
			return nil, err
		}
		if rt != nil && client.IsProtected(rt) {
			out[id] = true
		}
	}
	return out, nil
}

// dialLoadConns opens the load connections: connection k to node
// connsOf's choice, each its own transport and so its own TCP connection.
// Over TLS (tlsCfg not nil) it speaks HTTP/2 where ALPN gives it, else
// HTTP/1.1; in plaintext h2c (HTTP/2 without TLS, many streams on one
// connection) when the nodes do, else HTTP/1.1 (one request at a time per
// connection).
func dialLoadConns(ctx context.Context, sum *testnetSummary, tlsCfg *tls.Config, connsOf [][]int, n int, timeout time.Duration) ([]*nodeConn, string, error) {
	dial := func(h2c bool) ([]*nodeConn, error) {
		loads := make([]*nodeConn, n)
		for i, cs := range connsOf {
			for _, k := range cs {
				hc := newLoadClient(h2c)
				if tlsCfg != nil {
					hc = newTLSLoadClient(tlsCfg)
				}
				nc, err := dialNode(benchAPI(sum.Nodes[i]), hc)
				if err != nil {
					return nil, fmt.Errorf("node %s: %w", sum.Nodes[i].Name, err)
				}
				loads[k] = nc
			}
		}
		return loads, nil
	}
	probe := func(loads []*nodeConn) error {
		for _, cs := range connsOf {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			_, err := loads[cs[0]].status(cctx)
			cancel()
			if err != nil {
				return err
			}
		}
		return nil
	}
	loads, err := dial(true)
	if err != nil {
		return nil, "", err
	}
	if tlsCfg != nil {
		if err := probe(loads); err != nil {
			return nil, "", err
		}
		return loads, tlsProtocol(ctx, loads[0], timeout), nil
	}
	if probe(loads) == nil {
		return loads, "h2c", nil
	}
	if loads, err = dial(false); err != nil {
		return nil, "", err
	}
	if err := probe(loads); err != nil {
		return nil, "", err
	}
	return loads, "http/1.1", nil
}

// newLoadClient is the HTTP client of one load connection.
func newLoadClient(h2c bool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxConnsPerHost = 1
	t.MaxIdleConnsPerHost = 1
	if h2c {
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		t.Protocols = p
	}
	return &http.Client{Transport: t}
}

// newTLSLoadClient is the HTTP client of one load connection over TLS:
// HTTP/2 when the node offers it by ALPN.
func newTLSLoadClient(cfg *tls.Config) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxConnsPerHost = 1
	t.MaxIdleConnsPerHost = 1
	t.TLSClientConfig = cfg.Clone()
	t.ForceAttemptHTTP2 = true
	return &http.Client{Transport: t}
}

// tlsProtocol names what a TLS load connection speaks, from the answer to
// one request on it: "h2 (tls)" or "http/1.1 (tls)".
func tlsProtocol(ctx context.Context, nc *nodeConn, timeout time.Duration) string {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, nc.url+"/", nil)
	if err != nil {
		return "tls"
	}
	resp, err := nc.hc.Do(req)
	if err != nil {
		return "tls"
	}
	resp.Body.Close()
	if resp.ProtoMajor == 2 {
		return "h2 (tls)"
	}
	return "http/1.1 (tls)"
}

// readNonces reads every signer's next nonce from its node.
func (s *benchSession) readNonces(ctx context.Context, conns []*nodeConn) error {
	for _, sg := range s.signers {
		cctx, cancel := context.WithTimeout(ctx, s.o.callTimeout)
		n, err := conns[sg.node].nextNonce(cctx, sg.id)
		cancel()
		if err != nil {
			return err
		}
		sg.next = n
	}
	return nil
}

// settle runs between steps: it waits until no node has a transaction in
// its mempool (or --drain-timeout), then re-reads the nonces (refused
// transactions left some unused) and the height to follow from.
func (s *benchSession) settle(ctx context.Context) error {
	deadline := time.Now().Add(s.o.drainTimeout)
	var pending uint64
	for {
		pending = 0
		for _, nc := range s.runner.conns {
			cctx, cancel := context.WithTimeout(ctx, s.o.callTimeout)
			st, err := nc.status(cctx)
			cancel()
			if err != nil {
				return err
			}
			pending += st.GetMempoolTxs()
		}
		if pending == 0 || !time.Now().Before(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if pending > 0 {
		s.warn("bench: %d transactions still in the mempools after --drain-timeout %s; the next step may see nonce refusals", pending, s.o.drainTimeout)
	}
	if err := s.readNonces(ctx, s.runner.conns); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, s.o.callTimeout)
	defer cancel()
	st, err := s.runner.follow.status(cctx)
	if err != nil {
		return err
	}
	s.next = st.GetHeight() + 1
	return nil
}

// step offers rate tx/s for --duration and reports it, with the nodes'
// CPU, memory and disk over the step.
func (s *benchSession) step(ctx context.Context, rate float64, c *cli) (*benchReport, error) {
	o := s.o
	if s.steps > 0 {
		if err := s.settle(ctx); err != nil {
			return nil, err
		}
		s.planner.forget()
	}
	s.steps++
	count, err := txCount(rate, o.duration)
	if err != nil {
		return nil, err
	}
	txs, err := s.planner.plan(count, s.mix)
	if err != nil {
		return nil, err
	}
	c.log.Info("bench step", "rate", rate, "txs", len(txs), "duration", o.duration)
	before := s.diskSizes()
	stop := s.sampler.start(ctx)
	from := s.next
	res := s.runner.phase(ctx, txs, rate, o.duration, o.grace, from)
	wins := stop()
	after := s.diskSizes()
	s.next = res.next
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep := summarize(res.outs, res.start, o.duration)
	rep.Rate = rate
	rep.Nodes, rep.Signers, rep.Concurrency, rep.SetupTxs = len(s.runner.conns), len(s.signers), o.concurrency, s.setupTxs
	rep.Conns, rep.Protocol = len(s.runner.loads), s.protocol
	rep.Rejections = topCounts(rep.Rejections, 5)
	rep.DownNodes = s.down
	rep.NodeStats = make([]benchNodeStats, len(s.sum.Nodes))
	for i, n := range s.sum.Nodes {
		rep.NodeStats[i] = benchNodeStats{Name: n.Name, API: n.APIAddr, Conns: len(s.connsOf[i])}
	}
	for i, tx := range txs {
		if res.outs[i].sent {
			rep.NodeStats[tx.node].Submitted++
		}
	}
	rep.DiskPerTx = nodeStats(rep.NodeStats, wins, before, after, rep.Committed)
	rep.CPUPerTxUs = cpuPerTx(wins, rep.Committed)
	if res.next > from {
		rep.Blocks = int(res.next - from)
		if rep.ElapsedS > 0 {
			rep.BlocksPerS = math.Round(float64(rep.Blocks)/rep.ElapsedS*10) / 10
		}
		rep.TxsPerBlock = math.Round(float64(rep.Committed)/float64(rep.Blocks)*10) / 10
	}
	if o.checkResults {
		failures := s.runner.checkResults(context.WithoutCancel(ctx), txs, res.outs)
		failed := 0
		for _, n := range failures {
			failed += n
		}
		rep.Failed = &failed
		if len(failures) > 0 {
			rep.Failures = topCounts(failures, 5)
		}
	}
	return rep, nil
}

// diskSizes is the size of each node's data directory, -1 where unknown.
func (s *benchSession) diskSizes() []int64 {
	out := make([]int64, len(s.dataDirs))
	for i, d := range s.dataDirs {
		out[i] = -1
		if d == "" {
			continue
		}
		if n, err := dirSize(d); err == nil {
			out[i] = n
		}
	}
	return out
}

// findMax runs the saturation search, each probe a step. On an error it
// returns the report of the probes so far with the error.
func (s *benchSession) findMax(ctx context.Context, plan *benchPlan, c *cli) (*findMaxReport, error) {
	fm := &findMaxReport{MaxP99: ms(plan.criteria.MaxP99), MinCommit: plan.criteria.MinCommitRatio,
		DurationS: s.o.duration.Seconds(), MinRate: plan.search.Min, MaxRate: plan.search.Max, Precision: plan.search.Precision}
	res, err := findMax(ctx, plan.search, func(ctx context.Context, rate float64) (bool, error) {
		rep, err := s.step(ctx, rate, c)
		if err != nil {
			return false, err
		}
		ok, why := plan.criteria.check(rep)
		rep.Passed, rep.FailReason = &ok, why
		fm.Probes = append(fm.Probes, rep)
		c.log.Info("bench probe", "rate", rate, "passed", ok, "committed_tps", rep.CommittedTPS, "p99_ms", rep.P99, "why", why)
		return ok, nil
	})
	fm.Rate, fm.AtUpperBound, fm.BelowLowerBound = res.Rate, res.AtMax, res.BelowMin
	for _, p := range fm.Probes {
		if p.Rate == res.Rate && p.Passed != nil && *p.Passed {
			fm.CommittedTPS, fm.P50, fm.P99 = p.CommittedTPS, p.P50, p.P99
			fm.At = p
		}
	}
	if err != nil {
		if len(fm.Probes) == 0 {
			return nil, err
		}
		return fm, err
	}
	return fm, nil
}

func firstKey(m map[string]int) string {
	for k := range m {
		return k
	}
	return ""
}

// benchMultiReport is the JSON document of steps or of --find-max; a
// single run prints its benchReport alone.
type benchMultiReport struct {
	Steps   []*benchReport `json:"steps,omitempty"`
	FindMax *findMaxReport `json:"find_max,omitempty"`
}

// findMaxReport is the outcome of --find-max.
type findMaxReport struct {
	// Rate is the highest offered rate (tx/s) that met the criteria, 0
	// if none did; CommittedTPS, P50 and P99 were measured at it.
	Rate         float64 `json:"rate"`
	CommittedTPS float64 `json:"committed_tps"`
	P50          float64 `json:"p50_ms"`
	P99          float64 `json:"p99_ms"`
	// The criteria and bounds of the search.
	MaxP99    float64 `json:"max_p99_ms"`
	MinCommit float64 `json:"min_commit"`
	MinRate   float64 `json:"find_min_rate"`
	MaxRate   float64 `json:"find_max_rate"`
	Precision float64 `json:"find_precision"`
	DurationS float64 `json:"duration_s"`
	// AtUpperBound: the highest rate probed passed, the saturation point
	// is above --find-max-rate. BelowLowerBound: --find-min-rate failed.
	AtUpperBound    bool           `json:"at_upper_bound,omitempty"`
	BelowLowerBound bool           `json:"below_lower_bound,omitempty"`
	Probes          []*benchReport `json:"probes"`
	// At is the probe at Rate (also in Probes); not in the JSON.
	At *benchReport `json:"-"`
}

// benchHTTPClient is the HTTP client of bench's calls other than the load
// (HTTP/1.1, or HTTP/2 once a TLS configuration is set on its transport);
// maxConns bounds the idle connections kept per node.
func benchHTTPClient(maxConns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0
	t.MaxIdleConnsPerHost = max(maxConns, 2)
	return &http.Client{Transport: t}
}
