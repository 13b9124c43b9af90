package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/govnode/govnode/node/api"
	"github.com/govnode/govnode/node/tlscert"
)

// ListenerTLS is the TLS configuration of the node's HTTP listeners, as
// LoadTLS reads it from the config's certificate files; a nil field
// serves that listener in plaintext.
type ListenerTLS struct {
	API     *tls.Config // api.tls_cert_file, api.tls_key_file; pprof too
	Metrics *tls.Config // metrics.tls_cert_file, metrics.tls_key_file
	// Warnings are certificates that end within tlscert.RenewWithin.
	Warnings []string
}

// LoadTLS reads the certificate pairs the config names and checks each:
// both files readable, the key the certificate's, the certificate valid at
// now. Each problem is a *FieldError naming the key (api.tls_cert_file,
// api.tls_key_file, ...). `govnode start` calls it before anything else
// opens, and New again when it binds the listeners.
func (c *Config) LoadTLS(now time.Time) (*ListenerTLS, error) {
	var out ListenerTLS
	var errs []error
	load := func(sec, certFile, keyFile string) *tls.Config {
		if certFile == "" || keyFile == "" {
			return nil // Validate reports one without the other
		}
		cert, err := tlscert.Load(c.ResolvePath(certFile), c.ResolvePath(keyFile), now)
		if err != nil {
			field := sec + ".tls_cert_file"
			var le *tlscert.LoadError
			if errors.As(err, &le) && le.KeyFile {
				field = sec + ".tls_key_file"
			}
			errs = append(errs, &FieldError{Field: field, Reason: err.Error()})
			return nil
		}
		if left := cert.Leaf.NotAfter.Sub(now); left < tlscert.RenewWithin {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s.tls_cert_file %s expires at %s (in %d days): the node will refuse to start with it after that; renew it",
				sec, c.ResolvePath(certFile), cert.Leaf.NotAfter.UTC().Format(time.RFC3339), int(left.Hours()/24)))
		}
		return tlscert.ServerConfig(cert)
	}
	out.API = load("api", c.API.TLSCertFile, c.API.TLSKeyFile)
	out.Metrics = load("metrics", c.Metrics.TLSCertFile, c.Metrics.TLSKeyFile)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &out, nil
}

// listenConfig is the api package's view of the config's listener keys,
// with the TLS pairs loaded.
func (c *Config) listenConfig(t *ListenerTLS) api.ListenConfig {
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	return api.ListenConfig{
		APIAddr: c.API.ListenAddr, APIMaxConns: c.API.MaxConns,
		ReadHeaderTimeout: ms(c.API.ReadHeaderTimeoutMs), ReadTimeout: ms(c.API.ReadTimeoutMs),
		WriteTimeout: ms(c.API.WriteTimeoutMs), IdleTimeout: ms(c.API.IdleTimeoutMs), AllowedHosts: c.API.AllowedHosts,
		APITLS: t.API, APIInsecure: c.API.Insecure,
		ClientCertMaxValidity: time.Duration(c.API.ClientCertMaxValiditySec) * time.Second,
		RateLimits: api.RateLimitConfig{
			IdentityRate: float64(c.API.RateLimitIdentityRPS), IdentityBurst: c.API.RateLimitIdentityBurst,
			AddrRate: float64(c.API.RateLimitAddressRPS), AddrBurst: c.API.RateLimitAddressBurst,
			ExemptLoopback: c.API.RateLimitExemptLoopback, MaxKeys: c.API.RateLimitMaxKeys,
		},
		MetricsAddr: c.Metrics.ListenAddr, MetricsMaxConns: c.Metrics.MaxConns,
		MetricsTLS: t.Metrics, MetricsInsecure: c.Metrics.Insecure,
		Pprof: c.Debug.Pprof, PprofAddr: c.Debug.PprofListenAddr, PprofMaxConns: c.Debug.PprofMaxConns,
		PprofAllowRemote: c.Debug.PprofAllowRemote, PprofInsecure: c.Debug.PprofInsecure,
	}
}
