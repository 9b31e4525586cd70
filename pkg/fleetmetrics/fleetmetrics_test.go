package fleetmetrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
)

func TestCollector(t *testing.T) {
	f := &fleet.Fleet{DefaultGroup: "adhoc", Groups: []fleet.Group{{Name: "adhoc"}, {Name: "etl"}},
		Clusters: []fleet.Cluster{
			{Name: "blue", Group: "adhoc", State: fleet.Active, Weight: 100, Coordinators: []fleet.Coordinator{{Name: "0"}, {Name: "1", Standby: true}}},
			{Name: "green", Group: "adhoc", State: fleet.Draining, Weight: 100, Coordinators: []fleet.Coordinator{{Name: "0"}}},
			{Name: "etl-1", Group: "etl", State: fleet.Active, Weight: 50, Coordinators: []fleet.Coordinator{{Name: "0"}}},
		}}
	checked := time.Unix(1764000000, 500_000_000)
	status := map[string]health.Status{
		"blue/0":  {State: health.Healthy, Checked: checked, Load: health.Load{Known: true, Running: 3, Queued: 1, Blocked: 1, ActiveWorkers: 4}},
		"blue/1":  {State: health.Healthy, Checked: checked, Load: health.Load{Known: true, Running: 1}},
		"green/0": {State: health.Healthy, Checked: checked, Load: health.Load{Known: true, Running: 2, ActiveWorkers: 2}},
		"etl-1/0": {State: health.Unhealthy, Starting: true, Checked: checked, Load: health.Load{Running: 9}},
	}
	c := New(func() *fleet.Fleet { return f }, func(k string) (health.Status, bool) { s, ok := status[k]; return s, ok },
		func(cl *fleet.Cluster) bool { return status[cl.CoordinatorKey(0)].State != health.Unhealthy })
	c.OnChange("etl-1/0", health.Unhealthy)
	c.OnChange("etl-1/0", health.Healthy)
	c.OnChange("etl-1/0", health.Unhealthy)
	c.OnChange("blue/0", health.Unknown) // not a transition worth counting
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	want := `
# HELP switchyard_cluster_up 1 when the cluster takes new queries: active, with a healthy (or not yet checked) coordinator.
# TYPE switchyard_cluster_up gauge
switchyard_cluster_up{cluster="blue",group="adhoc"} 1
switchyard_cluster_up{cluster="etl-1",group="etl"} 0
switchyard_cluster_up{cluster="green",group="adhoc"} 0
# HELP switchyard_cluster_queries Queries on the cluster's coordinators at their last check, by state (running, queued, blocked).
# TYPE switchyard_cluster_queries gauge
switchyard_cluster_queries{cluster="blue",state="blocked"} 1
switchyard_cluster_queries{cluster="blue",state="queued"} 1
switchyard_cluster_queries{cluster="blue",state="running"} 4
switchyard_cluster_queries{cluster="etl-1",state="blocked"} 0
switchyard_cluster_queries{cluster="etl-1",state="queued"} 0
switchyard_cluster_queries{cluster="etl-1",state="running"} 0
switchyard_cluster_queries{cluster="green",state="blocked"} 0
switchyard_cluster_queries{cluster="green",state="queued"} 0
switchyard_cluster_queries{cluster="green",state="running"} 2
# HELP switchyard_group_clusters_up Clusters of the group that take new queries (0: the group's queries have nowhere to run).
# TYPE switchyard_group_clusters_up gauge
switchyard_group_clusters_up{group="adhoc"} 1
switchyard_group_clusters_up{group="etl"} 0
# HELP switchyard_coordinator_healthy 1 when the coordinator passed its last health checks, 0 when it failed them (absent before the first check).
# TYPE switchyard_coordinator_healthy gauge
switchyard_coordinator_healthy{cluster="blue",coordinator="0"} 1
switchyard_coordinator_healthy{cluster="blue",coordinator="1"} 1
switchyard_coordinator_healthy{cluster="etl-1",coordinator="0"} 0
switchyard_coordinator_healthy{cluster="green",coordinator="0"} 1
# HELP switchyard_coordinator_transitions_total Coordinator health changes seen by this replica's checks, by the state reached (healthy: it rose, unhealthy: it fell). Several per minute is a flapping or restarting coordinator.
# TYPE switchyard_coordinator_transitions_total counter
switchyard_coordinator_transitions_total{cluster="blue",coordinator="0",to="healthy"} 0
switchyard_coordinator_transitions_total{cluster="blue",coordinator="0",to="unhealthy"} 0
switchyard_coordinator_transitions_total{cluster="blue",coordinator="1",to="healthy"} 0
switchyard_coordinator_transitions_total{cluster="blue",coordinator="1",to="unhealthy"} 0
switchyard_coordinator_transitions_total{cluster="etl-1",coordinator="0",to="healthy"} 1
switchyard_coordinator_transitions_total{cluster="etl-1",coordinator="0",to="unhealthy"} 2
switchyard_coordinator_transitions_total{cluster="green",coordinator="0",to="healthy"} 0
switchyard_coordinator_transitions_total{cluster="green",coordinator="0",to="unhealthy"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "switchyard_cluster_up", "switchyard_cluster_queries",
		"switchyard_group_clusters_up", "switchyard_coordinator_healthy", "switchyard_coordinator_transitions_total"); err != nil {
		t.Fatal(err)
	}
	// One series per state, 1 for the current one.
	if v := testutil.ToFloat64(gaugeOf(t, reg, "switchyard_cluster_state", map[string]string{"cluster": "green", "state": "draining"})); v != 1 {
		t.Fatalf("green draining = %v", v)
	}
	if v := testutil.ToFloat64(gaugeOf(t, reg, "switchyard_cluster_state", map[string]string{"cluster": "green", "state": "active"})); v != 0 {
		t.Fatalf("green active = %v", v)
	}
	if n, err := testutil.GatherAndCount(reg, "switchyard_cluster_state"); err != nil || n != 3*len(States) {
		t.Fatalf("%d cluster_state series (%v)", n, err)
	}
	if v := testutil.ToFloat64(gaugeOf(t, reg, "switchyard_coordinator_last_check_timestamp_seconds", map[string]string{"cluster": "blue", "coordinator": "0"})); v != 1764000000.5 {
		t.Fatalf("last check %v", v)
	}
}

// gaugeOf finds one gathered sample as a collector for testutil.
func gaugeOf(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
			g.Set(m.GetGauge().GetValue())
			return g
		}
	}
	t.Fatalf("no %s %v", name, labels)
	return nil
}

// Trino's own signals per coordinator, which coordinator serves (a
// failover shows as a change), and a drain's progress.
func TestTrinoSignalsServingAndDrain(t *testing.T) {
	deadline := time.Unix(1764000600, 0)
	f := &fleet.Fleet{Groups: []fleet.Group{{Name: "adhoc"}},
		Clusters: []fleet.Cluster{
			{Name: "ha", Group: "adhoc", State: fleet.Active, Coordinators: []fleet.Coordinator{{Name: "primary"}, {Name: "standby", Standby: true}}},
			{Name: "old", Group: "adhoc", State: fleet.Draining, Coordinators: []fleet.Coordinator{{Name: "0"}},
				Drain: &fleet.Drain{Started: time.Unix(1764000000, 0), Deadline: deadline, Running: 2, Queued: 1, TimedOut: true}},
		}}
	status := map[string]health.Status{
		"ha/primary": {State: health.Unhealthy, Restarts: 3},
		"ha/standby": {State: health.Healthy, Load: health.Load{Known: true, Uptime: 90 * time.Second, HeapUsed: 100, HeapMax: 1000,
			Trino: coordinator.Signals{Completed: 10, Failed: 4, UserErrors: 1, InsufficientResources: 3, ExecCount: 10, ExecSeconds: 2.5,
				ExecP50: 0.1, ExecP90: -1, ExecP99: 1.5, MajorGCs: 2, MajorGCSeconds: 0.75, MinorGCs: 9, MinorGCSeconds: 0.25,
				ClusterMemoryBytes: 4e9, ClusterReservedBytes: 1e9, FailedWorkers: 1}}},
		"old/0": {State: health.Healthy, Load: health.Load{Known: true, Trino: coordinator.Signals{ExecP50: -1, ExecP90: -1, ExecP99: -1}}},
	}
	c := New(func() *fleet.Fleet { return f }, func(k string) (health.Status, bool) { s, ok := status[k]; return s, ok },
		func(*fleet.Cluster) bool { return true })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	want := `
# HELP switchyard_coordinator_serving 1 for the coordinator that takes the cluster's new queries now (a healthy primary, else a healthy standby); a change is a failover.
# TYPE switchyard_coordinator_serving gauge
switchyard_coordinator_serving{cluster="ha",coordinator="primary"} 0
switchyard_coordinator_serving{cluster="ha",coordinator="standby"} 1
switchyard_coordinator_serving{cluster="old",coordinator="0"} 1
# HELP switchyard_coordinator_restarts_total Restarts of the coordinator seen by this replica's health checks (its uptime went back).
# TYPE switchyard_coordinator_restarts_total counter
switchyard_coordinator_restarts_total{cluster="ha",coordinator="primary"} 3
switchyard_coordinator_restarts_total{cluster="ha",coordinator="standby"} 0
switchyard_coordinator_restarts_total{cluster="old",coordinator="0"} 0
# HELP switchyard_trino_query_execution_seconds Execution time of the coordinator's queries: count and sum since it started, quantiles over the last minute (absent when none finished).
# TYPE switchyard_trino_query_execution_seconds summary
switchyard_trino_query_execution_seconds{cluster="ha",coordinator="standby",quantile="0.5"} 0.1
switchyard_trino_query_execution_seconds{cluster="ha",coordinator="standby",quantile="0.99"} 1.5
switchyard_trino_query_execution_seconds_sum{cluster="ha",coordinator="standby"} 2.5
switchyard_trino_query_execution_seconds_count{cluster="ha",coordinator="standby"} 10
switchyard_trino_query_execution_seconds_sum{cluster="old",coordinator="0"} 0
switchyard_trino_query_execution_seconds_count{cluster="old",coordinator="0"} 0
# HELP switchyard_trino_gc_seconds_total Time the coordinator's JVM spent in garbage collection since it started, by kind (major, minor).
# TYPE switchyard_trino_gc_seconds_total counter
switchyard_trino_gc_seconds_total{cluster="ha",coordinator="standby",kind="major"} 0.75
switchyard_trino_gc_seconds_total{cluster="ha",coordinator="standby",kind="minor"} 0.25
switchyard_trino_gc_seconds_total{cluster="old",coordinator="0",kind="major"} 0
switchyard_trino_gc_seconds_total{cluster="old",coordinator="0",kind="minor"} 0
# HELP switchyard_trino_heap_used_bytes The coordinator JVM's heap in use, from its /v1/status.
# TYPE switchyard_trino_heap_used_bytes gauge
switchyard_trino_heap_used_bytes{cluster="ha",coordinator="standby"} 100
# HELP switchyard_coordinator_uptime_seconds How long the coordinator has run, from its /v1/status.
# TYPE switchyard_coordinator_uptime_seconds gauge
switchyard_coordinator_uptime_seconds{cluster="ha",coordinator="standby"} 90
# HELP switchyard_cluster_drain_deadline_timestamp_seconds When the cluster's drain times out (Unix time; absent when not draining).
# TYPE switchyard_cluster_drain_deadline_timestamp_seconds gauge
switchyard_cluster_drain_deadline_timestamp_seconds{cluster="old"} 1.7640006e+09
# HELP switchyard_cluster_drain_queries Queries the draining cluster still had at the drain's last check, by state (running, queued).
# TYPE switchyard_cluster_drain_queries gauge
switchyard_cluster_drain_queries{cluster="old",state="queued"} 1
switchyard_cluster_drain_queries{cluster="old",state="running"} 2
# HELP switchyard_cluster_drain_timed_out 1 when the drain's deadline passed with queries left (the cluster stays draining until they end or an operator acts).
# TYPE switchyard_cluster_drain_timed_out gauge
switchyard_cluster_drain_timed_out{cluster="old"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "switchyard_coordinator_serving", "switchyard_coordinator_restarts_total",
		"switchyard_trino_query_execution_seconds", "switchyard_trino_gc_seconds_total", "switchyard_trino_heap_used_bytes",
		"switchyard_coordinator_uptime_seconds", "switchyard_cluster_drain_deadline_timestamp_seconds", "switchyard_cluster_drain_queries",
		"switchyard_cluster_drain_timed_out"); err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(gaugeOf(t, reg, "switchyard_trino_cluster_memory_bytes", map[string]string{"cluster": "ha", "kind": "reserved"})); v != 1e9 {
		t.Fatalf("reserved memory %v", v)
	}
	if n, err := testutil.GatherAndCount(reg, "switchyard_trino_queries_failed_total"); err != nil || n != 14 {
		t.Fatalf("%d failed-query series (%v), want 7 kinds × 2 coordinators", n, err)
	}
}
