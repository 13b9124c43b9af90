package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/ledger/exec"
	"github.com/govnode/govnode/node"
	"github.com/govnode/govnode/node/tlscert"
	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Port layout of node i of a test network, from --base-port B:
// p2p B+10i (TCP, and QUIC on the same UDP port), API B+10i+1, metrics
// B+10i+2, pprof (off) B+10i+3.
// testnetMemoryLimitMiB is a test network node's memory_limit_mib: four
// nodes and a load client on one machine (docs/BENCHMARKS.md has the RSS
// per node it gives).
const testnetMemoryLimitMiB = 448

// testnetBudget is every test network department's opening budget, in
// minor units (GenesisDoc.budgets).
const testnetBudget = 1_000_000_000

const (
	portStride        = 10
	portOffsetAPI     = 1
	portOffsetMetrics = 2
	portOffsetPprof   = 3
)

// testnetSummary is DIR/testnet.json, for scripts. Paths are absolute.
type testnetSummary struct {
	ChainID string `json:"chain_id"`
	// CryptoSuite is the chain's crypto suite (genesis crypto_suite,
	// ARCHITECTURE.md §6 "Crypto suites"): "ed25519-sha256" or "sm2-sm3".
	CryptoSuite string           `json:"crypto_suite"`
	FaultModel  string           `json:"fault_model"`
	Quorum      int              `json:"quorum"`
	Genesis     string           `json:"genesis"`
	GenesisHash string           `json:"genesis_hash"`
	Nodes       []testnetNode    `json:"nodes"`
	Accounts    []testnetAccount `json:"accounts"`
}

type testnetNode struct {
	Name         string `json:"name"`
	DepartmentID string `json:"department_id"`
	Home         string `json:"home"`
	Config       string `json:"config"`
	PeerID       string `json:"peer_id"`
	// APIAddr is the API's host:port; APIURL the base URL to call it at
	// (https:// when APITLS); APICAFile, with TLS, the CA certificate a
	// client trusts for it (the node's tls/ca.crt, which signed its
	// server certificate). Every CLI command given --testnet uses them
	// (client_testnet.go).
	APIAddr       string         `json:"api_addr"`
	APIURL        string         `json:"api_url"`
	APITLS        bool           `json:"api_tls"`
	APICAFile     string         `json:"api_ca_file,omitempty"`
	P2PAddr       string         `json:"p2p_addr"`
	QUICAddr      string         `json:"quic_addr"`
	MetricsAddr   string         `json:"metrics_addr"`
	ValidatorKey  string         `json:"validator_key"`
	NodeKey       string         `json:"node_key"`
	Admin         testnetAccount `json:"admin"`
	Official      testnetAccount `json:"official"`
	ValidatorPub  string         `json:"validator_public_key"`
	ListenP2PAddr []string       `json:"p2p_listen_addrs"`
}

type testnetAccount struct {
	ID           string   `json:"id"`
	Kind         string   `json:"kind"`
	DepartmentID string   `json:"department_id"`
	Roles        []string `json:"roles,omitempty"`
	Key          string   `json:"key"`
}

type testnetOpts struct {
	validators int
	out        string
	faultModel string
	basePort   int
	chainID    string
	accounts   int
	// companies are the COMPANY identities written for bidding in
	// tenders (company{j}, in accounts/).
	companies int
	force     bool
	// tls serves each node's API over TLS with a self-signed pair in its
	// home (writeInitTLS); metrics stay plaintext on loopback.
	tls bool
	// hosts, one per validator (--hosts), are the names or IP addresses
	// the nodes reach each other at, each node in a host (a container) of
	// its own: see testnetHostsHelp.
	hosts []string
	// suite is --crypto-suite, the chain's crypto suite by name
	// (testnetSuite parses it).
	suite string
}

// testnetSuite parses --crypto-suite. Unlike a genesis, the flag has no
// empty default: it names one of the two suites.
func testnetSuite(name string) (crypto.Suite, error) {
	if name == "" {
		return 0, fmt.Errorf("--crypto-suite: empty: want %q or %q", crypto.SuiteNameEd25519SHA256, crypto.SuiteNameSM2SM3)
	}
	s, err := crypto.SuiteByName(name)
	if err != nil {
		return 0, fmt.Errorf("--crypto-suite: %w", err)
	}
	return s, nil
}

// testnetHostsHelp is what --hosts changes, in the command's help.
const testnetHostsHelp = `With --hosts H0,...,H{N-1} every node runs in a host of its own, a container
(contrib/docker/compose.yaml, scripts/compose.sh): node i listens for p2p, the
API and metrics on every interface (0.0.0.0) at its ports of the same layout,
and the others reach it at /dns4/Hi/tcp/... (/ip4 or /ip6 when Hi is an IP
address): its genesis address, its peers' persistent_peers and its
external_addrs. Its API and metrics serve TLS with its pair, whose certificate
names Hi besides localhost and 127.0.0.1; testnet.json names its API at
127.0.0.1 and its port, where the container's API port is published on the
machine that runs the CLI, and its metrics at Hi. --hosts needs TLS.`

// maxTestnetHostLen bounds one --hosts entry (a DNS name's length).
const maxTestnetHostLen = 253

// testnetHostAddr is the multiaddr prefix the other nodes dial host at:
// /ip4/A or /ip6/A for an IP address, /dns4/NAME for a DNS name. It
// refuses anything else, so that nothing but a host lands in the genesis.
func testnetHostAddr(host string) (string, error) {
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsUnspecified() {
			return "", fmt.Errorf("%q is the unspecified address: the other nodes cannot dial it", host)
		}
		if ip.To4() != nil {
			return "/ip4/" + ip.String(), nil
		}
		return "/ip6/" + ip.String(), nil
	}
	if host == "" || len(host) > maxTestnetHostLen {
		return "", fmt.Errorf("%q: want a DNS name of 1..%d characters or an IP address", host, maxTestnetHostLen)
	}
	for _, label := range strings.Split(host, ".") {
		ok := len(label) >= 1 && len(label) <= 63 && label[0] != '-' && label[len(label)-1] != '-'
		for _, r := range label {
			ok = ok && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
		}
		if !ok {
			return "", fmt.Errorf("%q is not a DNS name (lower-case labels of letters, digits and '-', 1..63 long, not starting or ending in '-')", host)
		}
	}
	return "/dns4/" + host, nil
}

// checkTestnetHosts checks --hosts against the other options: one
// distinct host per validator, and TLS (the API leaves loopback).
func checkTestnetHosts(o *testnetOpts) error {
	if o.hosts == nil {
		return nil
	}
	if len(o.hosts) != o.validators {
		return fmt.Errorf("--hosts: %d hosts for %d validators: give one per validator", len(o.hosts), o.validators)
	}
	if !o.tls {
		return errors.New("--hosts needs TLS: the API listens on every interface, where the node refuses plaintext (drop --tls=false)")
	}
	seen := map[string]int{}
	for i, h := range o.hosts {
		if _, err := testnetHostAddr(h); err != nil {
			return fmt.Errorf("--hosts[%d]: %w", i, err)
		}
		if j, dup := seen[h]; dup {
			return fmt.Errorf("--hosts[%d]: %q is also --hosts[%d]: each node needs a host of its own", i, h, j)
		}
		seen[h] = i
	}
	return nil
}

func newTestnetCmd(c *cli) *cobra.Command {
	o := &testnetOpts{}
	cmd := &cobra.Command{
		Use:   "testnet --validators N --out DIR",
		Short: "Write a local test network on 127.0.0.1: genesis, N node homes, accounts",
		Long: `Testnet writes everything a local network needs:

  DIR/genesis.json              the genesis (departments dept0..dept{N-1})
  DIR/testnet.json              summary for scripts: nodes, addresses, peer ids, key files
  DIR/node{i}/config.toml       node i's config; genesis_file points at its own copy
  DIR/node{i}/genesis.json      copy of DIR/genesis.json
  DIR/node{i}/keys/node.key     libp2p key; validator.key consensus key, also the
                                key of identity dept{i}-validator, with which the
                                node signs the equivocation evidence it finds
  DIR/node{i}/keys/admin.key    key of identity dept{i}-admin (ROLE_ADMIN)
  DIR/node{i}/keys/official.key key of dept{i}-official (ROLE_REGISTRAR, ROLE_ISSUER)
  DIR/node{i}/tls/              ca.crt, server.crt, server.key: the API's TLS pair
                                (self-signed, naming localhost and 127.0.0.1)
  DIR/node{i}/data/             data directory
  DIR/accounts/account{j}.key   citizen identity account{j}, registered by dept{j mod N}
  DIR/accounts/company{j}.key   company identity company{j} (a bidder in tenders),
                                registered by dept{j mod N}

--crypto-suite names the chain's crypto suite, fixed in its genesis
(crypto_suite): ed25519-sha256 (the default) or sm2-sm3, the 国密 suite. Under
sm2-sm3 every consensus, admin, official, citizen and company key is SM2 and
every department carries its peer binding, its SM2 consensus key's signature
over its node's peer id; the node keys (libp2p) stay Ed25519. testnet.json
names the suite (crypto_suite).

The genesis installs the record types land_title, birth_certificate and
business_license, the contract templates procurement and tender.v1 (the
money template tenders award), and an opening budget of 1000000000 minor
units for every department. testnet.json lists citizens and companies under
accounts (kind IDENTITY_KIND_CITIZEN or IDENTITY_KIND_COMPANY).

Ports of node i, from --base-port B: p2p B+10i (TCP, and QUIC on the same UDP
port), API B+10i+1, metrics B+10i+2. Every node lists the others as persistent
peers. The API speaks TLS only (https) and testnet.json names each node's CA
file (api_ca_file) and URL (api_url): every command given --testnet DIR calls
its node over https with that CA, and authenticates as --signer. --tls=false
writes plaintext APIs (http) instead. Metrics are plaintext on 127.0.0.1.
Keys are written UNENCRYPTED: this is a recipe for one machine.

` + testnetHostsHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.runTestnet(cmd, o)
		},
	}
	cmd.Flags().IntVar(&o.validators, "validators", 4, "number of validators (departments)")
	cmd.Flags().StringVar(&o.out, "out", "", "output directory")
	cmd.Flags().StringVar(&o.faultModel, "fault-model", genesis.FaultByzantine, "fault model: crash or byzantine")
	cmd.Flags().IntVar(&o.basePort, "base-port", node.DefaultP2PPort, "first port; node i uses base+10i .. base+10i+3")
	cmd.Flags().StringVar(&o.chainID, "chain-id", "govnode-testnet", "chain id")
	cmd.Flags().IntVar(&o.accounts, "accounts", 64, "number of citizen accounts for benchmarks")
	cmd.Flags().IntVar(&o.companies, "companies", 3, "number of company identities (bidders in tenders)")
	cmd.Flags().BoolVar(&o.force, "force", false, "write into a non-empty DIR, replacing files of an earlier testnet")
	cmd.Flags().BoolVar(&o.tls, "tls", true, "serve every node's API over TLS with a self-signed pair in its home (false: plaintext http)")
	cmd.Flags().StringSliceVar(&o.hosts, "hosts", nil, "one host name or IP address per node, each node in a container of its own (see above)")
	cmd.Flags().StringVar(&o.suite, "crypto-suite", crypto.SuiteNameEd25519SHA256, "the chain's crypto suite: "+crypto.SuiteNameEd25519SHA256+" or "+crypto.SuiteNameSM2SM3+" (SM2 keys, SM3 hashes)")
	_ = cmd.MarkFlagRequired("out")
	cmd.AddCommand(newTestnetJoinCmd(c))
	return cmd
}

// testnetJoin is what `govnode testnet join` prints: the new node, and the
// department record and admin an add-department proposal carries.
type testnetJoin struct {
	Node       testnetNode `json:"node"`
	Department struct {
		ID           string   `json:"id"`
		Name         string   `json:"name"`
		ConsensusKey string   `json:"consensus_key"`
		PeerID       string   `json:"peer_id"`
		Addrs        []string `json:"addrs"`
		// PeerBinding, on an sm2-sm3 chain, is the consensus key's
		// signature over the peer id (Department.peer_binding), base64.
		PeerBinding string `json:"peer_binding,omitempty"`
	} `json:"department"`
	AdminPublicKey string `json:"admin_public_key"`
}

func newTestnetJoinCmd(c *cli) *cobra.Command {
	var out string
	var index int
	cmd := &cobra.Command{
		Use:   "join --out DIR --index K",
		Short: "Write the home of a new department's node K for a running test network",
		Long: `Join writes DIR/node{K} for department dept{K}, to be added to the running test
network in DIR by governance (scripts/testnet.sh join K does the whole dance):
its config (ports from the network's layout, every existing node as a persistent
peer, the network's genesis), node and validator keys, and keys/admin.key for
the department's first admin, dept{K}-admin. It adds the node to
DIR/testnet.json and prints the department record the add-department proposal
carries. Its API serves TLS when the network's do (testnet.json's api_tls),
with a pair of its own. Its keys are of the network's crypto suite (its
genesis's crypto_suite): on an sm2-sm3 network the consensus and admin keys
are SM2 and the department record carries its peer binding. Keys are written UNENCRYPTED, as for the rest of the
test network.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.runTestnetJoin(cmd, out, index)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the test network's directory (govnode testnet --out)")
	cmd.Flags().IntVar(&index, "index", -1, "the new node's index K (the next one after the network's nodes)")
	_ = cmd.MarkFlagRequired("out")
	_ = cmd.MarkFlagRequired("index")
	return cmd
}

func (c *cli) runTestnetJoin(cmd *cobra.Command, out string, k int) error {
	out, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	sumPath := filepath.Join(out, "testnet.json")
	raw, err := os.ReadFile(sumPath)
	if err != nil {
		return fmt.Errorf("--out: not a test network: %w", err)
	}
	var sum testnetSummary
	if err := json.Unmarshal(raw, &sum); err != nil {
		return fmt.Errorf("%s: %w", sumPath, err)
	}
	if len(sum.Nodes) == 0 {
		return fmt.Errorf("%s lists no nodes", sumPath)
	}
	if k != len(sum.Nodes) || k >= p2p.MaxMembers {
		return fmt.Errorf("--index %d: the network has nodes 0..%d; the next is %d (at most %d)", k, len(sum.Nodes)-1, len(sum.Nodes), p2p.MaxMembers-1)
	}
	if _, err := os.Stat(filepath.Join(out, fmt.Sprintf("node%d", k))); err == nil {
		return fmt.Errorf("--index %d: %s exists", k, filepath.Join(out, fmt.Sprintf("node%d", k)))
	}
	// The layout: node 0's p2p port is the base. A network of containers
	// (--hosts) listens on every interface: its new node needs a host
	// and a container, which this command does not write.
	if strings.HasPrefix(sum.Nodes[0].ListenP2PAddr[0], "/ip4/0.0.0.0/") {
		return fmt.Errorf("%s was written with --hosts (a network of containers): join adds a node on 127.0.0.1 only", out)
	}
	var base int
	if _, err := fmt.Sscanf(sum.Nodes[0].ListenP2PAddr[0], "/ip4/127.0.0.1/tcp/%d", &base); err != nil {
		return fmt.Errorf("node0's p2p address %q: %w", sum.Nodes[0].ListenP2PAddr[0], err)
	}
	if last := base + k*portStride + portOffsetPprof; last > 65535 {
		return fmt.Errorf("--index %d needs ports up to %d", k, last)
	}
	// The network's suite is its genesis's: every key of the new
	// department is of its scheme.
	doc, err := genesis.Load(sum.Genesis)
	if err != nil {
		return err
	}
	suite, err := genesis.Suite(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", sum.Genesis, err)
	}
	warn(cmd, "a test network writes UNENCRYPTED key files: use it only on a local machine")
	keyOpts := keystore.Options{Unencrypted: true}
	dept := fmt.Sprintf("dept%d", k)
	res, tn, err := writeTestnetHome(out, k, base, dept, "", keyOpts, sum.Nodes[0].APITLS, suite.Scheme())
	if err != nil {
		return err
	}
	adminKey, err := crypto.GenerateKey(suite.Scheme(), rand.Reader)
	if err != nil {
		return err
	}
	adminPath := filepath.Join(tn.Home, "keys", "admin.key")
	opts := keyOpts
	opts.Kind = keystore.KindAccount
	if err := keystore.Save(adminPath, adminKey, opts); err != nil {
		return err
	}
	tn.Admin = testnetAccount{ID: dept + "-admin", Kind: pb.IdentityKind_IDENTITY_KIND_OFFICIAL.String(), DepartmentID: dept,
		Roles: []string{pb.Role_ROLE_ADMIN.String()}, Key: adminPath}
	res.Config.P2P.PersistentPeers = []string{}
	for _, other := range sum.Nodes {
		res.Config.P2P.PersistentPeers = append(res.Config.P2P.PersistentPeers, other.P2PAddr)
	}
	if err := res.Config.Validate(); err != nil {
		return fmt.Errorf("node%d config: %w", k, err)
	}
	if err := node.WriteConfig(res.ConfigPath, res.Config); err != nil {
		return err
	}
	if err := genesis.Save(res.Config.ResolvePath(res.Config.GenesisFile), doc, false); err != nil {
		return err
	}
	d, err := testnetDepartment(tn, res, doc.GetChainId(), suite)
	if err != nil {
		return err
	}
	if sum.CryptoSuite == "" {
		// A testnet.json written before suites.
		sum.CryptoSuite = suite.String()
	}
	sum.Nodes = append(sum.Nodes, tn)
	if err := writeJSONFile(sumPath, sum); err != nil {
		return err
	}
	j := testnetJoin{Node: tn, AdminPublicKey: keyString(adminKey.Public())}
	j.Department.ID, j.Department.Name, j.Department.ConsensusKey = d.GetId(), d.GetName(), keyString(d.GetConsensusKey())
	j.Department.PeerID, j.Department.Addrs = d.GetPeerId(), d.GetAddrs()
	if b := d.GetPeerBinding(); len(b) > 0 {
		j.Department.PeerBinding = b64(b)
	}
	if c.output == "json" {
		return writeJSON(cmd.OutOrStdout(), j)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "wrote %s for department %s: api %s p2p %s\n", tn.Home, dept, tn.APIURL, tn.P2PAddr)
	fmt.Fprintf(w, "  consensus key %s\n  peer id %s\n  admin %s (%s)\n", j.Department.ConsensusKey, tn.PeerID, tn.Admin.ID, j.AdminPublicKey)
	fmt.Fprintf(w, "add it by governance (an add-department proposal), then start it: govnode start --home %s\n", tn.Home)
	return nil
}

func (c *cli) runTestnet(cmd *cobra.Command, o *testnetOpts) error {
	n := o.validators
	if n < 1 {
		return fmt.Errorf("--validators: %d, want at least 1", n)
	}
	if o.accounts < 0 {
		return fmt.Errorf("--accounts: %d, want 0 or more", o.accounts)
	}
	if o.companies < 0 {
		return fmt.Errorf("--companies: %d, want 0 or more", o.companies)
	}
	if _, err := genesis.ParseFaultModel(o.faultModel); err != nil {
		return fmt.Errorf("--fault-model: %w", err)
	}
	suite, err := testnetSuite(o.suite)
	if err != nil {
		return err
	}
	if last := o.basePort + (n-1)*portStride + portOffsetPprof; o.basePort < 1 || last > 65535 {
		return fmt.Errorf("--base-port: %d with %d validators needs ports %d..%d, outside 1..65535", o.basePort, n, o.basePort, last)
	}
	if err := checkTestnetHosts(o); err != nil {
		return err
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if ents, err := os.ReadDir(out); err == nil && len(ents) > 0 && !o.force {
		return fmt.Errorf("--out %s is not empty: refusing to overwrite without --force", out)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("--out: %w", err)
	}

	warn(cmd, "a test network writes UNENCRYPTED key files: use it only on a local machine")
	keyOpts := keystore.Options{Unencrypted: true, Overwrite: o.force}
	doc := genesis.New(o.chainID, o.faultModel, time.Now().UTC().Truncate(time.Second))
	// Empty for ed25519-sha256, as every genesis before suites: its hash
	// stays what it was (ARCHITECTURE.md §6 "Crypto suites").
	doc.CryptoSuite = suite.HeaderName()
	sum := &testnetSummary{ChainID: o.chainID, CryptoSuite: suite.String(), FaultModel: o.faultModel, Quorum: genesis.Quorum(o.faultModel, n)}

	depts := make([]string, n)
	for i := range n {
		depts[i] = fmt.Sprintf("dept%d", i)
	}
	doc.RecordTypes = genesis.SampleRecordTypes(depts)
	doc.ContractTemplates = []*pb.ContractTemplate{genesis.SampleProcurementTemplate(), exec.TenderTemplate()}
	// Opening budgets (ARCHITECTURE.md §5, "Budgets and payments"): the
	// founding funding, so tenders can be awarded from the first block.
	for _, d := range depts {
		doc.Budgets = append(doc.Budgets, &pb.Budget{DepartmentId: d, Balance: testnetBudget, Funded: testnetBudget})
	}
	allTypes := []string{}
	for _, rt := range doc.RecordTypes {
		allTypes = append(allTypes, rt.Id)
	}

	newAccount := func(path, id, dept string, kind pb.IdentityKind, roles []pb.Role, types []string) (testnetAccount, error) {
		key, err := crypto.GenerateKey(suite.Scheme(), rand.Reader)
		if err != nil {
			return testnetAccount{}, err
		}
		opts := keyOpts
		opts.Kind = keystore.KindAccount
		if err := keystore.Save(path, key, opts); err != nil {
			return testnetAccount{}, err
		}
		doc.Identities = append(doc.Identities, &pb.Identity{
			Id: id, Kind: kind, DepartmentId: dept, DisplayName: id, PublicKey: key.Public(),
			Status: pb.IdentityStatus_IDENTITY_STATUS_ACTIVE, Roles: roles, IssuerRecordTypes: types,
		})
		a := testnetAccount{ID: id, Kind: kind.String(), DepartmentID: dept, Key: path}
		for _, r := range roles {
			a.Roles = append(a.Roles, r.String())
		}
		return a, nil
	}

	homes := make([]*homeResult, n)
	for i := range n {
		host := ""
		if o.hosts != nil {
			host = o.hosts[i]
		}
		res, tn, err := writeTestnetHome(out, i, o.basePort, depts[i], host, keyOpts, o.tls, suite.Scheme())
		if err != nil {
			return err
		}
		homes[i] = res
		dept, err := testnetDepartment(tn, res, o.chainID, suite)
		if err != nil {
			return err
		}
		doc.Validators = append(doc.Validators, dept)
		// The node's own identity, which signs the equivocation evidence it
		// finds (genesis.ValidatorIdentityID).
		doc.Identities = append(doc.Identities, genesis.ValidatorIdentity(dept))
		if tn.Admin, err = newAccount(filepath.Join(tn.Home, "keys", "admin.key"), depts[i]+"-admin", depts[i],
			pb.IdentityKind_IDENTITY_KIND_OFFICIAL, []pb.Role{pb.Role_ROLE_ADMIN}, nil); err != nil {
			return err
		}
		if tn.Official, err = newAccount(filepath.Join(tn.Home, "keys", "official.key"), depts[i]+"-official", depts[i],
			pb.IdentityKind_IDENTITY_KIND_OFFICIAL, []pb.Role{pb.Role_ROLE_REGISTRAR, pb.Role_ROLE_ISSUER}, allTypes); err != nil {
			return err
		}
		sum.Nodes = append(sum.Nodes, tn)
	}
	for j := range o.accounts {
		a, err := newAccount(filepath.Join(out, "accounts", fmt.Sprintf("account%d.key", j)), fmt.Sprintf("account%d", j),
			depts[j%n], pb.IdentityKind_IDENTITY_KIND_CITIZEN, nil, nil)
		if err != nil {
			return err
		}
		sum.Accounts = append(sum.Accounts, a)
	}
	// Companies bid in tenders: identities of kind COMPANY, registered in
	// genesis by a department (as a registrar registers them later with
	// tx identity register-subject --kind company).
	for j := range o.companies {
		a, err := newAccount(filepath.Join(out, "accounts", fmt.Sprintf("company%d.key", j)), fmt.Sprintf("company%d", j),
			depts[j%n], pb.IdentityKind_IDENTITY_KIND_COMPANY, nil, nil)
		if err != nil {
			return err
		}
		sum.Accounts = append(sum.Accounts, a)
	}

	// Every node keeps the others as persistent peers.
	for i, h := range homes {
		h.Config.P2P.PersistentPeers = []string{}
		for k := range homes {
			if k != i {
				h.Config.P2P.PersistentPeers = append(h.Config.P2P.PersistentPeers, sum.Nodes[k].P2PAddr)
			}
		}
		if err := h.Config.Validate(); err != nil {
			return fmt.Errorf("node%d config: %w", i, err)
		}
		if err := node.WriteConfig(h.ConfigPath, h.Config); err != nil {
			return err
		}
	}

	warnings, err := genesis.Validate(doc)
	if err != nil {
		return fmt.Errorf("testnet genesis: %w", err)
	}
	for _, w := range warnings {
		warn(cmd, "genesis %s: %s", w.Field, w.Reason)
	}
	sum.Genesis = filepath.Join(out, "genesis.json")
	if err := genesis.Save(sum.Genesis, doc, o.force); err != nil {
		return err
	}
	for _, h := range homes {
		if err := genesis.Save(h.Config.ResolvePath(h.Config.GenesisFile), doc, o.force); err != nil {
			return err
		}
	}
	hash, err := genesis.Hash(doc)
	if err != nil {
		return err
	}
	sum.GenesisHash = hex.EncodeToString(hash)
	if err := writeJSONFile(filepath.Join(out, "testnet.json"), sum); err != nil {
		return err
	}

	if c.output == "json" {
		return writeJSON(cmd.OutOrStdout(), sum)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "wrote a %d-validator %s test network (chain %s, %s, quorum %d) to %s\n", n, o.faultModel, o.chainID, suite, sum.Quorum, out)
	for _, tn := range sum.Nodes {
		fmt.Fprintf(w, "  %s  api %s  p2p %s\n", tn.Name, tn.APIURL, tn.P2PAddr)
	}
	fmt.Fprintf(w, "  %d citizen accounts and %d companies in %s\n", o.accounts, o.companies, filepath.Join(out, "accounts"))
	fmt.Fprintf(w, "  contract templates %s, %s; every department's opening budget %d minor units\n", genesis.SampleProcurement, exec.TenderTemplateID, int64(testnetBudget))
	fmt.Fprintf(w, "genesis %s\nsummary %s\n", sum.GenesisHash, filepath.Join(out, "testnet.json"))
	return nil
}

// writeTestnetHome writes the home of test network node i (config, node
// and validator keys, data directory, and with withTLS the API's TLS pair)
// with the port layout of --base-port; its persistent peers are filled in
// later. With a host (--hosts, testnetHostsHelp) the node listens on every
// interface and is reached at host; withTLS must then be set (Validate
// refuses plaintext off loopback). The validator key is of scheme (the
// chain's suite's); the node key is Ed25519, as libp2p's always is.
func writeTestnetHome(out string, i, basePort int, dept, host string, keyOpts keystore.Options, withTLS bool, scheme pb.KeyScheme) (*homeResult, testnetNode, error) {
	home := filepath.Join(out, fmt.Sprintf("node%d", i))
	p2pPort := basePort + i*portStride
	bind, reach := "127.0.0.1", "/ip4/127.0.0.1"
	if host != "" {
		var err error
		if reach, err = testnetHostAddr(host); err != nil {
			return nil, testnetNode{}, fmt.Errorf("node%d: %w", i, err)
		}
		bind = "0.0.0.0"
	}
	cfg := node.DefaultConfig(home)
	cfg.Moniker = fmt.Sprintf("node%d", i)
	cfg.API.ListenAddr = net.JoinHostPort(bind, strconv.Itoa(p2pPort+portOffsetAPI))
	cfg.Metrics.ListenAddr = net.JoinHostPort(bind, strconv.Itoa(p2pPort+portOffsetMetrics))
	cfg.Debug.PprofListenAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p2pPort+portOffsetPprof))
	// The nodes share one machine: each keeps its Go memory near its share
	// (the garbage collector works harder near the limit).
	cfg.MemoryLimitMiB = testnetMemoryLimitMiB
	// Benchmarks send many txs per signer ahead of commits.
	cfg.Mempool.MaxNonceGap = 1024
	cfg.Mempool.MaxSignerTxs = 1024
	cfg.Mempool.MaxSignerBytes = 16 << 20
	cfg.Mempool.MaxTxs = 50000
	cfg.P2P.ListenAddrs = []string{
		fmt.Sprintf("/ip4/%s/tcp/%d", bind, p2pPort),
		fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", bind, p2pPort),
	}
	// Where the other nodes dial it: its listen addresses on one machine,
	// its host in a network of containers, which it also announces.
	reachAddrs := []string{
		fmt.Sprintf("%s/tcp/%d", reach, p2pPort),
		fmt.Sprintf("%s/udp/%d/quic-v1", reach, p2pPort),
	}
	if host != "" {
		cfg.P2P.ExternalAddrs = reachAddrs
	}
	switch {
	case withTLS && host != "":
		// Off loopback the metrics serve TLS too, with the API's pair
		// (ARCHITECTURE.md §7).
		setInitTLS(cfg)
	case withTLS:
		// The API's pair only (ARCHITECTURE.md §6 "Interfaces"): metrics
		// stay plaintext on loopback, where the node allows it and
		// `govnode bench` scrapes them.
		cfg.API.TLSCertFile = filepath.Join(tlsDir, tlscert.CertFile)
		cfg.API.TLSKeyFile = filepath.Join(tlsDir, tlscert.KeyFile)
	}
	if err := cfg.Validate(); err != nil {
		return nil, testnetNode{}, fmt.Errorf("node%d config: %w", i, err)
	}
	res, err := initHome(cfg, keyOpts, scheme)
	if err != nil {
		return nil, testnetNode{}, fmt.Errorf("node%d: %w", i, err)
	}
	// The API as the CLI calls it: on this machine, where a container's
	// port is published too.
	apiAddr, metricsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p2pPort+portOffsetAPI)), cfg.Metrics.ListenAddr
	if host != "" {
		metricsAddr = net.JoinHostPort(host, strconv.Itoa(p2pPort+portOffsetMetrics))
	}
	apiURL, caFile := "http://"+apiAddr, ""
	if withTLS {
		// The certificate names localhost and the loopback addresses,
		// where every node of a test network is called, and its host.
		if caFile, err = writeInitTLS(cfg, host, nil, keyOpts.Overwrite); err != nil {
			return nil, testnetNode{}, fmt.Errorf("node%d tls: %w", i, err)
		}
		apiURL = "https://" + apiAddr
	}
	tn := testnetNode{
		Name: cfg.Moniker, DepartmentID: dept, Home: home, Config: res.ConfigPath, PeerID: res.PeerID,
		APIAddr: apiAddr, APIURL: apiURL, APITLS: withTLS, APICAFile: caFile, MetricsAddr: metricsAddr,
		P2PAddr:       reachAddrs[0] + "/p2p/" + res.PeerID,
		QUICAddr:      reachAddrs[1] + "/p2p/" + res.PeerID,
		ValidatorKey:  cfg.ResolvePath(cfg.ValidatorKeyFile),
		NodeKey:       cfg.ResolvePath(cfg.NodeKeyFile),
		ValidatorPub:  keyString(res.ValidatorKey.Public()),
		ListenP2PAddr: cfg.P2P.ListenAddrs,
	}
	return res, tn, nil
}

// testnetDepartment is the department record of test network node tn on
// chain chainID of suite. On an sm2-sm3 chain it carries its peer binding:
// the SM2 consensus key's signature over crypto.PeerBindingSignBytes of
// the node's Ed25519 peer id (Department.peer_binding, ARCHITECTURE.md §7
// "Faults and hostile input"); on an ed25519-sha256 chain none.
func testnetDepartment(tn testnetNode, res *homeResult, chainID string, suite crypto.Suite) (*pb.Department, error) {
	d := &pb.Department{
		Id: tn.DepartmentID, Name: "Department " + strings.TrimPrefix(tn.DepartmentID, "dept"), ConsensusKey: res.ValidatorKey.Public(),
		PeerId: res.PeerID, Addrs: []string{strings.TrimSuffix(tn.P2PAddr, "/p2p/"+tn.PeerID), strings.TrimSuffix(tn.QUICAddr, "/p2p/"+tn.PeerID)},
	}
	if suite == crypto.SM2SM3 {
		b, err := res.ValidatorKey.Sign(crypto.PeerBindingSignBytes(chainID, d.GetId(), d.GetPeerId()))
		if err != nil {
			return nil, fmt.Errorf("%s: peer binding: %w", d.GetId(), err)
		}
		d.PeerBinding = b
	}
	return d, nil
}

func keyString(pub *pb.PublicKey) string {
	return crypto.SchemeName(pub.GetScheme()) + ":" + b64(pub.GetKey())
}

func writeJSONFile(path string, v any) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := writeJSON(f, v); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
