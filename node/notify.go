package node

import "sync"

// heightNotifier wakes waiters when the committed height changes. Waiters
// take the current channel and wait for it to close; each commit closes it
// and makes a new one, so no subscriber holds a buffer that can fill.
type heightNotifier struct {
	mu     sync.Mutex
	height uint64
	ch     chan struct{}
}

func newHeightNotifier(h uint64) *heightNotifier {
	return &heightNotifier{height: h, ch: make(chan struct{})}
}

// Wait returns the current height and a channel closed at the next change.
func (n *heightNotifier) Wait() (uint64, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.height, n.ch
}

// Set records a new height and wakes every waiter.
func (n *heightNotifier) Set(h uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.height = h
	close(n.ch)
	n.ch = make(chan struct{})
}
