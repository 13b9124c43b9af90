// Package proto holds govnode's protobuf sources (govnode/v1/*.proto,
// package govnode.v1) and the Go code generated from them, which is
// committed. `make proto` regenerates it with pinned tools (buf, protoc-gen-go,
// protoc-gen-connect-go); TestGeneratedCodeIsFresh fails when the committed
// code no longer matches the sources.
package proto
