package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// govBackend is one Governance under test with its own clock: the Redis
// scripts take the time from the caller, so both implementations can be
// moved through minutes and hours deterministically.
type govBackend struct {
	name  string
	g     Governance
	clock *fakeClock
}

func govBackends(t *testing.T) []govBackend {
	t.Helper()
	var out []govBackend
	for _, b := range backends(t) {
		clock := &fakeClock{now: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)}
		switch g := b.s.Governance.(type) {
		case *memGovernance:
			g.now = clock.Now
		case *redisGovernance:
			g.now = clock.Now
		default:
			t.Fatalf("%s: unknown governance %T", b.name, g)
		}
		out = append(out, govBackend{name: b.name, g: b.s.Governance, clock: clock})
	}
	return out
}

// TestGovernanceContract runs the same checks against every Governance
// implementation.
func TestGovernanceContract(t *testing.T) {
	for _, b := range govBackends(t) {
		t.Run(b.name, func(t *testing.T) { governanceContract(t, b) })
	}
}

const owner = "r1"

func opts() DispatchOptions {
	return DispatchOptions{Owner: owner, SlotTTL: 24 * time.Hour, ClientTimeout: 5 * time.Minute, Keep: 10 * time.Minute}
}

func admitReq(id, class, user string, l *Limits, cands ...string) AdmitRequest {
	return AdmitRequest{ID: id, Class: class, User: user, Candidates: cands, Owner: owner, SlotTTL: 24 * time.Hour, Limits: l}
}

func enqueueReq(id, class, user string, l *Limits, cands ...string) EnqueueRequest {
	return EnqueueRequest{AdmitRequest: admitReq(id, class, user, l, cands...), Slug: "slug-" + id, Payload: []byte("payload of " + id), Dispatch: opts()}
}

func mustAdmit(t *testing.T, g Governance, r AdmitRequest, want Outcome) Admission {
	t.Helper()
	a, err := g.Admit(context.Background(), r)
	if err != nil {
		t.Fatalf("admit %s: %v", r.ID, err)
	}
	if a.Outcome != want {
		t.Fatalf("admit %s: %s (%+v), want %s", r.ID, a.Outcome, a, want)
	}
	return a
}

func mustEnqueue(t *testing.T, g Governance, r EnqueueRequest, want Outcome) Admission {
	t.Helper()
	a, err := g.Enqueue(context.Background(), r)
	if err != nil {
		t.Fatalf("enqueue %s: %v", r.ID, err)
	}
	if a.Outcome != want {
		t.Fatalf("enqueue %s: %s (%+v), want %s", r.ID, a.Outcome, a, want)
	}
	return a
}

func mustPoll(t *testing.T, g Governance, id string) QueuePoll {
	t.Helper()
	p, err := g.Poll(context.Background(), id, "slug-"+id, nil)
	if err != nil {
		t.Fatalf("poll %s: %v", id, err)
	}
	return p
}

func snapshot(t *testing.T, g Governance) GovernanceSnapshot {
	t.Helper()
	s, err := g.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func release(t *testing.T, g Governance, slot string, l *Limits) {
	t.Helper()
	ok, err := g.Release(context.Background(), slot, l, opts())
	if err != nil || !ok {
		t.Fatalf("release %s: %v, %v", slot, ok, err)
	}
}

func governanceContract(t *testing.T, b govBackend) {
	ctx := context.Background()
	g := b.g
	t.Run("running limits of class and user", func(t *testing.T) {
		l := &Limits{Classes: map[string]ClassLimits{"analyst": {MaxRunning: 3, UserRunning: 2}}}
		mustAdmit(t, g, admitReq("a1", "analyst", "alice", l), Admitted)
		mustAdmit(t, g, admitReq("a2", "analyst", "alice", l), Admitted)
		a := mustAdmit(t, g, admitReq("a3", "analyst", "alice", l), MustQueue)
		if a.Waiting == nil || a.Waiting.Scope != "user" || a.Waiting.Limit != 2 {
			t.Fatalf("waiting for %+v, want the user's limit of 2", a.Waiting)
		}
		mustAdmit(t, g, admitReq("b1", "analyst", "bob", l), Admitted)
		a = mustAdmit(t, g, admitReq("c1", "analyst", "carol", l), MustQueue)
		if a.Waiting.Scope != "class" || a.Waiting.Limit != 3 {
			t.Fatalf("waiting for %+v, want the class's limit of 3", a.Waiting)
		}
		// Another class, and no class, are not held back.
		mustAdmit(t, g, admitReq("e1", "etl", "alice", l), Admitted)
		mustAdmit(t, g, admitReq("n1", "", "alice", l), Admitted)
		s := snapshot(t, g)
		if s.RunningByClass["analyst"] != 3 || s.RunningByUser["analyst|alice"] != 2 || s.RunningByClass["etl"] != 1 || len(s.Slots) != 5 {
			t.Fatalf("snapshot: %+v", s)
		}
		for _, id := range []string{"a1", "a2", "b1", "e1", "n1"} {
			release(t, g, id, l)
		}
		if ok, err := g.Release(ctx, "a1", l, opts()); err != nil || ok {
			t.Fatalf("a second release: %v %v", ok, err)
		}
		if s := snapshot(t, g); len(s.Slots) != 0 || len(s.RunningByClass) != 0 || len(s.RunningByUser) != 0 {
			t.Fatalf("after releases: %+v", s)
		}
	})

	// The answer observer ties a slot to its query while the client
	// already polls: a fast query's completion can arrive first. The slot
	// is then released by Bind, not held until its lease ends.
	t.Run("a slot bound after its query ended is released", func(t *testing.T) {
		l := &Limits{Classes: map[string]ClassLimits{"analyst": {UserRunning: 1}}}
		mustAdmit(t, g, admitReq("f1", "analyst", "alice", l), Admitted)
		mustAdmit(t, g, admitReq("f2", "analyst", "alice", l), MustQueue)
		const q = "20261205_080000_00001_fastq"
		if _, err := g.Complete(ctx, Completion{QueryID: q, Class: "analyst", User: "alice"}, l, opts()); err != nil {
			t.Fatal(err)
		}
		if err := g.Bind(ctx, "f1", Binding{QueryID: q, Cluster: "a"}); err != nil {
			t.Fatalf("bind after completion: %v", err)
		}
		if s := snapshot(t, g); len(s.Slots) != 0 || s.RunningByUser["analyst|alice"] != 0 {
			t.Fatalf("after the late bind: %+v", s)
		}
		mustAdmit(t, g, admitReq("f3", "analyst", "alice", l), Admitted)
		// A query that did not end is bound as before.
		if err := g.Bind(ctx, "f3", Binding{QueryID: "20261205_080000_00002_fastq", Cluster: "a"}); err != nil {
			t.Fatal(err)
		}
		if s := snapshot(t, g); len(s.Slots) != 1 || s.Slots[0].QueryID != "20261205_080000_00002_fastq" {
			t.Fatalf("after a bind: %+v", s)
		}
		release(t, g, "f3", l)
	})

	t.Run("a throttled user runs fewer, in any class", func(t *testing.T) {
		l := &Limits{Classes: map[string]ClassLimits{"analyst": {UserRunning: 5}}, Throttled: map[string]int{"mallory": 1}}
		mustAdmit(t, g, admitReq("t1", "analyst", "mallory", l), Admitted)
		a := mustAdmit(t, g, admitReq("t2", "analyst", "mallory", l), MustQueue)
		if a.Waiting == nil || a.Waiting.Scope != "throttled" || a.Waiting.Limit != 1 {
			t.Fatalf("waiting for %+v, want the throttle's limit of 1", a.Waiting)
		}
		// A class without limits of its own is throttled too; other
		// users are not.
		mustAdmit(t, g, admitReq("t3", "calm", "mallory", l), Admitted)
		mustAdmit(t, g, admitReq("t4", "calm", "mallory", l), MustQueue)
		mustAdmit(t, g, admitReq("t5", "analyst", "alice", l), Admitted)
		mustAdmit(t, g, admitReq("t6", "analyst", "alice", l), Admitted)
		// The throttle ends: the limits without it admit again.
		free := &Limits{Classes: l.Classes}
		mustAdmit(t, g, admitReq("t7", "analyst", "mallory", free), Admitted)
		for _, id := range []string{"t1", "t3", "t5", "t6", "t7"} {
			release(t, g, id, free)
		}
	})

	t.Run("queue, claim, submit, complete", func(t *testing.T) {
		l := &Limits{Classes: map[string]ClassLimits{"q": {MaxRunning: 1}}}
		mustAdmit(t, g, admitReq("q1", "q", "alice", l), Admitted)
		mustAdmit(t, g, admitReq("q2", "q", "alice", l), MustQueue)
		a := mustEnqueue(t, g, enqueueReq("q2", "q", "alice", l), Queued)
		if a.Position != 1 || a.Waiting == nil || a.Waiting.Scope != "class" {
			t.Fatalf("queued: %+v", a)
		}
		mustEnqueue(t, g, enqueueReq("q3", "q", "bob", l), Queued)
		p := mustPoll(t, g, "q3")
		if p.Entry.State != EntryQueued || p.Position != 2 || p.ClassRunning != 1 || p.Entry.Class != "q" || p.Entry.User != "bob" {
			t.Fatalf("poll: %+v", p)
		}
		if _, err := g.Poll(ctx, "q3", "wrong", nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a wrong slug: %v", err)
		}
		// A new arrival does not jump the queue even when it could run.
		if err := g.Bind(ctx, "q1", Binding{QueryID: "20261204_100000_00001_aaaaa", Cluster: "a", Coordinator: "0"}); err != nil {
			t.Fatal(err)
		}
		c, err := g.Complete(ctx, Completion{QueryID: "20261204_100000_00001_aaaaa", CPUSeconds: 2.5, Bytes: 1000}, l, opts())
		if err != nil || !c.Released || !c.Charged || c.Class != "q" || c.User != "alice" {
			t.Fatalf("complete: %+v %v", c, err)
		}
		p = mustPoll(t, g, "q2")
		if p.Entry.State != EntryAdmitted {
			t.Fatalf("after a completion the first entry is %s, want admitted", p.Entry.State)
		}
		mustAdmit(t, g, admitReq("q4", "q", "carol", l), MustQueue)
		cl, err := g.Claim(ctx, "q2", owner, 10*time.Second, time.Minute, l)
		if err != nil || !cl.Claimed || string(cl.Payload) != "payload of q2" || cl.Entry.State != EntryClaimed || cl.Entry.Attempts != 1 {
			t.Fatalf("claim: %+v %v", cl, err)
		}
		if other, err := g.Claim(ctx, "q2", "r2", 10*time.Second, time.Minute, l); err != nil || other.Claimed {
			t.Fatalf("a second replica claimed a held entry: %+v %v", other, err)
		}
		if err := g.Submitted(ctx, "q2", "r2", Binding{QueryID: "x"}, nil, time.Minute); !errors.Is(err, ErrNotOwner) {
			t.Fatalf("submitted by another replica: %v", err)
		}
		answer := []byte(`{"id":"20261204_100000_00002_aaaaa","nextUri":"http://gw/_sy/a/0/v1/statement/queued/x/y/1"}`)
		if err := g.Submitted(ctx, "q2", owner, Binding{QueryID: "20261204_100000_00002_aaaaa", Cluster: "a", Coordinator: "0"}, answer, time.Minute); err != nil {
			t.Fatal(err)
		}
		p = mustPoll(t, g, "q2")
		if p.Entry.State != EntrySubmitted || string(p.Answer) != string(answer) || p.Entry.QueryID != "20261204_100000_00002_aaaaa" {
			t.Fatalf("poll after submission: %+v %s", p, p.Answer)
		}
		s := snapshot(t, g)
		if s.RunningByCluster["a"] != 1 || s.RunningByClass["q"] != 1 {
			t.Fatalf("the submitted entry's slot: %+v", s)
		}
		// Completion of the submitted query admits bob's entry.
		if c, err := g.Complete(ctx, Completion{QueryID: "20261204_100000_00002_aaaaa", CPUSeconds: 1}, l, opts()); err != nil || !c.Released {
			t.Fatalf("complete: %+v %v", c, err)
		}
		if p := mustPoll(t, g, "q3"); p.Entry.State != EntryAdmitted {
			t.Fatalf("bob's entry: %s", p.Entry.State)
		}
		// A repeated completion releases and charges nothing.
		if c, err := g.Complete(ctx, Completion{QueryID: "20261204_100000_00002_aaaaa", CPUSeconds: 1}, l, opts()); err != nil || c.Released || c.Charged {
			t.Fatalf("a repeated completion: %+v %v", c, err)
		}
		s = snapshot(t, g)
		if s.Usage["cpu|q"] != 3.5 || s.Usage["cpu|q|alice"] != 3.5 || s.Usage["bytes|q"] != 1000 || s.Usage["rate|q"] != 3 {
			t.Fatalf("usage: %v", s.Usage)
		}
		if _, err := g.Finish(ctx, "q3", EntryError{Name: "USER_CANCELED", Message: "canceled"}, l, opts()); err != nil {
			t.Fatal(err)
		}
		if s := snapshot(t, g); s.RunningByClass["q"] != 0 || len(s.Slots) != 0 {
			t.Fatalf("a canceled admitted entry keeps its slot: %+v", s)
		}
	})

	t.Run("fair between users, priority between classes", func(t *testing.T) {
		l := &Limits{Classes: map[string]ClassLimits{"f": {MaxRunning: 1}}}
		mustAdmit(t, g, admitReq("f0", "f", "alice", l), Admitted)
		for i := 1; i <= 10; i++ {
			mustEnqueue(t, g, enqueueReq(fmt.Sprintf("fa%02d", i), "f", "alice", l), Queued)
		}
		b.clock.Advance(time.Second)
		mustEnqueue(t, g, enqueueReq("fb", "f", "bob", l), Queued)
		// Each finish frees the class's one slot and admits the next entry.
		release(t, g, "f0", l)
		var order []string
		for range 11 {
			var running []string
			for _, sl := range snapshot(t, g).Slots {
				if sl.Class == "f" {
					running = append(running, sl.ID)
				}
			}
			if len(running) != 1 {
				t.Fatalf("running %v after %v: want exactly one", running, order)
			}
			order = append(order, running[0])
			if _, err := g.Finish(ctx, running[0], EntryError{Name: "X", Message: "done"}, l, opts()); err != nil {
				t.Fatal(err)
			}
		}
		pos := -1
		for i, id := range order {
			if id == "fb" {
				pos = i
			}
		}
		if pos < 0 || pos > 1 {
			t.Fatalf("bob's one entry ran %dth after alice's ten (order %v): it must run before alice's last 8", pos+1, order)
		}

		// Priority: when a capped cluster frees, the higher class goes first.
		pl := &Limits{Classes: map[string]ClassLimits{"low": {Priority: 10}, "high": {Priority: 90}}, Clusters: map[string]int{"p": 1}}
		mustAdmit(t, g, admitReq("p0", "low", "alice", pl, "p"), Admitted)
		mustEnqueue(t, g, enqueueReq("plow", "low", "alice", pl, "p"), Queued)
		mustEnqueue(t, g, enqueueReq("phigh", "high", "bob", pl, "p"), Queued)
		release(t, g, "p0", pl)
		if p := mustPoll(t, g, "phigh"); p.Entry.State != EntryAdmitted || p.Entry.Cluster != "p" {
			t.Fatalf("the high class's entry: %+v", p.Entry)
		}
		if p := mustPoll(t, g, "plow"); p.Entry.State != EntryQueued || p.Position != 1 || p.Clusters["p"] != 1 {
			t.Fatalf("the low class's entry: %+v", p)
		}
		for _, id := range []string{"phigh", "plow"} {
			if _, err := g.Finish(ctx, id, EntryError{Name: "X"}, pl, opts()); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("queue limits", func(t *testing.T) {
		l := &Limits{Classes: map[string]ClassLimits{"ql": {MaxRunning: 1, MaxQueued: 3, UserQueued: 2}}, MaxQueued: 100}
		mustAdmit(t, g, admitReq("l0", "ql", "alice", l), Admitted)
		mustEnqueue(t, g, enqueueReq("l1", "ql", "alice", l), Queued)
		mustEnqueue(t, g, enqueueReq("l2", "ql", "alice", l), Queued)
		a := mustEnqueue(t, g, enqueueReq("l3", "ql", "alice", l), QueueFull)
		if a.Full.Scope != "user" || a.Full.Limit != 2 {
			t.Fatalf("full: %+v", a.Full)
		}
		mustEnqueue(t, g, enqueueReq("l4", "ql", "bob", l), Queued)
		if a := mustEnqueue(t, g, enqueueReq("l5", "ql", "carol", l), QueueFull); a.Full.Scope != "class" || a.Full.Limit != 3 {
			t.Fatalf("full: %+v", a.Full)
		}
		gl := &Limits{Classes: l.Classes, MaxQueued: 3}
		if a := mustEnqueue(t, g, enqueueReq("l6", "other", "dave", gl), QueueFull); a.Full.Scope != "gateway" {
			t.Fatalf("full: %+v", a.Full)
		}
		for _, id := range []string{"l1", "l2", "l4"} {
			if _, err := g.Finish(ctx, id, EntryError{Name: "USER_CANCELED", Message: "bye"}, l, opts()); err != nil {
				t.Fatal(err)
			}
		}
		release(t, g, "l0", l)
		if s := snapshot(t, g); len(s.Slots) != 0 {
			t.Fatalf("canceled entries were admitted: %+v", s.Slots)
		}
	})

	t.Run("rates and quotas reset with their windows", func(t *testing.T) {
		l := &Limits{Classes: map[string]ClassLimits{"agent": {UserPerMinute: 2, CPUPerHour: 10, UserBytes: 5000}}}
		b.clock.Advance(time.Hour) // a fresh window
		mustAdmit(t, g, admitReq("r1", "agent", "bot", l), Admitted)
		mustAdmit(t, g, admitReq("r2", "agent", "bot", l), Admitted)
		a := mustAdmit(t, g, admitReq("r3", "agent", "bot", l), QuotaExceeded)
		now := b.clock.Now()
		if a.Quota.Kind != "rate" || a.Quota.Scope != "user" || a.Quota.Limit != 2 || !a.Quota.Resets.Equal(now.Truncate(time.Minute).Add(time.Minute)) {
			t.Fatalf("quota: %+v (now %v)", a.Quota, now)
		}
		mustAdmit(t, g, admitReq("r3", "agent", "other", l), Admitted)
		b.clock.Advance(time.Minute)
		mustAdmit(t, g, admitReq("r4", "agent", "bot", l), Admitted)
		for i, id := range []string{"r1", "r2", "r3", "r4"} {
			q := fmt.Sprintf("20261204_110000_0000%d_aaaaa", i)
			if err := g.Bind(ctx, id, Binding{QueryID: q, Cluster: "a"}); err != nil {
				t.Fatal(err)
			}
			if _, err := g.Complete(ctx, Completion{QueryID: q, CPUSeconds: 3, Bytes: 2000}, l, opts()); err != nil {
				t.Fatal(err)
			}
		}
		a = mustAdmit(t, g, admitReq("r5", "agent", "bot", l), QuotaExceeded)
		if a.Quota.Kind != "cpu" || a.Quota.Scope != "class" || a.Quota.Used != 12 || !a.Quota.Resets.Equal(now.Truncate(time.Hour).Add(time.Hour)) {
			t.Fatalf("quota: %+v", a.Quota)
		}
		if err := g.AdjustUsage(ctx, UsageAdjustment{Class: "agent", Kind: "cpu", Reset: true}); err != nil {
			t.Fatal(err)
		}
		a = mustAdmit(t, g, admitReq("r5", "agent", "bot", l), QuotaExceeded)
		if a.Quota.Kind != "bytes" || a.Quota.Scope != "user" || a.Quota.Used != 6000 {
			t.Fatalf("quota after the class's cpu reset: %+v", a.Quota)
		}
		if err := g.AdjustUsage(ctx, UsageAdjustment{Class: "agent", User: "bot", Kind: "bytes", Delta: -3000}); err != nil {
			t.Fatal(err)
		}
		mustAdmit(t, g, admitReq("r5", "agent", "bot", l), Admitted)
		release(t, g, "r5", l)
		b.clock.Advance(time.Hour)
		if s := snapshot(t, g); s.Usage["cpu|agent"] != 0 || s.Usage["bytes|agent|bot"] != 0 {
			t.Fatalf("usage of a past window: %v", s.Usage)
		}
		mustAdmit(t, g, admitReq("r6", "agent", "bot", l), Admitted)
		release(t, g, "r6", l)
		// A completion without a slot is charged to the class it names.
		if c, err := g.Complete(ctx, Completion{QueryID: "20261204_120000_00009_aaaaa", Class: "agent", User: "bot", CPUSeconds: 11}, l, opts()); err != nil || c.Released || !c.Charged {
			t.Fatalf("a completion without a slot: %+v %v", c, err)
		}
		mustAdmit(t, g, admitReq("r7", "agent", "bot", l), QuotaExceeded)
		if err := g.AdjustUsage(ctx, UsageAdjustment{Class: "agent", Reset: true}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("cluster caps", func(t *testing.T) {
		l := &Limits{Clusters: map[string]int{"a": 1, "b": 1}}
		if a := mustAdmit(t, g, admitReq("k1", "", "alice", l, "a", "b"), Admitted); a.Cluster != "a" {
			t.Fatalf("cluster %q, want a", a.Cluster)
		}
		if a := mustAdmit(t, g, admitReq("k2", "", "alice", l, "a", "b"), Admitted); a.Cluster != "b" {
			t.Fatalf("cluster %q, want b (a is full)", a.Cluster)
		}
		a := mustAdmit(t, g, admitReq("k3", "", "alice", l, "a", "b"), MustQueue)
		if a.Waiting.Scope != "cluster" || a.Waiting.Limit != 1 {
			t.Fatalf("waiting: %+v", a.Waiting)
		}
		mustEnqueue(t, g, enqueueReq("k3", "", "alice", l, "a", "b"), Queued)
		// An uncapped cluster is always free.
		mustAdmit(t, g, admitReq("k4", "", "bob", l, "c"), MustQueue) // something is queued
		if a := mustEnqueue(t, g, enqueueReq("k4", "", "bob", l, "c"), Admitted); a.Cluster != "c" {
			t.Fatalf("cluster %q, want c", a.Cluster)
		}
		// Binding to the cluster that answered moves the count.
		if err := g.Bind(ctx, "k1", Binding{QueryID: "20261204_100000_00010_aaaaa", Cluster: "b"}); err != nil {
			t.Fatal(err)
		}
		s := snapshot(t, g)
		if s.RunningByCluster["a"] != 0 || s.RunningByCluster["b"] != 2 || s.RunningByCluster["c"] != 1 {
			t.Fatalf("clusters: %v", s.RunningByCluster)
		}
		if p := mustPoll(t, g, "k3"); p.Entry.State != EntryQueued {
			t.Fatalf("k3: %+v", p.Entry)
		}
		release(t, g, "k1", l)
		release(t, g, "k2", l)
		if p := mustPoll(t, g, "k3"); p.Entry.State != EntryAdmitted || p.Entry.Cluster != "a" {
			t.Fatalf("k3: %+v", p.Entry)
		}
		if _, err := g.Finish(ctx, "k3", EntryError{Name: "X"}, l, opts()); err != nil {
			t.Fatal(err)
		}
		release(t, g, "k4", l) // admitted at once: never kept as an entry
		// Force ignores running limits and caps (an open transaction).
		mustAdmit(t, g, admitReq("k5", "", "alice", l, "a"), Admitted)
		force := admitReq("k6", "", "alice", l, "a")
		force.Force = true
		if a := mustAdmit(t, g, force, Admitted); a.Cluster != "a" {
			t.Fatalf("forced: %+v", a)
		}
		release(t, g, "k5", l)
		release(t, g, "k6", l)
	})

	t.Run("leases expire, renew and move", func(t *testing.T) {
		l := &Limits{Classes: map[string]ClassLimits{"lease": {MaxRunning: 1}}}
		short := func(r AdmitRequest) AdmitRequest { r.SlotTTL = time.Minute; return r }
		o := opts()
		o.SlotTTL = time.Minute
		mustAdmit(t, g, short(admitReq("s1", "lease", "alice", l)), Admitted)
		b.clock.Advance(40 * time.Second)
		lost, err := g.Renew(ctx, owner, []string{"s1", "nothing"}, time.Minute)
		if err != nil || len(lost) != 1 || lost[0] != "nothing" {
			t.Fatalf("renew: %v %v", lost, err)
		}
		if lost, err := g.Renew(ctx, "r2", []string{"s1"}, time.Minute); err != nil || len(lost) != 1 {
			t.Fatalf("renew by another replica: %v %v", lost, err)
		}
		b.clock.Advance(40 * time.Second)
		if r, err := g.Tick(ctx, l, o); err != nil || r.Expired != 0 {
			t.Fatalf("a renewed lease expired: %+v %v", r, err)
		}
		if err := g.Adopt(ctx, "r2", []string{"s1"}, time.Minute); err != nil {
			t.Fatal(err)
		}
		if lost, _ := g.Renew(ctx, owner, []string{"s1"}, time.Minute); len(lost) != 1 {
			t.Fatalf("the old owner still renews an adopted slot")
		}
		e2 := enqueueReq("s2", "lease", "bob", l)
		e2.Dispatch = o
		mustEnqueue(t, g, e2, Queued)
		b.clock.Advance(61 * time.Second)
		r, err := g.Tick(ctx, l, o)
		if err != nil || r.Expired != 1 || r.Admitted != 1 {
			t.Fatalf("tick: %+v %v, want one expired, one admitted", r, err)
		}
		// An admitted entry whose slot expired before anyone claimed it
		// goes back to the queue, and is admitted again at once.
		b.clock.Advance(61 * time.Second)
		if r, err := g.Tick(ctx, l, o); err != nil || r.Expired != 1 {
			t.Fatalf("tick: %+v %v, want s2's slot expired", r, err)
		}
		if s := snapshot(t, g); len(s.Slots) != 0 {
			t.Fatalf("slots: %+v", s.Slots)
		}
		cl, err := g.Claim(ctx, "s2", owner, 10*time.Second, time.Minute, l)
		if err != nil || cl.Claimed || cl.Entry.State != EntryAdmitted {
			t.Fatalf("claim of an entry whose slot expired: %+v %v, want it admitted again, not claimed", cl, err)
		}
		if cl, err = g.Claim(ctx, "s2", owner, 10*time.Second, time.Minute, l); err != nil || !cl.Claimed {
			t.Fatalf("second claim: %+v %v", cl, err)
		}
		// A claim that expires passes to another replica.
		b.clock.Advance(11 * time.Second)
		cl2, err := g.Claim(ctx, "s2", "r2", 10*time.Second, time.Minute, l)
		if err != nil || !cl2.Claimed || cl2.Entry.Attempts < 2 {
			t.Fatalf("claim after expiry: %+v %v", cl2, err)
		}
		if err := g.Requeue(ctx, "s2", owner, l, opts()); !errors.Is(err, ErrNotOwner) {
			t.Fatalf("requeue by the old claimer: %v", err)
		}
		if err := g.Requeue(ctx, "s2", "r2", l, opts()); err != nil {
			t.Fatal(err)
		}
		if p := mustPoll(t, g, "s2"); p.Entry.State != EntryAdmitted {
			t.Fatalf("a requeued entry with room: %s", p.Entry.State)
		}
		if _, err := g.Finish(ctx, "s2", EntryError{Name: "X"}, l, opts()); err != nil {
			t.Fatal(err)
		}
		if s := snapshot(t, g); len(s.Slots) != 0 || len(s.RunningByClass) != 0 {
			t.Fatalf("left over: %+v", s)
		}
	})

	t.Run("abandoned entries are dropped, finished ones forgotten", func(t *testing.T) {
		l := &Limits{Classes: map[string]ClassLimits{"ab": {MaxRunning: 1}}}
		mustAdmit(t, g, admitReq("x0", "ab", "alice", l), Admitted)
		mustEnqueue(t, g, enqueueReq("x1", "ab", "alice", l), Queued)
		mustEnqueue(t, g, enqueueReq("x2", "ab", "bob", l), Queued)
		b.clock.Advance(4 * time.Minute)
		mustPoll(t, g, "x2")
		b.clock.Advance(2 * time.Minute)
		if _, err := g.Renew(ctx, owner, []string{"x0"}, time.Hour); err != nil {
			t.Fatal(err)
		}
		r, err := g.Tick(ctx, l, opts())
		if err != nil || r.Abandoned != 1 {
			t.Fatalf("tick: %+v %v, want x1 abandoned", r, err)
		}
		p := mustPoll(t, g, "x1")
		if p.Entry.State != EntryFinished || p.Entry.Error == nil || p.Entry.Error.Name != "ABANDONED_QUERY" {
			t.Fatalf("x1: %+v", p.Entry)
		}
		if p := mustPoll(t, g, "x2"); p.Entry.State != EntryQueued || p.Position != 1 {
			t.Fatalf("x2: %+v", p)
		}
		was, err := g.Finish(ctx, "x2", EntryError{Name: "USER_CANCELED", Message: "canceled by the client"}, l, opts())
		if err != nil || was.State != EntryQueued {
			t.Fatalf("cancel: %+v %v", was, err)
		}
		if p := mustPoll(t, g, "x2"); p.Entry.Error.Name != "USER_CANCELED" || p.Entry.Error.Message != "canceled by the client" {
			t.Fatalf("x2: %+v", p.Entry)
		}
		b.clock.Advance(11 * time.Minute)
		if _, err := g.Renew(ctx, owner, []string{"x0"}, time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := g.Tick(ctx, l, opts()); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"x1", "x2"} {
			if _, err := g.Poll(ctx, id, "slug-"+id, nil); !errors.Is(err, ErrNotFound) {
				t.Fatalf("%s is still there: %v", id, err)
			}
		}
		if _, err := g.Finish(ctx, "x1", EntryError{}, l, opts()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("finish of a forgotten entry: %v", err)
		}
		release(t, g, "x0", l)
		s := snapshot(t, g)
		if len(s.Slots) != 0 || len(s.Queue) != 0 {
			t.Fatalf("left over: %+v", s)
		}
	})
}

// TestGovernanceAtomicity has many acquirers on two clients of one store
// (two replicas) race for a class of 5: never more than 5 hold a slot at
// once, and none is lost (each released slot frees its place).
func TestGovernanceAtomicity(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			stores := []Governance{b.s.Governance}
			if rg, ok := b.s.Governance.(*redisGovernance); ok {
				// A second replica: its own connections to the same keys.
				other := &redisGovernance{c: cloneClient(t, rg), keys: rg.keys, now: time.Now}
				stores = append(stores, other)
			}
			l := &Limits{Classes: map[string]ClassLimits{"race": {MaxRunning: 5, UserRunning: 3}}}
			var held, peak, admitted atomic.Int64
			var userHeld sync.Map
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			deadline := time.Now().Add(3 * time.Second)
			for w := range 24 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					g := stores[w%len(stores)]
					user := fmt.Sprintf("u%d", w%4)
					uh, _ := userHeld.LoadOrStore(user, new(atomic.Int64))
					for i := 0; time.Now().Before(deadline) && i < 400; i++ {
						id := fmt.Sprintf("w%d-%d", w, i)
						a, err := g.Admit(ctx, AdmitRequest{ID: id, Class: "race", User: user, Owner: "r", SlotTTL: time.Minute, Limits: l})
						if err != nil {
							errs <- err
							return
						}
						if a.Outcome != Admitted {
							continue
						}
						admitted.Add(1)
						n := held.Add(1)
						un := uh.(*atomic.Int64).Add(1)
						for {
							p := peak.Load()
							if n <= p || peak.CompareAndSwap(p, n) {
								break
							}
						}
						if un > 3 {
							errs <- fmt.Errorf("user %s holds %d slots, limit 3", user, un)
						}
						time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond) // hold the slot a moment (load shape, not synchronisation)
						held.Add(-1)
						uh.(*atomic.Int64).Add(-1)
						if ok, err := g.Release(ctx, id, l, DispatchOptions{Owner: "r", SlotTTL: time.Minute}); err != nil || !ok {
							errs <- fmt.Errorf("release %s: %v %v", id, ok, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if peak.Load() > 5 {
				t.Fatalf("%d slots held at once, limit 5", peak.Load())
			}
			if admitted.Load() < 50 {
				t.Fatalf("only %d admissions in 3 s: the race did not race", admitted.Load())
			}
			if s := snapshot(t, b.s.Governance); len(s.Slots) != 0 || len(s.RunningByClass) != 0 {
				t.Fatalf("left over after every release: %+v", s)
			}
			t.Logf("%d admissions, at most %d at once", admitted.Load(), peak.Load())
		})
	}
}

// cloneClient is a second client to the same Redis, as another replica
// would have.
func cloneClient(t *testing.T, rg *redisGovernance) redis.UniversalClient {
	t.Helper()
	var c redis.UniversalClient
	switch cc := rg.c.(type) {
	case *redis.Client:
		c = redis.NewClient(cc.Options())
	case *redis.ClusterClient:
		c = redis.NewClusterClient(cc.Options())
	default:
		t.Fatalf("unknown client %T", rg.c)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
