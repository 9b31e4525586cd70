// Package routing decides which cluster of which routing group receives a
// new query.
package routing

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// HealthView answers the health of a coordinator ("cluster/coordinator").
type HealthView interface {
	State(key string) health.State
}

// Request is what routing knows about a new query.
type Request struct {
	// RoutingGroup is the group the client asked for (X-Trino-Routing-Group);
	// empty means the default group.
	RoutingGroup string
}

// Decision is where a query goes.
type Decision struct {
	Group   string
	Cluster string
}

// Error is a routing failure that the client will read.
type Error struct {
	Code    trino.ErrorCode
	Message string
}

func (e *Error) Error() string { return e.Message }

// Router picks clusters. It is safe for concurrent use.
type Router struct {
	fleet  atomic.Pointer[fleet.Fleet]
	health HealthView
	mu     sync.Mutex
	next   map[string]*atomic.Uint64 // round-robin position per group
}

// New returns a router over the fleet.
func New(f *fleet.Fleet, h HealthView) *Router {
	r := &Router{health: h, next: map[string]*atomic.Uint64{}}
	r.fleet.Store(f)
	return r
}

// SetFleet swaps the fleet model atomically.
func (r *Router) SetFleet(f *fleet.Fleet) { r.fleet.Store(f) }

// Fleet returns the current fleet model.
func (r *Router) Fleet() *fleet.Fleet { return r.fleet.Load() }

// ClusterUp reports whether any coordinator of the cluster is healthy.
func (r *Router) ClusterUp(c *fleet.Cluster) bool {
	for _, co := range c.Coordinators {
		if r.health.State(fleet.Key(c.Name, co.Name)) == health.Healthy {
			return true
		}
	}
	return false
}

// Route picks a group and a cluster for a new query.
//
// A routing group named explicitly must exist: a typo must not silently run
// a query in another group's clusters (isolation), so an unknown name is an
// error listing the known groups.
func (r *Router) Route(req Request) (Decision, error) {
	f := r.fleet.Load()
	group := req.RoutingGroup
	if group == "" {
		group = f.DefaultGroup
	} else if _, ok := f.Group(group); !ok {
		return Decision{}, &Error{trino.ErrUnknownRoutingGroup, fmt.Sprintf(
			"unknown routing group %q (X-Trino-Routing-Group); known groups: %s",
			group, strings.Join(f.GroupNames(), ", "))}
	}
	clusters := f.ClustersIn(group)
	if n := len(clusters); n > 0 {
		start := r.counter(group).Add(1) - 1
		for i := range n {
			c := clusters[(start+uint64(i))%uint64(n)]
			if c.State == fleet.Active && r.ClusterUp(c) {
				return Decision{Group: group, Cluster: c.Name}, nil
			}
		}
	}
	active := 0
	for _, c := range clusters {
		if c.State == fleet.Active {
			active++
		}
	}
	return Decision{}, &Error{trino.ErrNoClusterAvailable, fmt.Sprintf(
		"no cluster available in group %s (%d clusters, %d active, none of them healthy)", group, len(clusters), active)}
}

func (r *Router) counter(group string) *atomic.Uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.next[group]
	if !ok {
		c = new(atomic.Uint64)
		r.next[group] = c
	}
	return c
}
