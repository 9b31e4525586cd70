// Package fleet is the plain model of the Trino fleet that every other part
// of the control plane reads: routing groups, clusters, their coordinators
// and their lifecycle states. A Fleet is immutable once built; a change
// produces a new one.
//
// The routing groups come from the configuration file. The clusters live in
// a Doc kept in the shared store, which the configuration seeds once and
// the admin API changes at run time, so every control-plane replica sees
// the same fleet.
package fleet

import (
	"net/netip"
	"sort"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/config"
)

// State is a cluster's lifecycle state.
type State string

// Lifecycle states. Only active clusters take new queries; every state
// keeps serving the queries a cluster already owns.
const (
	Active   State = "active"   // takes new queries
	Draining State = "draining" // no new queries; waits for running and queued ones to end
	Drained  State = "drained"  // a drain completed: nothing running, no new queries
	Inactive State = "inactive" // switched off by an operator; no new queries
)

// Fleet is a consistent view of groups and clusters.
type Fleet struct {
	DefaultGroup string
	Groups       []Group   // sorted by name
	Clusters     []Cluster // sorted by name
	Revision     int64     // of the Doc it was built from
}

// Group is a routing group.
type Group struct {
	Name     string
	Strategy string
	Fallback string
	// Affinity keeps each client session on one cluster of the group.
	Affinity bool
}

// Cluster is one Trino cluster.
type Cluster struct {
	Name         string
	Group        string
	Coordinators []Coordinator // in configuration order
	Weight       int
	Failback     bool
	Tags         []string
	State        State
	// Primary is the coordinator that takes new queries after a failover
	// when Failback is false (empty: by role).
	Primary string
	Drain   *Drain
	// Auto: auto-recovery took the cluster out (it is inactive).
	Auto *AutoOut
}

// Coordinator is one coordinator of a cluster.
type Coordinator struct {
	Name    string
	URL     string
	Scheme  string // http or https
	Host    string // IP literal or DNS name
	Port    uint32
	Standby bool
	// Key is Key(cluster, Name), built once with the fleet (the health
	// lookups of every routing decision use it); see Cluster.CoordinatorKey.
	Key string
}

// CoordinatorKey is Key(c.Name, c.Coordinators[i].Name), without building
// the string again when the fleet came from Build.
func (c *Cluster) CoordinatorKey(i int) string {
	if k := c.Coordinators[i].Key; k != "" {
		return k
	}
	return Key(c.Name, c.Coordinators[i].Name)
}

// HasIP reports whether Host is an IP literal (Envoy EDS needs one).
func (c Coordinator) HasIP() bool {
	_, err := netip.ParseAddr(c.Host)
	return err == nil
}

// Key identifies a coordinator fleet-wide: "cluster/coordinator". It is
// also how a routing decision names a coordinator in the route table.
func Key(cluster, coordinator string) string { return cluster + "/" + coordinator }

// WeightedTarget is how a routing decision names a weighted group in the
// route table: Envoy chooses one of its clusters by weight.
func WeightedTarget(group string) string { return "group:" + group }

// Doc is what the shared store keeps: cluster definitions and their
// lifecycle status.
type Doc struct {
	Clusters []config.Cluster  `json:"clusters"`
	Status   map[string]Status `json:"status"` // by cluster name
	// Fence is the lease token of the newest reconciler that wrote the
	// document; writes of reconcilers with older tokens are refused.
	Fence int64 `json:"fence,omitempty"`
}

// Status is the run-time state of one cluster.
type Status struct {
	State   State     `json:"state"`
	Since   time.Time `json:"since"`
	Primary string    `json:"primary,omitempty"`
	Drain   *Drain    `json:"drain,omitempty"`
	// Auto is set while auto-recovery holds the cluster out of rotation
	// (state inactive); an operator's state change clears it.
	Auto *AutoOut `json:"auto,omitempty"`
}

// AutoOut is why and since when auto-recovery took a cluster out.
type AutoOut struct {
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// Drain is the progress of a drain.
type Drain struct {
	Started         time.Time `json:"started"`
	Deadline        time.Time `json:"deadline"`
	ShutdownWorkers bool      `json:"shutdownWorkers,omitempty"`
	// Running and Queued are the queries the cluster still had at the last
	// check; TimedOut is set when the deadline passed with queries left,
	// and Remaining lists them (query IDs).
	Running   int       `json:"running"`
	Queued    int       `json:"queued"`
	Checked   time.Time `json:"checked,omitzero"`
	Finished  time.Time `json:"finished,omitzero"`
	TimedOut  bool      `json:"timedOut,omitempty"`
	Remaining []string  `json:"remaining,omitempty"`
	// WorkersShutDown lists workers asked to shut down after the drain.
	WorkersShutDown []string `json:"workersShutDown,omitempty"`
}

// SeedDoc is the Doc the configuration file describes.
func SeedDoc(c *config.Config, now time.Time) *Doc {
	d := &Doc{Status: map[string]Status{}}
	for _, cl := range c.Clusters {
		d.Clusters = append(d.Clusters, cl)
		d.Status[cl.Name] = Status{State: State(cl.State), Since: now}
	}
	return d
}

// Cluster returns the definition of the named cluster and its index.
func (d *Doc) Cluster(name string) (*config.Cluster, int) {
	for i := range d.Clusters {
		if d.Clusters[i].Name == name {
			return &d.Clusters[i], i
		}
	}
	return nil, -1
}

// Build makes the Fleet of a Doc under the configuration's routing groups.
// Definitions are validated before they enter a Doc; a coordinator URL
// that no longer parses is skipped.
func Build(c *config.Config, d *Doc, rev int64) *Fleet {
	f := &Fleet{DefaultGroup: c.Routing.DefaultGroup, Revision: rev}
	for _, g := range c.Groups {
		f.Groups = append(f.Groups, Group{Name: g.Name, Strategy: g.Strategy, Fallback: g.Fallback, Affinity: g.Affinity()})
	}
	for _, cl := range d.Clusters {
		cl.ApplyDefaults()
		st, ok := d.Status[cl.Name]
		if !ok {
			st = Status{State: State(cl.State)}
		}
		out := Cluster{Name: cl.Name, Group: cl.Group, Weight: *cl.Weight, Failback: *cl.Failback, Tags: cl.Tags,
			State: st.State, Primary: st.Primary, Drain: st.Drain, Auto: st.Auto}
		for _, co := range cl.Coordinators {
			ep, err := config.ParseCoordinatorURL(co.URL)
			if err != nil {
				continue
			}
			out.Coordinators = append(out.Coordinators, Coordinator{
				Name: co.Name, URL: co.URL, Scheme: ep.Scheme, Host: ep.Host, Port: ep.Port,
				Standby: co.Role == config.RoleStandby, Key: Key(cl.Name, co.Name),
			})
		}
		f.Clusters = append(f.Clusters, out)
	}
	sort.Slice(f.Groups, func(i, j int) bool { return f.Groups[i].Name < f.Groups[j].Name })
	sort.Slice(f.Clusters, func(i, j int) bool { return f.Clusters[i].Name < f.Clusters[j].Name })
	return f
}

// FromConfig builds the fleet the configuration file seeds.
func FromConfig(c *config.Config) *Fleet {
	return Build(c, SeedDoc(c, time.Time{}), 0)
}

// Group returns the named group.
func (f *Fleet) Group(name string) (*Group, bool) {
	for i := range f.Groups {
		if f.Groups[i].Name == name {
			return &f.Groups[i], true
		}
	}
	return nil, false
}

// Cluster returns the named cluster.
func (f *Fleet) Cluster(name string) (*Cluster, bool) {
	for i := range f.Clusters {
		if f.Clusters[i].Name == name {
			return &f.Clusters[i], true
		}
	}
	return nil, false
}

// Coordinator returns the named coordinator of the cluster.
func (c *Cluster) Coordinator(name string) (*Coordinator, bool) {
	for i := range c.Coordinators {
		if c.Coordinators[i].Name == name {
			return &c.Coordinators[i], true
		}
	}
	return nil, false
}

// IsStandby reports whether a coordinator gets new queries only when the
// others are down: its role, unless a failover without failback made it
// the primary.
func (c *Cluster) IsStandby(co Coordinator) bool {
	if !c.Failback && c.Primary != "" {
		return co.Name != c.Primary
	}
	return co.Standby
}

// GroupNames lists the group names in order.
func (f *Fleet) GroupNames() []string {
	out := make([]string, len(f.Groups))
	for i, g := range f.Groups {
		out[i] = g.Name
	}
	return out
}

// ClustersIn returns the clusters of a group, in name order.
func (f *Fleet) ClustersIn(group string) []*Cluster {
	var out []*Cluster
	for i := range f.Clusters {
		if f.Clusters[i].Group == group {
			out = append(out, &f.Clusters[i])
		}
	}
	return out
}
