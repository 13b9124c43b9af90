package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/node"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

type loadedKey struct {
	key  crypto.PrivateKey
	info *keystore.Info
}

// keyView is how a key is printed (text or --output json).
type keyView struct {
	Name      string `json:"name,omitempty"`
	File      string `json:"file"`
	Kind      string `json:"kind,omitempty"`
	Scheme    string `json:"scheme,omitempty"`
	PublicKey string `json:"public_key,omitempty"`
	Encrypted bool   `json:"encrypted"`
	PeerID    string `json:"peer_id,omitempty"`
	Error     string `json:"error,omitempty"`
}

func viewOf(name string, info *keystore.Info) keyView {
	v := keyView{
		Name:      name,
		File:      info.Path,
		Kind:      string(info.Kind),
		Scheme:    crypto.SchemeName(info.Scheme),
		PublicKey: base64.StdEncoding.EncodeToString(info.PublicKey.GetKey()),
		Encrypted: info.Encrypted,
	}
	if info.Kind == keystore.KindNode {
		if id, err := keystore.PeerIDFromPublicKey(info.PublicKey); err == nil {
			v.PeerID = id.String()
		}
	}
	return v
}

func (c *cli) printKey(cmd *cobra.Command, v keyView) error {
	if c.output == "json" {
		return writeJSON(cmd.OutOrStdout(), v)
	}
	w := cmd.OutOrStdout()
	if v.Name != "" {
		fmt.Fprintf(w, "name:       %s\n", v.Name)
	}
	fmt.Fprintf(w, "file:       %s\n", v.File)
	fmt.Fprintf(w, "kind:       %s\n", v.Kind)
	fmt.Fprintf(w, "scheme:     %s\n", v.Scheme)
	fmt.Fprintf(w, "public key: %s\n", v.PublicKey)
	fmt.Fprintf(w, "encrypted:  %t\n", v.Encrypted)
	if v.PeerID != "" {
		fmt.Fprintf(w, "peer id:    %s\n", v.PeerID)
	}
	return nil
}

type keysOpts struct {
	dir string
}

func newKeysCmd(c *cli) *cobra.Command {
	ko := &keysOpts{}
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, show, list, import and export key files",
		Long: `Key files hold validator (consensus), node (libp2p) and account (transaction) keys.
They are encrypted with a passphrase (age, scrypt) and written with mode 0600; the
public key can be read without the passphrase.

A key is named by NAME, the file <keyring-dir>/NAME.key, or by a path (anything
containing a path separator or ending in .key).`,
	}
	cmd.PersistentFlags().StringVar(&ko.dir, "keyring-dir", "", "directory of key files (default <home>/keys)")
	cmd.AddCommand(newKeysNewCmd(c, ko), newKeysShowCmd(c, ko), newKeysListCmd(c, ko),
		newKeysExportCmd(c, ko), newKeysImportCmd(c, ko), newKeysPendingCmd(c), newKeysPromoteCmd(c),
		newKeysClientCertCmd(c, ko))
	return cmd
}

func (ko *keysOpts) keyring(c *cli) string {
	if ko.dir != "" {
		return ko.dir
	}
	return filepath.Join(c.home, "keys")
}

// keyPath maps a NAME or a path to a file.
func (ko *keysOpts) keyPath(c *cli, nameOrPath string) (name, path string, err error) {
	if nameOrPath == "" {
		return "", "", errors.New("empty key name")
	}
	if strings.ContainsRune(nameOrPath, os.PathSeparator) || strings.Contains(nameOrPath, "/") || strings.HasSuffix(nameOrPath, keystore.FileExt) {
		return strings.TrimSuffix(filepath.Base(nameOrPath), keystore.FileExt), nameOrPath, nil
	}
	if nameOrPath == "." || nameOrPath == ".." {
		return "", "", fmt.Errorf("bad key name %q", nameOrPath)
	}
	return nameOrPath, filepath.Join(ko.keyring(c), nameOrPath+keystore.FileExt), nil
}

func newKeysNewCmd(c *cli, ko *keysOpts) *cobra.Command {
	var kf keyFlags
	var kind, scheme string
	var force bool
	cmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Generate a new key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := keystore.ParseKind(kind)
			if err != nil {
				return fmt.Errorf("--kind: %w", err)
			}
			s, err := crypto.SchemeByName(scheme)
			if err != nil {
				return fmt.Errorf("--scheme: %w", err)
			}
			if k == keystore.KindNode && s != pb.KeyScheme_KEY_SCHEME_ED25519 {
				return fmt.Errorf("--scheme %s: a node key is the libp2p host identity, which is ed25519 on every chain (the chain's suite governs validator and account keys)", scheme)
			}
			name, path, err := ko.keyPath(c, args[0])
			if err != nil {
				return err
			}
			if _, err := os.Stat(path); err == nil && !force {
				return fmt.Errorf("key file %s already exists (use --force to replace it)", path)
			}
			opts, err := c.saveOptions(cmd, &kf, k, force)
			if err != nil {
				return err
			}
			key, err := crypto.GenerateKey(s, rand.Reader)
			if err != nil {
				return err
			}
			if err := keystore.Save(path, key, opts); err != nil {
				return err
			}
			info, err := keystore.LoadPublic(path)
			if err != nil {
				return err
			}
			c.log.Info("key created", "file", path, "kind", k)
			return c.printKey(cmd, viewOf(name, info))
		},
	}
	cmd.Flags().StringVar(&kind, "kind", string(keystore.KindAccount), "key kind: validator, node or account")
	cmd.Flags().StringVar(&scheme, "scheme", "ed25519", `signature scheme: ed25519, or sm2 for the validator and account keys of an "sm2-sm3" chain`)
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing key file (the old key is lost)")
	addKeyFlags(cmd, &kf, true)
	return cmd
}

func newKeysShowCmd(c *cli, ko *keysOpts) *cobra.Command {
	var asPEM bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a key's public part (no passphrase needed)",
		Long: `Show prints a key file's public part. With --pem it prints only the public key
as a PEM "PUBLIC KEY" block (a DER SubjectPublicKeyInfo), the form OpenSSL and
other tools read: for sm2, id-ecPublicKey on the SM2 curve, as OpenSSL 3 writes
it; for ed25519, RFC 8410's. For example, to check a signature with OpenSSL:

  govnode keys show alice --pem > alice.pub.pem
  openssl pkeyutl -verify -pubin -inkey alice.pub.pem -rawin -in MSG -sigfile SIG \
      -digest sm3 -pkeyopt distid:1234567812345678     # sm2; ed25519 takes neither option`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, path, err := ko.keyPath(c, args[0])
			if err != nil {
				return err
			}
			info, err := keystore.LoadPublic(path)
			if err != nil {
				return err
			}
			if asPEM {
				spki, err := keystore.MarshalPKIXPublicKey(info.PublicKey)
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				_, err = cmd.OutOrStdout().Write(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
				return err
			}
			return c.printKey(cmd, viewOf(name, info))
		},
	}
	cmd.Flags().BoolVar(&asPEM, "pem", false, `print only the public key, as the PEM "PUBLIC KEY" block OpenSSL reads`)
	return cmd
}

func newKeysListCmd(c *cli, ko *keysOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the keys of the keyring directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := ko.keyring(c)
			entries, err := keystore.List(dir)
			if err != nil {
				return err
			}
			views := make([]keyView, 0, len(entries))
			for _, e := range entries {
				if e.Err != nil {
					views = append(views, keyView{Name: e.Name, File: e.Path, Error: e.Err.Error()})
					continue
				}
				views = append(views, viewOf(e.Name, e.Info))
			}
			if c.output == "json" {
				return writeJSON(cmd.OutOrStdout(), views)
			}
			if len(views) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "no keys in %s\n", dir)
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tSCHEME\tENCRYPTED\tPUBLIC KEY\tPEER ID")
			for _, v := range views {
				if v.Error != "" {
					fmt.Fprintf(tw, "%s\t-\t-\t-\tERROR: %s\t\n", v.Name, v.Error)
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\n", v.Name, v.Kind, v.Scheme, v.Encrypted, v.PublicKey, v.PeerID)
			}
			return tw.Flush()
		},
	}
}

func newKeysExportCmd(c *cli, ko *keysOpts) *cobra.Command {
	var kf keyFlags
	var out, newPassFile string
	var unencrypted, force bool
	cmd := &cobra.Command{
		Use:   "export NAME --out FILE",
		Short: "Export a key re-encrypted with a new passphrase, or decrypted with --unencrypted",
		Long: `Export writes the key to --out (or "-" for stdout) as a key file.

By default the key is re-encrypted with a new passphrase, read from
--new-passphrase-file or asked on the terminal.

With --unencrypted the private key is written in the clear, in the documented
plain form of the key file: the same JSON envelope with "encrypted": false and
"data" the standard base64 of the private key bytes (for ed25519, the 32-byte
seed of RFC 8032). Anyone holding that file can sign as the key.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("--out is required (a file, or - for stdout)")
			}
			_, path, err := ko.keyPath(c, args[0])
			if err != nil {
				return err
			}
			if unencrypted && newPassFile != "" {
				return errors.New("--unencrypted and --new-passphrase-file exclude each other")
			}
			lk, err := c.loadKey(cmd, path, kf.passphraseFile)
			if err != nil {
				return err
			}
			opts := keystore.Options{Kind: lk.info.Kind, Overwrite: force, ScryptWorkFactor: kf.workFactor}
			if unencrypted {
				opts.Unencrypted = true
				warn(cmd, "exporting the private key UNENCRYPTED: anyone holding the output can sign as this key")
			} else {
				var pass string
				if newPassFile != "" {
					pass, err = readPassphraseFile(newPassFile, cmdWarner(cmd))
				} else {
					pass, err = promptPassphrase(cmd, true, "new passphrase for the exported key", "--new-passphrase-file")
				}
				if err != nil {
					return err
				}
				opts.Passphrase = pass
			}
			if out == "-" {
				data, err := keystore.Encode(lk.key, opts)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			if err := keystore.Save(out, lk.key, opts); err != nil {
				if errors.Is(err, keystore.ErrExists) {
					return fmt.Errorf("%w (use --force to replace it)", err)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exported %s key to %s (encrypted: %t)\n", lk.info.Kind, out, !unencrypted)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write, or - for stdout")
	cmd.Flags().BoolVar(&unencrypted, "unencrypted", false, "write the private key in the clear (documented plain key file)")
	cmd.Flags().StringVar(&newPassFile, "new-passphrase-file", "", "read the exported key's new passphrase from this file")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing --out file")
	addKeyFlags(cmd, &kf, false)
	cmd.Flags().IntVar(&kf.workFactor, "scrypt-work-factor", keystore.DefaultScryptWorkFactor, "log2 of the scrypt cost (lower only for tests)")
	_ = cmd.Flags().MarkHidden("scrypt-work-factor")
	return cmd
}

func newKeysImportCmd(c *cli, ko *keysOpts) *cobra.Command {
	var kf keyFlags
	var importPassFile, kind string
	var force, pkcs8 bool
	cmd := &cobra.Command{
		Use:   "import NAME FILE",
		Short: "Import a key file (as written by keys export), or an SM2 PKCS#8 key, into the keyring",
		Long: `Import reads FILE, a key file encrypted or in the plain form that
"keys export --unencrypted" writes, and stores it as NAME in the keyring,
encrypted with the keyring passphrase (--passphrase-file, $` + envPassphrase + `,
or a prompt) unless --insecure-unencrypted. An encrypted FILE is opened with
--import-passphrase-file or a prompt.

With --pkcs8, FILE is instead an unencrypted PKCS#8 SM2 private key, PEM
("PRIVATE KEY") or DER, as "openssl genpkey -algorithm SM2" writes it, or "-"
for stdin; it is stored as a key of --kind (default account). A key encrypted
with a passphrase can be piped through OpenSSL, so it is never on disk in the
clear (give the keyring passphrase with --passphrase-file or $` + envPassphrase + `
then, as stdin is taken):

  openssl genpkey -algorithm SM2 -out sm2.pem
  govnode keys import alice sm2.pem --pkcs8 --kind account
  openssl pkey -in encrypted.pem | govnode keys import alice - --pkcs8`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, path, err := ko.keyPath(c, args[0])
			if err != nil {
				return err
			}
			if _, err := os.Stat(path); err == nil && !force {
				return fmt.Errorf("key file %s already exists (use --force to replace it)", path)
			}
			src := args[1]
			if pkcs8 {
				if importPassFile != "" {
					return errors.New("--import-passphrase-file: a --pkcs8 FILE must be unencrypted (pipe an encrypted one through openssl pkey, see --help)")
				}
				key, err := readPKCS8SM2(cmd, src)
				if err != nil {
					return err
				}
				k := keystore.KindAccount
				if kind != "" {
					if k, err = keystore.ParseKind(kind); err != nil {
						return fmt.Errorf("--kind: %w", err)
					}
				}
				if k == keystore.KindNode {
					return errors.New("--kind node: a node key is the libp2p host identity, which is ed25519; an SM2 key can be a validator or account key")
				}
				return c.saveImported(cmd, &kf, name, path, key, k, force)
			}
			info, err := keystore.LoadPublic(src)
			if err != nil {
				if errors.Is(err, keystore.ErrCorrupt) && looksPEM(src) {
					return fmt.Errorf("%w (a PEM file: for a PKCS#8 SM2 key, give --pkcs8)", err)
				}
				return err
			}
			pass := ""
			if info.Encrypted {
				if importPassFile != "" {
					pass, err = readPassphraseFile(importPassFile, cmdWarner(cmd))
				} else {
					pass, err = promptPassphrase(cmd, false, "passphrase of "+src, "--import-passphrase-file")
				}
				if err != nil {
					return err
				}
			}
			key, info, err := keystore.LoadWithInfo(src, pass)
			if err != nil {
				return err
			}
			k := info.Kind
			if kind != "" {
				if k, err = keystore.ParseKind(kind); err != nil {
					return fmt.Errorf("--kind: %w", err)
				}
			}
			return c.saveImported(cmd, &kf, name, path, key, k, force)
		},
	}
	cmd.Flags().StringVar(&importPassFile, "import-passphrase-file", "", "passphrase of the imported FILE, if it is encrypted")
	cmd.Flags().StringVar(&kind, "kind", "", "record the key as this kind (default: the kind in FILE; account with --pkcs8)")
	cmd.Flags().BoolVar(&pkcs8, "pkcs8", false, "FILE is an unencrypted PKCS#8 SM2 private key (PEM or DER; - for stdin), as openssl genpkey -algorithm SM2 writes")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing key of that name")
	addKeyFlags(cmd, &kf, true)
	return cmd
}

// saveImported stores an imported key as NAME (path) of kind k, encrypted
// with the keyring passphrase unless --insecure-unencrypted, and prints it.
func (c *cli) saveImported(cmd *cobra.Command, kf *keyFlags, name, path string, key crypto.PrivateKey, k keystore.Kind, force bool) error {
	opts, err := c.saveOptions(cmd, kf, k, force)
	if err != nil {
		return err
	}
	if err := keystore.Save(path, key, opts); err != nil {
		return err
	}
	saved, err := keystore.LoadPublic(path)
	if err != nil {
		return err
	}
	return c.printKey(cmd, viewOf(name, saved))
}

// readPKCS8SM2 reads an unencrypted PKCS#8 SM2 private key from src (a
// file, or "-" for stdin): one PEM "PRIVATE KEY" block, or DER. Other PEM
// blocks are refused with what to do about them.
func readPKCS8SM2(cmd *cobra.Command, src string) (crypto.PrivateKey, error) {
	var data []byte
	var err error
	if src == "-" {
		data, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), keystore.MaxFileBytes+1))
		if err == nil && len(data) > keystore.MaxFileBytes {
			err = fmt.Errorf("more than %d bytes: not a private key", keystore.MaxFileBytes)
		}
	} else {
		data, err = readBounded(src, keystore.MaxFileBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("--pkcs8 %s: %w", src, err)
	}
	defer clear(data)
	der := data
	if block, rest := pem.Decode(data); block != nil {
		defer clear(block.Bytes)
		switch {
		case block.Type == "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("--pkcs8 %s: the key is encrypted; decrypt it on the way in: openssl pkey -in %s | govnode keys import NAME - --pkcs8", src, src)
		case block.Type == "EC PRIVATE KEY":
			return nil, fmt.Errorf("--pkcs8 %s: a SEC 1 \"EC PRIVATE KEY\", not PKCS#8; convert it on the way in: openssl pkey -in %s | govnode keys import NAME - --pkcs8", src, src)
		case block.Type != "PRIVATE KEY":
			return nil, fmt.Errorf("--pkcs8 %s: a PEM %q block, want \"PRIVATE KEY\" (PKCS#8)", src, block.Type)
		case len(bytes.TrimSpace(rest)) != 0 && bytes.Contains(rest, []byte("-----BEGIN")):
			return nil, fmt.Errorf("--pkcs8 %s: more than one PEM block; give a file with one private key", src)
		}
		der = block.Bytes
	}
	key, err := keystore.ParsePKCS8SM2(der)
	if err != nil {
		return nil, fmt.Errorf("--pkcs8 %s: %w", src, err)
	}
	return key, nil
}

// looksPEM reports whether the file at path starts like a PEM file.
func looksPEM(path string) bool {
	data, err := readBounded(path, keystore.MaxFileBytes)
	return err == nil && bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN "))
}

func newKeysPendingCmd(c *cli) *cobra.Command {
	var kf keyFlags
	var kind string
	var force bool
	cmd := &cobra.Command{
		Use:   "pending",
		Short: "Generate the key a governed key rotation will switch this node to",
		Long: `Pending writes a new key beside the node's current one (--kind validator: the
consensus key; node: the libp2p node key), as <name>.pending.key next to the
file config.toml names, stored like the current key: encrypted with the same
passphrase (checked against the current key), or unencrypted with
--insecure-unencrypted when the current one is. It prints the public key (and
the peer id of a node key) for the proposal:

  govnode tx gov propose rotate-validator-key --department D --consensus-key <file> ...
  govnode tx gov propose rotate-node-key --department D --peer-id <file> ...

Restart the node once the file is in place and before the rotation takes
effect: from then on it holds both keys and signs with the one the validator
set in force names (ARCHITECTURE.md §5, governance).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, cur, err := c.homeKeyFile(kind)
			if err != nil {
				return err
			}
			curInfo, err := keystore.LoadPublic(cur)
			if err != nil {
				return fmt.Errorf("current key: %w", err)
			}
			if curInfo.Kind != k {
				return fmt.Errorf("current key %s is a key of kind %s, not %s", cur, curInfo.Kind, k)
			}
			path := keystore.PendingPath(cur)
			if old, err := keystore.LoadPublic(path); err == nil && !force {
				return fmt.Errorf("a pending key exists already: %s (public key %s); propose it, or replace it with --force if it was never proposed",
					path, b64(old.PublicKey.GetKey()))
			}
			var opts keystore.Options
			switch {
			case !curInfo.Encrypted && !kf.insecure:
				return fmt.Errorf("the current key %s is unencrypted: the node opens both keys alike, so give --insecure-unencrypted (or encrypt the current key first)", cur)
			case curInfo.Encrypted && kf.insecure:
				return fmt.Errorf("the current key %s is encrypted: the pending key is stored like it, with the same passphrase", cur)
			case kf.insecure:
				if opts, err = c.saveOptions(cmd, &kf, k, force); err != nil {
					return err
				}
			default:
				pass, err := c.passphrase(cmd, kf.passphraseFile, false, "the node's key passphrase")
				if err != nil {
					return err
				}
				if _, err := keystore.Load(cur, pass); err != nil {
					return fmt.Errorf("the pending key is encrypted with the passphrase of the current key, which it does not open: %w", err)
				}
				opts = keystore.Options{Kind: k, Passphrase: pass, Overwrite: force, ScryptWorkFactor: kf.workFactor}
			}
			key, err := crypto.GenerateKey(curInfo.Scheme, rand.Reader)
			if err != nil {
				return err
			}
			if err := keystore.Save(path, key, opts); err != nil {
				return err
			}
			info, err := keystore.LoadPublic(path)
			if err != nil {
				return err
			}
			c.log.Info("pending key created", "file", path, "kind", k, "current", cur)
			v := viewOf(strings.TrimSuffix(filepath.Base(path), keystore.FileExt), info)
			if err := c.printKey(cmd, v); err != nil {
				return err
			}
			if c.output != "json" {
				verb, flag := "rotate-validator-key", "--consensus-key"
				if k == keystore.KindNode {
					verb, flag = "rotate-node-key", "--peer-id"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "\npropose it: govnode tx gov propose %s --department <id> %s %s ...\nthen restart the node before the rotation takes effect\n", verb, flag, path)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "kind", string(keystore.KindValidator), "which key: validator (consensus) or node (libp2p)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing pending key (only one never proposed)")
	addKeyFlags(cmd, &kf, true)
	return cmd
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// homeKeyFile is the key file of kind (validator or node) that the home's
// config.toml names: the current key a rotation replaces (`keys pending`,
// `keys promote`).
func (c *cli) homeKeyFile(kind string) (keystore.Kind, string, error) {
	k, err := keystore.ParseKind(kind)
	if err != nil || k == keystore.KindAccount {
		return "", "", fmt.Errorf("--kind %q: want validator or node", kind)
	}
	cfgPath := filepath.Join(c.home, configFileName)
	cfg, err := node.LoadConfig(cfgPath)
	if err != nil {
		return "", "", fmt.Errorf("read node home: %w", err)
	}
	if k == keystore.KindNode {
		return k, cfg.ResolvePath(cfg.NodeKeyFile), nil
	}
	if cfg.ValidatorKeyFile == "" {
		return "", "", fmt.Errorf("%s has no validator_key_file: an observer has no consensus key to rotate", cfgPath)
	}
	return k, cfg.ResolvePath(cfg.ValidatorKeyFile), nil
}
