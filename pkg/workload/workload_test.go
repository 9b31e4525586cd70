package workload

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-gw/switchyard/pkg/events"
	"github.com/switchyard-gw/switchyard/pkg/governance"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

func mustConfig(t *testing.T, doc string) *governance.Config {
	t.Helper()
	cfg, err := governance.ParseJSON([]byte(doc))
	if err != nil {
		t.Fatalf("governance config: %v", err)
	}
	return cfg
}

// testConfig: etl runs two queries, one per user, within quotas; adhoc
// has only a priority; cluster a is capped.
const testConfig = `{
	"classes": {
		"etl": {"priority": 30, "maxRunning": 2, "maxQueued": 50, "queriesPerMinute": 100, "cpuSecondsPerHour": 1000, "scannedBytesPerHour": "1GB",
			"perUser": {"maxRunning": 1, "maxQueued": 10, "queriesPerMinute": 50, "cpuSecondsPerHour": 100, "scannedBytesPerHour": 1000000}},
		"adhoc": {"priority": 60}
	},
	"clusters": {"a": {"maxRunning": 5}, "b": {"maxRunning": 0}}
}`

func newGovernor(t *testing.T, st *store.Store, cfg *governance.Config, with ...func(*Options)) *Governor {
	t.Helper()
	o := Options{Store: st.Governance, History: st.History, Policy: func() *governance.Config { return cfg }, Owner: "replica-1"}
	for _, w := range with {
		w(&o)
	}
	return New(o)
}

func admit(t *testing.T, g *Governor, id, class, user string, want store.Outcome, cands ...string) store.Admission {
	t.Helper()
	a, err := g.Admit(context.Background(), store.AdmitRequest{ID: id, Class: class, User: user, Candidates: cands})
	if err != nil || a.Outcome != want {
		t.Fatalf("admit %s (%s/%s): %+v, %v; want %s", id, class, user, a, err, want)
	}
	return a
}

func enqueue(t *testing.T, g *Governor, id, class, user string, want store.Outcome) store.Admission {
	t.Helper()
	a, err := g.Enqueue(context.Background(), store.EnqueueRequest{AdmitRequest: store.AdmitRequest{ID: id, Class: class, User: user}, Slug: "s" + id, Payload: []byte("{}")})
	if err != nil || a.Outcome != want {
		t.Fatalf("enqueue %s (%s/%s): %+v, %v; want %s", id, class, user, a, err, want)
	}
	return a
}

func owned(g *Governor) []string {
	o := g.Owned()
	sort.Strings(o)
	return o
}

func TestWorkloadLimitsFromTheConfig(t *testing.T) {
	l := Limits(mustConfig(t, testConfig), 77)
	want := map[string]store.ClassLimits{
		"etl": {Priority: 30, MaxRunning: 2, MaxQueued: 50, PerMinute: 100, CPUPerHour: 1000, BytesPerHour: 1 << 30,
			UserRunning: 1, UserQueued: 10, UserPerMinute: 50, UserCPU: 100, UserBytes: 1e6},
		"adhoc": {Priority: 60},
	}
	if !maps.Equal(l.Classes, want) {
		t.Errorf("class limits %+v,\nwant %+v", l.Classes, want)
	}
	if want := map[string]int{"a": 5}; !maps.Equal(l.Clusters, want) {
		t.Errorf("cluster caps %v, want %v (an uncapped cluster is left out)", l.Clusters, want)
	}
	if l.MaxQueued != 77 {
		t.Errorf("MaxQueued %d, want 77", l.MaxQueued)
	}
	none := Limits(nil, 5)
	if none.Classes == nil || none.Clusters == nil || len(none.Classes)+len(none.Clusters) != 0 || none.MaxQueued != 5 {
		t.Errorf("limits without a config %+v; want empty maps and MaxQueued 5", none)
	}
}

func TestWorkloadConfigIsCachedPerDefinitions(t *testing.T) {
	cfg := mustConfig(t, testConfig)
	cur := cfg
	g := New(Options{Store: store.NewMemory().Governance, Policy: func() *governance.Config { return cur }})
	c1, l1 := g.Config()
	c2, l2 := g.Config()
	if c1 != cfg || c2 != cfg || l1 != l2 {
		t.Fatalf("config %p/%p limits %p/%p; want the same definitions and limits while the policy is unchanged", c1, c2, l1, l2)
	}
	if l1.MaxQueued != 10000 {
		t.Errorf("default MaxQueued %d, want 10000", l1.MaxQueued)
	}
	cur = mustConfig(t, `{"classes": {"etl": {"maxRunning": 9}}}`)
	if c3, l3 := g.Config(); c3 != cur || l3 == l1 || l3.Classes["etl"].MaxRunning != 9 {
		t.Fatalf("after a new policy: %+v; want limits made from it", l3.Classes)
	}
	cur = nil
	if c4, l4 := g.Config(); c4 != nil || l4 == nil || len(l4.Classes) != 0 {
		t.Fatalf("governance off: config %v, limits %+v; want none, and empty limits", c4, l4)
	}
}

func TestWorkloadOwnedSlots(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	g := newGovernor(t, st, mustConfig(t, testConfig))

	admit(t, g, "s1", "etl", "alice", store.Admitted)
	admit(t, g, "s2", "etl", "alice", store.MustQueue) // alice runs one
	if got := owned(g); !slices.Equal(got, []string{"s1"}) {
		t.Fatalf("owned %v after one admission and one refusal, want [s1]", got)
	}
	if err := g.Release(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if got := owned(g); len(got) != 0 {
		t.Fatalf("owned %v after the release, want none", got)
	}

	// Enqueued with room: admitted at once, and held.
	enqueue(t, g, "s3", "etl", "alice", store.Admitted)
	// Queued behind it, then admitted when it ends, claimed, put back.
	enqueue(t, g, "s4", "etl", "alice", store.Queued)
	if got := owned(g); !slices.Equal(got, []string{"s3"}) {
		t.Fatalf("owned %v, want [s3] (a queued entry holds nothing)", got)
	}
	if err := g.Release(ctx, "s3"); err != nil {
		t.Fatal(err)
	}
	if c, err := g.Claim(ctx, "s4"); err != nil || !c.Claimed {
		t.Fatalf("claim s4: %+v, %v", c, err)
	}
	if got := owned(g); !slices.Equal(got, []string{"s4"}) {
		t.Fatalf("owned %v after the claim, want [s4]", got)
	}
	if err := g.Requeue(ctx, "s4"); err != nil {
		t.Fatal(err)
	}
	// The requeue admitted it again (there is room): its slot is the
	// store's until a replica claims it.
	if got := owned(g); len(got) != 0 {
		t.Fatalf("owned %v after the requeue, want none", got)
	}
	if _, err := g.Finish(ctx, "s4", store.EntryError{Name: "USER_CANCELED", Message: "canceled"}); err != nil {
		t.Fatal(err)
	}

	// Renewal drops what this replica lost: a slot another replica
	// adopted, one released behind its back; it keeps the rest.
	for _, id := range []string{"r1", "r2", "r3"} {
		admit(t, g, id, "adhoc", "bob", store.Admitted)
	}
	if err := st.Governance.Adopt(ctx, "replica-2", []string{"r1"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.Governance.Release(ctx, "r2", nil, store.DispatchOptions{}); err != nil || !ok {
		t.Fatalf("release r2: %v, %v", ok, err)
	}
	before := slotsByID(t, g)["r3"].ExpiresMs
	g.renew(ctx)
	if got := owned(g); !slices.Equal(got, []string{"r3"}) {
		t.Fatalf("owned %v after renewing, want [r3] (r1 adopted by another replica, r2 gone)", got)
	}
	if s := slotsByID(t, g); s["r1"].Owner != "replica-2" || s["r3"].Owner != "replica-1" || s["r3"].ExpiresMs < before {
		t.Fatalf("slots %+v; want r1 left to replica-2 and r3 renewed", s)
	}
}

func slotsByID(t *testing.T, g *Governor) map[string]store.Slot {
	t.Helper()
	s, err := g.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Slot{}
	for _, sl := range s.Slots {
		out[sl.ID] = sl
	}
	return out
}

func usageOf(t *testing.T, g *Governor) *Usage {
	t.Helper()
	u, err := g.Usage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func classUsage(t *testing.T, u *Usage, name string) ClassUsage {
	t.Helper()
	for _, c := range u.Classes {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("usage has no class %s: %+v", name, u.Classes)
	return ClassUsage{}
}

func userUsage(t *testing.T, c ClassUsage, user string) UserUsage {
	t.Helper()
	for _, u := range c.Users {
		if u.User == user {
			return u
		}
	}
	t.Fatalf("class %s has no user %s: %+v", c.Name, user, c.Users)
	return UserUsage{}
}

func completed(id, user string, tags []string, cpu time.Duration, bytes int64) *events.Event {
	now := time.Now().UTC()
	return &events.Event{Kind: events.Completed, QueryID: id, State: "FINISHED", User: user, Source: "airflow", ClientTags: tags,
		Query: "SELECT 1", QueryType: "SELECT", CreateTime: now.Add(-time.Minute), ExecutionStartTime: now.Add(-50 * time.Second), EndTime: now,
		CPUTime: cpu, WallTime: time.Minute, PhysicalInputBytes: bytes}
}

func TestIngest(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	g := newGovernor(t, st, mustConfig(t, testConfig))
	admit(t, g, "s1", "etl", "alice", store.Admitted)
	if err := g.Bind(ctx, "s1", store.Binding{QueryID: "q1", Cluster: "a", Coordinator: "0"}); err != nil {
		t.Fatal(err)
	}
	record := func(id string) store.QueryRecord {
		t.Helper()
		r, err := st.History.GetQuery(ctx, id)
		if err != nil {
			t.Fatalf("history of %s: %v", id, err)
		}
		return r
	}

	t.Run("a completion releases the slot and charges the query", func(t *testing.T) {
		tags := []string{"nightly", governance.ClientTag("etl")}
		for range 2 { // Trino's listener may send it again: charged once
			if err := g.Ingest(ctx, "a", completed("q1", "alice", tags, 3*time.Second, 2048)); err != nil {
				t.Fatal(err)
			}
		}
		if s := slotsByID(t, g); len(s) != 0 {
			t.Fatalf("slots %+v; want q1's slot released", s)
		}
		etl := classUsage(t, usageOf(t, g), "etl")
		alice := userUsage(t, etl, "alice")
		for who, b := range map[string]Balances{"class": etl.Usage, "user": alice.Usage} {
			if b.CPU.Used != 3 || b.Bytes.Used != 2048 {
				t.Errorf("%s usage cpu %v bytes %v; want 3 and 2048, charged once", who, b.CPU.Used, b.Bytes.Used)
			}
		}
		r := record("q1")
		if r.State != "FINISHED" || r.Class != "etl" || r.Cluster != "a" || r.User != "alice" || r.CPUSeconds != 3 || r.ScannedBytes != 2048 || r.Query != "SELECT 1" {
			t.Errorf("history %+v", r)
		}
	})
	t.Run("a creation records the query as queued", func(t *testing.T) {
		e := &events.Event{Kind: events.Created, QueryID: "q2", User: "bob", ClientTags: []string{governance.ClientTag("adhoc")}, CreateTime: time.Now()}
		if err := g.Ingest(ctx, "b", e); err != nil {
			t.Fatal(err)
		}
		if r := record("q2"); r.State != "QUEUED" || r.Class != "adhoc" || r.Cluster != "b" {
			t.Errorf("history %+v; want q2 QUEUED in class adhoc on b", r)
		}
	})
	t.Run("a completion after the creation replaces it, not the reverse", func(t *testing.T) {
		if err := g.Ingest(ctx, "b", completed("q2", "bob", nil, time.Second, 1)); err != nil {
			t.Fatal(err)
		}
		if r := record("q2"); r.State != "FINISHED" || r.Class != "adhoc" {
			t.Errorf("history %+v; want q2 FINISHED, its class kept from the creation", r)
		}
		late := &events.Event{Kind: events.Created, QueryID: "q2", User: "bob", CreateTime: time.Now()}
		if err := g.Ingest(ctx, "b", late); err != nil {
			t.Fatal(err)
		}
		if r := record("q2"); r.State != "FINISHED" {
			t.Errorf("history %+v; a late creation event overwrote the completion", r)
		}
	})
	t.Run("a query the gateway never admitted", func(t *testing.T) {
		if err := g.Ingest(ctx, "a", completed("q9", "carol", nil, time.Second, 10)); err != nil {
			t.Fatalf("ingest of an unknown query: %v; want it recorded without error", err)
		}
		if r := record("q9"); r.State != "FINISHED" || r.Class != "" || r.User != "carol" {
			t.Errorf("history %+v", r)
		}
	})
	t.Run("governance off: recorded only", func(t *testing.T) {
		st := store.NewMemory()
		on := newGovernor(t, st, mustConfig(t, testConfig))
		admit(t, on, "s1", "etl", "alice", store.Admitted)
		if err := on.Bind(ctx, "s1", store.Binding{QueryID: "q1", Cluster: "a", Coordinator: "0"}); err != nil {
			t.Fatal(err)
		}
		off := newGovernor(t, st, nil)
		if err := off.Ingest(ctx, "a", completed("q1", "alice", []string{governance.ClientTag("etl")}, time.Second, 1)); err != nil {
			t.Fatal(err)
		}
		if s := slotsByID(t, off); len(s) != 1 {
			t.Errorf("slots %+v; governance off leaves the store alone", s)
		}
		if _, err := st.History.GetQuery(ctx, "q1"); err != nil {
			t.Errorf("history: %v", err)
		}
	})
}

// failingStore fails every completion.
type failingStore struct{ store.Governance }

func (failingStore) Complete(context.Context, store.Completion, *store.Limits, store.DispatchOptions) (store.Completed, error) {
	return store.Completed{}, errors.New("connection refused")
}

// A completion the store cannot take is an error: the endpoint answers
// 503 and Trino's listener sends the event again.
func TestIngestStoreFailure(t *testing.T) {
	st := store.NewMemory()
	g := newGovernor(t, st, mustConfig(t, testConfig), func(o *Options) { o.Store = failingStore{st.Governance} })
	err := g.Ingest(context.Background(), "a", completed("q1", "alice", nil, time.Second, 1))
	if err == nil || !strings.Contains(err.Error(), "completing query q1") {
		t.Fatalf("ingest: %v; want the completion's error", err)
	}
}

func TestUsageAndQueueViews(t *testing.T) {
	ctx := context.Background()
	// Rates are per clock minute: a scenario that straddles a minute is
	// run again.
	var u *Usage
	var g *Governor
	for try := 0; ; try++ {
		start := time.Now()
		g = newGovernor(t, store.NewMemory(), mustConfig(t, testConfig))
		admit(t, g, "n1", "", "frank", store.Admitted, "a") // no class, counted on capped a
		admit(t, g, "s1", "etl", "alice", store.Admitted)
		admit(t, g, "s2", "etl", "bob", store.Admitted)
		enqueue(t, g, "s3", "etl", "carol", store.Queued)
		enqueue(t, g, "s4", "etl", "dave", store.Queued)
		enqueue(t, g, "s5", "etl", "erin", store.Queued)
		if _, err := g.Finish(ctx, "s5", store.EntryError{Name: "USER_CANCELED", Message: "canceled by its client"}); err != nil {
			t.Fatal(err)
		}
		for _, a := range []store.UsageAdjustment{{Class: "etl", Kind: "cpu", Delta: 50}, {Class: "etl", User: "alice", Kind: "cpu", Delta: 20}} {
			if err := g.AdjustUsage(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		u = usageOf(t, g)
		if u.Time.Truncate(time.Minute).Equal(start.Truncate(time.Minute)) || try == 2 {
			break
		}
	}
	if !u.Enabled || u.Queued != 2 || u.Unclassified != 1 {
		t.Errorf("usage enabled %v, queued %d, unclassified %d; want true, 2, 1", u.Enabled, u.Queued, u.Unclassified)
	}
	var names []string
	for _, c := range u.Classes {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"adhoc", "etl"}) {
		t.Fatalf("classes %q, want [adhoc etl] (every defined class, in order)", names)
	}
	minute, hour := u.Time.Truncate(time.Minute).Add(time.Minute), u.Time.Truncate(time.Hour).Add(time.Hour)
	etl := classUsage(t, u, "etl")
	if etl.Priority != 30 || etl.Running != 2 || etl.Queued != 2 || etl.Limits.MaxRunning != 2 || etl.PerUser.MaxRunning != 1 {
		t.Errorf("etl %+v", etl)
	}
	wantClass := Balances{
		Rate:  Balance{Used: 5, Limit: 100, Resets: minute},
		CPU:   Balance{Used: 50, Limit: 1000, Resets: hour},
		Bytes: Balance{Used: 0, Limit: 1 << 30, Resets: hour},
	}
	if etl.Usage != wantClass {
		t.Errorf("etl balances %+v,\nwant %+v (resets at the end of the current minute and hour)", etl.Usage, wantClass)
	}
	var users []string
	for _, x := range etl.Users {
		users = append(users, x.User)
	}
	if !slices.Equal(users, []string{"alice", "bob", "carol", "dave", "erin"}) {
		t.Errorf("etl users %q; want everyone running, waiting or charged, in order", users)
	}
	alice := userUsage(t, etl, "alice")
	wantAlice := Balances{Rate: Balance{Used: 1, Limit: 50, Resets: minute}, CPU: Balance{Used: 20, Limit: 100, Resets: hour}, Bytes: Balance{Limit: 1e6, Resets: hour}}
	if alice.Running != 1 || alice.Queued != 0 || alice.Usage != wantAlice {
		t.Errorf("alice %+v,\nwant running 1 and balances %+v", alice, wantAlice)
	}
	if carol := userUsage(t, etl, "carol"); carol.Running != 0 || carol.Queued != 1 {
		t.Errorf("carol %+v; want one queued", carol)
	}
	if erin := userUsage(t, etl, "erin"); erin.Running != 0 || erin.Queued != 0 || erin.Usage.Rate.Used != 1 {
		t.Errorf("erin %+v; want nothing running or queued, one submission this minute", erin)
	}
	if adhoc := classUsage(t, u, "adhoc"); adhoc.Running != 0 || adhoc.Queued != 0 || len(adhoc.Users) != 0 || adhoc.Usage.Rate.Limit != 0 {
		t.Errorf("adhoc %+v; want an idle class without limits", adhoc)
	}
	wantClusters := []ClusterUsage{{Name: "a", Running: 1, Cap: 5}, {Name: "b", Running: 0, Cap: 0}}
	if !slices.Equal(u.Clusters, wantClusters) {
		t.Errorf("clusters %+v, want %+v", u.Clusters, wantClusters)
	}

	q, err := g.Queue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type item struct {
		pos          int
		id, st, errs string
	}
	var got []item
	for _, it := range q {
		got = append(got, item{it.Position, it.ID, it.State, it.Error})
		if it.Class != "etl" || it.Priority != 30 || it.Enqueued.IsZero() || it.Waited == "" {
			t.Errorf("queue item %+v", it)
		}
	}
	want := []item{{1, "s3", "queued", ""}, {2, "s4", "queued", ""}, {0, "s5", "finished", "USER_CANCELED: canceled by its client"}}
	if !slices.Equal(got, want) {
		t.Errorf("queue %+v,\nwant %+v", got, want)
	}

	// Governance off: the view says so.
	off := New(Options{Store: store.NewMemory().Governance})
	if u := usageOf(t, off); u.Enabled || len(u.Classes) != 0 {
		t.Errorf("usage without definitions %+v; want disabled and empty", u)
	}
}

// Tick drops a queued entry no client polled within ClientTimeout; its
// client reads ABANDONED_QUERY.
func TestWorkloadTickDropsAbandonedEntries(t *testing.T) {
	ctx := context.Background()
	g := newGovernor(t, store.NewMemory(), mustConfig(t, testConfig), func(o *Options) { o.ClientTimeout = time.Millisecond })
	admit(t, g, "s1", "etl", "alice", store.Admitted)
	enqueue(t, g, "s2", "etl", "alice", store.Queued)
	// (Snapshots, unlike polls, do not count as the client's.)
	deadline := time.Now().Add(time.Second)
	for {
		g.tick(ctx)
		s, err := g.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Queue) != 1 {
			t.Fatalf("queue %+v; want s2", s.Queue)
		}
		if s.Queue[0].State == store.EntryFinished {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry %+v still %s after 1s; want it dropped once its client stopped polling for 1ms", s.Queue[0], s.Queue[0].State)
		}
	}
	p, err := g.Poll(ctx, "s2", "ss2")
	if err != nil || p.Entry.Error == nil || p.Entry.Error.Name != "ABANDONED_QUERY" {
		t.Fatalf("poll %+v, %v; want the entry ended with ABANDONED_QUERY", p.Entry, err)
	}
	if n := testutil.ToFloat64(g.Metrics().Ended.WithLabelValues("(any)", "ABANDONED_QUERY")); n != 1 {
		t.Errorf("ended{ABANDONED_QUERY} %v, want 1", n)
	}
}
