package main

// The client side of the CLI: every command that talks to a running node
// (tx, query, status, events, bench) goes through the helpers here. They
// resolve --node, build a Connect client for NodeService, turn Connect
// errors into one-line CLI errors, and sign and submit transactions.

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/ledger/exec"
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

// nodeConn is a resolved node: its base URL and a NodeService client.
type nodeConn struct {
	url    string
	client govnodev1connect.NodeServiceClient
	// hc is the HTTP client behind client; authenticated says its TLS
	// handshakes present a client certificate issued per connection
	// (client_auth.go), which a new connection renews.
	hc            *http.Client
	authenticated bool
}

// nodeURL turns "host:port" or a URL into the base URL of the API.
func nodeURL(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return "", errors.New("empty node address")
	}
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil {
			return "", fmt.Errorf("node address %q: %w", addr, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return "", fmt.Errorf("node address %q: scheme %q, want http or https", addr, u.Scheme)
		}
		if u.Host == "" {
			return "", fmt.Errorf("node address %q: no host", addr)
		}
		return strings.TrimRight(u.String(), "/"), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("node address %q: want host:port or a URL: %w", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("node address %q: bad port %q", addr, port)
	}
	// A server bound to every interface is reached on loopback.
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
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
		u, err := nodeURL(cfg.API.ListenAddr)
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

// newHTTPClient is the HTTP client for the Connect protocol (HTTP/1.1 or
// HTTP/2 over TLS); maxConns bounds the idle connections kept per node.
func newHTTPClient(maxConns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0
	t.MaxIdleConnsPerHost = max(maxConns, 2)
	return &http.Client{Transport: t}
}

func dialNode(addr string, hc *http.Client) (*nodeConn, error) {
	u, err := nodeURL(addr)
	if err != nil {
		return nil, err
	}
	return &nodeConn{url: u, client: govnodev1connect.NewNodeServiceClient(hc, u), hc: hc}, nil
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
	u, err := nodeURL(addr)
	if err != nil {
		return nil, err
	}
	cert, err := c.authenticator(cf, u)
	if err != nil {
		return nil, err
	}
	hc, err := newNodeHTTPClient(4, ca, cert)
	if err != nil {
		return nil, err
	}
	n, err := dialNode(addr, hc)
	if err != nil {
		return nil, err
	}
	n.authenticated = cert != nil && strings.HasPrefix(u, "https://")
	return n, nil
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
	// TLS first: a transport failure is also "unavailable", which would
	// send the operator looking for a stopped node.
	if errors.Is(err, errTLSOnly) {
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
	res, err := n.client.Status(ctx, connect.NewRequest(&pb.StatusRequest{}))
	if err != nil {
		return nil, rpcError("status", n, err)
	}
	return res.Msg, nil
}

// nextNonce reads the signer's last used nonce from state (key
// exec.NonceKey: 8 bytes big-endian, absent means none used) and returns
// the one after it. It sees committed state only: transactions of the
// signer still in a mempool are not counted.
func (n *nodeConn) nextNonce(ctx context.Context, signer string) (uint64, error) {
	res, err := n.client.QueryState(ctx, connect.NewRequest(&pb.QueryStateRequest{Key: exec.NonceKey(signer)}))
	if err != nil {
		return 0, rpcError("read nonce of "+signer+" (give --nonce to skip)", n, err)
	}
	return decodeNonce(signer, res.Msg.GetFound(), res.Msg.GetValue())
}

func decodeNonce(signer string, found bool, v []byte) (uint64, error) {
	if !found {
		return 1, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("nonce of %s: state value is %d bytes, want 8", signer, len(v))
	}
	return binary.BigEndian.Uint64(v) + 1, nil
}

// signedTx is a signed, serialized transaction.
type signedTx struct {
	raw  []byte // serialized SignedTx, what SubmitTx takes
	hash []byte // crypto.Hash(raw)
	body *pb.TxBody
}

// signTx serializes body, signs exactly those bytes (crypto.TxSignBytes)
// and wraps them in a SignedTx.
func signTx(key crypto.PrivateKey, body *pb.TxBody) (*signedTx, error) {
	bb, err := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode tx body: %w", err)
	}
	sig, err := key.Sign(crypto.TxSignBytes(body.GetChainId(), bb))
	if err != nil {
		return nil, fmt.Errorf("sign tx: %w", err)
	}
	raw, err := proto.Marshal(&pb.SignedTx{Body: bb, Signature: sig})
	if err != nil {
		return nil, fmt.Errorf("encode tx: %w", err)
	}
	return &signedTx{raw: raw, hash: crypto.Hash(raw), body: body}, nil
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

// txPrepare completes a body before it is signed with what only the node
// knows (a record type's visibility) and returns the payloads SubmitTx
// carries beside the tx (tx_record_protected.go).
type txPrepare func(ctx context.Context, n *nodeConn, body *pb.TxBody) ([]*pb.Payload, error)

// sendTx signs a transaction whose action set puts in the body (then
// prepare, if not nil), submits it and prints the outcome. A submission
// the node refuses, a --wait that times out and a committed transaction
// whose action failed are errors.
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
	body := &pb.TxBody{Signer: sf.signer, Memo: sf.memo}
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
	st, err := n.status(ctx)
	if err != nil {
		return err
	}
	body.ChainId = st.GetChainId()
	if cmd.Flags().Changed("nonce") {
		if sf.nonce == 0 {
			return errors.New("--nonce: nonces start at 1")
		}
		body.Nonce = sf.nonce
	} else if body.Nonce, err = n.nextNonce(ctx, sf.signer); err != nil {
		return err
	}
	var payloads []*pb.Payload
	if prepare != nil {
		if payloads, err = prepare(ctx, n, body); err != nil {
			return err
		}
	}
	stx, err := signTx(lk.key, body)
	if err != nil {
		return err
	}
	req := &pb.SubmitTxRequest{Tx: stx.raw, Payloads: payloads}
	if sf.wait {
		if sf.waitTimeout <= 0 {
			return errors.New("--wait-timeout must be positive")
		}
		req.WaitForCommit = true
		req.WaitTimeoutMs = uint64(sf.waitTimeout.Milliseconds())
		cancel()
		ctx, cancel = context.WithTimeout(cmd.Context(), sf.waitTimeout+cf.timeout)
		defer cancel()
	}
	res, err := n.client.SubmitTx(ctx, connect.NewRequest(req))
	if err != nil {
		return rpcError(fmt.Sprintf("submit tx %x (signer %s, nonce %d)", stx.hash, body.GetSigner(), body.GetNonce()), n, err)
	}
	out := txOutcome{
		TxHash: hex.EncodeToString(stx.hash), ChainID: body.GetChainId(), Signer: body.GetSigner(), Nonce: body.GetNonce(),
		Action: actionName(body), Node: n.url, Waited: sf.wait,
	}
	for _, p := range payloads {
		out.Payloads = append(out.Payloads, hex.EncodeToString(crypto.PayloadCommitment(p.GetSalt(), p.GetContent())))
	}
	if got := res.Msg.GetTxHash(); len(got) > 0 && !bytesEqual(got, stx.hash) {
		warn(cmd, "the node reports tx hash %x, the CLI computed %x", got, stx.hash)
	}
	var failed error
	if sf.wait {
		out.Committed, out.Height = res.Msg.GetCommitted(), res.Msg.GetHeight()
		if r := res.Msg.GetResult(); r != nil {
			out.Code, out.Reason = r.GetCode().String(), r.GetReason()
			for _, e := range r.GetEvents() {
				out.Events = append(out.Events, eventView(e, nil))
			}
		}
		switch {
		case !out.Committed:
			failed = fmt.Errorf("tx %s was accepted but not committed within %s; look later with: govnode query tx %s", out.TxHash, sf.waitTimeout, out.TxHash)
		case res.Msg.GetResult() != nil && res.Msg.GetResult().GetCode() != pb.ResultCode_RESULT_CODE_OK:
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
func actionName(body *pb.TxBody) string {
	m := body.ProtoReflect()
	od := m.Descriptor().Oneofs().ByName("action")
	if fd := m.WhichOneof(od); fd != nil {
		return string(fd.Name())
	}
	return ""
}
