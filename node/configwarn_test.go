package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An empty config file, or one of comments only, and p2p on an unspecified
// address are reported; a file that sets keys and specific addresses is
// not.
func TestConfigWarnings(t *testing.T) {
	cases := []struct {
		name string
		file string
		// p2p are the listen addresses (nil: the default, 0.0.0.0).
		p2p  []string
		want []string // substrings, one per expected warning
	}{
		{name: "empty file", file: "",
			want: []string{"sets no key", "every network interface"}},
		{name: "comments and blank lines only", file: "# nothing yet\n\n   # still nothing\n",
			want: []string{"sets no key", "every network interface"}},
		{name: "empty file, loopback p2p from flags", file: "", p2p: []string{"/ip4/127.0.0.1/tcp/26656"},
			want: []string{"sets no key"}},
		{name: "keys, default p2p", file: "moniker = \"dept1\"\n",
			want: []string{"/ip4/0.0.0.0/tcp/26656, /ip4/0.0.0.0/udp/26656/quic-v1 listen on every network interface"}},
		{name: "keys, specific p2p", file: "moniker = \"dept1\"\n",
			p2p: []string{"/ip4/10.1.2.3/tcp/26656", "/ip6/fd00::1/udp/26656/quic-v1", "/dns4/node.dept1.example/tcp/26656"}},
		{name: "IPv6 unspecified", file: "moniker = \"dept1\"\n", p2p: []string{"/ip4/10.1.2.3/tcp/26656", "/ip6/::/tcp/26656"},
			want: []string{"/ip6/::/tcp/26656 listen on every network interface"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.toml")
			if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			// The config as LoadConfig and the flags leave it; LoadConfig's
			// own tests cover the file's parsing.
			cfg := DefaultConfig(filepath.Dir(path))
			if tc.p2p != nil {
				cfg.P2P.ListenAddrs = tc.p2p
			}
			got := ConfigWarnings(path, cfg)
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %q, want %d matching %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d %q lacks %q", i, got[i], w)
				}
			}
		})
	}
}
