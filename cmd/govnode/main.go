package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Set with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

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
