// Package server wires the control plane together for `switchyard serve`:
// configuration to fleet model, shared store, health poller, router, the xDS
// and ext_proc gRPC services and the admin HTTP server.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/switchyard-gw/switchyard/pkg/admin"
	"github.com/switchyard-gw/switchyard/pkg/authz"
	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/cost"
	"github.com/switchyard-gw/switchyard/pkg/extproc"
	"github.com/switchyard-gw/switchyard/pkg/extrouter"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/lifecycle"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/txlog"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// Server is a running control plane.
type Server struct {
	cfg       *config.Config
	log       *slog.Logger
	reg       *prometheus.Registry
	store     store.Store
	poller    *health.Poller
	coord     *coordinator.Client // every call to a coordinator's REST API
	router    *routing.Router
	xds       *xds.Server
	fleet     *lifecycle.Manager
	dirty     chan struct{}  // the fleet changed: publish a new snapshot
	policy    *policy.Engine // Current() is nil without a policy
	decisions *policy.DecisionLog
	ext       *extproc.Server
	extRouter extrouter.Client

	// Addresses actually bound (useful when the config asks for port 0).
	AdminAddr, XDSAddr, ExtProcAddr string

	listeners []net.Listener
	ready     chan struct{}
}

// New builds the control plane from a validated configuration and binds its
// ports, so a caller knows at once whether the addresses are usable.
func New(cfg *config.Config, log *slog.Logger) (*Server, error) {
	s := &Server{cfg: cfg, log: log, reg: prometheus.NewRegistry(), ready: make(chan struct{}), dirty: make(chan struct{}, 1)}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	switch cfg.Store.Type {
	case config.StoreRedis:
		r := cfg.Store.Redis
		s.store = store.NewRedis(store.RedisOptions{Address: r.Address, Username: r.Username, Password: r.Password,
			DB: r.DB, Timeout: r.Timeout, KeyPrefix: r.KeyPrefix})
	default:
		log.Warn("using the in-memory store: state is not shared, so run a single control-plane replica; a fleet of replicas needs store.type: redis")
		s.store = store.NewMemory()
	}

	api := cfg.CoordinatorAPI
	s.coord = coordinator.New(coordinator.Options{User: api.User, Source: api.Source, Timeout: api.Timeout})
	s.poller = health.NewPoller(health.Options{
		Interval: cfg.Health.Interval, Timeout: cfg.Health.Timeout,
		Rise: cfg.Health.RiseThreshold, Fall: cfg.Health.FallThreshold,
		Client: s.coord, Logger: log,
	})
	s.router = routing.New(fleet.FromConfig(cfg), s.poller)
	s.xds = xds.NewServer(log.With("component", "xds"), s.xdsMetrics())
	s.fleet = lifecycle.New(lifecycle.Options{
		Config: cfg, Store: s.store, Health: s.poller, Client: s.coord, Logger: log.With("component", "lifecycle"),
		OnFleet: func(f *fleet.Fleet) {
			s.router.SetFleet(f)
			select {
			case s.dirty <- struct{}{}:
			default:
			}
		},
	})

	s.decisions = policy.NewDecisionLog(cfg.Policy.DecisionLogSize)
	var initial *policy.Compiled
	if cfg.Policy.Dir != "" {
		b, err := policy.LoadDir(cfg.Policy.Dir)
		if err != nil {
			return nil, err
		}
		if initial, err = policy.Compile(context.Background(), b); err != nil {
			return nil, fmt.Errorf("policy %s: %w", cfg.Policy.Dir, err)
		}
		log.Info("policy loaded", "dir", cfg.Policy.Dir, "version", initial.Version, "files", len(initial.Files), "tests_passed", initial.Tests.Passed)
	}
	s.policy = policy.NewEngine(initial, log.With("component", "policy"))
	if er := cfg.Routing.ExternalRouter; er.URL != "" {
		timeout := er.Timeout
		if timeout == 0 {
			timeout = 200 * time.Millisecond
		}
		c, err := extrouter.New(er.URL, timeout)
		if err != nil {
			return nil, err
		}
		s.extRouter = c
	}

	for _, a := range []struct {
		addr string
		out  *string
	}{{cfg.ControlPlane.AdminAddress, &s.AdminAddr}, {cfg.ControlPlane.XDSAddress, &s.XDSAddr}, {cfg.ControlPlane.ExtProcAddress, &s.ExtProcAddr}} {
		l, err := net.Listen("tcp", a.addr)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("listening on %s: %w", a.addr, err)
		}
		s.listeners = append(s.listeners, l)
		*a.out = l.Addr().String()
	}
	return s, nil
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		_ = l.Close()
	}
}

func (s *Server) xdsMetrics() xds.Metrics {
	pushes := prometheus.NewCounter(prometheus.CounterOpts{Name: "switchyard_xds_pushes_total", Help: "Configuration snapshots published to Envoys."})
	nacks := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchyard_xds_nacks_total", Help: "Configurations rejected by an Envoy, by resource type."}, []string{"type"})
	conns := prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchyard_xds_streams", Help: "Open ADS streams (connected Envoys)."})
	s.reg.MustRegister(pushes, nacks, conns)
	return xds.Metrics{
		Pushes: pushes.Inc,
		Nacks:  func(t string) { nacks.WithLabelValues(t).Inc() },
		Conns:  func(d int) { conns.Add(float64(d)) },
	}
}

// Ready is closed once the first configuration is published and every
// coordinator has been checked once.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Run serves until ctx is cancelled, then stops everything it started.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer s.store.Close()
	if s.extRouter != nil {
		defer s.extRouter.Close()
	}

	if err := s.fleet.Load(ctx); err != nil {
		s.closeListeners()
		return err
	}
	// A policy published through the admin API (by any replica) wins over
	// the directory at start.
	if b, err := policy.LoadPublished(ctx, s.store); err == nil {
		if _, err := s.policy.Replace(ctx, b); err != nil {
			s.log.Error("the published policy is refused; keeping the directory's", "error", err)
		}
	}
	f := s.fleet.Fleet()
	<-s.dirty // Load reported the first fleet; publish it now, before serving
	s.poller.SetTargets(ctx, healthTargets(f))
	if err := s.publish(ctx, f); err != nil {
		s.closeListeners()
		return err
	}

	kp := keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}
	xdsGRPC := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(kp), grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second}))
	s.xds.Register(ctx, xdsGRPC)
	extGRPC := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(kp), grpc.NumStreamWorkers(uint32(runtime.NumCPU())))
	s.ext = extproc.New(extproc.Options{
		Router:       s.router,
		Store:        s.store,
		QueryTTL:     s.cfg.Store.QueryTTL,
		MaxBodyBytes: s.cfg.Listener.MaxBodyBytes,
		StoreTimeout: s.cfg.Store.Redis.Timeout,
		Logger:       s.log.With("component", "extproc"),
		Metrics:      extproc.NewMetrics(s.reg),
		Policy:       s.policy,
		Decisions:    s.decisions,
		Health:       s.poller,
		ExtRouter:    s.extRouter,

		ExtRouterFailClosed: s.cfg.Routing.ExternalRouter.FailClosed,
		Cost:                s.costEstimator(),
	})
	extprocv3.RegisterExternalProcessorServer(extGRPC, s.ext)
	authv3.RegisterAuthorizationServer(extGRPC, &authz.Server{
		Policy: s.policy, Store: s.store, StoreTimeout: s.cfg.Store.Redis.Timeout, Logger: s.log.With("component", "authz"),
	})
	accesslogv3.RegisterAccessLogServiceServer(extGRPC, &txlog.Service{
		Store: s.store, TTL: s.cfg.Store.QueryTTL, Logger: s.log.With("component", "txlog"),
		Resolve: txlog.FleetResolver(s.router.Fleet, xds.CoordinatorClusterName),
	})
	if s.cfg.Policy.Dir != "" && (s.cfg.Policy.Watch == nil || *s.cfg.Policy.Watch) {
		go s.policy.Watch(ctx, s.cfg.Policy.Dir, time.Second)
	}
	go s.policy.Sync(ctx, s.store, time.Second)
	httpSrv := &http.Server{Handler: admin.Handler(admin.Options{
		Gatherer: s.reg, Ready: s.readyCheck, Pprof: s.cfg.ControlPlane.Pprof,
		Fleet: s.fleet, Tokens: s.cfg.Admin.Tokens, ShutdownWorkers: s.cfg.Admin.ShutdownWorkers,
		Policy: s.policyAPI(),
		Logger: s.log.With("component", "admin"),
	}), ReadHeaderTimeout: 10 * time.Second}

	var wg sync.WaitGroup
	errc := make(chan error, 3)
	serve := func(name string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	serve("admin", func() error { return httpSrv.Serve(s.listeners[0]) })
	serve("xds", func() error { return xdsGRPC.Serve(s.listeners[1]) })
	serve("ext_proc", func() error { return extGRPC.Serve(s.listeners[2]) })

	go s.waitReady(ctx)
	go s.fleet.Run(ctx)
	go s.publishChanges(ctx)
	s.log.Info("control plane serving", "admin", s.AdminAddr, "xds", s.XDSAddr, "ext_proc", s.ExtProcAddr,
		"store", s.cfg.Store.Type, "clusters", len(f.Clusters))

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		cancel()
	}
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_ = httpSrv.Shutdown(shutdownCtx)
	gracefulStop(extGRPC, 5*time.Second)
	gracefulStop(xdsGRPC, time.Second) // ADS streams never end on their own
	wg.Wait()
	s.poller.Wait()
	return runErr
}

// costEstimator runs EXPLAINs on routing.cost.cluster (nil when off).
func (s *Server) costEstimator() *cost.Estimator {
	c := s.cfg.Routing.Cost
	if !c.Enabled {
		return nil
	}
	return &cost.Estimator{
		Timeout: c.Timeout, TTL: c.CacheTTL, MaxEntries: c.CacheSize, Client: s.coord,
		Coordinator: func() (string, bool) {
			cl, ok := s.router.Fleet().Cluster(c.Cluster)
			if !ok {
				return "", false
			}
			for _, co := range cl.Coordinators {
				if s.poller.State(fleet.Key(cl.Name, co.Name)) == health.Healthy {
					return co.URL, true
				}
			}
			return "", false
		},
	}
}

// policyAPI adapts the engine, the decision log and the dry run for the
// admin API.
func (s *Server) policyAPI() admin.Policy { return policyAdapter{s} }

type policyAdapter struct{ s *Server }

func (a policyAdapter) Current() *policy.Compiled { return a.s.policy.Current() }
func (a policyAdapter) Publish(ctx context.Context, b *policy.Bundle) (*policy.Compiled, error) {
	return a.s.policy.Publish(ctx, a.s.store, b)
}
func (a policyAdapter) DryRun(ctx context.Context, r extproc.DryRunRequest) *extproc.DryRunResult {
	return a.s.ext.DryRun(ctx, r)
}
func (a policyAdapter) Decisions(n int) []policy.LogEntry { return a.s.decisions.Recent(n) }

// publishChanges republishes the configuration when the fleet changes,
// debounced: a burst of changes within the hold-off gives one push.
func (s *Server) publishChanges(ctx context.Context) {
	const holdOff = 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.dirty:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(holdOff):
		}
		select { // changes during the hold-off are in this push
		case <-s.dirty:
		default:
		}
		f := s.fleet.Fleet()
		s.poller.SetTargets(ctx, healthTargets(f))
		if err := s.publish(ctx, f); err != nil {
			s.log.Error("publishing the changed fleet failed", "error", err)
		}
	}
}

func gracefulStop(g *grpc.Server, d time.Duration) {
	done := make(chan struct{})
	go func() { g.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		g.Stop()
	}
}

func (s *Server) publish(ctx context.Context, f *fleet.Fleet) error {
	res, err := xds.Translate(f, s.xdsOptions())
	if res == nil {
		return fmt.Errorf("translating the fleet: %w", err)
	}
	if err != nil {
		s.log.Error("some clusters could not be translated; serving the rest", "error", err)
	}
	v, err := s.xds.Update(ctx, res)
	if err != nil {
		return fmt.Errorf("publishing configuration: %w", err)
	}
	s.log.Info("configuration published", "version", v, "clusters", len(f.Clusters))
	return nil
}

func (s *Server) xdsOptions() xds.Options {
	c := s.cfg
	return xds.Options{
		ListenerAddress: c.Listener.Address,
		MaxBodyBytes:    uint32(c.Listener.MaxBodyBytes),
		RequestTimeout:  c.Listener.RequestTimeout,
		ExtProcTargets:  c.ControlPlane.ExtProcTargets,
		ExtProcTimeout:  c.ControlPlane.ExtProcTimeout,
		ExtAuthz:        c.Policy.Dir != "",
		Health: xds.HealthCheck{
			Interval: c.Health.Interval, Timeout: c.Health.Timeout,
			Rise: uint32(c.Health.RiseThreshold), Fall: uint32(c.Health.FallThreshold),
		},
	}
}

func healthTargets(f *fleet.Fleet) []health.Target {
	var out []health.Target
	for _, c := range f.Clusters {
		for _, co := range c.Coordinators {
			out = append(out, health.Target{
				Key:     fleet.Key(c.Name, co.Name),
				BaseURL: fmt.Sprintf("%s://%s", co.Scheme, net.JoinHostPort(co.Host, fmt.Sprint(co.Port))),
			})
		}
	}
	return out
}

func (s *Server) waitReady(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if s.poller.AllChecked() && s.store.Ping(ctx) == nil {
			close(s.ready)
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
