package chaos

import (
	"strings"
	"testing"

	"github.com/govnode/govnode/crypto"
)

// A run's chain is of a suite the binary knows: the default
// (ed25519-sha256) and sm2-sm3 pass, any other is refused by name.
func TestConfigSuite(t *testing.T) {
	for _, s := range []crypto.Suite{crypto.Ed25519SHA256, crypto.SM2SM3} {
		cfg := DefaultConfig()
		cfg.Suite = s
		if err := cfg.Validate(); err != nil {
			t.Errorf("suite %s: %v", s, err)
		}
	}
	cfg := DefaultConfig()
	cfg.Suite = crypto.Suite(7)
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "ed25519-sha256") || !strings.Contains(err.Error(), "sm2-sm3") {
		t.Fatalf("an unknown suite: %v", err)
	}
}
