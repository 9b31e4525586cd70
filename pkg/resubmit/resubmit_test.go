package resubmit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// coordinator is a fake Trino coordinator: POST /v1/statement starts a
// query whose URIs carry the forwarded prefix; polls answer with status.
type coordinator struct {
	*httptest.Server
	mu          sync.Mutex
	submissions []*http.Request
	sql         []string
	pollStatus  int // answer to polls (0: 200 with a QueryResults)
	n           int
}

func newCoordinator(t *testing.T, name string) *coordinator {
	c := &coordinator{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		scheme := r.Header.Get("X-Forwarded-Proto")
		if scheme == "" {
			scheme = "http"
		}
		base := scheme + "://" + r.Host + r.Header.Get("X-Forwarded-Prefix")
		if r.Method == http.MethodPost && r.URL.Path == "/v1/statement" {
			b, _ := io.ReadAll(r.Body)
			c.submissions = append(c.submissions, r.Clone(context.Background()))
			c.sql = append(c.sql, string(b))
			c.n++
			id := fmt.Sprintf("%s_%d", name, c.n)
			w.Header().Set("X-Trino-Set-Session", "echo=1")
			fmt.Fprintf(w, `{"id":%q,"infoUri":%q,"nextUri":%q,"stats":{"state":"QUEUED"}}`, id, base+"/ui/query.html?"+id, base+"/v1/statement/queued/"+id+"/y/1")
			return
		}
		if c.pollStatus != 0 {
			w.WriteHeader(c.pollStatus)
			return
		}
		fmt.Fprintf(w, `{"id":"live","stats":{"state":"RUNNING"},"from":%q}`, name)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *coordinator) submitted() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.submissions)
}

// deadURL is a coordinator address nothing listens on.
func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

type healthMap map[string]health.State

func (h healthMap) State(k string) health.State { return h[k] }
func (h healthMap) Status(k string) (health.Status, bool) {
	return health.Status{State: h[k]}, true
}

func coord(name, rawURL string, standby bool) fleet.Coordinator {
	u, _ := url.Parse(rawURL)
	return fleet.Coordinator{Name: name, URL: rawURL, Scheme: "http", Host: u.Hostname(), Standby: standby}
}

type rig struct {
	h       *Handler
	st      *store.Store
	metrics *Metrics
	b       *coordinator
}

// newRig: group adhoc has cluster a (coordinator 0, dead unless given)
// and cluster b (coordinator 0, a fake).
func newRig(t *testing.T, aURL string, mut ...func(*fleet.Fleet, healthMap)) *rig {
	t.Helper()
	b := newCoordinator(t, "b")
	f := &fleet.Fleet{
		DefaultGroup: "adhoc", Groups: []fleet.Group{{Name: "adhoc"}},
		Clusters: []fleet.Cluster{
			{Name: "a", Group: "adhoc", State: fleet.Active, Coordinators: []fleet.Coordinator{coord("0", aURL, false)}},
			{Name: "b", Group: "adhoc", State: fleet.Active, Coordinators: []fleet.Coordinator{coord("0", b.URL, false)}},
		},
	}
	hv := healthMap{"a/0": health.Healthy, "b/0": health.Healthy}
	for _, m := range mut {
		m(f, hv)
	}
	st := store.NewMemory()
	m := NewMetrics(prometheus.NewRegistry())
	h := New(Options{
		Router: routing.New(f, hv), Health: hv, Replays: st.Replays, Queries: st.Queries,
		QueryTTL: time.Hour, StoreTimeout: time.Second, MaxAttempts: 2, ProbeTimeout: time.Second, Metrics: m,
	})
	return &rig{h: h, st: st, metrics: m, b: b}
}

var kept = store.Replay{
	SQL:     "SELECT 42",
	Headers: []store.Header{hdr("x-trino-user", "alice"), hdr("x-trino-session", "a=1"), hdr("x-trino-session", "b=2"), hdr("x-trino-catalog", "tpch")},
	Group:   "adhoc", User: "alice",
}

func hdr(name, value string) store.Header { return store.Header{Name: name, Value: value} }

func (r *rig) keep(t *testing.T, id string, rp store.Replay) {
	t.Helper()
	if err := r.st.Replays.PutReplay(context.Background(), id, rp, time.Hour); err != nil {
		t.Fatal(err)
	}
}

// poll sends what Envoy sends after the prefix rewrite.
func (r *rig) poll(t *testing.T, method, path string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.Host = "gateway.example:8080"
	req.Header.Set("X-Forwarded-Prefix", "/_sy/a/0")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Trino-User", "alice")
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	var doc map[string]any
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Fatalf("answer is not JSON: %v: %s", err, w.Body)
		}
	}
	return w, doc
}

func (r *rig) count(outcome string) float64 {
	return testutil.ToFloat64(r.metrics.Handled.WithLabelValues(outcome))
}

func errorOf(doc map[string]any) (name, message string) {
	e, _ := doc["error"].(map[string]any)
	name, _ = e["errorName"].(string)
	message, _ = e["message"].(string)
	return name, message
}

func TestResubmitsAnUnreadQueryOfADeadCoordinator(t *testing.T) {
	for _, path := range []string{
		"/v1/statement/queued/q1/x/1",
		"/v1/statement/queued/q1/x/7",
		"/v1/statement/executing/q1/x/0",
	} {
		t.Run(path, func(t *testing.T) {
			r := newRig(t, deadURL(t))
			r.keep(t, "q1", kept)
			w, doc := r.poll(t, http.MethodGet, path)
			if w.Code != 200 || doc["id"] != "b_1" {
				t.Fatalf("answer %d %s; want the new query b_1's first results", w.Code, w.Body)
			}
			if next, _ := doc["nextUri"].(string); next != "https://gateway.example:8080/_sy/b/0/v1/statement/queued/b_1/y/1" {
				t.Errorf("nextUri %q: want it through the gateway with cluster b's prefix", next)
			}
			if got := w.Header().Get("X-Trino-Set-Session"); got != "echo=1" {
				t.Errorf("the new query's X-Trino-* response headers are not passed on: %q", got)
			}
			sub := r.b.submissions[0]
			if r.b.sql[0] != "SELECT 42" || sub.Header.Get("X-Trino-User") != "alice" || sub.Header.Get("X-Trino-Catalog") != "tpch" ||
				strings.Join(sub.Header.Values("X-Trino-Session"), ";") != "a=1;b=2" {
				t.Errorf("resubmission sent %q with headers %v; want the kept SQL and session", r.b.sql[0], sub.Header)
			}
			if sub.Host != "gateway.example:8080" || sub.Header.Get("X-Forwarded-Proto") != "https" {
				t.Errorf("resubmission Host %q proto %q: want the client's", sub.Host, sub.Header.Get("X-Forwarded-Proto"))
			}
			ctx := context.Background()
			if owner, err := r.st.Queries.GetQuery(ctx, "b_1"); err != nil || owner.String() != "b/0" || owner.User != "alice" {
				t.Errorf("owner of the new query: %+v, %v", owner, err)
			}
			if next, err := r.st.Replays.GetReplay(ctx, "b_1"); err != nil || next.Attempt != 1 || next.SQL != "SELECT 42" || next.Answer != nil {
				t.Errorf("replay of the new query: %+v, %v; want attempt 1 and the same SQL", next, err)
			}
			if r.count(outcomeResubmitted) != 1 {
				t.Errorf("resubmitted counter %v", r.count(outcomeResubmitted))
			}

			// The client repeats its poll (it lost the answer): same new
			// query, no second submission.
			w2, doc2 := r.poll(t, http.MethodGet, path)
			if w2.Code != 200 || doc2["id"] != "b_1" || r.b.submitted() != 1 {
				t.Fatalf("repeated poll: %d %s after %d submissions; want b_1 again and one submission", w2.Code, w2.Body, r.b.submitted())
			}
			if r.count(outcomeRepeated) != 1 {
				t.Errorf("repeated counter %v", r.count(outcomeRepeated))
			}
		})
	}
}

func TestRefusesWhatCannotBeResubmitted(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		keep       *store.Replay
		mut        func(*fleet.Fleet, healthMap)
		outcome    string
		message    string
	}{
		{name: "rows may have been read", path: "/v1/statement/executing/q1/x/3", keep: &kept, outcome: outcomeRefused, message: "had started reading its results"},
		{name: "not kept (a write, a transaction, too long)", path: "/v1/statement/queued/q1/x/1", outcome: outcomeRefused, message: "not kept for resubmission"},
		{name: "attempts used up", path: "/v1/statement/queued/q1/x/1", keep: &store.Replay{SQL: "SELECT 1", Group: "adhoc", Attempt: 2}, outcome: outcomeRefused, message: "resubmitted 2 times already"},
		{name: "no other healthy cluster", path: "/v1/statement/queued/q1/x/1", keep: &kept, outcome: outcomeFailed, message: "no other healthy cluster in group adhoc",
			mut: func(_ *fleet.Fleet, h healthMap) { h["b/0"] = health.Unhealthy }},
		{name: "the other cluster is inactive", path: "/v1/statement/queued/q1/x/1", keep: &kept, outcome: outcomeFailed, message: "no other healthy cluster",
			mut: func(f *fleet.Fleet, _ healthMap) { f.Clusters[1].State = fleet.Inactive }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var muts []func(*fleet.Fleet, healthMap)
			if tc.mut != nil {
				muts = append(muts, tc.mut)
			}
			r := newRig(t, deadURL(t), muts...)
			if tc.keep != nil {
				r.keep(t, "q1", *tc.keep)
			}
			w, doc := r.poll(t, http.MethodGet, tc.path)
			name, msg := errorOf(doc)
			if w.Code != 200 || name != "COORDINATOR_UNREACHABLE" || !strings.Contains(msg, tc.message) || !strings.Contains(msg, "cluster a") {
				t.Fatalf("answer %d %s; want a FAILED QueryResults, COORDINATOR_UNREACHABLE naming cluster a and saying %q", w.Code, w.Body, tc.message)
			}
			if st, _ := doc["stats"].(map[string]any); st["state"] != "FAILED" || doc["id"] != "q1" {
				t.Errorf("error document %s: want state FAILED and the query's ID", w.Body)
			}
			if r.b.submitted() != 0 {
				t.Errorf("%d submissions to cluster b; want none", r.b.submitted())
			}
			if r.count(tc.outcome) != 1 {
				t.Errorf("%s counter %v, want 1", tc.outcome, r.count(tc.outcome))
			}
		})
	}
}

func TestAnotherCoordinatorOfTheSameClusterTakesIt(t *testing.T) {
	standby := newCoordinator(t, "standby")
	r := newRig(t, deadURL(t), func(f *fleet.Fleet, h healthMap) {
		f.Clusters[0].Coordinators = append(f.Clusters[0].Coordinators, coord("1", standby.URL, true))
		f.Clusters = f.Clusters[:1]
		h["a/1"] = health.Healthy
	})
	r.keep(t, "q1", kept)
	w, doc := r.poll(t, http.MethodGet, "/v1/statement/queued/q1/x/1")
	if w.Code != 200 || doc["id"] != "standby_1" || standby.submissions[0].Header.Get("X-Forwarded-Prefix") != "/_sy/a/1" {
		t.Fatalf("answer %d %s; want the query resubmitted to coordinator a/1", w.Code, w.Body)
	}
}

func TestAnswerOfALiveCoordinatorIsPassedOn(t *testing.T) {
	a := newCoordinator(t, "a")
	r := newRig(t, a.URL)
	r.keep(t, "q1", kept)
	w, doc := r.poll(t, http.MethodGet, "/v1/statement/executing/q1/x/3")
	if w.Code != 200 || doc["from"] != "a" {
		t.Fatalf("answer %d %s; want coordinator a's own answer", w.Code, w.Body)
	}
	if r.b.submitted() != 0 || r.count(outcomeRelayed) != 1 {
		t.Fatalf("%d resubmissions, relayed %v; want the poll relayed, nothing resubmitted", r.b.submitted(), r.count(outcomeRelayed))
	}
}

func TestACoordinatorThatForgotTheQueryIsGone(t *testing.T) {
	for _, status := range []int{http.StatusNotFound, http.StatusServiceUnavailable} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			a := newCoordinator(t, "a")
			a.pollStatus = status
			r := newRig(t, a.URL)
			r.keep(t, "q1", kept)
			w, doc := r.poll(t, http.MethodGet, "/v1/statement/queued/q1/x/1")
			if w.Code != 200 || doc["id"] != "b_1" {
				t.Fatalf("answer %d %s; want the query resubmitted to b", w.Code, w.Body)
			}
		})
	}
}

func TestCancelOfADeadCoordinatorsQuery(t *testing.T) {
	r := newRig(t, deadURL(t))
	r.keep(t, "q1", kept)
	w, _ := r.poll(t, http.MethodDelete, "/v1/statement/queued/q1/x/1")
	if w.Code != http.StatusNoContent || r.b.submitted() != 0 {
		t.Fatalf("DELETE answered %d after %d submissions; want 204 and nothing resubmitted", w.Code, r.b.submitted())
	}
}

func TestUnreadableRequests(t *testing.T) {
	r := newRig(t, deadURL(t))
	for _, tc := range []struct{ name, prefix, path string }{
		{"no prefix", "", "/v1/statement/queued/q1/x/1"},
		{"malformed query ID", "/_sy/a/0", "/v1/statement/queued/Q!/x/1"},
		{"not a poll", "/_sy/a/0", "/v1/info"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			req.Header.Set("X-Forwarded-Prefix", tc.prefix)
			w := httptest.NewRecorder()
			r.h.ServeHTTP(w, req)
			var doc map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || w.Code != 200 {
				t.Fatalf("answer %d %s: want a FAILED QueryResults", w.Code, w.Body)
			}
			if name, msg := errorOf(doc); name != trino.ErrCoordinatorGone.Name || msg == "" {
				t.Fatalf("error %q %q", name, msg)
			}
		})
	}
}
