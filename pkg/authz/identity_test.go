package authz

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/switchyard-gw/switchyard/pkg/identity"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// passwords is an identity.Passwords from a map of user to password.
type passwords map[string]string

func (p passwords) Check(user, password string) bool {
	want, ok := p[user]
	return ok && want == password
}

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
	return i.allowed[principal+">"+user], "", nil
}

var testPasswords = passwords{"alice": "alice-pw", "bob": "bob-pw", "svc": "svc-pw"}

func testVerifier() *identity.Verifier {
	return identity.New(identity.Options{Passwords: testPasswords, JWT: true,
		Impersonation: impersonations{allowed: map[string]bool{"svc>alice": true}}})
}

func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// checkHeaders asks about a request with exactly these headers and, when
// jwt is set, jwt_authn's verdict in the metadata.
func checkHeaders(t *testing.T, s *Server, method, path string, headers map[string]string, jwt map[string]any) *authv3.CheckResponse {
	t.Helper()
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: method, Path: path, Headers: headers},
	}}}
	if jwt != nil {
		ns, err := structpb.NewStruct(jwt)
		if err != nil {
			t.Fatal(err)
		}
		req.Attributes.MetadataContext = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{identity.JWTNamespace: ns}}
	}
	r, err := s.Check(context.Background(), req)
	if err != nil {
		t.Fatalf("Check returned an error, want a decision: %v", err)
	}
	return r
}

// as is the headers of a request over TLS with user:password.
func as(user, password string, extra ...string) map[string]string {
	h := map[string]string{"x-forwarded-proto": "https", "authorization": basicAuth(user, password)}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

// refusal is a denied response's HTTP status, challenges and JSON error.
type refusal struct {
	grpc       codes.Code
	status     int
	challenges []string
	errorName  string
	message    string
}

func refused(t *testing.T, r *authv3.CheckResponse) refusal {
	t.Helper()
	d := r.GetDeniedResponse()
	if d == nil {
		t.Fatalf("want a denial, got %v", r)
	}
	out := refusal{grpc: codes.Code(r.GetStatus().GetCode()), status: int(d.GetStatus().GetCode())}
	ct := ""
	for _, h := range d.GetHeaders() {
		switch h.GetHeader().GetKey() {
		case "content-type":
			ct = h.GetHeader().GetValue()
		case "www-authenticate":
			out.challenges = append(out.challenges, h.GetHeader().GetValue())
			if h.GetAppendAction() != corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD {
				t.Errorf("www-authenticate %q has the action %v: a second challenge would replace the first", h.GetHeader().GetValue(), h.GetAppendAction())
			}
		}
	}
	if ct != "application/json" {
		t.Errorf("content-type %q, want application/json", ct)
	}
	var doc struct {
		Error trino.QueryError `json:"error"`
	}
	if err := json.Unmarshal([]byte(d.GetBody()), &doc); err != nil {
		t.Fatalf("denial body %q is not a JSON error: %v", d.GetBody(), err)
	}
	out.errorName, out.message = doc.Error.ErrorName, doc.Error.Message
	if r.GetStatus().GetMessage() != out.message {
		t.Errorf("gRPC message %q differs from the body's %q", r.GetStatus().GetMessage(), out.message)
	}
	return out
}

func allowed(t *testing.T, r *authv3.CheckResponse) {
	t.Helper()
	if r.GetStatus().GetCode() != int32(codes.OK) || r.GetDeniedResponse() != nil {
		t.Fatalf("denied (%v), want allowed", r.GetStatus())
	}
}

func TestAuthenticationRefusals(t *testing.T) {
	challenges := []string{identity.ChallengeBasic, identity.ChallengeBearer}
	tests := []struct {
		name       string
		headers    map[string]string
		jwt        map[string]any
		grpc       codes.Code
		status     int
		challenges []string
		errorName  string
		message    string
	}{
		{"no credentials", map[string]string{"x-forwarded-proto": "https", "x-trino-user": "alice"}, nil,
			codes.Unauthenticated, 401, challenges, "AUTHENTICATION_FAILED", "Authentication required: send a user name and password (Basic) or a bearer token"},
		{"wrong password", as("alice", "bob-pw"), nil,
			codes.Unauthenticated, 401, challenges, "AUTHENTICATION_FAILED", "Access Denied: Invalid credentials"},
		{"expired token", map[string]string{"x-forwarded-proto": "https", "authorization": "Bearer x"}, map[string]any{identity.JWTFailureKey: map[string]any{"message": "Jwt is expired"}},
			codes.Unauthenticated, 401, challenges, "AUTHENTICATION_FAILED", "Invalid token: Jwt is expired"},
		{"plain HTTP without credentials", map[string]string{"x-trino-user": "alice"}, nil,
			codes.Unauthenticated, 401, challenges, "AUTHENTICATION_FAILED", "Authentication required: this gateway verifies users over HTTPS only"},
		{"credentials over plain HTTP", map[string]string{"authorization": basicAuth("alice", "alice-pw")}, nil,
			codes.PermissionDenied, 403, nil, "INSECURE_CREDENTIALS", "Authentication over HTTP is not allowed"},
		{"impersonation not allowed", as("alice", "alice-pw", "x-trino-user", "bob"), nil,
			codes.PermissionDenied, 403, nil, "PERMISSION_DENIED", "Access Denied: User alice cannot impersonate user bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// An allow-everything policy: authentication comes first.
			s := newServer(t, policy.NewEngine(nil, nil), nil)
			s.Identity = testVerifier()
			rf := refused(t, checkHeaders(t, s, "GET", "/v1/info", tt.headers, tt.jwt))
			if rf.grpc != tt.grpc || rf.status != tt.status || rf.errorName != tt.errorName || !strings.HasPrefix(rf.message, tt.message) {
				t.Errorf("%v HTTP %d %s %q, want %v %d %s %q", rf.grpc, rf.status, rf.errorName, rf.message, tt.grpc, tt.status, tt.errorName, tt.message)
			}
			if !reflect.DeepEqual(rf.challenges, tt.challenges) {
				t.Errorf("www-authenticate %q, want %q", rf.challenges, tt.challenges)
			}
		})
	}
}

func TestImpersonationPolicyFailureDenies(t *testing.T) {
	s := newServer(t, policy.NewEngine(nil, nil), nil)
	s.Identity = identity.New(identity.Options{Passwords: testPasswords, Impersonation: impersonations{err: errors.New("boom")}})
	rf := refused(t, checkHeaders(t, s, "GET", "/v1/info", as("svc", "svc-pw", "x-trino-user", "alice"), nil))
	if rf.status != 500 || rf.errorName != "POLICY_ERROR" || rf.message != "the impersonation policy failed for user svc: boom" || rf.grpc != codes.PermissionDenied {
		t.Fatalf("%+v", rf)
	}
}

// With users verified and no authorization policy, the gateway's own
// rules apply: what is not open is closed.
func TestClosedByDefault(t *testing.T) {
	s := newServer(t, policy.NewEngine(nil, nil), map[string]store.QueryRoute{
		"q1": {Cluster: "a", Coordinator: "0", User: "alice"},
	})
	s.Identity = testVerifier()
	tests := []struct {
		who          string // alice, bob, svc>alice (impersonation), jwt:carol
		method, path string
		ok           bool
		msg          string
	}{
		{"bob", "GET", "/v1/info", true, ""},
		{"bob", "HEAD", "/v1/info", true, ""},
		{"bob", "GET", "/v1/info/state", true, ""},
		{"bob", "GET", "/v1/query", true, ""},
		{"bob", "GET", "/v1/query?state=RUNNING", true, ""},
		{"bob", "GET", "/ui/", true, ""},
		{"bob", "GET", "/ui/api/stats", true, ""},
		{"bob", "GET", "/ui/api/cluster", true, ""},
		{"bob", "GET", "/_sy/a/0/ui/query.html", true, ""},
		{"bob", "GET", "/_sy/a/0/ui/query.html?q1", true, ""},
		{"jwt:carol", "GET", "/v1/info", true, ""},

		{"bob", "GET", "/v1/node", false, "user bob may not GET /v1/node: it is closed on the client listener unless an authorization policy opens it"},
		{"alice", "GET", "/v1/node", false, "user alice may not GET /v1/node"},
		{"bob", "PUT", "/v1/info/state", false, "user bob may not PUT /v1/info/state: it is closed"},
		{"bob", "POST", "/v1/info", false, "user bob may not POST /v1/info: it is closed"},
		{"bob", "GET", "/ui/api/query", false, "user bob may not GET /ui/api/query: it is closed"},
		{"bob", "GET", "/ui/api/worker", false, "user bob may not GET /ui/api/worker: it is closed"},
		{"bob", "GET", "/metrics", false, "it is closed"},
		{"bob", "GET", "/_sy/a/0/v1/node", false, "user bob may not GET /v1/node: it is closed"},

		{"alice", "GET", "/v1/query/q1", true, ""},
		{"alice", "GET", "/ui/api/query/q1", true, ""},
		{"svc>alice", "GET", "/v1/query/q1", true, ""},
		{"alice", "PUT", "/v1/query/q1/killed", true, ""},
		{"alice", "PUT", "/v1/query/q1/preempted", false, "it is closed"},
		{"alice", "DELETE", "/v1/query/q1", true, ""},
		{"bob", "GET", "/v1/query/q1", false, "user bob may not GET /v1/query/q1: only the query's owner may"},
		{"bob", "GET", "/ui/api/query/q1", false, "user bob may not GET /ui/api/query/q1: only the query's owner may"},
		{"alice", "GET", "/_sy/a/0/ui/api/query/q1", true, ""},
		{"bob", "GET", "/_sy/a/0/ui/api/query/q1", false, "user bob may not GET /ui/api/query/q1: only the query's owner may"},
		{"svc", "GET", "/v1/query/q1", false, "user svc may not GET /v1/query/q1: only the query's owner may"},
		{"jwt:carol", "GET", "/v1/query/q1", false, "user carol may not GET /v1/query/q1"},
		{"bob", "PUT", "/v1/query/q1/killed", false, "user bob may not PUT /v1/query/q1/killed: only the query's owner may"},
		{"bob", "DELETE", "/v1/query/q1", false, "user bob may not DELETE /v1/query/q1: only the query's owner may"},
		// A query the gateway does not know has no owner.
		{"alice", "GET", "/v1/query/q2", false, "user alice may not GET /v1/query/q2: only the query's owner may"},
		{"alice", "PUT", "/v1/query/q2/killed", false, "only the query's owner may"},
	}
	for _, tt := range tests {
		t.Run(tt.who+" "+tt.method+" "+tt.path, func(t *testing.T) {
			var (
				h   map[string]string
				jwt map[string]any
			)
			switch principal, user, _ := strings.Cut(tt.who, ">"); {
			case strings.HasPrefix(tt.who, "jwt:"):
				h = map[string]string{"x-forwarded-proto": "https", "authorization": "Bearer t"}
				jwt = map[string]any{identity.JWTPayloadKey: map[string]any{"sub": strings.TrimPrefix(tt.who, "jwt:")}}
			case user != "":
				h = as(principal, testPasswords[principal], "x-trino-user", user)
			default:
				h = as(tt.who, testPasswords[tt.who])
			}
			r := checkHeaders(t, s, tt.method, tt.path, h, jwt)
			if tt.ok {
				allowed(t, r)
				return
			}
			if msg := denial(t, r, trino.ErrPolicyDenied.Name); !strings.Contains(msg, tt.msg) {
				t.Fatalf("denial %q, want it to contain %q", msg, tt.msg)
			}
		})
	}
}

// The verified user, not X-Trino-User as sent, owns a query: naming the
// owner in the header proves nothing.
func TestOwnerIsTheVerifiedUser(t *testing.T) {
	s := newServer(t, policy.NewEngine(nil, nil), map[string]store.QueryRoute{"q1": {Cluster: "a", Coordinator: "0", User: "alice"}})
	s.Identity = testVerifier()
	// bob claims to be alice: refused before any decision.
	if rf := refused(t, checkHeaders(t, s, "GET", "/v1/query/q1", as("bob", "bob-pw", "x-trino-user", "alice"), nil)); rf.status != 403 || rf.errorName != "PERMISSION_DENIED" {
		t.Fatalf("%+v", rf)
	}
	// Without credentials, naming alice is not enough.
	if rf := refused(t, checkHeaders(t, s, "GET", "/v1/query/q1", map[string]string{"x-forwarded-proto": "https", "x-trino-user": "alice"}, nil)); rf.status != 401 {
		t.Fatalf("%+v", rf)
	}
}

// Without verification (no Identity, or one that verifies nothing) and
// without a policy, everything is allowed, as before authentication.
func TestNoPolicyWithoutVerificationAllows(t *testing.T) {
	for _, v := range []*identity.Verifier{nil, identity.New(identity.Options{PassThrough: true}), identity.New(identity.Options{})} {
		s := newServer(t, policy.NewEngine(nil, nil), map[string]store.QueryRoute{"q1": {Cluster: "a", Coordinator: "0", User: "alice"}})
		s.Identity = v
		for _, c := range []struct{ user, method, path string }{
			{"bob", "GET", "/v1/node"},
			{"bob", "GET", "/v1/query/q1"},
			{"bob", "PUT", "/v1/query/q1/killed"},
			{"", "PUT", "/v1/info/state"},
			{"bob", "GET", "/metrics"},
		} {
			r := check(t, s, c.user, c.method, c.path)
			if r.GetStatus().GetCode() != int32(codes.OK) {
				t.Errorf("verifier %v: %s %s %s denied: %v", v, c.user, c.method, c.path, r.GetStatus())
			}
		}
	}
}

// A loaded authorization policy decides, not the gateway's defaults, and
// it sees the verified user and principal.
func TestPolicySeesTheVerifiedUser(t *testing.T) {
	c, err := policy.Compile(context.Background(), &policy.Bundle{Files: map[string][]byte{
		"routing.rego": []byte(routingRule),
		"authz.rego": []byte(`package switchyard.authz
import rego.v1
decision := {"allow": true} if {
	input.request.user == "alice"
	input.request.principal == "svc"
}
decision := {"allow": false, "reason": sprintf("user=%s principal=%s", [input.request.user, input.request.principal])} if {
	not input.request.principal == "svc"
}
`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, policy.NewEngine(c, nil), nil)
	s.Identity = testVerifier()
	// /v1/node would be closed by default: the policy opens it.
	allowed(t, checkHeaders(t, s, "GET", "/v1/node", as("svc", "svc-pw", "x-trino-user", "alice"), nil))
	// /v1/info would be open by default: the policy closes it.
	if msg := denial(t, checkHeaders(t, s, "GET", "/v1/info", as("bob", "bob-pw"), nil), trino.ErrPolicyDenied.Name); msg != "user=bob principal=bob" {
		t.Fatalf("denial %q", msg)
	}
}

// Envoy's jwt_authn writes a verdict for every request ("Jwt is missing"
// without a token); a password still verifies, and only a Bearer header
// reads the verdict.
func TestJWTVerdictOnlyForBearer(t *testing.T) {
	s := newServer(t, policy.NewEngine(nil, nil), map[string]store.QueryRoute{"q1": {Cluster: "a", Coordinator: "0", User: "bob"}})
	s.Identity = testVerifier()
	missing := map[string]any{identity.JWTFailureKey: map[string]any{"code": 16, "message": "Jwt is missing"}}
	allowed(t, checkHeaders(t, s, "GET", "/v1/query/q1", as("bob", "bob-pw"), missing))
	// A verdict naming alice does not make a Basic request alice's.
	aliceToken := map[string]any{identity.JWTPayloadKey: map[string]any{"sub": "alice"}}
	allowed(t, checkHeaders(t, s, "GET", "/v1/query/q1", as("bob", "bob-pw"), aliceToken))
	if msg := denial(t, checkHeaders(t, s, "GET", "/v1/query/q1", map[string]string{"x-forwarded-proto": "https", "authorization": "Bearer t"}, aliceToken), trino.ErrPolicyDenied.Name); !strings.Contains(msg, "user alice may not GET /v1/query/q1") {
		t.Fatalf("denial %q", msg)
	}
	rf := refused(t, checkHeaders(t, s, "GET", "/v1/query/q1", map[string]string{"x-forwarded-proto": "https", "x-trino-user": "bob"}, missing))
	if rf.status != 401 || rf.message != "Authentication required: send a user name and password (Basic) or a bearer token" {
		t.Fatalf("%+v", rf)
	}
}
