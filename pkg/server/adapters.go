package server

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/cost"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// policyAPI adapts the engine, the decision log and the dry run for the
// admin API.
type policyAPI struct{ s *Server }

func (a policyAPI) Current() *policy.Compiled { return a.s.policy.Current() }
func (a policyAPI) Publish(ctx context.Context, b *policy.Bundle) (*policy.Compiled, error) {
	return a.s.policy.Publish(ctx, a.s.store.Documents, b)
}
func (a policyAPI) DryRun(ctx context.Context, r admission.DryRunRequest) *admission.DryRunResult {
	return a.s.pipeline.DryRun(ctx, r)
}
func (a policyAPI) Decisions(n int) []policy.LogEntry { return a.s.decisions.Recent(n) }

// costEstimator runs EXPLAINs on routing.cost.cluster (nil when off).
func (s *Server) costEstimator() *cost.Estimator {
	c := s.cfg.Routing.Cost
	if !c.Enabled {
		return nil
	}
	return &cost.Estimator{
		Timeout: c.Timeout, TTL: c.CacheTTL, MaxEntries: c.CacheSize, Client: s.coord,
		Coordinator: s.healthyCoordinator(c.Cluster),
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
