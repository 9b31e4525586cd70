package workload

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/governance"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// lister is coordinators' query lists by base URL; a listed error fails
// that coordinator's reads.
type lister struct {
	mu    sync.Mutex
	lists map[string][]coordinator.QuerySummary
	fail  map[string]error
}

func (l *lister) Queries(_ context.Context, baseURL, _ string) ([]coordinator.QuerySummary, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.fail[baseURL]; err != nil {
		return nil, err
	}
	return append([]coordinator.QuerySummary(nil), l.lists[baseURL]...), nil
}

func (l *lister) set(url string, qs ...coordinator.QuerySummary) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lists[url] = qs
}

func (l *lister) failing(url string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fail[url] = err
}

// later is a store whose snapshots are read a while from now: the
// reconciler sees slots as old, and leases as near their end, as a test
// needs (no waiting).
type later struct {
	store.Governance
	mu sync.Mutex
	by time.Duration
}

func (s *later) Snapshot(ctx context.Context) (store.GovernanceSnapshot, error) {
	snap, err := s.Governance.Snapshot(ctx)
	s.mu.Lock()
	snap.Now = snap.Now.Add(s.by)
	s.mu.Unlock()
	return snap, err
}

func (s *later) advance(d time.Duration) {
	s.mu.Lock()
	s.by = d
	s.mu.Unlock()
}

const (
	urlA = "http://a0.example:8080"
	urlB = "http://b0.example:8080"
)

func reconcileFleet() *fleet.Fleet {
	return &fleet.Fleet{
		DefaultGroup: "adhoc", Groups: []fleet.Group{{Name: "adhoc"}},
		Clusters: []fleet.Cluster{
			{Name: "a", Group: "adhoc", State: fleet.Active, Coordinators: []fleet.Coordinator{{Name: "0", URL: urlA}}},
			{Name: "b", Group: "adhoc", State: fleet.Active, Coordinators: []fleet.Coordinator{{Name: "0", URL: urlB}}},
		},
	}
}

type reconcileRig struct {
	t     *testing.T
	st    *store.Store
	clock *later
	g     *Governor
	other *Governor // a replica that stopped renewing its slots
	l     *lister
	r     *Reconciler
}

func newReconcileRig(t *testing.T) *reconcileRig {
	t.Helper()
	cfg := mustConfig(t, testConfig)
	st := store.NewMemory()
	clock := &later{Governance: st.Governance}
	g := New(Options{Store: clock, History: st.History, Policy: func() *governance.Config { return cfg }, Owner: "replica-1", SlotTTL: 30 * time.Second})
	other := New(Options{Store: st.Governance, Policy: func() *governance.Config { return cfg }, Owner: "replica-2", SlotTTL: 30 * time.Second})
	l := &lister{lists: map[string][]coordinator.QuerySummary{}, fail: map[string]error{}}
	f := reconcileFleet()
	r := &Reconciler{Governor: g, Fleet: func() *fleet.Fleet { return f }, Queries: l, UnboundGrace: time.Minute, AbsentGrace: 30 * time.Second}
	return &reconcileRig{t: t, st: st, clock: clock, g: g, other: other, l: l, r: r}
}

// slot admits a slot of etl for user on g, bound to query on cluster/0
// (unbound without a query).
func (rr *reconcileRig) slot(g *Governor, id, user, query, cluster string) {
	rr.t.Helper()
	admit(rr.t, g, id, "etl", user, store.Admitted)
	if query == "" {
		return
	}
	if err := g.Bind(context.Background(), id, store.Binding{QueryID: query, Cluster: cluster, Coordinator: "0"}); err != nil {
		rr.t.Fatal(err)
	}
}

func (rr *reconcileRig) round() RoundResult {
	rr.t.Helper()
	return rr.r.Round(context.Background())
}

func (rr *reconcileRig) slotIDs() []string {
	rr.t.Helper()
	var ids []string
	for id := range slotsByID(rr.t, rr.g) {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func query(id, state string, cpu time.Duration, bytes int64) coordinator.QuerySummary {
	return coordinator.QuerySummary{QueryID: id, State: state,
		Stats: coordinator.QueryStats{CPU: coordinator.Duration(cpu), PhysicalInput: coordinator.DataSize(bytes)}}
}

func TestReconcileRound(t *testing.T) {
	down := errors.New("dial tcp: connection refused")
	tests := []struct {
		name string
		// setup makes the slot "s" (and what else the case needs).
		setup func(rr *reconcileRig)
		// rounds run in turn, each after its step.
		rounds []func(rr *reconcileRig)
		want   RoundResult // summed over the rounds
		left   []string    // slots after the rounds
	}{
		{
			name: "a finished query's slot is released",
			setup: func(rr *reconcileRig) {
				rr.slot(rr.g, "s", "alice", "q1", "a")
				rr.l.set(urlA, query("q1", "FINISHED", 12500*time.Millisecond, 1000))
			},
			rounds: []func(*reconcileRig){nil},
			want:   RoundResult{Released: 1},
		},
		{
			name: "a failed query's slot is released",
			setup: func(rr *reconcileRig) {
				rr.slot(rr.g, "s", "alice", "q1", "b")
				rr.l.set(urlB, query("q1", "FAILED", 0, 0))
			},
			rounds: []func(*reconcileRig){nil},
			want:   RoundResult{Released: 1},
		},
		{
			name: "a running query keeps its slot",
			setup: func(rr *reconcileRig) {
				rr.slot(rr.g, "s", "alice", "q1", "a")
				rr.l.set(urlA, query("q1", "RUNNING", 0, 0))
			},
			// Old, but renewed: its lease has more than a third to run.
			rounds: []func(*reconcileRig){nil, func(rr *reconcileRig) { rr.clock.advance(15 * time.Second) }},
			left:   []string{"s"},
		},
		{
			name:  "an absent query keeps its slot within the grace",
			setup: func(rr *reconcileRig) { rr.slot(rr.g, "s", "alice", "q1", "a") },
			rounds: []func(*reconcileRig){nil, func(rr *reconcileRig) {
				rr.clock.advance(29 * time.Second)
			}},
			left: []string{"s"},
		},
		{
			name:   "an absent query's slot is released after the grace",
			setup:  func(rr *reconcileRig) { rr.slot(rr.g, "s", "alice", "q1", "a") },
			rounds: []func(*reconcileRig){func(rr *reconcileRig) { rr.clock.advance(31 * time.Second) }},
			want:   RoundResult{Released: 1},
		},
		{
			name:   "a coordinator failing once keeps its slots",
			setup:  func(rr *reconcileRig) { rr.slot(rr.g, "s", "alice", "q1", "a"); rr.l.failing(urlA, down) },
			rounds: []func(*reconcileRig){nil},
			left:   []string{"s"},
		},
		{
			name: "a coordinator failing twice in a row loses its slots, not the others'",
			setup: func(rr *reconcileRig) {
				rr.slot(rr.g, "s", "alice", "q1", "a")
				rr.slot(rr.g, "t", "bob", "q2", "b")
				rr.l.failing(urlA, down)
				rr.l.set(urlB, query("q2", "RUNNING", 0, 0))
			},
			rounds: []func(*reconcileRig){nil, nil},
			want:   RoundResult{Released: 1},
			left:   []string{"t"},
		},
		{
			name:  "a coordinator that answers in between keeps its slots",
			setup: func(rr *reconcileRig) { rr.slot(rr.g, "s", "alice", "q1", "a"); rr.l.failing(urlA, down) },
			rounds: []func(*reconcileRig){nil, func(rr *reconcileRig) {
				rr.l.failing(urlA, nil)
				rr.l.set(urlA, query("q1", "RUNNING", 0, 0))
			}, func(rr *reconcileRig) { rr.l.failing(urlA, down) }},
			left: []string{"s"},
		},
		{
			name:   "an unbound slot is kept within the grace",
			setup:  func(rr *reconcileRig) { rr.slot(rr.g, "s", "alice", "", "") },
			rounds: []func(*reconcileRig){nil, func(rr *reconcileRig) { rr.clock.advance(59 * time.Second) }},
			left:   []string{"s"},
		},
		{
			name:   "an unbound slot is released after the grace",
			setup:  func(rr *reconcileRig) { rr.slot(rr.g, "s", "alice", "", "") },
			rounds: []func(*reconcileRig){func(rr *reconcileRig) { rr.clock.advance(61 * time.Second) }},
			want:   RoundResult{Released: 1},
		},
		{
			name:   "a slot whose cluster left the fleet is released",
			setup:  func(rr *reconcileRig) { rr.slot(rr.g, "s", "alice", "q1", "gone") },
			rounds: []func(*reconcileRig){nil},
			want:   RoundResult{Released: 1},
		},
		{
			name: "a running query whose lease is fresh is left to its replica",
			setup: func(rr *reconcileRig) {
				rr.slot(rr.other, "s", "alice", "q1", "a")
				rr.l.set(urlA, query("q1", "RUNNING", 0, 0))
			},
			rounds: []func(*reconcileRig){nil},
			left:   []string{"s"},
		},
		{
			name: "a running query whose lease is about to end is adopted",
			setup: func(rr *reconcileRig) {
				rr.slot(rr.other, "s", "alice", "q1", "a")
				rr.l.set(urlA, query("q1", "RUNNING", 0, 0))
			},
			rounds: []func(*reconcileRig){func(rr *reconcileRig) { rr.clock.advance(25 * time.Second) }},
			want:   RoundResult{Adopted: 1},
			left:   []string{"s"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rr := newReconcileRig(t)
			tc.setup(rr)
			var got RoundResult
			for _, step := range tc.rounds {
				if step != nil {
					step(rr)
				}
				res := rr.round()
				got.Released += res.Released
				got.Adopted += res.Adopted
			}
			if got != tc.want {
				t.Errorf("rounds did %+v, want %+v", got, tc.want)
			}
			if ids := rr.slotIDs(); !slices.Equal(ids, tc.left) {
				t.Errorf("slots left %q, want %q", ids, tc.left)
			}
		})
	}
}

func TestReconcileChargesFinishedQueries(t *testing.T) {
	rr := newReconcileRig(t)
	rr.slot(rr.g, "s", "alice", "q1", "a")
	rr.l.set(urlA, query("q1", "FINISHED", 12500*time.Millisecond, 1000))
	if res := rr.round(); res.Released != 1 {
		t.Fatalf("round %+v; want the finished query's slot released", res)
	}
	etl := classUsage(t, usageOf(t, rr.g), "etl")
	alice := userUsage(t, etl, "alice")
	for who, b := range map[string]Balances{"class": etl.Usage, "user": alice.Usage} {
		if b.CPU.Used != 12.5 || b.Bytes.Used != 1000 {
			t.Errorf("%s charged cpu %v bytes %v; want the list's 12.5 CPU seconds and 1000 bytes", who, b.CPU.Used, b.Bytes.Used)
		}
	}
	// The completion event that arrives later charges nothing again.
	if err := rr.g.Ingest(context.Background(), "a", completed("q1", "alice", nil, 12500*time.Millisecond, 1000)); err != nil {
		t.Fatal(err)
	}
	if b := classUsage(t, usageOf(t, rr.g), "etl").Usage; b.CPU.Used != 12.5 {
		t.Errorf("after the late event the class is charged %v CPU seconds, want 12.5", b.CPU.Used)
	}
}

func TestReconcileAdoptionMakesThisReplicaTheOwner(t *testing.T) {
	rr := newReconcileRig(t)
	rr.slot(rr.other, "s", "alice", "q1", "a")
	rr.l.set(urlA, query("q1", "RUNNING", 0, 0))
	rr.clock.advance(25 * time.Second)
	if res := rr.round(); res.Adopted != 1 {
		t.Fatalf("round %+v; want the slot adopted", res)
	}
	s := slotsByID(t, rr.g)["s"]
	if s.Owner != "replica-1" {
		t.Fatalf("slot %+v; want it held by replica-1", s)
	}
	if !slices.Contains(rr.g.Owned(), "s") {
		t.Fatalf("replica-1 holds %q; want s among them (it renews it now)", rr.g.Owned())
	}
	// The old replica's renewal finds it lost.
	rr.other.renew(context.Background())
	if slices.Contains(rr.other.Owned(), "s") {
		t.Fatalf("replica-2 still holds %q after renewing", rr.other.Owned())
	}
}

func TestReconcileWithGovernanceOff(t *testing.T) {
	rr := newReconcileRig(t)
	rr.slot(rr.g, "s", "alice", "q1", "gone")
	rr.r.Governor = New(Options{Store: rr.st.Governance})
	if res := rr.round(); res != (RoundResult{}) {
		t.Fatalf("round %+v; governance off does nothing", res)
	}
}
