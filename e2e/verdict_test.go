package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// verdict repeats a test's failures after everything else it logs: a
// failing test's cleanups dump the last lines of every process it started,
// which otherwise push the failure itself out of the tail of a CI log.
// Make it first in the test (its cleanup then runs last) and report
// failures through it.
type verdict struct {
	t    *testing.T
	mu   sync.Mutex
	msgs []string
}

func newVerdict(t *testing.T) *verdict {
	v := &verdict{t: t}
	t.Cleanup(func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		switch {
		case len(v.msgs) > 0:
			t.Logf("%s failed (repeated after the process logs):\n  %s", t.Name(), strings.Join(v.msgs, "\n  "))
		case t.Failed():
			t.Logf("%s failed in a helper: its message is above the process logs", t.Name())
		}
	})
	return v
}

func (v *verdict) note(format string, args ...any) {
	v.mu.Lock()
	v.msgs = append(v.msgs, fmt.Sprintf(format, args...))
	v.mu.Unlock()
}

// Errorf is t.Errorf, repeated at the end.
func (v *verdict) Errorf(format string, args ...any) {
	v.t.Helper()
	v.note(format, args...)
	v.t.Errorf(format, args...)
}

// Fatalf is t.Fatalf, repeated at the end.
func (v *verdict) Fatalf(format string, args ...any) {
	v.t.Helper()
	v.note(format, args...)
	v.t.Fatalf(format, args...)
}
