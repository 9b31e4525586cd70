package server

import (
	"context"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/querystats"

	"github.com/switchyard-gw/switchyard/pkg/degraded"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/lease"
	"github.com/switchyard-gw/switchyard/pkg/metadata"
	"github.com/switchyard-gw/switchyard/pkg/protection"
	"github.com/switchyard-gw/switchyard/pkg/watchdog"
)

// buildProtection builds query protection's guard: the table metadata
// catalog (the policy's own data, then Trino's statistics and the metadata
// catalog when configured) and the memory of incidents.
func (s *Server) buildProtection() {
	p := s.cfg.Protection
	m := p.Metadata
	// Submissions read a fingerprint's incidents through a short cache;
	// the guard, the watchdog and the admin API record and release
	// through it, so this replica sees its own writes at once.
	s.store.Protection = protection.CacheIncidents(s.store.Protection, p.IncidentCacheTTL)
	sources := []metadata.Source{&metadata.PolicyData{Tables: s.policyTables}}
	if t := m.Trino; t != nil {
		sources = append(sources, &metadata.Trino{Client: s.coord, User: t.User, Coordinator: s.healthyCoordinator(t.Cluster)})
	}
	if om := m.OpenMetadata; om != nil {
		sources = append(sources, &metadata.OpenMetadata{BaseURL: om.URL, Token: om.Token, Services: om.Services,
			Databases: om.Databases, OwnerField: om.OwnerField, Profile: om.Profile})
	}
	sc := m.SizeClasses
	log := s.log.With("component", "protection")
	s.metadata = metadata.New(metadata.Options{
		Sources: sources, TTL: m.TTL,
		// A lookup never holds a submission past a quarter of Envoy's
		// ext_proc message timeout.
		Timeout: min(m.Timeout, s.cfg.ControlPlane.ExtProcTimeout/4),
		Classes: metadata.SizeClasses{MediumRows: float64(sc.MediumRows), LargeRows: float64(sc.LargeRows), HugeRows: float64(sc.HugeRows),
			MediumBytes: float64(sc.MediumBytes), LargeBytes: float64(sc.LargeBytes), HugeBytes: float64(sc.HugeBytes)},
		Logger: log,
	})
	s.protection = protection.New(protection.Options{
		Catalog: s.metadata, Store: s.store.Protection, StoreTimeout: min(s.cfg.Store.Redis.Timeout, s.cfg.ControlPlane.ExtProcTimeout/4),
		IncidentTTL: p.IncidentTTL, IncidentErrors: p.IncidentErrors,
		Logger: log, Degraded: degraded.New(degraded.Options{Logger: log}), Metrics: protection.NewMetrics(s.reg),
	})
	s.throttles = &protection.Throttles{Store: s.store.Protection, Logger: log}
	if w := p.Watchdog; w.Enabled {
		s.watchdog = watchdog.New(watchdog.Options{
			Fleet: s.router.Fleet, Healthy: func(key string) bool { return s.poller.State(key) == health.Healthy },
			Client: s.coord, Policy: s.policy.Current, Guard: s.protection, Store: s.store.Protection,
			Interval: w.Interval, DetailAfter: w.DetailAfter, MaxDetails: w.MaxDetails, ReportOnly: w.ReportOnly,
			Holder: lease.DefaultHolder(), Logger: s.log.With("component", "watchdog"), Metrics: watchdog.NewMetrics(s.reg),
		})
		s.wdLease = lease.New(lease.Options{Leases: s.store.Leases, Name: "watchdog", TTL: s.cfg.ControlPlane.LeaseTTL,
			Logger: s.log.With("component", "watchdog")})
	}
}

// protectionComponents run query protection's loops: the throttles'
// refresh on every replica, and the watchdog on the one that holds its
// lease.
func (s *Server) protectionComponents() []component {
	cs := []component{{"throttles", loop(s.throttles.Run)}}
	if s.watchdog != nil {
		cs = append(cs, component{"watchdog", loop(func(ctx context.Context) {
			s.wdLease.Run(ctx, func(ctx context.Context, _ int64) { s.watchdog.Run(ctx) })
		})})
	}
	return cs
}

// policyTables is data.switchyard.tables of the policy in use, as the
// metadata catalog reads it (converted once per policy).
func (s *Server) policyTables() map[string]map[string]any {
	c := s.policy.Current()
	if c == nil || len(c.Tables) == 0 {
		return nil
	}
	if t := s.tables.Load(); t != nil && t.of == c {
		return t.tables
	}
	out := make(map[string]map[string]any, len(c.Tables))
	for k, v := range c.Tables {
		if m, ok := v.(map[string]any); ok {
			out[k] = m
		}
	}
	s.tables.Store(&policyTables{of: c, tables: out})
	return out
}

// policyTables are one policy's tables, converted.
type policyTables struct {
	of     *policy.Compiled
	tables map[string]map[string]any
}

// healthyCoordinator returns the base URL of a healthy coordinator of the
// named cluster, for the calls the control plane makes to a designated
// cluster (cost estimates, table statistics).
func (s *Server) healthyCoordinator(cluster string) func() (string, bool) {
	return func() (string, bool) {
		cl, ok := s.router.Fleet().Cluster(cluster)
		if !ok {
			return "", false
		}
		for _, co := range cl.Coordinators {
			if s.poller.State(fleet.Key(cl.Name, co.Name)) == health.Healthy {
				return co.URL, true
			}
		}
		return "", false
	}
}

// watchdogDryRun evaluates the watchdog rules of the policy in use over
// one query's statistics (the admin API's dry run), without acting.
func (s *Server) watchdogDryRun(ctx context.Context, cluster, group string, st querystats.Stats) (*policy.WatchdogDecision, error) {
	return watchdog.Evaluate(ctx, s.policy.Current(), cluster, group, st, time.Now())
}
