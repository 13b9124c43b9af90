package main

import (
	"path/filepath"
	"testing"

	"github.com/govnode/govnode/node"
)

// The authentication and rate-limit keys have their flags.
func TestInitRateLimitFlags(t *testing.T) {
	home := filepath.Join(t.TempDir(), "n")
	mustRun(t, nil, "init", "--home", home, "--insecure-unencrypted", "--api.client-cert-max-validity-s", "600",
		"--api.rate-limit-identity-rps", "5", "--api.rate-limit-identity-burst", "6", "--api.rate-limit-address-rps", "0",
		"--api.rate-limit-address-burst", "2", "--api.rate-limit-exempt-loopback=false", "--api.rate-limit-max-keys", "50")
	cfg, err := node.LoadConfig(filepath.Join(home, configFileName))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.API
	if a.ClientCertMaxValiditySec != 600 || a.RateLimitIdentityRPS != 5 || a.RateLimitIdentityBurst != 6 || a.RateLimitAddressRPS != 0 ||
		a.RateLimitAddressBurst != 2 || a.RateLimitExemptLoopback || a.RateLimitMaxKeys != 50 {
		t.Fatalf("config after init with the flags: %+v", a)
	}
}
