package node

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/govnode/govnode/node/api"
)

// The API's authentication and rate-limit keys: defaults that keep the
// local CLI and bench unlimited, bounds named by key, a round trip
// through the written file, and their way into the api package's config.
func TestConfigAuthAndRateLimitKeys(t *testing.T) {
	d := DefaultConfig("/h")
	lc := d.listenConfig(&ListenerTLS{})
	want := api.DefaultRateLimits()
	if lc.ClientCertMaxValidity != api.DefaultClientCertMaxValidity || !reflect.DeepEqual(lc.RateLimits, want) {
		t.Fatalf("defaults: %s %+v, want %s %+v", lc.ClientCertMaxValidity, lc.RateLimits, api.DefaultClientCertMaxValidity, want)
	}
	if !lc.RateLimits.ExemptLoopback {
		t.Fatal("loopback is limited by default: govnode bench would be")
	}
	for _, tc := range []struct {
		field  string
		mutate func(c *Config)
	}{
		{"api.client_cert_max_validity_s", func(c *Config) { c.API.ClientCertMaxValiditySec = 59 }},
		{"api.client_cert_max_validity_s", func(c *Config) { c.API.ClientCertMaxValiditySec = MaxClientCertMaxValiditySec + 1 }},
		{"api.rate_limit_identity_rps", func(c *Config) { c.API.RateLimitIdentityRPS = -1 }},
		{"api.rate_limit_address_rps", func(c *Config) { c.API.RateLimitAddressRPS = MaxRateLimitRPS + 1 }},
		{"api.rate_limit_identity_burst", func(c *Config) { c.API.RateLimitIdentityBurst = 0 }},
		{"api.rate_limit_address_burst", func(c *Config) { c.API.RateLimitAddressBurst = 0 }},
		{"api.rate_limit_max_keys", func(c *Config) { c.API.RateLimitMaxKeys = 0 }},
	} {
		c := DefaultConfig("/h")
		tc.mutate(c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: Validate %v, want an error naming it", tc.field, err)
		}
	}
	off := DefaultConfig("/h")
	off.API.RateLimitAddressRPS, off.API.RateLimitAddressBurst = 0, 0 // off: the burst is not checked
	if err := off.Validate(); err != nil {
		t.Fatalf("address limit off: %v", err)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	cfg := DefaultConfig(dir)
	cfg.API.ClientCertMaxValiditySec = 3600
	cfg.API.RateLimitIdentityRPS, cfg.API.RateLimitIdentityBurst = 7, 8
	cfg.API.RateLimitAddressRPS, cfg.API.RateLimitAddressBurst = 0, 1
	cfg.API.RateLimitExemptLoopback = false
	cfg.API.RateLimitMaxKeys = 99
	if err := WriteConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for _, w := range []string{"client_cert_max_validity_s = 3600", "rate_limit_identity_rps = 7", "rate_limit_exempt_loopback = false", "rate_limit_max_keys = 99"} {
		if !strings.Contains(string(raw), w) {
			t.Errorf("config file lacks %q", w)
		}
	}
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.API, cfg.API) {
		t.Fatalf("round trip: %+v, want %+v", got.API, cfg.API)
	}
	lc = got.listenConfig(&ListenerTLS{})
	if lc.ClientCertMaxValidity != time.Hour || lc.RateLimits.IdentityRate != 7 || lc.RateLimits.IdentityBurst != 8 ||
		lc.RateLimits.AddrRate != 0 || lc.RateLimits.ExemptLoopback || lc.RateLimits.MaxKeys != 99 {
		t.Fatalf("listen config: %+v", lc)
	}
}
