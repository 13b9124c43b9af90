package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/govnode/govnode/node"
	"github.com/govnode/govnode/node/api"
	"github.com/govnode/govnode/node/clientcert"
)

// Files of `keys client-cert`.
const (
	clientCertFile = "tls.crt"
	clientKeyFile  = "tls.key"
)

// newKeysClientCertCmd writes a client certificate for tools that take a
// certificate and key file (grpcurl -cert/-key, curl --cert/--key):
// docs/ARCHITECTURE.md §6, "Authenticated callers".
func newKeysClientCertCmd(c *cli, ko *keysOpts) *cobra.Command {
	var kf keyFlags
	var keyArg, signer, testnet, out string
	var ttl time.Duration
	var force bool
	cmd := &cobra.Command{
		Use:   "client-cert --key FILE --signer ID --out DIR",
		Short: "Write a short-lived client certificate of an identity, for grpcurl and curl",
		Long: `Client-cert writes DIR/tls.crt and DIR/tls.key: a client certificate by which a
caller authenticates to a node's API over TLS as identity --signer. Its key
(tls.key, mode 0600) is a fresh ed25519 key made for it; the certificate is
signed by the identity's registered key (--key), and is valid --ttl from now
(a node accepts at most api.client_cert_max_validity_s, 24 hours by default).
What leaves this machine expires; the identity key never does.

  grpcurl -cacert ca.crt -cert DIR/tls.crt -key DIR/tls.key ...
  curl --cacert ca.crt --cert DIR/tls.crt --key DIR/tls.key ...

The govnode CLI needs none of this: --key and --signer make such a
certificate in memory on each run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if signer == "" {
				return errors.New("--signer is required: the identity id the key is registered for")
			}
			if out == "" {
				return errors.New("--out DIR is required")
			}
			if ttl <= 0 || ttl > time.Duration(node.MaxClientCertMaxValiditySec)*time.Second {
				return fmt.Errorf("--ttl %s: want a positive duration of at most %s", ttl, time.Duration(node.MaxClientCertMaxValiditySec)*time.Second)
			}
			if ttl > api.DefaultClientCertMaxValidity {
				warn(cmd, "--ttl %s is over the %s a node accepts by default (api.client_cert_max_validity_s)", ttl, api.DefaultClientCertMaxValidity)
			}
			path := keyArg
			if path == "" && testnet != "" {
				s, err := loadTestnetSummary(testnet)
				if err != nil {
					return err
				}
				a, _, ok := s.account(signer)
				if !ok {
					return fmt.Errorf("--signer %s is not an identity of the test network in %s", signer, testnet)
				}
				path = a.Key
			}
			if path == "" {
				return errors.New("--key is required (or --testnet DIR for a test network identity)")
			}
			if _, p, err := ko.keyPath(c, path); err == nil {
				path = p
			}
			lk, err := c.loadKey(cmd, path, kf.passphraseFile)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			cert, err := clientcert.Issue(lk.key, signer, time.Now(), ttl)
			if err != nil {
				return err
			}
			certPEM, keyPEM, err := clientcert.EncodePEM(cert)
			if err != nil {
				return err
			}
			crt, key := filepath.Join(out, clientCertFile), filepath.Join(out, clientKeyFile)
			if !force {
				for _, f := range []string{crt, key} {
					if _, err := os.Lstat(f); err == nil {
						return fmt.Errorf("%s exists already (use --force to replace it)", f)
					}
				}
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
			if err := writeFileMode(key, keyPEM, 0o600); err != nil {
				return err
			}
			if err := writeFileMode(crt, certPEM, 0o644); err != nil {
				return err
			}
			if c.output == "json" {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"identity": signer, "cert": crt, "key": key,
					"not_after": cert.Leaf.NotAfter.UTC().Format(time.RFC3339)})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "client certificate of %s: %s, key %s, valid until %s\n",
				termText(signer), crt, key, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyArg, "key", "", "key file (or key name) of the identity")
	f.StringVar(&signer, "signer", "", "identity id the key is registered for (required)")
	f.StringVar(&testnet, "testnet", "", "local test network directory: take --key of --signer from its testnet.json")
	f.DurationVar(&ttl, "ttl", clientcert.DefaultTTL, "validity of the certificate from now")
	f.StringVar(&out, "out", "", "directory to write tls.crt and tls.key to (required)")
	f.BoolVar(&force, "force", false, "replace existing files")
	addKeyFlags(cmd, &kf, false)
	return cmd
}

// writeFileMode writes data to path with mode perm, replacing the file
// (its mode too).
func writeFileMode(path string, data []byte, perm os.FileMode) error {
	_ = os.Remove(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
