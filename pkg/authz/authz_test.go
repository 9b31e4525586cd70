package authz

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"

	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

func check(s *Server, user, method, path string) *authv3.CheckResponse {
	r, _ := s.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: method, Path: path, Headers: map[string]string{"x-trino-user": user}},
	}}})
	return r
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
	st := store.NewMemory().Queries
	_ = st.PutQuery(context.Background(), "q1", store.QueryRoute{Cluster: "a", Coordinator: "0", User: "alice"}, time.Hour)
	s := &Server{Policy: policy.NewEngine(c, nil), Store: st, StoreTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)}
	tests := []struct {
		user, method, path string
		ok                 bool
		msg                string
	}{
		{"bob", "GET", "/v1/query/q1", true, ""},
		{"alice", "PUT", "/v1/query/q1/killed", true, ""},
		{"bob", "PUT", "/v1/query/q1/killed", false, "user bob may not kill query q1: only its owner (alice) or an administrator may"},
		{"admin", "DELETE", "/v1/query/q1", true, ""},
		{"bob", "DELETE", "/v1/query/q2", false, "only its owner (unknown)"},
	}
	for _, tt := range tests {
		r := check(s, tt.user, tt.method, tt.path)
		allowed := r.GetStatus().GetCode() == int32(codes.OK)
		if allowed != tt.ok {
			t.Errorf("%s %s %s: allowed=%v", tt.user, tt.method, tt.path, allowed)
			continue
		}
		if !tt.ok {
			d := r.GetDeniedResponse()
			if d.GetStatus().GetCode() != 403 || !strings.Contains(d.GetBody(), tt.msg) || !strings.Contains(d.GetBody(), `"errorName":"POLICY_DENIED"`) {
				t.Errorf("%s %s: denial %v", tt.method, tt.path, d)
			}
		}
	}
}

func TestNoPolicyAllows(t *testing.T) {
	s := &Server{Policy: policy.NewEngine(nil, nil), Store: store.NewMemory().Queries, StoreTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)}
	if r := check(s, "x", "PUT", "/v1/query/q/killed"); r.GetStatus().GetCode() != int32(codes.OK) {
		t.Fatalf("%v", r)
	}
}
