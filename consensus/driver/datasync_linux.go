package driver

import (
	"os"
	"syscall"
)

// datasync makes f's written data durable. The safety file is written in
// place, inside a file whose size and blocks were synced when it was
// created (rewrite), so only its data and timestamps change between
// saves: fdatasync(2) flushes the data without the journal commit that
// fsync(2) also makes for the timestamps. On ext4 that commit serializes
// with every other fsync of the filesystem (the ledger's), and it was most
// of a save's time under load (docs/BENCHMARKS.md).
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
