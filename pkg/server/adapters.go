package server

import (
	"context"
	"time"

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
	s.reg.MustRegister(pushes, nacks, conns, envoysCollector{s})
	// Every type's NACKs start at 0, so that the first is an increase.
	for _, t := range xds.ResourceTypes {
		nacks.WithLabelValues(t)
	}
	return xds.Metrics{
		Pushes: pushes.Inc,
		Nacks:  func(t string) { nacks.WithLabelValues(t).Inc() },
		Conns:  func(d int) { conns.Add(float64(d)) },
	}
}

// redisMetrics times every round trip to Redis by command and counts the
// failed ones (the store's OnRoundTrip hook).
func (s *Server) redisMetrics() func(string, time.Duration, error) {
	took := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "switchyard_redis_command_seconds",
		Help:    "Round trips to Redis by command (lower case; pipeline for a pipeline, evalsha for a script), answered or failed.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}}, []string{"command"})
	failed := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchyard_redis_errors_total",
		Help: "Round trips to Redis that failed (a timeout, a refused connection, an error reply; a missing key is an answer), by command."}, []string{"command"})
	s.reg.MustRegister(took, failed)
	return func(cmd string, d time.Duration, err error) {
		took.WithLabelValues(cmd).Observe(d.Seconds())
		// A command's errors start at 0 with its first round trip, so that
		// its first error is an increase.
		if c := failed.WithLabelValues(cmd); err != nil {
			c.Inc()
		}
	}
}

var (
	envoysDesc = prometheus.NewDesc("switchyard_xds_envoys",
		"Envoys connected to this replica, by whether they applied its current configuration (current) or not yet (behind).", []string{"state"}, nil)
	envoyBehindDesc = prometheus.NewDesc("switchyard_xds_envoy_config_behind_seconds",
		"How long the current configuration has waited for the Envoy to apply it (0: it runs it), by Envoy node ID (the longest of its streams).", []string{"node"}, nil)
	snapshotDesc = prometheus.NewDesc("switchyard_xds_snapshot_timestamp_seconds",
		"When this replica published its current configuration (Unix time).", nil, nil)
)

// envoysCollector shows the connected Envoys and the configuration they
// run.
type envoysCollector struct{ s *Server }

func (c envoysCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- envoysDesc
	ch <- envoyBehindDesc
	ch <- snapshotDesc
}

func (c envoysCollector) Collect(ch chan<- prometheus.Metric) {
	list, _, pushed := c.s.xds.Envoys()
	current, behind := 0, 0
	byNode := map[string]float64{}
	for _, e := range list {
		if e.Current {
			current++
		} else {
			behind++
		}
		byNode[e.Node] = max(byNode[e.Node], e.Behind.Seconds())
	}
	ch <- prometheus.MustNewConstMetric(envoysDesc, prometheus.GaugeValue, float64(current), "current")
	ch <- prometheus.MustNewConstMetric(envoysDesc, prometheus.GaugeValue, float64(behind), "behind")
	for node, v := range byNode {
		ch <- prometheus.MustNewConstMetric(envoyBehindDesc, prometheus.GaugeValue, v, node)
	}
	if !pushed.IsZero() {
		ch <- prometheus.MustNewConstMetric(snapshotDesc, prometheus.GaugeValue, float64(pushed.UnixMilli())/1000)
	}
}
