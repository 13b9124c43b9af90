package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/keystore"
	"github.com/govnode/govnode/ledger/blockexec"
	"github.com/govnode/govnode/node"
)

type startOpts struct {
	genesis        string
	dev            bool
	passphraseFile string
	recoverState   bool
	flags          *configFlags
}

func newStartCmd(c *cli) *cobra.Command {
	o := &startOpts{}
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run the node: ledger, consensus, p2p, API and metrics",
		Long: `Run the node of the home directory (--home): it reads config.toml, opens the
ledger, joins the network of the genesis and serves the API until SIGINT or
SIGTERM, when it finishes the block in hand and closes the ledger.

Every config.toml key can be overridden by a flag of the same name
(genesis_file by --genesis).

--dev runs a single-validator development chain, ready for transactions at
once, in $HOME/.govnode-dev (or --home): the first run writes its genesis,
keys (unencrypted: development only) and config there.

A home that ran a node before but whose ledger or consensus safety state is
missing is refused: a validator that forgot what it voted for could vote
twice. --recover-missing-state starts it once, knowingly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return c.runStart(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.genesis, "genesis", "", "genesis file (default: genesis_file of config.toml)")
	f.BoolVar(&o.dev, "dev", false, "run a single-validator development chain (no set-up)")
	f.StringVar(&o.passphraseFile, "passphrase-file", "", "file holding the key files' passphrase (else $"+envPassphrase+" or a prompt)")
	// A flag and not a config key: it accepts one start, and kept in
	// config.toml it would silence the check for good.
	f.BoolVar(&o.recoverState, "recover-missing-state", false, "start although the ledger or consensus safety state of a home that ran before is missing (it catches up from peers and does not vote before the view after theirs)")
	o.flags = addConfigFlags(f, "genesis-file")
	return cmd
}

func (c *cli) runStart(cmd *cobra.Command, o *startOpts) error {
	home := c.home
	if o.dev {
		devHome, err := c.prepareDev(cmd)
		if err != nil {
			return err
		}
		home = devHome
	}
	cfgPath := filepath.Join(home, "config.toml")
	cfg, err := node.LoadConfig(cfgPath)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no %s: run `govnode init --home %s` first (or `govnode start --dev`)", cfgPath, home)
	}
	if err != nil {
		return err
	}
	o.flags.apply(c, cmd.Flags(), cfg)
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s: %w", cfgPath, err)
	}
	log, err := nodeLogger(cmd.ErrOrStderr(), cfg)
	if err != nil {
		return err
	}
	for _, w := range node.ConfigWarnings(cfgPath, cfg) {
		log.Warn("config", "warning", w)
	}
	// The certificate files, checked before a passphrase is asked for:
	// node.New loads them again when it binds the listeners.
	tlsCfg, err := cfg.LoadTLS(time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", cfgPath, err)
	}
	for _, w := range tlsCfg.Warnings {
		log.Warn("config", "warning", w)
	}
	if cfg.MemoryLimitMiB > 0 {
		prev := debug.SetMemoryLimit(int64(cfg.MemoryLimitMiB) << 20)
		defer debug.SetMemoryLimit(prev)
		log.Info("memory limit set", "mib", cfg.MemoryLimitMiB)
	}
	pass, err := c.keyPassphrase(cmd, cfg, o.passphraseFile, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	faults, err := c.faultOptions()
	if err != nil {
		return err
	}
	n, err := node.New(ctx, node.Options{Config: cfg, GenesisFile: o.genesis, Passphrase: pass, Logger: log, Version: version,
		ClockOffset: faults.ClockOffset, Byzantine: faults.Byzantine, RecoverMissingState: o.recoverState, KnownUpgrades: upgrades()})
	if upgradeHalted(err) {
		return upgradeStop(cmd, err)
	}
	if err != nil {
		return err
	}
	if o.dev {
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "development chain running; API at %s\n", n.APIAddr())
		fmt.Fprintf(out, "try:\n  govnode status --node %s\n", n.APIAddr())
		// A record id of its own for each start: ids are unique on the
		// chain, so one fixed id failed on every start after the first.
		fmt.Fprintf(out, "  govnode tx record create --node %s --key %s --signer dept0-official --id rec-%x --type business_license --subject account0 --content 'hello' --wait\n",
			n.APIAddr(), filepath.Join(home, "keys", "official.key"), time.Now().UnixNano())
	}
	err = n.Run(ctx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	if upgradeHalted(err) {
		return upgradeStop(cmd, err)
	}
	if err == nil {
		log.Info("node stopped")
	}
	return err
}

// prepareDev makes the development home on first use: a one-validator
// network (govnode testnet) with a few citizen accounts. It returns the
// node's home.
func (c *cli) prepareDev(cmd *cobra.Command) (string, error) {
	dir := c.home
	if !cmd.Flags().Changed("home") {
		dir = filepath.Join(filepath.Dir(c.env.DefaultHome), ".govnode-dev")
	}
	home := filepath.Join(dir, "node0")
	if _, err := os.Stat(filepath.Join(home, "config.toml")); err == nil {
		return home, nil
	}
	errOut := cmd.ErrOrStderr()
	fmt.Fprintf(errOut, "creating a development chain in %s\n", dir)
	// Plaintext on loopback, as the address it prints is called (the
	// development chain is one machine's; `govnode testnet` serves TLS).
	o := &testnetOpts{validators: 1, out: dir, faultModel: "crash", basePort: 26656, chainID: "govnode-dev", accounts: 4, tls: false,
		suite: crypto.SuiteNameEd25519SHA256}
	// The test network's summary names its config's addresses, which
	// start's flags may move, and its genesis warning, which the node
	// logs again: start says what runs once the node is up instead.
	var quiet bytes.Buffer
	out := cmd.OutOrStdout()
	cmd.SetOut(&quiet)
	cmd.SetErr(&quiet)
	err := c.runTestnet(cmd, o)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	if err != nil {
		return "", fmt.Errorf("create development chain: %w\n%s", err, quiet.String())
	}
	warn(cmd, "the development chain's key files are UNENCRYPTED: use it only on a local machine")
	fmt.Fprintf(errOut, "one validator (dept0, crash model), %d citizen accounts in %s\n", o.accounts, filepath.Join(dir, "accounts"))
	return home, nil
}

// keyPassphrase returns the passphrase of the node's key files, asked only
// when one of them is encrypted. A passphrase file that group or others
// may read is logged as a warning.
func (c *cli) keyPassphrase(cmd *cobra.Command, cfg *node.Config, file string, log *slog.Logger) (string, error) {
	encrypted := false
	for _, p := range []string{cfg.NodeKeyFile, cfg.ValidatorKeyFile} {
		if p == "" {
			continue
		}
		info, err := keystore.LoadPublic(cfg.ResolvePath(p))
		if err != nil {
			return "", fmt.Errorf("key file %s: %w", cfg.ResolvePath(p), err)
		}
		encrypted = encrypted || info.Encrypted
	}
	if !encrypted {
		return "", nil
	}
	if file != "" {
		return readPassphraseFile(file, func(err error) { log.Warn("passphrase file is exposed", "err", err) })
	}
	return c.passphrase(cmd, file, false, "key passphrase")
}

// nodeLogger makes the node's logger: JSON when asked or when stderr is
// not a terminal (auto), text otherwise.
func nodeLogger(w io.Writer, cfg *node.Config) (*slog.Logger, error) {
	level, err := node.ParseLogLevel(cfg.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("log_level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	jsonOut := cfg.LogFormat == "json"
	if cfg.LogFormat == "auto" {
		f, ok := w.(*os.File)
		jsonOut = !ok || !term.IsTerminal(int(f.Fd()))
	}
	var h slog.Handler
	if jsonOut {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With("node", cfg.Moniker), nil
}

// faultOptions reads the test-only fault switches from the environment:
// $GOVNODE_TEST_CLOCK_OFFSET (a Go duration such as -3s or 2m) shifts the
// node's wall clock, in every build; $GOVNODE_BYZANTINE lists misbehaviours,
// honoured only by a binary built with -tags byzantine.
func (c *cli) faultOptions() (node.Options, error) {
	var o node.Options
	if v, ok := c.env.LookupEnv(envClockOffset); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return o, fmt.Errorf("$%s: %w", envClockOffset, err)
		}
		o.ClockOffset = d
	}
	o.Byzantine, _ = c.env.LookupEnv(envByzantine)
	return o, nil
}

// upgradeStop ends start for a governed upgrade this binary does not know
// (blockexec.UpgradeHalt): a clean stop, exit status 0 so that a service
// manager does not restart the same binary into the same halt, with the
// message naming the upgrade on stderr.
//
// Only the halt itself: a ledger past an upgrade the binary does not know
// (blockexec.ErrBinaryTooOld, a wrong binary), and a halt that came with
// another failure (errors.Join: the ledger failed to close, say), are
// errors and exit non-zero.
func upgradeStop(cmd *cobra.Command, err error) error {
	// The message carries the plan's info, text from the chain: quoted
	// if it holds a control character (a terminal escape, say).
	fmt.Fprintf(cmd.ErrOrStderr(), "govnode stopped: %s\n", termText(err.Error()))
	return nil
}

// upgradeHalted reports whether err is a blockexec.UpgradeHalt, wrapped
// along a single chain, and nothing else.
func upgradeHalted(err error) bool {
	for err != nil {
		if _, ok := err.(*blockexec.UpgradeHalt); ok {
			return true
		}
		if _, multi := err.(interface{ Unwrap() []error }); multi {
			return false
		}
		err = errors.Unwrap(err)
	}
	return false
}
