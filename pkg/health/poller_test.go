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

// A coordinator whose uptime goes back restarted: the poller counts it
// (also across failed checks: a restart is usually a down time first) and
// calls OnRestart once per restart; uptime that grows or is unknown is no
// restart.
func TestPollerCountsRestarts(t *testing.T) {
	// The coordinator's answers, one per check; the last repeats.
	answers := []struct {
		up  time.Duration
		err error
	}{
		{10 * time.Minute, nil}, {10*time.Minute + time.Second, nil}, {0, errors.New("connection refused")},
		{4 * time.Second, ErrStarting}, {9 * time.Second, nil}, {0, nil}, {20 * time.Second, nil},
		{3 * time.Second, nil}, {5 * time.Second, nil},
	}
	var n atomic.Int64
	restarts := make(chan time.Duration, 10)
	p := NewPoller(Options{
		Interval: time.Millisecond, Timeout: time.Second, Rise: 1, Fall: 1,
		Check: func(context.Context, string) (Load, error) {
			i := min(int(n.Add(1))-1, len(answers)-1)
			return Load{Uptime: answers[i].up}, answers[i].err
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
	for int(n.Load()) < len(answers)+3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling with a deadline
	}
	st, _ := p.Status("a/0")
	if got[0] != 4*time.Second || got[1] != 3*time.Second || st.Restarts != 2 || st.LastRestart.IsZero() || len(restarts) != 0 {
		t.Fatalf("restarts %v (%d more), status %+v", got, len(restarts), st)
	}
}
