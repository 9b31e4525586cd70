package protection

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

// Throttles keeps this replica's copy of the users the watchdog throttles,
// read from the shared store every interval, for workload governance
// (which lowers their running limits). A store that fails keeps the last
// copy; an expired throttle drops out of it at its end even then.
type Throttles struct {
	Store    store.Protection
	Interval time.Duration // default 1s
	Logger   *slog.Logger

	mu      sync.Mutex
	list    []store.Throttle
	users   map[string]int
	version uint64
}

// Get returns the throttled users (user → running queries allowed) and a
// version that changes whenever they do.
func (t *Throttles) Get() (map[string]int, uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	for _, th := range t.list {
		if !th.Until.After(now) {
			t.rebuild(now)
			break
		}
	}
	return t.users, t.version
}

// Refresh reads the store once.
func (t *Throttles) Refresh(ctx context.Context) error {
	list, err := t.Store.Throttles(ctx)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.list = list
	t.rebuild(time.Now())
	return nil
}

// rebuild makes users from list, bumping the version when it changed.
func (t *Throttles) rebuild(now time.Time) {
	users := map[string]int{}
	live := t.list[:0:0]
	for _, th := range t.list {
		if th.Until.After(now) {
			users[th.User] = th.MaxRunning
			live = append(live, th)
		}
	}
	t.list = live
	if !maps.Equal(users, t.users) {
		t.users = users
		t.version++
	}
}

// Run refreshes every interval until ctx ends.
func (t *Throttles) Run(ctx context.Context) {
	every := t.Interval
	if every <= 0 {
		every = time.Second
	}
	log := t.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	failing := false
	for {
		rctx, cancel := context.WithTimeout(ctx, every)
		err := t.Refresh(rctx)
		cancel()
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			failing = true
			log.Warn("cannot read the watchdog's throttles; the last ones read stay in force", "error", err)
		case err == nil && failing:
			failing = false
			log.Info("reading the watchdog's throttles again")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
