package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// versionInfo is what `govnode version` reports.
type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
	// Upgrades are the governed upgrades this binary knows.
	Upgrades []string `json:"upgrades"`
}

// buildVersion combines the -ldflags values with the module's build info:
// without -X main.commit, the VCS revision stamped by `go build` is used
// (with "-dirty" when the tree was modified).
func buildVersion() versionInfo {
	v := versionInfo{Version: version, Commit: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, Upgrades: upgrades()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if v.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v.Version = bi.Main.Version
	}
	if v.Commit == "unknown" {
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			v.Commit = rev
			if modified == "true" {
				v.Commit += "-dirty"
			}
		}
	}
	return v
}

func newVersionCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := buildVersion()
			if c.output == "json" {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "govnode %s\ncommit %s\n%s %s\nupgrades %s\n", v.Version, v.Commit, v.GoVersion, v.Platform, strings.Join(append([]string{"none"}, v.Upgrades...)[min(1, len(v.Upgrades)):], ", "))
			return nil
		},
	}
}
