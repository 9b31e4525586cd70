// Package routing decides which cluster of which routing group receives a
// new query: the group (asked for, or chosen by policy), the clusters the
// policy allows, and the group's balancing strategy among the healthy,
// active ones, with a fallback group or strict isolation when none is up.
package routing

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// HealthView answers the health of a coordinator ("cluster/coordinator").
type HealthView interface {
	State(key string) health.State
	Status(key string) (health.Status, bool)
}

// Request is what routing knows about a new query.
type Request struct {
	// Group is the routing group (asked for or chosen by policy); empty
	// means the default group.
	Group string
	// Cluster pins one cluster (policy, a client session); it must be
	// active and healthy.
	Cluster string
	// PinFrom says who pinned Cluster, for error messages (default "the
	// policy").
	PinFrom string
	// Eligible, when set, restricts the choice to these clusters (policy).
	Eligible []string
	// User drives the affinity strategy.
	User string
	// GroupFrom says where Group came from, for error messages
	// (e.g. "X-Trino-Routing-Group" or "policy").
	GroupFrom string
}

// Decision is where a query goes.
type Decision struct {
	Group   string
	Cluster string // empty with Weighted: Envoy picks by weight
	// Weighted: the group's weighted strategy applies and Envoy chooses
	// the cluster by the weights it was given over xDS.
	Weighted bool
	// Fallback: the group had no healthy cluster and its fallback group
	// took the query.
	Fallback string
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
	rr     map[string]uint64         // round-robin position per group
	swrr   map[string]map[string]int // smooth weighted round-robin state
	bumps  map[string]*bump          // queries sent since the last load report, per cluster
}

type bump struct {
	since time.Time // load report these are counted against
	n     int
}

// New returns a router over the fleet.
func New(f *fleet.Fleet, h HealthView) *Router {
	r := &Router{health: h, rr: map[string]uint64{}, swrr: map[string]map[string]int{}, bumps: map[string]*bump{}}
	r.fleet.Store(f)
	return r
}

// SetFleet swaps the fleet model atomically.
func (r *Router) SetFleet(f *fleet.Fleet) { r.fleet.Store(f) }

// Fleet returns the current fleet model.
func (r *Router) Fleet() *fleet.Fleet { return r.fleet.Load() }

// ClusterUp reports whether the cluster may take queries: a coordinator
// is healthy, or has not been checked yet. Unknown health is not "down": a
// replica that has just started routes before its first health round
// (known-healthy clusters first, see pick) instead of refusing queries
// while the clusters are up.
func (r *Router) ClusterUp(c *fleet.Cluster) bool {
	return r.clusterHealth(c) != health.Unhealthy
}

// clusterHealth is Healthy when a coordinator is healthy, else Unknown
// when one has not been checked yet, else Unhealthy.
func (r *Router) clusterHealth(c *fleet.Cluster) health.State {
	st := health.Unhealthy
	for i := range c.Coordinators {
		switch r.health.State(c.CoordinatorKey(i)) {
		case health.Healthy:
			return health.Healthy
		case health.Unknown:
			st = health.Unknown
		}
	}
	return st
}

// Route picks a group and a cluster for a new query.
//
// A routing group named explicitly must exist: a typo must not silently run
// a query in another group's clusters (isolation), so an unknown name is an
// error listing the known groups.
func (r *Router) Route(req Request) (Decision, error) {
	f := r.fleet.Load()
	group := req.Group
	if group == "" {
		group = f.DefaultGroup
	}
	g, ok := f.Group(group)
	if !ok {
		from := ""
		if req.GroupFrom != "" {
			from = " (" + req.GroupFrom + ")"
		}
		return Decision{}, &Error{trino.ErrUnknownRoutingGroup, fmt.Sprintf(
			"unknown routing group %q%s; known groups: %s", group, from, strings.Join(f.GroupNames(), ", "))}
	}
	if req.Cluster != "" {
		who := req.PinFrom
		if who == "" {
			who = "the policy"
		}
		c, ok := f.Cluster(req.Cluster)
		if !ok {
			return Decision{}, &Error{trino.ErrNoClusterAvailable, fmt.Sprintf("%s chose cluster %s, which is not in the fleet", who, req.Cluster)}
		}
		if c.State != fleet.Active || !r.ClusterUp(c) {
			return Decision{}, &Error{trino.ErrNoClusterAvailable, fmt.Sprintf("%s chose cluster %s, which is %s and %s", who, c.Name, c.State, r.upWord(c))}
		}
		r.bump(c.Name) // it counts toward its group's least-loaded choice
		return Decision{Group: c.Group, Cluster: c.Name}, nil
	}
	d, err := r.pick(f, g, req)
	if err == nil || g.Fallback == "" {
		return d, err
	}
	fb, ok := f.Group(g.Fallback)
	if !ok {
		return Decision{}, err
	}
	d, ferr := r.pick(f, fb, req)
	if ferr != nil {
		return Decision{}, &Error{trino.ErrNoClusterAvailable, err.Error() + "; fallback " + ferr.Error()}
	}
	d.Fallback = group
	return d, nil
}

func (r *Router) upWord(c *fleet.Cluster) string {
	if r.ClusterUp(c) {
		return "healthy"
	}
	return "not healthy"
}

// pick chooses within one group.
func (r *Router) pick(f *fleet.Fleet, g *fleet.Group, req Request) (Decision, error) {
	up, err := r.usable(f, g, req)
	if err != nil {
		return Decision{}, err
	}
	if g.Strategy == config.StrategyWeighted && req.Eligible == nil && weighted(up) {
		// Envoy applies the weights it was given (only active clusters
		// with weight > 0; an unhealthy one's share fails over).
		return Decision{Group: g.Name, Weighted: true}, nil
	}
	c := r.choose(g, up, req)
	if c == nil {
		return Decision{}, &Error{trino.ErrNoClusterAvailable, fmt.Sprintf("no cluster available in group %s (every healthy cluster has weight 0)", g.Name)}
	}
	return Decision{Group: g.Name, Cluster: c.Name}, nil
}

// usable lists the group's active clusters the request may use that are
// up (or, when none is, those not checked yet).
func (r *Router) usable(f *fleet.Fleet, g *fleet.Group, req Request) ([]*fleet.Cluster, error) {
	all := f.ClustersIn(g.Name)
	var up, unknown []*fleet.Cluster
	active := 0
	for _, c := range all {
		if c.State != fleet.Active {
			continue
		}
		active++
		if req.Eligible != nil && !slices.Contains(req.Eligible, c.Name) {
			continue
		}
		switch r.clusterHealth(c) {
		case health.Healthy:
			up = append(up, c)
		case health.Unknown:
			unknown = append(unknown, c)
		}
	}
	if len(up) == 0 {
		// Not checked yet (a replica's first moments, a cluster just
		// added): they take the queries rather than refuse them; Envoy's
		// own health checks still keep a dead coordinator out.
		up = unknown
	}
	if len(up) == 0 {
		why := fmt.Sprintf("%d clusters, %d active, none of them healthy", len(all), active)
		if req.Eligible != nil {
			why = fmt.Sprintf("%d clusters, %d active; none of those the policy allows (%s) is healthy", len(all), active, strings.Join(req.Eligible, ", "))
		}
		return nil, &Error{trino.ErrNoClusterAvailable, fmt.Sprintf("no cluster available in group %s (%s)", g.Name, why)}
	}
	return up, nil
}

// choose applies the group's strategy to the usable clusters (nil: every
// one has weight 0 in a weighted group).
func (r *Router) choose(g *fleet.Group, up []*fleet.Cluster, req Request) *fleet.Cluster {
	var c *fleet.Cluster
	switch g.Strategy {
	case config.StrategyLeastLoaded:
		c = r.leastLoaded(up)
	case config.StrategyWeighted:
		c = r.smoothWeighted(g.Name, up)
	case config.StrategyAffinity:
		c = affinity(req.User, up)
	default:
		c = r.roundRobin(g.Name, up)
	}
	if c != nil && g.Strategy == config.StrategyLeastLoaded {
		r.bump(c.Name)
	}
	return c
}

// Candidates lists the clusters a new query may go to, in the order the
// routing group prefers them: the cluster Route would choose first, then
// the group's other usable clusters (for a caller that skips clusters at
// a cap). A pinned cluster is the only candidate. Like Route, it falls
// back to the fallback group when no cluster of the group is usable.
func (r *Router) Candidates(req Request) (string, []string, error) {
	f := r.fleet.Load()
	if req.Cluster != "" {
		d, err := r.Route(req)
		if err != nil {
			return "", nil, err
		}
		return d.Group, []string{d.Cluster}, nil
	}
	group := req.Group
	if group == "" {
		group = f.DefaultGroup
	}
	g, ok := f.Group(group)
	if !ok {
		_, err := r.Route(req) // the unknown group's error
		return "", nil, err
	}
	up, err := r.usable(f, g, req)
	if err != nil && g.Fallback != "" {
		if fb, ok := f.Group(g.Fallback); ok {
			var ferr error
			if up, ferr = r.usable(f, fb, req); ferr == nil {
				g, err = fb, nil
			}
		}
	}
	if err != nil {
		return "", nil, err
	}
	first := r.choose(g, up, req)
	out := make([]string, 0, len(up))
	if first != nil {
		out = append(out, first.Name)
	}
	for _, c := range up {
		if c != first && (g.Strategy != config.StrategyWeighted || c.Weight > 0) {
			out = append(out, c.Name)
		}
	}
	if len(out) == 0 {
		return "", nil, &Error{trino.ErrNoClusterAvailable, fmt.Sprintf("no cluster available in group %s (every healthy cluster has weight 0)", g.Name)}
	}
	return g.Name, out, nil
}

func weighted(cs []*fleet.Cluster) bool {
	for _, c := range cs {
		if c.Weight > 0 {
			return true
		}
	}
	return false
}

func (r *Router) roundRobin(group string, up []*fleet.Cluster) *fleet.Cluster {
	r.mu.Lock()
	n := r.rr[group]
	r.rr[group] = n + 1
	r.mu.Unlock()
	return up[n%uint64(len(up))]
}

// smoothWeighted is nginx's smooth weighted round-robin: over any window
// each cluster gets its share, spread evenly.
func (r *Router) smoothWeighted(group string, up []*fleet.Cluster) *fleet.Cluster {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.swrr[group]
	if cur == nil {
		cur = map[string]int{}
		r.swrr[group] = cur
	}
	total := 0
	var best *fleet.Cluster
	for _, c := range up {
		if c.Weight <= 0 {
			continue
		}
		cur[c.Name] += c.Weight
		total += c.Weight
		if best == nil || cur[c.Name] > cur[best.Name] {
			best = c
		}
	}
	if best != nil {
		cur[best.Name] -= total
	}
	return best
}

// affinity keeps a user on the same cluster while it is healthy
// (rendezvous hashing: when a cluster goes, only its users move).
func affinity(user string, up []*fleet.Cluster) *fleet.Cluster {
	var best *fleet.Cluster
	var bestScore uint64
	for _, c := range up {
		h := fnv.New64a()
		h.Write([]byte(user))
		h.Write([]byte{0})
		h.Write([]byte(c.Name))
		if s := h.Sum64(); best == nil || s > bestScore {
			best, bestScore = c, s
		}
	}
	return best
}

// leastLoaded picks the cluster with the fewest running plus queued
// queries, as its coordinators last reported them plus the queries this
// replica sent it since.
func (r *Router) leastLoaded(up []*fleet.Cluster) *fleet.Cluster {
	var best *fleet.Cluster
	bestLoad := 0
	for _, c := range up {
		load, checked := r.load(c)
		r.mu.Lock()
		b := r.bumps[c.Name]
		if b != nil && b.since.Equal(checked) {
			load += b.n
		}
		r.mu.Unlock()
		if best == nil || load < bestLoad {
			best, bestLoad = c, load
		}
	}
	return best
}

// load sums a cluster's reported running and queued queries and returns
// the time of the newest report.
func (r *Router) load(c *fleet.Cluster) (int, time.Time) {
	n := 0
	var newest time.Time
	for i := range c.Coordinators {
		st, ok := r.health.Status(c.CoordinatorKey(i))
		if !ok {
			continue
		}
		n += st.Load.Running + st.Load.Queued
		if st.Checked.After(newest) {
			newest = st.Checked
		}
	}
	return n, newest
}

// bump counts a query sent to a cluster until its next load report.
func (r *Router) bump(cluster string) {
	f := r.fleet.Load()
	c, ok := f.Cluster(cluster)
	if !ok {
		return
	}
	_, checked := r.load(c)
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.bumps[cluster]
	if b == nil || !b.since.Equal(checked) {
		b = &bump{since: checked}
		r.bumps[cluster] = b
	}
	b.n++
}

// Coordinator is the coordinator of c a request should go to: a healthy
// active one, else a healthy standby, other than except ("cluster/name";
// nil when none qualifies).
func (r *Router) Coordinator(c *fleet.Cluster, except string) *fleet.Coordinator {
	var standby *fleet.Coordinator
	for i := range c.Coordinators {
		co := &c.Coordinators[i]
		if c.CoordinatorKey(i) == except || r.health.State(c.CoordinatorKey(i)) != health.Healthy {
			continue
		}
		if !c.IsStandby(*co) {
			return co
		}
		if standby == nil {
			standby = co
		}
	}
	return standby
}
