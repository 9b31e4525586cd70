// Package fleet is the plain model of the Trino fleet that every other part
// of the control plane reads: routing groups, clusters and their
// coordinators. It is built from the configuration and is immutable once
// built; a change produces a new Fleet.
package fleet

import (
	"net/netip"
	"sort"

	"github.com/switchyard-gw/switchyard/pkg/config"
)

// Fleet is a consistent view of groups and clusters.
type Fleet struct {
	DefaultGroup string
	Groups       []Group   // sorted by name
	Clusters     []Cluster // sorted by name
}

// Group is a routing group.
type Group struct {
	Name     string
	Strategy string
}

// Cluster is one Trino cluster.
type Cluster struct {
	Name         string
	Group        string
	Coordinators []Coordinator // in configuration order
}

// Coordinator is one coordinator of a cluster.
type Coordinator struct {
	Name    string
	Scheme  string // http or https
	Host    string // IP literal or DNS name
	Port    uint32
	Standby bool
}

// HasIP reports whether Host is an IP literal (Envoy EDS needs one).
func (c Coordinator) HasIP() bool {
	_, err := netip.ParseAddr(c.Host)
	return err == nil
}

// Key identifies a coordinator fleet-wide: "cluster/coordinator".
func Key(cluster, coordinator string) string { return cluster + "/" + coordinator }

// FromConfig builds the fleet model from a validated configuration.
func FromConfig(c *config.Config) *Fleet {
	f := &Fleet{DefaultGroup: c.Routing.DefaultGroup}
	for _, g := range c.Groups {
		f.Groups = append(f.Groups, Group{Name: g.Name, Strategy: g.Strategy})
	}
	for _, cl := range c.Clusters {
		out := Cluster{Name: cl.Name, Group: cl.Group}
		for _, co := range cl.Coordinators {
			ep, _ := config.ParseCoordinatorURL(co.URL) // validated already
			out.Coordinators = append(out.Coordinators, Coordinator{
				Name: co.Name, Scheme: ep.Scheme, Host: ep.Host, Port: ep.Port,
				Standby: co.Role == config.RoleStandby,
			})
		}
		f.Clusters = append(f.Clusters, out)
	}
	sort.Slice(f.Groups, func(i, j int) bool { return f.Groups[i].Name < f.Groups[j].Name })
	sort.Slice(f.Clusters, func(i, j int) bool { return f.Clusters[i].Name < f.Clusters[j].Name })
	return f
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
