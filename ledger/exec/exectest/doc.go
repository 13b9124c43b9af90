// Package exectest holds test helpers for the executor and its users: an
// in-memory sorted Store implementing exec.Reader, deterministic keys and
// signers, a genesis fixture with departments, officials and citizens, and
// a Chain that applies and commits blocks. It is imported only by tests and
// benchmarks.
package exectest
