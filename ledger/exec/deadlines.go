package exec

import (
	"errors"
	"strconv"
	"strings"
)

// NextDeadline returns the earliest due time, in unix seconds, of the
// contract deadlines in state r: the first key of the dl/ index, which is
// ordered by time (keys.go). ok is false when no deadline is scheduled.
//
// The state machine fires a deadline due at s in the first block whose
// header time is past it (time_ms > s*1000, fireDeadlines); nothing else
// makes that block, so the node's consensus driver asks for one when the
// wall clock passes the earliest due time (ARCHITECTURE.md §4 "Deadlines
// drive blocks"). A stale entry (its contract moved on since it was
// scheduled) counts too: the block that passes it removes it and fires
// nothing.
func NextDeadline(r Reader) (unixSec int64, ok bool, err error) {
	// Stop at the first key: the Reader iterates in key order and stops
	// at fn's error.
	errFirst := errors.New("first deadline read")
	var key string
	err = readerKV{r}.iterate(prefixDeadline, prefixEnd(prefixDeadline), func(k string, _ []byte) error {
		key = k
		return errFirst
	})
	if err != nil && !errors.Is(err, errFirst) {
		return 0, false, err
	}
	if key == "" {
		return 0, false, nil
	}
	// key: dl/<at, %020d>/<contract>/<generation>/<i>
	at, _, _ := strings.Cut(key[len(prefixDeadline):], "/")
	s, perr := strconv.ParseUint(at, 10, 63)
	if perr != nil {
		return 0, false, fmtInvariant("deadline key %q: %v", key, perr)
	}
	return int64(s), true, nil
}

// DeadlinePassed reports whether a block at timeMs (unix milliseconds, the
// header's time) fires a deadline due at unixSec: the block time is past
// it, timeMs > unixSec*1000 (fireDeadlines' rule), computed without
// overflow for any due time.
func DeadlinePassed(unixSec, timeMs int64) bool {
	return timeMs > 0 && floorDiv(timeMs-1, 1000) >= unixSec
}
