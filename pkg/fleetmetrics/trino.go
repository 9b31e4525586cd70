package fleetmetrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
)

// Per coordinator: what Trino itself says about its health, read by the
// health checks (/v1/status and /metrics), and whether it takes the
// cluster's new queries. The counters are the coordinator's own, since it
// started: they reset when it restarts, which rate() and increase() handle.
var (
	coLabels           = []string{"cluster", "coordinator"}
	coordinatorServing = prometheus.NewDesc("switchyard_coordinator_serving",
		"1 for the coordinator that takes the cluster's new queries now (a healthy primary, else a healthy standby); a change is a failover.", coLabels, nil)
	coordinatorRestarts = prometheus.NewDesc("switchyard_coordinator_restarts_total",
		"Restarts of the coordinator seen by this replica's health checks (its uptime went back).", coLabels, nil)
	coordinatorUptime = prometheus.NewDesc("switchyard_coordinator_uptime_seconds",
		"How long the coordinator has run, from its /v1/status.", coLabels, nil)
	trinoHeapUsed = prometheus.NewDesc("switchyard_trino_heap_used_bytes",
		"The coordinator JVM's heap in use, from its /v1/status.", coLabels, nil)
	trinoHeapMax = prometheus.NewDesc("switchyard_trino_heap_max_bytes",
		"The coordinator JVM's maximum heap, from its /v1/status.", coLabels, nil)
	trinoFinished = prometheus.NewDesc("switchyard_trino_queries_finished_total",
		"Queries the coordinator finished, successfully or not, since it started.", coLabels, nil)
	trinoFailed = prometheus.NewDesc("switchyard_trino_queries_failed_total",
		"Queries that failed on the coordinator since it started, by kind: user_error, internal, external, insufficient_resources (Trino's error types), abandoned (by their client), canceled, and all.", append(coLabels, "kind"), nil)
	trinoExec = prometheus.NewDesc("switchyard_trino_query_execution_seconds",
		"Execution time of the coordinator's queries: count and sum since it started, quantiles over the last minute (absent when none finished).", coLabels, nil)
	trinoGCSeconds = prometheus.NewDesc("switchyard_trino_gc_seconds_total",
		"Time the coordinator's JVM spent in garbage collection since it started, by kind (major, minor).", append(coLabels, "kind"), nil)
	trinoGCs = prometheus.NewDesc("switchyard_trino_gc_collections_total",
		"Garbage collections of the coordinator's JVM since it started, by kind (major, minor).", append(coLabels, "kind"), nil)
	trinoMemory = prometheus.NewDesc("switchyard_trino_cluster_memory_bytes",
		"Query memory of the cluster's nodes as the coordinator sees it, by kind: total, reserved (held by queries now).", append(coLabels, "kind"), nil)
	trinoFailedWorkers = prometheus.NewDesc("switchyard_trino_failed_workers",
		"Worker nodes the coordinator's failure detector sees failing now.", coLabels, nil)
)

// Per cluster: a drain in progress.
var (
	drainStarted = prometheus.NewDesc("switchyard_cluster_drain_started_timestamp_seconds",
		"When the cluster's drain started (Unix time; absent when not draining).", []string{"cluster"}, nil)
	drainDeadline = prometheus.NewDesc("switchyard_cluster_drain_deadline_timestamp_seconds",
		"When the cluster's drain times out (Unix time; absent when not draining).", []string{"cluster"}, nil)
	drainQueries = prometheus.NewDesc("switchyard_cluster_drain_queries",
		"Queries the draining cluster still had at the drain's last check, by state (running, queued).", []string{"cluster", "state"}, nil)
	drainTimedOut = prometheus.NewDesc("switchyard_cluster_drain_timed_out",
		"1 when the drain's deadline passed with queries left (the cluster stays draining until they end or an operator acts).", []string{"cluster"}, nil)
)

var trinoDescs = []*prometheus.Desc{coordinatorServing, coordinatorRestarts, coordinatorUptime, trinoHeapUsed, trinoHeapMax,
	trinoFinished, trinoFailed, trinoExec, trinoGCSeconds, trinoGCs, trinoMemory, trinoFailedWorkers,
	drainStarted, drainDeadline, drainQueries, drainTimedOut}

// collectCoordinator sends the coordinator's own signals.
func collectCoordinator(ch chan<- prometheus.Metric, cl, co string, st health.Status) {
	send := func(d *prometheus.Desc, t prometheus.ValueType, v float64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, append([]string{cl, co}, extra...)...)
	}
	send(coordinatorRestarts, prometheus.CounterValue, float64(st.Restarts))
	l := st.Load
	if l.Uptime > 0 {
		send(coordinatorUptime, prometheus.GaugeValue, l.Uptime.Seconds())
	}
	if l.HeapMax > 0 {
		send(trinoHeapUsed, prometheus.GaugeValue, float64(l.HeapUsed))
		send(trinoHeapMax, prometheus.GaugeValue, float64(l.HeapMax))
	}
	if !l.Known {
		return // /metrics was not read at the last check
	}
	s := l.Trino
	send(trinoFinished, prometheus.CounterValue, s.Completed)
	for _, k := range []struct {
		kind string
		v    float64
	}{{"all", s.Failed}, {"user_error", s.UserErrors}, {"internal", s.InternalFailures}, {"external", s.ExternalFailures},
		{"insufficient_resources", s.InsufficientResources}, {"abandoned", s.Abandoned}, {"canceled", s.Canceled}} {
		send(trinoFailed, prometheus.CounterValue, k.v, k.kind)
	}
	q := map[float64]float64{}
	for _, p := range []struct{ q, v float64 }{{0.5, s.ExecP50}, {0.9, s.ExecP90}, {0.99, s.ExecP99}} {
		if p.v >= 0 {
			q[p.q] = p.v
		}
	}
	ch <- prometheus.MustNewConstSummary(trinoExec, uint64(s.ExecCount), s.ExecSeconds, q, cl, co)
	send(trinoGCSeconds, prometheus.CounterValue, s.MajorGCSeconds, "major")
	send(trinoGCSeconds, prometheus.CounterValue, s.MinorGCSeconds, "minor")
	send(trinoGCs, prometheus.CounterValue, s.MajorGCs, "major")
	send(trinoGCs, prometheus.CounterValue, s.MinorGCs, "minor")
	send(trinoMemory, prometheus.GaugeValue, s.ClusterMemoryBytes, "total")
	send(trinoMemory, prometheus.GaugeValue, s.ClusterReservedBytes, "reserved")
	send(trinoFailedWorkers, prometheus.GaugeValue, s.FailedWorkers)
}

// collectServing sends which coordinator takes the cluster's new queries:
// the healthy ones that are not standby, else the healthy standbys (what
// routing does).
func collectServing(ch chan<- prometheus.Metric, cl *fleet.Cluster, healthy []bool) {
	primary := false
	for j, co := range cl.Coordinators {
		primary = primary || (healthy[j] && !cl.IsStandby(co))
	}
	for j, co := range cl.Coordinators {
		serving := healthy[j] && cl.IsStandby(co) != primary
		ch <- prometheus.MustNewConstMetric(coordinatorServing, prometheus.GaugeValue, b(serving), cl.Name, co.Name)
	}
}

// collectDrain sends a draining cluster's progress.
func collectDrain(ch chan<- prometheus.Metric, cl *fleet.Cluster) {
	d := cl.Drain
	if cl.State != fleet.Draining || d == nil {
		return
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, append([]string{cl.Name}, labels...)...)
	}
	gauge(drainStarted, float64(d.Started.UnixMilli())/1000)
	if !d.Deadline.IsZero() {
		gauge(drainDeadline, float64(d.Deadline.UnixMilli())/1000)
	}
	gauge(drainQueries, float64(d.Running), "running")
	gauge(drainQueries, float64(d.Queued), "queued")
	gauge(drainTimedOut, b(d.TimedOut))
}
