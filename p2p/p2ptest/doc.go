// Package p2ptest builds consortium networks of real p2p nodes on loopback
// for tests: deterministic node and validator keys from a seed, configs with
// short timers, a fake block source, signed consensus messages, and a
// polling helper for the few places where libp2p leaves no event to wait on.
// It is for tests only and is never imported by production code.
package p2ptest
