package nodetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node"
	"github.com/govnode/govnode/node/clientcert"
	"github.com/govnode/govnode/node/tlscert"
	pb "github.com/govnode/govnode/proto/govnode/v1"
	"github.com/govnode/govnode/proto/govnode/v1/govnodev1connect"
)

// Identities and types of the test chain.
const (
	Dept     = "dept0"
	AdminID  = "dept0-admin"
	OfficeID = "dept0-official"

	LandTitle       = genesis.SampleLandTitle       // transferable with consent, 4096 bytes on chain
	BirthCert       = genesis.SampleBirthCert       // access needs consent, 2048 bytes on chain
	BusinessLicense = genesis.SampleBusinessLicense // 2048 bytes on chain
	Procurement     = genesis.SampleProcurement     // contract template: buyer, supplier
)

// CitizenIDs are the two citizens, registered by dept0.
var CitizenIDs = []string{"citizen0", "citizen1"}

// GenesisTime is the genesis time of every test chain.
const GenesisTime = "2026-01-01T00:00:00Z"

// Options configure NewChain; the zero value is a working chain.
type Options struct {
	// ChainID defaults to "nodetest".
	ChainID string
	// Seed seeds the keys (0 is a seed like any other).
	Seed uint64
	// Params default to FastParams().
	Params *pb.Params
	// Logger is the node's logger; nil logs nothing.
	Logger *slog.Logger
	// Configure, if set, adjusts each node configuration before New.
	Configure func(*node.Config)
	// NodeOptions, if set, adjusts the node.Options of each New (e.g.
	// RecoverMissingState for one start).
	NodeOptions func(*node.Options)
	// TLS serves the API over TLS with a pair generated for the chain, so
	// callers can authenticate (Node.ClientAs); Client stays anonymous.
	TLS bool
	// Suite is the chain's crypto suite (the zero value is
	// ed25519-sha256): the validator's and the accounts' keys are of its
	// scheme, the node key stays Ed25519, and on sm2-sm3 the validator's
	// peer binding is written into the genesis.
	Suite crypto.Suite
}

// FastParams are chain parameters for a one-validator test chain: short
// timeouts so that a block commits within a few 10 ms ticks.
func FastParams() *pb.Params {
	p := genesis.DefaultParams()
	p.ProposeTimeoutMs = 200
	p.MaxViewTimeoutMs = 1000
	p.HeartbeatIntervalMs = 50
	return p
}

// Chain is a one-validator crash-fault chain: its genesis, its home
// directory (keys under keys/, ledger under data/) and its accounts. Start
// runs a node on it; a chain can be stopped and started again on the same
// home.
type Chain struct {
	ChainID      string
	Genesis      *pb.GenesisDoc
	Home         string
	ValidatorKey crypto.PrivateKey
	NodeKey      crypto.PrivateKey
	PeerID       string

	Admin    *Account   // dept0-admin: ROLE_ADMIN
	Official *Account   // dept0-official: ROLE_REGISTRAR, ROLE_ISSUER of every type
	Citizens []*Account // citizen0, citizen1

	opts Options
}

// NewChain builds the genesis and writes the keys (unencrypted) into a
// fresh t.TempDir().
func NewChain(t testing.TB, o Options) *Chain {
	t.Helper()
	if o.ChainID == "" {
		o.ChainID = "nodetest"
	}
	if o.Params == nil {
		o.Params = FastParams()
	}
	rng := rand.NewChaCha8(seed32(o.Seed)) // an io.Reader: keys are the same for a seed
	c := &Chain{ChainID: o.ChainID, Home: t.TempDir(), opts: o}
	keys := filepath.Join(c.Home, "keys")
	gen := keyWriter(t, rng)
	c.ValidatorKey = gen(filepath.Join(keys, "validator.key"), keystore.KindValidator, o.Suite.Scheme())
	c.NodeKey = gen(filepath.Join(keys, "node.key"), keystore.KindNode, pb.KeyScheme_KEY_SCHEME_ED25519)
	pid, err := keystore.PeerIDFromPublicKey(c.NodeKey.Public())
	if err != nil {
		t.Fatalf("nodetest: peer id: %v", err)
	}
	c.PeerID = pid.String()

	doc := &pb.GenesisDoc{
		ChainId: o.ChainID, GenesisTime: GenesisTime, FaultModel: genesis.FaultCrash,
		Params: proto.Clone(o.Params).(*pb.Params), CryptoSuite: o.Suite.HeaderName(),
	}
	doc.Validators = []*pb.Department{{
		Id: Dept, Name: "Department 0", ConsensusKey: c.ValidatorKey.Public(), PeerId: c.PeerID,
		Addrs: []string{"/ip4/127.0.0.1/tcp/1"}, // never dialled: a single validator has no peers
	}}
	if o.Suite == crypto.SM2SM3 {
		if doc.Validators[0].PeerBinding, err = genesis.BindPeer(c.ValidatorKey, o.ChainID, Dept, c.PeerID); err != nil {
			t.Fatalf("nodetest: peer binding: %v", err)
		}
	}
	doc.RecordTypes = genesis.SampleRecordTypes([]string{Dept})
	doc.ContractTemplates = []*pb.ContractTemplate{genesis.SampleProcurementTemplate()}
	allTypes := []string{LandTitle, BirthCert, BusinessLicense}
	account := func(id string, kind pb.IdentityKind, roles []pb.Role, types []string) *Account {
		t.Helper()
		path := filepath.Join(keys, id+".key")
		k := gen(path, keystore.KindAccount, o.Suite.Scheme())
		doc.Identities = append(doc.Identities, &pb.Identity{
			Id: id, Kind: kind, DepartmentId: Dept, DisplayName: id, PublicKey: k.Public(),
			Status: pb.IdentityStatus_IDENTITY_STATUS_ACTIVE, Roles: roles, IssuerRecordTypes: types,
		})
		return &Account{ID: id, Key: k, KeyFile: path, chainID: o.ChainID}
	}
	off := pb.IdentityKind_IDENTITY_KIND_OFFICIAL
	c.Admin = account(AdminID, off, []pb.Role{pb.Role_ROLE_ADMIN}, nil)
	c.Official = account(OfficeID, off, []pb.Role{pb.Role_ROLE_REGISTRAR, pb.Role_ROLE_ISSUER}, allTypes)
	for _, id := range CitizenIDs {
		c.Citizens = append(c.Citizens, account(id, pb.IdentityKind_IDENTITY_KIND_CITIZEN, nil, nil))
	}
	// The validator node's own identity, as `govnode testnet` writes it:
	// the node signs the equivocation evidence it finds with it.
	doc.Identities = append(doc.Identities, genesis.ValidatorIdentity(doc.Validators[0]))
	if _, err := genesis.Validate(doc); err != nil {
		t.Fatalf("nodetest: genesis: %v", err)
	}
	c.Genesis = doc
	return c
}

func seed32(s uint64) [32]byte {
	var b [32]byte
	for i := range 8 {
		b[i] = byte(s >> (8 * i))
	}
	copy(b[8:], "govnode/nodetest")
	return b
}

// Accounts are every genesis account.
func (c *Chain) Accounts() []*Account {
	return append([]*Account{c.Admin, c.Official}, c.Citizens...)
}

// Config is a node configuration for the chain's home: the API on a free
// 127.0.0.1 port, p2p on an ephemeral TCP port, no separate metrics port.
func (c *Chain) Config(t testing.TB) *node.Config {
	t.Helper()
	cfg := node.DefaultConfig(c.Home)
	cfg.Moniker = "nodetest"
	cfg.LogLevel = "debug"
	cfg.LogFormat = "text"
	// Config.Validate refuses port 0 for the API, so take a free port from
	// the kernel and hand it over; Start retries if it is taken meanwhile.
	cfg.API.ListenAddr = freeAddr(t)
	cfg.P2P.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Metrics.ListenAddr = ""
	cfg.Mempool.MaxNonceGap = 1024
	// Tests send many txs per signer ahead of commits.
	cfg.Mempool.MaxSignerTxs = 1024
	cfg.Mempool.MaxSignerBytes = 16 << 20
	if c.opts.TLS {
		dir := c.tlsDir(t)
		cfg.API.TLSCertFile = filepath.Join(dir, tlscert.CertFile)
		cfg.API.TLSKeyFile = filepath.Join(dir, tlscert.KeyFile)
	}
	if c.opts.Configure != nil {
		c.opts.Configure(cfg)
	}
	return cfg
}

// tlsDir generates the chain's TLS pair once and returns its directory.
func (c *Chain) tlsDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(c.Home, "tls")
	if _, err := os.Stat(filepath.Join(dir, tlscert.CAFile)); err == nil {
		return dir
	}
	p, err := tlscert.Generate(tlscert.Options{CommonName: "nodetest"})
	if err != nil {
		t.Fatalf("nodetest: tls pair: %v", err)
	}
	if err := p.Write(dir, false); err != nil {
		t.Fatalf("nodetest: tls pair: %v", err)
	}
	return dir
}

// httpClient is a client of the chain's API: plain, or trusting the
// chain's CA and presenting cert (nil: none) when the API speaks TLS.
func (c *Chain) httpClient(t testing.TB, cert func(*tls.CertificateRequestInfo) (*tls.Certificate, error)) *http.Client {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	if c.opts.TLS {
		ca, err := os.ReadFile(filepath.Join(c.tlsDir(t), tlscert.CAFile))
		if err != nil {
			t.Fatalf("nodetest: %v", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(ca) {
			t.Fatal("nodetest: no CA certificate in the chain's pair")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, GetClientCertificate: cert}
		tr.ForceAttemptHTTP2 = true
	}
	return &http.Client{Transport: tr}
}

// ClientAs is a client of n's API that authenticates as a (a client
// certificate signed by its key, docs/ARCHITECTURE.md §6); the chain must
// have Options.TLS.
func (n *Node) ClientAs(t testing.TB, a *Account) govnodev1connect.NodeServiceClient {
	t.Helper()
	return n.ClientWithKey(t, a.ID, a.Key)
}

// ClientWithKey is ClientAs for identity id with key (which may be the
// wrong one, for tests of refusals).
func (n *Node) ClientWithKey(t testing.TB, id string, key crypto.PrivateKey) govnodev1connect.NodeServiceClient {
	t.Helper()
	if !n.Chain.opts.TLS {
		t.Fatal("nodetest: ClientAs needs a chain with Options.TLS")
	}
	hc := n.Chain.httpClient(t, func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return clientcert.Issue(key, id, time.Now(), time.Hour)
	})
	t.Cleanup(hc.CloseIdleConnections)
	return govnodev1connect.NewNodeServiceClient(hc, n.URL)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("nodetest: free port: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("nodetest: free port: %v", err)
	}
	return addr
}

// New calls node.New for the chain's home with genesis doc (nil: the
// chain's own), without running it.
func (c *Chain) New(ctx context.Context, t testing.TB, doc *pb.GenesisDoc) (*node.Node, error) {
	t.Helper()
	if doc == nil {
		doc = c.Genesis
	}
	var lastErr error
	for range 5 {
		o := node.Options{Config: c.Config(t), Genesis: doc, Logger: c.opts.Logger, Version: "nodetest"}
		if c.opts.NodeOptions != nil {
			c.opts.NodeOptions(&o)
		}
		n, err := node.New(ctx, o)
		if err == nil {
			return n, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, lastErr
}

// Node is a running node with clients on its API.
type Node struct {
	*node.Node
	Chain *Chain
	// URL is the API's base URL.
	URL string
	// HTTP is a plain client for raw requests to the API port.
	HTTP *http.Client
	// Client speaks the Connect protocol with binary protobuf.
	Client govnodev1connect.NodeServiceClient
	// JSON speaks the Connect protocol with JSON.
	JSON govnodev1connect.NodeServiceClient

	cancel   context.CancelFunc
	done     chan struct{}
	runErr   error
	stopOnce sync.Once
	stopErr  error
}

// Start runs a node on the chain (node.New, then Run in a goroutine), waits
// until its API answers, and stops it in t.Cleanup.
func (c *Chain) Start(t testing.TB) *Node {
	t.Helper()
	n, err := c.StartErr(t)
	if err != nil {
		t.Fatalf("nodetest: start node: %v", err)
	}
	return n
}

// StartErr is Start that returns New's error.
func (c *Chain) StartErr(t testing.TB) (*Node, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	nn, err := c.New(ctx, t, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	hc := c.httpClient(t, nil)
	url := "http://" + nn.APIAddr()
	if c.opts.TLS {
		url = "https://" + nn.APIAddr()
	}
	n := &Node{
		Node: nn, Chain: c, URL: url, HTTP: hc,
		Client: govnodev1connect.NewNodeServiceClient(hc, url),
		JSON:   govnodev1connect.NewNodeServiceClient(hc, url, connect.WithProtoJSON()),
		cancel: cancel, done: make(chan struct{}),
	}
	go func() {
		defer close(n.done)
		n.runErr = nn.Run(ctx)
	}()
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("nodetest: stop node: %v", err)
		}
		hc.CloseIdleConnections()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		sctx, scancel := context.WithTimeout(context.Background(), time.Second)
		_, err := n.Client.Status(sctx, connect.NewRequest(&pb.StatusRequest{}))
		scancel()
		if err == nil {
			return n, nil
		}
		select {
		case <-n.done:
			return nil, fmt.Errorf("node stopped while starting: %w", n.runErr)
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("API %s does not answer: %w", url, err)
		}
		pollPause()
	}
}

// pollPause spaces the polls of a loop bounded by a deadline; it is never
// relied on for ordering: each loop re-checks its condition.
func pollPause() { time.Sleep(5 * time.Millisecond) }

// StopTimeout bounds Stop's wait for Run to return.
const StopTimeout = 10 * time.Second

// Stop cancels Run's context, as SIGTERM does in `govnode start`, and waits
// for Run to return (it closes the node). It returns Run's error, nil for a
// clean stop. It may be called more than once.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() {
		n.cancel()
		select {
		case <-n.done:
		case <-time.After(StopTimeout):
			n.stopErr = fmt.Errorf("Run did not return within %v of its context being cancelled", StopTimeout)
		}
	})
	if n.stopErr != nil {
		return n.stopErr
	}
	if n.runErr != nil && !errors.Is(n.runErr, context.Canceled) {
		return n.runErr
	}
	return nil
}

// Done is closed when Run has returned.
func (n *Node) Done() <-chan struct{} { return n.done }

// Ctx is a context for one API call, bounded so a hung call fails the test
// instead of hanging it.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Status returns the node's status or fails the test.
func (n *Node) Status(t testing.TB) *pb.StatusResponse {
	t.Helper()
	resp, err := n.Client.Status(Ctx(t), connect.NewRequest(&pb.StatusRequest{}))
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	return resp.Msg
}

// Commit submits tx with wait_for_commit and fails the test unless it is
// committed; the result may be a failed action (check its code).
func (n *Node) Commit(t testing.TB, tx []byte) *pb.SubmitTxResponse {
	t.Helper()
	resp, err := n.Client.SubmitTx(Ctx(t), connect.NewRequest(&pb.SubmitTxRequest{Tx: tx, WaitForCommit: true}))
	if err != nil {
		t.Fatalf("SubmitTx: %v", err)
	}
	if !resp.Msg.GetCommitted() {
		t.Fatalf("SubmitTx: not committed: %v", resp.Msg)
	}
	return resp.Msg
}

// CommitOK is Commit that also requires RESULT_CODE_OK.
func (n *Node) CommitOK(t testing.TB, tx []byte) *pb.SubmitTxResponse {
	t.Helper()
	r := n.Commit(t, tx)
	if c := r.GetResult().GetCode(); c != pb.ResultCode_RESULT_CODE_OK {
		t.Fatalf("tx %x committed with %v: %s", r.GetTxHash(), c, r.GetResult().GetReason())
	}
	return r
}

// WaitHeight polls Status until the node's height is at least h.
func (n *Node) WaitHeight(t testing.TB, h uint64) *pb.StatusResponse {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := n.Status(t)
		if st.GetHeight() >= h {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("height %d not reached within 20s (at %d)", h, st.GetHeight())
		}
		pollPause()
	}
}

// WaitIdle polls until the node is idle, and returns its status then: the
// mempool is empty and the head block's header attests a state after which
// only empty blocks followed, so the leader has nothing left to finalise
// and proposes no more blocks. Empty blocks change no state, so the head's
// attested state root is then the latest state root; the exception is an
// empty block that fires a contract deadline (ARCHITECTURE.md §4
// "Deadlines drive blocks"), which the leader finalises like txs, so a
// test with deadlines due must wait for them to fire first.
func (n *Node) WaitIdle(t testing.TB) *pb.StatusResponse {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := n.Status(t)
		if st.GetMempoolTxs() == 0 && st.GetHeight() > 0 && n.finalised(t, st.GetHeight()) {
			if st2 := n.Status(t); st2.GetHeight() == st.GetHeight() {
				return st2
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node did not go idle within 20s (height %d, mempool %d)", st.GetHeight(), st.GetMempoolTxs())
		}
		pollPause()
	}
}

// finalised reports whether blocks after the state block head attests are
// all empty.
func (n *Node) finalised(t testing.TB, head uint64) bool {
	t.Helper()
	b, err := n.Client.GetBlock(Ctx(t), connect.NewRequest(&pb.GetBlockRequest{Height: head}))
	if err != nil {
		t.Fatalf("GetBlock(%d): %v", head, err)
	}
	for h := b.Msg.GetHeader().GetStateHeight() + 1; h <= head; h++ {
		x, err := n.Client.GetBlock(Ctx(t), connect.NewRequest(&pb.GetBlockRequest{Height: h}))
		if err != nil {
			t.Fatalf("GetBlock(%d): %v", h, err)
		}
		if len(x.Msg.GetBlock().GetTxs()) > 0 {
			return false
		}
	}
	return true
}

// SyncNonce sets a's last nonce to the one in the node's committed state.
func (n *Node) SyncNonce(t testing.TB, a *Account) uint64 {
	t.Helper()
	r, err := n.Client.QueryState(Ctx(t), connect.NewRequest(&pb.QueryStateRequest{Key: exec.NonceKey(a.ID)}))
	if err != nil {
		t.Fatalf("QueryState(nonce/%s): %v", a.ID, err)
	}
	var last uint64
	for _, b := range r.Msg.GetValue() {
		last = last<<8 | uint64(b)
	}
	a.SetLastNonce(last)
	return last
}

// keyWriter returns a function that draws a key of scheme from rng,
// writes it unencrypted to path as a key file of kind, and returns it.
func keyWriter(t testing.TB, rng io.Reader) func(path string, kind keystore.Kind, scheme pb.KeyScheme) crypto.PrivateKey {
	return func(path string, kind keystore.Kind, scheme pb.KeyScheme) crypto.PrivateKey {
		t.Helper()
		k, err := crypto.GenerateKey(scheme, rng)
		if err != nil {
			t.Fatalf("nodetest: generate key: %v", err)
		}
		if err := keystore.Save(path, k, keystore.Options{Kind: kind, Unencrypted: true}); err != nil {
			t.Fatalf("nodetest: %v", err)
		}
		return k
	}
}
