package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/governance"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
	"github.com/switchyard-gw/switchyard/pkg/workload"
)

// coordinator is a fake Trino coordinator: POST /v1/statement starts a
// query whose URIs carry the X-Forwarded-Prefix it received; it records
// what it got.
type coordinator struct {
	*httptest.Server
	mu      sync.Mutex
	posts   []*http.Request
	bodies  []string
	deletes []string
	// statuses answer the POSTs in turn (then 200 with a QueryResults).
	statuses []int
	// onPost runs when a POST arrives (outside the lock).
	onPost func()
}

func newCoordinator(t *testing.T) *coordinator {
	c := &coordinator{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && c.onPost != nil {
			c.onPost()
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/statement":
			b, _ := io.ReadAll(r.Body)
			c.posts = append(c.posts, r.Clone(context.Background()))
			c.bodies = append(c.bodies, string(b))
			if len(c.statuses) > 0 {
				st := c.statuses[0]
				c.statuses = c.statuses[1:]
				if st != http.StatusOK {
					w.WriteHeader(st)
					fmt.Fprint(w, "busy")
					return
				}
			}
			scheme := r.Header.Get("X-Forwarded-Proto")
			if scheme == "" {
				scheme = "http"
			}
			base := scheme + "://" + r.Host + r.Header.Get("X-Forwarded-Prefix")
			id := fmt.Sprintf("20260101_000000_%05d_abcde", len(c.posts))
			w.Header().Set("X-Trino-Set-Session", "echo=1")
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":%q,"infoUri":%q,"nextUri":%q,"stats":{"state":"QUEUED"}}`, id, base+"/ui/query.html?"+id, base+"/v1/statement/queued/"+id+"/y/1")
		case r.Method == http.MethodDelete:
			c.deletes = append(c.deletes, r.URL.Path)
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *coordinator) seen() ([]*http.Request, []string, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*http.Request(nil), c.posts...), append([]string(nil), c.bodies...), append([]string(nil), c.deletes...)
}

type healthy struct{}

func (healthy) State(string) health.State { return health.Healthy }
func (healthy) Status(string) (health.Status, bool) {
	return health.Status{State: health.Healthy}, true
}

// recorder is the pipeline's side of a submission.
type recorder struct {
	mu    sync.Mutex
	calls []recorded
}

type recorded struct {
	ticket *admission.Ticket
	group  string
	body   string
}

func (r *recorder) QueuedSubmitted(_ context.Context, t *admission.Ticket, group string, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, recorded{t, group, string(body)})
}

func (r *recorder) recorded() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.calls...)
}

type rig struct {
	t     *testing.T
	h     *Handler
	st    store.Governance
	gov   *workload.Governor
	coord *coordinator
	rec   *recorder
}

const (
	queryID = "sy_20260101_000000_0123456789ab"
	slug    = "0123456789abcdef"
	blocker = "sy_20260101_000000_blocker"
)

// newRig: class etl runs one query per user; cluster a (group adhoc) is
// the fake coordinator.
func newRig(t *testing.T, with ...func(*Options)) *rig {
	t.Helper()
	cfg, err := governance.ParseJSON([]byte(`{"classes": {"etl": {"perUser": {"maxRunning": 1}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	c := newCoordinator(t)
	f := &fleet.Fleet{
		DefaultGroup: "adhoc", Groups: []fleet.Group{{Name: "adhoc"}},
		Clusters: []fleet.Cluster{{Name: "a", Group: "adhoc", State: fleet.Active,
			Coordinators: []fleet.Coordinator{{Name: "0", URL: c.URL, Scheme: "http", Host: "127.0.0.1"}}}},
	}
	st := store.NewMemory().Governance
	gov := workload.New(workload.Options{Store: st, Policy: func() *governance.Config { return cfg }, Owner: "replica-q"})
	rec := &recorder{}
	o := Options{Governor: gov, Router: routing.New(f, healthy{}), Recorder: rec, Wait: 150 * time.Millisecond, Every: 5 * time.Millisecond, MaxAttempts: 2}
	for _, w := range with {
		w(&o)
	}
	return &rig{t: t, h: New(o), st: st, gov: gov, coord: c, rec: rec}
}

var ticketHeaders = []store.Header{
	{Name: "x-trino-user", Value: "alice"}, {Name: "x-trino-source", Value: "airflow"}, {Name: "x-trino-catalog", Value: "tpch"},
	{Name: "x-trino-client-tags", Value: "nightly,switchyard-class=etl"}, {Name: "x-trino-session", Value: "query_max_run_time=1h"},
}

// enqueue queues queryID behind a running query of alice's (the blocker).
func (r *rig) enqueue() {
	r.t.Helper()
	ctx := context.Background()
	if a, err := r.gov.Admit(ctx, store.AdmitRequest{ID: blocker, Class: "etl", User: "alice"}); err != nil || a.Outcome != store.Admitted {
		r.t.Fatalf("blocker: %+v, %v", a, err)
	}
	tk := &admission.Ticket{ID: queryID, SQL: "SELECT 42", Headers: ticketHeaders, Route: routing.Request{User: "alice"},
		Scheme: "http", Authority: "gw:8080", ForwardedFor: "10.1.2.3", User: "alice", Class: "etl", Enqueued: time.Now()}
	payload, err := tk.Encode()
	if err != nil {
		r.t.Fatal(err)
	}
	a, err := r.gov.Enqueue(ctx, store.EnqueueRequest{AdmitRequest: store.AdmitRequest{ID: queryID, Class: "etl", User: "alice"}, Slug: slug, Payload: payload})
	if err != nil || a.Outcome != store.Queued {
		r.t.Fatalf("enqueue: %+v, %v; want it queued", a, err)
	}
}

// unblock ends the blocking query: the entry is admitted.
func (r *rig) unblock() {
	r.t.Helper()
	if err := r.gov.Release(context.Background(), blocker); err != nil {
		r.t.Fatal(err)
	}
}

// do sends a request as Envoy passes it on: the gateway's address in
// Host, the client's scheme in X-Forwarded-Proto.
func (r *rig) do(method, target string) *httptest.ResponseRecorder {
	r.t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.Host = "gateway.example:8443"
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("User-Agent", "trino-cli/476")
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	return w
}

func (r *rig) poll(token int64, query ...string) *httptest.ResponseRecorder {
	r.t.Helper()
	target := trino.QueueURI("", queryID, slug, token)
	if len(query) > 0 {
		target += "?" + query[0]
	}
	return r.do(http.MethodGet, target)
}

// results is the part of a QueryResults the tests read.
type results struct {
	ID      string `json:"id"`
	InfoURI string `json:"infoUri"`
	NextURI string `json:"nextUri"`
	Stats   struct {
		State         string `json:"state"`
		QueuePosition int    `json:"queuePosition"`
		QueueReason   string `json:"queueReason"`
	} `json:"stats"`
	Error *struct {
		Message   string `json:"message"`
		ErrorName string `json:"errorName"`
	} `json:"error"`
	Warnings []any `json:"warnings"`
}

func decode(t *testing.T, w *httptest.ResponseRecorder) results {
	t.Helper()
	var r results
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatalf("answer %d %q: %v", w.Code, w.Body, err)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q, want application/json", ct)
	}
	return r
}

// failedWith checks a FAILED QueryResults with HTTP 200.
func failedWith(t *testing.T, w *httptest.ResponseRecorder, name string) results {
	t.Helper()
	r := decode(t, w)
	if w.Code != http.StatusOK || r.Stats.State != "FAILED" || r.Error == nil || r.Error.ErrorName != name {
		t.Fatalf("answer %d %s; want 200 and a FAILED QueryResults with %s", w.Code, w.Body, name)
	}
	return r
}

func TestQueuePollHoldsAQueuedQuery(t *testing.T) {
	r := newRig(t)
	r.enqueue()
	start := time.Now()
	w := r.poll(1)
	held := time.Since(start)
	if held < 150*time.Millisecond || held > time.Second {
		t.Errorf("poll held %v, want about the 150ms wait", held)
	}
	res := decode(t, w)
	if w.Code != http.StatusOK || res.ID != queryID || res.Stats.State != "QUEUED" {
		t.Fatalf("answer %d %s; want 200 QUEUED for %s", w.Code, w.Body, queryID)
	}
	if want := "https://gateway.example:8443" + trino.QueuePrefix + "/v1/statement/queued/" + queryID + "/" + slug + "/2"; res.NextURI != want {
		t.Errorf("nextUri %q, want %q (the next token, at the address the client used)", res.NextURI, want)
	}
	if res.InfoURI != "https://gateway.example:8443/ui/" {
		t.Errorf("infoUri %q", res.InfoURI)
	}
	want := "queued by the gateway at position 1 in workload class etl: user alice has 1 running queries, the most the class allows per user"
	if res.Stats.QueueReason != want || res.Stats.QueuePosition != 1 || len(res.Warnings) != 0 {
		t.Errorf("stats %+v, warnings %v; want position 1, reason %q and no warning (the CLI expects warnings only to grow)", res.Stats, res.Warnings, want)
	}
	if posts, _, _ := r.coord.seen(); len(posts) != 0 {
		t.Errorf("a queued query was submitted %d times", len(posts))
	}
}

func TestQueuePollSubmitsOnceAdmitted(t *testing.T) {
	r := newRig(t)
	r.enqueue()
	r.unblock()
	w := r.poll(1)
	posts, bodies, _ := r.coord.seen()
	if len(posts) != 1 {
		t.Fatalf("%d submissions to the coordinator, want 1 (answer %d %s)", len(posts), w.Code, w.Body)
	}
	got := posts[0]
	if bodies[0] != "SELECT 42" {
		t.Errorf("coordinator got SQL %q, want SELECT 42", bodies[0])
	}
	for _, h := range ticketHeaders {
		if v := got.Header.Values(h.Name); len(v) != 1 || v[0] != h.Value {
			t.Errorf("coordinator got %s %q, want %q", h.Name, v, h.Value)
		}
	}
	for name, want := range map[string]string{
		"X-Forwarded-Proto": "https", "X-Forwarded-Prefix": "/_sy/a/0", "X-Forwarded-For": "10.1.2.3", "User-Agent": "trino-cli/476",
	} {
		if v := got.Header.Get(name); v != want {
			t.Errorf("coordinator got %s %q, want %q", name, v, want)
		}
	}
	if got.Host != "gateway.example:8443" {
		t.Errorf("coordinator got Host %q, want the poll's gateway.example:8443", got.Host)
	}
	newID := "20260101_000000_00001_abcde"
	wantBody := fmt.Sprintf(`{"id":%q,"infoUri":%q,"nextUri":%q,"stats":{"state":"QUEUED"}}`, newID,
		"https://gateway.example:8443/_sy/a/0/ui/query.html?"+newID, "https://gateway.example:8443/_sy/a/0/v1/statement/queued/"+newID+"/y/1")
	if w.Code != http.StatusOK || w.Body.String() != wantBody {
		t.Fatalf("answer %d %s,\nwant the coordinator's %s", w.Code, w.Body, wantBody)
	}
	if v := w.Header().Get("X-Trino-Set-Session"); v != "echo=1" {
		t.Errorf("the coordinator's X-Trino-Set-Session reached the client as %q, want echo=1", v)
	}

	// A repeated poll (the client's retry) reads the same answer.
	again := r.poll(1)
	if again.Code != http.StatusOK || again.Body.String() != wantBody {
		t.Errorf("repeated poll: %d %s; want the same answer", again.Code, again.Body)
	}
	if posts, _, _ := r.coord.seen(); len(posts) != 1 {
		t.Errorf("%d submissions after a repeated poll, want 1", len(posts))
	}

	calls := r.rec.recorded()
	if len(calls) != 1 || calls[0].ticket.ID != queryID || calls[0].ticket.SQL != "SELECT 42" || calls[0].group != "adhoc" || calls[0].body != wantBody {
		t.Fatalf("recorder calls %+v; want one for %s in group adhoc with the coordinator's answer", calls, queryID)
	}
	snap, err := r.gov.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Slots) != 1 || snap.Slots[0].ID != queryID || snap.Slots[0].QueryID != newID || snap.Slots[0].Cluster != "a" || snap.Slots[0].Coordinator != "0" || snap.Slots[0].Owner != "replica-q" {
		t.Errorf("slots %+v; want the entry's slot bound to %s on a/0, held by replica-q", snap.Slots, newID)
	}
	if len(snap.Queue) != 1 || snap.Queue[0].State != store.EntrySubmitted || snap.Queue[0].QueryID != newID {
		t.Errorf("queue %+v; want the entry submitted as %s", snap.Queue, newID)
	}
	if n := testutil.ToFloat64(r.gov.Metrics().Admitted.WithLabelValues("etl", "queued")); n != 1 {
		t.Errorf("admitted{etl,queued} %v, want 1", n)
	}
}

func TestQueuePollOfAnUnknownQuery(t *testing.T) {
	r := newRig(t)
	r.enqueue()
	for name, target := range map[string]string{
		"wrong slug": trino.QueueURI("", queryID, "ffffffffffffffff", 1),
		"unknown ID": trino.QueueURI("", "sy_20260101_000000_ffffffffffff", slug, 1),
	} {
		res := failedWith(t, r.do(http.MethodGet, target), "QUERY_NOT_FOUND")
		if !strings.Contains(res.Error.Message, "does not know query") {
			t.Errorf("%s: message %q", name, res.Error.Message)
		}
	}
}

func TestQueueDeleteCancelsAQueuedQuery(t *testing.T) {
	r := newRig(t)
	r.enqueue()
	if w := r.do(http.MethodDelete, trino.QueueURI("", queryID, slug, 1)); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s, want 204", w.Code, w.Body)
	}
	res := failedWith(t, r.poll(2), "USER_CANCELED")
	if !strings.Contains(res.Error.Message, "canceled while it waited") {
		t.Errorf("message %q", res.Error.Message)
	}
	if n := testutil.ToFloat64(r.gov.Metrics().Ended.WithLabelValues("etl", "USER_CANCELED")); n != 1 {
		t.Errorf("ended{etl,USER_CANCELED} %v, want 1", n)
	}
	// Ended: the blocker's end admits nothing, nothing is submitted.
	r.unblock()
	failedWith(t, r.poll(3), "USER_CANCELED")
	if posts, _, _ := r.coord.seen(); len(posts) != 0 {
		t.Errorf("a canceled query was submitted")
	}
	if w := r.do(http.MethodDelete, trino.QueueURI("", "sy_20260101_000000_ffffffffffff", slug, 1)); w.Code != http.StatusNotFound {
		t.Errorf("DELETE of an unknown query: %d %s, want 404", w.Code, w.Body)
	}
}

// An admitted entry's slot is freed by a DELETE before it is submitted.
func TestQueueDeleteReleasesAnAdmittedEntry(t *testing.T) {
	r := newRig(t)
	r.enqueue()
	r.unblock()
	if w := r.do(http.MethodDelete, trino.QueueURI("", queryID, slug, 1)); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s, want 204", w.Code, w.Body)
	}
	snap, err := r.gov.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Slots) != 0 {
		t.Fatalf("slots %+v; want the admitted entry's slot released", snap.Slots)
	}
}

// A DELETE that comes after the submission (the client did not see the
// answer) cancels the query on the coordinator that runs it.
func TestQueueDeleteAfterSubmissionCancelsTheQuery(t *testing.T) {
	r := newRig(t)
	r.enqueue()
	r.unblock()
	if w := r.poll(1); w.Code != http.StatusOK {
		t.Fatalf("poll: %d %s", w.Code, w.Body)
	}
	if w := r.do(http.MethodDelete, trino.QueueURI("", queryID, slug, 1)); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s, want 204", w.Code, w.Body)
	}
	_, _, deletes := r.coord.seen()
	if want := "/v1/statement/queued/20260101_000000_00001_abcde/y/1"; len(deletes) != 1 || deletes[0] != want {
		t.Fatalf("coordinator got DELETEs %q, want one of %s", deletes, want)
	}
}

func TestQueueSubmissionFailures(t *testing.T) {
	t.Run("back in the queue, then submitted", func(t *testing.T) {
		r := newRig(t)
		r.coord.statuses = []int{http.StatusServiceUnavailable}
		r.enqueue()
		r.unblock()
		w := r.poll(1)
		res := decode(t, w)
		posts, _, _ := r.coord.seen()
		if len(posts) != 2 || res.ID != "20260101_000000_00002_abcde" {
			t.Fatalf("%d submissions, answer %s; want the second submission's answer", len(posts), w.Body)
		}
		snap, _ := r.gov.Snapshot(context.Background())
		if len(snap.Queue) != 1 || snap.Queue[0].Attempts != 2 || snap.Queue[0].State != store.EntrySubmitted {
			t.Fatalf("queue %+v; want the entry submitted at its second attempt", snap.Queue)
		}
	})
	t.Run("fails after the last attempt", func(t *testing.T) {
		r := newRig(t)
		r.coord.statuses = []int{http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusServiceUnavailable}
		r.enqueue()
		r.unblock()
		res := failedWith(t, r.poll(1), "NO_CLUSTER_AVAILABLE")
		if want := "the queued query could not be submitted after 2 attempts: cluster a answered HTTP 503: busy"; res.Error.Message != want {
			t.Errorf("message %q, want %q", res.Error.Message, want)
		}
		if posts, _, _ := r.coord.seen(); len(posts) != 2 {
			t.Errorf("%d submissions, want MaxAttempts (2)", len(posts))
		}
		snap, _ := r.gov.Snapshot(context.Background())
		if len(snap.Slots) != 0 {
			t.Errorf("slots %+v; want the failed entry's slot released", snap.Slots)
		}
		// Its client reads the same error again.
		failedWith(t, r.poll(2), "NO_CLUSTER_AVAILABLE")
	})
}

func TestQueueMaxWaitShortensTheHold(t *testing.T) {
	r := newRig(t, func(o *Options) { o.Wait = 5 * time.Second })
	r.enqueue()
	start := time.Now()
	w := r.poll(1, "maxWait=100ms")
	held := time.Since(start)
	if res := decode(t, w); res.Stats.State != "QUEUED" {
		t.Fatalf("answer %s; want QUEUED", w.Body)
	}
	if held < 100*time.Millisecond || held > 2*time.Second {
		t.Fatalf("poll held %v; want about maxWait (100ms), not the 5s wait", held)
	}
}

func TestQueueBadRequests(t *testing.T) {
	r := newRig(t)
	valid := trino.QueueURI("", queryID, slug, 1)
	for _, path := range []string{
		"/v1/statement",
		trino.QueuePrefix + "/v1/statement/queued/" + queryID + "/" + slug,
		valid + "/extra",
		trino.QueuePrefix + "/v1/statement/queued/" + url.PathEscape("BAD!") + "/" + slug + "/1",
		trino.QueuePrefix + "/v1/statement/queued/" + queryID + "/" + slug + "/-1",
		trino.QueuePrefix + "/v1/statement/queued/" + queryID + "/" + slug + "/01",
		trino.QueuePrefix + "/v1/statement/queued/" + queryID + "/SLUG/1",
	} {
		w := r.do(http.MethodGet, path)
		var doc struct {
			Error struct {
				ErrorName string `json:"errorName"`
			} `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || w.Code != http.StatusNotFound || doc.Error.ErrorName != "NO_ROUTE" {
			t.Errorf("GET %s: %d %s; want 404 with a NO_ROUTE JSON document", path, w.Code, w.Body)
		}
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodHead} {
		w := r.do(method, valid)
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, DELETE" {
			t.Errorf("%s: %d, Allow %q; want 405 with Allow: GET, DELETE", method, w.Code, w.Header().Get("Allow"))
		}
		if method != http.MethodHead && !bytes.Contains(w.Body.Bytes(), []byte("BAD_REQUEST")) {
			t.Errorf("%s: body %s; want a BAD_REQUEST document", method, w.Body)
		}
	}
}

// An entry whose replica died while submitting it (its claim ran out) is
// taken over by a poll.
func TestQueueTakesOverAnExpiredClaim(t *testing.T) {
	r := newRig(t)
	r.enqueue()
	r.unblock()
	dead := workload.New(workload.Options{Store: r.st, Owner: "replica-dead", ClaimTimeout: time.Millisecond})
	if c, err := dead.Claim(context.Background(), queryID); err != nil || !c.Claimed {
		t.Fatalf("claim by the replica that dies: %+v, %v", c, err)
	}
	// The poll is held until the claim has run out, then submits.
	w := r.poll(1)
	if res := decode(t, w); res.ID != "20260101_000000_00001_abcde" {
		t.Fatalf("answer %s; want the coordinator's, after taking the entry over", w.Body)
	}
	snap, err := r.gov.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Queue) != 1 || snap.Queue[0].Owner != "replica-q" || snap.Queue[0].Attempts != 2 || len(snap.Slots) != 1 || snap.Slots[0].Owner != "replica-q" {
		t.Fatalf("queue %+v, slots %+v; want the entry and its slot held by replica-q after its second claim", snap.Queue, snap.Slots)
	}
}

// An entry canceled while it is being submitted must not run: the new
// query is canceled on its coordinator and the client reads the
// cancellation.
func TestQueueCanceledDuringTheSubmission(t *testing.T) {
	r := newRig(t)
	r.enqueue()
	r.unblock()
	r.coord.onPost = func() {
		if _, err := r.gov.Finish(context.Background(), queryID, store.EntryError{Name: "USER_CANCELED", Message: "canceled while it was submitted"}); err != nil {
			t.Errorf("finish: %v", err)
		}
	}
	res := failedWith(t, r.poll(1), "USER_CANCELED")
	if res.Error.Message != "canceled while it was submitted" {
		t.Errorf("message %q", res.Error.Message)
	}
	_, _, deletes := r.coord.seen()
	if want := "/v1/statement/queued/20260101_000000_00001_abcde/y/1"; len(deletes) != 1 || deletes[0] != want {
		t.Fatalf("coordinator got DELETEs %q, want the new query's %s", deletes, want)
	}
	if calls := r.rec.recorded(); len(calls) != 0 {
		t.Errorf("a canceled submission was recorded: %+v", calls)
	}
}
