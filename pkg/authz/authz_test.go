package authz

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"

	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// newServer returns a Server deciding with eng, whose store knows the
// queries given (by ID).
func newServer(t *testing.T, eng *policy.Engine, queries map[string]store.QueryRoute) *Server {
	t.Helper()
	st := store.NewMemory().Queries
	for id, r := range queries {
		if err := st.PutQuery(context.Background(), id, r, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	return &Server{Policy: eng, Store: st, StoreTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)}
}

func check(t *testing.T, s *Server, user, method, path string) *authv3.CheckResponse {
	t.Helper()
	r, err := s.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: method, Path: path, Headers: map[string]string{"x-trino-user": user}},
	}}})
	if err != nil {
		t.Fatalf("Check returned an error, want a decision: %v", err)
	}
	return r
}

// denial checks that r denies with HTTP 403 and a JSON Trino error of the
// given name, and returns its message.
func denial(t *testing.T, r *authv3.CheckResponse, errorName string) string {
	t.Helper()
	if got := r.GetStatus().GetCode(); got != int32(codes.PermissionDenied) {
		t.Fatalf("gRPC status %d (%s), want PermissionDenied", got, r.GetStatus().GetMessage())
	}
	d := r.GetDeniedResponse()
	if d.GetStatus().GetCode() != 403 {
		t.Fatalf("denied with HTTP %d, want 403", d.GetStatus().GetCode())
	}
	ct := ""
	for _, h := range d.GetHeaders() {
		if h.GetHeader().GetKey() == "content-type" {
			ct = h.GetHeader().GetValue()
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
	if doc.Error.ErrorName != errorName || doc.Error.Message == "" {
		t.Fatalf("denial %+v, want error %s with a message", doc.Error, errorName)
	}
	return doc.Error.Message
}

func TestShippedAuthzPolicy(t *testing.T) {
	b, err := policy.LoadDir("../../policies")
	if err != nil {
		t.Fatal(err)
	}
	c, err := policy.Compile(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, policy.NewEngine(c, nil), map[string]store.QueryRoute{"q1": {Cluster: "a", Coordinator: "0", User: "alice"}})
	tests := []struct {
		user, method, path string
		ok                 bool
		msg                string
	}{
		{"alice", "GET", "/v1/query/q1", true, ""},
		{"bob", "GET", "/v1/query/q1", false, "user bob may not read query q1: only its owner (alice) or an administrator may"},
		{"bob", "GET", "/v1/query", true, ""},
		{"alice", "GET", "/_sy/a/0/ui/api/query/q1", true, ""},
		{"bob", "GET", "/_sy/a/0/ui/api/query/q1", false, "only its owner (alice)"},
		{"bob", "GET", "/v1/node", false, "user bob may not GET /v1/node: it is closed on the client listener"},
		{"bob", "PUT", "/v1/info/state", false, "user bob may not PUT /v1/info/state: it is closed on the client listener"},
		{"alice", "PUT", "/v1/query/q1/killed", true, ""},
		{"bob", "PUT", "/v1/query/q1/killed", false, "user bob may not kill query q1: only its owner (alice) or an administrator may"},
		{"admin", "DELETE", "/v1/query/q1", true, ""},
		{"bob", "DELETE", "/v1/query/q2", false, "only its owner (unknown)"},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.method+" "+tt.path, func(t *testing.T) {
			r := check(t, s, tt.user, tt.method, tt.path)
			if tt.ok {
				if r.GetStatus().GetCode() != int32(codes.OK) {
					t.Fatalf("denied (%v), want allowed", r.GetStatus())
				}
				return
			}
			if msg := denial(t, r, trino.ErrPolicyDenied.Name); !strings.Contains(msg, tt.msg) {
				t.Fatalf("denial %q, want it to contain %q", msg, tt.msg)
			}
		})
	}
}

func TestNoPolicyAllows(t *testing.T) {
	s := newServer(t, policy.NewEngine(nil, nil), nil)
	if r := check(t, s, "x", "PUT", "/v1/query/q/killed"); r.GetStatus().GetCode() != int32(codes.OK) {
		t.Fatalf("%v", r)
	}
}

// routingRule is the routing decision every test policy needs.
const routingRule = "package switchyard.routing\nimport rego.v1\ndecision := {\"allow\": true}\n"

// A policy whose authorization decision fails at evaluation time, or has
// the wrong shape, denies with HTTP 403 and a POLICY_ERROR body: never an
// allow, even when the broken decision says allow.
func TestPolicyErrorFailsClosed(t *testing.T) {
	tests := []struct {
		name, rules, want string
	}{
		{"conflicting values", `decision := {"allow": true} if input.request.method == "PUT"
decision := {"allow": false} if input.request.user == "bob"`, "conflict"},
		{"undefined for the request", `decision := {"allow": true} if input.request.user == "alice"`, "data.switchyard.authz.decision is undefined for this request"},
		{"not an object", `decision := "allow"`, "data.switchyard.authz.decision is not an object"},
		{"allow not a boolean", `decision := {"allow": "yes"}`, "decision.allow must be a boolean"},
		{"reason not a string", `decision := {"allow": true, "reason": 1}`, "decision.reason must be a string"},
		{"explanation not strings", `decision := {"allow": true, "explanation": [1]}`, "decision.explanation must be an array of strings"},
		{"builtin error", `decision := {"allow": to_number("x") > 0}`, "is undefined for this request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := policy.Compile(context.Background(), &policy.Bundle{Files: map[string][]byte{
				"routing.rego": []byte(routingRule),
				"authz.rego":   []byte("package switchyard.authz\nimport rego.v1\n" + tt.rules + "\n"),
			}})
			if err != nil {
				t.Fatal(err)
			}
			s := newServer(t, policy.NewEngine(c, nil), nil)
			msg := denial(t, check(t, s, "bob", "PUT", "/v1/query/q1/killed"), trino.ErrPolicyError.Name)
			if !strings.HasPrefix(msg, "the authorization policy failed, so the request is refused: ") || !strings.Contains(msg, tt.want) {
				t.Fatalf("message %q, want the policy failure containing %q", msg, tt.want)
			}
		})
	}
}

// A decision without allow denies (with the default reason), as a
// denial, not an error.
func TestMissingAllowDenies(t *testing.T) {
	c, err := policy.Compile(context.Background(), &policy.Bundle{Files: map[string][]byte{
		"routing.rego": []byte(routingRule),
		"authz.rego":   []byte("package switchyard.authz\nimport rego.v1\ndecision := {\"reason\": \"\"}\n"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, policy.NewEngine(c, nil), nil)
	if msg := denial(t, check(t, s, "alice", "GET", "/v1/info"), trino.ErrPolicyDenied.Name); msg != "denied by the authorization policy" {
		t.Fatalf("message %q, want the default reason", msg)
	}
}
