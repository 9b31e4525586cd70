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
	"sync"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchyard-gw/switchyard/pkg/cost"
	"github.com/switchyard-gw/switchyard/pkg/extrouter"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/policy"
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
	// Policy decides submissions (nil: the routing group header or the
	// default group, no policy).
	Policy *policy.Engine
	// Decisions keeps recent routing decisions for the admin API.
	Decisions *policy.DecisionLog
	// Health feeds the fleet view the policy sees.
	Health routing.HealthView
	// TransactionWait is how long a statement of an unknown transaction
	// waits for the transaction to be recorded (default 1s).
	TransactionWait time.Duration
	// ExtRouter is the external routing service (nil: none); with
	// ExtRouterFailClosed a failed call refuses the query.
	ExtRouter           extrouter.Client
	ExtRouterFailClosed bool
	// Cost estimates queries for the policy (nil: no estimates).
	Cost *cost.Estimator
}

// Server implements envoy.service.ext_proc.v3.ExternalProcessor.
type Server struct {
	extprocv3.UnimplementedExternalProcessorServer
	o Options

	fleetMu    sync.Mutex
	fleetFor   *fleet.Fleet
	fleetAt    time.Time
	fleetCache policy.FleetInfo
	fleetValue policy.FleetValue
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

// fleetInfo is the fleet as the policy sees it (and as an OPA value),
// rebuilt at most every 250 ms or when the fleet changes.
func (s *Server) fleetInfo() (policy.FleetInfo, *policy.FleetValue) {
	f := s.o.Router.Fleet()
	s.fleetMu.Lock()
	defer s.fleetMu.Unlock()
	if f == s.fleetFor && time.Since(s.fleetAt) < 250*time.Millisecond {
		fv := s.fleetValue
		return s.fleetCache, &fv
	}
	info := policy.FleetInfo{DefaultGroup: f.DefaultGroup, Groups: map[string]policy.GroupInfo{}, Clusters: map[string]policy.ClusterInfo{}}
	for _, g := range f.Groups {
		gi := policy.GroupInfo{Strategy: g.Strategy}
		for _, c := range f.ClustersIn(g.Name) {
			gi.Clusters = append(gi.Clusters, c.Name)
		}
		info.Groups[g.Name] = gi
	}
	for i := range f.Clusters {
		c := &f.Clusters[i]
		ci := policy.ClusterInfo{Group: c.Group, State: string(c.State), Healthy: s.o.Router.ClusterUp(c), Tags: c.Tags, Weight: c.Weight}
		if s.o.Health != nil {
			for _, co := range c.Coordinators {
				if st, ok := s.o.Health.Status(fleet.Key(c.Name, co.Name)); ok {
					ci.Running += st.Load.Running
					ci.Queued += st.Load.Queued
				}
			}
		}
		info.Clusters[c.Name] = ci
	}
	s.fleetFor, s.fleetAt, s.fleetCache, s.fleetValue = f, time.Now(), info, policy.NewFleetValue(info)
	fv := s.fleetValue
	return info, &fv
}

// lookupTransaction finds the coordinator of a transaction. The mapping is
// recorded from the access log of the response that started it, a moment
// after the client saw that response, so a miss waits a little.
func (s *Server) lookupTransaction(ctx context.Context, txn string) (store.QueryRoute, error) {
	wait := s.o.TransactionWait
	if wait <= 0 {
		wait = time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		sctx, cancel := s.storeCtx(ctx)
		r, err := s.o.Store.GetTransaction(sctx, txn)
		cancel()
		if !errors.Is(err, store.ErrNotFound) || time.Now().After(deadline) {
			return r, err
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Server) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.o.StoreTimeout)
}
