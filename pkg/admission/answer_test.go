package admission

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// viaTicket is f as the observer reads it back from Envoy's header.
func viaTicket(t *testing.T, f FollowUp) FollowUp {
	t.Helper()
	ticket, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeFollowUp(ticket)
	if err != nil {
		t.Fatalf("decoding %q: %v", ticket, err)
	}
	return got
}

func TestFollowUpTicketRoundTrip(t *testing.T) {
	f := FollowUp{ID: "sy_20261205_000000_00aa", Group: "adhoc", Cluster: "a", User: "alice", Slot: "sy_20261205_000000_00aa", Type: "SELECT",
		Session: &TicketSession{ID: "s1", Source: "header", Pins: map[string]string{"adhoc": "a", "etl": "b"}, Found: 1, Group: "adhoc", Left: "b"}}
	if got := viaTicket(t, f); !reflect.DeepEqual(got, f) {
		t.Fatalf("round trip %+v, want %+v", got, f)
	}
}

func TestDecodeFollowUpRefuses(t *testing.T) {
	for name, ticket := range map[string]string{
		"empty":       "",
		"not base64":  "{{{",
		"not JSON":    "bm90IGpzb24",
		"no ID":       mustTicket(t, FollowUp{Group: "adhoc"}),
		"no group":    mustTicket(t, FollowUp{ID: "x"}),
		"over limit":  strings.Repeat("A", maxTicketBytes+1),
		"JSON array":  "WzFd",
		"wrong types": "eyJpZCI6MX0",
	} {
		if f, err := DecodeFollowUp(ticket); err == nil {
			t.Errorf("%s: decoded %+v, want an error", name, f)
		}
	}
}

func mustTicket(t *testing.T, f FollowUp) string {
	t.Helper()
	s, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A submission decided by one replica and observed by another: the owner
// is recorded with the verified user from the ticket; the decision log
// entry, in the deciding replica's memory, is linked to the query only
// when the deciding replica observes the answer itself.
func TestObservedByEitherReplica(t *testing.T) {
	ctx := context.Background()
	q := store.NewMemory().Queries
	a, _ := newPipeline(t, q)
	b, _ := newPipeline(t, q)
	decide := func() FollowUp {
		s := &Submission{Req: submission("SELECT 1", "x-trino-user", "alice")}
		if o := a.Submit(ctx, s); o.Action != Route {
			t.Fatalf("outcome %+v", o)
		}
		f, ok := a.FollowUp(s)
		if !ok || f.User != "alice" || f.Group != "adhoc" {
			t.Fatalf("follow-up %+v, %v", f, ok)
		}
		return viaTicket(t, f)
	}
	// The observer's request carries the client's user header, which is
	// not what counts: the ticket's verified user is.
	b.Observed(ctx, decide(), submission("SELECT 1", "x-trino-user", "mallory"), answer("q_1"))
	if r, err := q.GetQuery(ctx, "q_1"); err != nil || r != (store.QueryRoute{Cluster: "a", Coordinator: "0", User: "alice"}) {
		t.Fatalf("recorded %+v, %v", r, err)
	}
	if e := a.o.Decisions.Recent(1)[0]; e.QueryID != "" {
		t.Errorf("deciding replica's entry linked to %q by another replica", e.QueryID)
	}
	a.Observed(ctx, decide(), submission("SELECT 1"), answer("q_2"))
	if e := a.o.Decisions.Recent(1)[0]; e.QueryID != "q_2" {
		t.Errorf("entry linked to %q, want q_2", e.QueryID)
	}
	if _, err := q.GetQuery(ctx, "q_2"); err != nil {
		t.Fatal(err)
	}
}

// A request about a query created moments ago waits for the owner record
// the observer is writing; an unknown query created long ago does not.
func TestLocateWaitsForAJustCreatedQuery(t *testing.T) {
	ctx := context.Background()
	q := &countingQueries{Queries: store.NewMemory().Queries}
	p, m := newPipeline(t, q, func(o *Options) { o.OwnerWait = 2 * time.Second })
	now := time.Now().UTC()
	fresh := now.Format("20060102_150405") + "_00001_abcde"
	done := make(chan error, 1)
	go func() {
		// The record lands once the lookup has missed at least once.
		deadline := time.Now().Add(5 * time.Second)
		for q.gets.Load() < 2 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		done <- q.PutQuery(ctx, fresh, store.QueryRoute{Cluster: "a", Coordinator: "0"}, time.Hour)
	}()
	if o := p.Locate(ctx, &Request{Method: "GET", Path: "/v1/query/" + fresh}); o.Action != Route || o.Target != "a/0" {
		t.Fatalf("just created: %+v (%+v), want routed to a/0", o, o.Error)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(m.OwnerWaits.WithLabelValues("found")); n != 1 {
		t.Fatalf("found after waiting %v times, want 1", n)
	}
	old := now.Add(-time.Hour).Format("20060102_150405") + "_00002_abcde"
	before := q.gets.Load()
	if o := p.Locate(ctx, &Request{Method: "GET", Path: "/v1/query/" + old}); o.Action != Reject || o.Error.Code.Name != "QUERY_NOT_FOUND" {
		t.Fatalf("old unknown query: %+v", o)
	}
	if n := q.gets.Load() - before; n != 1 {
		t.Fatalf("an old unknown query was looked up %d times, want once (no wait)", n)
	}
	p2, m2 := newPipeline(t, q, func(o *Options) { o.OwnerWait = 30 * time.Millisecond })
	never := now.Format("20060102_150405") + "_00003_abcde"
	if o := p2.Locate(ctx, &Request{Method: "GET", Path: "/v1/query/" + never}); o.Action != Reject || o.Error.Code.Name != "QUERY_NOT_FOUND" {
		t.Fatalf("never recorded: %+v", o)
	}
	if n := testutil.ToFloat64(m2.OwnerWaits.WithLabelValues("timeout")); n != 1 {
		t.Fatalf("timeouts %v, want 1", n)
	}
}

type countingQueries struct {
	store.Queries
	gets atomic.Int64
}

func (c *countingQueries) GetQuery(ctx context.Context, id string) (store.QueryRoute, error) {
	c.gets.Add(1)
	return c.Queries.GetQuery(ctx, id)
}

// Unanswered frees the slot of a submission whose answer never came and
// forgets its pending decision log entry.
func TestUnansweredForgetsTheEntry(t *testing.T) {
	ctx := context.Background()
	p, m := newPipeline(t, store.NewMemory().Queries)
	s := &Submission{Req: submission("SELECT 1", "x-trino-user", "alice")}
	if o := p.Submit(ctx, s); o.Action != Route {
		t.Fatalf("outcome %+v", o)
	}
	f, _ := p.FollowUp(s)
	p.Unanswered(ctx, viaTicket(t, f), &Request{})
	if e := p.entries.take(f.ID); e != nil {
		t.Fatalf("entry %+v still pending", e)
	}
	if n := testutil.ToFloat64(m.Answers.WithLabelValues("unanswered")); n != 1 {
		t.Fatalf("unanswered %v, want 1", n)
	}
}

// The pending entries stay bounded: old ones are swept.
func TestPendingEntriesAreSwept(t *testing.T) {
	var pe pendingEntries
	pe.put("old", &policy.LogEntry{})
	pe.byID["old"] = pendingEntry{e: pe.byID["old"].e, added: time.Now().Add(-2 * entryKeep)}
	pe.swept = time.Time{}
	pe.put("new", &policy.LogEntry{})
	if pe.take("old") != nil || pe.take("new") == nil {
		t.Fatalf("pending %v", pe.byID)
	}
}

func FuzzDecodeFollowUp(f *testing.F) {
	f.Add(mustTicketF(FollowUp{ID: "x", Group: "g", Session: &TicketSession{ID: "s", Pins: map[string]string{"g": "a"}}}))
	f.Add("")
	f.Add("e30")
	f.Fuzz(func(t *testing.T, ticket string) {
		fu, err := DecodeFollowUp(ticket)
		if err != nil {
			if !reflect.DeepEqual(fu, FollowUp{}) {
				t.Fatalf("error %v with a follow-up %+v", err, fu)
			}
			return
		}
		if fu.ID == "" || fu.Group == "" {
			t.Fatalf("decoded %+v without ID or group", fu)
		}
		again, err := DecodeFollowUp(mustTicketF(fu))
		if err != nil || !reflect.DeepEqual(again, fu) {
			t.Fatalf("re-encoded %+v decodes to %+v, %v", fu, again, err)
		}
	})
}

func mustTicketF(f FollowUp) string {
	s, _ := f.Encode()
	return s
}

// A ticket that names a running slot, observed by a replica without
// workload governance (configured otherwise, or a forged ticket): the
// owner is recorded and the slot left to its lease, answered or not.
// (FuzzObserverStream found the replica dereferencing its missing
// governor.)
func TestTicketSlotWithoutGovernance(t *testing.T) {
	ctx := context.Background()
	q := store.NewMemory().Queries
	p, _ := newPipeline(t, q)
	f := FollowUp{ID: "sy_1", Group: "adhoc", Cluster: "a", User: "alice", Slot: "a"}
	p.Observed(ctx, f, submission("SELECT 1"), answer("q_1"))
	if r, err := q.GetQuery(ctx, "q_1"); err != nil || r.User != "alice" {
		t.Fatalf("recorded %+v, %v", r, err)
	}
	p.Unanswered(ctx, f, submission("SELECT 1"))
}

// blockedQueries holds every owner record until release is closed, and
// counts the records that started.
type blockedQueries struct {
	store.Queries
	started chan string
	release chan struct{}
}

func (b *blockedQueries) PutQuery(ctx context.Context, id string, r store.QueryRoute, ttl time.Duration) error {
	b.started <- id
	<-b.release
	return b.Queries.PutQuery(ctx, id, r, ttl)
}

// The observer's follow-ups run in the background: ObservedLater returns
// while the owner record is still being written (the observer's stream
// closes at once), at most maxFollowUps run at once, and the next waits
// for one of them to end (backpressure on the observer, not a refusal).
func TestObservedLaterRunsBoundedInTheBackground(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory().Queries
	q := &blockedQueries{Queries: mem, started: make(chan string, maxFollowUps+1), release: make(chan struct{})}
	p, m := newPipeline(t, q)
	f := FollowUp{ID: "sy_1", Group: "adhoc", Cluster: "a", User: "alice"}
	for i := range maxFollowUps {
		p.ObservedLater(ctx, f, submission("SELECT 1"), answer(fmt.Sprintf("q_%d", i)))
	}
	for range maxFollowUps {
		select {
		case <-q.started:
		case <-time.After(10 * time.Second):
			t.Fatal("a follow-up did not start")
		}
	}
	next := make(chan struct{})
	go func() {
		p.ObservedLater(ctx, f, submission("SELECT 1"), answer("q_last"))
		close(next)
	}()
	select {
	case <-next:
		t.Fatalf("a follow-up started past the bound of %d", maxFollowUps)
	case <-q.started:
		t.Fatalf("a follow-up wrote past the bound of %d", maxFollowUps)
	case <-time.After(100 * time.Millisecond): // it waits, as it should
	}
	if n := testutil.ToFloat64(m.FollowUps); n != maxFollowUps {
		t.Errorf("switchyard_followups_running %v, want %d", n, maxFollowUps)
	}
	close(q.release)
	select {
	case <-next:
	case <-time.After(10 * time.Second):
		t.Fatal("the follow-up past the bound never started")
	}
	p.Wait()
	if n := testutil.ToFloat64(m.FollowUps); n != 0 {
		t.Errorf("switchyard_followups_running %v once all ended", n)
	}
	for _, id := range []string{"q_0", fmt.Sprintf("q_%d", maxFollowUps-1), "q_last"} {
		if r, err := mem.GetQuery(ctx, id); err != nil || r.Cluster != "a" {
			t.Errorf("%s recorded %+v, %v", id, r, err)
		}
	}
}
