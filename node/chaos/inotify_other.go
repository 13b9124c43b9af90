//go:build !linux

package chaos

import (
	"context"
	"time"
)

// waitWrite waits out timeout: without inotify the kill lands at a random
// instant.
func waitWrite(ctx context.Context, dir string, timeout time.Duration) bool {
	select {
	case <-ctx.Done():
	case <-time.After(timeout):
	}
	return false
}
