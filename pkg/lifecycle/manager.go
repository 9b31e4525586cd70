// Package lifecycle keeps the fleet in the shared store and changes it:
// clusters added, updated and removed at run time, activated and
// deactivated, drained and moved blue/green, and coordinators failed over.
// Every control-plane replica runs a Manager on the same store; each sees a
// change within a poll interval, and changes are compare-and-swap writes,
// so concurrent replicas never lose each other's updates. The reconciler
// that advances drains and failovers (and calls coordinators to do so) runs
// on one replica at a time, under a lease whose fencing token guards its
// writes.
package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/degraded"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// HealthView is what the manager needs from the health poller.
type HealthView interface {
	State(key string) health.State
	Status(key string) (health.Status, bool)
}

// Options configure a Manager.
type Options struct {
	Config *config.Config
	// Store keeps the fleet document.
	Store  store.Documents
	Health HealthView
	// Client talks to coordinators (query lists, worker shutdown); default
	// a coordinator.Client with its defaults.
	Client *coordinator.Client
	Logger *slog.Logger
	// Now is the clock (tests use a fake one).
	Now func() time.Time
	// WatchInterval is how often the store's fleet revision is read
	// (default 250ms): a change made through any replica is seen by every
	// other within it.
	WatchInterval time.Duration
	// ReconcileInterval is how often drains and failovers are checked
	// (default 1s).
	ReconcileInterval time.Duration
	// DrainGrace is how long a drain waits at least, so a query routed just
	// before the drain began has registered before the count (default 2s).
	DrainGrace time.Duration
	// OnFleet is called with every new fleet (in order, never concurrently).
	OnFleet func(*fleet.Fleet)
	// Degraded logs the store's failures once per interval (default: one
	// on Logger with degraded.DefaultInterval).
	Degraded *degraded.Reporter
}

// Manager owns the fleet document of one replica.
type Manager struct {
	o     Options
	mu    sync.Mutex // serialises loads and OnFleet calls
	doc   *fleet.Doc
	raw   []byte // doc as stored, written back if the store loses it
	rev   int64
	fleet atomic.Pointer[fleet.Fleet]
}

// Degraded conditions of the fleet watch.
const (
	condStore     = "fleet-store-unreachable"
	condLost      = "fleet-lost-by-store"
	condWriteBack = "fleet-write-back-failed"
)

// Error is an operation failure with the HTTP status the admin API answers.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, format string, args ...any) error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// New returns a Manager; call Load before anything else.
func New(o Options) *Manager {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.WatchInterval <= 0 {
		o.WatchInterval = 250 * time.Millisecond
	}
	if o.ReconcileInterval <= 0 {
		o.ReconcileInterval = time.Second
	}
	if o.DrainGrace <= 0 {
		o.DrainGrace = 2 * time.Second
	}
	if o.Client == nil {
		o.Client = coordinator.New(coordinator.Options{})
	}
	if o.OnFleet == nil {
		o.OnFleet = func(*fleet.Fleet) {}
	}
	if o.Degraded == nil {
		o.Degraded = degraded.New(degraded.Options{Logger: o.Logger})
	}
	return &Manager{o: o}
}

// Fleet returns the current fleet.
func (m *Manager) Fleet() *fleet.Fleet { return m.fleet.Load() }

// Load reads the fleet from the store, seeding it from the configuration
// when the store has none (the first replica to start on an empty store).
func (m *Manager) Load(ctx context.Context) error {
	b, rev, err := m.o.Store.GetDocument(ctx, store.FleetDoc)
	if errors.Is(err, store.ErrNotFound) {
		seed := fleet.SeedDoc(m.o.Config, m.o.Now())
		if b, err = json.Marshal(seed); err != nil {
			return err
		}
		rev, err = m.o.Store.CASDocument(ctx, store.FleetDoc, b, 0)
		if errors.Is(err, store.ErrConflict) { // another replica seeded first
			return m.Load(ctx)
		}
		if err != nil {
			return fmt.Errorf("seeding the fleet: %w", err)
		}
		m.o.Logger.Info("fleet seeded from the configuration", "clusters", len(seed.Clusters), "revision", rev)
	} else if err != nil {
		return fmt.Errorf("reading the fleet: %w", err)
	}
	return m.install(b, rev)
}

// install makes a stored document the current fleet.
func (m *Manager) install(b []byte, rev int64) error {
	var d fleet.Doc
	if err := json.Unmarshal(b, &d); err != nil {
		return fmt.Errorf("decoding the fleet (revision %d): %w", rev, err)
	}
	if d.Status == nil {
		d.Status = map[string]fleet.Status{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if rev <= m.rev && m.doc != nil {
		return nil // an older or equal revision: keep what we have
	}
	m.doc, m.raw, m.rev = &d, b, rev
	f := fleet.Build(m.o.Config, &d, rev)
	// Routing first: what the admin API shows (Fleet) is already routed by.
	m.o.OnFleet(f)
	m.fleet.Store(f)
	return nil
}

// Watch follows the fleet document in the store until ctx ends: a change
// made through any replica is installed here within WatchInterval. Every
// replica runs it.
func (m *Manager) Watch(ctx context.Context) {
	every(ctx, m.o.WatchInterval, m.refresh)
}

// RunReconciler reconciles drains every ReconcileInterval until ctx ends.
// One replica runs it, under the lease whose fencing token is given (see
// pkg/lease).
func (m *Manager) RunReconciler(ctx context.Context, token int64) {
	every(ctx, m.o.ReconcileInterval, func(ctx context.Context) { m.Reconcile(ctx, token) })
}

// RunFailover checks for coordinator failovers every ReconcileInterval
// until ctx ends. Every replica runs it.
func (m *Manager) RunFailover(ctx context.Context) {
	every(ctx, m.o.ReconcileInterval, m.Failover)
}

// every calls fn every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// Fence is the newest reconciler lease token the fleet document has seen.
func (m *Manager) Fence() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.doc == nil {
		return 0
	}
	return m.doc.Fence
}

// errFenced refuses a write of a reconciler whose lease was taken over.
func errFenced(doc, token int64) error {
	return errorf(http.StatusConflict, "a newer reconciler (lease token %d) has taken over from this one (token %d)", doc, token)
}

// refresh reloads the fleet if its revision moved. A revision below the
// one installed here (0: the document is gone) means the store lost
// writes (a Redis restarted empty, a failover to a replica that missed the
// last writes): revisions only grow. This replica then writes back what it
// holds, at its revision, so it and every replica holding the same
// revision install nothing new and one that was behind catches up.
func (m *Manager) refresh(ctx context.Context) {
	rev, err := m.o.Store.DocumentRevision(ctx, store.FleetDoc)
	if err != nil {
		m.o.Degraded.Fail(condStore, "cannot read the fleet revision; keeping the current fleet", "error", err)
		return
	}
	m.o.Degraded.Recover(condStore, "the shared store answers again; following its fleet", "revision", rev)
	m.mu.Lock()
	current := m.rev
	m.mu.Unlock()
	if rev == current {
		return
	}
	if rev < current {
		if err := m.writeBack(ctx, rev); err != nil {
			return
		}
	}
	b, rev, err := m.o.Store.GetDocument(ctx, store.FleetDoc)
	if err != nil {
		m.o.Degraded.Fail(condStore, "cannot read the fleet; keeping the current one", "error", err)
		return
	}
	if err := m.install(b, rev); err != nil {
		m.o.Logger.Error("ignoring a fleet document", "error", err)
	}
}

// writeBack stores the fleet this replica holds after the store lost it
// (stored is the revision the store has, 0 when the document is gone). If
// another replica wrote back a revision at least as new first, nothing is
// written and the caller reads it.
func (m *Manager) writeBack(ctx context.Context, stored int64) error {
	m.mu.Lock()
	raw, held := m.raw, m.rev
	m.mu.Unlock()
	if raw == nil {
		return nil
	}
	m.o.Degraded.Fail(condLost, "the shared store lost the fleet document; writing back this replica's",
		"storedRevision", stored, "heldRevision", held)
	ok, err := m.o.Store.RestoreDocument(ctx, store.FleetDoc, raw, held)
	if err != nil {
		m.o.Degraded.Fail(condWriteBack, "cannot write the fleet back to the shared store; keeping the current fleet", "error", err)
		return err
	}
	m.o.Degraded.Recover(condWriteBack, "the fleet can be written back again")
	if ok {
		m.o.Degraded.Recover(condLost, "fleet written back to the shared store", "revision", held)
	} else {
		m.o.Degraded.Recover(condLost, "another replica wrote the fleet back to the shared store first", "heldRevision", held)
	}
	return nil
}

// update applies fn to a fresh copy of the document and writes it with
// compare-and-swap, retrying on conflicts. fn may return an *Error.
func (m *Manager) update(ctx context.Context, fn func(*fleet.Doc) error) error {
	return m.write(ctx, nil, fn)
}

// updateFenced is update for the reconciler holding the lease token: the
// write is refused once a reconciler with a newer token has written, and
// records its token otherwise.
func (m *Manager) updateFenced(ctx context.Context, token int64, fn func(*fleet.Doc) error) error {
	return m.write(ctx, &token, fn)
}

func (m *Manager) write(ctx context.Context, fence *int64, fn func(*fleet.Doc) error) error {
	for attempt := 0; attempt < 20; attempt++ {
		b, rev, err := m.o.Store.GetDocument(ctx, store.FleetDoc)
		if errors.Is(err, store.ErrNotFound) && attempt == 0 {
			// The store lost the fleet: write back ours, then change it.
			if err := m.writeBack(ctx, 0); err != nil {
				return errorf(http.StatusServiceUnavailable, "the shared store is unavailable: %v", err)
			}
			continue
		}
		if err != nil {
			return errorf(http.StatusServiceUnavailable, "the shared store is unavailable: %v", err)
		}
		var d fleet.Doc
		if err := json.Unmarshal(b, &d); err != nil {
			return fmt.Errorf("decoding the fleet: %w", err)
		}
		if d.Status == nil {
			d.Status = map[string]fleet.Status{}
		}
		if fence != nil {
			if d.Fence > *fence {
				return errFenced(d.Fence, *fence)
			}
			d.Fence = *fence
		}
		if err := fn(&d); err != nil {
			return err
		}
		nb, err := json.Marshal(&d)
		if err != nil {
			return err
		}
		newRev, err := m.o.Store.CASDocument(ctx, store.FleetDoc, nb, rev)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return errorf(http.StatusServiceUnavailable, "the shared store is unavailable: %v", err)
		}
		return m.install(nb, newRev)
	}
	return errorf(http.StatusConflict, "the fleet kept changing concurrently; try again")
}
