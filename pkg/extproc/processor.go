package extproc

import (
	"context"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/trino"
	"github.com/switchyard-gw/switchyard/pkg/webui"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// processor handles the messages of one stream after its first request
// headers chose it.
type processor interface {
	requestHeaders(ctx context.Context, h *extprocv3.HttpHeaders) []*extprocv3.ProcessingResponse
	requestBody(ctx context.Context, b *extprocv3.HttpBody) []*extprocv3.ProcessingResponse
	responseBody(ctx context.Context, b *extprocv3.HttpBody) []*extprocv3.ProcessingResponse
	// kind is the request's kind, for metrics.
	kind() trino.PathKind
	// outcome is the decision's metric label once decided, else "".
	outcome() string
}

// newProcessor reads the request from its headers and picks the processor
// for its kind: a submission (decided once its SQL has arrived), a request
// under the gateway's own prefix (routed by path already), or a request
// decided from its headers alone (a query's owner, or any cluster).
func (s *Server) newProcessor(ctx context.Context, h *extprocv3.HttpHeaders, md *corev3.Metadata) processor {
	var req admission.Request
	readHeaders(h, &req)
	if refused := s.authenticate(ctx, h, md, &req); refused != nil {
		return refused
	}
	path, _ := req.SplitPath()
	if req.Method == "POST" && webui.IsLogin(path) {
		return &uiLoginProcessor{s: s, req: req}
	}
	if strings.HasPrefix(path, trino.RoutePrefix) {
		// The infoUri UI pages of a query: routed by path.
		return &headersProcessor{s: s, req: req, k: trino.PathOther, decide: passPrefixed}
	}
	if req.Method == "GET" && path == QueryListPath && s.o.Queries != nil {
		return &listProcessor{s: s, req: req}
	}
	info, err := req.PathInfo()
	switch {
	case info.Kind == trino.PathSubmit && req.Method == "POST":
		return &submitProcessor{s: s, req: req}
	case info.QueryID != "" || err != nil:
		return &headersProcessor{s: s, req: req, k: info.Kind, decide: locate}
	}
	return &headersProcessor{s: s, req: req, k: info.Kind, decide: anywhere}
}

// How a headersProcessor decides.
const (
	anywhere     = iota // any healthy cluster of the default group
	locate              // the owner of the query the path names
	passPrefixed        // nothing: the route table routes the prefix
)

// headersProcessor decides from the request headers alone.
type headersProcessor struct {
	s      *Server
	req    admission.Request
	k      trino.PathKind
	decide int
	label  string
}

func (p *headersProcessor) kind() trino.PathKind { return p.k }
func (p *headersProcessor) outcome() string      { return p.label }

func (p *headersProcessor) requestHeaders(ctx context.Context, _ *extprocv3.HttpHeaders) []*extprocv3.ProcessingResponse {
	var o admission.Outcome
	switch p.decide {
	case locate:
		o = p.s.o.Pipeline.Locate(ctx, &p.req)
	case anywhere:
		o = p.s.o.Pipeline.Anywhere(ctx, &p.req)
	}
	o = p.s.o.Pipeline.UIRequest(ctx, &p.req, o)
	p.label = o.Label()
	return one(p.s.forwardIdentity(&p.req, answer(&p.req, o, nil)))
}

func (p *headersProcessor) requestBody(context.Context, *extprocv3.HttpBody) []*extprocv3.ProcessingResponse {
	return one(bodyContinue)
}

func (p *headersProcessor) responseBody(context.Context, *extprocv3.HttpBody) []*extprocv3.ProcessingResponse {
	return one(responseBodyContinue)
}

// submitProcessor decides a submission. Envoy streams the SQL body right
// behind the headers without waiting for their answer; the decision
// answers the headers once the whole body has arrived, followed by one
// answer per body chunk: one exchange on the client's critical path. A
// routed submission's answer carries its follow-up in the ticket header,
// for the answer observer (observer.go).
type submitProcessor struct {
	s      *Server
	req    admission.Request
	sub    admission.Submission // decided when sub.Req is set
	label  string
	sql    []byte
	chunks int  // body chunks received, each owed an answer
	body   bool // the body is still arriving
}

func (p *submitProcessor) kind() trino.PathKind { return trino.PathSubmit }
func (p *submitProcessor) outcome() string      { return p.label }

func (p *submitProcessor) requestHeaders(ctx context.Context, h *extprocv3.HttpHeaders) []*extprocv3.ProcessingResponse {
	if h.GetEndOfStream() { // no body: decide now
		return one(p.decide(ctx))
	}
	p.body = true
	return nil
}

func (p *submitProcessor) requestBody(ctx context.Context, b *extprocv3.HttpBody) []*extprocv3.ProcessingResponse {
	if !p.body {
		return one(bodyContinue)
	}
	p.chunks++
	if limit := p.s.o.MaxBodyBytes; len(p.sql)+len(b.GetBody()) > limit {
		p.body = false
		o := p.s.o.Pipeline.TooLarge(&p.req, limit)
		p.label = o.Label()
		return one(answer(&p.req, o, nil))
	}
	p.sql = append(p.sql, b.GetBody()...)
	if !b.GetEndOfStream() {
		return nil
	}
	p.body = false
	headers := p.decide(ctx)
	if headers.GetImmediateResponse() != nil {
		return one(headers)
	}
	out := make([]*extprocv3.ProcessingResponse, 0, 1+p.chunks)
	out = append(out, headers)
	for range p.chunks {
		out = append(out, bodyContinue)
	}
	return out
}

// decide runs the pipeline and answers the request headers. The answer
// is read by the observer (first QueryResults), so it must not be
// compressed.
func (p *submitProcessor) decide(ctx context.Context) *extprocv3.ProcessingResponse {
	p.req.Body = p.sql
	p.sub.Req = &p.req
	o := p.s.o.Pipeline.Submit(ctx, &p.sub)
	p.label = o.Label()
	r := p.s.forwardIdentity(&p.req, answer(&p.req, o, []string{"accept-encoding"}))
	if o.Action != admission.Route {
		return r
	}
	f, ok := p.s.o.Pipeline.FollowUp(&p.sub)
	if !ok {
		return r
	}
	ticket, err := f.Encode()
	if err != nil {
		p.s.o.Logger.Warn("submission routed without its follow-up: its owner will not be recorded", "request", f.ID, "error", err)
		return r
	}
	if mut := r.GetRequestHeaders().GetResponse().GetHeaderMutation(); mut != nil {
		mut.SetHeaders = append(mut.SetHeaders, setHeader(xds.TicketHeader, ticket))
	}
	return r
}

func (p *submitProcessor) responseBody(context.Context, *extprocv3.HttpBody) []*extprocv3.ProcessingResponse {
	return one(responseBodyContinue)
}

// uiLoginProcessor answers the web UI's login form (POST /ui/login): the
// route buffers the form, which comes in one body message after the
// headers.
type uiLoginProcessor struct {
	s     *Server
	req   admission.Request
	label string
	done  bool
}

func (p *uiLoginProcessor) kind() trino.PathKind { return trino.PathOther }
func (p *uiLoginProcessor) outcome() string      { return p.label }

func (p *uiLoginProcessor) requestHeaders(ctx context.Context, h *extprocv3.HttpHeaders) []*extprocv3.ProcessingResponse {
	if h.GetEndOfStream() {
		return one(p.decide(ctx, nil))
	}
	return one(continueHeaders(nil))
}

func (p *uiLoginProcessor) requestBody(ctx context.Context, b *extprocv3.HttpBody) []*extprocv3.ProcessingResponse {
	if p.done {
		return one(bodyContinue)
	}
	if limit := p.s.o.MaxBodyBytes; len(b.GetBody()) > limit {
		p.done = true
		return one(immediate(admission.Response{Status: 413, ContentType: "application/json", Body: []byte(`{"error":"the login form is too large"}`)}, "switchyard_ui_login_too_large"))
	}
	return one(p.decide(ctx, b.GetBody()))
}

func (p *uiLoginProcessor) decide(ctx context.Context, body []byte) *extprocv3.ProcessingResponse {
	p.done = true
	p.req.Body = body
	o := p.s.o.Pipeline.UILogin(ctx, &p.req)
	p.label = o.Label()
	return answer(&p.req, o, nil)
}

func (p *uiLoginProcessor) responseBody(context.Context, *extprocv3.HttpBody) []*extprocv3.ProcessingResponse {
	return one(responseBodyContinue)
}
