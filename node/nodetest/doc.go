// Package nodetest starts in-process govnode nodes for tests: a
// one-validator crash-fault chain whose genesis is built in Go (department
// dept0 with an admin and an official, two citizens, testnet-like record
// types and the procurement template), keys generated from a seeded reader
// and written unencrypted under t.TempDir(), and a Connect client on the
// node's API. It also signs transactions for the genesis accounts.
//
// It is imported by tests only; production code must never import it.
package nodetest
