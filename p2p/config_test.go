package p2p

import (
	"strings"
	"testing"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"math/rand/v2"
)

func testPeerIDs(t *testing.T, n int) []peer.ID {
	t.Helper()
	r := rand.NewChaCha8([32]byte{2})
	out := make([]peer.ID, n)
	for i := range out {
		k, _, err := lcrypto.GenerateEd25519Key(r)
		if err != nil {
			t.Fatal(err)
		}
		if out[i], err = peer.IDFromPrivateKey(k); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	ids := testPeerIDs(t, 3)
	valid := func() Config {
		c := DefaultConfig()
		c.ChainID = "gov-1"
		c.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/26656", "/ip4/0.0.0.0/udp/26656/quic-v1"}
		c.Members = []Member{{PeerID: ids[0], ValidatorIndex: 0}, {PeerID: ids[1], ValidatorIndex: 1}}
		c.Observers = []peer.ID{ids[2]}
		return c
	}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantSub string
	}{
		{"valid", func(*Config) {}, ""},
		{"empty chain id", func(c *Config) { c.ChainID = "" }, "chain id"},
		{"slash in chain id", func(c *Config) { c.ChainID = "a/b" }, "chain id"},
		{"no listen address", func(c *Config) { c.ListenAddrs = nil }, "no listen"},
		{"bad listen address", func(c *Config) { c.ListenAddrs = []string{"tcp:26656"} }, "listen address 0"},
		{"no members", func(c *Config) { c.Members = nil }, "no members"},
		{"too many members", func(c *Config) { c.Members = make([]Member, MaxMembers+1) }, "at most 64"},
		{"duplicate member", func(c *Config) { c.Members[1].PeerID = ids[0] }, "already listed"},
		{"duplicate validator index", func(c *Config) { c.Members[1].ValidatorIndex = 0 }, "used twice"},
		{"observer is a member", func(c *Config) { c.Observers = []peer.ID{ids[1]} }, "already listed"},
		{"zero limit", func(c *Config) { c.MaxTxBytes = 0 }, "MaxTxBytes"},
		{"backoff inverted", func(c *Config) { c.BackoffMax = c.BackoffMin / 2 }, "BackoffMax"},
		{"jitter out of range", func(c *Config) { c.BackoffJitter = 1 }, "BackoffJitter"},
		{"response over ceiling", func(c *Config) { c.MaxResponseBytes = 1 << 30 }, "ceiling"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mod(&c)
			err := c.Validate()
			if tt.wantSub == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantSub) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantSub)
			}
		})
	}
}

func TestOptionsRefuseNonsense(t *testing.T) {
	var o options
	rsa, _, err := lcrypto.GenerateRSAKeyPair(2048, rand.NewChaCha8([32]byte{3}))
	if err != nil {
		t.Fatal(err)
	}
	for name, opt := range map[string]Option{
		"nil identity":   WithIdentity(nil),
		"rsa identity":   WithIdentity(rsa),
		"nil logger":     WithLogger(nil),
		"nil set":        WithValidatorSet(nil),
		"nil tx check":   WithTxValidator(nil),
		"nil cons check": WithConsensusCheck(nil),
		"nil source":     WithBlockSource(nil),
		"nil rand":       WithRand(nil),
		"nil clock":      WithClock(nil),
	} {
		if err := opt(&o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewValidatorSet(nil); err == nil {
		t.Error("empty validator set accepted")
	}
}
