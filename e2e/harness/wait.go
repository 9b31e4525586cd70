package harness

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Poll calls check every interval until it returns nil, the context ends or
// the timeout passes; the error names what was awaited and the last reason.
func Poll(ctx context.Context, what string, timeout, interval time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		var perm *permanent
		if errors.As(last, &perm) {
			return fmt.Errorf("waiting for %s: %w", what, perm.err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: gave up after %v: %w", what, timeout, last)
		case <-t.C:
		}
	}
}

// Until is Poll for a condition: it checks cond every 10 ms for at most
// timeout.
func Until(what string, timeout time.Duration, cond func() bool) error {
	return Poll(context.Background(), what, timeout, 10*time.Millisecond, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

var errNotYet = errors.New("not yet")

// Permanent wraps an error a Poll check returns to stop polling at once:
// waiting longer cannot help.
func Permanent(err error) error { return &permanent{err} }

type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }
