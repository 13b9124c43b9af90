// Package node assembles a running govnode node: its configuration, its
// lifecycle, the mempool, the API server, metrics and the event stream. It
// wires consensus, p2p, ledger and genesis together through their small
// interfaces (DESIGN section 2) and is driven by cmd/govnode.
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
