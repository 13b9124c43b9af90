package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/govnode/govnode/node"
)

// Environment variable names the CLI reads.
const (
	envPassphrase = "GOVNODE_PASSPHRASE"
	// Test-only fault injection (README, configuration): a shift of the
	// node's wall clock, and the behaviours of a byzantine test build.
	envClockOffset = "GOVNODE_TEST_CLOCK_OFFSET"
	envByzantine   = "GOVNODE_BYZANTINE"
)

// cliEnv is what the CLI takes from its process: main fills it from the
// OS, tests from a map, so no test depends on the machine it runs on.
type cliEnv struct {
	// LookupEnv is os.LookupEnv in production.
	LookupEnv func(string) (string, bool)
	// DefaultHome is the --home default, $HOME/.govnode.
	DefaultHome string
	// Hostname is the --moniker default of init.
	Hostname string
}

// cli holds the parsed global flags and the environment.
type cli struct {
	env      cliEnv
	home     string
	logLevel string
	output   string
	log      *slog.Logger
}

func newRootCmd(env cliEnv) *cobra.Command {
	if env.LookupEnv == nil {
		env.LookupEnv = func(string) (string, bool) { return "", false }
	}
	c := &cli{env: env}
	root := &cobra.Command{
		Use:   "govnode",
		Short: "govnode: consortium blockchain node for government departments",
		Long: `govnode runs a node of a permissioned blockchain kept by government departments,
and prepares one: node homes, keys, the genesis document, a local test network.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			level, err := node.ParseLogLevel(c.logLevel)
			if err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			switch c.output {
			case "text", "json":
			default:
				return fmt.Errorf("--output: unknown format %q (want text or json)", c.output)
			}
			c.log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&c.home, "home", env.DefaultHome, "node home directory")
	pf.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&c.output, "output", "text", "output format: text or json")

	root.AddCommand(
		newInitCmd(c),
		newKeysCmd(c),
		newGenesisCmd(c),
		newTestnetCmd(c),
		newVersionCmd(c),
		newStartCmd(c),
		newTxCmd(c), newQueryCmd(c), newStatusCmd(c),
		newEventsCmd(c), newBenchCmd(c), newVerifyCmd(c),
	)
	return root
}

// warn prints an operator-facing warning on stderr. Its string and error
// arguments may carry a node's words (an error message), so each passes
// through termText.
func warn(cmd *cobra.Command, format string, args ...any) {
	safe := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			safe[i] = termText(v)
		case error:
			safe[i] = termText(v.Error())
		default:
			safe[i] = a
		}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "WARNING: "+format+"\n", safe...)
}

// writeJSON prints v as indented JSON, terminal-safe (termJSON).
func writeJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(termJSON(b.Bytes()))
	return err
}
