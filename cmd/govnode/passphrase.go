package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
		return readPassphraseFile(file, cmdWarner(cmd))
	}
	if v, ok := c.env.LookupEnv(envPassphrase); ok {
		if v == "" {
			return "", fmt.Errorf("$%s is set but empty", envPassphrase)
		}
		return v, nil
	}
	return promptPassphrase(cmd, confirm, what, "--passphrase-file or $"+envPassphrase)
}

// maxPassphraseFileBytes bounds what is read from a passphrase file: a
// passphrase is one line, and the bound stops a wrong path (/dev/zero, a
// log file) from being read into memory whole.
const maxPassphraseFileBytes = 4 << 10

// cmdWarner reports a warning on the command's stderr.
func cmdWarner(cmd *cobra.Command) func(error) {
	return func(err error) { warn(cmd, "%v", err) }
}

// readPassphraseFile returns the first line of file, without its line end.
// file must be a regular file or a pipe (`--passphrase-file <(pass show
// node)` keeps the passphrase off the disk) of at most
// maxPassphraseFileBytes; a device or directory is refused. A regular file
// that group or others may access is reported to warn (a warning, not a
// refusal: the file may be shared on purpose in a locked-down container,
// and the exposure has already happened by the time it is read).
func readPassphraseFile(file string, warn func(error)) (string, error) {
	b, err := readSecretFile(file, maxPassphraseFileBytes)
	if err != nil {
		return "", fmt.Errorf("passphrase file: %w", err)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	pass := strings.TrimSuffix(string(line), "\r")
	if pass == "" {
		return "", fmt.Errorf("passphrase file %s: empty passphrase", file)
	}
	if st, err := os.Stat(file); err == nil && st.Mode().IsRegular() {
		if err := keystore.CheckPerm(file, st.Mode().Perm()); err != nil {
			warn(fmt.Errorf("passphrase file %w", err))
		}
	}
	return pass, nil
}

// readSecretFile reads file, a regular file or a pipe, refusing one larger
// than max bytes without reading more than max+1 of it.
func readSecretFile(file string, max int64) ([]byte, error) {
	// Stat first: opening a device such as a terminal may block, and its
	// kind is known without opening it.
	st, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if m := st.Mode(); !m.IsRegular() && m&fs.ModeNamedPipe == 0 {
		return nil, fmt.Errorf("%s: %w (file mode %v): want a regular file or a pipe", file, keystore.ErrNotRegularFile, m)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", file, keystore.ErrFileTooLarge, max)
	}
	return b, nil
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
	if err := keystore.CheckPerm(path, info.Perm); err != nil {
		warn(cmd, "key file %v", err)
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
