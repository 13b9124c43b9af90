package p2ptest

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/govnode/govnode/consensus"
	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/p2p"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// ChainID is the chain every test network runs.
const ChainID = "govnode-test"

// Loopback listen addresses with OS-chosen ports.
const (
	TCP  = "/ip4/127.0.0.1/tcp/0"
	QUIC = "/ip4/127.0.0.1/udp/0/quic-v1"
)

// Identity is one node's keys: the libp2p node key and the consensus key.
type Identity struct {
	NodeKey lcrypto.PrivKey
	PeerID  peer.ID
	ValKey  crypto.PrivateKey
}

// Identities makes n identities deterministically from seed.
func Identities(t testing.TB, n int, seed uint64) []Identity {
	t.Helper()
	r := rand.NewChaCha8(seedBytes(seed))
	out := make([]Identity, n)
	for i := range out {
		nk, _, err := lcrypto.GenerateEd25519Key(r)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPrivateKey(nk)
		if err != nil {
			t.Fatal(err)
		}
		vk, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, r)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = Identity{NodeKey: nk, PeerID: id, ValKey: vk}
	}
	return out
}

func seedBytes(seed uint64) [32]byte {
	var b [32]byte
	for i := range 8 {
		b[i] = byte(seed >> (8 * i))
	}
	return b
}

// Network is a consortium under test: validators[i] is validator i.
type Network struct {
	T          testing.TB
	Validators []Identity
	VSet       *p2p.ValidatorSet
	Nodes      []*p2p.Host // Nodes[i] runs Validators[i]; nil until started
	addrs      [][]ma.Multiaddr
	// Listen are the listen addresses of every node (default TCP and QUIC).
	Listen []string
}

// NewNetwork makes the identities and validator set of an n-member network;
// Start starts its nodes.
func NewNetwork(t testing.TB, n int, seed uint64) *Network {
	t.Helper()
	ids := Identities(t, n, seed)
	keys := make([]*pb.PublicKey, n)
	for i, id := range ids {
		keys[i] = id.ValKey.Public()
	}
	vs, err := p2p.NewValidatorSet(keys)
	if err != nil {
		t.Fatal(err)
	}
	return &Network{T: t, Validators: ids, VSet: vs, Nodes: make([]*p2p.Host, n), addrs: make([][]ma.Multiaddr, n), Listen: []string{TCP, QUIC}}
}

// Config is a test configuration for member i: loopback listening, short
// timers, and the addresses of the members started so far (the others dial
// in and are dialed back on the addresses identify learns).
func (nw *Network) Config(i int) p2p.Config {
	cfg := p2p.DefaultConfig()
	cfg.ChainID = ChainID
	cfg.ListenAddrs = append([]string(nil), nw.Listen...)
	for j, id := range nw.Validators {
		cfg.Members = append(cfg.Members, p2p.Member{PeerID: id.PeerID, Addrs: nw.addrs[j], ValidatorIndex: uint32(j)})
	}
	cfg.DialTimeout = 2 * time.Second
	cfg.BackoffMin = 50 * time.Millisecond
	cfg.BackoffMax = time.Second
	cfg.PingInterval = 200 * time.Millisecond
	cfg.SyncTimeout = 5 * time.Second
	return cfg
}

// Start starts member i with cfg (from Config, possibly changed) and extra
// options; the node is closed when the test ends.
func (nw *Network) Start(i int, cfg p2p.Config, opts ...p2p.Option) *p2p.Host {
	t := nw.T
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base := []p2p.Option{
		p2p.WithIdentity(nw.Validators[i].NodeKey),
		p2p.WithValidatorSet(nw.VSet),
		p2p.WithLogger(Logger(t)),
		p2p.WithRand(rand.New(rand.NewPCG(uint64(i), 42))),
		p2p.WithConsensusCheck(func(vs *p2p.ValidatorSet, m *pb.ConsensusMessage) error {
			return consensus.CheckSender(ChainID, crypto.Ed25519SHA256, 0, vs, nil, m)
		}),
	}
	n, err := p2p.New(ctx, cfg, append(base, opts...)...)
	if err != nil {
		t.Fatalf("start node %d: %v", i, err)
	}
	t.Cleanup(func() { _ = n.Close() })
	nw.Nodes[i] = n
	nw.addrs[i] = n.Addrs()
	return n
}

// Members is a membership for Host.SetMembership: validators which, in
// that order, each with its position as validator index and the addresses
// of its node if started.
func (nw *Network) Members(which ...int) []p2p.Member {
	out := make([]p2p.Member, len(which))
	for pos, i := range which {
		out[pos] = p2p.Member{PeerID: nw.Validators[i].PeerID, Addrs: nw.addrs[i], ValidatorIndex: uint32(pos)}
	}
	return out
}

// StartAll starts every member with its default test config.
func (nw *Network) StartAll(opts ...p2p.Option) {
	for i := range nw.Validators {
		nw.Start(i, nw.Config(i), opts...)
	}
}

// WaitConnected waits until every started node is connected to every other
// started node.
func (nw *Network) WaitConnected(timeout time.Duration) {
	nw.T.Helper()
	Eventually(nw.T, timeout, "all members connected", func() bool {
		for i, n := range nw.Nodes {
			if n == nil {
				continue
			}
			for j, m := range nw.Nodes {
				if m == nil || i == j {
					continue
				}
				if !Connected(n, m.ID()) {
					return false
				}
			}
		}
		return true
	})
}

// Connected reports whether n's peer manager sees p connected.
func Connected(n *p2p.Host, p peer.ID) bool {
	for _, pi := range n.Peers() {
		if pi.ID == p {
			return pi.Connected
		}
	}
	return false
}

// Eventually polls cond every 10 ms until it holds, failing the test after
// timeout. Use it only where libp2p offers no event to wait on.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Logger logs to the test log at warn level and above.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s", b)
	return len(b), nil
}
