package routing

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

type states map[string]health.State

func (s states) State(k string) health.State { return s[k] }

func fleet3() *fleet.Fleet {
	c := func(name, group string, coords ...string) fleet.Cluster {
		cl := fleet.Cluster{Name: name, Group: group, State: fleet.Active}
		for _, co := range coords {
			cl.Coordinators = append(cl.Coordinators, fleet.Coordinator{Name: co})
		}
		return cl
	}
	return &fleet.Fleet{
		DefaultGroup: "adhoc",
		Groups:       []fleet.Group{{Name: "adhoc"}, {Name: "empty"}, {Name: "etl"}},
		Clusters:     []fleet.Cluster{c("a", "adhoc", "0"), c("b", "adhoc", "0"), c("c", "adhoc", "0", "1"), c("e", "etl", "0")},
	}
}

func TestRoundRobinSkipsClustersThatAreDown(t *testing.T) {
	h := states{"a/0": health.Healthy, "b/0": health.Unhealthy, "c/0": health.Unhealthy, "c/1": health.Healthy}
	r := New(fleet3(), h)
	seen := map[string]int{}
	for range 30 {
		d, err := r.Route(Request{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Group != "adhoc" {
			t.Fatalf("group %q", d.Group)
		}
		seen[d.Cluster]++
	}
	// b is down; c is up through its standby coordinator.
	if seen["b"] != 0 || seen["a"] == 0 || seen["c"] == 0 || seen["a"]+seen["c"] != 30 {
		t.Fatalf("distribution %v", seen)
	}
}

func TestExplicitGroup(t *testing.T) {
	r := New(fleet3(), states{"e/0": health.Healthy})
	d, err := r.Route(Request{RoutingGroup: "etl"})
	if err != nil || d != (Decision{Group: "etl", Cluster: "e"}) {
		t.Fatalf("%+v %v", d, err)
	}
}

func TestRouteErrors(t *testing.T) {
	r := New(fleet3(), states{}) // nothing healthy (Unknown counts as down)
	tests := []struct {
		group string
		code  trino.ErrorCode
		msg   string
	}{
		{"nope", trino.ErrUnknownRoutingGroup, `unknown routing group "nope" (X-Trino-Routing-Group); known groups: adhoc, empty, etl`},
		{"", trino.ErrNoClusterAvailable, "no cluster available in group adhoc (3 clusters, 3 active, none of them healthy)"},
		{"empty", trino.ErrNoClusterAvailable, "no cluster available in group empty (0 clusters, 0 active, none of them healthy)"},
	}
	for _, tt := range tests {
		_, err := r.Route(Request{RoutingGroup: tt.group})
		var re *Error
		if !errors.As(err, &re) || re.Code != tt.code || !strings.Contains(re.Message, tt.msg) {
			t.Errorf("group %q: %v", tt.group, err)
		}
	}
}

func TestOnlyActiveClustersTakeQueries(t *testing.T) {
	f := fleet3()
	for i := range f.Clusters {
		if f.Clusters[i].Name != "c" {
			f.Clusters[i].State = fleet.Draining
		}
	}
	r := New(f, states{"a/0": health.Healthy, "b/0": health.Healthy, "c/0": health.Healthy})
	for range 5 {
		if d, err := r.Route(Request{}); err != nil || d.Cluster != "c" {
			t.Fatalf("%+v %v", d, err)
		}
	}
	f.Clusters[2].State = fleet.Inactive
	r.SetFleet(f)
	_, err := r.Route(Request{})
	var re *Error
	if !errors.As(err, &re) || !strings.Contains(re.Message, "(3 clusters, 0 active, none of them healthy)") {
		t.Fatalf("got %v", err)
	}
}

func TestSetFleetSwaps(t *testing.T) {
	r := New(fleet3(), states{"a/0": health.Healthy, "z/0": health.Healthy})
	f := fleet3()
	f.Clusters = []fleet.Cluster{{Name: "z", Group: "adhoc", State: fleet.Active, Coordinators: []fleet.Coordinator{{Name: "0"}}}}
	r.SetFleet(f)
	if d, err := r.Route(Request{}); err != nil || d.Cluster != "z" {
		t.Fatalf("%+v %v", d, err)
	}
}

func BenchmarkRoute(b *testing.B) {
	r := New(fleet3(), states{"a/0": health.Healthy, "b/0": health.Healthy, "c/0": health.Healthy})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Route(Request{}); err != nil {
			b.Fatal(err)
		}
	}
}
