package api

import "sync"

// HeightNotifier wakes waiters when the committed height changes: the
// API's event source, for SubmitTx's wait_for_commit, WaitForTx and
// StreamEvents. Waiters take the current channel and wait for it to close;
// each commit closes it and makes a new one, so no subscriber holds a
// buffer that can fill.
type HeightNotifier struct {
	mu     sync.Mutex
	height uint64
	ch     chan struct{}
}

var _ Commits = (*HeightNotifier)(nil)

// NewHeightNotifier starts at committed height h.
func NewHeightNotifier(h uint64) *HeightNotifier {
	return &HeightNotifier{height: h, ch: make(chan struct{})}
}

// Wait returns the current height and a channel closed at the next change.
func (n *HeightNotifier) Wait() (uint64, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.height, n.ch
}

// Set records a new height and wakes every waiter. The committer calls it
// after each commit.
func (n *HeightNotifier) Set(h uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.height = h
	close(n.ch)
	n.ch = make(chan struct{})
}
