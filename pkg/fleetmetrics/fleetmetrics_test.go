package fleetmetrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

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
switchyard_coordinator_transitions_total{cluster="etl-1",coordinator="0",to="healthy"} 1
switchyard_coordinator_transitions_total{cluster="etl-1",coordinator="0",to="unhealthy"} 2
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
