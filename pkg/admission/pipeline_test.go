package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/switchyard-gw/switchyard/pkg/extrouter"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

type healthy struct{}

func (healthy) State(string) health.State { return health.Healthy }
func (healthy) Status(string) (health.Status, bool) {
	return health.Status{State: health.Healthy}, true
}

func testFleet() *fleet.Fleet {
	co := []fleet.Coordinator{{Name: "0", Scheme: "http", Host: "10.0.0.1", Port: 8080}}
	return &fleet.Fleet{
		DefaultGroup: "adhoc", Groups: []fleet.Group{{Name: "adhoc"}},
		Clusters: []fleet.Cluster{{Name: "a", Group: "adhoc", State: fleet.Active, Coordinators: co}},
	}
}

func newPipeline(t *testing.T, q store.Queries, with ...func(*Options)) (*Pipeline, *Metrics) {
	t.Helper()
	m := NewMetrics(prometheus.NewRegistry())
	o := Options{Router: routing.New(testFleet(), healthy{}), Health: healthy{}, Queries: q, QueryTTL: time.Hour,
		StoreTimeout: time.Second, Metrics: m, Decisions: policy.NewDecisionLog(10)}
	for _, w := range with {
		w(&o)
	}
	return New(o), m
}

func submission(sql string, headers ...string) *Request {
	r := &Request{Method: "POST", Path: "/v1/statement", Scheme: "http", Authority: "gw:8080", Body: []byte(sql)}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Session.SetHeader(headers[i], headers[i+1])
	}
	return r
}

func TestStageOrder(t *testing.T) {
	p, _ := newPipeline(t, store.NewMemory().Queries)
	var names []string
	for _, s := range p.stages {
		names = append(names, s.Name())
	}
	want := "classify external-router cost findings session policy protection transaction affinity governance balance"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("stages %q, want %q", got, want)
	}
}

func TestSubmitRoutesAndRecordsTheOwner(t *testing.T) {
	q := store.NewMemory().Queries
	p, m := newPipeline(t, q)
	s := &Submission{Req: submission("SELECT 1", "x-trino-user", "alice")}
	o := p.Submit(context.Background(), s)
	if o.Action != Route || o.Target != "a" || s.Decision.Cluster != "a" {
		t.Fatalf("outcome %+v, decision %+v", o, s.Decision)
	}
	if s.Class.Type != "" || s.sql != "" {
		t.Error("classified (or copied the SQL) without a policy or an external router: work nobody reads")
	}
	if n := testutil.ToFloat64(m.Routed.WithLabelValues("adhoc", "a")); n != 1 {
		t.Errorf("routed counter %v", n)
	}
	p.Submitted(context.Background(), s, []byte(`{"id":"20260101_000000_00001_abcde","nextUri":"http://gw/_sy/a/0/v1/statement/queued/20260101_000000_00001_abcde/x/1"}`))
	got, err := q.GetQuery(context.Background(), "20260101_000000_00001_abcde")
	if err != nil || got != (store.QueryRoute{Cluster: "a", Coordinator: "0", User: "alice"}) {
		t.Fatalf("recorded %+v, %v", got, err)
	}
	if d := p.o.Decisions.Recent(1)[0]; d.QueryID != "20260101_000000_00001_abcde" || d.Cluster != "a" || d.User != "alice" {
		t.Fatalf("decision log %+v", d)
	}
}

type failingPuts struct{ store.Queries }

func (failingPuts) PutQuery(context.Context, string, store.QueryRoute, time.Duration) error {
	return errors.New("redis: connection refused")
}

// A store that cannot record the owner costs only unprefixed lookups of
// the query: the failure is counted and logged, the decision stands.
func TestRecordingTheOwnerFails(t *testing.T) {
	p, m := newPipeline(t, failingPuts{store.NewMemory().Queries})
	s := &Submission{Req: submission("SELECT 1")}
	o := p.Submit(context.Background(), s)
	if o.Action != Route {
		t.Fatalf("%+v", o)
	}
	p.Submitted(context.Background(), s, []byte(`{"id":"q_1","nextUri":"http://gw/_sy/a/0/v1/statement/queued/q_1/x/1"}`))
	if n := testutil.ToFloat64(m.StoreError.WithLabelValues("put_query")); n != 1 {
		t.Fatalf("put_query errors %v, want 1", n)
	}
}

// Answers that are not the chosen coordinator's record nothing.
func TestSubmittedIgnoresAnswersWithoutAPrefix(t *testing.T) {
	q := store.NewMemory().Queries
	p, _ := newPipeline(t, q)
	s := &Submission{Req: submission("SELECT 1")}
	p.Submit(context.Background(), s)
	for _, body := range []string{
		`{"id":"switchyard_gateway_error","infoUri":"/ui/","stats":{"state":"FAILED"}}`,
		`{"id":"q_2","nextUri":"http://gw/v1/statement/queued/q_2/x/1"}`,
		`not json`, ``,
	} {
		p.Submitted(context.Background(), s, []byte(body))
	}
	for _, id := range []string{"switchyard_gateway_error", "q_2"} {
		if _, err := q.GetQuery(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s recorded: %v", id, err)
		}
	}
}

func TestRejectionsAreRenderedForTheProtocol(t *testing.T) {
	rj := &Rejection{Code: trino.ErrQueryNotFound, Message: "gone", QueryID: "q_1"}
	tests := []struct {
		method, path string
		status       int
		queryResults bool
	}{
		{"GET", "/v1/statement/executing/q_1/y/1", 200, true},
		{"POST", "/v1/statement", 200, true},
		{"DELETE", "/v1/statement/executing/q_1/y/1", 404, false},
		{"GET", "/v1/query/q_1", 404, false},
		{"GET", "/ui/api/query/q_1", 404, false},
	}
	for _, tt := range tests {
		r := rj.Render(&Request{Method: tt.method, Path: tt.path, Authority: "gw:8080"})
		var doc struct {
			ID      string `json:"id"`
			InfoURI string `json:"infoUri"`
			Error   struct {
				ErrorName string `json:"errorName"`
				Message   string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(r.Body, &doc); err != nil || r.Status != tt.status || r.ContentType != "application/json" {
			t.Errorf("%s %s: %d %s %v", tt.method, tt.path, r.Status, r.Body, err)
			continue
		}
		if doc.Error.ErrorName != "QUERY_NOT_FOUND" || doc.Error.Message != "gone" || (doc.ID == "q_1") != tt.queryResults {
			t.Errorf("%s %s: %s", tt.method, tt.path, r.Body)
		}
		if tt.queryResults && doc.InfoURI != "http://gw:8080/ui/" {
			t.Errorf("%s %s: infoUri %q", tt.method, tt.path, doc.InfoURI)
		}
	}
}

func TestDryRunRecordsNothing(t *testing.T) {
	q := store.NewMemory().Queries
	p, m := newPipeline(t, q)
	r := p.DryRun(context.Background(), DryRunRequest{SQL: "SELECT * FROM tpch.tiny.nation", Headers: map[string]string{"X-Trino-User": "bob"}})
	if r.Route != "a" || r.Classification.Type != "SELECT" || r.Decision.User != "bob" || r.Decision.ID != "dry-run" {
		t.Fatalf("%+v", r)
	}
	if len(p.o.Decisions.Recent(10)) != 0 || testutil.ToFloat64(m.Routed.WithLabelValues("adhoc", "a")) != 0 {
		t.Fatal("a dry run was counted or logged as a decision")
	}
}

func TestLocate(t *testing.T) {
	q := store.NewMemory().Queries
	ctx := context.Background()
	_ = q.PutQuery(ctx, "q_1", store.QueryRoute{Cluster: "a", Coordinator: "0"}, time.Hour)
	_ = q.PutQuery(ctx, "q_2", store.QueryRoute{Cluster: "a", Coordinator: "retired"}, time.Hour)
	_ = q.PutQuery(ctx, "q_3", store.QueryRoute{Cluster: "gone", Coordinator: "0"}, time.Hour)
	p, _ := newPipeline(t, q)
	for path, want := range map[string]string{
		"/v1/query/q_1":                   "a/0",
		"/v1/statement/executing/q_2/y/1": "a", // its coordinator left the fleet: the cluster
		"/v1/query/q_3":                   "QUERY_NOT_FOUND",
		"/v1/query/q_9":                   "QUERY_NOT_FOUND",
		"/v1/query/Q!":                    "MALFORMED_QUERY_ID",
		"/v1/info":                        "a", // no query: any cluster
	} {
		o := p.Locate(ctx, &Request{Method: "GET", Path: path})
		got := o.Target
		if o.Action == Reject {
			got = o.Error.Code.Name
		}
		if got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
}

type fakeRouter struct{ group string }

func (f fakeRouter) Route(context.Context, *extrouter.Request) (*extrouter.Response, error) {
	return &extrouter.Response{RoutingGroup: f.group}, nil
}
func (fakeRouter) Close() error { return nil }

// The decision log explains the decision in the order it was made: the
// external routing service's answer, then the policy's reasons (earlier
// stages' notes are kept, not replaced by the policy's).
func TestExplanationKeepsEveryStage(t *testing.T) {
	c, err := policy.Compile(context.Background(), &policy.Bundle{Files: map[string][]byte{"p.rego": []byte(`package switchyard.routing
import rego.v1
decision := {"allow": true, "explanation": [sprintf("external said %s", [input.external.routingGroup])]}
`)}})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := newPipeline(t, store.NewMemory().Queries, func(o *Options) {
		o.Policy, o.ExtRouter = policy.NewEngine(c, nil), fakeRouter{group: "etl"}
	})
	s := &Submission{Req: submission("SELECT 1")}
	o := p.Submit(context.Background(), s)
	if o.Action != Route {
		t.Fatalf("%+v", o)
	}
	want := []string{"external routing service: group etl", "external said etl"}
	if got := s.Entry.Explanation; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("explanation %q, want %q", got, want)
	}
}

// swappingRouter publishes a policy while it is asked: in the middle of
// a submission's decision, after the classification stage.
type swappingRouter struct {
	eng    *policy.Engine
	bundle *policy.Bundle
}

func (r swappingRouter) Route(ctx context.Context, _ *extrouter.Request) (*extrouter.Response, error) {
	_, err := r.eng.Replace(ctx, r.bundle)
	return &extrouter.Response{}, err
}
func (swappingRouter) Close() error { return nil }

// A policy published while a submission is decided applies from the next
// submission: one submission never mixes two policies (here: no policy
// at classification, the new one at the policy stage, which would deny an
// unclassified statement).
func TestOnePolicyPerSubmission(t *testing.T) {
	eng := policy.NewEngine(nil, nil)
	onlySelect := &policy.Bundle{Files: map[string][]byte{"p.rego": []byte(`package switchyard.routing
import rego.v1
decision := {"allow": input.query.type == "SELECT", "reason": "only SELECT"}
`)}}
	p, _ := newPipeline(t, store.NewMemory().Queries, func(o *Options) {
		o.Policy, o.ExtRouter = eng, swappingRouter{eng: eng, bundle: onlySelect}
	})
	s := &Submission{Req: submission("SELECT * FROM tpch.tiny.nation")}
	o := p.Submit(context.Background(), s)
	if o.Action != Route || s.policy != nil {
		t.Fatalf("the submission that saw no policy at its start: %+v (policy %v)", o, s.policy)
	}
	if eng.Current() == nil {
		t.Fatal("the policy was not published")
	}
	s = &Submission{Req: submission("SELECT * FROM tpch.tiny.nation")}
	o = p.Submit(context.Background(), s)
	if o.Action != Route || s.policy == nil || s.Class.Type != "SELECT" {
		t.Fatalf("the next submission: %+v, class %+v", o, s.Class)
	}
	o = p.Submit(context.Background(), &Submission{Req: submission("DELETE FROM t")})
	if o.Action != Reject || o.Error.Message != "only SELECT" {
		t.Fatalf("the policy does not decide: %+v", o)
	}
}

func TestReadOnlySubmissionsAreKeptForResubmission(t *testing.T) {
	big := "SELECT '" + strings.Repeat("x", 2000) + "'"
	for _, tc := range []struct {
		name    string
		sql     string
		headers []string
		kept    bool
	}{
		{name: "select", sql: "SELECT 1", kept: true},
		{name: "with", sql: "WITH t AS (SELECT 1) SELECT * FROM t", kept: true},
		{name: "show", sql: "SHOW CATALOGS", kept: true},
		{name: "describe", sql: "DESCRIBE tpch.tiny.nation", kept: true},
		{name: "explain", sql: "EXPLAIN SELECT 1", kept: true},
		{name: "explain analyze runs the statement", sql: "EXPLAIN ANALYZE SELECT 1"},
		{name: "insert", sql: "INSERT INTO t VALUES 1"},
		{name: "create table as", sql: "CREATE TABLE t AS SELECT 1"},
		{name: "execute", sql: "EXECUTE q"},
		{name: "call", sql: "CALL system.runtime.kill_query('x')"},
		{name: "set session", sql: "SET SESSION a = 1"},
		{name: "in a transaction", sql: "SELECT 1", headers: []string{"x-trino-transaction-id", "a1b2"}},
		{name: "no transaction", sql: "SELECT 1", headers: []string{"x-trino-transaction-id", "NONE"}, kept: true},
		{name: "too long", sql: big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemory()
			p, _ := newPipeline(t, st.Queries, func(o *Options) { o.Replays, o.ReplayMaxBytes = st.Replays, 1024 })
			_ = st.Queries.PutTransaction(context.Background(), "a1b2", store.QueryRoute{Cluster: "a", Coordinator: "0"}, time.Hour)
			headers := append([]string{"x-trino-user", "alice", "x-trino-session", "a=1", "x-trino-session", "b=%2C", "x-trino-catalog", "tpch"}, tc.headers...)
			s := &Submission{Req: submission(tc.sql, headers...)}
			if o := p.Submit(context.Background(), s); o.Action != Route {
				t.Fatalf("outcome %+v", o)
			}
			p.Submitted(context.Background(), s, []byte(`{"id":"q1","nextUri":"http://gw/_sy/a/0/v1/statement/queued/q1/x/1"}`))
			p.Wait()
			r, err := st.Replays.GetReplay(context.Background(), "q1")
			if !tc.kept {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("kept %+v, %v; want nothing kept", r, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := []store.Header{{Name: "x-trino-user", Value: "alice"}, {Name: "x-trino-session", Value: "a=1"}, {Name: "x-trino-session", Value: "b=%2C"}, {Name: "x-trino-catalog", Value: "tpch"}}
			for i := 0; i+1 < len(tc.headers); i += 2 {
				want = append(want, store.Header{Name: tc.headers[i], Value: tc.headers[i+1]})
			}
			if r.SQL != tc.sql || r.Group != "adhoc" || r.User != "alice" || !reflect.DeepEqual(r.Headers, want) {
				t.Fatalf("kept %+v; want the SQL, group adhoc, user alice and headers %v as sent", r, want)
			}
		})
	}
}

func TestKeptHeadersIncludeThePipelines(t *testing.T) {
	st := store.NewMemory()
	p, _ := newPipeline(t, st.Queries, func(o *Options) { o.Replays, o.ReplayMaxBytes = st.Replays, 1024 })
	s := &Submission{Req: submission("SELECT 1", "x-trino-user", "alice", "x-trino-source", "client")}
	p.Submit(context.Background(), s)
	s.Headers = map[string]string{"X-Trino-Source": "policy", "x-trino-client-tags": "etl"}
	p.Submitted(context.Background(), s, []byte(`{"id":"q1","nextUri":"http://gw/_sy/a/0/v1/statement/queued/q1/x/1"}`))
	p.Wait()
	r, err := st.Replays.GetReplay(context.Background(), "q1")
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Header{{Name: "x-trino-user", Value: "alice"}, {Name: "x-trino-source", Value: "policy"}, {Name: "x-trino-client-tags", Value: "etl"}}
	if !reflect.DeepEqual(r.Headers, want) {
		t.Fatalf("headers %v; want the client's, with the ones the gateway set replacing theirs: %v", r.Headers, want)
	}
}

// downQueries is a store that answers every call with an error.
type downQueries struct{ store.Queries }

func (downQueries) GetQuery(context.Context, string) (store.QueryRoute, error) {
	return store.QueryRoute{}, errors.New("dial tcp: connection refused")
}

func TestStoreOutageIsLoggedOncePerIntervalNotPerRequest(t *testing.T) {
	var buf bytes.Buffer // Locate logs on the caller's goroutine
	log := slog.New(slog.NewTextHandler(&buf, nil))
	p, _ := newPipeline(t, downQueries{store.NewMemory().Queries}, func(o *Options) { o.Logger = log })
	for i := range 200 {
		o := p.Locate(context.Background(), &Request{Method: "GET", Path: fmt.Sprintf("/v1/query/20260101_000000_%05d_abcde", i)})
		if o.Action != Reject || o.Error.Code != trino.ErrGatewayInternal {
			t.Fatalf("lookup %d with the store down: %+v; want the Trino-shaped refusal", i, o)
		}
	}
	if n := strings.Count(buf.String(), "looking up query owners fails"); n != 1 {
		t.Fatalf("the outage was logged %d times for 200 lookups; want once (then once per interval):\n%s", n, buf.String())
	}
}

// stalledQueries answers transaction lookups only when their context
// ends (a Redis that accepted the call and stopped answering).
type stalledQueries struct {
	store.Queries
	deadlines chan time.Time
}

func (s stalledQueries) GetTransaction(ctx context.Context, _ string) (store.QueryRoute, error) {
	d, _ := ctx.Deadline()
	select {
	case s.deadlines <- d:
	default:
	}
	<-ctx.Done()
	return store.QueryRoute{}, ctx.Err()
}

func TestTransactionLookupEndsWithinTheWait(t *testing.T) {
	q := stalledQueries{store.NewMemory().Queries, make(chan time.Time, 1)}
	p, _ := newPipeline(t, q, func(o *Options) { o.StoreTimeout, o.TransactionWait = time.Hour, 50*time.Millisecond })
	start := time.Now()
	o := p.Submit(context.Background(), &Submission{Req: submission("SELECT 1", "x-trino-transaction-id", "t1")})
	if o.Action != Reject || o.Error.Code != trino.ErrGatewayInternal {
		t.Fatalf("outcome %+v; want the Trino-shaped 'cannot look up transaction' refusal", o)
	}
	if d := <-q.deadlines; d.IsZero() || d.After(start.Add(time.Second)) {
		t.Fatalf("the store call's deadline is %v after the start; want it bounded by TransactionWait (50ms), not the store timeout (1h)", d.Sub(start))
	}
}

// A transaction whose record is missing (lost in a Redis failover) is
// found by asking the coordinators, after a short grace, and written back.
func TestTransactionFoundByAskingWhenTheRecordIsMissing(t *testing.T) {
	q := store.NewMemory().Queries
	asked := make(chan string, 4)
	p, _ := newPipeline(t, q, func(o *Options) {
		o.TransactionWait = 2 * time.Second
		o.FindTransaction = func(_ context.Context, txn string) (store.QueryRoute, error) {
			asked <- txn
			return store.QueryRoute{Cluster: "a", Coordinator: "0"}, nil
		}
	})
	start := time.Now()
	o := p.Submit(context.Background(), &Submission{Req: submission("SELECT 1", "x-trino-transaction-id", "t1")})
	if o.Action != Route || o.Target != "a/0" {
		t.Fatalf("outcome %+v; want the statement routed to the coordinator that lists the transaction", o)
	}
	if got := <-asked; got != "t1" {
		t.Fatalf("asked for %q", got)
	}
	if d := time.Since(start); d < transactionGrace {
		t.Fatalf("asked after %v; a missing record is waited for %v first (the access log may be a moment late)", d, transactionGrace)
	}
	p.Wait()
	if r, err := q.GetTransaction(context.Background(), "t1"); err != nil || r.Cluster != "a" {
		t.Fatalf("the found owner was not written back: %+v, %v", r, err)
	}
}

// A store that fails does not refuse the statement when a coordinator can
// tell; nobody who can tell still ends the lookup within the wait.
func TestTransactionLookupWithAFailingStore(t *testing.T) {
	q := stalledQueries{store.NewMemory().Queries, make(chan time.Time, 1)}
	t.Run("a coordinator lists it", func(t *testing.T) {
		p, _ := newPipeline(t, q, func(o *Options) {
			o.StoreTimeout, o.TransactionWait = 20*time.Millisecond, time.Second
			o.FindTransaction = func(context.Context, string) (store.QueryRoute, error) {
				return store.QueryRoute{Cluster: "a", Coordinator: "0"}, nil
			}
		})
		if o := p.Submit(context.Background(), &Submission{Req: submission("SELECT 1", "x-trino-transaction-id", "t1")}); o.Action != Route || o.Target != "a/0" {
			t.Fatalf("outcome %+v; want it routed to the coordinator that lists the transaction", o)
		}
	})
	t.Run("no coordinator lists it", func(t *testing.T) {
		p, _ := newPipeline(t, q, func(o *Options) {
			o.StoreTimeout, o.TransactionWait = 20*time.Millisecond, 100*time.Millisecond
			o.FindTransaction = func(ctx context.Context, _ string) (store.QueryRoute, error) {
				<-ctx.Done()
				return store.QueryRoute{}, ctx.Err()
			}
		})
		start := time.Now()
		o := p.Submit(context.Background(), &Submission{Req: submission("SELECT 1", "x-trino-transaction-id", "t1")})
		if o.Action != Reject || o.Error.Code != trino.ErrGatewayInternal {
			t.Fatalf("outcome %+v; want the 'cannot look up transaction' refusal", o)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("the lookup took %v; want it bounded by TransactionWait (100ms)", d)
		}
	})
}

// Every decided submission is counted by group, class and outcome, a
// refusal also by its Trino error; a group the fleet does not have is not
// a label (clients choose it); each stage that ran is timed; a dry run
// counts nothing.
func TestDecisionMetrics(t *testing.T) {
	p, m := newPipeline(t, store.NewMemory().Queries)
	ctx := context.Background()
	p.Submit(ctx, &Submission{Req: submission("SELECT 1")})
	rj := p.Submit(ctx, &Submission{Req: submission("SELECT 1", "x-trino-routing-group", "no-such-group-"+strings.Repeat("x", 50))})
	if rj.Action != Reject {
		t.Fatalf("unknown group: %+v", rj)
	}
	p.DryRun(ctx, DryRunRequest{SQL: "SELECT 2"})
	if n := testutil.ToFloat64(m.Decisions.WithLabelValues("adhoc", "", "routed")); n != 1 {
		t.Errorf("routed decisions %v", n)
	}
	if n := testutil.ToFloat64(m.Decisions.WithLabelValues("", "", "rejected")); n != 1 {
		t.Errorf("rejected decisions %v", n)
	}
	if n := testutil.ToFloat64(m.Rejections.WithLabelValues("", rj.Error.Code.Name)); n != 1 {
		t.Errorf("rejections %s: %v", rj.Error.Code.Name, n)
	}
	if n := testutil.CollectAndCount(m.Decisions); n != 2 {
		t.Errorf("%d decision series, want 2", n)
	}
	// Both submissions ran every stage (balance refused the unknown group).
	counts := map[string]uint64{}
	for _, stage := range []string{"classify", "balance"} {
		h := m.Stages.WithLabelValues(stage).(prometheus.Histogram)
		var pb dto.Metric
		if err := h.Write(&pb); err != nil {
			t.Fatal(err)
		}
		counts[stage] = pb.GetHistogram().GetSampleCount()
	}
	if counts["classify"] != 2 || counts["balance"] != 2 {
		t.Errorf("stage timings %v, want 2 each", counts)
	}
}

// The protection stage acts on the protection decision the policy stage
// evaluated with the routing decision: it refuses, routes and caps as
// the protection policy says, and a protection policy that fails refuses
// the query as the protection policy's failure.
func TestProtectionActsOnTheDecisionEvaluatedWithRouting(t *testing.T) {
	c, err := policy.Compile(context.Background(), &policy.Bundle{Files: map[string][]byte{
		"r.rego": []byte(`package switchyard.routing
decision := {"allow": true}
`),
		"p.rego": []byte(`package switchyard.protection
decision := {"deny": false} if not input.request.source in {"bad", "conflict"}
decision := {"deny": true, "reason": "bad source", "rules": ["bad"]} if input.request.source == "bad"
decision := {"deny": false} if input.request.source == "conflict"
decision := {"deny": true} if input.request.source == "conflict"
`)}})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := newPipeline(t, store.NewMemory().Queries, func(o *Options) { o.Policy = policy.NewEngine(c, nil) })
	s := &Submission{Req: submission("SELECT 1", "x-trino-user", "alice", "x-trino-source", "cli")}
	if o := p.Submit(context.Background(), s); o.Action != Route || s.protection == nil || s.protection.Protection == nil {
		t.Fatalf("%+v (protection %+v)", o, s.protection)
	}
	o := p.Submit(context.Background(), &Submission{Req: submission("SELECT 1", "x-trino-user", "alice", "x-trino-source", "bad")})
	if o.Action != Reject || o.Error.Code != trino.ErrQueryRefused || o.Error.Message != "bad source" {
		t.Fatalf("%+v (error %+v); want QUERY_REFUSED: bad source", o, o.Error)
	}
	o = p.Submit(context.Background(), &Submission{Req: submission("SELECT 1", "x-trino-user", "alice", "x-trino-source", "conflict")})
	if o.Action != Reject || o.Error.Code != trino.ErrPolicyError || !strings.HasPrefix(o.Error.Message, "the query protection policy failed, so the query is refused: ") {
		t.Fatalf("%+v (error %+v); want POLICY_ERROR from the protection policy", o, o.Error)
	}
}
