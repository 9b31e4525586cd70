// Package server wires the control plane together for `switchyard serve`:
// configuration to fleet model, shared store, health poller, router,
// admission pipeline, the xDS and ext_proc gRPC services and the admin HTTP
// server. New builds every part and binds the ports; Run runs the parts as
// a list of components under one errgroup: if one fails, all stop.
package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"github.com/switchyard-gw/switchyard/pkg/autorecovery"
	"github.com/switchyard-gw/switchyard/pkg/console"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
	grpchealth "google.golang.org/grpc/health"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/degraded"
	"github.com/switchyard-gw/switchyard/pkg/doctor"
	"github.com/switchyard-gw/switchyard/pkg/extproc"
	"github.com/switchyard-gw/switchyard/pkg/extrouter"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/fleetmetrics"
	"github.com/switchyard-gw/switchyard/pkg/governance"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/identity"
	"github.com/switchyard-gw/switchyard/pkg/lease"
	"github.com/switchyard-gw/switchyard/pkg/lifecycle"
	"github.com/switchyard-gw/switchyard/pkg/metadata"
	"github.com/switchyard-gw/switchyard/pkg/passwordfile"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/protection"
	"github.com/switchyard-gw/switchyard/pkg/queue"
	"github.com/switchyard-gw/switchyard/pkg/resubmit"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/sessions"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/tlsfiles"
	"github.com/switchyard-gw/switchyard/pkg/txlog"
	"github.com/switchyard-gw/switchyard/pkg/watchdog"
	"github.com/switchyard-gw/switchyard/pkg/webui"
	"github.com/switchyard-gw/switchyard/pkg/workload"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// Server is a control plane, built and bound, ready to Run.
type Server struct {
	cfg            *config.Config
	log            *slog.Logger
	reg            *prometheus.Registry
	store          *store.Store
	poller         *health.Poller
	coord          *coordinator.Client // every call to a coordinator's REST API
	router         *routing.Router
	xds            *xds.Server
	fleet          *lifecycle.Manager
	reconcile      *lease.Elector
	policy         *policy.Engine // Current() is nil without a policy
	decisions      *policy.DecisionLog
	pipeline       *admission.Pipeline
	pending        *admission.PendingRecords // query owners waiting for the store
	extProcMetrics *extproc.Metrics
	extRouter      extrouter.Client
	resubmit       *resubmit.Handler  // nil: resubmission is off
	adminTLS       *tlsfiles.Reloader // nil: the admin API is plain HTTP
	grpcTLS        *tlsfiles.Reloader // nil: xDS and ext_proc are plaintext
	governor       *workload.Governor
	// doctor checks the fleet's Trino clusters (the admin API's
	// /api/v1/doctor); eventLog tells it which events arrived.
	doctor       *doctor.Doctor
	eventLog     *doctor.EventLog
	govReconcile *lease.Elector // reconciliation of running slots, once per fleet
	queue        *queue.Handler
	changes      *debouncer // the fleet changed: publish a new snapshot
	edge         *edgeFiles // the client listener's certificate and key set
	identity     *identity.Verifier
	passwords    *passwordfile.Authenticator // nil: no password file
	// Query protection: the table metadata catalog, the guard that
	// gathers findings and records incidents and actions, and the
	// watchdog of running queries.
	metadata   *metadata.Catalog
	protection *protection.Guard
	throttles  *protection.Throttles
	tables     atomic.Pointer[policyTables] // the policy's tables for the metadata catalog
	watchdog   *watchdog.Watchdog           // nil: protection.watchdog.enabled is off
	wdLease    *lease.Elector               // one replica of the fleet runs the watchdog
	// Auto-recovery (nil: autoRecovery.enabled is off) and its lease.
	recoverer *autorecovery.Recoverer
	arLease   *lease.Elector
	// loadSampler keeps the fleet's recent load for the console.
	loadSampler *console.Sampler

	// Addresses actually bound (useful when the config asks for port 0).
	AdminAddr, XDSAddr, ExtProcAddr, ResubmitAddr, QueueAddr string

	listeners listeners
	ready     chan struct{}
	// grpc.health.v1 of the ext_proc and xDS ports, for Envoy's checks.
	extProcHealth, xdsHealth *grpchealth.Server
	// stopDelay: how long a stopping replica says NOT_SERVING on its
	// ext_proc port, still serving, before it stops accepting streams.
	stopDelay time.Duration
}

// stopNotice covers two of Envoy's health checks of the ext_proc cluster,
// so every Envoy has stopped opening streams here before the port closes.
const stopNotice = 2 * xds.ExtProcHealthInterval

type listeners struct{ admin, xds, extProc, resubmit, queue net.Listener }

// component is one part of the running control plane: run serves until
// ctx ends, stops what it started, and returns nil after a clean stop or
// the error that ended it.
type component struct {
	name string
	run  func(ctx context.Context) error
}

// New builds the control plane from a validated configuration and binds its
// ports, so a caller knows at once whether the addresses are usable.
func New(cfg *config.Config, log *slog.Logger) (*Server, error) {
	s := &Server{cfg: cfg, log: log, reg: prometheus.NewRegistry(), ready: make(chan struct{}),
		changes:       newDebouncer(100*time.Millisecond, time.Second),
		extProcHealth: grpchealth.NewServer(), xdsHealth: grpchealth.NewServer(), stopDelay: stopNotice}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var err error
	if s.store, err = openStore(cfg, log, s.redisMetrics()); err != nil {
		return nil, err
	}
	s.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "switchyard_store_round_trips_total",
		Help: "Requests this replica sent to Redis (a command, a script or a pipeline is one); 0 with the memory store."},
		func() float64 { return float64(s.store.RoundTrips()) }))
	api := cfg.CoordinatorAPI
	s.coord = coordinator.New(coordinator.Options{User: api.User, Source: api.Source, Timeout: api.Timeout})
	var fleetGauges *fleetmetrics.Collector
	s.poller = health.NewPoller(health.Options{
		Interval: cfg.Health.Interval, Timeout: cfg.Health.Timeout,
		Rise: cfg.Health.RiseThreshold, Fall: cfg.Health.FallThreshold,
		Client: s.coord, Logger: log,
		// Set below, before the first check (SetTargets starts them).
		OnChange: func(key string, st health.State) { fleetGauges.OnChange(key, st) },
		OnRestart: func(key string, up time.Duration) {
			if s.recoverer != nil {
				s.recoverer.OnRestart(key, up)
			}
		},
	})
	s.router = routing.New(fleet.FromConfig(cfg), s.poller)
	fleetGauges = fleetmetrics.New(s.router.Fleet, s.poller.Status, s.router.ClusterUp)
	s.reg.MustRegister(fleetGauges)
	s.xds = xds.NewServer(log.With("component", "xds"), s.xdsMetrics())
	s.fleet = lifecycle.New(lifecycle.Options{
		Config: cfg, Store: s.store.Documents, Health: s.poller, Client: s.coord, Logger: log.With("component", "lifecycle"),
		OnFleet: func(f *fleet.Fleet) {
			s.router.SetFleet(f)
			s.changes.signal()
		},
	})
	s.reconcile = lease.New(lease.Options{
		Leases: s.store.Leases, Name: "reconcile", TTL: cfg.ControlPlane.LeaseTTL, AtLeast: s.fleet.Fence,
		Logger: log.With("component", "lifecycle"),
	})
	if err := s.buildPolicy(); err != nil {
		s.store.Close()
		return nil, err
	}
	if s.edge, err = newEdgeFiles(cfg.Listener); err != nil {
		s.store.Close()
		return nil, err
	}
	if err := s.buildIdentity(); err != nil {
		s.store.Close()
		return nil, err
	}
	s.buildProtection()
	s.buildAutoRecovery()
	s.loadSampler = s.consoleSampler()
	s.buildGovernance()
	s.buildDoctor()
	if err := s.buildPipeline(); err != nil {
		s.store.Close()
		return nil, err
	}
	if err := s.listen(); err != nil {
		s.store.Close()
		return nil, err
	}
	return s, nil
}

func openStore(cfg *config.Config, log *slog.Logger, onRoundTrip func(string, time.Duration, error)) (*store.Store, error) {
	if cfg.Store.Type != config.StoreRedis {
		log.Warn("using the in-memory store: state is not shared, so run a single control-plane replica; a fleet of replicas needs store.type: redis")
		return store.NewMemory(), nil
	}
	r := cfg.Store.Redis
	addrs := r.Addresses
	unreplicated := degraded.New(degraded.Options{Logger: log.With("component", "store")})
	if r.Mode == config.RedisStandalone {
		addrs = []string{r.Address}
	}
	return store.NewRedis(store.RedisOptions{Mode: r.Mode, Addresses: addrs, MasterName: r.MasterName,
		Username: r.Username, Password: r.Password, SentinelUsername: r.SentinelUsername, SentinelPassword: r.SentinelPassword,
		DB: r.DB, Timeout: r.Timeout, KeyPrefix: r.KeyPrefix, OnRoundTrip: onRoundTrip,
		OnUnreplicated: func(txn string) {
			unreplicated.Fail("store.transaction_unreplicated", "transaction records are written to the Redis primary but no replica acknowledges them: a failover now could lose them (the gateway then asks the coordinators)", "transaction", txn)
		}})
}

// buildPolicy loads the policy directory, if any.
func (s *Server) buildPolicy() error {
	cfg := s.cfg.Policy
	s.decisions = policy.NewDecisionLog(cfg.DecisionLogSize)
	var initial *policy.Compiled
	if cfg.Dir != "" {
		b, err := policy.LoadDir(cfg.Dir)
		if err != nil {
			return err
		}
		if initial, err = policy.Compile(context.Background(), b); err != nil {
			return fmt.Errorf("policy %s: %w", cfg.Dir, err)
		}
		s.log.Info("policy loaded", "dir", cfg.Dir, "version", initial.Version, "files", len(initial.Files), "tests_passed", initial.Tests.Passed)
	}
	s.policy = policy.NewEngine(initial, s.log.With("component", "policy"))
	return nil
}

// buildPipeline builds the admission pipeline and what it calls.
func (s *Server) buildPipeline() error {
	if er := s.cfg.Routing.ExternalRouter; er.URL != "" {
		timeout := er.Timeout
		if timeout == 0 {
			timeout = 200 * time.Millisecond
		}
		c, err := extrouter.New(er.URL, timeout)
		if err != nil {
			return err
		}
		s.extRouter = c
	}
	// The owner is written while Envoy waits for the submission's answer:
	// half the ext_proc message timeout at most, or Envoy resets the
	// client's connection; a record not written by then is retried.
	s.pending = admission.NewPendingRecords(s.store.Queries, admission.PendingOptions{
		Timeout: min(s.cfg.Store.Redis.Timeout, s.cfg.ControlPlane.ExtProcTimeout/2), Logger: s.log.With("component", "admission"), Registerer: s.reg,
	})
	s.pipeline = admission.New(admission.Options{
		Router: s.router, Health: s.poller,
		Queries: s.pending, QueryTTL: s.cfg.Store.QueryTTL, StoreTimeout: s.cfg.Store.Redis.Timeout,
		// A transaction lookup (store calls and asking the coordinators
		// included) ends before Envoy's ext_proc message timeout would.
		TransactionWait: min(2*time.Second, s.cfg.ControlPlane.ExtProcTimeout*3/4),
		OwnerWait:       min(2*time.Second, s.cfg.ControlPlane.ExtProcTimeout/2),
		FindTransaction: (&txlog.Finder{
			Fleet: s.router.Fleet, Queries: s.coord,
			Down: func(key string) bool { return s.poller.State(key) == health.Unhealthy },
		}).Find,
		Replays: s.store.Replays, ReplayMaxBytes: s.replayMaxBytes(),
		WebUI: webui.New(webui.Options{
			Fleet: s.router.Fleet, Logins: s.coord, Lists: s.coord, Store: s.store.Sessions,
			ListTimeout: min(2*time.Second, s.cfg.ControlPlane.ExtProcTimeout/2),
			IdleTTL:     s.cfg.Routing.Sessions.WebUIIdleTTL, StoreTimeout: s.cfg.Store.Redis.Timeout,
			LoginTimeout: min(s.cfg.CoordinatorAPI.Timeout, s.cfg.ControlPlane.ExtProcTimeout*3/4),
		}),
		Sessions: sessions.NewTracker(sessions.Options{
			Store: s.store.Sessions, IdleTTL: s.cfg.Routing.Sessions.IdleTTL,
			Timeout: min(s.cfg.Store.Redis.Timeout, s.cfg.ControlPlane.ExtProcTimeout/4),
			// Its warnings ("statements are routed without session
			// affinity") were discarded without a logger.
			Degraded: degraded.New(degraded.Options{Logger: s.log.With("component", "sessions")}),
		}),
		Policy: s.policy, Decisions: s.decisions,
		ExtRouter: s.extRouter, ExtRouterFailClosed: s.cfg.Routing.ExternalRouter.FailClosed,
		Cost:       s.costEstimator(),
		Governor:   s.governor,
		Protection: s.protection,
		Logger:     s.log.With("component", "admission"),
		Metrics:    admission.NewMetrics(s.reg),
	})
	g := s.cfg.Governance
	s.queue = queue.New(queue.Options{
		Governor: s.governor, Router: s.router, Recorder: s.pipeline, Wait: g.PollWait,
		// The submission rides on a held poll: Envoy's route timeout must
		// not cut it.
		SubmitTimeout: min(g.ClaimTimeout, s.cfg.Listener.RequestTimeout-g.PollWait),
		Logger:        s.log.With("component", "queue"),
	})
	s.extProcMetrics = extproc.NewMetrics(s.reg)
	if rs := s.cfg.Routing.Resubmission; rs.On() {
		s.resubmit = resubmit.New(resubmit.Options{
			Router: s.router, Health: s.poller, Replays: s.store.Replays, Queries: s.store.Queries,
			QueryTTL: s.cfg.Store.QueryTTL, StoreTimeout: s.cfg.Store.Redis.Timeout,
			MaxAttempts: rs.MaxAttempts, ProbeTimeout: rs.ProbeTimeout, SubmitTimeout: s.cfg.Listener.RequestTimeout,
			Logger: s.log.With("component", "resubmit"), Metrics: resubmit.NewMetrics(s.reg),
		})
	}
	return nil
}

// buildGovernance builds workload governance: the replica's governor
// (the classes come from the policy in use) and the once-per-fleet
// reconciliation of running slots.
func (s *Server) buildGovernance() {
	g := s.cfg.Governance
	s.governor = workload.New(workload.Options{
		Store: s.store.Governance, History: s.store.History, HistorySize: g.HistorySize,
		Policy: func() *governance.Config {
			if c := s.policy.Current(); c != nil {
				return c.Governance
			}
			return nil
		},
		Owner:   lease.DefaultHolder(),
		SlotTTL: g.SlotTTL, ClaimTimeout: g.ClaimTimeout, ClientTimeout: g.ClientTimeout, Keep: g.Keep,
		TickInterval: g.TickInterval, MaxQueued: g.MaxQueued, StoreTimeout: max(s.cfg.Store.Redis.Timeout, time.Second),
		Throttles: s.throttles.Get,
		Logger:    s.log.With("component", "governance"), Metrics: workload.NewMetrics(s.reg),
	})
	s.govReconcile = lease.New(lease.Options{
		Leases: s.store.Leases, Name: "governance", TTL: s.cfg.ControlPlane.LeaseTTL,
		Logger: s.log.With("component", "governance"),
	})
}

// replayMaxBytes is how long a statement kept for resubmission may be (0:
// none is kept).
func (s *Server) replayMaxBytes() int {
	if rs := s.cfg.Routing.Resubmission; rs.On() {
		return rs.MaxQueryBytes
	}
	return 0
}

func (s *Server) listen() error {
	cp := s.cfg.ControlPlane
	for _, a := range []struct {
		addr string
		l    *net.Listener
		out  *string
	}{{cp.AdminAddress, &s.listeners.admin, &s.AdminAddr}, {cp.XDSAddress, &s.listeners.xds, &s.XDSAddr}, {cp.ExtProcAddress, &s.listeners.extProc, &s.ExtProcAddr},
		{cp.ResubmitAddress, &s.listeners.resubmit, &s.ResubmitAddr}, {cp.QueueAddress, &s.listeners.queue, &s.QueueAddr}} {
		if a.l == &s.listeners.resubmit && s.resubmit == nil {
			continue
		}
		l, err := net.Listen("tcp", a.addr)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("listening on %s: %w", a.addr, err)
		}
		*a.l, *a.out = l, l.Addr().String()
	}
	if t := cp.AdminTLS; t != nil {
		r, err := tlsfiles.New(tlsfiles.Files{Cert: t.CertFile, Key: t.KeyFile, ClientCA: t.ClientCAFile})
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("controlPlane.adminTLS: %w", err)
		}
		s.adminTLS, s.listeners.admin = r, tls.NewListener(s.listeners.admin, r.ServerConfig())
	}
	if t := cp.GRPCTLS; t != nil {
		r, err := tlsfiles.New(tlsfiles.Files{Cert: t.CertFile, Key: t.KeyFile, ClientCA: t.ClientCAFile})
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("controlPlane.grpcTLS: %w", err)
		}
		// Mutual TLS under gRPC: a client without a certificate from the
		// CA never completes a handshake, so it reaches no service, the
		// health service included.
		c := r.ServerConfigALPN("h2")
		s.grpcTLS = r
		s.listeners.xds = tls.NewListener(s.listeners.xds, c)
		s.listeners.extProc = tls.NewListener(s.listeners.extProc, c)
		// The HTTP services Envoy forwards to (the queue, resubmission).
		h := r.ServerConfigALPN("http/1.1")
		s.listeners.queue = tls.NewListener(s.listeners.queue, h)
		if s.listeners.resubmit != nil {
			s.listeners.resubmit = tls.NewListener(s.listeners.resubmit, h)
		}
	}
	return nil
}

func (s *Server) closeListeners() {
	for _, l := range []net.Listener{s.listeners.admin, s.listeners.xds, s.listeners.extProc, s.listeners.resubmit, s.listeners.queue} {
		if l != nil {
			_ = l.Close()
		}
	}
}

// Ready is closed once the first configuration is published and every
// coordinator has been checked once.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Run serves until ctx is cancelled or a component fails, then stops every
// component and returns the first failure (nil after a clean stop).
func (s *Server) Run(ctx context.Context) error {
	defer s.store.Close()
	defer s.pipeline.Wait() // background writes end before the store closes
	defer s.protection.Wait()
	defer s.metadata.Close()
	if s.extRouter != nil {
		defer s.extRouter.Close()
	}
	f, err := s.start(ctx)
	if err != nil {
		s.closeListeners()
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	s.poller.SetTargets(gctx, healthTargets(f)) // checks run until the group stops
	for _, c := range s.components() {
		g.Go(func() error {
			if err := c.run(gctx); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			return nil
		})
	}
	s.log.Info("control plane serving", "admin", s.AdminAddr, "xds", s.XDSAddr, "ext_proc", s.ExtProcAddr,
		"store", s.store.Kind, "clusters", len(f.Clusters))
	return g.Wait()
}

// start loads the shared state and publishes the first configuration,
// before anything serves.
func (s *Server) start(ctx context.Context) (*fleet.Fleet, error) {
	if err := s.fleet.Load(ctx); err != nil {
		return nil, err
	}
	// A policy published through the admin API (by any replica) wins over
	// the directory at start.
	if b, err := policy.LoadPublished(ctx, s.store.Documents); err == nil {
		if _, err := s.policy.Replace(ctx, b); err != nil {
			s.log.Error("the published policy is refused; keeping the directory's", "error", err)
		}
	}
	f := s.fleet.Fleet()
	s.changes.take() // Load reported the first fleet: publish it now
	if err := s.publish(f); err != nil {
		return nil, err
	}
	return f, nil
}
