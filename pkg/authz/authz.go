// Package authz answers Envoy's ext_authz checks for the requests that are
// not query submissions (the web UI, /v1/query, killing queries, server
// information) with the policy's data.switchyard.authz.decision. A denial
// is a JSON error the client can read; a policy failure denies.
package authz

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/switchyard-gw/switchyard/pkg/identity"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// Server implements envoy.service.auth.v3.Authorization.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	Policy       *policy.Engine
	Store        store.Queries
	StoreTimeout time.Duration
	// Identity verifies who asks (nil: X-Trino-User is trusted as sent).
	Identity *identity.Verifier
	Logger   *slog.Logger
}

// Register adds the service to a gRPC server.
func (s *Server) Register(g *grpc.Server) { authv3.RegisterAuthorizationServer(g, s) }

// Check decides one request.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	h := req.GetAttributes().GetRequest().GetHttp()
	path, rawQuery := trino.SplitPathQuery(h.GetPath())
	in := &policy.AuthzInput{
		User:   h.GetHeaders()[trino.HeaderUser],
		Method: h.GetMethod(),
		Path:   path,
		Time:   time.Now(),
	}
	if s.Identity != nil {
		var jwt map[string]any
		if ns := req.GetAttributes().GetMetadataContext().GetFilterMetadata()[identity.JWTNamespace]; ns != nil {
			jwt = ns.AsMap()
		}
		id, f := s.Identity.Verify(ctx, identity.Read(mapPairs(h.GetHeaders()), jwt))
		if f != nil {
			s.Logger.Info("request refused by authentication", "method", in.Method, "path", path, "status", f.Status, "reason", f.Message)
			return refuse(f), nil
		}
		in.User, in.Principal = id.User, id.Principal
	}
	if sa := req.GetAttributes().GetSource().GetAddress().GetSocketAddress(); sa != nil {
		in.RemoteAddress = sa.GetAddress()
	}
	// The web UI's pages of a query carry the gateway's prefix.
	unprefixed := path
	if _, _, rest, ok := trino.ParseCoordinatorPrefix(path); ok {
		unprefixed = rest
	}
	if info, err := trino.ParsePath(unprefixed, rawQuery); err == nil && info.QueryID != "" {
		in.QueryID = info.QueryID
		sctx, cancel := context.WithTimeout(ctx, s.StoreTimeout)
		r, err := s.Store.GetQuery(sctx, info.QueryID)
		cancel()
		if err == nil {
			in.QueryOwner = r.User
		}
	}
	d, err := s.Policy.Authorize(ctx, in)
	if err == nil && d.Unset && s.Identity.Verifies() {
		// Users are verified but no policy says who may do what: the
		// gateway's own rules (those of policies/authz.rego without
		// administrators).
		d = closedByDefault(in, unprefixed)
	}
	if err != nil {
		s.Logger.Error("authorization policy failed; denying", "path", path, "user", in.User, "error", err)
		return deny(trino.ErrPolicyError, "the authorization policy failed, so the request is refused: "+err.Error()), nil
	}
	if !d.Allow {
		reason := d.Reason
		if reason == "" {
			reason = "denied by the authorization policy"
		}
		s.Logger.Info("request denied by policy", "method", in.Method, "path", path, "user", in.User, "reason", reason)
		return deny(trino.ErrPolicyDenied, reason), nil
	}
	return &authv3.CheckResponse{Status: &status.Status{Code: int32(codes.OK)}}, nil
}

func deny(code trino.ErrorCode, msg string) *authv3.CheckResponse {
	return refuse(&identity.Failure{Status: http.StatusForbidden, Code: code, Message: msg})
}

// refuse is a denial with the failure's status, JSON error and (for a
// 401) challenges.
func refuse(f *identity.Failure) *authv3.CheckResponse {
	headers := []*corev3.HeaderValueOption{{
		Header:       &corev3.HeaderValue{Key: "content-type", Value: "application/json"},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}}
	for _, c := range f.Challenges {
		headers = append(headers, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: "www-authenticate", Value: c},
			AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD,
		})
	}
	code := codes.PermissionDenied
	if f.Status == http.StatusUnauthorized {
		code = codes.Unauthenticated
	}
	return &authv3.CheckResponse{
		Status: &status.Status{Code: int32(code), Message: f.Message},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(f.Status)},
			Headers: headers,
			Body:    string(trino.ErrorDocument(f.Code, f.Message)),
		}},
	}
}

// mapPairs iterates over ext_authz's header map.
func mapPairs(m map[string]string) func(yield func(k, v string) bool) {
	return func(yield func(k, v string) bool) {
		for k, v := range m {
			if !yield(k, v) {
				return
			}
		}
	}
}

// closedByDefault is the decision without an authorization policy when
// clients are verified (path is the request's, without the gateway's
// prefix): server information, the web UI's pages and the
// query list (answered with the caller's own queries) are open; a
// query's details and killing it are its owner's; everything else (the
// cluster's management and listing endpoints) is closed.
func closedByDefault(in *policy.AuthzInput, path string) *policy.AuthzDecision {
	read := in.Method == "GET" || in.Method == "HEAD"
	queryPath := strings.HasPrefix(path, "/v1/query/") || strings.HasPrefix(path, "/ui/api/query/")
	kill := (in.Method == "PUT" && strings.HasSuffix(path, "/killed")) || (in.Method == "DELETE" && strings.HasPrefix(path, "/v1/query/"))
	owner := in.QueryOwner != "" && in.QueryOwner == in.User
	switch {
	case read && (path == "/v1/info" || path == "/v1/info/state" || path == "/v1/query" ||
		(strings.HasPrefix(path, "/ui/") && !strings.HasPrefix(path, "/ui/api/")) || path == "/ui/api/stats" || path == "/ui/api/cluster"):
		return &policy.AuthzDecision{Allow: true, Reason: "open to every verified user"}
	case (read && queryPath) || kill:
		if owner {
			return &policy.AuthzDecision{Allow: true, Reason: "the query's owner"}
		}
		return &policy.AuthzDecision{Reason: fmt.Sprintf("user %s may not %s %s: only the query's owner may", in.User, in.Method, path)}
	}
	return &policy.AuthzDecision{Reason: fmt.Sprintf("user %s may not %s %s: it is closed on the client listener unless an authorization policy opens it", in.User, in.Method, path)}
}
