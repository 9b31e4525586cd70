// Package extproc is the ext_proc gRPC service Envoy calls for requests that
// need a decision: submissions (headers and SQL body in, the first
// QueryResults out to learn the query ID) and follow-ups that arrive without
// the gateway's path prefix (sticky lookups in the shared store).
//
// One processor per stream, chosen from the request headers; the decision
// is written into a header the gateway owns and the route table does the
// rest. Errors are answered with Trino-shaped immediate responses.
package extproc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// Options configure the service.
type Options struct {
	Router       *routing.Router
	Store        store.Store
	QueryTTL     time.Duration
	MaxBodyBytes int
	// StoreTimeout bounds each store call on the request path.
	StoreTimeout time.Duration
	Logger       *slog.Logger
	Metrics      *Metrics
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

// Process handles one HTTP request's stream of processing messages.
func (s *Server) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	ctx := stream.Context()
	p := &processor{s: s}
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
			return nil
		}
		if err != nil {
			return err
		}
		for _, resp := range p.handle(ctx, req) {
			if err := stream.Send(resp); err != nil {
				return err
			}
		}
	}
}

func (s *Server) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.o.StoreTimeout)
}
