// Command govnode is the govnode node daemon and its command-line tools.
//
//	govnode init --home DIR --moniker NAME        a node home: config.toml, node and validator keys
//	govnode keys new|show|list|import|export       key files (encrypted with a passphrase)
//	govnode genesis new|add-validator|add-identity|validate|hash
//	govnode testnet --validators N --out DIR       a whole local network on 127.0.0.1 (APIs over TLS)
//	govnode start [--dev] [--recover-missing-state] run a node (a development chain with --dev)
//	govnode status|tx|query|events                 talk to a node's API
//	govnode bench                                   the cluster benchmark against a local network
//	govnode version
//
// Flags are parsed here, into plain structs (node.Config, keystore.Options)
// that the packages below take as values; this is the only place that reads
// the environment (GOVNODE_PASSPHRASE, HOME) or the terminal.
//
// Passphrases for key files come, in order of precedence, from
// --passphrase-file, from GOVNODE_PASSPHRASE, or from a prompt when stdin is
// a terminal. --insecure-unencrypted writes keys in the clear, for local
// test networks only, and says so on stderr.
//
// Version and commit are set at link time:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD)" ./cmd/govnode
//
// Errors go to stderr and the exit code is 1.
package main
