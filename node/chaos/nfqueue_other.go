//go:build !linux

package chaos

import (
	"errors"
	"time"
)

// Delayer needs Linux's NFQUEUE.
type Delayer struct{}

// NewDelayer fails: NFQUEUE is Linux only.
func NewDelayer(ns string, queue uint16, delay time.Duration) (*Delayer, error) {
	return nil, errors.New("packet delay needs Linux NFQUEUE")
}

// Close does nothing.
func (d *Delayer) Close() error { return nil }

// Held is 0.
func (d *Delayer) Held() int64 { return 0 }
