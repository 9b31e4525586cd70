package extproc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// processor holds the state of one request.
type processor struct {
	s         *Server
	kind      trino.PathKind
	method    string
	path      string
	scheme    string
	authority string
	group     string // X-Trino-Routing-Group
	user      string
	req       requestInfo // the rest of the session, for policy
	decision  routing.Decision
	entry     *policy.LogEntry // this submission's decision log entry
	dry       bool             // a dry run: decide only, record nothing
	id        string           // gateway decision ID, for logs and error documents
	spent     time.Duration

	// A submission's headers are answered once its whole body has arrived
	// (Envoy streams the body without waiting for that answer).
	awaitingBody bool
	sql          []byte
	chunks       int // body chunks received, each owed a response
}

// handle answers one message from Envoy with zero or more responses.
func (p *processor) handle(ctx context.Context, req *extprocv3.ProcessingRequest) []*extprocv3.ProcessingResponse {
	start := time.Now()
	defer func() { p.spent += time.Since(start) }()
	switch r := req.Request.(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return one(p.requestHeaders(ctx, r.RequestHeaders))
	case *extprocv3.ProcessingRequest_RequestBody:
		return p.requestBody(ctx, r.RequestBody)
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return one(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocv3.HeadersResponse{}}})
	case *extprocv3.ProcessingRequest_ResponseBody:
		return one(p.responseBody(ctx, r.ResponseBody))
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return one(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{RequestTrailers: &extprocv3.TrailersResponse{}}})
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		return one(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{ResponseTrailers: &extprocv3.TrailersResponse{}}})
	}
	return nil
}

func one(r *extprocv3.ProcessingResponse) []*extprocv3.ProcessingResponse {
	if r == nil {
		return nil
	}
	return []*extprocv3.ProcessingResponse{r}
}

func (p *processor) log() *slog.Logger {
	return p.s.o.Logger.With("request", p.id, "method", p.method, "path", p.path)
}

func (p *processor) requestHeaders(ctx context.Context, h *extprocv3.HttpHeaders) *extprocv3.ProcessingResponse {
	for _, hv := range h.GetHeaders().GetHeaders() {
		v := headerValue(hv)
		switch hv.GetKey() {
		case ":method":
			p.method = v
		case ":path":
			p.path = v
		case ":scheme":
			p.scheme = v
		case ":authority":
			p.authority = v
		case trino.HeaderRoutingGroup:
			p.group = strings.TrimSpace(v)
		case trino.HeaderUser:
			p.user = v
		default:
			p.req.header(hv.GetKey(), v)
		}
	}
	p.id = newDecisionID()
	path, rawQuery := trino.SplitPathQuery(p.path)
	if strings.HasPrefix(path, trino.RoutePrefix) {
		// Routed by path already (the infoUri UI pages of a query).
		return p.finish(continueHeaders(nil), "passed")
	}
	info, perr := trino.ParsePath(path, rawQuery)
	p.kind = info.Kind
	if perr != nil {
		var m *trino.MalformedQueryIDError
		if errors.As(perr, &m) {
			return p.reject(trino.ErrMalformedQueryID, perr.Error(), info.QueryID)
		}
	}
	switch {
	case info.Kind == trino.PathSubmit && p.method == "POST":
		if h.GetEndOfStream() { // no body: decide now
			return p.decideSubmission(ctx)
		}
		// Decide once the SQL has arrived (policy reads it); the body
		// follows these headers without waiting for an answer.
		p.awaitingBody = true
		return nil
	case info.QueryID != "":
		return p.routeToOwner(ctx, info)
	default:
		return p.routeAnywhere()
	}
}

// requestBody collects a submission's SQL. When the last chunk arrives it
// answers the headers with the decision, then every chunk in order.
func (p *processor) requestBody(ctx context.Context, b *extprocv3.HttpBody) []*extprocv3.ProcessingResponse {
	bodyOK := &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{}}}
	if !p.awaitingBody {
		return one(bodyOK)
	}
	p.chunks++
	if len(p.sql)+len(b.GetBody()) > p.s.o.MaxBodyBytes {
		p.awaitingBody = false
		return one(p.reject(trino.ErrQueryTextTooLarge, fmt.Sprintf(
			"query text exceeds the gateway limit of %d bytes (listener.maxBodyBytes)", p.s.o.MaxBodyBytes), ""))
	}
	p.sql = append(p.sql, b.GetBody()...)
	if !b.GetEndOfStream() {
		return nil
	}
	p.awaitingBody = false
	headers := p.decideSubmission(ctx)
	if headers.GetImmediateResponse() != nil {
		return one(headers)
	}
	out := make([]*extprocv3.ProcessingResponse, 0, 1+p.chunks)
	out = append(out, headers)
	for range p.chunks {
		out = append(out, bodyOK)
	}
	return out
}

// responseBody reads the first QueryResults of a submission and records the
// query's owner in the shared store, before the client can ask for it.
func (p *processor) responseBody(ctx context.Context, b *extprocv3.HttpBody) *extprocv3.ProcessingResponse {
	resp := &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: &extprocv3.BodyResponse{}}}
	if p.kind != trino.PathSubmit || p.decision.Group == "" {
		return resp
	}
	r, err := trino.ParseSubmitResponse(b.GetBody())
	if err != nil {
		p.log().Warn("submission answered without a query ID", "cluster", p.decision.Cluster, "error", err)
		return resp
	}
	route, ok := ownerFromURIs(r)
	route.User = p.user
	if !ok {
		// Not an answer of the chosen coordinator (e.g. a gateway error
		// document): nothing to record.
		p.log().Warn("submission answer carries no gateway prefix; query owner not recorded",
			"query", r.ID, "cluster", p.decision.Cluster, "nextUri", r.NextURI)
		return resp
	}
	sctx, cancel := p.s.storeCtx(ctx)
	defer cancel()
	if err := p.s.o.Store.PutQuery(sctx, r.ID, route, p.s.o.QueryTTL); err != nil {
		// The client still follows prefixed URIs; only unprefixed lookups
		// of this query will miss.
		p.s.o.Metrics.StoreError.WithLabelValues("put_query").Inc()
		p.log().Error("recording query owner failed", "query", r.ID, "owner", route.String(), "error", err)
	}
	if p.entry != nil && p.s.o.Decisions != nil {
		p.s.o.Decisions.SetQueryID(p.entry, r.ID)
	}
	p.log().Info("query submitted", "query", r.ID, "user", p.user, "group", p.decision.Group, "owner", route.String())
	return resp
}

// ownerFromURIs reads the coordinator that answered a submission from the
// /_sy/{cluster}/{coordinator} prefix it put in front of its URIs.
func ownerFromURIs(r trino.SubmitResponse) (store.QueryRoute, bool) {
	for _, uri := range []string{r.NextURI, r.InfoURI} {
		if u, err := url.Parse(uri); err == nil {
			if c, k, _, ok := trino.ParseCoordinatorPrefix(u.Path); ok {
				return store.QueryRoute{Cluster: c, Coordinator: k}, true
			}
		}
	}
	return store.QueryRoute{}, false
}

// routeToOwner sends a request about a known query to the coordinator (or
// cluster) that owns it.
func (p *processor) routeToOwner(ctx context.Context, info trino.PathInfo) *extprocv3.ProcessingResponse {
	sctx, cancel := p.s.storeCtx(ctx)
	defer cancel()
	r, err := p.s.o.Store.GetQuery(sctx, info.QueryID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return p.reject(trino.ErrQueryNotFound, fmt.Sprintf(
			"query %s is not known to the gateway: it was not submitted through it, or it finished more than the query TTL ago", info.QueryID), info.QueryID)
	case err != nil:
		p.s.o.Metrics.StoreError.WithLabelValues("get_query").Inc()
		p.log().Error("looking up query owner failed", "query", info.QueryID, "error", err)
		return p.reject(trino.ErrGatewayInternal, fmt.Sprintf(
			"the gateway cannot look up query %s right now (shared store unavailable); follow the nextUri the server returned, or retry", info.QueryID), info.QueryID)
	}
	f := p.s.o.Router.Fleet()
	c, ok := f.Cluster(r.Cluster)
	if !ok {
		return p.reject(trino.ErrQueryNotFound, fmt.Sprintf("query %s ran on cluster %s, which is no longer in the fleet", info.QueryID, r.Cluster), info.QueryID)
	}
	target := c.Name
	if _, ok := c.Coordinator(r.Coordinator); ok {
		target = fleet.Key(c.Name, r.Coordinator)
	}
	return p.finish(continueHeaders(&extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{setHeader(xds.RouteHeader, target)}}), "routed")
}

// routeAnywhere sends a request that belongs to no query (server info, UI
// assets, query lists) to a healthy cluster of the default group.
func (p *processor) routeAnywhere() *extprocv3.ProcessingResponse {
	d, err := p.s.o.Router.Route(routing.Request{})
	if err != nil {
		var re *routing.Error
		if errors.As(err, &re) {
			return p.reject(re.Code, re.Message, "")
		}
		return p.reject(trino.ErrGatewayInternal, err.Error(), "")
	}
	return p.finish(continueHeaders(&extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{setHeader(xds.RouteHeader, d.Cluster)}}), "routed")
}

// reject answers the request itself. On the statement protocol the answer is
// a FAILED QueryResults with HTTP 200, which every Trino client prints as
// "Query <id> failed: <message>"; elsewhere a JSON error with a status.
func (p *processor) reject(code trino.ErrorCode, msg, queryID string) *extprocv3.ProcessingResponse {
	var status int
	var body []byte
	if p.kind.IsStatement() && p.method != "DELETE" {
		if queryID == "" {
			queryID = p.id
		}
		status, body = 200, trino.FailedQueryResults(queryID, p.baseURL()+"/ui/", code, msg)
	} else {
		status, body = httpStatus(code), trino.ErrorDocument(code, msg)
	}
	if !p.dry {
		p.log().Info("request rejected", "error", code.Name, "message", msg, "user", p.user)
	}
	if p.entry != nil {
		p.entry.Error = code.Name + ": " + msg
	}
	p.finishMetrics("rejected")
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocv3.ImmediateResponse{
		Status:  &typev3.HttpStatus{Code: typev3.StatusCode(status)},
		Headers: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{setHeader("content-type", "application/json")}},
		Body:    body,
		Details: "switchyard_" + strings.ToLower(code.Name),
	}}}
}

func httpStatus(code trino.ErrorCode) int {
	switch code {
	case trino.ErrQueryNotFound, trino.ErrMalformedQueryID, trino.ErrNoRoute:
		return 404
	case trino.ErrUnknownRoutingGroup, trino.ErrBadRequest, trino.ErrUnknownTransaction:
		return 400
	case trino.ErrPolicyDenied:
		return 403
	case trino.ErrQueryTextTooLarge:
		return 413
	case trino.ErrNoClusterAvailable, trino.ErrGatewayUnavailable:
		return 503
	}
	return 500
}

func (p *processor) baseURL() string {
	scheme := p.scheme
	if scheme == "" {
		scheme = "http"
	}
	return scheme + "://" + p.authority
}

func (p *processor) finish(r *extprocv3.ProcessingResponse, outcome string) *extprocv3.ProcessingResponse {
	p.finishMetrics(outcome)
	return r
}

func (p *processor) finishMetrics(outcome string) {
	if p.dry {
		return
	}
	m := p.s.o.Metrics
	m.Requests.WithLabelValues(p.kind.String(), outcome).Inc()
	m.Latency.WithLabelValues(p.kind.String()).Observe(p.spent.Seconds())
}

func continueHeaders(mut *extprocv3.HeaderMutation) *extprocv3.ProcessingResponse {
	hr := &extprocv3.HeadersResponse{}
	if mut != nil {
		hr.Response = &extprocv3.CommonResponse{HeaderMutation: mut, ClearRouteCache: len(mut.SetHeaders) > 0}
	}
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: hr}}
}

func setHeader(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: k, RawValue: []byte(v)},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

func headerValue(h *corev3.HeaderValue) string {
	if h.GetValue() != "" {
		return h.GetValue()
	}
	return string(h.GetRawValue())
}

func newDecisionID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "sy_" + time.Now().UTC().Format("20060102_150405") + "_" + hex.EncodeToString(b[:])
}
