package health

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
)

func TestCheckInfo(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		ok     bool
	}{
		{"started", 200, `{"nodeVersion":{"version":"476"},"starting":false}`, true},
		{"starting", 200, `{"starting":true}`, false},
		{"no field", 200, `{}`, false},
		{"not json", 200, `<html>`, false},
		{"error status", 503, `{"starting":false}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1/info" {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			err := CheckInfo(context.Background(), coordinator.New(coordinator.Options{}), srv.URL)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrStarting) && !strings.Contains(err.Error(), srv.URL) {
				t.Fatalf("error %q does not name the coordinator", err)
			}
		})
	}
}

// The poller applies thresholds to a scripted check and reports changes.
func TestPollerFollowsChecks(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	var mu sync.Mutex
	var changes []State
	p := NewPoller(Options{
		Interval: 5 * time.Millisecond, Timeout: time.Second, Rise: 2, Fall: 2,
		Check: func(context.Context, string) (Load, error) {
			if healthy.Load() {
				return Load{Known: true, Running: 2, ActiveWorkers: 1}, nil
			}
			return Load{}, errors.New("down")
		},
		OnChange: func(_ string, s State) {
			mu.Lock()
			changes = append(changes, s)
			mu.Unlock()
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); p.Wait() }()
	p.SetTargets(ctx, []Target{{Key: "a/0", BaseURL: "http://x"}})
	waitState(t, p, "a/0", Healthy)
	healthy.Store(false)
	waitState(t, p, "a/0", Unhealthy)
	healthy.Store(true)
	waitState(t, p, "a/0", Healthy)
	// OnChange runs after the poller releases its lock, so the third change
	// may be recorded a moment after the state is visible.
	recorded := func() []State {
		mu.Lock()
		defer mu.Unlock()
		return append([]State(nil), changes...)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(recorded()) < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling with a deadline
	}
	if got := recorded(); len(got) != 3 || got[0] != Healthy || got[1] != Unhealthy || got[2] != Healthy {
		t.Fatalf("changes %v, want [healthy unhealthy healthy]", got)
	}
	if !p.AllChecked() {
		t.Fatal("AllChecked is false")
	}
	if st, ok := p.Status("a/0"); !ok || st.Load.Running != 2 || st.Checked.IsZero() {
		t.Fatalf("status %+v", st)
	}
	// Removing the target stops it and forgets its state.
	p.SetTargets(ctx, nil)
	if s := p.State("a/0"); s != Unknown {
		t.Fatalf("removed target state %v", s)
	}
}

func waitState(t *testing.T, p *Poller, key string, want State) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.State(key) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed %v, want %v", key, p.State(key), want)
		}
		time.Sleep(2 * time.Millisecond) // polling with a deadline
	}
}

// A coordinator whose start (its check's time less its uptime) moves
// later restarted: the poller counts it (also across failed checks: a
// restart is usually a down time first) and calls OnRestart once per
// restart; an uptime that grows with time or is unknown is no restart.
func TestPollerCountsRestarts(t *testing.T) {
	t0 := time.Now()
	bootA, bootB, bootC := t0.Add(-10*time.Minute), t0.Add(-30*time.Second), t0.Add(-5*time.Second)
	// The coordinator's answers, one per check; the last repeats.
	answers := []struct {
		boot time.Time // zero: uptime unknown
		err  error
	}{
		{bootA, nil}, {bootA, nil}, {time.Time{}, errors.New("connection refused")},
		{bootB, ErrStarting}, {bootB, nil}, {time.Time{}, nil}, {bootB, nil},
		{bootC, nil}, {bootC, nil},
	}
	var n atomic.Int64
	restarts := make(chan time.Duration, 10)
	p := NewPoller(Options{
		Interval: time.Millisecond, Timeout: time.Second, Rise: 1, Fall: 1,
		Check: func(context.Context, string) (Load, error) {
			a := answers[min(int(n.Add(1))-1, len(answers)-1)]
			var up time.Duration
			if !a.boot.IsZero() {
				up = time.Since(a.boot)
			}
			return Load{Uptime: up}, a.err
		},
		OnRestart: func(key string, up time.Duration) { restarts <- up },
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); p.Wait() }()
	p.SetTargets(ctx, []Target{{Key: "a/0", BaseURL: "http://x"}})
	var got []time.Duration
	timeout := time.After(5 * time.Second)
	for len(got) < 2 {
		select {
		case up := <-restarts:
			got = append(got, up)
		case <-timeout:
			t.Fatalf("restarts seen %v, want 2", got)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for int(n.Load()) < len(answers)+50 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling with a deadline
	}
	st, _ := p.Status("a/0")
	if got[0] > time.Minute || got[1] > time.Minute || st.Restarts != 2 || st.LastRestart.IsZero() || len(restarts) != 0 {
		t.Fatalf("restarts %v (%d more), status %+v", got, len(restarts), st)
	}
}
