package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"time"

	"google.golang.org/grpc"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/switchyard-gw/switchyard/pkg/admin"
	"github.com/switchyard-gw/switchyard/pkg/authz"
	"github.com/switchyard-gw/switchyard/pkg/doctor"
	"github.com/switchyard-gw/switchyard/pkg/events"
	"github.com/switchyard-gw/switchyard/pkg/extproc"
	"github.com/switchyard-gw/switchyard/pkg/fleetqueries"
	"github.com/switchyard-gw/switchyard/pkg/lease"
	"github.com/switchyard-gw/switchyard/pkg/txlog"
	"github.com/switchyard-gw/switchyard/pkg/workload"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// components lists what runs while the control plane serves. A new
// subsystem is one entry.
func (s *Server) components() []component {
	cs := []component{
		{"admin", serveHTTP(s.adminServer(), s.listeners.admin, 5*time.Second)},
		{"xds", func(ctx context.Context) error {
			// ADS streams end with ctx (they never end on their own), and
			// an Envoy keeps its configuration until it reaches another
			// replica: no delay.
			return serveGRPC(s.xdsServer(ctx), s.listeners.xds, s.xdsHealth, 0, time.Second)(ctx)
		}},
		{"ext_proc", serveGRPC(s.extProcServer(), s.listeners.extProc, s.extProcHealth, s.stopDelay, 5*time.Second)},
		{"health", loop(func(ctx context.Context) { <-ctx.Done(); s.poller.Wait() })},
		{"fleet-watch", loop(s.fleet.Watch)},
		{"failover", loop(s.fleet.RunFailover)},
		{"reconciler", loop(func(ctx context.Context) { s.reconcile.Run(ctx, s.fleet.RunReconciler) })},
		{"publisher", loop(s.publishChanges)},
		{"policy-sync", loop(func(ctx context.Context) { s.policy.Sync(ctx, s.store.Documents, time.Second) })},
		{"query-records", loop(s.pending.Run)},
		{"governance", loop(s.governor.Run)},
		{"governance-reconciler", loop(func(ctx context.Context) {
			r := &workload.Reconciler{Governor: s.governor, Fleet: s.router.Fleet, Queries: s.coord,
				Interval: s.cfg.Governance.ReconcileInterval, UnboundGrace: s.cfg.Governance.UnboundGrace}
			s.govReconcile.Run(ctx, func(ctx context.Context, _ int64) { r.Run(ctx) })
		})},
		{"queue", serveHTTP(&http.Server{Handler: s.queue, ReadHeaderTimeout: 10 * time.Second}, s.listeners.queue, 5*time.Second)},
		{"readiness", loop(s.waitReady)},
		{"console-load", loop(func(ctx context.Context) { s.loadSampler.Run(ctx.Done()) })},
	}
	cs = append(cs, s.protectionComponents()...)
	cs = append(cs, s.autoRecoveryComponents()...)
	if s.adminTLS != nil {
		cs = append(cs, component{"admin-tls", loop(func(ctx context.Context) {
			s.adminTLS.Watch(ctx, 0, func(err error) {
				s.log.Error("admin TLS: the changed files do not load; the previous certificate stays in force", "err", err)
			})
		})})
	}
	if s.grpcTLS != nil {
		cs = append(cs, component{"grpc-tls", loop(func(ctx context.Context) {
			s.grpcTLS.Watch(ctx, s.cfg.Listener.RefreshPeriod, func(err error) {
				s.log.Error("xDS and ext_proc TLS: the changed files do not load; the previous certificate stays in force", "err", err)
			})
		})})
	}
	if len(s.edge.path) > 0 {
		cs = append(cs, component{"listener-files", loop(s.watchEdgeFiles)})
	}
	if s.passwords != nil {
		cs = append(cs, component{"password-file", loop(func(ctx context.Context) {
			s.passwords.Watch(ctx, s.cfg.Listener.RefreshPeriod, func(err error) {
				s.log.Error("password file: the changed file does not load; the previous one stays in force", "error", err)
			})
		})})
	}
	if s.resubmit != nil {
		cs = append(cs, component{"resubmit", serveHTTP(&http.Server{Handler: s.resubmit, ReadHeaderTimeout: 10 * time.Second}, s.listeners.resubmit, 5*time.Second)})
	}
	if p := s.cfg.Policy; p.Dir != "" && (p.Watch == nil || *p.Watch) {
		cs = append(cs, component{"policy-watch", loop(func(ctx context.Context) { s.policy.Watch(ctx, p.Dir, time.Second) })})
	}
	return cs
}

// loop is a component that runs fn until ctx ends.
func loop(fn func(ctx context.Context)) func(context.Context) error {
	return func(ctx context.Context) error {
		fn(ctx)
		return nil
	}
}

// serveGRPC serves g on l until ctx ends, then stops it gracefully: its
// health service says NOT_SERVING at once; after delay (for Envoy's health
// checks to see it and send new calls to other replicas, while this one
// still serves) g stops accepting, and calls in flight get grace to finish.
func serveGRPC(g *grpc.Server, l net.Listener, hs *grpchealth.Server, delay, grace time.Duration) func(context.Context) error {
	return serve(func() error { return g.Serve(l) }, grpc.ErrServerStopped, func() {
		hs.Shutdown()
		if delay > 0 {
			time.Sleep(delay) // a fixed notice to Envoy, not a synchronisation
		}
		done := make(chan struct{})
		go func() { g.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(grace):
			g.Stop()
		}
	})
}

// serveHTTP serves h on l until ctx ends, then shuts it down gracefully.
func serveHTTP(h *http.Server, l net.Listener, grace time.Duration) func(context.Context) error {
	return serve(func() error { return h.Serve(l) }, http.ErrServerClosed, func() {
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
}

// serve runs a server until ctx ends, then stops it; the error of a
// server that failed on its own is returned, the one it reports for being
// stopped (closed) is not.
func serve(run func() error, closed error, stop func()) func(context.Context) error {
	return func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- run() }()
		select {
		case err := <-errc:
			return err // failed before anyone stopped it
		case <-ctx.Done():
		}
		stop()
		if err := <-errc; err != nil && !errors.Is(err, closed) {
			return err
		}
		return nil
	}
}

var keepaliveEnforcement = keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}

func (s *Server) xdsServer(ctx context.Context) *grpc.Server {
	g := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepaliveEnforcement), grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second}))
	s.xds.Register(ctx, g)
	s.xdsHealth.SetServingStatus(xds.XDSHealthService, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(g, s.xdsHealth)
	return g
}

// extProcServer carries ext_proc, ext_authz and the transaction access log
// (one gRPC port for Envoy's calls to the control plane), and the health
// service Envoy checks: NOT_SERVING until the replica is ready (waitReady),
// so Envoy prefers replicas that are.
func (s *Server) extProcServer() *grpc.Server {
	g := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepaliveEnforcement), grpc.NumStreamWorkers(uint32(runtime.NumCPU())))
	extproc.New(extproc.Options{
		Pipeline:     s.pipeline,
		MaxBodyBytes: s.cfg.Listener.MaxBodyBytes,
		Identity:     s.identity,
		ForwardUser:  s.forwardUser(),
		Queries: func(ctx context.Context, f fleetqueries.Filter) fleetqueries.View {
			// Answered within Envoy's ext_proc message timeout.
			ctx, cancel := context.WithTimeout(ctx, s.cfg.ControlPlane.ExtProcTimeout*3/4)
			defer cancel()
			return s.fleetQueries(ctx, f)
		},
		Logger:  s.log.With("component", "extproc"),
		Metrics: s.extProcMetrics,
	}).Register(g)
	(&authz.Server{
		Policy: s.policy, Store: s.store.Queries, StoreTimeout: s.cfg.Store.Redis.Timeout, Logger: s.log.With("component", "authz"),
		Identity: s.identity,
	}).Register(g)
	(&txlog.Service{
		Store: s.store.Queries, TTL: s.cfg.Store.QueryTTL, Logger: s.log.With("component", "txlog"),
		Resolve: txlog.FleetResolver(s.router.Fleet, xds.CoordinatorClusterName),
	}).Register(g)
	for _, name := range []string{"", xds.ExtProcHealthService} {
		s.extProcHealth.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	healthpb.RegisterHealthServer(g, s.extProcHealth)
	return g
}

func (s *Server) adminServer() *http.Server {
	return &http.Server{Handler: admin.Handler(admin.Options{
		Gatherer: s.reg, Ready: s.readyCheck, Pprof: s.cfg.ControlPlane.Pprof,
		Fleet: s.fleet, Tokens: s.cfg.Admin.Tokens, ShutdownWorkers: s.cfg.Admin.ShutdownWorkers,
		Queries:    s.fleetQueries,
		Policy:     policyAPI{s},
		Governance: s.governor,
		Doctor: func(ctx context.Context, cluster string) (doctor.Report, error) {
			return s.doctor.Run(ctx, s.router.Fleet(), cluster)
		},
		Events: events.Handler(events.Options{
			Secrets: s.cfg.Events.SecretsByValue(), MaxBytes: s.cfg.Events.MaxBytes, Sink: s.eventLog.Sink(s.protection.Sink(s.governor)),
			Logger: s.log.With("component", "events"), Registerer: s.reg,
		}),
		Protection:   &admin.Protection{Store: s.store.Protection, Watchdog: s.watchdogDryRun},
		Audit:        s.store.Audit,
		AutoRecovery: s.autoRecoveryView(),
		Console:      s.consoleOptions(),
		Envoys:       s.xds.Envoys,
		Replica:      lease.DefaultHolder(),
		Logger:       s.log.With("component", "admin"),
	}), ReadHeaderTimeout: 10 * time.Second,
		// Refused handshakes and malformed requests, in the structured log.
		ErrorLog: slog.NewLogLogger(s.log.With("component", "admin").Handler(), slog.LevelWarn)}
}

// waitReady closes Ready once every coordinator has been checked once and
// the store answers.
func (s *Server) waitReady(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if s.poller.AllChecked() && s.store.Ping(ctx) == nil {
			close(s.ready)
			for _, name := range []string{"", xds.ExtProcHealthService} {
				s.extProcHealth.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
			}
			s.log.Info("control plane ready")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) readyCheck(r *http.Request) error {
	select {
	case <-s.ready:
	default:
		return errors.New("waiting for the first health check of every coordinator and the store")
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// fleetQueries reads the queries of every coordinator of the fleet.
func (s *Server) fleetQueries(ctx context.Context, f fleetqueries.Filter) fleetqueries.View {
	return fleetqueries.Collect(ctx, s.router.Fleet(), s.coord, f, s.cfg.CoordinatorAPI.Timeout)
}
