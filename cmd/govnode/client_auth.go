package main

// Authenticated calls (docs/ARCHITECTURE.md §6, "Authenticated callers"):
// every command that calls a node takes --signer ID with --key FILE (or
// --testnet DIR), like tx commands, and then authenticates to an https://
// node with a client certificate made for this run from the identity key
// (the SDK's client.WithIdentity, over node/clientcert): a fresh ed25519
// key, signed by the identity key, valid an hour. Without --signer, or over plain http, the node sees an
// anonymous caller.

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/govnode/govnode/client"
)

// addAuthFlags registers --key, --signer, --passphrase-file and --testnet
// on a command that calls a node, each unless the command has it already
// (a tx command's signing flags are the same ones: it authenticates as its
// signer). connect reads them by name.
func addAuthFlags(cmd *cobra.Command, cf *clientFlags) {
	cf.cmd = cmd
	f := cmd.Flags()
	if f.Lookup("signer") == nil {
		cf.authOnly = true
		f.String("key", "", "key file of --signer: authenticate to an https:// node as that identity (default: anonymous)")
		f.String("signer", "", "identity id to authenticate as, with --key or --testnet (over https only)")
	}
	if f.Lookup("passphrase-file") == nil {
		addKeyFlags(cmd, &keyFlags{}, false)
	}
	if f.Lookup("testnet") == nil {
		f.String("testnet", "", "local test network directory: its testnet.json gives --signer's key, the node to call (--signer's department's, else node 0) and, for https, the node's CA; its genesis.json anchors --prove")
	}
}

func (cf *clientFlags) flag(name string) string {
	if cf.cmd == nil {
		return ""
	}
	v, _ := cf.cmd.Flags().GetString(name)
	return strings.TrimSpace(v)
}

// authenticator returns the identity the --signer of the flags names, nil
// for an anonymous caller. It may set cf.node from
// --testnet. Over plain http it returns nil, with a warning when --signer
// was given for authentication alone.
func (c *cli) authenticator(cf *clientFlags, addr string) (*client.Signer, error) {
	signer, keyPath := cf.flag("signer"), cf.flag("key")
	if signer == "" {
		if keyPath != "" {
			return nil, errors.New("--key needs --signer: the identity id the key is registered for")
		}
		return nil, nil
	}
	if !strings.HasPrefix(addr, "https://") {
		if cf.authOnly {
			warn(cf.cmd, "--signer %s is not used: %s is plain http, where every caller is anonymous (authentication needs an https:// --node)", signer, addr)
		}
		return nil, nil
	}
	key := cf.authKey
	if key == nil {
		if tn := cf.flag("testnet"); tn != "" && keyPath == "" {
			s, err := loadTestnetSummary(tn)
			if err != nil {
				return nil, err
			}
			a, _, ok := s.account(signer)
			if !ok {
				return nil, fmt.Errorf("--signer %s is not an identity of the test network in %s", signer, tn)
			}
			keyPath = a.Key
		}
		if keyPath == "" {
			return nil, fmt.Errorf("--signer %s needs --key FILE (or --testnet DIR) to authenticate", signer)
		}
		lk, err := c.loadKey(cf.cmd, keyPath, cf.flag("passphrase-file"))
		if err != nil {
			return nil, fmt.Errorf("--key: %w", err)
		}
		key = lk.key
	}
	return &client.Signer{ID: signer, Key: key}, nil
}
