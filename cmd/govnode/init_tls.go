package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/govnode/govnode/node"
	"github.com/govnode/govnode/node/tlscert"
)

// tlsDir is where `govnode init --tls` writes the pair, relative to home.
const tlsDir = "tls"

// setInitTLS points cfg's API and metrics TLS keys at the pair that
// writeInitTLS writes.
func setInitTLS(cfg *node.Config) {
	cfg.API.TLSCertFile = filepath.Join(tlsDir, tlscert.CertFile)
	cfg.API.TLSKeyFile = filepath.Join(tlsDir, tlscert.KeyFile)
	cfg.Metrics.TLSCertFile = cfg.API.TLSCertFile
	cfg.Metrics.TLSKeyFile = cfg.API.TLSKeyFile
}

// initTLSFiles are the files writeInitTLS writes.
func initTLSFiles(cfg *node.Config) []string {
	dir := cfg.ResolvePath(tlsDir)
	return []string{filepath.Join(dir, tlscert.CAFile), filepath.Join(dir, tlscert.CertFile), filepath.Join(dir, tlscert.KeyFile)}
}

// tlsHosts are the names the server certificate lists: the hosts of the
// API, metrics and pprof addresses, this machine's name when one of them
// is on every interface, and extra (--tls-hosts). tlscert adds localhost
// and the loopback addresses.
func tlsHosts(cfg *node.Config, hostname string, extra []string) []string {
	var hosts []string
	for _, a := range []string{cfg.API.ListenAddr, cfg.Metrics.ListenAddr, cfg.Debug.PprofListenAddr} {
		h, _, err := net.SplitHostPort(a)
		if err != nil {
			continue // empty (metrics off); Validate checked the others
		}
		if ip := net.ParseIP(h); h == "" || ip != nil && ip.IsUnspecified() {
			if hostname != "" {
				hosts = append(hosts, hostname)
			}
			continue
		}
		hosts = append(hosts, h)
	}
	return append(hosts, extra...)
}

// writeInitTLS writes a new self-signed CA and server pair into the home's
// tls directory and returns the CA certificate's path.
func writeInitTLS(cfg *node.Config, hostname string, extra []string, force bool) (string, error) {
	pair, err := tlscert.Generate(tlscert.Options{Hosts: tlsHosts(cfg, hostname, extra), CommonName: "govnode " + cfg.Moniker})
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cfg.Home, 0o755); err != nil {
		return "", fmt.Errorf("create home: %w", err)
	}
	dir := cfg.ResolvePath(tlsDir)
	if err := pair.Write(dir, force); err != nil {
		return "", err
	}
	return filepath.Join(dir, tlscert.CAFile), nil
}
