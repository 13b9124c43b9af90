//go:build !linux

package driver

import "os"

// datasync makes f's written data durable (fsync where the system has no
// fdatasync that the safety file's in-place writes could rely on).
func datasync(f *os.File) error { return f.Sync() }
