package lease

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// worker records how many electors run the work at once.
type worker struct {
	running, maxRunning atomic.Int32
	mu                  sync.Mutex
	tokens              []int64
	by                  []string
}

func (w *worker) work(name string) func(context.Context, int64) {
	return func(ctx context.Context, token int64) {
		n := w.running.Add(1)
		for {
			m := w.maxRunning.Load()
			if n <= m || w.maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		w.mu.Lock()
		w.tokens = append(w.tokens, token)
		w.by = append(w.by, name)
		w.mu.Unlock()
		<-ctx.Done()
		w.running.Add(-1)
	}
}

func (w *worker) holders() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.by...)
}

func poll(t *testing.T, what string, cond func() error) {
	t.Helper()
	if err := harness.Poll(context.Background(), what, 10*time.Second, 5*time.Millisecond, cond); err != nil {
		t.Fatal(err)
	}
}

func TestOneHolderAndHandOver(t *testing.T) {
	st := store.NewMemory()
	w := &worker{}
	ctxs := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	electors := map[string]*Elector{}
	for _, name := range []string{"r1", "r2", "r3"} {
		ctx, cancel := context.WithCancel(context.Background())
		ctxs[name] = cancel
		e := New(Options{Leases: st.Leases, Name: "reconcile", Holder: name, TTL: 300 * time.Millisecond, RenewEvery: 20 * time.Millisecond})
		electors[name] = e
		wg.Add(1)
		go func() { defer wg.Done(); e.Run(ctx, w.work(name)) }()
	}
	defer func() {
		for _, c := range ctxs {
			c()
		}
		wg.Wait()
	}()
	poll(t, "one elector to do the work", func() error {
		if len(w.holders()) == 0 {
			return errors.New("nobody holds the lease")
		}
		return nil
	})
	first := w.holders()[0]
	if tok, ok := electors[first].Held(); !ok || tok != 1 {
		t.Fatalf("holder %s: Held() = %d, %v", first, tok, ok)
	}
	// The holder stops: it releases the lease and another takes over
	// (before the TTL: a release hands over on the next attempt).
	ctxs[first]()
	poll(t, "another elector to take over", func() error {
		if h := w.holders(); len(h) < 2 {
			return errors.New("no successor yet")
		}
		return nil
	})
	h := w.holders()
	if h[1] == first {
		t.Fatalf("the stopped elector took the lease again: %v", h)
	}
	if _, ok := electors[first].Held(); ok {
		t.Fatal("the stopped elector still says it holds the lease")
	}
	w.mu.Lock()
	tokens := append([]int64(nil), w.tokens...)
	w.mu.Unlock()
	if tokens[1] <= tokens[0] {
		t.Fatalf("tokens %v do not grow", tokens)
	}
	if m := w.maxRunning.Load(); m != 1 {
		t.Fatalf("%d electors ran the work at once", m)
	}
}

// flaky fails the store's calls as told.
type flaky struct {
	store.Leases
	renewErr, acquireErr atomic.Pointer[error]
	acquires             atomic.Int32
}

func (f *flaky) Acquire(ctx context.Context, name, holder string, ttl time.Duration, atLeast int64) (store.Lease, error) {
	f.acquires.Add(1)
	if e := f.acquireErr.Load(); e != nil {
		return store.Lease{}, *e
	}
	return f.Leases.Acquire(ctx, name, holder, ttl, atLeast)
}

func (f *flaky) Renew(ctx context.Context, l store.Lease, ttl time.Duration) (store.Lease, error) {
	if e := f.renewErr.Load(); e != nil {
		return store.Lease{}, *e
	}
	return f.Leases.Renew(ctx, l, ttl)
}

func TestWorkStopsWhenTheLeaseCannotBeKept(t *testing.T) {
	for name, errs := range map[string][2]error{
		// Another replica took the lease over: renewals are refused and so
		// are new attempts.
		"lost to another replica": {store.ErrLost, store.ErrHeld},
		// The store does not answer: the holder cannot know, so it stops
		// before the lease can have expired, and stays stopped.
		"store not answering": {errors.New("connection refused"), errors.New("connection refused")},
	} {
		t.Run(name, func(t *testing.T) {
			f := &flaky{Leases: store.NewMemory().Leases}
			w := &worker{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			e := New(Options{Leases: f, Name: "reconcile", Holder: "r1", TTL: 300 * time.Millisecond, RenewEvery: 20 * time.Millisecond})
			done := make(chan struct{})
			go func() { defer close(done); e.Run(ctx, w.work("r1")) }()
			poll(t, "the work to start", func() error {
				if w.running.Load() != 1 {
					return errors.New("not running")
				}
				return nil
			})
			f.renewErr.Store(&errs[0])
			f.acquireErr.Store(&errs[1])
			poll(t, "the work to stop", func() error {
				if w.running.Load() != 0 {
					return errors.New("still running")
				}
				return nil
			})
			if _, ok := e.Held(); ok {
				t.Fatal("Held() after the lease could not be kept")
			}
			// It keeps competing, and never works without the lease.
			tries := f.acquires.Load()
			poll(t, "more attempts to take the lease", func() error {
				if f.acquires.Load() < tries+3 {
					return errors.New("no new attempts")
				}
				return nil
			})
			cancel()
			<-done
			if n := len(w.holders()); n != 1 {
				t.Fatalf("the work started %d times, want once", n)
			}
		})
	}
}

func TestTokensStayAboveTheResourceFence(t *testing.T) {
	w := &worker{}
	ctx, cancel := context.WithCancel(context.Background())
	e := New(Options{Leases: store.NewMemory().Leases, Name: "reconcile", AtLeast: func() int64 { return 41 }, TTL: time.Second})
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx, w.work("r1")) }()
	poll(t, "the work to start", func() error {
		if len(w.holders()) == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	cancel()
	<-done
	if w.tokens[0] != 42 {
		t.Fatalf("token %d, want 42", w.tokens[0])
	}
}
