//go:build !byzantine

package byzantine

import (
	"log/slog"
	"testing"
)

// The default build has no Byzantine behaviour: whatever $GOVNODE_BYZANTINE
// asks for, the node gets the honest hook.
func TestDefaultBuildIgnoresByzantine(t *testing.T) {
	d := Deps{Logger: slog.New(slog.DiscardHandler)}
	for _, s := range []string{"", "all", "equivocate,doublevote", "nonsense"} {
		b, err := New(s, d)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if _, ok := b.(Honest); !ok {
			t.Fatalf("%q: hook %T, want honest", s, b)
		}
	}
}
