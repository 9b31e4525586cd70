package workload

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/governance"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// Usage is the fleet's governance state as the admin API, the CLI and
// the console show it: per class and user, what runs and waits and how
// much of each rate and quota is used; per cluster, what runs against its
// cap.
type Usage struct {
	// Enabled: the policy in use defines workload classes.
	Enabled  bool           `json:"enabled"`
	Time     time.Time      `json:"time"`
	Classes  []ClassUsage   `json:"classes"`
	Clusters []ClusterUsage `json:"clusters"`
	// Queued is the queue's depth.
	Queued int `json:"queued"`
	// Unclassified counts running queries with no class (counted for a
	// capped cluster).
	Unclassified int `json:"unclassified,omitempty"`
}

// ClassUsage is one class.
type ClassUsage struct {
	Name     string            `json:"name"`
	Priority int               `json:"priority"`
	Running  int               `json:"running"`
	Queued   int               `json:"queued"`
	Limits   governance.Limits `json:"limits"`
	PerUser  governance.Limits `json:"perUser"`
	Usage    Balances          `json:"usage"`
	Users    []UserUsage       `json:"users"`
}

// UserUsage is one user within a class.
type UserUsage struct {
	User    string   `json:"user"`
	Running int      `json:"running"`
	Queued  int      `json:"queued"`
	Usage   Balances `json:"usage"`
}

// Balances are the rate and quota usage in the current windows.
type Balances struct {
	Rate  Balance `json:"rate"`
	CPU   Balance `json:"cpu"`
	Bytes Balance `json:"bytes"`
}

// Balance is one rate or quota: what is used, of what limit (0: none),
// and when its window ends.
type Balance struct {
	Used   float64   `json:"used"`
	Limit  float64   `json:"limit"`
	Resets time.Time `json:"resets"`
}

// ClusterUsage is one cluster's gateway queries against its cap.
type ClusterUsage struct {
	Name    string `json:"name"`
	Running int    `json:"running"`
	Cap     int    `json:"cap"`
}

// QueueItem is one queued query as the admin API shows it.
type QueueItem struct {
	Position int       `json:"position,omitempty"`
	ID       string    `json:"id"`
	State    string    `json:"state"`
	Class    string    `json:"class"`
	User     string    `json:"user"`
	Priority int       `json:"priority"`
	Enqueued time.Time `json:"enqueued"`
	Waited   string    `json:"waited"`
	Cluster  string    `json:"cluster,omitempty"`
	QueryID  string    `json:"queryId,omitempty"`
	Error    string    `json:"error,omitempty"`
	// Reason says why a queued entry waits.
	Reason string `json:"reason,omitempty"`
}

// Usage reads the fleet's governance state.
func (g *Governor) Usage(ctx context.Context) (*Usage, error) {
	cfg, _ := g.Config()
	s, err := g.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return usage(cfg, s), nil
}

func usage(cfg *governance.Config, s store.GovernanceSnapshot) *Usage {
	u := &Usage{Enabled: cfg != nil, Time: s.Now, Classes: []ClassUsage{}, Clusters: []ClusterUsage{}}
	queued, queuedUser := map[string]int{}, map[string]int{}
	for _, e := range s.Queue {
		if e.State == store.EntryQueued {
			u.Queued++
			queued[e.Class]++
			queuedUser[e.Class+"|"+e.User]++
		}
	}
	users := map[string]map[string]bool{}
	note := func(class, user string) {
		if users[class] == nil {
			users[class] = map[string]bool{}
		}
		users[class][user] = true
	}
	for k := range s.RunningByUser {
		c, user, _ := strings.Cut(k, "|")
		note(c, user)
	}
	for k := range queuedUser {
		c, user, _ := strings.Cut(k, "|")
		note(c, user)
	}
	for k := range s.Usage {
		if parts := strings.SplitN(k, "|", 3); len(parts) == 3 {
			note(parts[1], parts[2])
		}
	}
	names := map[string]bool{}
	if cfg != nil {
		for n := range cfg.Classes {
			names[n] = true
		}
	}
	for n := range s.RunningByClass {
		names[n] = true
	}
	for n := range queued {
		if n != "" {
			names[n] = true
		}
	}
	for _, name := range sortedSet(names) {
		var cl *governance.Class
		if cfg != nil {
			cl = cfg.Classes[name]
		}
		if cl == nil {
			cl = &governance.Class{Name: name}
		}
		cu := ClassUsage{Name: name, Priority: cl.Priority, Running: s.RunningByClass[name], Queued: queued[name],
			Limits: cl.Limits, PerUser: cl.PerUser, Usage: balances(s, name, "", cl.Limits), Users: []UserUsage{}}
		for _, user := range sortedSet(users[name]) {
			cu.Users = append(cu.Users, UserUsage{User: user, Running: s.RunningByUser[name+"|"+user], Queued: queuedUser[name+"|"+user],
				Usage: balances(s, name, user, cl.PerUser)})
		}
		u.Classes = append(u.Classes, cu)
	}
	caps := map[string]int{}
	if cfg != nil {
		for n, c := range cfg.Clusters {
			caps[n] = c.MaxRunning
		}
	}
	clusters := map[string]bool{}
	for n := range s.RunningByCluster {
		clusters[n] = true
	}
	for n := range caps {
		clusters[n] = true
	}
	for _, n := range sortedSet(clusters) {
		u.Clusters = append(u.Clusters, ClusterUsage{Name: n, Running: s.RunningByCluster[n], Cap: caps[n]})
	}
	for _, sl := range s.Slots {
		if sl.Class == "" {
			u.Unclassified++
		}
	}
	return u
}

func balances(s store.GovernanceSnapshot, class, user string, l governance.Limits) Balances {
	key := class
	if user != "" {
		key += "|" + user
	}
	b := func(kind string, window time.Duration, limit float64) Balance {
		return Balance{Used: s.Usage[kind+"|"+key], Limit: limit, Resets: s.Now.Truncate(window).Add(window)}
	}
	return Balances{
		Rate:  b("rate", store.RateWindow, float64(l.QueriesPerMinute)),
		CPU:   b("cpu", store.QuotaWindow, l.CPUSecondsPerHour),
		Bytes: b("bytes", store.QuotaWindow, float64(l.ScannedBytesPerHour)),
	}
}

// Queue lists the queue: waiting entries in the order they will run, with
// their positions, then the admitted, submitted and ended ones still kept.
func (g *Governor) Queue(ctx context.Context) ([]QueueItem, error) {
	s, err := g.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	cfg, l := g.Config()
	out := []QueueItem{}
	pos := 0
	for _, e := range s.Queue {
		it := QueueItem{ID: e.ID, State: string(e.State), Class: e.Class, User: e.User, Priority: e.Priority,
			Enqueued: e.Enqueued().UTC(), Waited: s.Now.Sub(e.Enqueued()).Round(time.Second).String(), Cluster: e.Cluster, QueryID: e.QueryID}
		if e.State == store.EntryQueued {
			pos++
			it.Position = pos
			clusters := map[string]int{}
			for _, k := range e.Candidates {
				clusters[k] = s.RunningByCluster[k]
			}
			it.Reason = WaitReason(cfg, l, e, pos, s.RunningByClass[e.Class], s.RunningByUser[e.Class+"|"+e.User], clusters)
		}
		if e.Error != nil {
			it.Error = e.Error.Name + ": " + e.Error.Message
		}
		out = append(out, it)
	}
	return out, nil
}

// Recent returns up to n records of the recent-query history, newest
// first (nil when no history is kept).
func (g *Governor) Recent(ctx context.Context, n int) ([]store.QueryRecord, error) {
	if g.o.History == nil {
		return nil, nil
	}
	ctx, cancel := g.ctx(ctx)
	defer cancel()
	return g.o.History.RecentQueries(ctx, n)
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
