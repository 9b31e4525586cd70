package lifecycle

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/lease"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// A reconciler whose lease was taken over (it paused past its lease and
// woke up) cannot write over its successor's work: its drain progress and
// its drain completion are refused, and it shuts no workers down.
func TestStaleReconcilerIsFenced(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.coord["blue"]
	c.setQueries("RUNNING")
	if err := e.m.StartDrain(ctx, "blue", time.Hour, true); err != nil {
		t.Fatal(err)
	}
	e.m.Reconcile(ctx, 1) // the first holder counts one running query
	if got := e.m.Fence(); got != 1 {
		t.Fatalf("fence %d after the first reconciler wrote, want 1", got)
	}
	c.setQueries("RUNNING", "QUEUED")
	e.m.Reconcile(ctx, 2) // a successor took the lease over
	blue, _ := e.m.Fleet().Cluster("blue")
	if blue.Drain.Queued != 1 || e.m.Fence() != 2 {
		t.Fatalf("the successor's progress: %+v, fence %d", blue.Drain, e.m.Fence())
	}
	// The first holder wakes up and sees the drain finished: refused.
	c.setQueries()
	e.clock.advance(time.Minute)
	e.m.Reconcile(ctx, 1)
	blue, _ = e.m.Fleet().Cluster("blue")
	if blue.State != fleet.Draining || blue.Drain.Queued != 1 || len(c.shutdowns) != 0 {
		t.Fatalf("the stale reconciler wrote: %s %+v, shutdowns %v", blue.State, blue.Drain, c.shutdowns)
	}
	e.m.Reconcile(ctx, 2)
	if s := e.state(t, "blue"); s != fleet.Drained || len(c.shutdowns) != 1 {
		t.Fatalf("the holder could not finish the drain: %s, shutdowns %v", s, c.shutdowns)
	}
	// Operator changes carry no token and are never fenced.
	if err := e.m.SetState(ctx, "blue", fleet.Active); err != nil {
		t.Fatal(err)
	}
}

// countingLeases counts a holder's attempts to take the lease.
type countingLeases struct {
	store.Leases
	mu       sync.Mutex
	attempts map[string]int
}

func (c *countingLeases) Acquire(ctx context.Context, name, holder string, ttl time.Duration, atLeast int64) (store.Lease, error) {
	c.mu.Lock()
	c.attempts[holder]++
	c.mu.Unlock()
	return c.Leases.Acquire(ctx, name, holder, ttl, atLeast)
}

func (c *countingLeases) tries(holder string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attempts[holder]
}

// Two replicas on one store, each running the reconciler under the lease:
// exactly one reconciles while the other keeps trying; when the holder
// stops, the other takes over.
func TestOneReplicaReconciles(t *testing.T) {
	e := newEnv(t)
	leases := &countingLeases{Leases: store.NewMemory().Leases, attempts: map[string]int{}}
	var mu sync.Mutex
	active := map[string]bool{}
	overlaps := 0
	run := func(ctx context.Context, name string) (wait func()) {
		el := lease.New(lease.Options{Leases: leases, Name: "reconcile", Holder: name, TTL: time.Second, RenewEvery: 10 * time.Millisecond, AtLeast: e.m.Fence})
		done := make(chan struct{})
		go func() {
			defer close(done)
			el.Run(ctx, func(ctx context.Context, token int64) {
				mu.Lock()
				for _, on := range active {
					if on {
						overlaps++
					}
				}
				active[name] = true
				mu.Unlock()
				e.m.RunReconciler(ctx, token)
				mu.Lock()
				active[name] = false
				mu.Unlock()
			})
		}()
		return func() { <-done }
	}
	isActive := func(name string) bool {
		mu.Lock()
		defer mu.Unlock()
		return active[name]
	}
	poll := func(what string, cond func() error) {
		t.Helper()
		if err := harness.Poll(context.Background(), what, 5*time.Second, 5*time.Millisecond, cond); err != nil {
			t.Fatal(err)
		}
	}
	ctx1, stop1 := context.WithCancel(context.Background())
	defer stop1()
	wait1 := run(ctx1, "r1")
	poll("r1 to reconcile", func() error {
		if !isActive("r1") {
			return errors.New("r1 is not reconciling")
		}
		return nil
	})
	ctx2, stop2 := context.WithCancel(context.Background())
	wait2 := run(ctx2, "r2")
	defer func() { stop2(); wait2() }()
	poll("r2 to compete", func() error {
		if n := leases.tries("r2"); n < 5 {
			return errors.New("r2 tried fewer than 5 times")
		}
		return nil
	})
	if isActive("r2") {
		t.Fatal("r2 reconciles beside r1")
	}
	stop1()
	wait1()
	poll("r2 to take over", func() error {
		if !isActive("r2") || isActive("r1") {
			return errors.New("no hand-over yet")
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if overlaps != 0 {
		t.Fatalf("the reconciler started %d times while another replica ran it", overlaps)
	}
}
