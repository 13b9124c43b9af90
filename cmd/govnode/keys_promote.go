package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// newKeysPromoteCmd is `govnode keys promote`: after a governed rotation
// took effect, the pending key becomes the key file config.toml names, so
// the home holds one key in force again and a later rotation can begin
// with `govnode keys pending`.
func newKeysPromoteCmd(c *cli) *cobra.Command {
	var kind string
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "promote",
		Short: "Make the pending key the node's key once its rotation is in force",
		Long: `Promote ends a governed key rotation in the node's home: once the validator set
in force (read from the running node, --node) names the pending key (--kind
validator: its consensus key; node: its peer id), the current key file is kept
as <name>.retired-<UTC time>.key and the pending key takes its name. The
running node is not disturbed: it holds both keys already and signs with the
one in force. Destroy the retired key once you no longer need it: it signs
nothing that counts after the rotation, but it is still a key of the department.

It refuses while the rotation is not in force, so a key still needed is never
retired.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, cur, err := c.homeKeyFile(kind)
			if err != nil {
				return err
			}
			pending := keystore.PendingPath(cur)
			pinfo, err := keystore.LoadPublic(pending)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no pending %s key (%s): nothing to promote", k, pending)
			} else if err != nil {
				return fmt.Errorf("pending key: %w", err)
			}
			if pinfo.Kind != k {
				return fmt.Errorf("pending key %s is a key of kind %s, not %s", pending, pinfo.Kind, k)
			}
			n, err := c.connect(&cf)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), cf.timeout)
			defer cancel()
			st, err := n.status(ctx)
			if err != nil {
				return err
			}
			if err := inForce(st.GetValidators(), k, pinfo.PublicKey); err != nil {
				return fmt.Errorf("%s: %w; promote once it is in force (govnode status shows the set in force and pending changes)", pending, err)
			}
			ext := keystore.FileExt
			stem := strings.TrimSuffix(cur, ext)
			retired := stem + ".retired-" + time.Now().UTC().Format("20060102T150405Z") + ext
			if _, err := os.Lstat(retired); err == nil {
				return fmt.Errorf("%s exists already", retired)
			}
			if err := os.Rename(cur, retired); err != nil {
				return fmt.Errorf("retire the current key: %w", err)
			}
			if err := os.Rename(pending, cur); err != nil {
				// Put the current key back: the home keeps working as before.
				if rerr := os.Rename(retired, cur); rerr != nil {
					return fmt.Errorf("promote the pending key: %w; and the current key could not be put back from %s: %v", err, retired, rerr)
				}
				return fmt.Errorf("promote the pending key: %w", err)
			}
			if err := syncDir(filepath.Dir(cur)); err != nil {
				return err
			}
			c.log.Info("pending key promoted", "kind", k, "file", cur, "retired", retired)
			if c.output == "json" {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"kind": string(k), "file": cur, "retired": retired})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is now the %s key in force (%s)\nthe previous key is kept as %s: destroy it once you no longer need it\n",
				cur, k, b64(pinfo.PublicKey.GetKey()), retired)
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "kind", string(keystore.KindValidator), "which key: validator (consensus) or node (libp2p)")
	addClientFlags(cmd, &cf)
	return cmd
}

// inForce checks that the validator set vs names pub: as a consensus key
// (kind validator) or as the peer id it derives (kind node).
func inForce(vs *pb.ValidatorSet, k keystore.Kind, pub *pb.PublicKey) error {
	want := ""
	if k == keystore.KindNode {
		id, err := keystore.PeerIDFromPublicKey(pub)
		if err != nil {
			return err
		}
		want = id.String()
	}
	for _, v := range vs.GetValidators() {
		if k == keystore.KindValidator && crypto.PublicKeyEqual(v.GetConsensusKey(), pub) {
			return nil
		}
		if k == keystore.KindNode && v.GetPeerId() == want {
			return nil
		}
	}
	what := "consensus key " + b64(pub.GetKey())
	if want != "" {
		what = "peer id " + want
	}
	return fmt.Errorf("the validator set in force (from height %d) does not name the pending %s: its rotation is not in force", vs.GetEffectiveHeight(), what)
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
