package node

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzLoadConfig writes arbitrary bytes as config.toml and loads it, as
// `govnode start` does with the operator's file. LoadConfig must not panic,
// and a file it accepts (it validates) must survive MarshalConfig and
// LoadConfig unchanged: `govnode init` and config rewrites go through
// MarshalConfig, so a value it cannot write back would silently change
// on the next rewrite. The corpus in testdata/fuzz/FuzzLoadConfig holds
// broken TOML, unknown keys, wrong types and odd strings.
func FuzzLoadConfig(f *testing.F) {
	f.Add(MarshalConfig(DefaultConfig(f.TempDir())))
	busy := DefaultConfig(f.TempDir())
	busy.Moniker = "dept \"0\" \\ registry\t\u00e9\x7f\x01"
	busy.ValidatorKeyFile = ""
	busy.P2P.PersistentPeers = []string{"/ip4/127.0.0.1/tcp/26666/p2p/12D3KooWAFVuBx4NkqWJhzoSvYwzLycDgnsoehcfCERDheEMi7G9"}
	busy.P2P.Observers = []string{"12D3KooWAFVuBx4NkqWJhzoSvYwzLycDgnsoehcfCERDheEMi7G9"}
	busy.Metrics.ListenAddr = ""
	busy.Debug.Pprof = true
	f.Add(MarshalConfig(busy))
	f.Add([]byte("moniker = \"m\"\nlog_level = \n"))
	f.Add([]byte("moniker = \"m\"\n\n[p2p]\nlisten_adrs = []\n"))

	// One directory pair per fuzzing process, rewritten by each input
	// (inputs run one at a time in a process): a t.TempDir per input
	// costs most of the time of an execution.
	dir, dir2 := f.TempDir(), f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(path)
		if err != nil {
			return
		}
		// LoadConfig validates; check it did.
		if err := cfg.Validate(); err != nil {
			t.Fatalf("LoadConfig returned a config that does not validate: %v", err)
		}
		if cfg.Home != dir {
			t.Fatalf("Home = %q, want the file's directory %q", cfg.Home, dir)
		}
		out := MarshalConfig(cfg)
		path2 := filepath.Join(dir2, "config.toml")
		if err := os.WriteFile(path2, out, 0o644); err != nil {
			t.Fatal(err)
		}
		back, err := LoadConfig(path2)
		if err != nil {
			t.Fatalf("MarshalConfig wrote a file LoadConfig refuses: %v\ninput:\n%q\nwritten:\n%s", err, data, out)
		}
		back.Home = cfg.Home
		if !reflect.DeepEqual(cfg, back) {
			t.Fatalf("round trip changed the config:\n got %#v\nwant %#v\ninput:\n%q\nwritten:\n%s", back, cfg, data, out)
		}
	})
}
