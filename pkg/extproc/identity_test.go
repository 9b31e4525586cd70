package extproc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/switchyard-gw/switchyard/pkg/fleetqueries"
	"github.com/switchyard-gw/switchyard/pkg/identity"
	"github.com/switchyard-gw/switchyard/pkg/passwordfile"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// testPasswordFile is a Trino password file (bcrypt at the lowest cost
// Trino accepts) for alice, bob and svc, built once.
var testPasswordFile = sync.OnceValues(func() (*passwordfile.Authenticator, error) {
	var lines []string
	for _, up := range [][2]string{{"alice", "alice-pw"}, {"bob", "bob-pw"}, {"svc", "svc-pw"}} {
		h, err := bcrypt.GenerateFromPassword([]byte(up[1]), passwordfile.MinBcryptCost)
		if err != nil {
			return nil, err
		}
		lines = append(lines, up[0]+":"+string(h))
	}
	f, err := passwordfile.Parse(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		return nil, err
	}
	return passwordfile.NewAuthenticator(f, 0), nil
})

// impersonations allows the "principal>user" pairs it holds; err fails
// every question.
type impersonations struct {
	allowed map[string]bool
	err     error
}

func (i impersonations) MayImpersonate(_ context.Context, principal, user, _ string) (bool, string, error) {
	if i.err != nil {
		return false, "", i.err
	}
	return i.allowed[principal+">"+user], "not an allowed pair", nil
}

// verifier checks passwords from testPasswordFile and bearer tokens; svc
// may run as alice.
func verifier(t *testing.T, with ...func(*identity.Options)) *identity.Verifier {
	t.Helper()
	pw, err := testPasswordFile()
	if err != nil {
		t.Fatal(err)
	}
	o := identity.Options{Passwords: pw, JWT: true, Impersonation: impersonations{allowed: map[string]bool{"svc>alice": true}}}
	for _, w := range with {
		w(&o)
	}
	return identity.New(o)
}

// identityHarness is the test fleet served with authentication.
func identityHarness(t *testing.T, st store.Queries, o Options) *harness {
	t.Helper()
	h := newHarness(st)
	o.Pipeline, o.MaxBodyBytes = h.pipe, 100
	if o.Identity == nil {
		o.Identity = verifier(t)
	}
	h.srv = New(o)
	return h
}

func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// authReq is a request-headers message with exactly the headers given
// (besides the pseudo-headers).
func authReq(method, path string, endOfStream bool, kv ...string) *extprocv3.ProcessingRequest {
	hs := []*corev3.HeaderValue{
		{Key: ":method", RawValue: []byte(method)}, {Key: ":path", RawValue: []byte(path)},
		{Key: ":scheme", RawValue: []byte("http")}, {Key: ":authority", RawValue: []byte("gw:8080")},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
	}
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{
		Headers: &corev3.HeaderMap{Headers: hs}, EndOfStream: endOfStream,
	}}}
}

// withJWT adds jwt_authn's verdict (its metadata namespace) to a message.
func withJWT(t *testing.T, r *extprocv3.ProcessingRequest, ns map[string]any) *extprocv3.ProcessingRequest {
	t.Helper()
	s, err := structpb.NewStruct(ns)
	if err != nil {
		t.Fatal(err)
	}
	r.MetadataContext = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{identity.JWTNamespace: s}}
	return r
}

// httpError is an immediate response with a JSON Trino error (not a
// QueryResults).
type httpError struct {
	status     int
	errorName  string
	message    string
	challenges []string
	appends    []corev3.HeaderValueOption_HeaderAppendAction
	details    string
}

func immediateError(t *testing.T, r *extprocv3.ProcessingResponse) httpError {
	t.Helper()
	im := r.GetImmediateResponse()
	if im == nil {
		t.Fatalf("want an immediate response, got %v", r)
	}
	var doc struct {
		ID    *string `json:"id"`
		Error struct {
			Message   string `json:"message"`
			ErrorName string `json:"errorName"`
		} `json:"error"`
	}
	if err := json.Unmarshal(im.GetBody(), &doc); err != nil {
		t.Fatalf("body is not JSON: %s", im.GetBody())
	}
	if doc.ID != nil {
		t.Fatalf("want a JSON error, got a QueryResults: %s", im.GetBody())
	}
	e := httpError{status: int(im.GetStatus().GetCode()), errorName: doc.Error.ErrorName, message: doc.Error.Message, details: im.GetDetails()}
	ct := ""
	for _, h := range im.GetHeaders().GetSetHeaders() {
		switch h.GetHeader().GetKey() {
		case "content-type":
			ct = string(h.GetHeader().GetRawValue())
		case "www-authenticate":
			e.challenges = append(e.challenges, string(h.GetHeader().GetRawValue()))
			e.appends = append(e.appends, h.GetAppendAction())
		}
	}
	if ct != "application/json" {
		t.Errorf("content-type %q, want application/json", ct)
	}
	return e
}

// mutation is what an answer to request headers does to the request.
func mutation(t *testing.T, r *extprocv3.ProcessingResponse) (set map[string]string, removed []string) {
	t.Helper()
	hr := r.GetRequestHeaders()
	if hr == nil {
		t.Fatalf("want an answer to the request headers, got %v", r)
	}
	set = map[string]string{}
	for _, h := range hr.GetResponse().GetHeaderMutation().GetSetHeaders() {
		set[h.GetHeader().GetKey()] = string(h.GetHeader().GetRawValue())
	}
	return set, hr.GetResponse().GetHeaderMutation().GetRemoveHeaders()
}

var https = []string{"x-forwarded-proto", "https"}

func TestAuthenticationRefusals(t *testing.T) {
	const (
		basicCh  = `Basic realm="Trino"`
		bearerCh = `Bearer realm="Trino"`
	)
	expired := map[string]any{identity.JWTFailureKey: map[string]any{"code": 16, "message": "Jwt is expired"}}
	tests := []struct {
		name         string
		method, path string
		eos          bool
		kv           []string
		jwt          map[string]any
		status       int
		errorName    string
		message      string
		challenges   []string
	}{
		{"no credentials", "GET", "/v1/info", true, https, nil, 401, "AUTHENTICATION_FAILED",
			"Authentication required: send a user name and password (Basic) or a bearer token", []string{basicCh, bearerCh}},
		{"no credentials but a user", "GET", "/v1/info", true, append([]string{"x-trino-user", "alice"}, https...), nil, 401, "AUTHENTICATION_FAILED",
			"Authentication required", []string{basicCh, bearerCh}},
		{"no credentials on a follow-up", "GET", "/v1/statement/executing/20260101_000000_00001_abcde/y1/1", true, https, nil, 401, "AUTHENTICATION_FAILED",
			"Authentication required", []string{basicCh, bearerCh}},
		// A submission without credentials is refused at its headers, as a
		// 401 the client can answer with credentials, not a FAILED query.
		{"no credentials on a submission", "POST", "/v1/statement", false, https, nil, 401, "AUTHENTICATION_FAILED",
			"Authentication required", []string{basicCh, bearerCh}},
		{"wrong password", "GET", "/v1/info", true, append([]string{"authorization", basicAuth("alice", "bob-pw")}, https...), nil, 401, "AUTHENTICATION_FAILED",
			"Access Denied: Invalid credentials", []string{basicCh, bearerCh}},
		{"wrong password on a submission", "POST", "/v1/statement", false, append([]string{"authorization", basicAuth("alice", "nope")}, https...), nil, 401, "AUTHENTICATION_FAILED",
			"Access Denied: Invalid credentials", []string{basicCh, bearerCh}},
		{"expired token", "GET", "/v1/info", true, append([]string{"authorization", "Bearer x.y.z"}, https...), expired, 401, "AUTHENTICATION_FAILED",
			"Invalid token: Jwt is expired", []string{basicCh, bearerCh}},
		{"plain HTTP without credentials", "GET", "/v1/info", true, []string{"x-trino-user", "alice"}, nil, 401, "AUTHENTICATION_FAILED",
			"Authentication required: this gateway verifies users over HTTPS only", []string{basicCh, bearerCh}},
		{"credentials over plain HTTP", "GET", "/v1/info", true, []string{"authorization", basicAuth("alice", "alice-pw"), "x-forwarded-proto", "http"}, nil, 403, "INSECURE_CREDENTIALS",
			"Authentication over HTTP is not allowed", nil},
		{"impersonation outside a submission", "GET", "/v1/info", true, append([]string{"authorization", basicAuth("alice", "alice-pw"), "x-trino-user", "bob"}, https...), nil, 403, "PERMISSION_DENIED",
			"Access Denied: User alice cannot impersonate user bob: not an allowed pair", nil},
		{"impersonation with GET on the statement path", "GET", "/v1/statement", true, append([]string{"authorization", basicAuth("alice", "alice-pw"), "x-trino-user", "bob"}, https...), nil, 403, "PERMISSION_DENIED",
			"Access Denied: User alice cannot impersonate user bob", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics(prometheus.NewRegistry())
			h := identityHarness(t, nil, Options{Metrics: m})
			f := h.open(t)
			req := authReq(tt.method, tt.path, tt.eos, tt.kv...)
			if tt.jwt != nil {
				req = withJWT(t, req, tt.jwt)
			}
			e := immediateError(t, f.exchange(t, req))
			if e.status != tt.status || e.errorName != tt.errorName || !strings.HasPrefix(e.message, tt.message) {
				t.Errorf("HTTP %d %s %q, want %d %s %q", e.status, e.errorName, e.message, tt.status, tt.errorName, tt.message)
			}
			if !reflect.DeepEqual(e.challenges, tt.challenges) {
				t.Errorf("www-authenticate %q, want %q", e.challenges, tt.challenges)
			}
			// Both challenges reach the client: the second one is added,
			// not written over the first.
			if len(e.appends) == 2 && e.appends[1] != corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD {
				t.Errorf("the second www-authenticate has the action %v", e.appends[1])
			}
			if want := "switchyard_" + strings.ToLower(tt.errorName); e.details != want {
				t.Errorf("details %q, want %q", e.details, want)
			}
			var kinds []string
			for _, k := range []string{"other", "submit", "executing"} {
				if testutil.ToFloat64(m.Requests.WithLabelValues(k, "unauthenticated")) == 1 {
					kinds = append(kinds, k)
				}
			}
			if len(kinds) != 1 {
				t.Errorf("counted as unauthenticated under %q, want once", kinds)
			}
		})
	}
}

// A submission refused after verification (a user its principal may not
// run as, credentials over plain HTTP) is a FAILED QueryResults with HTTP
// 200: what every Trino client prints.
func TestSubmissionRefusedAfterVerification(t *testing.T) {
	tests := []struct {
		name, errorName, message string
		kv                       []string
		jwt                      map[string]any
	}{
		{"may not impersonate", "PERMISSION_DENIED", "Access Denied: User alice cannot impersonate user bob: not an allowed pair",
			append([]string{"authorization", basicAuth("alice", "alice-pw"), "x-trino-user", "bob"}, https...), nil},
		{"token may not impersonate", "PERMISSION_DENIED", "Access Denied: User carol cannot impersonate user bob",
			append([]string{"authorization", "Bearer t", "x-trino-user", "bob"}, https...), map[string]any{identity.JWTPayloadKey: map[string]any{"sub": "carol"}}},
		{"credentials over plain HTTP", "INSECURE_CREDENTIALS", "Authentication over HTTP is not allowed",
			[]string{"authorization", basicAuth("alice", "alice-pw"), "x-trino-user", "alice"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := identityHarness(t, nil, Options{ForwardUser: true})
			f := h.open(t)
			req := authReq("POST", "/v1/statement", false, tt.kv...)
			if tt.jwt != nil {
				req = withJWT(t, req, tt.jwt)
			}
			r := f.exchange(t, req)
			rj := rejected(t, r)
			if rj.status != 200 || rj.doc.Stats.State != "FAILED" || !strings.HasPrefix(rj.doc.ID, "sy_") {
				t.Errorf("HTTP %d doc %+v: want a FAILED QueryResults with HTTP 200", rj.status, rj.doc)
			}
			if rj.doc.Error.ErrorName != tt.errorName || !strings.HasPrefix(rj.doc.Error.Message, tt.message) {
				t.Errorf("error %s %q, want %s %q", rj.doc.Error.ErrorName, rj.doc.Error.Message, tt.errorName, tt.message)
			}
			for _, hv := range r.GetImmediateResponse().GetHeaders().GetSetHeaders() {
				if hv.GetHeader().GetKey() == "www-authenticate" {
					t.Errorf("a 403 carries a challenge: %s", hv.GetHeader().GetRawValue())
				}
			}
		})
	}
}

// A failing impersonation policy is a 500 POLICY_ERROR, never an allow.
func TestImpersonationPolicyFailure(t *testing.T) {
	v := verifier(t, func(o *identity.Options) { o.Impersonation = impersonations{err: errors.New("undefined decision")} })
	for _, tc := range []struct {
		method, path string
	}{{"GET", "/v1/info"}, {"POST", "/v1/statement"}} {
		f := identityHarness(t, nil, Options{Identity: v, ForwardUser: true}).open(t)
		e := immediateError(t, f.exchange(t, authReq(tc.method, tc.path, tc.method == "GET",
			append([]string{"authorization", basicAuth("svc", "svc-pw"), "x-trino-user", "alice"}, https...)...)))
		if e.status != 500 || e.errorName != "POLICY_ERROR" || e.message != "the impersonation policy failed for user svc: undefined decision" || len(e.challenges) != 0 {
			t.Errorf("%s %s: %+v", tc.method, tc.path, e)
		}
	}
}

// With ForwardUser the cluster receives the verified user, not the
// client's credentials; without it the request goes on as sent.
func TestForwardUser(t *testing.T) {
	carol := map[string]any{identity.JWTPayloadKey: map[string]any{"sub": "carol", "iss": "idp"}}
	tests := []struct {
		name         string
		forward      bool
		method, path string
		kv           []string
		jwt          map[string]any
		user         string // x-trino-user set ("": not set)
		routed       bool   // the answer carries a route header
	}{
		{"password", true, "GET", "/v1/info", append([]string{"authorization", basicAuth("alice", "alice-pw")}, https...), nil, "alice", true},
		{"password, the same user sent", true, "GET", "/v1/info", append([]string{"authorization", basicAuth("bob", "bob-pw"), "x-trino-user", "bob"}, https...), nil, "bob", true},
		{"impersonation allowed", true, "GET", "/v1/info", append([]string{"authorization", basicAuth("svc", "svc-pw"), "x-trino-user", "alice"}, https...), nil, "alice", true},
		{"token", true, "GET", "/v1/info", append([]string{"authorization", "Bearer t"}, https...), carol, "carol", true},
		// jwt_authn writes "Jwt is missing" for every request without a
		// token: a password still verifies.
		{"password with jwt_authn's missing-token verdict", true, "GET", "/v1/info", append([]string{"authorization", basicAuth("bob", "bob-pw")}, https...),
			map[string]any{identity.JWTFailureKey: map[string]any{"code": 16, "message": "Jwt is missing"}}, "bob", true},
		{"prefixed UI page", true, "GET", "/_sy/a/0/ui/query.html?x", append([]string{"authorization", basicAuth("alice", "alice-pw")}, https...), nil, "alice", false},
		{"without forwarding", false, "GET", "/v1/info", append([]string{"authorization", basicAuth("alice", "alice-pw")}, https...), nil, "", true},
		{"without forwarding, impersonation", false, "GET", "/v1/info", append([]string{"authorization", basicAuth("svc", "svc-pw"), "x-trino-user", "alice"}, https...), nil, "", true},
		{"without forwarding, prefixed UI page", false, "GET", "/_sy/a/0/ui/query.html?x", append([]string{"authorization", basicAuth("alice", "alice-pw")}, https...), nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := identityHarness(t, nil, Options{ForwardUser: tt.forward}).open(t)
			req := authReq(tt.method, tt.path, true, tt.kv...)
			if tt.jwt != nil {
				req = withJWT(t, req, tt.jwt)
			}
			r := f.exchange(t, req)
			set, removed := mutation(t, r)
			if got, ok := set["x-trino-user"]; tt.user != "" && got != tt.user || tt.user == "" && ok {
				t.Errorf("x-trino-user set to %q (%v), want %q", got, ok, tt.user)
			}
			if got := slices.Contains(removed, "authorization"); got != tt.forward {
				t.Errorf("authorization removed: %v, want %v (removed %q)", got, tt.forward, removed)
			}
			if c, _ := routeHeader(r); (c == "a" || c == "b") != tt.routed {
				t.Errorf("route %q, want routed: %v", c, tt.routed)
			}
		})
	}
}

// Without a verifier nothing is forwarded, whatever ForwardUser says:
// there is no verified user to forward.
func TestForwardUserWithoutVerification(t *testing.T) {
	for _, v := range []*identity.Verifier{nil, identity.New(identity.Options{PassThrough: true})} {
		h := newHarness(nil)
		h.srv = New(Options{Pipeline: h.pipe, MaxBodyBytes: 100, Identity: v, ForwardUser: true})
		r := h.open(t).exchange(t, headers("GET", "/v1/info", true, "authorization", basicAuth("alice", "x")))
		set, removed := mutation(t, r)
		if _, ok := set["x-trino-user"]; ok || slices.Contains(removed, "authorization") {
			t.Errorf("verifier %v: set %v removed %q, want the request as sent", v, set, removed)
		}
	}
}

// A routed submission carries the verified user and loses the
// credentials, and its owner is recorded as the user it runs as.
func TestSubmissionForwardsTheVerifiedUser(t *testing.T) {
	tests := []struct {
		name    string
		forward bool
		kv      []string
		user    string
	}{
		{"forwarded", true, append([]string{"authorization", basicAuth("bob", "bob-pw")}, https...), "bob"},
		{"impersonation forwarded", true, append([]string{"authorization", basicAuth("svc", "svc-pw"), "x-trino-user", "alice"}, https...), "alice"},
		{"not forwarded", false, append([]string{"authorization", basicAuth("bob", "bob-pw")}, https...), "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := identityHarness(t, nil, Options{ForwardUser: tt.forward})
			f := h.open(t)
			f.exchangeN(t, authReq("POST", "/v1/statement", false, tt.kv...), 0)
			rs := f.exchangeN(t, chunk("SELECT 1", true), 2)
			if rs[0].GetRequestHeaders() == nil || rs[1].GetRequestBody() == nil {
				t.Fatalf("want the headers answer then the body's, got %v", rs)
			}
			set, removed := mutation(t, rs[0])
			if !slices.Contains(removed, "accept-encoding") {
				t.Errorf("accept-encoding not removed: %q", removed)
			}
			if got := slices.Contains(removed, "authorization"); got != tt.forward {
				t.Errorf("authorization removed: %v, want %v", got, tt.forward)
			}
			if got, ok := set["x-trino-user"]; tt.forward && got != tt.user || !tt.forward && ok {
				t.Errorf("x-trino-user set to %q (%v)", got, ok)
			}
			cluster := set[xds.RouteHeader]
			if cluster != "a" && cluster != "b" {
				t.Fatalf("route %q", cluster)
			}
			h.observe(t, rs[0], "SELECT 1", strings.ReplaceAll(firstResults, "%s", cluster), tt.kv...)
			got, err := h.store.GetQuery(context.Background(), "20260101_000000_00001_abcde")
			if err != nil || got.User != tt.user {
				t.Fatalf("recorded %+v, %v: want the owner %s", got, err, tt.user)
			}
		})
	}
}

// A submission the pipeline rejects is answered as before with
// ForwardUser on (nothing to forward on an immediate response).
func TestRejectedSubmissionWithForwardUser(t *testing.T) {
	f := identityHarness(t, nil, Options{ForwardUser: true}).open(t)
	r := f.exchange(t, authReq("POST", "/v1/statement", true,
		append([]string{"authorization", basicAuth("alice", "alice-pw"), "x-trino-routing-group", "nope"}, https...)...))
	if rj := rejected(t, r); rj.status != 200 || rj.doc.Error.ErrorName != "UNKNOWN_ROUTING_GROUP" {
		t.Fatalf("%+v", rj)
	}
}

// queryLister is a fleet whose queries belong to alice and bob; it
// records the filters it was asked with.
type queryLister struct {
	mu      sync.Mutex
	filters []fleetqueries.Filter
}

var listCreated = time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)

func (l *queryLister) list(_ context.Context, f fleetqueries.Filter) fleetqueries.View {
	l.mu.Lock()
	l.filters = append(l.filters, f)
	l.mu.Unlock()
	all := []fleetqueries.Query{
		{QueryID: "q_alice_1", Cluster: "a", Coordinator: "0", State: "RUNNING", User: "alice", Source: "cli", Query: "SELECT 1", Created: listCreated, ElapsedMs: 10},
		{QueryID: "q_bob_1", Cluster: "b", Coordinator: "0", State: "RUNNING", User: "bob", Query: "SELECT secret FROM payroll", Created: listCreated},
		{QueryID: "q_alice_2", Cluster: "b", Coordinator: "0", State: "FAILED", User: "alice", Query: "SELECT x", QueryType: "SELECT", Created: listCreated, Error: "SYNTAX_ERROR"},
	}
	v := fleetqueries.View{Queries: []fleetqueries.Query{}}
	for _, q := range all {
		if q.User == f.User && (f.State == "" || q.State == f.State) {
			v.Queries = append(v.Queries, q)
		}
	}
	return v
}

func TestQueryListIsTheVerifiedUsers(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		kv     []string
		jwt    map[string]any
		filter fleetqueries.Filter
		ids    []string
	}{
		{"own queries", "/v1/query", append([]string{"authorization", basicAuth("alice", "alice-pw")}, https...), nil,
			fleetqueries.Filter{User: "alice"}, []string{"q_alice_1", "q_alice_2"}},
		{"own queries in a state", "/v1/query?state=FAILED", append([]string{"authorization", basicAuth("alice", "alice-pw")}, https...), nil,
			fleetqueries.Filter{User: "alice", State: "FAILED"}, []string{"q_alice_2"}},
		{"a user without queries", "/v1/query", append([]string{"authorization", basicAuth("svc", "svc-pw")}, https...), nil,
			fleetqueries.Filter{User: "svc"}, []string{}},
		{"the user it may impersonate", "/v1/query", append([]string{"authorization", basicAuth("svc", "svc-pw"), "x-trino-user", "alice"}, https...), nil,
			fleetqueries.Filter{User: "alice"}, []string{"q_alice_1", "q_alice_2"}},
		{"a token", "/v1/query", append([]string{"authorization", "Bearer t"}, https...), map[string]any{identity.JWTPayloadKey: map[string]any{"sub": "bob"}},
			fleetqueries.Filter{User: "bob"}, []string{"q_bob_1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &queryLister{}
			f := identityHarness(t, nil, Options{Queries: l.list, ForwardUser: true}).open(t)
			req := authReq("GET", tt.path, true, tt.kv...)
			if tt.jwt != nil {
				req = withJWT(t, req, tt.jwt)
			}
			im := f.exchange(t, req).GetImmediateResponse()
			if im == nil || im.GetStatus().GetCode() != 200 {
				t.Fatalf("want an immediate 200, got %v", im)
			}
			if len(l.filters) != 1 || l.filters[0] != tt.filter {
				t.Fatalf("asked with %+v, want %+v", l.filters, tt.filter)
			}
			var got []listedQuery
			if err := json.Unmarshal(im.GetBody(), &got); err != nil {
				t.Fatalf("body %s: %v", im.GetBody(), err)
			}
			ids := []string{}
			for _, q := range got {
				ids = append(ids, q.QueryID)
				if q.Session.User != tt.filter.User {
					t.Errorf("%s belongs to %s, listed for %s", q.QueryID, q.Session.User, tt.filter.User)
				}
			}
			if !reflect.DeepEqual(ids, tt.ids) {
				t.Fatalf("listed %q, want %q", ids, tt.ids)
			}
		})
	}
}

// The listed entries keep the fields tools read.
func TestQueryListEntry(t *testing.T) {
	l := &queryLister{}
	f := identityHarness(t, nil, Options{Queries: l.list}).open(t)
	im := f.exchange(t, authReq("GET", "/v1/query?state=FAILED", true, append([]string{"authorization", basicAuth("alice", "alice-pw")}, https...)...)).GetImmediateResponse()
	want := `[{"queryId":"q_alice_2","state":"FAILED","query":"SELECT x","queryType":"SELECT","session":{"user":"alice"},"cluster":"b",` +
		`"created":"2026-01-02T03:04:05.006Z","elapsedMs":0,"errorCode":"SYNTAX_ERROR"}]`
	if string(im.GetBody()) != want {
		t.Fatalf("body %s\nwant %s", im.GetBody(), want)
	}
}

// A refused caller never reaches the fleet's query list.
func TestQueryListRefusals(t *testing.T) {
	tests := []struct {
		name   string
		kv     []string
		status int
	}{
		{"no credentials", append([]string{"x-trino-user", "bob"}, https...), 401},
		{"wrong password", append([]string{"authorization", basicAuth("alice", "bob-pw"), "x-trino-user", "bob"}, https...), 401},
		{"naming another user", append([]string{"authorization", basicAuth("alice", "alice-pw"), "x-trino-user", "bob"}, https...), 403},
		{"plain HTTP", []string{"authorization", basicAuth("alice", "alice-pw")}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &queryLister{}
			f := identityHarness(t, nil, Options{Queries: l.list}).open(t)
			if e := immediateError(t, f.exchange(t, authReq("GET", "/v1/query", true, tt.kv...))); e.status != tt.status {
				t.Fatalf("HTTP %d (%s), want %d", e.status, e.message, tt.status)
			}
			if len(l.filters) != 0 {
				t.Fatalf("the fleet was asked %+v for a refused caller", l.filters)
			}
		})
	}
}
