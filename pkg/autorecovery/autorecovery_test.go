package autorecovery

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// world is a fleet whose clusters the recoverer changes (as lifecycle
// does), with health the test sets, and a clock the test moves.
type world struct {
	mu     sync.Mutex
	f      *fleet.Fleet
	status map[string]health.Status
	now    time.Time
	fail   error
}

func newWorld() *world {
	co := func(name string) []fleet.Coordinator { return []fleet.Coordinator{{Name: "0", Key: name + "/0"}} }
	return &world{now: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC),
		f: &fleet.Fleet{Groups: []fleet.Group{{Name: "adhoc", Fallback: "etl"}, {Name: "etl"}}, Clusters: []fleet.Cluster{
			{Name: "a", Group: "adhoc", State: fleet.Active, Coordinators: co("a")},
			{Name: "b", Group: "adhoc", State: fleet.Active, Coordinators: co("b")},
			{Name: "e", Group: "etl", State: fleet.Active, Coordinators: co("e")},
		}},
		status: map[string]health.Status{"a/0": healthy(0, 0), "b/0": healthy(0, 0), "e/0": healthy(0, 0)}}
}

func healthy(finished, failed float64) health.Status {
	return health.Status{State: health.Healthy, Load: health.Load{Known: true, Trino: coordinator.Signals{Completed: finished, InternalFailures: failed}}}
}

func (w *world) fleet() *fleet.Fleet {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := *w.f
	c.Clusters = append([]fleet.Cluster(nil), w.f.Clusters...)
	return &c
}

func (w *world) set(name string, fn func(*fleet.Cluster) error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	for i := range w.f.Clusters {
		if w.f.Clusters[i].Name == name {
			return fn(&w.f.Clusters[i])
		}
	}
	return errors.New("no cluster " + name)
}

func (w *world) TakeOut(_ context.Context, name, reason string) error {
	return w.set(name, func(c *fleet.Cluster) error {
		if c.State != fleet.Active {
			return errors.New("not active")
		}
		c.State, c.Auto = fleet.Inactive, &fleet.AutoOut{Reason: reason, Since: w.now}
		return nil
	})
}

func (w *world) Readmit(_ context.Context, name string) error {
	return w.set(name, func(c *fleet.Cluster) error {
		if c.Auto == nil {
			return errors.New("not held")
		}
		c.State, c.Auto = fleet.Active, nil
		return nil
	})
}

func (w *world) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *world) advance(d time.Duration) {
	w.mu.Lock()
	w.now = w.now.Add(d)
	w.mu.Unlock()
}

func (w *world) setStatus(key string, st health.Status) {
	w.mu.Lock()
	w.status[key] = st
	w.mu.Unlock()
}

func (w *world) cluster(name string) fleet.Cluster {
	c, _ := w.fleet().Cluster(name)
	return *c
}

func newRecoverer(w *world, cfg config.AutoRecovery, audit store.Audit, n *Notifier) *Recoverer {
	return New(Options{Config: cfg, Fleet: w.fleet, Clusters: w, Audit: audit, Notifier: n, Replica: "r1", Now: w.clock,
		Status: func(k string) (health.Status, bool) {
			w.mu.Lock()
			defer w.mu.Unlock()
			s, ok := w.status[k]
			return s, ok
		},
		Up: func(c *fleet.Cluster) bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			return w.status[c.CoordinatorKey(0)].State == health.Healthy
		}})
}

func testConfig() config.AutoRecovery {
	cfg := config.AutoRecovery{Enabled: true, Interval: time.Second,
		RestartLoop: config.RestartLoop{Restarts: 3, Window: time.Minute},
		ErrorRate:   config.ErrorRate{Threshold: 0.5, MinQueries: 10, Window: time.Minute},
		StableFor:   2 * time.Minute, Notify: config.Notify{Format: config.NotifyWebhook, Timeout: time.Second}}
	t := true
	cfg.KeepLastCluster = &t
	return cfg
}

// Three restarts within the window take the cluster out with the reason;
// it comes back after the stable period, not before, and not while it
// still restarts.
func TestRestartLoopTakesOutAndReadmits(t *testing.T) {
	w := newWorld()
	audit := store.NewMemory().Audit
	r := newRecoverer(w, testConfig(), audit, nil)
	ctx := context.Background()
	for range 2 {
		r.OnRestart("a/0", time.Second)
		w.advance(10 * time.Second)
	}
	r.Tick(ctx)
	if c := w.cluster("a"); c.State != fleet.Active {
		t.Fatalf("two restarts took a out: %+v", c)
	}
	w.advance(45 * time.Second) // the first restart leaves the window
	r.OnRestart("a/0", time.Second)
	r.Tick(ctx)
	if c := w.cluster("a"); c.State != fleet.Active {
		t.Fatal("three restarts over more than the window took a out")
	}
	r.OnRestart("a/0", time.Second)
	r.Tick(ctx)
	c := w.cluster("a")
	if c.State != fleet.Inactive || c.Auto == nil || !strings.Contains(c.Auto.Reason, "coordinator 0 restarted 3 times in 55s") {
		t.Fatalf("after the third restart in a minute: %+v %+v", c, c.Auto)
	}
	// Not back before the stable period, nor while restarting.
	w.advance(time.Minute)
	r.Tick(ctx)
	w.advance(70 * time.Second)
	r.OnRestart("a/0", time.Second)
	r.Tick(ctx)
	if c := w.cluster("a"); c.State != fleet.Inactive {
		t.Fatal("readmitted while still restarting")
	}
	w.setStatus("a/0", health.Status{State: health.Unhealthy})
	w.advance(3 * time.Minute)
	r.Tick(ctx)
	if c := w.cluster("a"); c.State != fleet.Inactive {
		t.Fatal("readmitted while unhealthy")
	}
	w.setStatus("a/0", healthy(0, 0))
	r.Tick(ctx)
	if c := w.cluster("a"); c.State != fleet.Active || c.Auto != nil {
		t.Fatalf("not readmitted after the stable period: %+v", c)
	}
	acts := r.Recent()
	if len(acts) != 2 || acts[0].Action != ActReadmit || acts[1].Action != ActTakeOut || acts[1].Kind != "restart_loop" {
		t.Fatalf("actions %+v", acts)
	}
	if n := testutil.ToFloat64(r.o.Metrics.Actions.WithLabelValues(ActTakeOut, "restart_loop", "done")); n != 1 {
		t.Fatalf("take_out counter %v", n)
	}
	es, _ := audit.Recent(ctx, 10)
	if len(es) != 2 || es[1].Who != "auto-recovery" || es[1].Path != "/api/v1/clusters/a/take_out" || !strings.Contains(es[1].Detail, "restarted 3 times") || es[1].Replica != "r1" {
		t.Fatalf("audit %+v", es)
	}
}

// A high rate of server-side failures takes the cluster out; user errors
// and too few queries do not; a counter reset (a restart) starts over.
func TestErrorRate(t *testing.T) {
	w := newWorld()
	r := newRecoverer(w, testConfig(), nil, nil)
	ctx := context.Background()
	step := func(key string, finished, failed float64) {
		w.setStatus(key, healthy(finished, failed))
		r.Tick(ctx)
		w.advance(10 * time.Second)
	}
	step("a/0", 100, 0)
	step("a/0", 105, 5) // 5 of 5 failed: too few queries
	if w.cluster("a").State != fleet.Active {
		t.Fatal("5 queries took a out")
	}
	step("a/0", 3, 3) // restarted: the counters reset, history starts over
	step("a/0", 10, 5)
	if w.cluster("a").State != fleet.Active {
		t.Fatal("samples across a reset were compared")
	}
	step("a/0", 30, 20) // 17 of 27 since the reset
	c := w.cluster("a")
	if c.State != fleet.Inactive || !strings.Contains(c.Auto.Reason, "17 of the 27 queries coordinator 0 finished") {
		t.Fatalf("a: %+v %+v", c, c.Auto)
	}
	// User errors are not the cluster's.
	w.setStatus("b/0", health.Status{State: health.Healthy, Load: health.Load{Known: true, Trino: coordinator.Signals{Completed: 0, UserErrors: 0}}})
	r.Tick(ctx)
	w.setStatus("b/0", health.Status{State: health.Healthy, Load: health.Load{Known: true, Trino: coordinator.Signals{Completed: 100, UserErrors: 100}}})
	r.Tick(ctx)
	if w.cluster("b").State != fleet.Active {
		t.Fatal("user errors took b out")
	}
}

// The last cluster of a group that takes queries is kept (a hold,
// notified once per episode); a group with nothing up falls back, and its
// recovery is noticed.
func TestKeepLastClusterAndFallback(t *testing.T) {
	w := newWorld()
	var mu sync.Mutex
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			http.Error(rw, err.Error(), 400)
			return
		}
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	defer srv.Close()
	n := NewNotifier(config.Notify{URL: srv.URL, Format: config.NotifyWebhook, Timeout: time.Second}, nil, nil)
	r := newRecoverer(w, testConfig(), nil, n)
	ctx := context.Background()
	w.setStatus("b/0", health.Status{State: health.Unhealthy})
	for range 3 {
		r.OnRestart("a/0", time.Second)
	}
	r.Tick(ctx)
	r.Tick(ctx)
	if c := w.cluster("a"); c.State != fleet.Active {
		t.Fatalf("the group's last cluster was taken out: %+v", c)
	}
	// Now a fails too: the group has nothing up and falls back to etl.
	w.setStatus("a/0", health.Status{State: health.Unhealthy})
	r.Tick(ctx)
	r.Tick(ctx)
	w.setStatus("b/0", healthy(0, 0))
	r.Tick(ctx)
	n.Wait()
	var events []string
	for _, a := range r.Recent() {
		events = append([]string{a.Action + ":" + a.Cluster + a.Group}, events...)
	}
	// Once b is back, a (still in its restart loop) is no longer the last.
	if strings.Join(events, " ") != "hold:aadhoc fallback:adhoc take_out:aadhoc fallback_end:adhoc" {
		t.Fatalf("actions %v", events)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 4 {
		t.Fatalf("%d notifications", len(got))
	}
	// Sent in the background: in any order.
	byEvent := map[string]map[string]any{}
	for _, m := range got {
		byEvent[m["commonAnnotations"].(map[string]any)["event"].(string)] = m
	}
	fb := byEvent[ActFallback]
	alerts := fb["alerts"].([]any)
	labels := alerts[0].(map[string]any)["labels"].(map[string]any)
	if fb["status"] != "firing" || fb["version"] != "4" || labels["alertname"] != AlertName || labels["group"] != "adhoc" || labels["action"] != "fallback" {
		t.Fatalf("fallback notification %v", fb)
	}
	if summary := alerts[0].(map[string]any)["annotations"].(map[string]any)["summary"]; !strings.Contains(summary.(string), "fallback group etl") {
		t.Fatalf("summary %v", summary)
	}
	if end := byEvent[ActFallbackEnd]; end["status"] != "resolved" {
		t.Fatalf("fallback end %v", end)
	}
}

// The alertmanager format posts alerts to /api/v2/alerts: a take-out
// fires until its readmission resolves it (same labels, an end).
func TestAlertmanagerFormat(t *testing.T) {
	var mu sync.Mutex
	var posts [][]alert
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/api/v2/alerts" {
			http.NotFound(rw, req)
			return
		}
		var as []alert
		if err := json.NewDecoder(req.Body).Decode(&as); err != nil {
			http.Error(rw, err.Error(), 400)
			return
		}
		mu.Lock()
		posts = append(posts, as)
		mu.Unlock()
	}))
	defer srv.Close()
	n := NewNotifier(config.Notify{URL: srv.URL + "/", Format: config.NotifyAlertmanager, Timeout: time.Second}, nil, nil)
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	n.Send(Action{Time: at, Action: ActTakeOut, Cluster: "a", Group: "adhoc", Kind: "restart_loop", Reason: "restarted"})
	n.Send(Action{Time: at.Add(time.Hour), Action: ActReadmit, Cluster: "a", Group: "adhoc", Kind: "stable", Reason: "stable"})
	n.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(posts) != 2 {
		t.Fatalf("%d posts", len(posts))
	}
	byEnd := map[bool]alert{}
	for _, p := range posts {
		byEnd[p[0].EndsAt.Equal(at.Add(time.Hour))] = p[0]
	}
	fire, resolve := byEnd[false], byEnd[true]
	if fire.Labels["cluster"] != "a" || fire.Labels["action"] != ActTakeOut || !fire.EndsAt.After(at.Add(time.Hour)) {
		t.Fatalf("firing %+v", fire)
	}
	if resolve.Labels["action"] != ActTakeOut || resolve.Labels["cluster"] != "a" {
		t.Fatalf("resolving %+v", resolve)
	}
}

// A webhook that keeps failing is retried, then counted.
func TestNotifyFailure(t *testing.T) {
	var calls sync.WaitGroup
	calls.Add(3)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		defer calls.Done()
		http.Error(rw, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	m := NewMetrics(nil, nil)
	n := NewNotifier(config.Notify{URL: srv.URL, Format: config.NotifyWebhook, Timeout: time.Second}, nil, m)
	n.Backoff = time.Millisecond
	n.Send(Action{Time: time.Now(), Action: ActTakeOut, Cluster: "a"})
	n.Wait()
	calls.Wait()
	if v := testutil.ToFloat64(m.NotifyErrors); v != 1 {
		t.Fatalf("notify errors %v", v)
	}
}

// A failed action (an operator changed the cluster meanwhile) is counted
// as failed and not notified.
func TestFailedActionIsRecorded(t *testing.T) {
	w := newWorld()
	w.fail = errors.New("cluster a is draining, not active")
	r := newRecoverer(w, testConfig(), nil, nil)
	for range 3 {
		r.OnRestart("a/0", time.Second)
	}
	r.Tick(context.Background())
	acts := r.Recent()
	if len(acts) != 1 || acts[0].Error == "" || testutil.ToFloat64(r.o.Metrics.Actions.WithLabelValues(ActTakeOut, "restart_loop", "failed")) != 1 {
		t.Fatalf("actions %+v", acts)
	}
}
