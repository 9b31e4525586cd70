package watchdog

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/protection"
	"github.com/switchyard-gw/switchyard/pkg/querystats"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// recorded reads a document recorded from Trino 476 (pkg/querystats).
func recorded(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "querystats", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		if r, err = gzip.NewReader(f); err != nil {
			t.Fatal(err)
		}
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// shipped compiles the shipped policies with watchdog settings changed.
func shipped(t testing.TB, settings map[string]any) *policy.Compiled {
	t.Helper()
	b, err := policy.LoadDir(filepath.Join("..", "..", "policies"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Files["data.json"], &doc); err != nil {
		t.Fatal(err)
	}
	wd := doc["switchyard"].(map[string]any)["settings"].(map[string]any)["watchdog"].(map[string]any)
	for k, v := range settings {
		wd[k] = v
	}
	b.Files["data.json"], _ = json.Marshal(doc)
	c, err := policy.Compile(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fakeCoordinator answers with recorded documents, by base URL.
type fakeCoordinator struct {
	mu      sync.Mutex
	lists   map[string][]byte // base URL → GET /v1/query?state=RUNNING
	details map[string][]byte // query ID → GET /v1/query/{id}
	kills   []string          // "base id reason"
}

func (f *fakeCoordinator) Queries(_ context.Context, base, state string) ([]coordinator.QuerySummary, error) {
	if state != "RUNNING" {
		panic("state " + state)
	}
	f.mu.Lock()
	b := f.lists[base]
	f.mu.Unlock()
	if b == nil {
		return nil, nil
	}
	return coordinator.ParseQueries(b)
}

func (f *fakeCoordinator) Query(_ context.Context, _ string, id string) (*coordinator.QueryDetail, error) {
	f.mu.Lock()
	b := f.details[id]
	f.mu.Unlock()
	if b == nil {
		return nil, coordinator.ErrQueryGone
	}
	return coordinator.ParseQueryDetail(b)
}

func (f *fakeCoordinator) Kill(_ context.Context, base, id, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kills = append(f.kills, base+" "+id+" "+reason)
	return nil
}

// recordedFleet is one cluster whose coordinator runs the recorded
// queries of the named recordings ("runaway", "join-skewed", ...).
func recordedFleet(t testing.TB, names ...string) (*fleet.Fleet, *fakeCoordinator) {
	t.Helper()
	fc := &fakeCoordinator{lists: map[string][]byte{}, details: map[string][]byte{}}
	var all []json.RawMessage
	for _, n := range names {
		var list []json.RawMessage
		if err := json.Unmarshal(recorded(t, n+"-running-list.json"), &list); err != nil {
			t.Fatal(err)
		}
		all = append(all, list...)
		d, err := coordinator.ParseQueryDetail(recorded(t, n+"-running.json"))
		if err != nil {
			t.Fatal(err)
		}
		fc.details[d.QueryID] = recorded(t, n+"-running.json")
	}
	fc.lists["http://a"], _ = json.Marshal(all)
	cfg := &config.Config{Routing: config.Routing{DefaultGroup: "adhoc"}, Groups: []config.Group{{Name: "adhoc"}},
		Clusters: []config.Cluster{{Name: "a", Group: "adhoc", Coordinators: []config.Coordinator{{Name: "0", URL: "http://a"}}}}}
	return fleet.FromConfig(cfg), fc
}

func newWatchdog(f *fleet.Fleet, fc *fakeCoordinator, pol *policy.Compiled, st *store.Store, holder string, reportOnly bool) *Watchdog {
	return New(Options{
		Fleet: func() *fleet.Fleet { return f }, Client: fc, Policy: func() *policy.Compiled { return pol },
		Guard: protection.New(protection.Options{Store: st.Protection}), Store: st.Protection,
		DetailAfter: time.Second, Holder: holder, ReportOnly: reportOnly,
	})
}

func rules(r Report) map[string]store.Action {
	out := map[string]store.Action{}
	for _, a := range r.Actions {
		out[a.QueryID+" "+a.Action+" "+a.Rule] = a
	}
	return out
}

// TestRecordedQueries runs the shipped watchdog rules over documents
// recorded from Trino 476 (a CPU runaway, a skewed and a balanced join on
// a coordinator with two workers), with the CPU limit lowered to 20 s.
func TestRecordedQueries(t *testing.T) {
	pol := shipped(t, map[string]any{"kill_cpu_seconds": 20, "skew_min_rows": 100000, "throttle_for": "10m", "quarantine_for": "1h"})
	f, fc := recordedFleet(t, "runaway", "join-skewed", "join-balanced")
	st := store.NewMemory()
	w := newWatchdog(f, fc, pol, st, "r1", false)
	rep := w.Tick(context.Background())
	if len(rep.Errors) > 0 {
		t.Fatalf("errors: %v", rep.Errors)
	}
	runaway, _ := coordinator.ParseQueryDetail(recorded(t, "runaway-running.json"))
	skewed, _ := coordinator.ParseQueryDetail(recorded(t, "join-skewed-running.json"))
	balanced, _ := coordinator.ParseQueryDetail(recorded(t, "join-balanced-running.json"))
	got := rules(rep)
	kill, ok := got[runaway.QueryID+" kill runaway-cpu"]
	if !ok {
		t.Fatalf("the runaway was not killed: %v", got)
	}
	if len(fc.kills) != 1 || !strings.Contains(fc.kills[0], "http://a "+runaway.QueryID+" Switchyard watchdog: the query used ") {
		t.Fatalf("kills: %q", fc.kills)
	}
	if kill.User != runaway.Session.User || kill.Cluster != "a" || kill.Fingerprint == "" {
		t.Fatalf("kill recorded as %+v", kill)
	}
	warn, ok := got[skewed.QueryID+" warn skewed-stage"]
	if !ok || !strings.Contains(warn.Reason, "stage "+skewed.QueryID+".1 is skewed") || !strings.Contains(warn.Reason, "spread 1.99") {
		t.Fatalf("the skewed join was not flagged with its stage and spread: %+v (%v)", warn, got)
	}
	for k := range got {
		if strings.HasPrefix(k, balanced.QueryID) {
			t.Fatalf("the balanced join was acted on: %s", k)
		}
	}
	// The runaway's user is throttled and its shape quarantined, with
	// expiries; the kill is remembered for the fingerprint.
	w.o.Guard.Wait()
	ctx := context.Background()
	th, err := st.Protection.GetThrottle(ctx, runaway.Session.User)
	if err != nil || th.MaxRunning != 1 || time.Until(th.Until) < 9*time.Minute {
		t.Fatalf("throttle: %+v %v", th, err)
	}
	ins, err := st.Protection.Incidents(ctx, kill.Fingerprint)
	kinds := map[string]bool{}
	for _, in := range ins {
		kinds[in.Kind] = true
	}
	if err != nil || !kinds[store.IncidentKilled] || !kinds[store.IncidentQuarantine] {
		t.Fatalf("incidents of the runaway's fingerprint: %+v %v", ins, err)
	}
	acts, _ := st.Protection.QueryActions(ctx, runaway.QueryID)
	if len(acts) != 3 {
		t.Fatalf("the runaway's history has %d actions, want kill, throttle and quarantine: %+v", len(acts), acts)
	}

	// The next poll sees the same queries: nothing is done twice.
	again := w.Tick(context.Background())
	if len(again.Actions) != 0 || len(fc.kills) != 1 {
		t.Fatalf("a second poll acted again: %+v, kills %q", again.Actions, fc.kills)
	}
}

// TestTwoReplicasKillOnce: two watchdogs on one shared store (as two
// control-plane replicas would be during a lease handover) poll the same
// runaway at once; it is killed once.
func TestTwoReplicasKillOnce(t *testing.T) {
	pol := shipped(t, map[string]any{"kill_cpu_seconds": 20})
	f, fc := recordedFleet(t, "runaway")
	st := store.NewMemory()
	a, b := newWatchdog(f, fc, pol, st, "r1", false), newWatchdog(f, fc, pol, st, "r2", false)
	var wg sync.WaitGroup
	for _, w := range []*Watchdog{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); w.Tick(context.Background()) }()
	}
	wg.Wait()
	if len(fc.kills) != 1 {
		t.Fatalf("killed %d times: %q", len(fc.kills), fc.kills)
	}
}

// TestReportOnly records what would be done and does none of it.
func TestReportOnly(t *testing.T) {
	pol := shipped(t, map[string]any{"kill_cpu_seconds": 20, "throttle_for": "10m"})
	f, fc := recordedFleet(t, "runaway")
	st := store.NewMemory()
	w := newWatchdog(f, fc, pol, st, "r1", true)
	rep := w.Tick(context.Background())
	if len(fc.kills) != 0 {
		t.Fatalf("report-only killed: %q", fc.kills)
	}
	if len(rep.Actions) != 2 {
		t.Fatalf("actions: %+v", rep.Actions)
	}
	for _, a := range rep.Actions {
		if !a.ReportOnly {
			t.Fatalf("action not marked report-only: %+v", a)
		}
	}
	if _, err := st.Protection.GetThrottle(context.Background(), rep.Actions[0].User); err == nil {
		t.Fatal("report-only throttled the user")
	}
}

// TestNoRules: without watchdog rules nothing is polled.
func TestNoRules(t *testing.T) {
	b := &policy.Bundle{Files: map[string][]byte{"r.rego": []byte("package switchyard.routing\nimport rego.v1\ndecision := {\"allow\": true}\n")}}
	pol, err := policy.Compile(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	f, fc := recordedFleet(t, "runaway")
	rep := newWatchdog(f, fc, pol, store.NewMemory(), "r1", false).Tick(context.Background())
	if rep.Queries != 0 || len(fc.kills) != 0 {
		t.Fatalf("polled without rules: %+v", rep)
	}
}

// TestEvaluate is the dry run over one query's statistics.
func TestEvaluate(t *testing.T) {
	pol := shipped(t, map[string]any{"kill_cpu_seconds": 20})
	d, _ := coordinator.ParseQueryDetail(recorded(t, "runaway-running.json"))
	dec, err := Evaluate(context.Background(), pol, "a", "adhoc", querystats.FromDetail(d), time.Now())
	if err != nil || len(dec.Actions) != 1 || dec.Actions[0].Action != policy.ActionKill {
		t.Fatalf("%+v %v", dec, err)
	}
}
