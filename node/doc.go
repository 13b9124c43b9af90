// Package node assembles a running govnode node: its configuration, its
// lifecycle (New, Run, Close) and the wiring of the subsystems, each in a
// package of its own: the block executor (ledger/blockexec), the mempool
// and its tx fanout (node/mempool), the consensus transport (node/transport),
// block sync (node/blocksync), the API (node/api), evidence
// (node/evidence), the on-disk state guards (node/home) and metrics
// (node/metrics). It connects them to consensus, p2p, ledger and genesis
// through their small interfaces (ARCHITECTURE.md §2) and is driven by
// cmd/govnode. consensus.go runs the consensus driver with block sync
// around it.
//
// Configuration (config.go) is a plain Config struct: DefaultConfig gives
// working values, Validate names the field and the reason of every bad
// value, LoadConfig reads the TOML file strictly (an unknown key is an error
// naming it, broken TOML an error naming the line) and WriteConfig writes
// the commented file that `govnode init` leaves in a node's home. The TOML
// key names map one to one onto command-line flags (api.listen_addr is
// --api.listen-addr), which cmd/govnode parses into the struct; nothing in
// this package reads flags, globals or environment variables.
//
// Relative paths in Config (data_dir, genesis_file, key files) are relative
// to Config.Home, the directory of the config file, so a home directory can
// be moved as a whole; Config.ResolvePath applies that rule.
package node
