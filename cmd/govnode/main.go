package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Set with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
	// extraUpgrades, comma-separated, adds to knownUpgrades (-X
	// main.extraUpgrades=...): for tests of the upgrade path, which need
	// a binary that knows an upgrade the default one does not.
	extraUpgrades = ""
)

// knownUpgrades are the governed upgrades this release implements
// (ARCHITECTURE.md §5, "Upgrades"): every one up to it, in order. A
// release that changes the state machine adds its name here, with its
// migration in the state machine if it needs one; an operator schedules
// it with `govnode tx gov propose schedule-upgrade --name NAME`.
var knownUpgrades = []string{}

// upgrades returns knownUpgrades and extraUpgrades.
func upgrades() []string {
	out := slices.Clone(knownUpgrades)
	for _, n := range strings.Split(extraUpgrades, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

func main() {
	root := newRootCmd(osEnv())
	if err := root.Execute(); err != nil {
		printError(os.Stderr, err)
		os.Exit(1)
	}
}

// printError prints the error that ends the command. Its text may carry a
// node's words (a refusal's reason, an error message), so each line
// passes through termText.
func printError(w io.Writer, err error) {
	fmt.Fprintln(w, termLines("Error: "+err.Error()))
}

// osEnv is the process environment the CLI reads: the only place below
// main that environment variables are looked at.
func osEnv() cliEnv {
	home := ".govnode"
	if h, err := os.UserHomeDir(); err == nil {
		home = filepath.Join(h, ".govnode")
	}
	host, _ := os.Hostname()
	return cliEnv{LookupEnv: os.LookupEnv, DefaultHome: home, Hostname: host}
}
