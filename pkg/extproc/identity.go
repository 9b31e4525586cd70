package extproc

import (
	"context"
	"net/http"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/identity"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// headerPairs iterates over Envoy's request headers.
func headerPairs(h *extprocv3.HttpHeaders) func(yield func(k, v string) bool) {
	return func(yield func(k, v string) bool) {
		for _, hv := range h.GetHeaders().GetHeaders() {
			if !yield(hv.GetKey(), headerValue(hv)) {
				return
			}
		}
	}
}

// authenticate verifies the request and records who it runs as; a failure
// is the processor that refuses it.
func (s *Server) authenticate(ctx context.Context, h *extprocv3.HttpHeaders, md *corev3.Metadata, req *admission.Request) processor {
	v := s.o.Identity
	if v == nil {
		return nil
	}
	var jwt map[string]any
	if ns := md.GetFilterMetadata()[identity.JWTNamespace]; ns != nil {
		jwt = ns.AsMap()
	}
	id, f := v.Verify(ctx, identity.Read(headerPairs(h), jwt))
	if f != nil {
		s.o.Logger.Info("request refused by authentication", "path", pathOnly(req.Path), "status", f.Status, "reason", f.Message)
		return &refusedProcessor{req: *req, f: f}
	}
	req.SetVerified(id.Principal, id.User, id.Method)
	return nil
}

// forwardIdentity makes what the cluster receives carry the verified user
// (Options.ForwardUser): X-Trino-User set to it, the client's credentials
// removed (a cluster that trusts the gateway would refuse a password over
// its plain HTTP).
func (s *Server) forwardIdentity(req *admission.Request, r *extprocv3.ProcessingResponse) *extprocv3.ProcessingResponse {
	hr := r.GetRequestHeaders()
	if !s.o.ForwardUser || req.Principal == "" || hr == nil {
		return r
	}
	if hr.Response == nil {
		hr.Response = &extprocv3.CommonResponse{}
	}
	if hr.Response.HeaderMutation == nil {
		hr.Response.HeaderMutation = &extprocv3.HeaderMutation{}
	}
	mut := hr.Response.HeaderMutation
	mut.SetHeaders = append(mut.SetHeaders, setHeader(trino.HeaderUser, req.Session.User))
	mut.RemoveHeaders = append(mut.RemoveHeaders, "authorization")
	return r
}

func pathOnly(p string) string {
	path, _, _ := strings.Cut(p, "?")
	return path
}

// refusedProcessor answers a request that failed authentication. A
// submission refused for a user the principal may not impersonate gets a
// FAILED QueryResults (HTTP 200, what every client prints); everything
// else gets the HTTP status with a JSON error and, for a 401, the
// challenges.
type refusedProcessor struct {
	req admission.Request
	f   *identity.Failure
}

func (p *refusedProcessor) kind() trino.PathKind {
	info, _ := p.req.PathInfo()
	return info.Kind
}

func (p *refusedProcessor) outcome() string { return "unauthenticated" }

func (p *refusedProcessor) requestHeaders(context.Context, *extprocv3.HttpHeaders) []*extprocv3.ProcessingResponse {
	return one(refusal(&p.req, p.f))
}

func (p *refusedProcessor) requestBody(context.Context, *extprocv3.HttpBody) []*extprocv3.ProcessingResponse {
	return nil // the stream ended with the refusal
}

func (p *refusedProcessor) responseBody(context.Context, *extprocv3.HttpBody) []*extprocv3.ProcessingResponse {
	return one(responseBodyContinue)
}

// refusal is the immediate response for a failure.
func refusal(req *admission.Request, f *identity.Failure) *extprocv3.ProcessingResponse {
	info, _ := req.PathInfo()
	if f.Status == http.StatusForbidden && info.Kind == trino.PathSubmit && req.Method == "POST" {
		r := (&admission.Rejection{Code: f.Code, Message: f.Message}).Render(req)
		return immediate(r, "switchyard_"+strings.ToLower(f.Code.Name))
	}
	r := admission.Response{Status: f.Status, ContentType: "application/json", Body: trino.ErrorDocument(f.Code, f.Message)}
	for _, c := range f.Challenges {
		r.Headers = append(r.Headers, admission.Header{Name: "www-authenticate", Value: c})
	}
	return immediate(r, "switchyard_"+strings.ToLower(f.Code.Name))
}
