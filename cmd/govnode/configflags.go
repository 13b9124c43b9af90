package main

import (
	"slices"

	"github.com/spf13/pflag"

	"github.com/govnode/govnode/node"
)

// configFlags binds a flag to every node.Config field (but log_level, which
// is the root's --log-level). Flag names are the TOML keys with '_' written
// as '-'. Only flags given on the command line are applied, so a config
// file's values survive unless overridden. `init` uses it now; `start` will
// apply it over a loaded config.
type configFlags struct {
	fs    *pflag.FlagSet
	vals  *node.Config
	binds []func(dst *node.Config)
}

func bindFlag[T any](cf *configFlags, name, usage string, field func(*node.Config) *T,
	register func(p *T, name string, value T, usage string), clone func(T) T) {
	p := field(cf.vals)
	register(p, name, *p, usage)
	cf.binds = append(cf.binds, func(dst *node.Config) {
		if cf.fs.Changed(name) {
			*field(dst) = clone(*field(cf.vals))
		}
	})
}

func same[T any](v T) T { return v }

// addConfigFlags adds the config flags to fs but those named in except:
// flags a command has its own form of (start's --genesis for
// genesis-file), since two flags for one thing confuse operators. They are
// bound on a set of their own, then moved to fs; one left out is never
// Changed, so it never applies.
func addConfigFlags(dst *pflag.FlagSet, except ...string) *configFlags {
	cf := &configFlags{fs: dst, vals: node.DefaultConfig("")}
	fs := pflag.NewFlagSet("config", pflag.ContinueOnError)
	defer fs.VisitAll(func(f *pflag.Flag) {
		if !slices.Contains(except, f.Name) {
			dst.AddFlag(f)
		}
	})
	bindFlag(cf, "moniker", "human name of the node", func(c *node.Config) *string { return &c.Moniker }, fs.StringVar, same)
	bindFlag(cf, "log-format", "node log format: text, json or auto", func(c *node.Config) *string { return &c.LogFormat }, fs.StringVar, same)
	bindFlag(cf, "memory-limit-mib", "soft memory limit in MiB; 0: Go's default (GOMEMLIMIT)", func(c *node.Config) *int { return &c.MemoryLimitMiB }, fs.IntVar, same)
	bindFlag(cf, "data-dir", "data directory (relative to home)", func(c *node.Config) *string { return &c.DataDir }, fs.StringVar, same)
	bindFlag(cf, "genesis-file", "genesis file (relative to home)", func(c *node.Config) *string { return &c.GenesisFile }, fs.StringVar, same)
	bindFlag(cf, "validator-key-file", "validator key file (relative to home); empty for an observer", func(c *node.Config) *string { return &c.ValidatorKeyFile }, fs.StringVar, same)
	bindFlag(cf, "node-key-file", "node (libp2p) key file (relative to home)", func(c *node.Config) *string { return &c.NodeKeyFile }, fs.StringVar, same)
	bindFlag(cf, "api.listen-addr", "API listen address host:port", func(c *node.Config) *string { return &c.API.ListenAddr }, fs.StringVar, same)
	bindFlag(cf, "api.max-conns", "most open API connections; more are refused", func(c *node.Config) *int { return &c.API.MaxConns }, fs.IntVar, same)
	bindFlag(cf, "api.read-header-timeout-ms", "ms to read a request's headers (every HTTP listener)", func(c *node.Config) *int { return &c.API.ReadHeaderTimeoutMs }, fs.IntVar, same)
	bindFlag(cf, "api.read-timeout-ms", "ms to read a request's headers and body (every HTTP listener)", func(c *node.Config) *int { return &c.API.ReadTimeoutMs }, fs.IntVar, same)
	bindFlag(cf, "api.write-timeout-ms", "ms for each write of a response (every HTTP listener)", func(c *node.Config) *int { return &c.API.WriteTimeoutMs }, fs.IntVar, same)
	bindFlag(cf, "api.idle-timeout-ms", "ms a keep-alive connection may stay idle (every HTTP listener)", func(c *node.Config) *int { return &c.API.IdleTimeoutMs }, fs.IntVar, same)
	bindFlag(cf, "api.allowed-hosts", "Host names a loopback listener accepts besides localhost and loopback IPs", func(c *node.Config) *[]string { return &c.API.AllowedHosts }, fs.StringSliceVar, slices.Clone)
	bindFlag(cf, "api.tls-cert-file", "API TLS certificate chain, PEM (relative to home); with api.tls-key-file", func(c *node.Config) *string { return &c.API.TLSCertFile }, fs.StringVar, same)
	bindFlag(cf, "api.tls-key-file", "API TLS private key, PEM (relative to home)", func(c *node.Config) *string { return &c.API.TLSKeyFile }, fs.StringVar, same)
	bindFlag(cf, "api.insecure", "allow the API without TLS on a non-loopback address", func(c *node.Config) *bool { return &c.API.Insecure }, fs.BoolVar, same)
	bindFlag(cf, "api.client-cert-max-validity-s", "longest validity span in seconds of a client certificate a caller authenticates with", func(c *node.Config) *int { return &c.API.ClientCertMaxValiditySec }, fs.IntVar, same)
	bindFlag(cf, "api.rate-limit-identity-rps", "API requests per second of one authenticated identity; 0: no limit", func(c *node.Config) *int { return &c.API.RateLimitIdentityRPS }, fs.IntVar, same)
	bindFlag(cf, "api.rate-limit-identity-burst", "API request burst of one authenticated identity", func(c *node.Config) *int { return &c.API.RateLimitIdentityBurst }, fs.IntVar, same)
	bindFlag(cf, "api.rate-limit-address-rps", "API requests per second of one remote IP address (anonymous, failed authentications); 0: no limit", func(c *node.Config) *int { return &c.API.RateLimitAddressRPS }, fs.IntVar, same)
	bindFlag(cf, "api.rate-limit-address-burst", "API request burst of one remote IP address", func(c *node.Config) *int { return &c.API.RateLimitAddressBurst }, fs.IntVar, same)
	bindFlag(cf, "api.rate-limit-exempt-loopback", "do not rate-limit API callers on loopback addresses (false behind a local reverse proxy)", func(c *node.Config) *bool { return &c.API.RateLimitExemptLoopback }, fs.BoolVar, same)
	bindFlag(cf, "api.rate-limit-max-keys", "most identities and addresses the API rate limits track", func(c *node.Config) *int { return &c.API.RateLimitMaxKeys }, fs.IntVar, same)
	bindFlag(cf, "p2p.listen-addrs", "p2p listen multiaddrs", func(c *node.Config) *[]string { return &c.P2P.ListenAddrs }, fs.StringSliceVar, slices.Clone)
	bindFlag(cf, "p2p.external-addrs", "p2p multiaddrs to announce", func(c *node.Config) *[]string { return &c.P2P.ExternalAddrs }, fs.StringSliceVar, slices.Clone)
	bindFlag(cf, "p2p.persistent-peers", "peers to keep connected: multiaddrs ending in /p2p/<peer id>", func(c *node.Config) *[]string { return &c.P2P.PersistentPeers }, fs.StringSliceVar, slices.Clone)
	bindFlag(cf, "p2p.observers", "peer ids of observer nodes allowed to connect", func(c *node.Config) *[]string { return &c.P2P.Observers }, fs.StringSliceVar, slices.Clone)
	bindFlag(cf, "mempool.max-txs", "most transactions in the mempool", func(c *node.Config) *int { return &c.Mempool.MaxTxs }, fs.IntVar, same)
	bindFlag(cf, "mempool.max-bytes", "most bytes in the mempool", func(c *node.Config) *int { return &c.Mempool.MaxBytes }, fs.IntVar, same)
	bindFlag(cf, "mempool.max-tx-bytes", "largest transaction the mempool accepts", func(c *node.Config) *int { return &c.Mempool.MaxTxBytes }, fs.IntVar, same)
	bindFlag(cf, "mempool.max-nonce-gap", "how far ahead of a signer's next nonce a tx may be", func(c *node.Config) *uint64 { return &c.Mempool.MaxNonceGap }, fs.Uint64Var, same)
	bindFlag(cf, "mempool.max-signer-txs", "most transactions one signer may hold in the mempool", func(c *node.Config) *int { return &c.Mempool.MaxSignerTxs }, fs.IntVar, same)
	bindFlag(cf, "mempool.max-signer-bytes", "most bytes one signer may hold in the mempool", func(c *node.Config) *int { return &c.Mempool.MaxSignerBytes }, fs.IntVar, same)
	bindFlag(cf, "mempool.max-queued-percent", "share of the mempool (percent) for txs waiting behind a nonce gap", func(c *node.Config) *int { return &c.Mempool.MaxQueuedPercent }, fs.IntVar, same)
	bindFlag(cf, "mempool.queued-ttl-ms", "ms a tx may wait behind a nonce gap before it is dropped", func(c *node.Config) *int { return &c.Mempool.QueuedTTLMs }, fs.IntVar, same)
	bindFlag(cf, "mempool.max-backlog-ms", "API admission refuses txs while the runnable ones would take longer than this to commit (0: off)", func(c *node.Config) *int { return &c.Mempool.MaxBacklogMs }, fs.IntVar, same)
	bindFlag(cf, "mempool.min-backlog-txs", "the API admission bound never refuses below this many runnable txs", func(c *node.Config) *int { return &c.Mempool.MinBacklogTxs }, fs.IntVar, same)
	bindFlag(cf, "metrics.listen-addr", "Prometheus /metrics address host:port; empty: off", func(c *node.Config) *string { return &c.Metrics.ListenAddr }, fs.StringVar, same)
	bindFlag(cf, "metrics.max-conns", "most open connections to the metrics port", func(c *node.Config) *int { return &c.Metrics.MaxConns }, fs.IntVar, same)
	bindFlag(cf, "metrics.tls-cert-file", "metrics TLS certificate chain, PEM (relative to home)", func(c *node.Config) *string { return &c.Metrics.TLSCertFile }, fs.StringVar, same)
	bindFlag(cf, "metrics.tls-key-file", "metrics TLS private key, PEM (relative to home)", func(c *node.Config) *string { return &c.Metrics.TLSKeyFile }, fs.StringVar, same)
	bindFlag(cf, "metrics.insecure", "allow metrics without TLS on a non-loopback address", func(c *node.Config) *bool { return &c.Metrics.Insecure }, fs.BoolVar, same)
	bindFlag(cf, "debug.pprof", "serve net/http/pprof", func(c *node.Config) *bool { return &c.Debug.Pprof }, fs.BoolVar, same)
	bindFlag(cf, "debug.pprof-listen-addr", "pprof listen address host:port", func(c *node.Config) *string { return &c.Debug.PprofListenAddr }, fs.StringVar, same)
	bindFlag(cf, "debug.pprof-allow-remote", "allow pprof on a non-loopback address", func(c *node.Config) *bool { return &c.Debug.PprofAllowRemote }, fs.BoolVar, same)
	bindFlag(cf, "debug.pprof-max-conns", "most open connections to the pprof port", func(c *node.Config) *int { return &c.Debug.PprofMaxConns }, fs.IntVar, same)
	bindFlag(cf, "debug.pprof-insecure", "allow pprof without TLS (the API's pair) on a non-loopback address", func(c *node.Config) *bool { return &c.Debug.PprofInsecure }, fs.BoolVar, same)
	bindFlag(cf, "portal.listen-addr", "public verification page address host:port; empty: off", func(c *node.Config) *string { return &c.Portal.ListenAddr }, fs.StringVar, same)
	bindFlag(cf, "portal.public-url", "the portal's address as citizens reach it, the base of its QR links", func(c *node.Config) *string { return &c.Portal.PublicURL }, fs.StringVar, same)
	bindFlag(cf, "portal.max-conns", "most open connections to the portal", func(c *node.Config) *int { return &c.Portal.MaxConns }, fs.IntVar, same)
	bindFlag(cf, "portal.rate-limit-rps", "portal requests per second of one client address", func(c *node.Config) *int { return &c.Portal.RateLimitRPS }, fs.IntVar, same)
	bindFlag(cf, "portal.rate-limit-burst", "portal request burst of one client address", func(c *node.Config) *int { return &c.Portal.RateLimitBurst }, fs.IntVar, same)
	bindFlag(cf, "portal.rate-limit-max-keys", "most client addresses the portal's rate limit tracks", func(c *node.Config) *int { return &c.Portal.RateLimitMaxKeys }, fs.IntVar, same)
	bindFlag(cf, "portal.max-bundle-builds", "proof bundles the portal assembles at once", func(c *node.Config) *int { return &c.Portal.MaxBundleBuilds }, fs.IntVar, same)
	bindFlag(cf, "portal.insecure", "allow the portal without TLS on a non-loopback address", func(c *node.Config) *bool { return &c.Portal.Insecure }, fs.BoolVar, same)
	return cf
}

// apply copies the flags given on the command line into cfg; the root's
// --log-level applies when given. flags is the command's full flag set.
func (cf *configFlags) apply(c *cli, flags *pflag.FlagSet, cfg *node.Config) {
	for _, b := range cf.binds {
		b(cfg)
	}
	if flags.Changed("log-level") {
		cfg.LogLevel = c.logLevel
	}
}
