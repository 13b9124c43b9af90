package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/node"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// configFileName is the config file in a node's home.
const configFileName = "config.toml"

// homeResult is what a new node home holds that the genesis needs.
type homeResult struct {
	Home         string
	ConfigPath   string
	Config       *node.Config
	ValidatorKey crypto.PrivateKey
	NodeKey      crypto.PrivateKey
	PeerID       string
}

// existingFiles lists those of paths that exist (or cannot be checked).
func existingFiles(paths []string) []string {
	var found []string
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil || !errors.Is(err, fs.ErrNotExist) {
			found = append(found, p)
		}
	}
	return found
}

// existingHomeFiles lists the files of a home that init would overwrite.
func existingHomeFiles(cfg *node.Config) []string {
	var found []string
	for _, p := range []string{
		filepath.Join(cfg.Home, configFileName),
		cfg.ResolvePath(cfg.NodeKeyFile),
		cfg.ResolvePath(cfg.ValidatorKeyFile),
	} {
		if p == "" {
			continue
		}
		if _, err := os.Lstat(p); err == nil || !errors.Is(err, fs.ErrNotExist) {
			found = append(found, p)
		}
	}
	return found
}

// initHome writes cfg's config.toml, a node key and a validator key into
// cfg.Home, and creates the data directory. The caller has validated cfg
// and checked for existing files. The validator key is of scheme (the
// chain's suite's, ARCHITECTURE.md §6 "Crypto suites"); the node key is
// always Ed25519, libp2p's identity.
func initHome(cfg *node.Config, opts keystore.Options, scheme pb.KeyScheme) (*homeResult, error) {
	if err := os.MkdirAll(cfg.Home, 0o755); err != nil {
		return nil, fmt.Errorf("create home: %w", err)
	}
	nodeKey, err := crypto.GenerateKey(pb.KeyScheme_KEY_SCHEME_ED25519, rand.Reader)
	if err != nil {
		return nil, err
	}
	nodeOpts := opts
	nodeOpts.Kind = keystore.KindNode
	if err := keystore.Save(cfg.ResolvePath(cfg.NodeKeyFile), nodeKey, nodeOpts); err != nil {
		return nil, err
	}
	pid, err := keystore.PeerIDFromPublicKey(nodeKey.Public())
	if err != nil {
		return nil, err
	}
	res := &homeResult{Home: cfg.Home, Config: cfg, NodeKey: nodeKey, PeerID: pid.String()}
	if cfg.ValidatorKeyFile != "" {
		valKey, err := crypto.GenerateKey(scheme, rand.Reader)
		if err != nil {
			return nil, err
		}
		valOpts := opts
		valOpts.Kind = keystore.KindValidator
		if err := keystore.Save(cfg.ResolvePath(cfg.ValidatorKeyFile), valKey, valOpts); err != nil {
			return nil, err
		}
		res.ValidatorKey = valKey
	}
	if err := os.MkdirAll(cfg.ResolvePath(cfg.DataDir), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	res.ConfigPath = filepath.Join(cfg.Home, configFileName)
	if err := node.WriteConfig(res.ConfigPath, cfg); err != nil {
		return nil, err
	}
	return res, nil
}

func newInitCmd(c *cli) *cobra.Command {
	var kf keyFlags
	var force, withTLS bool
	var suiteName string
	var tlsExtraHosts []string
	var cf *configFlags
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a node home: config.toml, a node key and a validator key",
		Long: `Init creates the home directory of a node (--home): a commented config.toml,
keys/node.key (the libp2p identity) and keys/validator.key (the consensus key),
both encrypted with one passphrase unless --insecure-unencrypted, and the data
directory. It refuses to touch a home that already has these files unless --force.

Every config.toml key can be set here by its flag (e.g. --api.listen-addr).

--tls writes a self-signed CA and a server certificate signed by it (ECDSA
P-256, valid two years) into <home>/tls: ca.crt for clients (--ca, grpcurl
-cacert), server.crt and server.key (mode 0600) for the node, and points
api.tls_cert_file, api.tls_key_file and the metrics pair at them. The
certificate names localhost, 127.0.0.1, ::1, the hosts of the listen
addresses (this machine's name for 0.0.0.0) and --tls-hosts. The CA's
private key is not kept.
Hand the printed peer id and validator key to the consortium admin, or let them
run "govnode genesis add-validator genesis.json --home <this home>".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			suite, err := crypto.SuiteByName(suiteName)
			if err != nil || suiteName == "" {
				return fmt.Errorf("--crypto-suite %q: want %s or %s", suiteName, crypto.SuiteNameEd25519SHA256, crypto.SuiteNameSM2SM3)
			}
			cfg := node.DefaultConfig(c.home)
			if c.env.Hostname != "" {
				cfg.Moniker = c.env.Hostname
			}
			cf.apply(c, cmd.Flags(), cfg)
			if withTLS {
				if cfg.API.TLSCertFile != "" || cfg.API.TLSKeyFile != "" || cfg.Metrics.TLSCertFile != "" || cfg.Metrics.TLSKeyFile != "" {
					return errors.New("--tls writes its own pair and sets the tls_cert_file and tls_key_file keys: give either --tls or those flags")
				}
				setInitTLS(cfg)
			} else if len(tlsExtraHosts) > 0 {
				return errors.New("--tls-hosts needs --tls")
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("config: %w", err)
			}
			found := existingHomeFiles(cfg)
			if withTLS {
				found = append(found, existingFiles(initTLSFiles(cfg))...)
			}
			if len(found) > 0 && !force {
				return fmt.Errorf("home %s is already initialised (%v exist): refusing to overwrite without --force", cfg.Home, found)
			}
			opts, err := c.saveOptions(cmd, &kf, keystore.KindValidator, force)
			if err != nil {
				return err
			}
			var caFile string
			if withTLS {
				// Before the home: a pair that cannot be written leaves no
				// config pointing at missing files.
				if caFile, err = writeInitTLS(cfg, c.env.Hostname, tlsExtraHosts, force); err != nil {
					return fmt.Errorf("--tls: %w", err)
				}
			}
			res, err := initHome(cfg, opts, suite.Scheme())
			if err != nil {
				return err
			}
			c.log.Info("node home initialised", "home", res.Home, "moniker", cfg.Moniker)
			view := struct {
				Home             string `json:"home"`
				Config           string `json:"config"`
				Moniker          string `json:"moniker"`
				PeerID           string `json:"peer_id"`
				NodeKeyFile      string `json:"node_key_file"`
				ValidatorKey     string `json:"validator_public_key"`
				ValidatorKeyFile string `json:"validator_key_file"`
				Encrypted        bool   `json:"encrypted"`
				TLSCAFile        string `json:"tls_ca_file,omitempty"`
				TLSCertFile      string `json:"tls_cert_file,omitempty"`
			}{
				Home: res.Home, Config: res.ConfigPath, Moniker: cfg.Moniker, PeerID: res.PeerID,
				NodeKeyFile: cfg.ResolvePath(cfg.NodeKeyFile), ValidatorKeyFile: cfg.ResolvePath(cfg.ValidatorKeyFile),
				Encrypted: !opts.Unencrypted,
			}
			if withTLS {
				view.TLSCAFile, view.TLSCertFile = caFile, cfg.ResolvePath(cfg.API.TLSCertFile)
			}
			if res.ValidatorKey != nil {
				view.ValidatorKey = base64.StdEncoding.EncodeToString(res.ValidatorKey.Public().GetKey())
			}
			if c.output == "json" {
				return writeJSON(cmd.OutOrStdout(), view)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "initialised node home %s\n", view.Home)
			fmt.Fprintf(w, "  config:           %s\n", view.Config)
			fmt.Fprintf(w, "  moniker:          %s\n", view.Moniker)
			fmt.Fprintf(w, "  node key:         %s\n", view.NodeKeyFile)
			fmt.Fprintf(w, "  peer id:          %s\n", view.PeerID)
			if view.ValidatorKey != "" {
				fmt.Fprintf(w, "  validator key:    %s\n", view.ValidatorKeyFile)
				fmt.Fprintf(w, "  validator pubkey: %s (ed25519)\n", view.ValidatorKey)
			}
			if view.TLSCAFile != "" {
				fmt.Fprintf(w, "  tls certificate:  %s\n", view.TLSCertFile)
				fmt.Fprintf(w, "  tls CA (clients): %s (give it to clients: govnode status --node https://HOST:PORT --ca %s)\n", view.TLSCAFile, view.TLSCAFile)
			}
			fmt.Fprintf(w, "next: put the chain's genesis.json at %s, then start the node\n", cfg.ResolvePath(cfg.GenesisFile))
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing config.toml and keys (the old keys are lost)")
	cmd.Flags().StringVar(&suiteName, "crypto-suite", crypto.SuiteNameEd25519SHA256, "the crypto suite of the chain this node will join: ed25519-sha256, or sm2-sm3 for an SM2 validator key (the node key stays Ed25519)")
	cmd.Flags().BoolVar(&withTLS, "tls", false, "write a self-signed CA and server certificate into <home>/tls and serve the API and metrics over TLS with them")
	cmd.Flags().StringSliceVar(&tlsExtraHosts, "tls-hosts", nil, "more DNS names or IP addresses for the --tls certificate (the names clients use to reach the node)")
	addKeyFlags(cmd, &kf, true)
	cf = addConfigFlags(cmd.Flags())
	return cmd
}
