package node

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/govnode/govnode/node/tlscert"
)

// writePair writes a generated pair valid from start for validity into
// home/name and returns its certificate and key paths relative to home.
func writePair(t *testing.T, home, name string, start time.Time, validity time.Duration) (string, string) {
	t.Helper()
	p, err := tlscert.Generate(tlscert.Options{NotBefore: start, Validity: validity})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(filepath.Join(home, name), false); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(name, tlscert.CertFile), filepath.Join(name, tlscert.KeyFile)
}

// Validate wants a certificate and its key together, in both sections.
func TestValidateTLSPair(t *testing.T) {
	cases := []struct {
		name, field string
		set         func(c *Config)
	}{
		{"api cert alone", "api.tls_key_file", func(c *Config) { c.API.TLSCertFile = "tls/server.crt" }},
		{"api key alone", "api.tls_cert_file", func(c *Config) { c.API.TLSKeyFile = "tls/server.key" }},
		{"metrics cert alone", "metrics.tls_key_file", func(c *Config) { c.Metrics.TLSCertFile = "tls/server.crt" }},
		{"metrics key alone", "metrics.tls_cert_file", func(c *Config) { c.Metrics.TLSKeyFile = "tls/server.key" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig(t.TempDir())
			tc.set(cfg)
			err := cfg.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Reason, "both") {
				t.Fatalf("Validate: %v, want a field error on %s asking for both", err, tc.field)
			}
		})
	}
	cfg := DefaultConfig(t.TempDir())
	cfg.API.TLSCertFile, cfg.API.TLSKeyFile = "a.crt", "a.key"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a pair named: %v (the files are LoadTLS's to check)", err)
	}
}

// LoadTLS loads the pairs, and refuses a missing file, a key of another
// certificate, an expired or not yet valid certificate, with an error
// naming the key at fault; it warns of a certificate near its end.
func TestLoadTLS(t *testing.T) {
	home := t.TempDir()
	now := time.Now()
	goodCert, goodKey := writePair(t, home, "good", now.Add(-time.Hour), 0)
	_, otherKey := writePair(t, home, "other", now.Add(-time.Hour), 0)
	oldCert, oldKey := writePair(t, home, "old", now.Add(-72*time.Hour), 24*time.Hour)
	newCert, newKey := writePair(t, home, "new", now.Add(24*time.Hour), 0)
	soonCert, soonKey := writePair(t, home, "soon", now.Add(-time.Hour), 10*24*time.Hour)

	cfg := DefaultConfig(home)
	cfg.API.TLSCertFile, cfg.API.TLSKeyFile = goodCert, goodKey
	cfg.Metrics.TLSCertFile, cfg.Metrics.TLSKeyFile = goodCert, filepath.Join(home, goodKey) // absolute works too
	lt, err := cfg.LoadTLS(now)
	if err != nil {
		t.Fatal(err)
	}
	if lt.API == nil || lt.Metrics == nil || len(lt.Warnings) != 0 {
		t.Fatalf("loaded %+v", lt)
	}
	if lt, err := DefaultConfig(home).LoadTLS(now); err != nil || lt.API != nil || lt.Metrics != nil {
		t.Fatalf("no TLS configured: %+v, %v", lt, err)
	}

	cases := []struct {
		name      string
		sec       string
		cert, key string
		field     string
		want      string
	}{
		{"missing cert", "api", "tls/none.crt", goodKey, "api.tls_cert_file", "none.crt"},
		{"missing key", "api", goodCert, "tls/none.key", "api.tls_key_file", "none.key"},
		{"mismatched key", "api", goodCert, otherKey, "api.tls_key_file", "does not match"},
		{"expired", "api", oldCert, oldKey, "api.tls_cert_file", "expired at"},
		{"not yet valid", "api", newCert, newKey, "api.tls_cert_file", "valid from"},
		{"metrics mismatched key", "metrics", goodCert, otherKey, "metrics.tls_key_file", "does not match"},
		{"metrics expired", "metrics", oldCert, oldKey, "metrics.tls_cert_file", "expired at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig(home)
			if tc.sec == "api" {
				cfg.API.TLSCertFile, cfg.API.TLSKeyFile = tc.cert, tc.key
			} else {
				cfg.Metrics.TLSCertFile, cfg.Metrics.TLSKeyFile = tc.cert, tc.key
			}
			_, err := cfg.LoadTLS(now)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Reason, tc.want) {
				t.Fatalf("LoadTLS: %v, want a field error on %s saying %q", err, tc.field, tc.want)
			}
		})
	}

	cfg = DefaultConfig(home)
	cfg.API.TLSCertFile, cfg.API.TLSKeyFile = soonCert, soonKey
	lt, err = cfg.LoadTLS(now)
	if err != nil {
		t.Fatal(err)
	}
	if len(lt.Warnings) != 1 || !strings.Contains(lt.Warnings[0], "api.tls_cert_file") || !strings.Contains(lt.Warnings[0], "expires") {
		t.Fatalf("warnings %q, want one that api.tls_cert_file expires soon", lt.Warnings)
	}
}

// The TLS and insecure keys survive a write and a load, and the file says
// what each is.
func TestWriteLoadTLSKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	cfg := DefaultConfig(dir)
	cfg.API.TLSCertFile, cfg.API.TLSKeyFile, cfg.API.Insecure = "tls/server.crt", "tls/server.key", true
	cfg.Metrics.TLSCertFile, cfg.Metrics.TLSKeyFile, cfg.Metrics.Insecure = "m.crt", "m.key", true
	cfg.Debug.PprofInsecure = true
	if err := WriteConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for _, want := range []string{`tls_cert_file = "tls/server.crt"`, `tls_key_file = "m.key"`, "insecure = true", "pprof_insecure = true", "govnode init --tls"} {
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
