//go:build linux

package chaos

import (
	"context"
	"time"

	"golang.org/x/sys/unix"
)

// waitWrite waits until a file in dir is written (inotify IN_MODIFY) and
// reports whether one was, within timeout.
func waitWrite(ctx context.Context, dir string, timeout time.Duration) bool {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MODIFY); err != nil {
		return false
	}
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	for ctx.Err() == nil {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(min(left, 50*time.Millisecond)/time.Millisecond)+1)
		if err != nil && err != unix.EINTR {
			return false
		}
		if n > 0 {
			if k, _ := unix.Read(fd, buf); k > 0 {
				return true
			}
		}
	}
	return false
}
