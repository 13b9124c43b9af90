package main

import (
	"fmt"
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
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
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
