package node

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/pelletier/go-toml/v2"

	"github.com/govnode/govnode/node/api"
	"github.com/govnode/govnode/node/mempool"
	"github.com/govnode/govnode/node/portal"
)

// Default ports: p2p (TCP and QUIC/UDP), then API, then metrics, the same
// spacing `govnode testnet` uses.
const (
	DefaultP2PPort     = 26656
	DefaultAPIPort     = 26657
	DefaultMetricsPort = 26658
)

// Log levels and formats accepted in Config.
var (
	LogLevels  = []string{"debug", "info", "warn", "error"}
	LogFormats = []string{"auto", "text", "json"}
)

// Config is a node's configuration, the contents of <home>/config.toml. The
// toml tag of each field is its key in the file and, with '_' written as
// '-', the name of its command-line flag (api.listen_addr is
// --api.listen-addr).
type Config struct {
	// Home is the node's home directory, against which relative paths are
	// resolved. It is not stored in the file: LoadConfig sets it to the
	// file's directory.
	Home string `toml:"-"`

	// Moniker is a human name for the node in logs and status.
	Moniker string `toml:"moniker"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log_level"`
	// LogFormat is text, json, or auto (text on a terminal, else json).
	LogFormat string `toml:"log_format"`
	// MemoryLimitMiB is a soft limit on the process's Go memory
	// (runtime/debug.SetMemoryLimit), which `govnode start` sets: the
	// garbage collector runs more often as the process nears it, trading
	// CPU for a smaller resident size. 0 leaves Go's default (the
	// GOMEMLIMIT environment variable, else no limit). Nodes that share a
	// machine (a local test network) use it to stay within their share.
	MemoryLimitMiB int `toml:"memory_limit_mib"`
	// DataDir holds the node's LevelDB and consensus safety state.
	DataDir string `toml:"data_dir"`
	// GenesisFile is the genesis document.
	GenesisFile string `toml:"genesis_file"`
	// ValidatorKeyFile is the consensus key; empty runs the node as an
	// observer that follows the chain without voting.
	ValidatorKeyFile string `toml:"validator_key_file"`
	// NodeKeyFile is the libp2p host key; its peer id is in genesis.
	NodeKeyFile string `toml:"node_key_file"`

	API     APISection     `toml:"api"`
	P2P     P2PSection     `toml:"p2p"`
	Mempool MempoolSection `toml:"mempool"`
	Metrics MetricsSection `toml:"metrics"`
	Portal  PortalSection  `toml:"portal"`
	Debug   DebugSection   `toml:"debug"`
}

// APISection configures the API server (gRPC and JSON over HTTP on one port).
// Its timeouts and AllowedHosts apply to every HTTP listener of the node:
// the API, metrics and pprof.
type APISection struct {
	// ListenAddr is host:port; bound to localhost unless configured.
	ListenAddr string `toml:"listen_addr"`
	// MaxConns caps the API's open connections; one more is closed at
	// once and counted (govnode_http_conns_refused_total).
	MaxConns int `toml:"max_conns"`
	// ReadHeaderTimeoutMs bounds the reading of a request's headers.
	ReadHeaderTimeoutMs int `toml:"read_header_timeout_ms"`
	// ReadTimeoutMs bounds the reading of a whole request, headers and
	// body: a client that sends its body slowly is cut off after it.
	ReadTimeoutMs int `toml:"read_timeout_ms"`
	// WriteTimeoutMs bounds each write of a response (not the whole
	// response, so event streams and waits for commit are not cut).
	WriteTimeoutMs int `toml:"write_timeout_ms"`
	// IdleTimeoutMs closes a keep-alive connection idle that long.
	IdleTimeoutMs int `toml:"idle_timeout_ms"`
	// AllowedHosts are Host names a loopback listener accepts besides
	// localhost and loopback IP addresses (DNS rebinding guard).
	AllowedHosts []string `toml:"allowed_hosts"`
	// TLSCertFile and TLSKeyFile, both or neither, serve the API over TLS
	// (HTTP/2 and HTTP/1.1): a PEM certificate chain and its private key
	// (`govnode init --tls` writes a self-signed pair). pprof uses the
	// same pair.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	// Insecure lets the API serve plaintext on a non-loopback address;
	// without it, or TLS, the node refuses to start with one
	// (docs/ARCHITECTURE.md §7).
	Insecure bool `toml:"insecure"`
	// ClientCertMaxValiditySec is the longest validity span, in seconds,
	// of a client certificate a caller authenticates with; a longer one is
	// refused (docs/ARCHITECTURE.md §6, "Authenticated callers").
	ClientCertMaxValiditySec int `toml:"client_cert_max_validity_s"`
	// Rate limits (docs/ARCHITECTURE.md §7): sustained requests per
	// second and burst of one authenticated identity, and of one remote
	// IP address for anonymous callers and failed authentications; 0
	// requests per second turns that limit off.
	RateLimitIdentityRPS   int `toml:"rate_limit_identity_rps"`
	RateLimitIdentityBurst int `toml:"rate_limit_identity_burst"`
	RateLimitAddressRPS    int `toml:"rate_limit_address_rps"`
	RateLimitAddressBurst  int `toml:"rate_limit_address_burst"`
	// RateLimitExemptLoopback lets requests from loopback addresses
	// through unlimited (the local CLI, `govnode bench`); turn it off
	// behind a reverse proxy on the same host.
	RateLimitExemptLoopback bool `toml:"rate_limit_exempt_loopback"`
	// RateLimitMaxKeys bounds the identities and addresses tracked; the
	// least recently seen is forgotten first.
	RateLimitMaxKeys int `toml:"rate_limit_max_keys"`
}

// Bounds of the API's authentication and rate-limit keys.
const (
	MinClientCertMaxValiditySec = 60
	MaxClientCertMaxValiditySec = 30 * 24 * 3600
	MaxRateLimitRPS             = 1_000_000
	MaxRateLimitKeys            = 10_000_000
)

// P2PSection configures the libp2p host.
type P2PSection struct {
	// ListenAddrs are multiaddrs to listen on (TCP and QUIC).
	ListenAddrs []string `toml:"listen_addrs"`
	// ExternalAddrs are multiaddrs to announce instead of the listen
	// addresses (behind NAT or a load balancer); empty announces those.
	ExternalAddrs []string `toml:"external_addrs"`
	// PersistentPeers are multiaddrs ending in /p2p/<peer id> that the node
	// keeps dialling.
	PersistentPeers []string `toml:"persistent_peers"`
	// Observers are peer ids of non-validator nodes (a public portal, a
	// department's read replica) that the permissioned gater admits
	// besides the validators in genesis.
	Observers []string `toml:"observers"`
}

// MempoolSection bounds the mempool; MempoolConfig converts it.
type MempoolSection struct {
	MaxTxs      int    `toml:"max_txs"`
	MaxBytes    int    `toml:"max_bytes"`
	MaxTxBytes  int    `toml:"max_tx_bytes"`
	MaxNonceGap uint64 `toml:"max_nonce_gap"`
	// MaxSignerTxs and MaxSignerBytes bound what one signer holds.
	MaxSignerTxs   int `toml:"max_signer_txs"`
	MaxSignerBytes int `toml:"max_signer_bytes"`
	// MaxQueuedPercent is the share of max_txs and max_bytes that txs
	// waiting behind a nonce gap may take; QueuedTTLMs how long such a
	// tx may wait.
	MaxQueuedPercent int `toml:"max_queued_percent"`
	QueuedTTLMs      int `toml:"queued_ttl_ms"`
	// MaxBacklogMs bounds what the API admits: the runnable txs may take
	// at most this long to commit at the chain's measured rate (0: off);
	// MinBacklogTxs is the floor of that bound (mempool.Config.MaxBacklog).
	MaxBacklogMs  int `toml:"max_backlog_ms"`
	MinBacklogTxs int `toml:"min_backlog_txs"`
}

// MempoolConfig is the section as the mempool takes it.
func (s MempoolSection) MempoolConfig() mempool.Config {
	return mempool.Config{MaxTxs: s.MaxTxs, MaxBytes: s.MaxBytes, MaxTxBytes: s.MaxTxBytes, MaxNonceGap: s.MaxNonceGap,
		MaxSignerTxs: s.MaxSignerTxs, MaxSignerBytes: s.MaxSignerBytes,
		MaxQueuedPercent: s.MaxQueuedPercent, QueuedTTL: time.Duration(s.QueuedTTLMs) * time.Millisecond,
		MaxBacklog: time.Duration(s.MaxBacklogMs) * time.Millisecond, MinBacklogTxs: s.MinBacklogTxs}
}

// mempoolSection is c as the config file writes it.
func mempoolSection(c mempool.Config) MempoolSection {
	return MempoolSection{MaxTxs: c.MaxTxs, MaxBytes: c.MaxBytes, MaxTxBytes: c.MaxTxBytes, MaxNonceGap: c.MaxNonceGap,
		MaxSignerTxs: c.MaxSignerTxs, MaxSignerBytes: c.MaxSignerBytes,
		MaxQueuedPercent: c.MaxQueuedPercent, QueuedTTLMs: int(c.QueuedTTL / time.Millisecond),
		MaxBacklogMs: int(c.MaxBacklog / time.Millisecond), MinBacklogTxs: c.MinBacklogTxs}
}

// MetricsSection configures the Prometheus endpoint.
type MetricsSection struct {
	// ListenAddr serves /metrics; empty turns metrics off.
	ListenAddr string `toml:"listen_addr"`
	// MaxConns caps the metrics port's open connections.
	MaxConns int `toml:"max_conns"`
	// TLSCertFile and TLSKeyFile, both or neither, serve /metrics over
	// TLS; `govnode init --tls` sets them to the API's pair.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	// Insecure lets metrics serve plaintext on a non-loopback address.
	Insecure bool `toml:"insecure"`
}

// PortalSection configures the public verification page (node/portal,
// issue 21): read-only, rate limited, over TLS with the API's pair when
// it is set (never asking for a client certificate). The api section's
// timeouts bound its connections too.
type PortalSection struct {
	// ListenAddr serves the portal; empty turns it off.
	ListenAddr string `toml:"listen_addr"`
	// PublicURL is the portal's address as citizens reach it
	// (https://verify.example.gov), the base of the links its QR codes
	// carry; empty takes the address each request came to.
	PublicURL string `toml:"public_url"`
	// MaxConns caps the portal's open connections.
	MaxConns int `toml:"max_conns"`
	// RateLimitRPS and RateLimitBurst are the requests per second and
	// burst of one client address (an IPv6 /64); RateLimitMaxKeys bounds
	// the addresses tracked.
	RateLimitRPS     int `toml:"rate_limit_rps"`
	RateLimitBurst   int `toml:"rate_limit_burst"`
	RateLimitMaxKeys int `toml:"rate_limit_max_keys"`
	// MaxBundleBuilds bounds the proof bundles the portal assembles at
	// once (the node builds at most api.MaxConcurrentBundles, API and
	// portal together: the default leaves the API room).
	MaxBundleBuilds int `toml:"max_bundle_builds"`
	// Insecure lets the portal serve plaintext on a non-loopback address
	// (behind a TLS proxy).
	Insecure bool `toml:"insecure"`
}

// DebugSection holds switches for diagnosis, off by default.
type DebugSection struct {
	// Pprof serves net/http/pprof on PprofListenAddr.
	Pprof           bool   `toml:"pprof"`
	PprofListenAddr string `toml:"pprof_listen_addr"`
	// PprofAllowRemote lets pprof_listen_addr be a non-loopback address;
	// without it the node refuses to start with one.
	PprofAllowRemote bool `toml:"pprof_allow_remote"`
	// PprofMaxConns caps the pprof port's open connections.
	PprofMaxConns int `toml:"pprof_max_conns"`
	// PprofInsecure lets pprof serve plaintext on a non-loopback address
	// (with PprofAllowRemote); with the API's TLS pair set, pprof is
	// served over TLS with it and needs no such key.
	PprofInsecure bool `toml:"pprof_insecure"`
}

// MinMemoryLimitMiB is the smallest memory_limit_mib accepted: below it
// the node's caches and LevelDB buffers alone would keep the garbage
// collector running without pause.
const MinMemoryLimitMiB = 256

// Bounds of the HTTP listeners' keys. A timeout under a second would cut
// off ordinary clients on a slow link; one over the maximum would let a
// slow client hold a connection for that long.
const (
	MinHTTPTimeoutMs           = 1000
	MaxHTTPReadHeaderTimeoutMs = 5 * 60 * 1000
	MaxHTTPTimeoutMs           = 10 * 60 * 1000
	MaxHTTPIdleTimeoutMs       = 60 * 60 * 1000
	MaxHTTPConns               = 1 << 20
)

// DefaultConfig is a working configuration for a node whose home is home:
// API and metrics on localhost, p2p on every interface, paths inside home.
func DefaultConfig(home string) *Config {
	return &Config{
		Home:             home,
		Moniker:          "node",
		LogLevel:         "info",
		LogFormat:        "auto",
		DataDir:          "data",
		GenesisFile:      "genesis.json",
		ValidatorKeyFile: filepath.Join("keys", "validator.key"),
		NodeKeyFile:      filepath.Join("keys", "node.key"),
		API: APISection{
			ListenAddr:          net.JoinHostPort("127.0.0.1", strconv.Itoa(DefaultAPIPort)),
			MaxConns:            1024,
			ReadHeaderTimeoutMs: 10_000,
			ReadTimeoutMs:       30_000,
			WriteTimeoutMs:      30_000,
			IdleTimeoutMs:       60_000,
			AllowedHosts:        []string{},

			ClientCertMaxValiditySec: int(api.DefaultClientCertMaxValidity / time.Second),
			RateLimitIdentityRPS:     api.DefaultIdentityRate,
			RateLimitIdentityBurst:   api.DefaultIdentityBurst,
			RateLimitAddressRPS:      api.DefaultAddrRate,
			RateLimitAddressBurst:    api.DefaultAddrBurst,
			RateLimitExemptLoopback:  true,
			RateLimitMaxKeys:         api.DefaultRateLimitKeys,
		},
		P2P: P2PSection{
			ListenAddrs: []string{
				fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", DefaultP2PPort),
				fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", DefaultP2PPort),
			},
			ExternalAddrs:   []string{},
			PersistentPeers: []string{},
			Observers:       []string{},
		},
		Mempool: mempoolSection(mempool.DefaultConfig()),
		Metrics: MetricsSection{ListenAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(DefaultMetricsPort)), MaxConns: 64},
		Portal: PortalSection{MaxConns: portal.DefaultMaxConns, RateLimitRPS: portal.DefaultRate, RateLimitBurst: portal.DefaultBurst,
			RateLimitMaxKeys: portal.DefaultMaxKeys, MaxBundleBuilds: portal.DefaultMaxBundleBuilds},
		Debug: DebugSection{Pprof: false, PprofListenAddr: "127.0.0.1:6060", PprofMaxConns: 8},
	}
}

// ResolvePath returns p if it is absolute, else p joined to c.Home. An
// empty p stays empty.
func (c *Config) ResolvePath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Home, p)
}

// ParseLogLevel maps one of LogLevels to its slog level.
func ParseLogLevel(s string) (slog.Level, error) {
	switch s {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	default:
		return 0, fmt.Errorf("unknown log level %q (want one of %s)", s, strings.Join(LogLevels, ", "))
	}
}

// FieldError is a bad configuration value: the TOML key and the reason.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Validate checks every field and returns all problems found, joined, each
// a *FieldError naming the field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(c.Moniker) == "" {
		bad("moniker", "empty")
	}
	if _, err := ParseLogLevel(c.LogLevel); err != nil {
		bad("log_level", "%v", err)
	}
	if !contains(LogFormats, c.LogFormat) {
		bad("log_format", "unknown format %q (want one of %s)", c.LogFormat, strings.Join(LogFormats, ", "))
	}
	if m := c.MemoryLimitMiB; m != 0 && (m < MinMemoryLimitMiB || m > 1<<22) {
		bad("memory_limit_mib", "%d out of range: 0 (off) or %d..%d", m, MinMemoryLimitMiB, 1<<22)
	}
	if c.DataDir == "" {
		bad("data_dir", "empty")
	}
	if c.GenesisFile == "" {
		bad("genesis_file", "empty")
	}
	if c.NodeKeyFile == "" {
		bad("node_key_file", "empty")
	}
	if c.ValidatorKeyFile != "" && c.ResolvePath(c.ValidatorKeyFile) == c.ResolvePath(c.NodeKeyFile) {
		bad("validator_key_file", "same file as node_key_file: the consensus and node keys must differ")
	}

	if err := checkHostPort(c.API.ListenAddr); err != nil {
		bad("api.listen_addr", "%v", err)
	}
	a := c.API
	inRange := func(field string, v, lo, hi int) bool {
		if v < lo || v > hi {
			bad(field, "%d out of range %d..%d", v, lo, hi)
			return false
		}
		return true
	}
	inRange("api.max_conns", a.MaxConns, 1, MaxHTTPConns)
	hdrOK := inRange("api.read_header_timeout_ms", a.ReadHeaderTimeoutMs, MinHTTPTimeoutMs, MaxHTTPReadHeaderTimeoutMs)
	if inRange("api.read_timeout_ms", a.ReadTimeoutMs, MinHTTPTimeoutMs, MaxHTTPTimeoutMs) && hdrOK && a.ReadTimeoutMs < a.ReadHeaderTimeoutMs {
		bad("api.read_timeout_ms", "%d is below api.read_header_timeout_ms %d: it bounds the headers and the body together", a.ReadTimeoutMs, a.ReadHeaderTimeoutMs)
	}
	inRange("api.write_timeout_ms", a.WriteTimeoutMs, MinHTTPTimeoutMs, MaxHTTPTimeoutMs)
	inRange("api.idle_timeout_ms", a.IdleTimeoutMs, MinHTTPTimeoutMs, MaxHTTPIdleTimeoutMs)
	for i, h := range a.AllowedHosts {
		if err := checkHostName(h); err != nil {
			bad(fmt.Sprintf("api.allowed_hosts[%d]", i), "%v", err)
		}
	}
	checkTLSPair(bad, "api", a.TLSCertFile, a.TLSKeyFile)
	inRange("api.client_cert_max_validity_s", a.ClientCertMaxValiditySec, MinClientCertMaxValiditySec, MaxClientCertMaxValiditySec)
	inRange("api.rate_limit_identity_rps", a.RateLimitIdentityRPS, 0, MaxRateLimitRPS)
	inRange("api.rate_limit_address_rps", a.RateLimitAddressRPS, 0, MaxRateLimitRPS)
	if a.RateLimitIdentityRPS > 0 {
		inRange("api.rate_limit_identity_burst", a.RateLimitIdentityBurst, 1, MaxRateLimitRPS)
	}
	if a.RateLimitAddressRPS > 0 {
		inRange("api.rate_limit_address_burst", a.RateLimitAddressBurst, 1, MaxRateLimitRPS)
	}
	inRange("api.rate_limit_max_keys", a.RateLimitMaxKeys, 1, MaxRateLimitKeys)
	if len(c.P2P.ListenAddrs) == 0 {
		bad("p2p.listen_addrs", "empty: the node needs at least one address to listen on")
	}
	for i, a := range c.P2P.ListenAddrs {
		if _, err := ma.NewMultiaddr(a); err != nil {
			bad(fmt.Sprintf("p2p.listen_addrs[%d]", i), "%q is not a multiaddr: %v", a, err)
		}
	}
	for i, a := range c.P2P.ExternalAddrs {
		if _, err := ma.NewMultiaddr(a); err != nil {
			bad(fmt.Sprintf("p2p.external_addrs[%d]", i), "%q is not a multiaddr: %v", a, err)
		}
	}
	for i, a := range c.P2P.PersistentPeers {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			bad(fmt.Sprintf("p2p.persistent_peers[%d]", i), "%q is not a multiaddr: %v", a, err)
			continue
		}
		if _, err := peer.AddrInfoFromP2pAddr(m); err != nil {
			bad(fmt.Sprintf("p2p.persistent_peers[%d]", i), "%q must end in /p2p/<peer id>: %v", a, err)
		}
	}
	for i, id := range c.P2P.Observers {
		if _, err := peer.Decode(id); err != nil {
			bad(fmt.Sprintf("p2p.observers[%d]", i), "%q is not a peer id: %v", id, err)
		}
	}

	m := c.Mempool
	if m.MaxTxs <= 0 {
		bad("mempool.max_txs", "must be > 0, got %d", m.MaxTxs)
	}
	if m.MaxBytes <= 0 {
		bad("mempool.max_bytes", "must be > 0, got %d", m.MaxBytes)
	}
	if m.MaxTxBytes <= 0 {
		bad("mempool.max_tx_bytes", "must be > 0, got %d", m.MaxTxBytes)
	} else if m.MaxBytes > 0 && m.MaxTxBytes > m.MaxBytes {
		bad("mempool.max_tx_bytes", "%d is above mempool.max_bytes %d", m.MaxTxBytes, m.MaxBytes)
	}
	if m.MaxNonceGap == 0 {
		bad("mempool.max_nonce_gap", "must be > 0")
	}
	if m.MaxSignerTxs <= 0 {
		bad("mempool.max_signer_txs", "must be > 0, got %d", m.MaxSignerTxs)
	}
	if m.MaxSignerBytes < m.MaxTxBytes {
		bad("mempool.max_signer_bytes", "%d is below mempool.max_tx_bytes %d: a signer could not hold the largest tx", m.MaxSignerBytes, m.MaxTxBytes)
	}
	if p := m.MaxQueuedPercent; p < 1 || p > mempool.MaxQueuedPercent {
		bad("mempool.max_queued_percent", "%d out of range 1..%d", p, mempool.MaxQueuedPercent)
	}
	if ms, lo, hi := m.QueuedTTLMs, int(mempool.MinQueuedTTL/time.Millisecond), int(mempool.MaxQueuedTTL/time.Millisecond); ms < lo || ms > hi {
		bad("mempool.queued_ttl_ms", "%d out of range %d..%d", ms, lo, hi)
	}
	if ms, lo, hi := m.MaxBacklogMs, int(mempool.MinMaxBacklog/time.Millisecond), int(mempool.MaxMaxBacklog/time.Millisecond); ms != 0 && (ms < lo || ms > hi) {
		bad("mempool.max_backlog_ms", "%d out of range %d..%d (0: off)", ms, lo, hi)
	}
	if m.MaxBacklogMs != 0 && m.MinBacklogTxs < 1 {
		bad("mempool.min_backlog_txs", "%d: want at least 1 (above mempool.max_txs, max_txs bounds the mempool first)", m.MinBacklogTxs)
	}
	if len(errs) == 0 {
		// The mempool's own rules, should they grow beyond the ones above.
		if err := m.MempoolConfig().Validate(); err != nil {
			bad("mempool", "%v", err)
		}
	}

	if c.Metrics.ListenAddr != "" {
		if err := checkHostPort(c.Metrics.ListenAddr); err != nil {
			bad("metrics.listen_addr", "%v", err)
		}
	}
	inRange("metrics.max_conns", c.Metrics.MaxConns, 1, MaxHTTPConns)
	checkTLSPair(bad, "metrics", c.Metrics.TLSCertFile, c.Metrics.TLSKeyFile)
	if c.Debug.Pprof {
		if err := checkHostPort(c.Debug.PprofListenAddr); err != nil {
			bad("debug.pprof_listen_addr", "%v", err)
		}
	}
	inRange("debug.pprof_max_conns", c.Debug.PprofMaxConns, 1, MaxHTTPConns)
	if p := c.Portal; p.ListenAddr != "" {
		if err := checkHostPort(p.ListenAddr); err != nil {
			bad("portal.listen_addr", "%v", err)
		}
		if p.PublicURL != "" {
			if err := portal.CheckPublicURL(p.PublicURL); err != nil {
				bad("portal.public_url", "%v", err)
			}
		}
	}
	inRange("portal.max_conns", c.Portal.MaxConns, 1, MaxHTTPConns)
	inRange("portal.rate_limit_rps", c.Portal.RateLimitRPS, 1, MaxRateLimitRPS)
	inRange("portal.rate_limit_burst", c.Portal.RateLimitBurst, 1, MaxRateLimitRPS)
	inRange("portal.rate_limit_max_keys", c.Portal.RateLimitMaxKeys, 1, MaxRateLimitKeys)
	inRange("portal.max_bundle_builds", c.Portal.MaxBundleBuilds, 1, portal.MaxBundleBuildsLimit)
	return errors.Join(errs...)
}

// checkTLSPair reports a TLS certificate without its key or a key
// without its certificate, in section sec. The files themselves are
// checked by LoadTLS, which the node calls at start.
func checkTLSPair(bad func(field, format string, args ...any), sec, cert, key string) {
	switch {
	case cert != "" && key == "":
		bad(sec+".tls_key_file", "empty while %s.tls_cert_file is set: give both the certificate and its key, or neither", sec)
	case cert == "" && key != "":
		bad(sec+".tls_cert_file", "empty while %s.tls_key_file is set: give both the certificate and its key, or neither", sec)
	}
}

func checkHostPort(addr string) error {
	if addr == "" {
		return errors.New("empty (want host:port)")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %v", addr, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q is not a number in 0..65535", addr, port)
	} else if n == 0 {
		return fmt.Errorf("%q: port 0 picks a random port, give a fixed one", addr)
	}
	return nil
}

// checkHostName accepts a DNS name or an IP address as it appears in a
// Host header, without port or scheme.
func checkHostName(h string) error {
	if h == "" {
		return errors.New("empty (want a host name such as node.internal)")
	}
	if net.ParseIP(h) != nil {
		return nil
	}
	if len(h) > 253 {
		return fmt.Errorf("%q is longer than 253 bytes", h)
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%q is not a host name: empty or over-long label (want a name such as node.internal, without scheme or port)", h)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("%q is not a host name: %q not allowed (want a name such as node.internal, without scheme or port)", h, r)
			}
		}
	}
	return nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// LoadConfig reads the TOML file at path over DefaultConfig(dir of path),
// so keys left out keep their defaults, then validates it. An unknown key
// is an error naming the key and its line; broken TOML an error naming the
// line and column.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	cfg := DefaultConfig(filepath.Dir(path))
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		var strict *toml.StrictMissingError
		var de *toml.DecodeError
		switch {
		case errors.As(err, &strict):
			var keys []string
			for _, e := range strict.Errors {
				row, _ := e.Position()
				keys = append(keys, fmt.Sprintf("%q (line %d)", strings.Join(e.Key(), "."), row))
			}
			return nil, fmt.Errorf("load config %s: unknown key %s", path, strings.Join(keys, ", "))
		case errors.As(err, &de):
			row, col := de.Position()
			return nil, fmt.Errorf("load config %s: line %d, column %d: %s", path, row, col, de.Error())
		default:
			return nil, fmt.Errorf("load config %s: %w", path, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("load config %s: %w", path, err)
	}
	return cfg, nil
}

// WriteConfig writes cfg to path as commented TOML (mode 0644), replacing
// any file there, through a temporary file and a rename.
func WriteConfig(path string, cfg *Config) error {
	data := MarshalConfig(cfg)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Chmod(0o644)
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("write config %s: %w", path, werr)
	}
	return nil
}

// MarshalConfig renders cfg as the commented TOML that WriteConfig writes.
func MarshalConfig(cfg *Config) []byte {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# govnode node configuration.\n")
	p("#\n")
	p("# Relative paths are relative to the directory of this file (the node's home).\n")
	p("# Every key can be overridden on the command line: the flag is the key with\n")
	p("# '_' written as '-', e.g. api.listen_addr is --api.listen-addr.\n\n")

	p("# Human name of the node in logs and status.\n")
	p("moniker = %s\n\n", tomlString(cfg.Moniker))
	p("# Log level: debug, info, warn or error.\n")
	p("log_level = %s\n", tomlString(cfg.LogLevel))
	p("# Log format: text, json, or auto (text on a terminal, json otherwise).\n")
	p("log_format = %s\n\n", tomlString(cfg.LogFormat))
	p("# Soft limit on the node's memory in MiB: the garbage collector works harder\n")
	p("# near it, trading CPU for resident size. 0: Go's default (GOMEMLIMIT, else none).\n")
	p("memory_limit_mib = %d\n\n", cfg.MemoryLimitMiB)
	p("# Directory of the block and state database and of the consensus safety state.\n")
	p("data_dir = %s\n\n", tomlString(cfg.DataDir))
	p("# Genesis document of the chain this node joins.\n")
	p("genesis_file = %s\n\n", tomlString(cfg.GenesisFile))
	p("# Consensus (validator) key file. Leave empty to run an observer that follows\n")
	p("# the chain without voting.\n")
	p("validator_key_file = %s\n\n", tomlString(cfg.ValidatorKeyFile))
	p("# libp2p node key file; its peer id is the one listed in genesis.\n")
	p("node_key_file = %s\n\n", tomlString(cfg.NodeKeyFile))

	p("[api]\n")
	p("# gRPC and JSON-over-HTTP API, host:port. Keep it on localhost unless a proxy\n")
	p("# or firewall guards it.\n")
	p("listen_addr = %s\n", tomlString(cfg.API.ListenAddr))
	p("# Most open API connections; one more is closed at once and counted in\n")
	p("# govnode_http_conns_refused_total.\n")
	p("max_conns = %d\n", cfg.API.MaxConns)
	p("# Timeouts in milliseconds of every HTTP listener (API, metrics, pprof):\n")
	p("# reading a request's headers; reading its headers and body together (a\n")
	p("# client that sends its body slowly is cut off); each write of a response\n")
	p("# (event streams and waits for commit may last longer, as long as the client\n")
	p("# reads); a keep-alive connection left idle.\n")
	p("read_header_timeout_ms = %d\n", cfg.API.ReadHeaderTimeoutMs)
	p("read_timeout_ms = %d\n", cfg.API.ReadTimeoutMs)
	p("write_timeout_ms = %d\n", cfg.API.WriteTimeoutMs)
	p("idle_timeout_ms = %d\n", cfg.API.IdleTimeoutMs)
	p("# Host names a listener on a loopback address accepts besides localhost and\n")
	p("# loopback IPs; other Host headers get 403, against DNS rebinding by web pages.\n")
	p("allowed_hosts = %s\n", tomlStrings(cfg.API.AllowedHosts))
	p("# TLS: a PEM certificate chain and its private key, both or neither; with them\n")
	p("# the API speaks HTTP/2 and HTTP/1.1 over TLS (1.2 at least) and nothing in\n")
	p("# plaintext. `govnode init --tls` writes a self-signed pair. pprof uses it too.\n")
	p("tls_cert_file = %s\n", tomlString(cfg.API.TLSCertFile))
	p("tls_key_file = %s\n", tomlString(cfg.API.TLSKeyFile))
	p("# On a non-loopback address without TLS the node refuses to start unless this\n")
	p("# is true: set it only if a TLS proxy or a closed network guards the port.\n")
	p("insecure = %t\n", cfg.API.Insecure)
	p("# Callers authenticate with a short-lived client certificate signed by their\n")
	p("# identity key (`govnode keys client-cert`, or --key/--signer of the CLI), over\n")
	p("# TLS only: without TLS every caller is anonymous. The longest validity span,\n")
	p("# in seconds, of a certificate the node accepts.\n")
	p("client_cert_max_validity_s = %d\n", cfg.API.ClientCertMaxValiditySec)
	p("# Rate limits: requests per second and burst of one authenticated identity,\n")
	p("# and of one remote IP address (anonymous callers, failed authentications);\n")
	p("# 0 per second turns a limit off. Refused: resource_exhausted and Retry-After.\n")
	p("rate_limit_identity_rps = %d\n", cfg.API.RateLimitIdentityRPS)
	p("rate_limit_identity_burst = %d\n", cfg.API.RateLimitIdentityBurst)
	p("rate_limit_address_rps = %d\n", cfg.API.RateLimitAddressRPS)
	p("rate_limit_address_burst = %d\n", cfg.API.RateLimitAddressBurst)
	p("# Loopback callers are not limited (the local CLI, govnode bench). Behind a\n")
	p("# reverse proxy on this host every caller is loopback: set it to false there.\n")
	p("rate_limit_exempt_loopback = %t\n", cfg.API.RateLimitExemptLoopback)
	p("# Most identities and addresses tracked; the least recently seen goes first.\n")
	p("rate_limit_max_keys = %d\n\n", cfg.API.RateLimitMaxKeys)

	p("[p2p]\n")
	p("# Multiaddrs to listen on: TCP and QUIC (UDP) on the same port.\n")
	p("listen_addrs = %s\n", tomlStrings(cfg.P2P.ListenAddrs))
	p("# Multiaddrs to announce instead of the listen addresses (NAT, load balancer).\n")
	p("external_addrs = %s\n", tomlStrings(cfg.P2P.ExternalAddrs))
	p("# Peers to keep connected to: multiaddrs ending in /p2p/<peer id>.\n")
	p("persistent_peers = %s\n", tomlStrings(cfg.P2P.PersistentPeers))
	p("# Peer ids of observer nodes (non-validators) allowed to connect and sync.\n")
	p("observers = %s\n\n", tomlStrings(cfg.P2P.Observers))

	p("[mempool]\n")
	p("# Most transactions and bytes the mempool holds.\n")
	p("max_txs = %d\n", cfg.Mempool.MaxTxs)
	p("max_bytes = %d\n", cfg.Mempool.MaxBytes)
	p("# Largest transaction accepted (the chain's params.max_tx_bytes also applies).\n")
	p("max_tx_bytes = %d\n", cfg.Mempool.MaxTxBytes)
	p("# How far ahead of a signer's next nonce a pending transaction may be.\n")
	p("max_nonce_gap = %d\n", cfg.Mempool.MaxNonceGap)
	p("# Most transactions and bytes one signer may hold; more are refused until\n")
	p("# some commit.\n")
	p("max_signer_txs = %d\n", cfg.Mempool.MaxSignerTxs)
	p("max_signer_bytes = %d\n", cfg.Mempool.MaxSignerBytes)
	p("# A transaction whose signer has a lower nonce missing is queued: it cannot\n")
	p("# run until the gap fills. Queued transactions may take this percentage of\n")
	p("# max_txs and of max_bytes (1..%d), and a runnable transaction that finds the\n", mempool.MaxQueuedPercent)
	p("# mempool full evicts them; one still queued after queued_ttl_ms is dropped.\n")
	p("max_queued_percent = %d\n", cfg.Mempool.MaxQueuedPercent)
	p("queued_ttl_ms = %d\n", cfg.Mempool.QueuedTTLMs)
	p("# Backpressure: the API refuses transactions (ResourceExhausted, with when to\n")
	p("# retry) while the runnable ones would take longer than max_backlog_ms to\n")
	p("# commit at the chain's measured commit rate, but never below min_backlog_txs\n")
	p("# of them. Transactions from peers are not refused. 0 turns it off.\n")
	p("max_backlog_ms = %d\n", cfg.Mempool.MaxBacklogMs)
	p("min_backlog_txs = %d\n\n", cfg.Mempool.MinBacklogTxs)

	p("[metrics]\n")
	p("# Prometheus /metrics endpoint, host:port; empty turns it off.\n")
	p("listen_addr = %s\n", tomlString(cfg.Metrics.ListenAddr))
	p("# Most open connections to the metrics port.\n")
	p("max_conns = %d\n", cfg.Metrics.MaxConns)
	p("# TLS certificate chain and key of the metrics port, both or neither.\n")
	p("tls_cert_file = %s\n", tomlString(cfg.Metrics.TLSCertFile))
	p("tls_key_file = %s\n", tomlString(cfg.Metrics.TLSKeyFile))
	p("# Plaintext metrics on a non-loopback address are refused unless this is true.\n")
	p("insecure = %t\n\n", cfg.Metrics.Insecure)

	p("[portal]\n")
	p("# The public verification page, host:port; empty turns it off. Read-only and\n")
	p("# rate limited: a record's proof bundle (public content only), the genesis\n")
	p("# hash, QR codes of verification links; the browser verifies. Over TLS with\n")
	p("# api.tls_cert_file and api.tls_key_file when they are set.\n")
	p("listen_addr = %s\n", tomlString(cfg.Portal.ListenAddr))
	p("# The portal's address as citizens reach it (https://verify.example.gov), the\n")
	p("# base of the links in its QR codes; empty: the address each request came to.\n")
	p("public_url = %s\n", tomlString(cfg.Portal.PublicURL))
	p("# Most open connections to the portal.\n")
	p("max_conns = %d\n", cfg.Portal.MaxConns)
	p("# Requests per second and burst of one client address (an IPv6 /64), and the\n")
	p("# most addresses tracked. Refused: 429 with Retry-After.\n")
	p("rate_limit_rps = %d\n", cfg.Portal.RateLimitRPS)
	p("rate_limit_burst = %d\n", cfg.Portal.RateLimitBurst)
	p("rate_limit_max_keys = %d\n", cfg.Portal.RateLimitMaxKeys)
	p("# Most proof bundles assembled at once; more get 503 with Retry-After.\n")
	p("max_bundle_builds = %d\n", cfg.Portal.MaxBundleBuilds)
	p("# Plaintext on a non-loopback address is refused unless this is true (a TLS\n")
	p("# proxy in front): the page carries the verifier, which must arrive intact.\n")
	p("insecure = %t\n\n", cfg.Portal.Insecure)

	p("[debug]\n")
	p("# Serve net/http/pprof on pprof_listen_addr. Off by default: it exposes\n")
	p("# internals and costs CPU when profiles are taken.\n")
	p("pprof = %t\n", cfg.Debug.Pprof)
	p("pprof_listen_addr = %s\n", tomlString(cfg.Debug.PprofListenAddr))
	p("# pprof on a non-loopback address is refused unless this is true: anyone who\n")
	p("# reaches it can read the node's internals and make it burn CPU.\n")
	p("pprof_allow_remote = %t\n", cfg.Debug.PprofAllowRemote)
	p("# Most open connections to the pprof port.\n")
	p("pprof_max_conns = %d\n", cfg.Debug.PprofMaxConns)
	p("# pprof is served over TLS with api.tls_cert_file and api.tls_key_file when\n")
	p("# they are set; plaintext pprof on a non-loopback address also needs this.\n")
	p("pprof_insecure = %t\n", cfg.Debug.PprofInsecure)
	return b.Bytes()
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlStrings(xs []string) string {
	if len(xs) == 0 {
		return "[]"
	}
	var b strings.Builder
	b.WriteString("[\n")
	for _, x := range xs {
		b.WriteString("  ")
		b.WriteString(tomlString(x))
		b.WriteString(",\n")
	}
	b.WriteString("]")
	return b.String()
}
