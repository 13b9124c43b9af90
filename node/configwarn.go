package node

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/pelletier/go-toml/v2"

	"github.com/govnode/govnode/keystore"
)

// ConfigWarnings lists what is valid in cfg, loaded from the config file at
// path and then overridden by flags, but easy to run with by mistake; the
// caller logs each at start. It reports:
//
//   - a config file that sets no key (empty, or only comments): every
//     setting is a default, p2p included, which is easy to miss when a
//     deployment tool wrote an empty file or the wrong one;
//   - p2p listening on an unspecified address (0.0.0.0 or ::), that is on
//     every interface: the gater refuses non-members, but only after the
//     handshake, so anyone who reaches the port costs the node a handshake
//     (and a refusal), and a host with a public interface exposes it there.
//     Binding the interface the other departments reach keeps the port off
//     the rest.
//
// The default listen address is 0.0.0.0 (a validator must be reachable by
// the other departments), so the second warning is expected on a node that
// keeps it; the fix is a specific address or a firewall.
func ConfigWarnings(path string, cfg *Config) []string {
	var out []string
	if empty, err := configFileSetsNothing(path); err == nil && empty {
		out = append(out, fmt.Sprintf("config file %s sets no key: the node runs on built-in defaults "+
			"(and any command-line flags): p2p on every interface at port %d, data in %s",
			path, DefaultP2PPort, cfg.ResolvePath(cfg.DataDir)))
	}
	var open []string
	for _, s := range cfg.P2P.ListenAddrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			continue // Validate reports it
		}
		if manet.IsIPUnspecified(a) {
			open = append(open, s)
		}
	}
	if len(open) > 0 {
		out = append(out, fmt.Sprintf("p2p.listen_addrs %s listen on every network interface: "+
			"anyone who reaches this host can open a connection (the gater refuses non-members after the handshake); "+
			"bind the address the other departments reach, or firewall the port", strings.Join(open, ", ")))
	}
	return out
}

// maxConfigFileBytes bounds the re-read of the config file for the
// empty-file check; LoadConfig has read it whole already.
const maxConfigFileBytes = 1 << 20

// configFileSetsNothing reports whether the TOML file at path has no key.
func configFileSetsNothing(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigFileBytes))
	if err != nil {
		return false, err
	}
	var m map[string]any
	if err := toml.Unmarshal(b, &m); err != nil {
		return false, err
	}
	return len(m) == 0, nil
}

// warnKeyPerm logs a key file that group or others may access.
func warnKeyPerm(log *slog.Logger, field string, info *keystore.Info) {
	if err := keystore.CheckPerm(info.Path, info.Perm); err != nil {
		log.Warn("key file is exposed", "field", field, "err", err)
	}
}
