// Package containers tests the container network from outside, as an
// operator runs it: `make image` (the FROM scratch image), the four
// departments of contrib/docker/compose.yaml brought up by
// scripts/compose.sh, each node in a container of its own with its home in
// a volume of its own, and the CLI on this machine calling the published
// APIs. It has no code of its own outside its test.
package containers
