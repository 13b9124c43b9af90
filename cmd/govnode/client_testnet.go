package main

// The test network's APIs (ARCHITECTURE.md §6 "Interfaces"): `govnode
// testnet` serves each node's API over TLS with a self-signed pair of its
// own and names, in testnet.json, each node's URL (api_url) and the CA file
// to trust for it (api_ca_file). A command given --testnet DIR calls the
// node it talks to at that URL and trusts that CA: no --ca is needed.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/govnode/govnode/client"
)

// nodeAt is the node of the test network whose API is at addr (host:port,
// or a URL of that host:port); nil if none is.
func (s *testnetSummary) nodeAt(addr string) *testnetNode {
	u, err := client.BaseURL(addr)
	if err != nil {
		return nil
	}
	_, hostport, _ := strings.Cut(u, "://")
	for i := range s.Nodes {
		if s.Nodes[i].APIAddr == hostport {
			return &s.Nodes[i]
		}
	}
	return nil
}

// endpoint is addr as a command given --testnet calls it, with the CA file
// to trust: a host:port or https:// URL of one of the network's TLS nodes
// becomes its https:// URL, trusting the node's CA unless --ca (ca) names
// one. Other addresses, and an explicit http:// URL, are left as given.
func (s *testnetSummary) endpoint(addr, ca string) (string, string) {
	tn := s.nodeAt(addr)
	if tn == nil || !tn.APITLS || strings.HasPrefix(strings.TrimSpace(addr), "http://") {
		return addr, ca
	}
	if ca == "" {
		ca = tn.APICAFile
	}
	return "https://" + tn.APIAddr, ca
}

// defaultAPI is the API address a command given --testnet and no --node
// calls: that of the node of signer's department, else node 0's.
func (s *testnetSummary) defaultAPI(signer string) string {
	ni := 0
	if signer != "" {
		if _, i, ok := s.account(signer); ok {
			ni = i
		}
	}
	return s.Nodes[ni].APIAddr
}

// tlsConfig is the TLS client configuration that trusts every node of the
// network serving TLS (their CA files); nil when none does.
func (s *testnetSummary) tlsConfig() (*tls.Config, error) {
	var pool *x509.CertPool
	for _, n := range s.Nodes {
		if !n.APITLS {
			continue
		}
		if pool == nil {
			pool = x509.NewCertPool()
		}
		if err := client.AppendCAFile(pool, n.APICAFile); err != nil {
			return nil, fmt.Errorf("%s: %w", n.Name, err)
		}
	}
	if pool == nil {
		return nil, nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, nil
}
