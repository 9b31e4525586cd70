// Package lease runs work that must happen once per fleet, not once per
// replica: every control-plane replica runs an Elector for the work, the
// one that holds the shared lease does it, and when that replica stops or
// dies another takes over within the lease's time to live.
//
// The work gets the lease's fencing token and must carry it to what it
// changes, so that a holder that lost its lease without noticing (a long
// pause, a partition) cannot overwrite the work of its successor.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

// DefaultTTL is how long a lease lasts without renewal.
const DefaultTTL = 10 * time.Second

// Options configure an Elector.
type Options struct {
	Leases store.Leases
	// Name names the work (one lease per name in the fleet).
	Name string
	// Holder identifies this replica (default: host, process and a random
	// suffix).
	Holder string
	// TTL is the lease's time to live (default DefaultTTL): how long the
	// fleet waits for a holder that died without releasing it.
	TTL time.Duration
	// RenewEvery is how often the holder renews and a candidate tries
	// (default TTL/3).
	RenewEvery time.Duration
	// AtLeast returns the newest token the protected resource has seen, so
	// tokens keep growing even if the lease counter was lost (nil: 0).
	AtLeast func() int64
	Logger  *slog.Logger
}

// Elector takes part in the election for one lease.
type Elector struct {
	o     Options
	token atomic.Int64 // the token held, 0 when not the holder
}

// New returns an Elector; Run starts it.
func New(o Options) *Elector {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.RenewEvery <= 0 {
		o.RenewEvery = o.TTL / 3
	}
	if o.Holder == "" {
		o.Holder = DefaultHolder()
	}
	if o.AtLeast == nil {
		o.AtLeast = func() int64 { return 0 }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Logger = o.Logger.With("lease", o.Name, "holder", o.Holder)
	return &Elector{o: o}
}

// DefaultHolder names this process: host, pid and a random suffix (a
// restarted process is a new holder).
func DefaultHolder() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Held returns the fencing token while this replica holds the lease.
func (e *Elector) Held() (int64, bool) {
	t := e.token.Load()
	return t, t != 0
}

// Run competes for the lease until ctx ends. While this replica holds it,
// work runs with a context that ends when the lease is lost or ctx ends;
// Run waits for work to return before trying again, and releases the lease
// when ctx ends, so a successor does not wait for it to expire.
func (e *Elector) Run(ctx context.Context, work func(ctx context.Context, token int64)) {
	t := time.NewTicker(e.o.RenewEvery)
	defer t.Stop()
	failing := false
	for {
		l, err := e.o.Leases.Acquire(ctx, e.o.Name, e.o.Holder, e.o.TTL, e.o.AtLeast())
		switch {
		case err == nil:
			failing = false
			e.hold(ctx, l, t, work)
		case errors.Is(err, store.ErrHeld) || ctx.Err() != nil:
		case !failing: // log the first failure of a run, not every attempt
			failing = true
			e.o.Logger.Warn("cannot take part in the lease election; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// hold runs work while the lease is renewed.
func (e *Elector) hold(ctx context.Context, l store.Lease, t *time.Ticker, work func(context.Context, int64)) {
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	e.token.Store(l.Token)
	e.o.Logger.Info("lease acquired; this replica does the work", "token", l.Token)
	go func() {
		defer close(done)
		work(wctx, l.Token)
	}()
	stop := func(why string, args ...any) {
		e.token.Store(0) // not the holder from now on, whatever the work still does
		cancel()
		<-done
		e.o.Logger.Info(why, args...)
	}
	for {
		select {
		case <-ctx.Done():
			stop("lease released: stopping")
			rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
			_ = e.o.Leases.Release(rctx, l)
			rcancel()
			return
		case <-done:
			// The work ended by itself: give the lease to whoever wants it.
			stop("the work under the lease ended")
			rctx, rcancel := context.WithTimeout(ctx, time.Second)
			_ = e.o.Leases.Release(rctx, l)
			rcancel()
			return
		case <-t.C:
			nl, err := e.o.Leases.Renew(ctx, l, e.o.TTL)
			if err == nil {
				l = nl
				continue
			}
			if errors.Is(err, store.ErrLost) {
				stop("lease lost to another replica; stopping the work", "token", l.Token)
				return
			}
			// Unsure whether the lease is still ours: stop while it surely
			// still is, before another replica can have taken it over.
			if time.Until(l.Expires) <= e.o.RenewEvery {
				stop("cannot renew the lease; stopping the work before it expires", "error", err)
				return
			}
		}
	}
}
