package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govnode/govnode/node/mempool"
)

// The mempool's keys are written to config.toml with their comments, read
// back, and reach mempool.Config.
func TestMempoolConfigKeysRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	cfg := DefaultConfig(dir)
	cfg.Mempool.MaxSignerTxs, cfg.Mempool.MaxSignerBytes = 9, 1<<21
	cfg.Mempool.MaxQueuedPercent, cfg.Mempool.QueuedTTLMs = 10, 90_000
	cfg.Mempool.MaxBacklogMs, cfg.Mempool.MinBacklogTxs = 750, 300
	if err := WriteConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"max_signer_txs = 9\n", "max_signer_bytes = 2097152\n", "max_queued_percent = 10\n", "queued_ttl_ms = 90000\n", "max_backlog_ms = 750\n", "min_backlog_txs = 300\n", "# Backpressure: the API refuses", "# A transaction whose signer has a lower nonce missing is queued"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("config file lacks %q", want)
		}
	}
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := mempool.Config{MaxTxs: 10000, MaxBytes: 64 << 20, MaxTxBytes: 64 << 10, MaxNonceGap: 64,
		MaxSignerTxs: 9, MaxSignerBytes: 1 << 21, MaxQueuedPercent: 10, QueuedTTL: 90 * time.Second,
		MaxBacklog: 750 * time.Millisecond, MinBacklogTxs: 300}
	if mc := got.Mempool.MempoolConfig(); mc != want {
		t.Fatalf("loaded %+v, want %+v", mc, want)
	}
}
