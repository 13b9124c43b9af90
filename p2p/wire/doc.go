// Package wire is govnode's stream framing: every request and response on a
// p2p stream protocol (block sync, ARCHITECTURE.md §4) is one frame, a uvarint length
// followed by that many bytes of protobuf.
//
// The reader checks the length against a caller-given bound before it
// allocates anything, so a peer that announces a 4 GiB frame costs us the
// ten bytes of its varint and nothing more. Decoders never panic on any
// input (FuzzReadFrame and FuzzReadMsg keep it that way).
package wire
