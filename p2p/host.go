package p2p

import (
	"fmt"
	ma "github.com/multiformats/go-multiaddr"
	"time"

	"github.com/libp2p/go-libp2p"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// memberTag protects member connections from the connection manager's
// trimming.
const memberTag = "govnode-member"

// newHost builds the libp2p host: the node key as identity, TCP and QUIC,
// Noise and TLS, yamux, the gater and explicit resource limits; no relay,
// no NAT port mapping, no AutoNAT or hole punching, no routing (no DHT):
// peers come from genesis and config.
func newHost(cfg *Config, key lcrypto.PrivKey, g *gater) (host.Host, error) {
	rm, err := resourceManager(cfg)
	if err != nil {
		return nil, err
	}
	// Trimming starts far above what a consortium uses; members are also
	// protected, so only surplus observer connections are ever trimmed.
	cm, err := connmgr.NewConnManager(2*MaxMembers, 4*MaxMembers, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("p2p: connection manager: %w", err)
	}
	var external []ma.Multiaddr
	for _, s := range cfg.ExternalAddrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("p2p: external address %q: %w", s, err)
		}
		external = append(external, a)
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.AddrsFactory(func(listen []ma.Multiaddr) []ma.Multiaddr {
			if len(external) > 0 {
				return external
			}
			return listen
		}),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(tls.ID, tls.New),
		libp2p.DefaultMuxers,
		libp2p.ConnectionGater(g),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.DisableRelay(),
		libp2p.Ping(true),
		libp2p.DisableMetrics(),
		libp2p.WithDialTimeout(cfg.DialTimeout),
		libp2p.UserAgent("govnode"),
	)
	if err != nil {
		_ = rm.Close()
		return nil, fmt.Errorf("p2p: libp2p host: %w", err)
	}
	for _, m := range cfg.Members {
		cm.Protect(m.PeerID, memberTag)
	}
	return h, nil
}
