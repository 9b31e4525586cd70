// Package degraded logs the conditions under which the gateway keeps
// serving in a degraded mode (the shared store unreachable, a document
// written back after the store lost it, a record waiting to be retried)
// without flooding the log: a condition is logged when it begins, then at
// most once per interval with the number of occurrences suppressed since
// the last line, and once when it ends. A request path that hits a
// condition thousands of times a second logs a handful of lines.
package degraded

import (
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is how often a lasting condition is logged again.
const DefaultInterval = 30 * time.Second

// Options configure a Reporter.
type Options struct {
	Logger *slog.Logger
	// Interval is the least time between two lines of one condition
	// (default DefaultInterval).
	Interval time.Duration
	// Now is the clock (tests use a fake one).
	Now func() time.Time
}

// Reporter logs degraded conditions, each under a key naming it. It is
// safe for concurrent use.
type Reporter struct {
	o     Options
	mu    sync.Mutex
	conds map[string]*condition
}

type condition struct {
	since      time.Time // when it began
	logged     time.Time // the last line
	suppressed int       // occurrences since the last line, not logged
	total      int       // occurrences since it began
}

// New returns a Reporter.
func New(o Options) *Reporter {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Reporter{o: o, conds: map[string]*condition{}}
}

// Fail records one occurrence of the condition key. The first occurrence
// is logged at once (a warning: msg and args, with "condition"); later
// ones are logged at most once per interval, with "suppressed" (how many
// were not logged since the previous line) and "degradedFor". It reports
// whether it logged.
func (r *Reporter) Fail(key, msg string, args ...any) bool {
	now := r.o.Now()
	r.mu.Lock()
	c, ok := r.conds[key]
	if !ok {
		c = &condition{since: now}
		r.conds[key] = c
	}
	c.total++
	if ok && now.Sub(c.logged) < r.o.Interval {
		c.suppressed++
		r.mu.Unlock()
		return false
	}
	suppressed := c.suppressed
	c.suppressed, c.logged = 0, now
	since := c.since
	r.mu.Unlock()
	attrs := append([]any{"condition", key}, args...)
	if ok {
		attrs = append(attrs, "suppressed", suppressed, "degradedFor", now.Sub(since).Round(time.Millisecond))
	}
	r.o.Logger.Warn(msg, attrs...)
	return true
}

// Recover ends the condition key if it is on, logging msg and args once
// (info, with "condition", "degradedFor" and "occurrences"); it does
// nothing otherwise, so callers call it on every success. It reports
// whether the condition was on.
func (r *Reporter) Recover(key, msg string, args ...any) bool {
	now := r.o.Now()
	r.mu.Lock()
	c, ok := r.conds[key]
	if ok {
		delete(r.conds, key)
	}
	r.mu.Unlock()
	if !ok {
		return false
	}
	attrs := append([]any{"condition", key}, args...)
	attrs = append(attrs, "degradedFor", now.Sub(c.since).Round(time.Millisecond), "occurrences", c.total)
	r.o.Logger.Info(msg, attrs...)
	return true
}

// Active reports whether the condition key is on (failed and not
// recovered).
func (r *Reporter) Active(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.conds[key]
	return ok
}
