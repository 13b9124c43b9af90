package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/govnode/govnode/keystore"
)

// keyFlags are the flags of every command that writes or reads a key file.
type keyFlags struct {
	passphraseFile string
	insecure       bool
	workFactor     int
}

// addKeyFlags registers --passphrase-file and --scrypt-work-factor, and
// --insecure-unencrypted when the command writes keys.
func addKeyFlags(cmd *cobra.Command, kf *keyFlags, writes bool) {
	cmd.Flags().StringVar(&kf.passphraseFile, "passphrase-file", "", "read the key passphrase from this file (first line); default: $"+envPassphrase+", else a prompt on a terminal")
	if writes {
		cmd.Flags().BoolVar(&kf.insecure, "insecure-unencrypted", false, "write keys unencrypted (local test networks only)")
		cmd.Flags().IntVar(&kf.workFactor, "scrypt-work-factor", keystore.DefaultScryptWorkFactor, "log2 of the scrypt cost for new encrypted keys (lower only for tests)")
		_ = cmd.Flags().MarkHidden("scrypt-work-factor")
	}
}

// saveOptions returns the keystore options for writing a key of kind,
// asking for a new passphrase unless --insecure-unencrypted. Call it once
// per command and reuse the options for every key the command writes.
func (c *cli) saveOptions(cmd *cobra.Command, kf *keyFlags, kind keystore.Kind, overwrite bool) (keystore.Options, error) {
	opts := keystore.Options{Kind: kind, Overwrite: overwrite, ScryptWorkFactor: kf.workFactor}
	if kf.insecure {
		if kf.passphraseFile != "" {
			return opts, errors.New("--insecure-unencrypted and --passphrase-file exclude each other")
		}
		opts.Unencrypted = true
		warn(cmd, "writing UNENCRYPTED key files: anyone who can read them can sign as this node; use only on local test networks")
		return opts, nil
	}
	pass, err := c.passphrase(cmd, kf.passphraseFile, true, "new key passphrase")
	if err != nil {
		return opts, err
	}
	opts.Passphrase = pass
	return opts, nil
}

// passphrase gets a passphrase from file, else $GOVNODE_PASSPHRASE, else a
// terminal prompt (asked twice when confirm).
func (c *cli) passphrase(cmd *cobra.Command, file string, confirm bool, what string) (string, error) {
	if file != "" {
		return readPassphraseFile(file)
	}
	if v, ok := c.env.LookupEnv(envPassphrase); ok {
		if v == "" {
			return "", fmt.Errorf("$%s is set but empty", envPassphrase)
		}
		return v, nil
	}
	return promptPassphrase(cmd, confirm, what, "--passphrase-file or $"+envPassphrase)
}

// readPassphraseFile returns the first line of file, without its line end.
func readPassphraseFile(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("passphrase file: %w", err)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	pass := strings.TrimSuffix(string(line), "\r")
	if pass == "" {
		return "", fmt.Errorf("passphrase file %s: empty passphrase", file)
	}
	return pass, nil
}

// promptPassphrase reads a passphrase from the terminal on stdin, echo off.
func promptPassphrase(cmd *cobra.Command, confirm bool, what, alternatives string) (string, error) {
	f, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", fmt.Errorf("%s needed and stdin is not a terminal: use %s", what, alternatives)
	}
	read := func(prompt string) (string, error) {
		fmt.Fprint(cmd.ErrOrStderr(), prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", fmt.Errorf("read passphrase: %w", err)
		}
		return string(b), nil
	}
	pass, err := read("Enter " + what + ": ")
	if err != nil {
		return "", err
	}
	if pass == "" {
		return "", errors.New("empty passphrase")
	}
	if confirm {
		again, err := read("Repeat " + what + ": ")
		if err != nil {
			return "", err
		}
		if again != pass {
			return "", errors.New("passphrases do not match")
		}
	}
	return pass, nil
}

// loadKey loads a key file, asking for its passphrase only if it is
// encrypted.
func (c *cli) loadKey(cmd *cobra.Command, path, passFile string) (*loadedKey, error) {
	info, err := keystore.LoadPublic(path)
	if err != nil {
		return nil, err
	}
	pass := ""
	if info.Encrypted {
		if pass, err = c.passphrase(cmd, passFile, false, "passphrase for "+path); err != nil {
			return nil, err
		}
	}
	key, info, err := keystore.LoadWithInfo(path, pass)
	if err != nil {
		return nil, err
	}
	return &loadedKey{key: key, info: info}, nil
}
