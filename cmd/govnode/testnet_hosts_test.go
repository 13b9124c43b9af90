package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/genesis"
	"github.com/govnode/govnode/node"
)

// `govnode testnet --hosts` writes a network of containers: every node
// listens on every interface at its ports of the layout, is reached (in
// genesis, in its peers' persistent_peers, in what it announces) at its
// host, serves its API and metrics over TLS with a certificate naming its
// host, and testnet.json names its API at 127.0.0.1, where the container's
// port is published. An IP address as a host is dialled as /ip4.
func TestTestnetHosts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	hosts := []string{"node0", "dept1.gov.example", "10.5.0.3", "node-3"}
	reach := []string{"/dns4/node0", "/dns4/dept1.gov.example", "/ip4/10.5.0.3", "/dns4/node-3"}
	r := mustRun(t, nil, "testnet", "--validators", "4", "--out", dir, "--accounts", "1", "--base-port", "33000",
		"--hosts", strings.Join(hosts, ","))
	if !strings.Contains(r.out, "p2p /dns4/node0/tcp/33000/p2p/") {
		t.Errorf("testnet output does not show node0's host address:\n%s", r.out)
	}
	v := mustRun(t, nil, "genesis", "validate", filepath.Join(dir, "genesis.json"))
	if v.errOut != "" {
		t.Errorf("genesis of a network of containers has warnings: %s", v.errOut)
	}
	sum, err := loadTestnetSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := genesis.Load(sum.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range sum.Nodes {
		p := 33000 + 10*i
		cfg, err := node.LoadConfig(n.Config)
		if err != nil {
			t.Fatalf("node%d config: %v", i, err)
		}
		if cfg.API.ListenAddr != fmt.Sprintf("0.0.0.0:%d", p+1) || cfg.Metrics.ListenAddr != fmt.Sprintf("0.0.0.0:%d", p+2) ||
			cfg.Debug.PprofListenAddr != fmt.Sprintf("127.0.0.1:%d", p+3) {
			t.Errorf("node%d listens: api %s metrics %s pprof %s", i, cfg.API.ListenAddr, cfg.Metrics.ListenAddr, cfg.Debug.PprofListenAddr)
		}
		if want := []string{fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", p), fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", p)}; !slices.Equal(cfg.P2P.ListenAddrs, want) {
			t.Errorf("node%d p2p listen %v, want %v", i, cfg.P2P.ListenAddrs, want)
		}
		addrs := []string{fmt.Sprintf("%s/tcp/%d", reach[i], p), fmt.Sprintf("%s/udp/%d/quic-v1", reach[i], p)}
		if !slices.Equal(cfg.P2P.ExternalAddrs, addrs) || !slices.Equal(doc.Validators[i].Addrs, addrs) {
			t.Errorf("node%d announces %v, genesis %v, want %v", i, cfg.P2P.ExternalAddrs, doc.Validators[i].Addrs, addrs)
		}
		if n.P2PAddr != addrs[0]+"/p2p/"+n.PeerID || n.QUICAddr != addrs[1]+"/p2p/"+n.PeerID {
			t.Errorf("node%d in testnet.json: p2p %s quic %s", i, n.P2PAddr, n.QUICAddr)
		}
		// Every other node is a persistent peer at its host.
		var peers []string
		for k, o := range sum.Nodes {
			if k != i {
				peers = append(peers, o.P2PAddr)
			}
		}
		if !slices.Equal(cfg.P2P.PersistentPeers, peers) {
			t.Errorf("node%d persistent peers %v, want %v", i, cfg.P2P.PersistentPeers, peers)
		}
		// The CLI calls the API where the container publishes it.
		api := fmt.Sprintf("127.0.0.1:%d", p+1)
		if n.APIAddr != api || n.APIURL != "https://"+api || !n.APITLS || n.MetricsAddr != fmt.Sprintf("%s:%d", hosts[i], p+2) {
			t.Errorf("node%d in testnet.json: api %s url %s tls %v metrics %s", i, n.APIAddr, n.APIURL, n.APITLS, n.MetricsAddr)
		}
		// Off loopback both serve TLS, which the node would otherwise refuse.
		if cfg.API.Insecure || cfg.Metrics.Insecure || cfg.Metrics.TLSCertFile != cfg.API.TLSCertFile || cfg.API.TLSCertFile == "" {
			t.Errorf("node%d: api insecure %v metrics insecure %v, metrics cert %q api cert %q", i, cfg.API.Insecure, cfg.Metrics.Insecure, cfg.Metrics.TLSCertFile, cfg.API.TLSCertFile)
		}
		lt, err := cfg.LoadTLS(time.Now())
		if err != nil || lt.API == nil || lt.Metrics == nil {
			t.Fatalf("node%d LoadTLS: %+v %v", i, lt, err)
		}
		roots, err := client.LoadCAFile(n.APICAFile)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{hosts[i], "127.0.0.1", "localhost"} {
			if _, err := lt.API.Certificates[0].Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
				t.Errorf("node%d: the certificate does not verify for %s: %v", i, name, err)
			}
		}
		if _, err := lt.API.Certificates[0].Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: hosts[(i+1)%4]}); err == nil {
			t.Errorf("node%d: the certificate verifies for another node's host %s", i, hosts[(i+1)%4])
		}
	}

	// A network of containers takes no node on 127.0.0.1 by join.
	j := run(t, nil, "testnet", "join", "--out", dir, "--index", "4")
	if j.err == nil || !strings.Contains(j.err.Error(), "--hosts") {
		t.Fatalf("join into a network of containers: %v", j.err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node4")); !os.IsNotExist(err) {
		t.Errorf("the refused join wrote node4 (%v)", err)
	}
}

// Hosts that cannot name one container per node are refused before
// anything is written, with the reason.
func TestTestnetHostsRefused(t *testing.T) {
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 62)
	for _, c := range []struct {
		name  string
		args  []string
		wants string
	}{
		{"too few", []string{"--hosts", "node0,node1,node2"}, "3 hosts for 4 validators"},
		{"too many", []string{"--hosts", "a,b,c,d,e"}, "5 hosts for 4 validators"},
		{"duplicate", []string{"--hosts", "node0,node1,node0,node3"}, `--hosts[2]: "node0" is also --hosts[0]`},
		{"empty", []string{"--hosts", "node0,,node2,node3"}, "--hosts[1]"},
		{"upper case", []string{"--hosts", "node0,Node1,node2,node3"}, `"Node1" is not a DNS name`},
		{"underscore", []string{"--hosts", "node0,node_1,node2,node3"}, "not a DNS name"},
		{"leading hyphen", []string{"--hosts", "node0,-node1,node2,node3"}, "not a DNS name"},
		{"empty label", []string{"--hosts", "node0,a..b,node2,node3"}, "not a DNS name"},
		{"slash", []string{"--hosts", "node0,node1/tcp/1,node2,node3"}, "not a DNS name"},
		{"too long", []string{"--hosts", "node0," + long + ",node2,node3"}, "1..253 characters"},
		{"unspecified", []string{"--hosts", "node0,0.0.0.0,node2,node3"}, "unspecified address"},
		{"unspecified v6", []string{"--hosts", "node0,::,node2,node3"}, "unspecified address"},
		{"plaintext", []string{"--hosts", "node0,node1,node2,node3", "--tls=false"}, "--hosts needs TLS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if len(long) != 254 {
				t.Fatalf("the long name is %d characters", len(long))
			}
			dir := filepath.Join(t.TempDir(), "net")
			r := run(t, nil, append([]string{"testnet", "--validators", "4", "--out", dir, "--accounts", "0"}, c.args...)...)
			if r.err == nil || !strings.Contains(r.err.Error(), c.wants) {
				t.Fatalf("got %v, want an error with %q", r.err, c.wants)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("a refused testnet wrote %s (%v)", dir, err)
			}
		})
	}
}
