// Package authz answers Envoy's ext_authz checks for the requests that are
// not query submissions (the web UI, /v1/query, killing queries, server
// information) with the policy's data.switchyard.authz.decision. A denial
// is a JSON error the client can read; a policy failure denies.
package authz

import (
	"context"
	"log/slog"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

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
	Logger       *slog.Logger
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
	if sa := req.GetAttributes().GetSource().GetAddress().GetSocketAddress(); sa != nil {
		in.RemoteAddress = sa.GetAddress()
	}
	if info, err := trino.ParsePath(path, rawQuery); err == nil && info.QueryID != "" {
		in.QueryID = info.QueryID
		sctx, cancel := context.WithTimeout(ctx, s.StoreTimeout)
		r, err := s.Store.GetQuery(sctx, info.QueryID)
		cancel()
		if err == nil {
			in.QueryOwner = r.User
		}
	}
	d, err := s.Policy.Authorize(ctx, in)
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
	return &authv3.CheckResponse{
		Status: &status.Status{Code: int32(codes.PermissionDenied), Message: msg},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode_Forbidden},
			Headers: []*corev3.HeaderValueOption{{
				Header:       &corev3.HeaderValue{Key: "content-type", Value: "application/json"},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			}},
			Body: string(trino.ErrorDocument(code, msg)),
		}},
	}
}
