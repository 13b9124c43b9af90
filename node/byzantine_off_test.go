//go:build !byzantine

package node

import (
	"log/slog"
	"testing"
)

// The default build has no Byzantine behaviour: whatever $GOVNODE_BYZANTINE
// asks for, the node gets the honest hook.
func TestDefaultBuildIgnoresByzantine(t *testing.T) {
	n := &Node{log: slog.New(slog.DiscardHandler)}
	for _, s := range []string{"", "all", "equivocate,doublevote", "nonsense"} {
		b, err := newByzantine(n, s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if _, ok := b.(honest); !ok {
			t.Fatalf("%q: hook %T, want honest", s, b)
		}
	}
}
