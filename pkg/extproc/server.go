// Package extproc is the ext_proc gRPC service Envoy calls for requests that
// need a decision: submissions (headers and SQL body in, the first
// QueryResults out to learn the query ID) and requests that arrive without
// the gateway's path prefix (sticky lookups in the shared store).
//
// It adapts Envoy's messages to the admission pipeline and back: one
// processor per stream, chosen from the first request-headers message by
// path and method; the decision is written into a header the gateway owns
// and the route table does the rest; refusals are Trino-shaped immediate
// responses.
package extproc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/fleetqueries"
	"github.com/switchyard-gw/switchyard/pkg/identity"
)

// Options configure the service.
type Options struct {
	// Pipeline decides every request.
	Pipeline *admission.Pipeline
	// MaxBodyBytes bounds a submission's SQL text.
	MaxBodyBytes int
	// Identity verifies who sends each request (nil: X-Trino-User is
	// trusted as sent).
	Identity *identity.Verifier
	// Queries lists the fleet's queries: GET /v1/query is answered with
	// the caller's own (nil: the request goes to a cluster, as any other).
	Queries func(ctx context.Context, f fleetqueries.Filter) fleetqueries.View
	// ForwardUser: a cluster receives the verified user in X-Trino-User
	// and not the client's credentials.
	ForwardUser bool
	Logger      *slog.Logger
	Metrics     *Metrics
}

// Server implements envoy.service.ext_proc.v3.ExternalProcessor.
type Server struct {
	extprocv3.UnimplementedExternalProcessorServer
	o Options
}

// New returns the service.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	return &Server{o: o}
}

// Register adds the service to a gRPC server.
func (s *Server) Register(g *grpc.Server) { extprocv3.RegisterExternalProcessorServer(g, s) }

// errFirstMessage refuses a stream that does not start with the request
// headers (Envoy always sends them first in the modes the gateway asks for).
var errFirstMessage = status.Error(codes.InvalidArgument, "ext_proc: the first message of a stream must be the request headers")

// errSecondHeaders refuses a second request-headers message on a stream.
var errSecondHeaders = status.Error(codes.InvalidArgument, "ext_proc: request headers arrived twice on one stream")

// Process handles one HTTP request's stream of processing messages.
func (s *Server) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	if observing(stream.Context()) {
		return s.observe(stream)
	}
	ctx := stream.Context()
	var st streamState
	defer st.end(ctx)
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
			return nil
		}
		if err != nil {
			return err
		}
		out, err := s.step(ctx, &st, req)
		if err != nil {
			return err
		}
		for _, resp := range out {
			if err := stream.Send(resp); err != nil {
				return err
			}
		}
	}
}

// streamState is one stream's processor and its accounting.
type streamState struct {
	p        processor
	spent    time.Duration // in this service, not waiting for Envoy
	observed bool
}

// end tells the processor its stream is over (a submission whose answer
// never came frees what it held).
func (st *streamState) end(ctx context.Context) {
	if e, ok := st.p.(ender); ok {
		e.end(ctx)
	}
}

// ender is a processor that acts when its stream ends.
type ender interface{ end(ctx context.Context) }

// step answers one message of a stream. The first must be the request
// headers: they choose the processor. The decision is counted once, with
// the time spent on every message up to it.
func (s *Server) step(ctx context.Context, st *streamState, req *extprocv3.ProcessingRequest) ([]*extprocv3.ProcessingResponse, error) {
	start := time.Now()
	var out []*extprocv3.ProcessingResponse
	switch h := req.GetRequestHeaders(); {
	case h != nil && st.p != nil:
		return nil, errSecondHeaders
	case h != nil:
		st.p = s.newProcessor(ctx, h, req.GetMetadataContext())
		out = st.p.requestHeaders(ctx, h)
	case st.p == nil:
		return nil, errFirstMessage
	default:
		out = s.handle(ctx, st.p, req)
	}
	st.spent += time.Since(start)
	if label := st.p.outcome(); label != "" && !st.observed {
		st.observed = true
		kind := st.p.kind().String()
		s.o.Metrics.Requests.WithLabelValues(kind, label).Inc()
		s.o.Metrics.Latency.WithLabelValues(kind).Observe(st.spent.Seconds())
	}
	return out, nil
}

// handle answers a message after the request headers.
func (s *Server) handle(ctx context.Context, p processor, req *extprocv3.ProcessingRequest) []*extprocv3.ProcessingResponse {
	switch r := req.Request.(type) {
	case *extprocv3.ProcessingRequest_RequestBody:
		return p.requestBody(ctx, r.RequestBody)
	case *extprocv3.ProcessingRequest_ResponseBody:
		return p.responseBody(ctx, r.ResponseBody)
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return one(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocv3.HeadersResponse{}}})
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return one(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{RequestTrailers: &extprocv3.TrailersResponse{}}})
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		return one(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{ResponseTrailers: &extprocv3.TrailersResponse{}}})
	}
	return nil
}
