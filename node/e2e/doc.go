// Package e2e runs real govnode binaries as processes on 127.0.0.1 and
// drives them from outside through the public API only: a local network
// made by `govnode testnet`, transactions signed with its accounts' keys,
// and faults by signals (SIGKILL, SIGTERM). It has no code of its own
// outside its tests.
package e2e
