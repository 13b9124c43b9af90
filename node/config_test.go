package node

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultConfigValidates(t *testing.T) {
	cfg := DefaultConfig("/srv/govnode")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Debug.Pprof {
		t.Fatal("pprof must be off by default")
	}
	if !strings.HasPrefix(cfg.API.ListenAddr, "127.0.0.1:") || !strings.HasPrefix(cfg.Metrics.ListenAddr, "127.0.0.1:") {
		t.Fatal("API and metrics must default to localhost")
	}
	if got := cfg.ResolvePath(cfg.NodeKeyFile); got != "/srv/govnode/keys/node.key" {
		t.Fatalf("ResolvePath = %s", got)
	}
	if got := cfg.ResolvePath("/abs/g.json"); got != "/abs/g.json" {
		t.Fatalf("ResolvePath(abs) = %s", got)
	}
	if err := cfg.Mempool.MempoolConfig().Validate(); err != nil {
		t.Fatalf("default mempool section fails the mempool's own check: %v", err)
	}
}

func TestValidateNamesField(t *testing.T) {
	cases := []struct {
		field  string
		mutate func(c *Config)
		reason string
	}{
		{"moniker", func(c *Config) { c.Moniker = "" }, "empty"},
		{"log_level", func(c *Config) { c.LogLevel = "verbose" }, "unknown log level"},
		{"log_format", func(c *Config) { c.LogFormat = "xml" }, "unknown format"},
		{"data_dir", func(c *Config) { c.DataDir = "" }, "empty"},
		{"memory_limit_mib", func(c *Config) { c.MemoryLimitMiB = 64 }, "out of range"},
		{"memory_limit_mib", func(c *Config) { c.MemoryLimitMiB = -1 }, "out of range"},
		{"genesis_file", func(c *Config) { c.GenesisFile = "" }, "empty"},
		{"node_key_file", func(c *Config) { c.NodeKeyFile = "" }, "empty"},
		{"validator_key_file", func(c *Config) { c.ValidatorKeyFile = c.NodeKeyFile }, "same file"},
		{"api.listen_addr", func(c *Config) { c.API.ListenAddr = "localhost" }, "not host:port"},
		{"api.listen_addr", func(c *Config) { c.API.ListenAddr = "127.0.0.1:99999" }, "port"},
		{"api.listen_addr", func(c *Config) { c.API.ListenAddr = "" }, "empty"},
		{"api.max_conns", func(c *Config) { c.API.MaxConns = 0 }, "out of range 1..1048576"},
		{"api.max_conns", func(c *Config) { c.API.MaxConns = MaxHTTPConns + 1 }, "out of range"},
		{"api.read_header_timeout_ms", func(c *Config) { c.API.ReadHeaderTimeoutMs = 0 }, "out of range 1000..300000"},
		{"api.read_header_timeout_ms", func(c *Config) { c.API.ReadHeaderTimeoutMs = MaxHTTPReadHeaderTimeoutMs + 1 }, "out of range"},
		{"api.read_timeout_ms", func(c *Config) { c.API.ReadTimeoutMs = 999 }, "out of range 1000..600000"},
		{"api.read_timeout_ms", func(c *Config) { c.API.ReadTimeoutMs = 5000; c.API.ReadHeaderTimeoutMs = 6000 }, "below api.read_header_timeout_ms 6000"},
		{"api.write_timeout_ms", func(c *Config) { c.API.WriteTimeoutMs = -1 }, "out of range 1000..600000"},
		{"api.idle_timeout_ms", func(c *Config) { c.API.IdleTimeoutMs = MaxHTTPIdleTimeoutMs + 1 }, "out of range 1000..3600000"},
		{"api.allowed_hosts[1]", func(c *Config) { c.API.AllowedHosts = []string{"ok.internal", "http://evil"} }, "not a host name"},
		{"api.allowed_hosts[0]", func(c *Config) { c.API.AllowedHosts = []string{"node.internal:8080"} }, "without scheme or port"},
		{"api.allowed_hosts[0]", func(c *Config) { c.API.AllowedHosts = []string{"*.internal"} }, "not a host name"},
		{"api.allowed_hosts[0]", func(c *Config) { c.API.AllowedHosts = []string{""} }, "empty"},
		{"p2p.listen_addrs", func(c *Config) { c.P2P.ListenAddrs = nil }, "empty"},
		{"p2p.listen_addrs[1]", func(c *Config) { c.P2P.ListenAddrs[1] = "0.0.0.0:26656" }, "not a multiaddr"},
		{"p2p.external_addrs[0]", func(c *Config) { c.P2P.ExternalAddrs = []string{"/ip9/x"} }, "not a multiaddr"},
		{"p2p.persistent_peers[0]", func(c *Config) { c.P2P.PersistentPeers = []string{"/ip4/1.2.3.4/tcp/1"} }, "/p2p/<peer id>"},
		{"p2p.observers[0]", func(c *Config) { c.P2P.Observers = []string{"nope"} }, "not a peer id"},
		{"mempool.max_txs", func(c *Config) { c.Mempool.MaxTxs = 0 }, "must be > 0"},
		{"mempool.max_bytes", func(c *Config) { c.Mempool.MaxBytes = -1 }, "must be > 0"},
		{"mempool.max_tx_bytes", func(c *Config) { c.Mempool.MaxTxBytes = c.Mempool.MaxBytes + 1 }, "above mempool.max_bytes"},
		{"mempool.max_nonce_gap", func(c *Config) { c.Mempool.MaxNonceGap = 0 }, "must be > 0"},
		{"mempool.max_signer_txs", func(c *Config) { c.Mempool.MaxSignerTxs = 0 }, "must be > 0"},
		{"mempool.max_signer_bytes", func(c *Config) { c.Mempool.MaxSignerBytes = c.Mempool.MaxTxBytes - 1 }, "below mempool.max_tx_bytes"},
		{"mempool.max_queued_percent", func(c *Config) { c.Mempool.MaxQueuedPercent = 0 }, "out of range 1..50"},
		{"mempool.max_queued_percent", func(c *Config) { c.Mempool.MaxQueuedPercent = 51 }, "out of range 1..50"},
		{"mempool.queued_ttl_ms", func(c *Config) { c.Mempool.QueuedTTLMs = 999 }, "out of range 1000..3600000"},
		{"mempool.queued_ttl_ms", func(c *Config) { c.Mempool.QueuedTTLMs = 3_600_001 }, "out of range 1000..3600000"},
		{"mempool.max_backlog_ms", func(c *Config) { c.Mempool.MaxBacklogMs = 49 }, "out of range 50..60000 (0: off)"},
		{"mempool.max_backlog_ms", func(c *Config) { c.Mempool.MaxBacklogMs = 60_001 }, "out of range 50..60000 (0: off)"},
		{"mempool.min_backlog_txs", func(c *Config) { c.Mempool.MinBacklogTxs = 0 }, "want at least 1"},
		{"metrics.listen_addr", func(c *Config) { c.Metrics.ListenAddr = "nope" }, "not host:port"},
		{"metrics.max_conns", func(c *Config) { c.Metrics.MaxConns = 0 }, "out of range 1..1048576"},
		{"debug.pprof_max_conns", func(c *Config) { c.Debug.PprofMaxConns = -3 }, "out of range 1..1048576"},
		{"debug.pprof_listen_addr", func(c *Config) { c.Debug.Pprof = true; c.Debug.PprofListenAddr = "" }, "empty"},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			cfg := DefaultConfig(t.TempDir())
			tc.mutate(cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatal("Validate accepted a bad value")
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v does not name field %s", err, tc.field)
			}
			if !strings.Contains(err.Error(), tc.field+": ") || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %q lacks %q", err, tc.reason)
			}
		})
	}
	// Metrics off and pprof off with no address are fine.
	cfg := DefaultConfig("h")
	cfg.Metrics.ListenAddr = ""
	cfg.Debug.PprofListenAddr = ""
	cfg.ValidatorKeyFile = "" // observer
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestWriteLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	cfg := DefaultConfig(dir)
	cfg.Moniker = `dept "0" \ registry`
	cfg.P2P.PersistentPeers = []string{"/ip4/127.0.0.1/tcp/26666/p2p/12D3KooWAFVuBx4NkqWJhzoSvYwzLycDgnsoehcfCERDheEMi7G9"}
	cfg.P2P.Observers = []string{"12D3KooWAFVuBx4NkqWJhzoSvYwzLycDgnsoehcfCERDheEMi7G9"}
	cfg.Debug.Pprof = true
	cfg.Mempool.MaxTxs = 123
	cfg.MemoryLimitMiB = 700
	cfg.API.MaxConns = 77
	cfg.API.ReadHeaderTimeoutMs = 2000
	cfg.API.ReadTimeoutMs = 3000
	cfg.API.WriteTimeoutMs = 4000
	cfg.API.IdleTimeoutMs = 5000
	cfg.API.AllowedHosts = []string{"node.internal", "10.0.0.7", "::1"}
	cfg.Metrics.MaxConns = 5
	cfg.Debug.PprofAllowRemote = true
	cfg.Debug.PprofMaxConns = 2
	if err := WriteConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for _, want := range []string{"# ", "[api]", "[p2p]", "[mempool]", "[metrics]", "[debug]", "genesis_file", "observers", "persistent_peers", "pprof = true", "memory_limit_mib = 700",
		"max_conns = 77", "read_header_timeout_ms = 2000", "read_timeout_ms = 3000", "write_timeout_ms = 4000", "idle_timeout_ms = 5000",
		`allowed_hosts = [`, `"node.internal"`, "max_conns = 5", "pprof_allow_remote = true", "pprof_max_conns = 2"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("config file lacks %q", want)
		}
	}
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cfg) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, cfg)
	}
}

func TestLoadConfigKeepsDefaults(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	os.WriteFile(path, []byte("moniker = \"m\"\n[api]\nlisten_addr = \"127.0.0.1:9000\"\n"), 0o644)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig(dir)
	want.Moniker = "m"
	want.API.ListenAddr = "127.0.0.1:9000"
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v", cfg)
	}
}

func TestLoadConfigRefusesBadFiles(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string
	}{
		{"unknown key", "moniker = \"m\"\n\n[p2p]\nlisten_adrs = []\n", []string{`unknown key "p2p.listen_adrs"`, "line 4"}},
		{"unknown table", "[consensus]\ntimeout = 1\n", []string{"unknown key", "consensus"}},
		{"broken toml", "moniker = \"m\"\nlog_level = \n", []string{"line 2"}},
		{"unterminated string", "moniker = \"m\n", []string{"line 1"}},
		{"wrong type", "[mempool]\nmax_txs = \"many\"\n", []string{"line 2"}},
		{"bad value", "log_level = \"loud\"\n", []string{"log_level: ", "unknown log level"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.toml")
			os.WriteFile(path, []byte(tc.body), 0o644)
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatal("LoadConfig accepted a bad file")
			}
			for _, w := range append(tc.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestParseLogLevel(t *testing.T) {
	for _, l := range LogLevels {
		if _, err := ParseLogLevel(l); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseLogLevel("INFO+1"); err == nil {
		t.Error("accepted INFO+1")
	}
}
