// Package fleetmetrics shows the fleet as the control plane sees it to
// Prometheus, so that one scrape of Switchyard shows every cluster: per
// cluster its state, whether it takes queries and its load (running,
// queued and blocked queries, active workers); per coordinator its health;
// per group how many clusters can take its queries; the coordinators' health
// transitions (rise and fall) as a counter; a drain's progress; and per
// coordinator what Trino itself says (restarts, uptime, heap, query
// outcomes and latency, garbage collection, cluster memory, failed
// workers), which the health checks read from its /v1/status and /metrics.
//
// The gauges are computed at scrape time from the fleet model and the
// health poller's last check (no state of their own, nothing to go stale).
// Labels are bounded by the configuration: cluster, coordinator and group
// names, and fixed lists of states.
package fleetmetrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
)

// States are the cluster states, one series each (1 for the current one).
var States = []fleet.State{fleet.Active, fleet.Draining, fleet.Drained, fleet.Inactive}

// Collector collects the fleet's gauges at scrape time.
type Collector struct {
	// Fleet is the fleet in use.
	Fleet func() *fleet.Fleet
	// Status is a coordinator's last health check (by fleet.Key).
	Status func(key string) (health.Status, bool)
	// Up reports whether a cluster may take queries (routing's view: a
	// healthy or not yet checked coordinator).
	Up func(c *fleet.Cluster) bool

	transitions *prometheus.CounterVec
}

var (
	clusterState = prometheus.NewDesc("switchyard_cluster_state",
		"1 for the cluster's current state (active, draining, drained, inactive), 0 for the others.", []string{"cluster", "group", "state"}, nil)
	clusterUp = prometheus.NewDesc("switchyard_cluster_up",
		"1 when the cluster takes new queries: active, with a healthy (or not yet checked) coordinator.", []string{"cluster", "group"}, nil)
	clusterHealthy = prometheus.NewDesc("switchyard_cluster_healthy",
		"1 when a coordinator of the cluster passed its last health checks (whatever the cluster's state).", []string{"cluster", "group"}, nil)
	clusterQueries = prometheus.NewDesc("switchyard_cluster_queries",
		"Queries on the cluster's coordinators at their last check, by state (running, queued, blocked).", []string{"cluster", "state"}, nil)
	clusterWorkers = prometheus.NewDesc("switchyard_cluster_active_workers",
		"Active workers the cluster's coordinators reported at their last check.", []string{"cluster"}, nil)
	clusterWeight = prometheus.NewDesc("switchyard_cluster_weight",
		"The cluster's routing weight within its group.", []string{"cluster", "group"}, nil)
	coordinatorHealthy = prometheus.NewDesc("switchyard_coordinator_healthy",
		"1 when the coordinator passed its last health checks, 0 when it failed them (absent before the first check).", []string{"cluster", "coordinator"}, nil)
	coordinatorStarting = prometheus.NewDesc("switchyard_coordinator_starting",
		"1 when the coordinator's last check found it starting up.", []string{"cluster", "coordinator"}, nil)
	coordinatorChecked = prometheus.NewDesc("switchyard_coordinator_last_check_timestamp_seconds",
		"When the coordinator was last checked (Unix time).", []string{"cluster", "coordinator"}, nil)
	groupUp = prometheus.NewDesc("switchyard_group_clusters_up",
		"Clusters of the group that take new queries (0: the group's queries have nowhere to run).", []string{"group"}, nil)
	groupClusters = prometheus.NewDesc("switchyard_group_clusters",
		"Clusters in the group, in any state.", []string{"group"}, nil)
)

// New returns a collector; register it and pass OnChange to the health
// poller.
func New(fleetFn func() *fleet.Fleet, status func(string) (health.Status, bool), up func(*fleet.Cluster) bool) *Collector {
	return &Collector{Fleet: fleetFn, Status: status, Up: up,
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_coordinator_transitions_total",
			Help: "Coordinator health changes seen by this replica's checks, by the state reached (healthy: it rose, unhealthy: it fell). Several per minute is a flapping or restarting coordinator.",
		}, []string{"cluster", "coordinator", "to"})}
}

// OnChange counts a coordinator's health change (the poller's hook).
func (c *Collector) OnChange(key string, s health.State) {
	if s == health.Unknown {
		return
	}
	cluster, co, _ := strings.Cut(key, "/")
	c.transitions.WithLabelValues(cluster, co, s.String()).Inc()
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{clusterState, clusterUp, clusterHealthy, clusterQueries, clusterWorkers,
		clusterWeight, coordinatorHealthy, coordinatorStarting, coordinatorChecked, groupUp, groupClusters} {
		ch <- d
	}
	for _, d := range trinoDescs {
		ch <- d
	}
	c.transitions.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	f := c.Fleet()
	if f != nil {
		// Every coordinator's transitions start at 0, so that its first
		// fall is an increase (a series born at 1 hides it from rate()).
		for i := range f.Clusters {
			for _, co := range f.Clusters[i].Coordinators {
				c.transitions.WithLabelValues(f.Clusters[i].Name, co.Name, health.Healthy.String())
				c.transitions.WithLabelValues(f.Clusters[i].Name, co.Name, health.Unhealthy.String())
			}
		}
	}
	c.transitions.Collect(ch)
	if f == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	up := map[string]int{}
	total := map[string]int{}
	for _, g := range f.Groups {
		up[g.Name], total[g.Name] = 0, 0
	}
	for i := range f.Clusters {
		cl := &f.Clusters[i]
		total[cl.Group]++
		for _, s := range States {
			gauge(clusterState, b(cl.State == s), cl.Name, cl.Group, string(s))
		}
		takes := cl.State == fleet.Active && c.Up(cl)
		if takes {
			up[cl.Group]++
		}
		gauge(clusterUp, b(takes), cl.Name, cl.Group)
		gauge(clusterWeight, float64(cl.Weight), cl.Name, cl.Group)
		collectDrain(ch, cl)
		var load health.Load
		healthy := false
		coHealthy := make([]bool, len(cl.Coordinators))
		for j, co := range cl.Coordinators {
			st, ok := c.Status(cl.CoordinatorKey(j))
			if !ok {
				continue
			}
			coHealthy[j] = st.State == health.Healthy
			collectCoordinator(ch, cl.Name, co.Name, st)
			if !st.Checked.IsZero() {
				gauge(coordinatorChecked, float64(st.Checked.UnixMilli())/1000, cl.Name, co.Name)
			}
			if st.State == health.Unknown {
				continue
			}
			gauge(coordinatorHealthy, b(st.State == health.Healthy), cl.Name, co.Name)
			gauge(coordinatorStarting, b(st.Starting), cl.Name, co.Name)
			if st.State == health.Healthy {
				healthy = true
				load.Running += st.Load.Running
				load.Queued += st.Load.Queued
				load.Blocked += st.Load.Blocked
				load.ActiveWorkers += st.Load.ActiveWorkers
			}
		}
		collectServing(ch, cl, coHealthy)
		gauge(clusterHealthy, b(healthy), cl.Name, cl.Group)
		gauge(clusterQueries, float64(load.Running), cl.Name, "running")
		gauge(clusterQueries, float64(load.Queued), cl.Name, "queued")
		gauge(clusterQueries, float64(load.Blocked), cl.Name, "blocked")
		gauge(clusterWorkers, float64(load.ActiveWorkers), cl.Name)
	}
	for g, n := range total {
		gauge(groupClusters, float64(n), g)
		gauge(groupUp, float64(up[g]), g)
	}
}

func b(v bool) float64 {
	if v {
		return 1
	}
	return 0
}
