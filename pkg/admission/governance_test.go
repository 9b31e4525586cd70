package admission

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-gw/switchyard/pkg/governance"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
	"github.com/switchyard-gw/switchyard/pkg/workload"
)

// governanceRego puts a query in the class its X-Trino-Source names (none
// without a source: the default class, if any).
const governanceRego = `package switchyard.routing

import rego.v1

default decision := {"allow": true}

decision := {"allow": true, "class": input.request.source} if input.request.source != ""
`

// governanceData defines the classes the tests use.
const governanceData = `{"switchyard": {"governance": {"classes": {
	"etl": {"perUser": {"maxRunning": 1, "maxQueued": 5},
		"sessionCaps": {"query_max_run_time": "1h", "query_max_memory": "10GB", "query_max_stage_count": "100"}},
	"fast": {"queriesPerMinute": 1},
	"small": {"maxRunning": 1, "maxQueued": 1},
	"big": {"maxRunning": 10, "allowResourceOvercommit": true},
	"closed": {"maxRunning": 5, "onStoreFailure": "closed"},
	"open": {"maxRunning": 5, "onStoreFailure": "open"},
	"free": {}
}}}}`

// govRig is a pipeline with the governance policy and a governor over a
// memory store.
type govRig struct {
	t   *testing.T
	p   *Pipeline
	gov *workload.Governor
	st  *store.Store
}

// newGovRig compiles the policy with data; wrap, if set, wraps the
// governor's store.
func newGovRig(t *testing.T, data string, wrap func(store.Governance) store.Governance, with ...func(*Options)) *govRig {
	t.Helper()
	c, err := policy.Compile(context.Background(), &policy.Bundle{Files: map[string][]byte{
		"routing.rego": []byte(governanceRego), "data.json": []byte(data)}})
	if err != nil {
		t.Fatalf("compiling the test policy: %v", err)
	}
	if c.Governance == nil {
		t.Fatal("the test policy has no data.switchyard.governance")
	}
	st := store.NewMemory()
	g := st.Governance
	if wrap != nil {
		g = wrap(g)
	}
	gov := workload.New(workload.Options{Store: g, Policy: func() *governance.Config { return c.Governance }, Owner: "replica-test"})
	p, _ := newPipeline(t, st.Queries, append([]func(*Options){func(o *Options) {
		o.Policy, o.Governor = policy.NewEngine(c, nil), gov
	}}, with...)...)
	return &govRig{t: t, p: p, gov: gov, st: st}
}

// submit decides a submission of sql with headers (name, value, ...).
func (r *govRig) submit(sql string, headers ...string) (*Submission, Outcome) {
	r.t.Helper()
	s := &Submission{Req: submission(sql, headers...)}
	return s, r.p.Submit(context.Background(), s)
}

// routed submits and fails unless the submission is routed.
func (r *govRig) routed(headers ...string) (*Submission, Outcome) {
	r.t.Helper()
	s, o := r.submit("SELECT 1", headers...)
	if o.Action != Route {
		r.t.Fatalf("submission with %q: outcome %+v (error %+v); want it routed", headers, o, o.Error)
	}
	return s, o
}

func (r *govRig) snapshot() store.GovernanceSnapshot {
	r.t.Helper()
	s, err := r.gov.Snapshot(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

func (r *govRig) slots() []store.Slot { r.t.Helper(); return r.snapshot().Slots }

func headerMap(hs []Header) map[string]string {
	out := map[string]string{}
	for _, h := range hs {
		out[h.Name] = h.Value
	}
	return out
}

// answer is a coordinator's first QueryResults for query id on a/0.
func answer(id string) []byte {
	return []byte(`{"id":"` + id + `","nextUri":"http://gw:8080/_sy/a/0/v1/statement/queued/` + id + `/x/1"}`)
}

func TestGovernanceShapesASubmission(t *testing.T) {
	r := newGovRig(t, governanceData, nil)
	s, o := r.routed("x-trino-user", "alice", "x-trino-source", "etl",
		"x-trino-client-tags", "team-a, switchyard-class=big,nightly",
		"x-trino-session", "query_max_run_time=2h,query_max_memory=1GB",
		"x-trino-session", "custom_prop=a%2Cb%3Dc+d,join_distribution_type=BROADCAST")
	if o.Target != "a" {
		t.Fatalf("routed to %q, want a", o.Target)
	}
	hs := headerMap(o.Headers)
	if got, want := hs[trino.HeaderClientTags], "team-a,nightly,switchyard-class=etl"; got != want {
		t.Errorf("client tags %q, want %q (the client's own kept, its class tag replaced by the class's)", got, want)
	}
	// Sorted by name, each value URL-encoded again.
	wantSession := "custom_prop=a%2Cb%3Dc+d,join_distribution_type=BROADCAST,query_max_memory=1GB,query_max_run_time=1h,query_max_stage_count=100"
	if got := hs[trino.HeaderSession]; got != wantSession {
		t.Errorf("session %q,\nwant %q", got, wantSession)
	}
	wantProps := map[string]string{"custom_prop": "a,b=c d", "join_distribution_type": "BROADCAST",
		"query_max_memory": "1GB", "query_max_run_time": "1h", "query_max_stage_count": "100"}
	if got := parseSessionHeader(hs[trino.HeaderSession]); !maps.Equal(got, wantProps) {
		t.Errorf("session properties %v, want %v", got, wantProps)
	}
	if s.Entry.Class != "etl" || s.Workload == nil || s.Workload.Class != "etl" {
		t.Errorf("class in the decision %q, workload %+v; want etl", s.Entry.Class, s.Workload)
	}
	if want := "workload class etl: session caps query_max_run_time=1h, query_max_stage_count=100"; !slices.Contains(s.Entry.Explanation, want) {
		t.Errorf("explanation %q lacks %q", s.Entry.Explanation, want)
	}
	slots := r.slots()
	if len(slots) != 1 || slots[0].ID != s.Req.ID() || slots[0].Class != "etl" || slots[0].User != "alice" || slots[0].Owner != "replica-test" || slots[0].QueryID != "" {
		t.Fatalf("slots %+v; want one unbound slot %s of etl/alice held by replica-test", slots, s.Req.ID())
	}
	if s.Workload.Slot != s.Req.ID() || s.Workload.Capped {
		t.Errorf("workload %+v; want slot %s, no capped cluster", s.Workload, s.Req.ID())
	}
	if !slices.Contains(r.gov.Owned(), s.Req.ID()) {
		t.Errorf("the governor does not hold the new slot: owned %v", r.gov.Owned())
	}
}

func TestGovernanceSessionCapsAndTags(t *testing.T) {
	tests := []struct {
		name     string
		session  string // the client's X-Trino-Session ("": none)
		tags     string // the client's X-Trino-Client-Tags ("": none)
		wantCaps map[string]string
		wantTags string
		// unchanged: no cap changes anything, so the client's header goes
		// on as sent (the gateway sets none).
		unchanged bool
	}{
		{name: "nothing set: every cap added", wantTags: "switchyard-class=etl",
			wantCaps: map[string]string{"query_max_run_time": "1h", "query_max_memory": "10GB", "query_max_stage_count": "100"}},
		{name: "higher values lowered", session: "query_max_run_time=1d,query_max_memory=1TB,query_max_stage_count=1000", tags: "a,b", wantTags: "a,b,switchyard-class=etl",
			wantCaps: map[string]string{"query_max_run_time": "1h", "query_max_memory": "10GB", "query_max_stage_count": "100"}},
		{name: "lower and equal values kept", session: "query_max_run_time=30m,query_max_memory=10GB,query_max_stage_count=7", tags: "switchyard-class=big", wantTags: "switchyard-class=etl", unchanged: true,
			wantCaps: map[string]string{"query_max_run_time": "30m", "query_max_memory": "10GB", "query_max_stage_count": "7"}},
		{name: "values that do not compare replaced", session: "query_max_run_time=forever,query_max_memory=lots", tags: " x , switchyard-class=etl,y", wantTags: "x,y,switchyard-class=etl",
			wantCaps: map[string]string{"query_max_run_time": "1h", "query_max_memory": "10GB", "query_max_stage_count": "100"}},
	}
	r := newGovRig(t, governanceData, nil)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			headers := []string{"x-trino-user", "user" + string(rune('a'+i)), "x-trino-source", "etl"}
			if tc.session != "" {
				headers = append(headers, "x-trino-session", tc.session)
			}
			if tc.tags != "" {
				headers = append(headers, "x-trino-client-tags", tc.tags)
			}
			_, o := r.routed(headers...)
			hs := headerMap(o.Headers)
			v, set := hs[trino.HeaderSession]
			if tc.unchanged {
				if set {
					t.Errorf("session header set to %q although no cap changed anything; want the client's as sent", v)
				}
				v = tc.session
			}
			if got := parseSessionHeader(v); !maps.Equal(got, tc.wantCaps) {
				t.Errorf("session properties %v, want %v", got, tc.wantCaps)
			}
			if hs[trino.HeaderClientTags] != tc.wantTags {
				t.Errorf("client tags %q, want %q", hs[trino.HeaderClientTags], tc.wantTags)
			}
		})
	}
}

func TestGovernanceResourceOvercommit(t *testing.T) {
	tests := []struct {
		class, value string
		denied       bool
	}{
		{"etl", "true", true},
		{"etl", " TRUE", true},
		{"etl", "false", false},
		{"big", "true", false},
	}
	r := newGovRig(t, governanceData, nil)
	for i, tc := range tests {
		before := len(r.slots())
		user := "overcommit" + string(rune('a'+i))
		s, o := r.submit("SELECT 1", "x-trino-user", user, "x-trino-source", tc.class, "x-trino-session", "resource_overcommit="+tc.value)
		if !tc.denied {
			if o.Action != Route {
				t.Errorf("class %s, resource_overcommit=%q: %+v (error %+v); want it routed", tc.class, tc.value, o, o.Error)
			}
			continue
		}
		if o.Action != Reject || o.Error.Code != trino.ErrPolicyDenied || !strings.Contains(o.Error.Message, "resource_overcommit is not allowed in workload class "+tc.class) {
			t.Errorf("class %s, resource_overcommit=%q: %+v (error %+v); want POLICY_DENIED naming the class", tc.class, tc.value, o, o.Error)
		}
		if n := len(r.slots()); n != before {
			t.Errorf("class %s: a refused submission took a slot (%d slots, %d before)", tc.class, n, before)
		}
		if s.Workload != nil && s.Workload.Slot != "" {
			t.Errorf("class %s: refused submission holds slot %q", tc.class, s.Workload.Slot)
		}
	}
}

func TestGovernanceUnknownClassIsAPolicyError(t *testing.T) {
	r := newGovRig(t, governanceData, nil)
	s, o := r.submit("SELECT 1", "x-trino-user", "alice", "x-trino-source", "nosuch")
	if o.Action != Reject || o.Error.Code != trino.ErrPolicyError || !strings.Contains(o.Error.Message, `workload class "nosuch"`) {
		t.Fatalf("outcome %+v (error %+v); want POLICY_ERROR naming class nosuch", o, o.Error)
	}
	if s.Workload != nil || len(r.slots()) != 0 {
		t.Fatalf("workload %+v, slots %+v; want nothing counted", s.Workload, r.slots())
	}
}

// A class without limits gets its tag and caps, and takes no slot.
func TestGovernanceUngovernedClassTakesNoSlot(t *testing.T) {
	r := newGovRig(t, governanceData, nil)
	s, o := r.routed("x-trino-user", "alice", "x-trino-source", "free")
	if got := headerMap(o.Headers)[trino.HeaderClientTags]; got != "switchyard-class=free" {
		t.Errorf("client tags %q, want switchyard-class=free", got)
	}
	if s.Workload == nil || s.Workload.Slot != "" || len(r.slots()) != 0 {
		t.Fatalf("workload %+v, slots %+v; want class free, no slot", s.Workload, r.slots())
	}
	// No class at all (no default class): not governed.
	s, _ = r.routed("x-trino-user", "alice")
	if s.Workload != nil && s.Workload.Slot != "" {
		t.Fatalf("an unclassified submission took slot %q", s.Workload.Slot)
	}
}

func TestGovernanceQueuesOverTheUserLimit(t *testing.T) {
	r := newGovRig(t, governanceData, nil)
	first, _ := r.routed("x-trino-user", "alice", "x-trino-source", "etl")
	headers := []string{"x-trino-user", "alice", "x-trino-source", "etl", "x-trino-catalog", "tpch",
		"x-trino-session", "query_max_run_time=2h", "x-trino-client-tags", "nightly", "x-forwarded-for", "10.1.2.3"}
	s, o := r.submit("SELECT * FROM nation", headers...)
	if o.Action != Respond || o.Response == nil {
		t.Fatalf("outcome %+v (error %+v); want a QUEUED answer", o, o.Error)
	}
	if o.Response.Status != 200 || o.Response.ContentType != "application/json" {
		t.Errorf("answer %d %s, want 200 application/json", o.Response.Status, o.Response.ContentType)
	}
	var doc struct {
		ID      string `json:"id"`
		InfoURI string `json:"infoUri"`
		NextURI string `json:"nextUri"`
		Stats   struct {
			State         string `json:"state"`
			Queued        bool   `json:"queued"`
			QueuePosition int    `json:"queuePosition"`
			QueueReason   string `json:"queueReason"`
		} `json:"stats"`
		Warnings []any `json:"warnings"`
	}
	if err := json.Unmarshal(o.Response.Body, &doc); err != nil {
		t.Fatalf("answer %s: %v", o.Response.Body, err)
	}
	id := s.Req.ID()
	if doc.ID != id || doc.Stats.State != "QUEUED" || !doc.Stats.Queued || doc.InfoURI != "http://gw:8080/ui/" {
		t.Errorf("answer %s; want query %s QUEUED with infoUri http://gw:8080/ui/", o.Response.Body, id)
	}
	prefix := "http://gw:8080" + trino.QueuePrefix + "/v1/statement/queued/"
	if !strings.HasPrefix(doc.NextURI, prefix) {
		t.Fatalf("nextUri %q, want it under %s", doc.NextURI, prefix)
	}
	qid, slug, token, ok := trino.ParseQueueURI(strings.TrimPrefix(doc.NextURI, "http://gw:8080"))
	if !ok || qid != id || slug == "" || slug != s.Workload.slug || token != 1 {
		t.Errorf("nextUri %q: id %q, slug %q, token %d, ok %v; want %s, the entry's slug, 1", doc.NextURI, qid, slug, token, ok, id)
	}
	if doc.Stats.QueuePosition != 1 || len(doc.Warnings) != 0 ||
		!strings.Contains(doc.Stats.QueueReason, "position 1 in workload class etl") ||
		!strings.Contains(doc.Stats.QueueReason, "user alice has 1 running queries") {
		t.Errorf("stats %+v, warnings %v; want position 1, the user's running limit as the reason, no warning", doc.Stats, doc.Warnings)
	}
	if s.Workload.Slot != "" {
		t.Errorf("a queued submission holds slot %q", s.Workload.Slot)
	}
	if n := testutil.ToFloat64(r.gov.Metrics().Queued.WithLabelValues("etl")); n != 1 {
		t.Errorf("queued counter %v, want 1", n)
	}
	snap := r.snapshot()
	if len(snap.Queue) != 1 || snap.Queue[0].ID != id || snap.Queue[0].State != store.EntryQueued || snap.Queue[0].User != "alice" || snap.Queue[0].Class != "etl" {
		t.Fatalf("queue %+v; want entry %s of etl/alice", snap.Queue, id)
	}

	// The first query ends: the entry is admitted, and its ticket is what
	// submitting it takes.
	if err := r.gov.Release(context.Background(), first.Req.ID()); err != nil {
		t.Fatal(err)
	}
	c, err := r.gov.Claim(context.Background(), id)
	if err != nil || !c.Claimed {
		t.Fatalf("claim %+v, %v; want the admitted entry claimed", c, err)
	}
	tk, err := DecodeTicket(c.Payload)
	if err != nil {
		t.Fatalf("ticket %s: %v", c.Payload, err)
	}
	if tk.ID != id || tk.SQL != "SELECT * FROM nation" || tk.User != "alice" || tk.Class != "etl" || tk.Scheme != "http" || tk.Authority != "gw:8080" || tk.ForwardedFor != "10.1.2.3" {
		t.Errorf("ticket %+v", tk)
	}
	wantHeaders := []store.Header{
		{Name: "x-trino-user", Value: "alice"}, {Name: "x-trino-source", Value: "etl"}, {Name: "x-trino-catalog", Value: "tpch"},
		{Name: "x-trino-client-tags", Value: "nightly,switchyard-class=etl"},
		{Name: "x-trino-session", Value: "query_max_memory=10GB,query_max_run_time=1h,query_max_stage_count=100"},
	}
	if !reflect.DeepEqual(tk.Headers, wantHeaders) {
		t.Errorf("ticket headers %v,\nwant %v (the client's, then the gateway's tag and caps in place of the client's)", tk.Headers, wantHeaders)
	}
	if want := (routing.Request{User: "alice", GroupFrom: "X-Trino-Routing-Group"}); !reflect.DeepEqual(tk.Route, want) {
		t.Errorf("ticket route %+v, want %+v", tk.Route, want)
	}
	if tk.Enqueued.IsZero() {
		t.Error("ticket has no enqueue time")
	}
}

func TestGovernanceRefusals(t *testing.T) {
	r := newGovRig(t, governanceData, nil)
	t.Run("quota exceeded", func(t *testing.T) {
		r.routed("x-trino-user", "alice", "x-trino-source", "fast")
		_, o := r.submit("SELECT 1", "x-trino-user", "alice", "x-trino-source", "fast")
		if o.Action != Reject || o.Error.Code != trino.ErrQuotaExceeded {
			t.Fatalf("outcome %+v (error %+v); want QUOTA_EXCEEDED", o, o.Error)
		}
		for _, part := range []string{"the rate of workload class fast is 1 queries per minute and 1 were submitted this minute", "resets at"} {
			if !strings.Contains(o.Error.Message, part) {
				t.Errorf("message %q lacks %q", o.Error.Message, part)
			}
		}
		if n := testutil.ToFloat64(r.gov.Metrics().Rejected.WithLabelValues("fast", "rate")); n != 1 {
			t.Errorf("rejected{fast,rate} %v, want 1", n)
		}
	})
	t.Run("queue full", func(t *testing.T) {
		r.routed("x-trino-user", "alice", "x-trino-source", "small")
		if _, o := r.submit("SELECT 1", "x-trino-user", "bob", "x-trino-source", "small"); o.Action != Respond {
			t.Fatalf("second submission %+v (error %+v); want it queued", o, o.Error)
		}
		_, o := r.submit("SELECT 1", "x-trino-user", "carol", "x-trino-source", "small")
		if o.Action != Reject || o.Error.Code != trino.ErrQueryQueueFull || o.Error.Message != "too many queued queries for workload class small (maxQueued 1)" {
			t.Fatalf("outcome %+v (error %+v); want QUERY_QUEUE_FULL naming class small and its maxQueued 1", o, o.Error)
		}
		if n := testutil.ToFloat64(r.gov.Metrics().Rejected.WithLabelValues("small", "queue_full")); n != 1 {
			t.Errorf("rejected{small,queue_full} %v, want 1", n)
		}
	})
}

func TestGovernanceSlotLifecycle(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		headers []string
		after   func(p *Pipeline, s *Submission)
		// kept: the slot outlives the submission, bound to this query.
		kept string
	}{
		{name: "a later stage refuses it", headers: []string{"x-trino-routing-group", "nope"}},
		{name: "abandoned", after: func(p *Pipeline, s *Submission) { p.Abandoned(ctx, s) }},
		{name: "answer without a query ID", after: func(p *Pipeline, s *Submission) {
			p.Submitted(ctx, s, []byte(`{"error":{"message":"boom"}}`))
		}},
		{name: "answer without the gateway prefix", after: func(p *Pipeline, s *Submission) {
			p.Submitted(ctx, s, []byte(`{"id":"q_9","nextUri":"http://gw/v1/statement/queued/q_9/x/1"}`))
		}},
		{name: "submitted", kept: "q_1", after: func(p *Pipeline, s *Submission) {
			p.Submitted(ctx, s, answer("q_1"))
			p.Abandoned(ctx, s) // the stream ends after the answer: the slot is the query's now
		}},
		// The same through the ticket, as the answer observer does it (on
		// any replica: the ticket carries the slot).
		{name: "unanswered, observed", after: func(p *Pipeline, s *Submission) {
			f, _ := p.FollowUp(s)
			p.Unanswered(ctx, viaTicket(t, f), &Request{})
		}},
		{name: "answer without a query ID, observed", after: func(p *Pipeline, s *Submission) {
			f, _ := p.FollowUp(s)
			p.Observed(ctx, viaTicket(t, f), &Request{}, []byte(`{"error":{"message":"boom"}}`))
		}},
		{name: "submitted, observed", kept: "q_1", after: func(p *Pipeline, s *Submission) {
			f, _ := p.FollowUp(s)
			p.Observed(ctx, viaTicket(t, f), &Request{}, answer("q_1"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newGovRig(t, governanceData, nil)
			s, o := r.submit("SELECT 1", append([]string{"x-trino-user", "alice", "x-trino-source", "etl"}, tc.headers...)...)
			if tc.after == nil {
				if o.Action != Reject || o.Error.Code != trino.ErrUnknownRoutingGroup {
					t.Fatalf("outcome %+v (error %+v); want UNKNOWN_ROUTING_GROUP", o, o.Error)
				}
				if n := testutil.ToFloat64(r.gov.Metrics().Admitted.WithLabelValues("etl", "direct")); n != 1 || s.Workload.Slot != "" {
					t.Fatalf("admitted %v, workload %+v; want a slot taken by governance, then given up", n, s.Workload)
				}
			} else {
				if o.Action != Route || len(r.slots()) != 1 {
					t.Fatalf("outcome %+v, slots %+v; want it routed with a slot", o, r.slots())
				}
				tc.after(r.p, s)
			}
			slots := r.slots()
			if tc.kept == "" {
				if len(slots) != 0 {
					t.Fatalf("slots %+v; want the slot released", slots)
				}
				// Alice's next query is admitted at once.
				r.routed("x-trino-user", "alice", "x-trino-source", "etl")
				return
			}
			if len(slots) != 1 || slots[0].QueryID != tc.kept || slots[0].Cluster != "a" || slots[0].Coordinator != "0" {
				t.Fatalf("slots %+v; want the slot bound to %s on a/0", slots, tc.kept)
			}
			if snap := r.snapshot(); snap.RunningByCluster["a"] != 1 {
				t.Errorf("running on a: %d, want 1 (the binding counts the query on its cluster)", snap.RunningByCluster["a"])
			}
		})
	}
}

func TestGovernanceCandidates(t *testing.T) {
	tests := []struct {
		name     string
		clusters string // data.switchyard.governance.clusters
		route    routing.Request
		txn      bool
		want     []string
	}{
		{name: "no caps", clusters: `{}`, want: nil},
		{name: "a cap outside the group", clusters: `{"p": {"maxRunning": 1}}`, want: nil},
		{name: "a zero cap", clusters: `{"a": {"maxRunning": 0}}`, want: nil},
		{name: "a capped cluster in the group: routing's order", clusters: `{"b": {"maxRunning": 1}}`, want: []string{"a", "b"}},
		{name: "a pinned cluster", clusters: `{"b": {"maxRunning": 1}}`, route: routing.Request{Cluster: "b"}, want: []string{"b"}},
		{name: "a transaction's cluster", clusters: `{"p": {"maxRunning": 1}}`, route: routing.Request{Cluster: "q"}, txn: true, want: []string{"q"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := `{"switchyard": {"governance": {"classes": {"etl": {"maxRunning": 5}}, "clusters": ` + tc.clusters + `}}}`
			r := newGovRig(t, data, nil, func(o *Options) { o.Router = routing.New(twoClusterFleet(), healthy{}) })
			s := &Submission{Req: submission("SELECT 1"), Route: tc.route, Transaction: tc.txn}
			got, err := governanceStage{r.p}.candidates(s, r.p.o.Policy.Current().Governance)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("candidates %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestGovernanceClusterCaps(t *testing.T) {
	data := `{"switchyard": {"governance": {"classes": {"etl": {"maxRunning": 5}}, "clusters": {"a": {"maxRunning": 1}, "b": {"maxRunning": 2}}}}}`
	r := newGovRig(t, data, nil, func(o *Options) { o.Router = routing.New(twoClusterFleet(), healthy{}) })
	// Round robin offers a, b, a, b: a takes one query, then the full a
	// is skipped for b, until b is full too.
	for i, want := range []string{"a", "b", "b"} {
		s, o := r.routed("x-trino-user", "alice")
		if o.Target != want || s.Decision.Cluster != want || s.Workload == nil || !s.Workload.Capped || s.Workload.Class != "" {
			t.Fatalf("submission %d: target %q, decision %+v, workload %+v; want %s, capped, no class", i+1, o.Target, s.Decision, s.Workload, want)
		}
	}
	snap := r.snapshot()
	if snap.RunningByCluster["a"] != 1 || snap.RunningByCluster["b"] != 2 || len(snap.Slots) != 3 {
		t.Fatalf("running by cluster %v, %d slots; want a=1 b=2", snap.RunningByCluster, len(snap.Slots))
	}
	for _, sl := range snap.Slots {
		if sl.Class != "" {
			t.Errorf("slot %+v has a class; the query had none", sl)
		}
	}
	// Both full: it waits, and says why.
	_, o := r.submit("SELECT 1", "x-trino-user", "bob", "x-trino-source", "etl")
	if o.Action != Respond || !strings.Contains(string(o.Response.Body), "the clusters it may run on are at their caps of running queries") {
		t.Fatalf("outcome %+v (error %+v); want it queued for the cluster caps", o, o.Error)
	}
}

func TestGovernanceDryRunTakesNoSlot(t *testing.T) {
	r := newGovRig(t, governanceData, nil)
	r.routed("x-trino-user", "alice", "x-trino-source", "etl") // alice is at her limit
	before := r.snapshot()
	res := r.p.DryRun(context.Background(), DryRunRequest{SQL: "SELECT 1", Headers: map[string]string{"X-Trino-User": "alice", "X-Trino-Source": "etl"}})
	if res.Route != "a" || res.Decision.Error != "" || res.Decision.Class != "etl" {
		t.Fatalf("dry run %+v; want it routed to a in class etl (limits are not checked)", res)
	}
	if !slices.Contains(res.Decision.Explanation, "workload class etl: its limits apply (not checked in a dry run)") {
		t.Errorf("explanation %q; want the dry run's note", res.Decision.Explanation)
	}
	after := r.snapshot()
	if len(after.Slots) != len(before.Slots) || len(after.Queue) != 0 {
		t.Fatalf("after the dry run: %d slots (%d before), queue %+v; want nothing taken", len(after.Slots), len(before.Slots), after.Queue)
	}
}

// failingGovernance is a store that cannot be reached.
type failingGovernance struct{ store.Governance }

var errStoreDown = errors.New("dial tcp 10.0.0.9:6379: connection refused")

func (failingGovernance) Admit(context.Context, store.AdmitRequest) (store.Admission, error) {
	return store.Admission{}, errStoreDown
}

func (failingGovernance) Enqueue(context.Context, store.EnqueueRequest) (store.Admission, error) {
	return store.Admission{}, errStoreDown
}

func TestGovernanceStoreFailure(t *testing.T) {
	r := newGovRig(t, governanceData, func(g store.Governance) store.Governance { return failingGovernance{g} })
	_, o := r.submit("SELECT 1", "x-trino-user", "alice", "x-trino-source", "closed")
	if o.Action != Reject || o.Error.Code != trino.ErrGatewayUnavailable || !strings.Contains(o.Error.Message, "onStoreFailure: closed") {
		t.Fatalf("closed class: %+v (error %+v); want GATEWAY_UNAVAILABLE", o, o.Error)
	}
	s, o := r.routed("x-trino-user", "alice", "x-trino-source", "open")
	if o.Target != "a" || s.Workload == nil || s.Workload.Slot != "" {
		t.Fatalf("open class: target %q, workload %+v; want routed to a without a slot", o.Target, s.Workload)
	}
	if !slices.Contains(s.Entry.Explanation, "workload class open: not counted (the shared store failed)") {
		t.Errorf("explanation %q; want the uncounted note", s.Entry.Explanation)
	}
	for _, class := range []string{"closed", "open"} {
		if n := testutil.ToFloat64(r.gov.Metrics().Rejected.WithLabelValues(class, "store")); n != 1 {
			t.Errorf("rejected{%s,store} %v, want 1", class, n)
		}
	}
	// Its answer frees nothing (there is nothing to free).
	r.p.Submitted(context.Background(), s, answer("q_1"))
}

// A cap on some cluster of the fleet must not disturb balancing in a
// group none of whose clusters is capped: round robin still alternates.
func TestGovernanceCapsElsewhereKeepBalancing(t *testing.T) {
	data := `{"switchyard": {"governance": {"classes": {"etl": {"maxRunning": 5}}, "clusters": {"p": {"maxRunning": 1}}}}}`
	r := newGovRig(t, data, nil, func(o *Options) { o.Router = routing.New(twoClusterFleet(), healthy{}) })
	var got []string
	for range 4 {
		_, o := r.routed("x-trino-user", "alice", "x-trino-source", "etl")
		got = append(got, o.Target)
	}
	if want := []string{"a", "b", "a", "b"}; !slices.Equal(got, want) {
		t.Fatalf("round robin in group adhoc sent the queries to %q, want %q", got, want)
	}
}

// A statement of an open transaction runs where its transaction lives,
// whatever the limits: it takes a slot even over the user's limit.
func TestGovernanceTransactionsAreForced(t *testing.T) {
	data := `{"switchyard": {"governance": {"classes": {"etl": {"perUser": {"maxRunning": 1}}}, "clusters": {"b": {"maxRunning": 1}}}}}`
	r := newGovRig(t, data, nil, func(o *Options) { o.Router = routing.New(twoClusterFleet(), healthy{}) })
	if err := r.st.Queries.PutTransaction(context.Background(), "t1", store.QueryRoute{Cluster: "b", Coordinator: "0"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	r.routed("x-trino-user", "alice", "x-trino-source", "etl") // alice's limit; b's cap is not reached
	for i := range 2 {
		s, o := r.routed("x-trino-user", "alice", "x-trino-source", "etl", "x-trino-transaction-id", "t1")
		if o.Target != "b/0" || s.Workload == nil || s.Workload.Slot == "" || s.Workload.Capped {
			t.Fatalf("statement %d of the transaction: target %q, workload %+v; want b/0 with a slot", i+1, o.Target, s.Workload)
		}
	}
	snap := r.snapshot()
	if snap.RunningByUser["etl|alice"] != 3 || snap.RunningByCluster["b"] != 2 {
		t.Fatalf("running by user %v, by cluster %v; want alice's 3 (two forced), 2 on b (over its cap of 1)", snap.RunningByUser, snap.RunningByCluster)
	}
}

// QueuedSubmitted records a query the queue submitted as Submitted does a
// direct one: its owner (with the user) and how to run it again.
func TestGovernanceQueuedSubmittedRecordsTheQuery(t *testing.T) {
	r := newGovRig(t, governanceData, nil, func(o *Options) { o.ReplayMaxBytes = 1024 })
	r.p.o.Replays = r.st.Replays
	headers := []store.Header{{Name: "x-trino-user", Value: "alice"}, {Name: "x-trino-client-tags", Value: "switchyard-class=etl"}}
	tk := &Ticket{ID: "sy_1", SQL: "SELECT 1", Headers: headers, User: "alice", Class: "etl", Scheme: "https", Authority: "gw:8443"}
	b, err := tk.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if tk, err = DecodeTicket(b); err != nil {
		t.Fatal(err)
	}
	r.p.QueuedSubmitted(context.Background(), tk, "adhoc", answer("q_7"))
	r.p.Wait()
	got, err := r.st.Queries.GetQuery(context.Background(), "q_7")
	if err != nil || got != (store.QueryRoute{Cluster: "a", Coordinator: "0", User: "alice"}) {
		t.Fatalf("owner %+v, %v; want a/0 for alice", got, err)
	}
	rp, err := r.st.Replays.GetReplay(context.Background(), "q_7")
	if err != nil || rp.SQL != "SELECT 1" || rp.Group != "adhoc" || rp.User != "alice" || !reflect.DeepEqual(rp.Headers, headers) {
		t.Fatalf("replay %+v, %v; want the ticket's SQL and headers in group adhoc", rp, err)
	}
	if _, err := DecodeTicket([]byte(`{"sql":"SELECT 1"}`)); err == nil {
		t.Error("a ticket without an ID decoded")
	}
}

func TestGovernanceTicketForwardedHeaders(t *testing.T) {
	for _, tc := range []struct {
		t    Ticket
		want []store.Header
	}{
		{Ticket{}, []store.Header{{Name: "x-forwarded-proto", Value: "http"}}},
		{Ticket{Scheme: "https", ForwardedFor: "10.1.2.3"}, []store.Header{{Name: "x-forwarded-proto", Value: "https"}, {Name: "x-forwarded-for", Value: "10.1.2.3"}}},
	} {
		if got := tc.t.ForwardedHeaders(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ticket %+v: forwarded headers %v, want %v", tc.t, got, tc.want)
		}
	}
}
