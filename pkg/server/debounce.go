package server

import (
	"context"
	"time"
)

// debouncer turns bursts of change signals into few pushes (Contour's
// event handler): a signal at least maxDelay after the last wake-up (a
// lone change: a drain, a cluster failing its health checks) wakes at
// once; one sooner waits for a quiet holdOff, but never longer than
// maxDelay from the first signal of the burst, so a steady stream of
// changes still publishes. A burst gives at most two wake-ups: its first
// signal, and the rest together.
type debouncer struct {
	holdOff, maxDelay time.Duration
	c                 chan struct{}
	last              time.Time // the last wake-up (zero: none yet)
}

func newDebouncer(holdOff, maxDelay time.Duration) *debouncer {
	return &debouncer{holdOff: holdOff, maxDelay: maxDelay, c: make(chan struct{}, 1)}
}

// signal records a change (never blocks).
func (d *debouncer) signal() {
	select {
	case d.c <- struct{}{}:
	default:
	}
}

// take consumes a pending signal, if any.
func (d *debouncer) take() {
	select {
	case <-d.c:
	default:
	}
}

// wait blocks until a lone signal or a burst of signals has settled, and
// reports false when ctx ends first. One goroutine waits.
func (d *debouncer) wait(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-d.c:
	}
	if d.last.IsZero() || time.Since(d.last) >= d.maxDelay {
		d.last = time.Now()
		return true
	}
	defer func() { d.last = time.Now() }()
	deadline := time.NewTimer(d.maxDelay)
	defer deadline.Stop()
	quiet := time.NewTimer(d.holdOff)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			d.take() // what arrived until now is in this push
			return true
		case <-quiet.C:
			return true
		case <-d.c:
			quiet.Reset(d.holdOff)
		}
	}
}
