package lifecycle

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

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// fakeHealth is a settable HealthView.
type fakeHealth struct {
	mu sync.Mutex
	s  map[string]health.State
}

func (h *fakeHealth) set(key string, s health.State) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.s[key] = s
}

func (h *fakeHealth) State(key string) health.State {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.s[key]
}

func (h *fakeHealth) Status(key string) (health.Status, bool) {
	return health.Status{State: h.State(key)}, true
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeCoordinator answers /v1/query with a settable list and records
// worker shutdowns.
type fakeCoordinator struct {
	mu        sync.Mutex
	queries   []coordinator.QuerySummary
	shutdowns []string
	srv       *httptest.Server
}

func newFakeCoordinator(t *testing.T) *fakeCoordinator {
	f := &fakeCoordinator{}
	// The worker: Trino 476 takes the state at its own /v1/info/state.
	worker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/v1/info/state":
			body, _ := io.ReadAll(r.Body)
			if string(body) != `"SHUTTING_DOWN"` || r.Header.Get("X-Trino-User") != "switchyard" || r.Header.Get("Content-Type") != "application/json" {
				http.Error(w, "unexpected shutdown request", http.StatusBadRequest)
				return
			}
			f.shutdowns = append(f.shutdowns, r.URL.Path)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(worker.Close)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case r.URL.Path == "/v1/query" && r.Header.Get("X-Trino-User") != "switchyard":
			http.Error(w, "no user", http.StatusUnauthorized)
		case r.URL.Path == "/v1/query":
			_ = json.NewEncoder(w).Encode(f.queries)
		case r.URL.Path == "/v1/node":
			// As Trino 476 lists them: the failure detector's URI of each
			// announcement (a restarted worker appears twice).
			_ = json.NewEncoder(w).Encode([]map[string]string{{"uri": worker.URL + "/v1/status"}, {"uri": worker.URL + "/v1/status"}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCoordinator) setQueries(states ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = nil
	for i, s := range states {
		f.queries = append(f.queries, coordinator.QuerySummary{QueryID: "q" + string(rune('0'+i)), State: s, Session: coordinator.QuerySession{User: "alice"}})
	}
}

type env struct {
	m     *Manager
	h     *fakeHealth
	clock *fakeClock
	st    store.Documents
	coord map[string]*fakeCoordinator
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{h: &fakeHealth{s: map[string]health.State{}}, clock: &fakeClock{now: time.Unix(1_700_000_000, 0)},
		st: store.NewMemory().Documents, coord: map[string]*fakeCoordinator{}}
	cfg := config.Defaults()
	cfg.Routing.DefaultGroup = "adhoc"
	cfg.Groups = []config.Group{{Name: "adhoc", Strategy: config.StrategyRoundRobin}, {Name: "spare", Strategy: config.StrategyRoundRobin}}
	for _, name := range []string{"blue", "green"} {
		c := newFakeCoordinator(t)
		e.coord[name] = c
		group := "adhoc"
		if name == "green" {
			group = "spare"
		}
		cl := config.Cluster{Name: name, Group: group, Coordinators: []config.Coordinator{{URL: c.srv.URL}}}
		cl.ApplyDefaults()
		cfg.Clusters = append(cfg.Clusters, cl)
		e.h.set(name+"/0", health.Healthy)
	}
	e.m = New(Options{Config: &cfg, Store: e.st, Health: e.h, Now: e.clock.Now, DrainGrace: 2 * time.Second})
	if err := e.m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) state(t *testing.T, name string) fleet.State {
	t.Helper()
	c, ok := e.m.Fleet().Cluster(name)
	if !ok {
		t.Fatalf("no cluster %s", name)
	}
	return c.State
}

func TestSeedAndSecondReplica(t *testing.T) {
	e := newEnv(t)
	if got := len(e.m.Fleet().Clusters); got != 2 {
		t.Fatalf("%d clusters", got)
	}
	ctx := context.Background()
	if err := e.m.SetState(ctx, "blue", fleet.Inactive); err != nil {
		t.Fatal(err)
	}
	// A second replica on the same store sees the change, not the seed.
	other := New(Options{Config: e.m.o.Config, Store: e.st, Health: e.h})
	if err := other.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := other.Fleet().Cluster("blue"); c.State != fleet.Inactive {
		t.Fatalf("second replica sees %s", c.State)
	}
	// And the first picks up changes made through the second.
	if err := other.SetState(ctx, "blue", fleet.Active); err != nil {
		t.Fatal(err)
	}
	e.m.refresh(ctx)
	if s := e.state(t, "blue"); s != fleet.Active {
		t.Fatalf("first replica still sees %s", s)
	}
}

func TestOperationsValidate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		err    error
		status int
		msg    string
	}{
		{"duplicate", e.m.AddCluster(ctx, config.Cluster{Name: "blue", Group: "adhoc", Coordinators: []config.Coordinator{{URL: "http://10.0.0.9:8080"}}}), 409, "cluster blue already exists"},
		{"bad group", e.m.AddCluster(ctx, config.Cluster{Name: "red", Group: "nope", Coordinators: []config.Coordinator{{URL: "http://10.0.0.9:8080"}}}), 400, `cluster.group: names unknown group "nope"`},
		{"bad url", e.m.AddCluster(ctx, config.Cluster{Name: "red", Group: "adhoc", Coordinators: []config.Coordinator{{URL: "10.0.0.9"}}}), 400, "cluster.coordinators[0].url"},
		{"unknown", e.m.SetState(ctx, "nope", fleet.Active), 404, "no cluster nope"},
		{"remove active", e.m.RemoveCluster(ctx, "blue", false), 409, "cluster blue is active: drain or deactivate it before removing it"},
		{"bad weight", e.m.SetWeight(ctx, "blue", -1), 400, "weight must be between 0 and 10000"},
		{"rename", e.m.UpdateCluster(ctx, "blue", config.Cluster{Name: "cyan", Group: "adhoc"}), 400, "cannot be renamed"},
	}
	for _, tt := range tests {
		var le *Error
		if !errors.As(tt.err, &le) || le.Status != tt.status || !strings.Contains(le.Message, tt.msg) {
			t.Errorf("%s: got %v, want %d %q", tt.name, tt.err, tt.status, tt.msg)
		}
	}
	if err := e.m.AddCluster(ctx, config.Cluster{Name: "red", Group: "adhoc", Coordinators: []config.Coordinator{{URL: "http://10.0.0.9:8080"}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.m.SetWeight(ctx, "red", 7); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.m.Fleet().Cluster("red"); c.Weight != 7 || c.State != fleet.Active {
		t.Fatalf("red: %+v", c)
	}
	if err := e.m.RemoveCluster(ctx, "red", true); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.m.Fleet().Cluster("red"); ok {
		t.Fatal("red still there")
	}
}

// A drain waits for running and queued queries, at least the grace
// period, then marks the cluster drained and shuts its workers down.
func TestDrainWaitsForQueries(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.coord["blue"]
	c.setQueries("RUNNING", "QUEUED", "FINISHED")
	if err := e.m.StartDrain(ctx, "blue", time.Hour, true); err != nil {
		t.Fatal(err)
	}
	if s := e.state(t, "blue"); s != fleet.Draining {
		t.Fatalf("state %s", s)
	}
	e.m.Reconcile(ctx, 1)
	blue, _ := e.m.Fleet().Cluster("blue")
	if blue.State != fleet.Draining || blue.Drain.Running != 1 || blue.Drain.Queued != 1 {
		t.Fatalf("after the first check: %s %+v", blue.State, blue.Drain)
	}
	c.setQueries("FINISHED", "FAILED")
	e.m.Reconcile(ctx, 1) // nothing left, but within the grace period
	if s := e.state(t, "blue"); s != fleet.Draining {
		t.Fatalf("drained within the grace period: %s", s)
	}
	e.clock.advance(3 * time.Second)
	e.m.Reconcile(ctx, 1)
	blue, _ = e.m.Fleet().Cluster("blue")
	if blue.State != fleet.Drained || blue.Drain.Finished.IsZero() {
		t.Fatalf("not drained: %s %+v", blue.State, blue.Drain)
	}
	if len(c.shutdowns) != 1 || len(blue.Drain.WorkersShutDown) != 1 {
		t.Fatalf("worker shutdowns %v, recorded %v", c.shutdowns, blue.Drain.WorkersShutDown)
	}
}

func TestDrainTimeoutReportsWhatIsLeft(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.coord["blue"].setQueries("RUNNING")
	if err := e.m.StartDrain(ctx, "blue", time.Minute, false); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(2 * time.Minute)
	e.m.Reconcile(ctx, 1)
	blue, _ := e.m.Fleet().Cluster("blue")
	if blue.State != fleet.Draining || !blue.Drain.TimedOut || len(blue.Drain.Remaining) != 1 ||
		!strings.Contains(blue.Drain.Remaining[0], "q0 (running, user alice)") {
		t.Fatalf("%s %+v", blue.State, blue.Drain)
	}
}

func TestDrainOfADeadCoordinatorCompletes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.coord["blue"].srv.Close()
	if err := e.m.StartDrain(ctx, "blue", time.Hour, false); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(3 * time.Second)
	e.m.Reconcile(ctx, 1) // unreachable but not known down: unknown count, keep draining
	if s := e.state(t, "blue"); s != fleet.Draining {
		t.Fatalf("state %s", s)
	}
	e.h.set("blue/0", health.Unhealthy)
	e.m.Reconcile(ctx, 1)
	if s := e.state(t, "blue"); s != fleet.Drained {
		t.Fatalf("state %s", s)
	}
}

func TestBlueGreen(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.h.set("green/0", health.Unhealthy)
	go func() { // green becomes healthy a moment after the switch begins
		for e.state(t, "green") != fleet.Active || mustCluster(e, "green").Group != "adhoc" {
			time.Sleep(time.Millisecond)
		}
		e.h.set("green/0", health.Healthy)
	}()
	rep, err := e.m.BlueGreen(ctx, "adhoc", []string{"green"}, 5*time.Second, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Draining) != 1 || rep.Draining[0] != "blue" || e.state(t, "blue") != fleet.Draining {
		t.Fatalf("report %+v, blue %s", rep, e.state(t, "blue"))
	}
	if g := mustCluster(e, "green"); g.Group != "adhoc" || g.State != fleet.Active {
		t.Fatalf("green %+v", g)
	}
}

func TestBlueGreenWaitsForHealthAndGivesUp(t *testing.T) {
	e := newEnv(t)
	e.h.set("green/0", health.Unhealthy)
	_, err := e.m.BlueGreen(context.Background(), "adhoc", []string{"green"}, 300*time.Millisecond, time.Hour)
	var le *Error
	if !errors.As(err, &le) || le.Status != http.StatusGatewayTimeout || !strings.Contains(le.Message, "green not healthy") {
		t.Fatalf("got %v", err)
	}
	if s := e.state(t, "blue"); s != fleet.Active {
		t.Fatalf("blue was touched: %s", s)
	}
}

func TestFailoverWithoutFailback(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	f := false
	err := e.m.AddCluster(ctx, config.Cluster{Name: "ha", Group: "adhoc", Failback: &f, Coordinators: []config.Coordinator{
		{Name: "a", URL: "http://10.0.0.1:8080"}, {Name: "b", URL: "http://10.0.0.2:8080", Role: config.RoleStandby}}})
	if err != nil {
		t.Fatal(err)
	}
	e.h.set("ha/a", health.Healthy)
	e.h.set("ha/b", health.Healthy)
	e.m.Failover(ctx)
	if c := mustCluster(e, "ha"); c.Primary != "" {
		t.Fatalf("primary %q while the active one is healthy", c.Primary)
	}
	e.h.set("ha/a", health.Unhealthy)
	e.m.Failover(ctx)
	c := mustCluster(e, "ha")
	if c.Primary != "b" || c.IsStandby(c.Coordinators[1]) || !c.IsStandby(c.Coordinators[0]) {
		t.Fatalf("after failover: primary %q", c.Primary)
	}
	e.h.set("ha/a", health.Healthy) // a returns: no failback
	e.m.Failover(ctx)
	if c := mustCluster(e, "ha"); c.Primary != "b" {
		t.Fatalf("failed back to %q", c.Primary)
	}
}

func mustCluster(e *env, name string) *fleet.Cluster {
	c, _ := e.m.Fleet().Cluster(name)
	return c
}

// Auto-recovery takes an active cluster out with a reason and readmits
// it; it never touches a cluster an operator changed, and an operator's
// state change clears its hold.
func TestTakeOutAndReadmit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	conflict := func(what string, err error) {
		t.Helper()
		var le *Error
		if !errors.As(err, &le) || le.Status != 409 {
			t.Fatalf("%s: %v, want 409", what, err)
		}
	}
	if err := e.m.TakeOut(ctx, "blue", "coordinator 0 restarted 3 times in 52s"); err != nil {
		t.Fatal(err)
	}
	c, _ := e.m.Fleet().Cluster("blue")
	if c.State != fleet.Inactive || c.Auto == nil || c.Auto.Reason != "coordinator 0 restarted 3 times in 52s" {
		t.Fatalf("after TakeOut: %+v", c)
	}
	if v, _ := e.m.Cluster("blue"); v.AutoRecovery == nil {
		t.Fatalf("the view hides the hold: %+v", v)
	}
	conflict("taking out twice", e.m.TakeOut(ctx, "blue", "again"))
	if err := e.m.Readmit(ctx, "blue"); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.m.Fleet().Cluster("blue"); c.State != fleet.Active || c.Auto != nil {
		t.Fatalf("after Readmit: %+v", c)
	}
	conflict("readmitting an active cluster", e.m.Readmit(ctx, "blue"))
	// An operator's deactivation is not auto-recovery's to undo, and an
	// operator who activates a held cluster ends the hold.
	if err := e.m.SetState(ctx, "blue", fleet.Inactive); err != nil {
		t.Fatal(err)
	}
	conflict("readmitting an operator's inactive cluster", e.m.Readmit(ctx, "blue"))
	conflict("taking out an inactive cluster", e.m.TakeOut(ctx, "blue", "x"))
	if err := e.m.SetState(ctx, "blue", fleet.Active); err != nil {
		t.Fatal(err)
	}
	if err := e.m.TakeOut(ctx, "blue", "errors"); err != nil {
		t.Fatal(err)
	}
	if err := e.m.SetState(ctx, "blue", fleet.Active); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.m.Fleet().Cluster("blue"); c.State != fleet.Active || c.Auto != nil {
		t.Fatalf("after the operator's activation: %+v", c)
	}
	var le *Error
	if err := e.m.TakeOut(ctx, "nope", "x"); !errors.As(err, &le) || le.Status != 404 {
		t.Fatalf("unknown cluster: %v", err)
	}
}
