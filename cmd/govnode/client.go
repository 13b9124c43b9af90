package main

// The client side of the CLI: every command that talks to a running node
// (tx, query, status, events, bench) goes through the helpers here. They
// resolve --node from the flags, the home and the test network, dial it
// with the Go SDK (package client), turn its errors into one-line CLI
// errors, and print what a transaction did. Building, signing and
// submitting a transaction is the SDK's.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/node"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// defaultNodeAddr is the API address used when there is neither --node nor
// a home with a config.
var defaultNodeAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(node.DefaultAPIPort))

// clientFlags are the flags of every command that calls a node.
type clientFlags struct {
	node    string
	ca      string
	timeout time.Duration

	// cmd is the command whose --key, --signer, --testnet and
	// --passphrase-file authenticate its calls (client_auth.go); authOnly
	// when addAuthFlags defined them (not a tx command's signing flags).
	cmd      *cobra.Command
	authOnly bool
	// authKey is the signer's key when the command loaded it already (tx).
	authKey crypto.PrivateKey
}

func addClientFlags(cmd *cobra.Command, cf *clientFlags) {
	cmd.Flags().StringVar(&cf.node, "node", "", "node API address, host:port or URL (default: api.listen_addr of --home's config, else "+defaultNodeAddr+")")
	cmd.Flags().StringVar(&cf.ca, "ca", "", "PEM file of the CA certificates that an https:// node's certificate must chain to (default: the system's roots); with a host:port --node, https is used")
	cmd.Flags().DurationVar(&cf.timeout, "timeout", 15*time.Second, "deadline for each call to the node")
	addAuthFlags(cmd, cf)
}

// nodeConn is a resolved node: the SDK's client of it, its base URL and
// its Connect client (the SDK's, for calls the SDK does not wrap).
type nodeConn struct {
	sdk    *client.Client
	url    string
	client govnodev1connect.NodeServiceClient
	// hc is the HTTP client of a connection the CLI made itself (bench's
	// load connections), nil otherwise; authenticated says the TLS
	// handshakes present a client certificate issued per connection
	// (client_auth.go), which a new connection renews.
	hc            *http.Client
	authenticated bool
}

// newNodeConn wraps an SDK client.
func newNodeConn(c *client.Client, hc *http.Client) *nodeConn {
	return &nodeConn{sdk: c, url: c.URL(), client: c.RPC(), hc: hc, authenticated: c.Authenticated()}
}

// homeConfig loads --home's config.toml, or returns nil when there is none.
func (c *cli) homeConfig() (*node.Config, error) {
	path := filepath.Join(c.home, "config.toml")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	cfg, err := node.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// nodeAddr is --node, else the home's API address (https:// when the
// home's API has a TLS certificate), else the default. A host:port with
// --ca is https://.
func (c *cli) nodeAddr(cf *clientFlags) (string, error) {
	if cf.node != "" {
		if cf.ca != "" && !strings.Contains(cf.node, "://") {
			return "https://" + strings.TrimSpace(cf.node), nil
		}
		return cf.node, nil
	}
	cfg, err := c.homeConfig()
	if err != nil {
		return "", fmt.Errorf("--node not given and the home's config is unreadable: %w", err)
	}
	if cfg != nil && cfg.API.ListenAddr != "" {
		if cfg.API.TLSCertFile == "" && cf.ca == "" {
			return cfg.API.ListenAddr, nil
		}
		u, err := client.BaseURL(cfg.API.ListenAddr)
		if err != nil {
			return "", err
		}
		return "https://" + strings.TrimPrefix(u, "http://"), nil
	}
	if cf.ca != "" {
		return "https://" + defaultNodeAddr, nil
	}
	return defaultNodeAddr, nil
}

// dialNode is a client of the node at addr over hc, a transport of the
// caller's own (bench's load connections). The CLI never retries a call
// itself: a refusal is printed, and the operator decides.
func dialNode(addr string, hc *http.Client) (*nodeConn, error) {
	c, err := client.Dial(addr, client.WithHTTPClient(hc), client.WithRetries(0))
	if err != nil {
		return nil, err
	}
	return newNodeConn(c, hc), nil
}

// connect resolves the node of cf and returns a client for it.
// It authenticates as --signer when the flags name one (client_auth.go).
//
// With --testnet DIR and no --node it calls the node of --signer's
// department (node 0 without a signer), and it calls a node of the test
// network over https trusting the node's CA when the network serves TLS
// (client_testnet.go).
func (c *cli) connect(cf *clientFlags) (*nodeConn, error) {
	var sum *testnetSummary
	if dir := cf.flag("testnet"); dir != "" {
		s, err := loadTestnetSummary(dir)
		if err != nil {
			return nil, err
		}
		sum = s
		if cf.node == "" {
			cf.node = s.defaultAPI(cf.flag("signer"))
		}
	}
	addr, err := c.nodeAddr(cf)
	if err != nil {
		return nil, err
	}
	ca := cf.ca
	if sum != nil {
		addr, ca = sum.endpoint(addr, ca)
	}
	if ca != "" && strings.HasPrefix(strings.TrimSpace(addr), "http://") {
		return nil, fmt.Errorf("--ca is for a node served over TLS, but --node %s is plain http: use https://", addr)
	}
	u, err := client.BaseURL(addr)
	if err != nil {
		return nil, err
	}
	signer, err := c.authenticator(cf, u)
	if err != nil {
		return nil, err
	}
	opts := []client.Option{client.WithRetries(0), client.WithTimeout(max(cf.timeout, 0))}
	if ca != "" {
		opts = append(opts, client.WithCAFile(ca))
	}
	if signer != nil {
		opts = append(opts, client.WithIdentity(signer))
	}
	sc, err := client.Dial(u, opts...)
	if err != nil {
		if ca != "" {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		return nil, err
	}
	return newNodeConn(sc, nil), nil
}

// callCtx bounds one call by --timeout.
func (cf *clientFlags) callCtx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if cf.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, cf.timeout)
}

// rpcError makes one readable line of a failed call: what was asked, of
// which node, the Connect code and the server's message (termText: it is
// the node's text, and must stay one line).
func rpcError(what string, n *nodeConn, err error) error {
	if ce := (*client.CallError)(nil); errors.As(err, &ce) {
		err = ce.Err // the SDK's wrapping: what and n say it here
	}
	// TLS first: a transport failure is also "unavailable", which would
	// send the operator looking for a stopped node.
	if errors.Is(err, client.ErrTLSOnly) {
		return fmt.Errorf("%s: node %s: %w", what, n.url, errTLSOnly)
	}
	if hint := tlsHint(n.url, err); hint != "" {
		return fmt.Errorf("%s: node %s: %s; %s", what, n.url, termText(err.Error()), hint)
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		msg := termText(ce.Message())
		switch ce.Code() {
		case connect.CodeUnavailable:
			return fmt.Errorf("%s: node %s unavailable (is `govnode start` running there?): %s", what, n.url, msg)
		case connect.CodeDeadlineExceeded:
			return fmt.Errorf("%s: node %s did not answer in time (deadline_exceeded; raise --timeout?): %s", what, n.url, msg)
		case connect.CodeUnimplemented:
			return fmt.Errorf("%s: node %s does not implement this call (unimplemented): %s", what, n.url, msg)
		}
		return fmt.Errorf("%s: %s: %s", what, ce.Code(), msg)
	}
	return fmt.Errorf("%s: node %s: %w", what, n.url, err)
}

// status calls Status.
func (n *nodeConn) status(ctx context.Context) (*pb.StatusResponse, error) {
	st, err := n.sdk.Status(ctx)
	if err != nil {
		return nil, rpcError("status", n, err)
	}
	return st, nil
}

// nextNonce is the nonce after the signer's last committed one (the
// SDK's CommittedNextNonce): transactions of the signer still in a
// mempool are not counted.
func (n *nodeConn) nextNonce(ctx context.Context, signer string) (uint64, error) {
	next, err := n.sdk.CommittedNextNonce(ctx, signer)
	if err != nil {
		return 0, rpcError("read nonce of "+signer+" (give --nonce to skip)", n, err)
	}
	return next, nil
}

// parseHash reads a 32-byte hash in hex (an optional 0x prefix allowed).
func parseHash(what, s string) ([]byte, error) {
	b, err := parseHex(what, s)
	if err != nil {
		return nil, err
	}
	if len(b) != crypto.HashSize {
		return nil, fmt.Errorf("%s: %d bytes, want %d (64 hex digits)", what, len(b), crypto.HashSize)
	}
	return b, nil
}

func parseHex(what, s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s: not hex: %w", what, err)
	}
	return b, nil
}

// loadTestnetSummary reads DIR/testnet.json, written by `govnode testnet`.
func loadTestnetSummary(dir string) (*testnetSummary, error) {
	path := filepath.Join(dir, "testnet.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--testnet: %w", err)
	}
	s := &testnetSummary{}
	if err := decodeJSONStrict(b, s); err != nil {
		return nil, fmt.Errorf("--testnet: %s: %w", path, err)
	}
	if len(s.Nodes) == 0 {
		return nil, fmt.Errorf("--testnet: %s lists no nodes", path)
	}
	return s, nil
}

// account finds an identity of the test network and the index of the node
// of its department.
func (s *testnetSummary) account(id string) (testnetAccount, int, bool) {
	nodeOf := func(dept string) int {
		for i, n := range s.Nodes {
			if n.DepartmentID == dept {
				return i
			}
		}
		return 0
	}
	for i, n := range s.Nodes {
		if n.Admin.ID == id {
			return n.Admin, i, true
		}
		if n.Official.ID == id {
			return n.Official, i, true
		}
	}
	for _, a := range s.Accounts {
		if a.ID == id {
			return a, nodeOf(a.DepartmentID), true
		}
	}
	return testnetAccount{}, 0, false
}

// signFlags are the flags of every command that signs a transaction.
type signFlags struct {
	key         string
	signer      string
	testnet     string
	kf          keyFlags
	nonce       uint64
	memo        string
	wait        bool
	waitTimeout time.Duration
	// beforeSign, if set, completes the body once the signing key, and
	// with it the chain's crypto suite, is known (a sealed bid's
	// commitment binds its signer and is the suite's hash).
	beforeSign func(signing) error
}

func addSignFlags(cmd *cobra.Command, sf *signFlags) {
	f := cmd.Flags()
	f.StringVar(&sf.key, "key", "", "key file of the signer (an account key from 'govnode keys new')")
	f.StringVar(&sf.signer, "signer", "", "identity id of the signer (required)")
	f.StringVar(&sf.testnet, "testnet", "", "local test network directory: take --key (and --node, called over https with the node's CA when the network serves TLS) for --signer from its testnet.json")
	addKeyFlags(cmd, &sf.kf, false)
	f.Uint64Var(&sf.nonce, "nonce", 0, "nonce to use (default: the signer's committed nonce + 1, read from the node)")
	f.StringVar(&sf.memo, "memo", "", "free text kept with the transaction")
	f.BoolVar(&sf.wait, "wait", false, "wait until the transaction is committed and print its result")
	f.DurationVar(&sf.waitTimeout, "wait-timeout", 30*time.Second, "how long --wait waits for the commit")
}

// txOutcome is what tx commands print.
type txOutcome struct {
	TxHash    string  `json:"tx_hash"`
	ChainID   string  `json:"chain_id"`
	Signer    string  `json:"signer"`
	Nonce     uint64  `json:"nonce"`
	Action    string  `json:"action"`
	Node      string  `json:"node"`
	Waited    bool    `json:"waited"`
	Committed bool    `json:"committed"`
	Height    uint64  `json:"height,omitempty"`
	Code      string  `json:"code,omitempty"`
	Reason    string  `json:"reason,omitempty"`
	Events    []viewV `json:"events,omitempty"`
	// Payloads are the commitments (content_hash) of the protected
	// contents sent beside the tx, not in it.
	Payloads []string `json:"payload_commitments,omitempty"`
}

// txPrepare checks a prepared tx before it is sent, with what only the
// node knows (a tender open for bids) and what must happen first (a bid's
// secret on disk). The body is signed: it must not change it.
type txPrepare func(ctx context.Context, n *nodeConn, body *pb.TxBody) error

// sendTx signs a transaction whose action set puts in the body, with the
// SDK's Prepare (chain id, nonce, a protected record's content moved
// beside the tx), runs prepare if not nil, submits it with the SDK's Send
// and prints the outcome. A submission the node refuses, a --wait that
// times out and a committed transaction whose action failed are errors.
func (c *cli) sendTx(cmd *cobra.Command, sf *signFlags, cf *clientFlags, set func(*pb.TxBody), prepare txPrepare) error {
	if sf.signer == "" {
		return errors.New("--signer is required: the identity id the key signs for")
	}
	keyPath := sf.key
	if sf.testnet != "" {
		s, err := loadTestnetSummary(sf.testnet)
		if err != nil {
			return err
		}
		a, ni, ok := s.account(sf.signer)
		if !ok {
			return fmt.Errorf("--signer %s is not an identity of the test network in %s", sf.signer, sf.testnet)
		}
		if keyPath == "" {
			keyPath = a.Key
		}
		if cf.node == "" {
			cf.node = s.Nodes[ni].APIAddr
		}
	}
	if keyPath == "" {
		return errors.New("--key is required (or --testnet DIR for a test network identity)")
	}
	body := &pb.TxBody{Memo: sf.memo}
	set(body)
	if body.GetAction() == nil {
		return errors.New("internal: transaction without an action")
	}
	lk, err := c.loadKey(cmd, keyPath, sf.kf.passphraseFile)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	cf.authKey = lk.key // the signer authenticates its calls too
	n, err := c.connect(cf)
	if err != nil {
		return err
	}
	ctx, cancel := cf.callCtx(cmd)
	defer cancel()
	var so client.SubmitOptions
	if cmd.Flags().Changed("nonce") {
		if sf.nonce == 0 {
			return errors.New("--nonce: nonces start at 1")
		}
		so.Nonce = sf.nonce
	}
	suite, err := crypto.SuiteOfScheme(lk.key.Scheme())
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	if sf.beforeSign != nil {
		chainID := func() (string, error) {
			id, err := n.sdk.ChainID(ctx)
			if err != nil {
				return "", rpcError("status", n, err)
			}
			return id, nil
		}
		load := func(path string) (crypto.PrivateKey, error) {
			k, err := c.loadKey(cmd, path, "")
			if err != nil {
				return nil, err
			}
			return k.key, nil
		}
		if err := sf.beforeSign(signing{Signer: sf.signer, ChainID: chainID, Suite: suite, LoadKey: load}); err != nil {
			return err
		}
	}
	if err := checkContentHash(suite, body); err != nil {
		return err
	}
	stx, err := n.sdk.Prepare(ctx, &client.Signer{ID: sf.signer, Key: lk.key}, body, so)
	if err != nil {
		var ce *client.CallError
		switch {
		case errors.As(err, &ce) && strings.HasPrefix(ce.Op, "read nonce of "):
			return rpcError(ce.Op+" (give --nonce to skip)", n, err)
		case errors.As(err, &ce):
			return rpcError(ce.Op, n, err)
		case errors.Is(err, client.ErrProtectedContent):
			return fmt.Errorf("%w (the CLI computes the commitment from --content or --content-file: give one of them, not --content-hash)", err)
		}
		return err
	}
	if prepare != nil {
		if err := prepare(ctx, n, body); err != nil {
			return err
		}
	}
	if sf.wait {
		if sf.waitTimeout <= 0 {
			return errors.New("--wait-timeout must be positive")
		}
		so.Wait, so.WaitTimeout = true, sf.waitTimeout
		cancel()
		ctx, cancel = context.WithTimeout(cmd.Context(), sf.waitTimeout+cf.timeout)
		defer cancel()
	}
	r, err := n.sdk.Send(ctx, stx, so)
	if err != nil {
		return rpcError(fmt.Sprintf("submit tx %x (signer %s, nonce %d)", stx.Hash, body.GetSigner(), body.GetNonce()), n, err)
	}
	out := txOutcome{
		TxHash: hex.EncodeToString(r.TxHash), ChainID: r.ChainID, Signer: r.Signer, Nonce: r.Nonce,
		Action: r.Action, Node: n.url, Waited: r.Waited,
	}
	for _, p := range r.Payloads {
		out.Payloads = append(out.Payloads, hex.EncodeToString(p))
	}
	if got := r.NodeTxHash; len(got) > 0 && !bytesEqual(got, r.TxHash) {
		warn(cmd, "the node reports tx hash %x, the CLI computed %x", got, r.TxHash)
	}
	var failed error
	if r.Waited {
		out.Committed, out.Height = r.Committed, r.Height
		if res := r.Result; res != nil {
			out.Code, out.Reason = res.GetCode().String(), res.GetReason()
			for _, e := range res.GetEvents() {
				out.Events = append(out.Events, eventView(e, nil))
			}
		}
		switch {
		case !out.Committed:
			failed = fmt.Errorf("tx %s was accepted but not committed within %s; look later with: govnode query tx %s", out.TxHash, sf.waitTimeout, out.TxHash)
		case r.Result != nil && r.Result.GetCode() != pb.ResultCode_RESULT_CODE_OK:
			failed = fmt.Errorf("tx %s committed at height %d but its action failed: %s: %s", out.TxHash, out.Height, out.Code, termText(out.Reason))
		}
	}
	if err := c.printTxOutcome(cmd, &out); err != nil {
		return err
	}
	return failed
}

func (c *cli) printTxOutcome(cmd *cobra.Command, o *txOutcome) error {
	if c.output == "json" {
		return writeJSON(cmd.OutOrStdout(), o)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "tx %s\n", o.TxHash)
	fmt.Fprintf(w, "  %s by %s, nonce %d, chain %s, via %s\n", o.Action, termText(o.Signer), o.Nonce, termText(o.ChainID), termText(o.Node))
	for _, p := range o.Payloads {
		fmt.Fprintf(w, "  protected content sent beside the chain; the tx carries its commitment %s\n", p)
	}
	if !o.Waited {
		fmt.Fprintf(w, "  submitted; follow it with: govnode query tx %s\n", o.TxHash)
		return nil
	}
	if !o.Committed {
		fmt.Fprintln(w, "  not committed yet")
		return nil
	}
	code := o.Code
	if code == "" {
		code = pb.ResultCode_RESULT_CODE_OK.String()
	}
	fmt.Fprintf(w, "  committed at height %d: %s", o.Height, code)
	if o.Reason != "" {
		fmt.Fprintf(w, ": %s", termText(o.Reason))
	}
	fmt.Fprintln(w)
	for _, e := range o.Events {
		fmt.Fprintf(w, "  event %s\n", eventLine(e))
	}
	return nil
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// actionName is the proto name of the body's action ("create_record").
func actionName(body *pb.TxBody) string { return client.ActionName(body) }
