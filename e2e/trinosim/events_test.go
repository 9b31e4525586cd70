package trinosim

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/events"
)

// ingest is an event listener endpoint that parses every event the way
// the control plane does and keeps it.
type ingest struct {
	mu      sync.Mutex
	got     []*events.Event
	secrets []string
	status  int // answer (default 200)
}

func (in *ingest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ev, err := events.Parse(b)
	if err != nil {
		http.Error(w, "unparsable event: "+err.Error()+": "+string(b), http.StatusBadRequest)
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.got = append(in.got, ev)
	in.secrets = append(in.secrets, r.Header.Get(EventSecretHeader))
	if in.status != 0 {
		w.WriteHeader(in.status)
	}
}

func (in *ingest) events() []*events.Event {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.got)
}

// closeAndWait sends what the server queued and returns its stats.
func closeAndWait(t *testing.T, s *Server) EventStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return s.EventStats()
}

func TestEventsOnePerQuery(t *testing.T) {
	in := &ingest{}
	ts := httptest.NewServer(in)
	defer ts.Close()
	s := New(Options{EventsURL: ts.URL, EventSecret: "sim-secret-0123456789", EventsCreated: true,
		FailQuery: func(sql string) bool { return strings.Contains(sql, "boom") }})

	hdr := map[string]string{"X-Trino-User": "alice", "X-Trino-Source": "dash",
		"X-Trino-Client-Tags": "a, switchyard-class=analyst", "X-Trino-Catalog": "tpch", "X-Trino-Schema": "tiny"}
	done := walk(t, s, submit(t, s, hdr), 20)
	finished := done[len(done)-1]
	failed := walk(t, s, decode(t, serve(s, http.MethodPost, "/v1/statement", userHdr, "SELECT boom")), 20)
	canceled := walk1(t, s, submit(t, s, nil))
	if rec := serve(s, http.MethodDelete, pathOf(t, canceled.NextURI), nil, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("DELETE: %d", rec.Code)
	}
	serve(s, http.MethodDelete, pathOf(t, canceled.NextURI), nil, "") // a second DELETE reports nothing new

	st := closeAndWait(t, s)
	got := in.events()
	if st.Posted != int64(len(got)) || st.Failed != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v with %d events received", st, len(got))
	}
	completed := map[string]*events.Event{}
	created := map[string]int{}
	for _, ev := range got {
		if ev.Kind == events.Completed {
			if completed[ev.QueryID] != nil {
				t.Fatalf("two completion events for %s", ev.QueryID)
			}
			completed[ev.QueryID] = ev
		} else {
			created[ev.QueryID]++
		}
	}
	if len(completed) != 3 || len(created) != 3 {
		t.Fatalf("%d completed and %d created events, want 3 each: %+v", len(completed), len(created), got)
	}
	for _, sec := range in.secrets {
		if sec != "sim-secret-0123456789" {
			t.Fatalf("secret header %q", sec)
		}
	}

	ok := completed[finished.ID]
	if ok == nil || ok.State != "FINISHED" || ok.Failed() || ok.User != "alice" || ok.Source != "dash" ||
		!slices.Equal(ok.ClientTags, []string{"a", "switchyard-class=analyst"}) || ok.Catalog != "tpch" || ok.Schema != "tiny" ||
		ok.QueryType != "SELECT" || ok.PhysicalInputBytes <= 0 || ok.EndTime.Before(ok.CreateTime) {
		t.Fatalf("finished query's event %+v", ok)
	}
	if ev := completed[failed[len(failed)-1].ID]; ev == nil || ev.State != "FAILED" || ev.ErrorName != "SYNTAX_ERROR" || ev.CPUTime != 0 {
		t.Fatalf("failed query's event %+v", ev)
	}
	if ev := completed[canceled.ID]; ev == nil || ev.State != "FAILED" || ev.ErrorName != "USER_CANCELED" {
		t.Fatalf("canceled query's event %+v", ev)
	}
}

func TestEventsOfAbandonedQueries(t *testing.T) {
	in := &ingest{}
	ts := httptest.NewServer(in)
	defer ts.Close()
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := New(Options{EventsURL: ts.URL, Retention: time.Minute, Now: clock.Now})
	gone := submit(t, s, nil)
	clock.Advance(2 * time.Minute)
	if rec := serve(s, http.MethodGet, pathOf(t, gone.NextURI), nil, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("abandoned query: status %d, want 404", rec.Code)
	}
	closeAndWait(t, s)
	got := in.events()
	if len(got) != 1 || got[0].QueryID != gone.ID || got[0].Kind != events.Completed || got[0].ErrorName != "ABANDONED_QUERY" {
		t.Fatalf("events %+v, want one ABANDONED_QUERY completion of %s", got, gone.ID)
	}
}

func TestEventsFailedAndDropped(t *testing.T) {
	in := &ingest{status: http.StatusServiceUnavailable}
	ts := httptest.NewServer(in)
	defer ts.Close()
	s := New(Options{EventsURL: ts.URL})
	walk(t, s, submit(t, s, nil), 20)
	st := closeAndWait(t, s)
	if st.Failed != 1 || st.Posted != 0 {
		t.Fatalf("stats %+v, want the refused event counted as failed", st)
	}
	walk(t, s, submit(t, s, nil), 20) // after Close: dropped, never posted
	if st := s.EventStats(); st.Dropped != 1 || len(in.events()) != 1 {
		t.Fatalf("stats %+v after a query past Close, %d received", st, len(in.events()))
	}
	if st := New(Options{}).EventStats(); st != (EventStats{}) {
		t.Fatalf("a server without events counts %+v", st)
	}
}
