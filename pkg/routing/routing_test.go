package routing

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

type states map[string]health.State

func (s states) State(k string) health.State { return s[k] }
func (s states) Status(k string) (health.Status, bool) {
	st, ok := s[k]
	return health.Status{State: st}, ok
}

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

// checked completes s: every coordinator of fleet3 it does not name was
// checked and found unhealthy (a missing entry would be Unknown, which
// routing does not count as down).
func checked(s states) states {
	for _, c := range fleet3().Clusters {
		for i := range c.Coordinators {
			if _, ok := s[c.CoordinatorKey(i)]; !ok {
				s[c.CoordinatorKey(i)] = health.Unhealthy
			}
		}
	}
	return s
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
	d, err := r.Route(Request{Group: "etl"})
	if err != nil || d != (Decision{Group: "etl", Cluster: "e"}) {
		t.Fatalf("%+v %v", d, err)
	}
}

func TestRouteErrors(t *testing.T) {
	r := New(fleet3(), checked(states{})) // every coordinator checked and unhealthy
	tests := []struct {
		group string
		code  trino.ErrorCode
		msg   string
	}{
		{"nope", trino.ErrUnknownRoutingGroup, `unknown routing group "nope"; known groups: adhoc, empty, etl`},
		{"", trino.ErrNoClusterAvailable, "no cluster available in group adhoc (3 clusters, 3 active, none of them healthy)"},
		{"empty", trino.ErrNoClusterAvailable, "no cluster available in group empty (0 clusters, 0 active, none of them healthy)"},
	}
	for _, tt := range tests {
		_, err := r.Route(Request{Group: tt.group})
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

// loadStates reports a load per cluster.
type loadStates map[string]int

func (l loadStates) State(string) health.State { return health.Healthy }
func (l loadStates) Status(k string) (health.Status, bool) {
	return health.Status{State: health.Healthy, Load: health.Load{Known: true, Running: l[k]}, Checked: time.Unix(100, 0)}, true
}

func strategyFleet(strategy string) *fleet.Fleet {
	f := fleet3()
	f.Groups[0].Strategy = strategy
	f.Clusters[0].Weight, f.Clusters[1].Weight, f.Clusters[2].Weight = 1, 3, 0
	return f
}

func TestLeastLoaded(t *testing.T) {
	r := New(strategyFleet(config.StrategyLeastLoaded), loadStates{"a/0": 5, "b/0": 1, "c/0": 3, "c/1": 0})
	seen := map[string]int{}
	for range 4 {
		d, err := r.Route(Request{})
		if err != nil {
			t.Fatal(err)
		}
		seen[d.Cluster]++
	}
	// b (1) takes the first two (local bumps make it 2, then 3), then c
	// (3) and b tie... b reaches 3 after two, so c gets one of the last two.
	if seen["a"] != 0 || seen["b"] < 2 || seen["c"] < 1 {
		t.Fatalf("distribution %v", seen)
	}
}

func TestWeightedIsDecidedByEnvoyUnlessRestricted(t *testing.T) {
	h := states{"a/0": health.Healthy, "b/0": health.Healthy, "c/0": health.Healthy}
	r := New(strategyFleet(config.StrategyWeighted), h)
	d, err := r.Route(Request{})
	if err != nil || !d.Weighted || d.Cluster != "" || d.Group != "adhoc" {
		t.Fatalf("%+v %v", d, err)
	}
	// With a policy restriction the router applies the weights itself.
	seen := map[string]int{}
	for range 8 {
		d, err := r.Route(Request{Eligible: []string{"a", "b", "c"}})
		if err != nil {
			t.Fatal(err)
		}
		seen[d.Cluster]++
	}
	if seen["a"] != 2 || seen["b"] != 6 || seen["c"] != 0 {
		t.Fatalf("smooth weighted distribution %v, want a:2 b:6 (weights 1:3:0)", seen)
	}
}

func TestAffinityKeepsAUserOnOneCluster(t *testing.T) {
	h := states{"a/0": health.Healthy, "b/0": health.Healthy, "c/0": health.Healthy}
	r := New(strategyFleet(config.StrategyAffinity), h)
	first := map[string]string{}
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin"} {
		for range 3 {
			d, err := r.Route(Request{User: u})
			if err != nil {
				t.Fatal(err)
			}
			if first[u] != "" && first[u] != d.Cluster {
				t.Fatalf("user %s moved from %s to %s", u, first[u], d.Cluster)
			}
			first[u] = d.Cluster
		}
	}
	// When a user's cluster goes down, only its users move.
	down := first["alice"]
	h[down+"/0"] = health.Unhealthy
	for u, c := range first {
		d, _ := r.Route(Request{User: u})
		if c != down && d.Cluster != c {
			t.Fatalf("user %s moved from healthy %s to %s", u, c, d.Cluster)
		}
		if d.Cluster == down {
			t.Fatalf("user %s still on the down cluster", u)
		}
	}
}

func TestFallbackAndIsolation(t *testing.T) {
	f := fleet3()
	f.Groups[2].Fallback = "adhoc" // etl falls back to adhoc
	r := New(f, states{"a/0": health.Healthy, "e/0": health.Unhealthy})
	d, err := r.Route(Request{Group: "etl"})
	if err != nil || d.Cluster != "a" || d.Fallback != "etl" {
		t.Fatalf("%+v %v", d, err)
	}
	// adhoc has no fallback: strict isolation.
	r = New(f, checked(states{"e/0": health.Healthy}))
	if _, err := r.Route(Request{}); err == nil || !strings.Contains(err.Error(), "no cluster available in group adhoc") {
		t.Fatalf("got %v", err)
	}
}

func TestPolicyRestrictionsAndPins(t *testing.T) {
	r := New(fleet3(), checked(states{"a/0": health.Healthy, "b/0": health.Healthy, "c/0": health.Unhealthy}))
	for range 4 {
		if d, err := r.Route(Request{Eligible: []string{"b"}}); err != nil || d.Cluster != "b" {
			t.Fatalf("%+v %v", d, err)
		}
	}
	if _, err := r.Route(Request{Eligible: []string{"c"}}); err == nil || !strings.Contains(err.Error(), "none of those the policy allows (c) is healthy") {
		t.Fatalf("got %v", err)
	}
	if d, err := r.Route(Request{Cluster: "a"}); err != nil || d.Cluster != "a" {
		t.Fatalf("%+v %v", d, err)
	}
	if _, err := r.Route(Request{Cluster: "c"}); err == nil || !strings.Contains(err.Error(), "the policy chose cluster c, which is active and not healthy") {
		t.Fatalf("got %v", err)
	}
}

// Unknown health is not "down": before its first health round a replica
// routes to the clusters it has not checked yet rather than refuse the
// query, but a known-healthy cluster always goes first, and a cluster
// checked unhealthy is never chosen.
func TestUnknownHealthRoutesAfterHealthy(t *testing.T) {
	tests := []struct {
		name  string
		h     states
		group string
		req   Request
		want  []string // clusters that may be chosen; empty: an error
	}{
		{"nothing checked yet", states{}, "", Request{}, []string{"a", "b", "c"}},
		{"healthy before unknown", states{"a/0": health.Healthy}, "", Request{}, []string{"a"}},
		{"unhealthy is never chosen", states{"a/0": health.Unhealthy, "c/0": health.Unhealthy, "c/1": health.Unhealthy}, "", Request{}, []string{"b"}},
		{"a cluster with one coordinator unknown", states{"a/0": health.Unhealthy, "b/0": health.Unhealthy, "c/0": health.Unhealthy}, "", Request{}, []string{"c"}},
		{"all checked and down", checked(states{}), "", Request{}, nil},
		{"policy restriction", states{}, "", Request{Eligible: []string{"b"}}, []string{"b"}},
		{"policy pin", states{}, "", Request{Cluster: "c"}, []string{"c"}},
		{"pin of a cluster checked down", states{"c/0": health.Unhealthy, "c/1": health.Unhealthy}, "", Request{Cluster: "c"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(fleet3(), tt.h)
			seen := map[string]bool{}
			for range 12 {
				d, err := r.Route(tt.req)
				if len(tt.want) == 0 {
					if err == nil {
						t.Fatalf("routed to %+v, want an error", d)
					}
					return
				}
				if err != nil {
					t.Fatalf("error %v, want one of %v", err, tt.want)
				}
				if !slices.Contains(tt.want, d.Cluster) {
					t.Fatalf("routed to %q, want one of %v", d.Cluster, tt.want)
				}
				seen[d.Cluster] = true
			}
			if len(seen) != len(tt.want) {
				t.Fatalf("round robin reached %v, want every one of %v", seen, tt.want)
			}
		})
	}
}
