package nodetest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/node"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Cluster is an n-validator crash-fault chain run in this process: one
// Chain per validator (its own home and keys, the shared genesis) and the
// accounts of department dept0, which every node knows.
type Cluster struct {
	Genesis *pb.GenesisDoc
	Chains  []*Chain
	Nodes   []*Node // Nodes[i] runs validator i, once started

	Official *Account // dept0-official: ROLE_REGISTRAR, ROLE_ISSUER of every type
}

// NewCluster writes an n-validator genesis, each validator listening for
// p2p on a free loopback port named in the genesis, and starts every node.
// o.Params default to ClusterParams(); o.Configure applies to every node.
func NewCluster(t testing.TB, n int, o Options) *Cluster {
	t.Helper()
	if o.ChainID == "" {
		o.ChainID = "nodetest-cluster"
	}
	if o.Params == nil {
		o.Params = ClusterParams()
	}
	rng := rand.NewChaCha8(seed32(o.Seed))
	gen := keyWriter(t, rng)
	doc := &pb.GenesisDoc{
		ChainId: o.ChainID, GenesisTime: GenesisTime, FaultModel: genesis.FaultCrash,
		Params: proto.Clone(o.Params).(*pb.Params), CryptoSuite: o.Suite.HeaderName(),
	}
	c := &Cluster{Genesis: doc}
	var depts []string
	for i := range n {
		home := t.TempDir()
		ch := &Chain{ChainID: o.ChainID, Home: home}
		ch.ValidatorKey = gen(filepath.Join(home, "keys", "validator.key"), keystore.KindValidator, o.Suite.Scheme())
		ch.NodeKey = gen(filepath.Join(home, "keys", "node.key"), keystore.KindNode, pb.KeyScheme_KEY_SCHEME_ED25519)
		pid, err := keystore.PeerIDFromPublicKey(ch.NodeKey.Public())
		if err != nil {
			t.Fatalf("nodetest: peer id: %v", err)
		}
		ch.PeerID = pid.String()
		listen := freeP2PAddr(t)
		ch.opts = o
		ch.opts.Configure = func(cfg *node.Config) {
			cfg.Moniker = fmt.Sprintf("node%d", i)
			cfg.P2P.ListenAddrs = []string{listen}
			if o.Configure != nil {
				o.Configure(cfg)
			}
		}
		dept := &pb.Department{
			Id: fmt.Sprintf("dept%d", i), Name: fmt.Sprintf("Department %d", i), ConsensusKey: ch.ValidatorKey.Public(),
			PeerId: ch.PeerID, Addrs: []string{listen},
		}
		if o.Suite == crypto.SM2SM3 {
			if dept.PeerBinding, err = genesis.BindPeer(ch.ValidatorKey, o.ChainID, dept.Id, ch.PeerID); err != nil {
				t.Fatalf("nodetest: peer binding: %v", err)
			}
		}
		depts = append(depts, dept.Id)
		doc.Validators = append(doc.Validators, dept)
		doc.Identities = append(doc.Identities, genesis.ValidatorIdentity(dept))
		c.Chains = append(c.Chains, ch)
	}
	doc.RecordTypes = genesis.SampleRecordTypes(depts)
	key := gen(filepath.Join(c.Chains[0].Home, "keys", OfficeID+".key"), keystore.KindAccount, o.Suite.Scheme())
	var allTypes []string
	for _, rt := range doc.RecordTypes {
		allTypes = append(allTypes, rt.GetId())
	}
	doc.Identities = append(doc.Identities, &pb.Identity{
		Id: OfficeID, Kind: pb.IdentityKind_IDENTITY_KIND_OFFICIAL, DepartmentId: Dept, DisplayName: OfficeID,
		PublicKey: key.Public(), Status: pb.IdentityStatus_IDENTITY_STATUS_ACTIVE,
		Roles: []pb.Role{pb.Role_ROLE_REGISTRAR, pb.Role_ROLE_ISSUER}, IssuerRecordTypes: allTypes,
	})
	c.Official = &Account{ID: OfficeID, Key: key, chainID: o.ChainID}
	if _, err := genesis.Validate(doc); err != nil {
		t.Fatalf("nodetest: cluster genesis: %v", err)
	}
	for _, ch := range c.Chains {
		ch.Genesis = doc
		ch.Official = c.Official
	}
	for _, ch := range c.Chains {
		c.Nodes = append(c.Nodes, ch.Start(t))
	}
	c.WaitMeshed(t, 30*time.Second)
	return c
}

// ClusterParams are FastParams with timeouts that a few nodes sharing a
// loaded test machine keep to.
func ClusterParams() *pb.Params {
	p := FastParams()
	p.ProposeTimeoutMs = 1000
	p.MaxViewTimeoutMs = 4000
	return p
}

// WaitMeshed waits until every node is connected to every other, so that
// the first txs are not gossiped into an unformed network.
func (c *Cluster) WaitMeshed(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for i, n := range c.Nodes {
		for {
			connected := 0
			for _, p := range n.Status(t).GetPeers() {
				if p.GetConnected() {
					connected++
				}
			}
			if connected >= len(c.Nodes)-1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node%d has %d connected peers, want %d", i, connected, len(c.Nodes)-1)
			}
			pollPause()
		}
	}
}

// freeP2PAddr is a TCP multiaddr on a loopback port free a moment ago.
func freeP2PAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("nodetest: free port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatalf("nodetest: free port: %v", err)
	}
	return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)
}
