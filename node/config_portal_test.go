package node

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The portal section is written to config.toml with its comments, read
// back whole, off by default, and its bad values are refused by key.
func TestPortalConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	cfg := DefaultConfig(dir)
	if cfg.Portal.ListenAddr != "" {
		t.Fatalf("portal on by default: %q", cfg.Portal.ListenAddr)
	}
	cfg.Portal = PortalSection{ListenAddr: "127.0.0.1:8443", PublicURL: "https://verify.example.gov", MaxConns: 7,
		RateLimitRPS: 3, RateLimitBurst: 9, RateLimitMaxKeys: 11, MaxBundleBuilds: 2, Insecure: true}
	if err := WriteConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[portal]\n", "listen_addr = \"127.0.0.1:8443\"\n", "public_url = \"https://verify.example.gov\"\n", "rate_limit_burst = 9\n", "max_bundle_builds = 2\n", "# The public verification page"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("config file lacks %q", want)
		}
	}
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Portal != cfg.Portal {
		t.Errorf("read back %+v, wrote %+v", got.Portal, cfg.Portal)
	}

	for key, mod := range map[string]func(*PortalSection){
		"portal.listen_addr":         func(p *PortalSection) { p.ListenAddr = "nowhere" },
		"portal.public_url":          func(p *PortalSection) { p.ListenAddr, p.PublicURL = "127.0.0.1:1", "javascript:alert(1)" },
		"portal.max_conns":           func(p *PortalSection) { p.MaxConns = 0 },
		"portal.rate_limit_rps":      func(p *PortalSection) { p.RateLimitRPS = 0 },
		"portal.rate_limit_burst":    func(p *PortalSection) { p.RateLimitBurst = 0 },
		"portal.rate_limit_max_keys": func(p *PortalSection) { p.RateLimitMaxKeys = 0 },
		"portal.max_bundle_builds":   func(p *PortalSection) { p.MaxBundleBuilds = 100_000 },
	} {
		c := DefaultConfig(dir)
		mod(&c.Portal)
		err := c.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != key {
			t.Errorf("%s: %v, want a FieldError naming it", key, err)
		}
	}
}
