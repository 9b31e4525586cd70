package extproc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// fakeStream is an in-memory ExternalProcessor_ProcessServer: the test
// plays Envoy, sending one message and reading the answer.
type fakeStream struct {
	grpc.ServerStream
	ctx  context.Context
	in   chan *extprocv3.ProcessingRequest
	out  chan *extprocv3.ProcessingResponse
	done chan error
}

func (f *fakeStream) Context() context.Context { return f.ctx }
func (f *fakeStream) Send(r *extprocv3.ProcessingResponse) error {
	f.out <- r
	return nil
}
func (f *fakeStream) Recv() (*extprocv3.ProcessingRequest, error) {
	r, ok := <-f.in
	if !ok {
		return nil, io.EOF
	}
	return r, nil
}
func (f *fakeStream) SetHeader(metadata.MD) error  { return nil }
func (f *fakeStream) SendHeader(metadata.MD) error { return nil }
func (f *fakeStream) SetTrailer(metadata.MD)       {}

// exchange sends one message and returns the processor's single answer.
func (f *fakeStream) exchange(t *testing.T, r *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
	t.Helper()
	return f.exchangeN(t, r, 1)[0]
}

// exchangeN sends one message and reads n answers (0: the message is
// answered later, together with another one).
func (f *fakeStream) exchangeN(t *testing.T, r *extprocv3.ProcessingRequest, n int) []*extprocv3.ProcessingResponse {
	t.Helper()
	if r != nil {
		f.in <- r
	}
	var out []*extprocv3.ProcessingResponse
	for len(out) < n {
		select {
		case resp := <-f.out:
			out = append(out, resp)
		case err := <-f.done:
			t.Fatalf("stream ended: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d answers within 5s", len(out), n)
		}
	}
	return out
}

type fakeHealth map[string]health.State

func (h fakeHealth) State(k string) health.State { return h[k] }
func (h fakeHealth) Status(k string) (health.Status, bool) {
	st, ok := h[k]
	return health.Status{State: st}, ok
}

// brokenStore fails every call.
type brokenStore struct{ store.Queries }

func (brokenStore) GetQuery(context.Context, string) (store.QueryRoute, error) {
	return store.QueryRoute{}, errors.New("connection refused")
}

func (brokenStore) PutQuery(context.Context, string, store.QueryRoute, time.Duration) error {
	return errors.New("connection refused")
}

func testFleet() *fleet.Fleet {
	co := func(ip string) []fleet.Coordinator {
		return []fleet.Coordinator{{Name: "0", Scheme: "http", Host: ip, Port: 8080}}
	}
	return &fleet.Fleet{
		DefaultGroup: "adhoc",
		Groups:       []fleet.Group{{Name: "adhoc"}, {Name: "etl"}},
		Clusters: []fleet.Cluster{
			{Name: "a", Group: "adhoc", State: fleet.Active, Coordinators: co("10.0.0.1")},
			{Name: "b", Group: "adhoc", State: fleet.Active, Coordinators: co("10.0.0.2")},
			{Name: "dead", Group: "etl", State: fleet.Active, Coordinators: co("10.0.0.3")},
		},
	}
}

type harness struct {
	srv   *Server
	pipe  *admission.Pipeline
	opts  admission.Options
	store store.Queries
}

// newHarness serves the test fleet from st (nil: a memory store); with
// options changed by each of with.
func newHarness(st store.Queries, with ...func(*admission.Options)) *harness {
	if st == nil {
		st = store.NewMemory().Queries
	}
	h := fakeHealth{"a/0": health.Healthy, "b/0": health.Healthy, "dead/0": health.Unhealthy}
	o := admission.Options{Router: routing.New(testFleet(), h), Queries: st, QueryTTL: time.Hour, StoreTimeout: time.Second}
	for _, w := range with {
		w(&o)
	}
	pipe := admission.New(o)
	return &harness{store: st, pipe: pipe, opts: o, srv: New(Options{Pipeline: pipe, MaxBodyBytes: 100})}
}

func (h *harness) open(t *testing.T) *fakeStream {
	t.Helper()
	f := &fakeStream{ctx: context.Background(), in: make(chan *extprocv3.ProcessingRequest), out: make(chan *extprocv3.ProcessingResponse), done: make(chan error, 1)}
	go func() { f.done <- h.srv.Process(f) }()
	t.Cleanup(func() {
		close(f.in)
		if err := <-f.done; err != nil {
			t.Errorf("Process returned %v", err)
		}
	})
	return f
}

func headers(method, path string, endOfStream bool, extra ...string) *extprocv3.ProcessingRequest {
	hs := []*corev3.HeaderValue{
		{Key: ":method", RawValue: []byte(method)}, {Key: ":path", RawValue: []byte(path)},
		{Key: ":scheme", RawValue: []byte("http")}, {Key: ":authority", RawValue: []byte("gw:8080")},
		{Key: "x-trino-user", RawValue: []byte("alice")},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		hs = append(hs, &corev3.HeaderValue{Key: extra[i], RawValue: []byte(extra[i+1])})
	}
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{
		Headers: &corev3.HeaderMap{Headers: hs}, EndOfStream: endOfStream,
	}}}
}

func chunk(b string, last bool) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{Body: []byte(b), EndOfStream: last}}}
}

// submit plays a submission: headers (not answered at once), then the SQL
// in the given chunks. It returns the answers to the last chunk: the
// decision (an answer to the headers, or a rejection) and, when routed, one
// answer per chunk.
func submit(t *testing.T, f *fakeStream, extra []string, chunks ...string) []*extprocv3.ProcessingResponse {
	t.Helper()
	f.exchangeN(t, headers("POST", "/v1/statement", false, extra...), 0)
	for _, c := range chunks[:len(chunks)-1] {
		f.exchangeN(t, chunk(c, false), 0)
	}
	out := f.exchangeN(t, chunk(chunks[len(chunks)-1], true), 1)
	if out[0].GetImmediateResponse() != nil {
		return out
	}
	return append(out, f.exchangeN(t, nil, len(chunks))...)
}

// observe plays Envoy's answer observer for a decided submission: the
// request headers as the decision changed them (with its ticket), the SQL,
// then the coordinator's answer ("": none came). It returns once the
// stream is over, so the follow-up is done; the observer never answers.
func (h *harness) observe(t *testing.T, decision *extprocv3.ProcessingResponse, sql, answer string, extra ...string) {
	t.Helper()
	hs := headers("POST", "/v1/statement", false, extra...)
	mutate(hs.GetRequestHeaders(), decision.GetRequestHeaders().GetResponse().GetHeaderMutation())
	h.observeRaw(t, hs, chunk(sql, true), answer)
}

// observeRaw sends the given request messages, then the answer, on an
// observer's stream, and waits for the follow-up it started (which goes on
// in the background once the stream closed).
func (h *harness) observeRaw(t *testing.T, hs, body *extprocv3.ProcessingRequest, answer string) {
	t.Helper()
	f := &fakeStream{ctx: observerCtx(), in: make(chan *extprocv3.ProcessingRequest, 4), out: make(chan *extprocv3.ProcessingResponse, 4), done: make(chan error, 1)}
	go func() { f.done <- h.srv.Process(f) }()
	f.in <- hs
	if body != nil {
		f.in <- body
	}
	if answer != "" {
		f.in <- responseBody(answer)
	}
	close(f.in)
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatalf("observer stream: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("observer stream still open 5s after its last message")
	}
	if len(f.out) > 0 {
		t.Fatalf("the observer answered %v: Envoy ignores observers' answers", <-f.out)
	}
	h.pipe.Wait()
}

// mutate applies a header mutation as Envoy does before the next filter.
func mutate(h *extprocv3.HttpHeaders, mut *extprocv3.HeaderMutation) {
	var kept []*corev3.HeaderValue
	for _, hv := range h.GetHeaders().GetHeaders() {
		drop := slices.Contains(mut.GetRemoveHeaders(), hv.GetKey())
		for _, set := range mut.GetSetHeaders() {
			drop = drop || set.GetHeader().GetKey() == hv.GetKey()
		}
		if !drop {
			kept = append(kept, hv)
		}
	}
	for _, set := range mut.GetSetHeaders() {
		kept = append(kept, set.GetHeader())
	}
	h.Headers.Headers = kept
}

// ticketOf is the ticket a decision hands the observer ("" when none).
func ticketOf(r *extprocv3.ProcessingResponse) string {
	for _, h := range r.GetRequestHeaders().GetResponse().GetHeaderMutation().GetSetHeaders() {
		if h.GetHeader().GetKey() == xds.TicketHeader {
			return headerValue(h.GetHeader())
		}
	}
	return ""
}

func responseBody(b string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: &extprocv3.HttpBody{Body: []byte(b), EndOfStream: true}}}
}

// routeHeader returns the gateway route header a response sets, and
// whether it asked Envoy to recompute the route.
func routeHeader(r *extprocv3.ProcessingResponse) (string, bool) {
	var common *extprocv3.CommonResponse
	switch x := r.Response.(type) {
	case *extprocv3.ProcessingResponse_RequestHeaders:
		common = x.RequestHeaders.GetResponse()
	case *extprocv3.ProcessingResponse_RequestBody:
		common = x.RequestBody.GetResponse()
	}
	for _, h := range common.GetHeaderMutation().GetSetHeaders() {
		if h.GetHeader().GetKey() == xds.RouteHeader {
			return string(h.GetHeader().GetRawValue()), common.GetClearRouteCache()
		}
	}
	return "", common.GetClearRouteCache()
}

type rejection struct {
	status int
	doc    struct {
		ID    string `json:"id"`
		Stats struct {
			State string `json:"state"`
		} `json:"stats"`
		Error struct {
			Message   string `json:"message"`
			ErrorName string `json:"errorName"`
		} `json:"error"`
	}
}

func rejected(t *testing.T, r *extprocv3.ProcessingResponse) rejection {
	t.Helper()
	im := r.GetImmediateResponse()
	if im == nil {
		t.Fatalf("want an immediate response, got %v", r)
	}
	var out rejection
	out.status = int(im.GetStatus().GetCode())
	if err := json.Unmarshal(im.GetBody(), &out.doc); err != nil {
		t.Fatalf("body is not JSON: %s", im.GetBody())
	}
	ct := ""
	for _, h := range im.GetHeaders().GetSetHeaders() {
		if h.GetHeader().GetKey() == "content-type" {
			ct = string(h.GetHeader().GetRawValue())
		}
	}
	if ct != "application/json" {
		t.Errorf("content-type %q", ct)
	}
	return out
}

const firstResults = `{"id":"20260101_000000_00001_abcde","infoUri":"http://gw:8080/_sy/%s/0/ui/query.html?20260101_000000_00001_abcde",` +
	`"nextUri":"http://gw:8080/_sy/%s/0/v1/statement/queued/20260101_000000_00001_abcde/y1/1","stats":{"state":"QUEUED"}}`

func TestSubmissionIsRoutedAndRecorded(t *testing.T) {
	h := newHarness(nil)
	f := h.open(t)
	rs := submit(t, f, nil, "SELECT ", "1")
	if len(rs) != 3 || rs[0].GetRequestHeaders() == nil || rs[1].GetRequestBody() == nil || rs[2].GetRequestBody() == nil {
		t.Fatalf("want the headers answer then one answer per chunk, got %v", rs)
	}
	if rm := rs[0].GetRequestHeaders().GetResponse().GetHeaderMutation().GetRemoveHeaders(); len(rm) != 1 || rm[0] != "accept-encoding" {
		t.Errorf("accept-encoding not removed: %v", rm)
	}
	cluster, clear := routeHeader(rs[0])
	if cluster != "a" && cluster != "b" || !clear {
		t.Fatalf("route %q clear=%v", cluster, clear)
	}
	if _, err := h.store.GetQuery(context.Background(), "20260101_000000_00001_abcde"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("recorded before the answer: %v", err)
	}
	if ticketOf(rs[0]) == "" {
		t.Fatal("a routed submission's answer carries no ticket for the observer")
	}
	h.observe(t, rs[0], "SELECT 1", strings.ReplaceAll(firstResults, "%s", cluster))
	got, err := h.store.GetQuery(context.Background(), "20260101_000000_00001_abcde")
	if err != nil || got != (store.QueryRoute{Cluster: cluster, Coordinator: "0", User: "alice"}) {
		t.Fatalf("recorded %+v, %v", got, err)
	}
}

func TestSubmissionWithoutBodyIsDecidedAtHeaders(t *testing.T) {
	f := newHarness(nil).open(t)
	if c, clear := routeHeader(f.exchange(t, headers("POST", "/v1/statement", true))); c == "" || !clear {
		t.Fatalf("route %q clear=%v", c, clear)
	}
}

func TestRoundRobinAlternates(t *testing.T) {
	h := newHarness(nil)
	seen := map[string]int{}
	for range 6 {
		c, _ := routeHeader(submit(t, h.open(t), nil, "SELECT 1")[0])
		seen[c]++
	}
	if seen["a"] != 3 || seen["b"] != 3 {
		t.Fatalf("distribution %v, want 3/3", seen)
	}
}

func TestSubmissionRejections(t *testing.T) {
	tests := []struct {
		name, group, sql, errorName, message string
	}{
		{"unknown group", "nope", "SELECT 1", "UNKNOWN_ROUTING_GROUP", `unknown routing group "nope"`},
		{"no cluster up", "etl", "SELECT 1", "NO_CLUSTER_AVAILABLE", "no cluster available in group etl"},
		{"body over the limit", "", strings.Repeat("x", 101), "QUERY_TEXT_TOO_LARGE", "exceeds the gateway limit of 100 bytes"},
		{"body over the limit in the second chunk", "", strings.Repeat("x", 60) + "|" + strings.Repeat("y", 60), "QUERY_TEXT_TOO_LARGE", "exceeds the gateway limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newHarness(nil).open(t)
			var extra []string
			if tt.group != "" {
				extra = []string{"x-trino-routing-group", tt.group}
			}
			chunks := strings.Split(tt.sql, "|")
			var rj rejection
			if len(chunks) == 2 { // rejected as soon as the limit is crossed
				f.exchangeN(t, headers("POST", "/v1/statement", false, extra...), 0)
				f.exchangeN(t, chunk(chunks[0], false), 0)
				rj = rejected(t, f.exchange(t, chunk(chunks[1], false)))
			} else {
				rj = rejected(t, submit(t, f, extra, chunks...)[0])
			}
			if rj.status != 200 || rj.doc.Stats.State != "FAILED" || !strings.HasPrefix(rj.doc.ID, "sy_") {
				t.Errorf("status %d doc %+v: want a FAILED QueryResults with HTTP 200", rj.status, rj.doc)
			}
			if rj.doc.Error.ErrorName != tt.errorName || !strings.Contains(rj.doc.Error.Message, tt.message) {
				t.Errorf("error %s %q", rj.doc.Error.ErrorName, rj.doc.Error.Message)
			}
		})
	}
}

func TestFollowUps(t *testing.T) {
	const id = "20260101_000000_00001_abcde"
	h := newHarness(nil)
	if err := h.store.PutQuery(context.Background(), id, store.QueryRoute{Cluster: "b", Coordinator: "0"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"/v1/statement/executing/" + id + "/y1/3", "/v1/statement/queued/" + id + "/y1/1",
		"/v1/statement/executing/partialCancel/" + id + "/1/y1/3", "/v1/query/" + id, "/ui/api/query/" + id, "/ui/query.html?" + id,
	} {
		f := h.open(t)
		if c, clear := routeHeader(f.exchange(t, headers("GET", path, true))); c != "b/0" || !clear {
			t.Errorf("%s: route %q clear=%v, want b/0", path, c, clear)
		}
	}
}

func TestFollowUpErrors(t *testing.T) {
	tests := []struct {
		name, method, path string
		st                 store.Queries
		status             int
		errorName, message string
	}{
		{"unknown on nextUri", "GET", "/v1/statement/executing/20260101_000000_00009_zzzzz/y/1", nil, 200, "QUERY_NOT_FOUND", "is not known to the gateway"},
		{"unknown on REST", "GET", "/v1/query/20260101_000000_00009_zzzzz", nil, 404, "QUERY_NOT_FOUND", "is not known to the gateway"},
		{"unknown on cancel", "DELETE", "/v1/statement/executing/20260101_000000_00009_zzzzz/y/1", nil, 404, "QUERY_NOT_FOUND", "is not known"},
		{"malformed on nextUri", "GET", "/v1/statement/executing/X!/y/1", nil, 200, "MALFORMED_QUERY_ID", `malformed query ID "X!"`},
		{"malformed on REST", "GET", "/v1/query/X!", nil, 404, "MALFORMED_QUERY_ID", "malformed query ID"},
		{"store down", "GET", "/v1/statement/executing/20260101_000000_00009_zzzzz/y/1", brokenStore{store.NewMemory().Queries}, 200, "GATEWAY_INTERNAL_ERROR", "shared store unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newHarness(tt.st).open(t)
			rj := rejected(t, f.exchange(t, headers(tt.method, tt.path, true)))
			if rj.status != tt.status || rj.doc.Error.ErrorName != tt.errorName || !strings.Contains(rj.doc.Error.Message, tt.message) {
				t.Fatalf("status %d error %s %q", rj.status, rj.doc.Error.ErrorName, rj.doc.Error.Message)
			}
		})
	}
}

func TestPrefixedPathsPassThrough(t *testing.T) {
	f := newHarness(nil).open(t)
	r := f.exchange(t, headers("GET", "/_sy/a/0/ui/query.html?x", true))
	if c, clear := routeHeader(r); c != "" || clear || r.GetRequestHeaders() == nil {
		t.Fatalf("prefixed path was re-routed: %v", r)
	}
}

func TestOtherPathsGoToTheDefaultGroup(t *testing.T) {
	f := newHarness(nil).open(t)
	if c, _ := routeHeader(f.exchange(t, headers("GET", "/v1/info", true))); c != "a" && c != "b" {
		t.Fatalf("route %q", c)
	}
}

func TestGatewayErrorAnswerIsNotRecorded(t *testing.T) {
	h := newHarness(nil)
	f := h.open(t)
	rs := submit(t, f, nil, "SELECT 1")
	h.observe(t, rs[0], "SELECT 1", `{"id":"switchyard_gateway_error","infoUri":"/ui/","stats":{"state":"FAILED"}}`)
	if _, err := h.store.GetQuery(context.Background(), "switchyard_gateway_error"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a gateway error document was recorded as a query: %v", err)
	}
}

// When the store cannot record a query's owner, the client's answer goes
// on untouched (the observer never answers; the client follows prefixed
// URIs, which need no store); only unprefixed lookups of that query miss.
func TestRecordingTheOwnerFailsOpen(t *testing.T) {
	h := newHarness(brokenStore{store.NewMemory().Queries})
	f := h.open(t)
	rs := submit(t, f, nil, "SELECT 1")
	cluster, _ := routeHeader(rs[0])
	h.observe(t, rs[0], "SELECT 1", strings.ReplaceAll(firstResults, "%s", cluster))
}

// The decision is counted once per stream, with the time of every message
// up to it (headers and all body chunks), not once per message, and the
// observer's stream is not a request of its own.
func TestDecisionIsCountedOncePerStream(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	h := newHarness(nil)
	h.srv = New(Options{Pipeline: h.pipe, MaxBodyBytes: 100, Metrics: m})
	f := h.open(t)
	rs := submit(t, f, nil, "SELECT ", "1", " + 1")
	cluster, _ := routeHeader(rs[0])
	h.observe(t, rs[0], "SELECT 1 + 1", strings.ReplaceAll(firstResults, "%s", cluster))
	if n := testutil.ToFloat64(m.Requests.WithLabelValues("submit", "routed")); n != 1 {
		t.Fatalf("submit/routed counted %v times, want 1", n)
	}
	if n := testutil.CollectAndCount(m.Latency); n != 1 {
		t.Fatalf("%d latency series, want 1", n)
	}
	var dm dto.Metric
	if err := m.Latency.WithLabelValues("submit").(prometheus.Histogram).Write(&dm); err != nil {
		t.Fatal(err)
	}
	if c := dm.GetHistogram().GetSampleCount(); c != 1 {
		t.Fatalf("decision latency observed %d times, want 1", c)
	}
}

// An outcome the gateway answers itself (a queued query's QueryResults,
// later) becomes an immediate response with its status and body.
func TestRespondIsAnImmediateResponse(t *testing.T) {
	o := admission.Outcome{Action: admission.Respond, Response: &admission.Response{Status: 200, ContentType: "application/json", Body: []byte(`{"id":"q"}`)}}
	r := answer(&admission.Request{}, o, nil).GetImmediateResponse()
	if r == nil || r.GetStatus().GetCode() != 200 || string(r.GetBody()) != `{"id":"q"}` ||
		string(r.GetHeaders().GetSetHeaders()[0].GetHeader().GetRawValue()) != "application/json" {
		t.Fatalf("%v", r)
	}
}
