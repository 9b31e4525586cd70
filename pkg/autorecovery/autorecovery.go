// Package autorecovery takes a cluster out of rotation when its
// coordinator restarts in a loop or its queries fail at a high rate, puts
// it back after it has been stable, and tells a webhook (and the audit
// log, the API and metrics) of every action and of every routing group
// that has no healthy cluster left, whose queries then go to its fallback
// group. It is opt-in (autoRecovery.enabled).
//
// Every replica records the coordinator restarts its health checks see
// (OnRestart) and samples the coordinators' own query counters; one
// replica, the holder of the "autorecovery" lease, acts (Run). A cluster
// taken out is inactive in the shared fleet with the reason
// (fleet.AutoOut): every replica and the console see it, and an
// operator's state change takes precedence (auto-recovery never undoes
// one, and never puts back a cluster it did not take out).
package autorecovery

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// Clusters changes the fleet (lifecycle.Manager).
type Clusters interface {
	// TakeOut makes an active cluster inactive with the reason.
	TakeOut(ctx context.Context, name, reason string) error
	// Readmit makes a cluster TakeOut took out active again.
	Readmit(ctx context.Context, name string) error
}

// Options configure a Recoverer.
type Options struct {
	Config config.AutoRecovery
	// Fleet is the fleet in use, Status a coordinator's last health check
	// and Up whether a cluster takes new queries (routing's view).
	Fleet  func() *fleet.Fleet
	Status func(key string) (health.Status, bool)
	Up     func(*fleet.Cluster) bool
	// Clusters carries out the actions.
	Clusters Clusters
	// Audit records every action (nil: not recorded).
	Audit store.Audit
	// Notifier sends every action to the webhook (nil: none).
	Notifier *Notifier
	// Replica names this replica in the audit log.
	Replica string
	Metrics *Metrics
	Logger  *slog.Logger
	Now     func() time.Time
}

// Action is one thing auto-recovery did (or held back from doing).
type Action struct {
	Time time.Time `json:"time"`
	// Action is take_out, readmit, hold (a cluster would have been taken
	// out but is its group's last), fallback (a group has no cluster that
	// takes queries) or fallback_end.
	Action  string `json:"action"`
	Cluster string `json:"cluster,omitempty"`
	Group   string `json:"group,omitempty"`
	// Kind is the condition: restart_loop, error_rate, stable,
	// no_healthy_cluster.
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
	Error  string `json:"error,omitempty"`
}

// The actions.
const (
	ActTakeOut     = "take_out"
	ActReadmit     = "readmit"
	ActHold        = "hold"
	ActFallback    = "fallback"
	ActFallbackEnd = "fallback_end"
)

// Recoverer watches the fleet and acts.
type Recoverer struct {
	o Options

	mu       sync.Mutex
	restarts map[string][]time.Time // coordinator key -> restarts seen, in the window
	samples  map[string][]sample    // coordinator key -> query counters, in the window
	fallback map[string]bool        // group -> no cluster takes its queries (notified)
	held     map[string]string      // cluster -> the hold notified for this episode
	recent   []Action               // this replica's latest actions, newest last
}

type sample struct {
	at               time.Time
	finished, failed float64
}

// keepRecent bounds Recent.
const keepRecent = 100

// New returns a Recoverer.
func New(o Options) *Recoverer {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil, nil)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Recoverer{o: o, restarts: map[string][]time.Time{}, samples: map[string][]sample{},
		fallback: map[string]bool{}, held: map[string]string{}}
}

// OnRestart records a coordinator's restart (the health poller's hook;
// every replica records them, so that a new lease holder knows the
// history).
func (r *Recoverer) OnRestart(key string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.restarts[key] = append(r.restarts[key], r.o.Now())
}

// Run evaluates the fleet every interval until ctx ends (on the lease
// holder).
func (r *Recoverer) Run(ctx context.Context) {
	t := time.NewTicker(r.o.Config.Interval)
	defer t.Stop()
	for {
		r.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sample records the coordinators' query counters for the error rate
// (every replica, every interval: a new holder has the history).
func (r *Recoverer) Sample() {
	f := r.o.Fleet()
	if f == nil {
		return
	}
	now := r.o.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	window := r.o.Config.ErrorRate.Window
	for i := range f.Clusters {
		c := &f.Clusters[i]
		for j := range c.Coordinators {
			key := c.CoordinatorKey(j)
			st, ok := r.o.Status(key)
			if !ok || !st.Load.Known {
				continue
			}
			s := st.Load.Trino
			failed := s.InternalFailures + s.ExternalFailures + s.InsufficientResources
			list := r.samples[key]
			if n := len(list); n > 0 && (s.Completed < list[n-1].finished || failed < list[n-1].failed) {
				list = nil // the coordinator restarted: its counters did too
			}
			list = append(list, sample{at: now, finished: s.Completed, failed: failed})
			for len(list) > 1 && now.Sub(list[1].at) >= window {
				list = list[1:] // keep one sample at or before the window's start
			}
			r.samples[key] = list
		}
	}
}

// Tick evaluates the fleet once and acts.
func (r *Recoverer) Tick(ctx context.Context) {
	f := r.o.Fleet()
	if f == nil {
		return
	}
	r.Sample()
	now := r.o.Now()
	for i := range f.Clusters {
		c := &f.Clusters[i]
		switch {
		case c.State == fleet.Active:
			kind, reason := r.trigger(c, now)
			if kind == "" {
				r.mu.Lock()
				delete(r.held, c.Name)
				r.mu.Unlock()
				continue
			}
			if r.keepsGroupUp(f, c) {
				r.mu.Lock()
				already := r.held[c.Name] == kind
				r.held[c.Name] = kind
				r.mu.Unlock()
				if !already {
					r.act(ctx, Action{Action: ActHold, Cluster: c.Name, Group: c.Group, Kind: kind,
						Reason: reason + "; kept in rotation: it is the last cluster of group " + c.Group + " that takes queries"}, nil)
				}
				continue
			}
			err := r.o.Clusters.TakeOut(ctx, c.Name, reason)
			if err == nil {
				r.forget(c)
			}
			r.act(ctx, Action{Action: ActTakeOut, Cluster: c.Name, Group: c.Group, Kind: kind, Reason: reason}, err)
		case c.State == fleet.Inactive && c.Auto != nil:
			if reason, ok := r.stable(c, now); ok {
				err := r.o.Clusters.Readmit(ctx, c.Name)
				if err == nil {
					r.forget(c)
				}
				r.act(ctx, Action{Action: ActReadmit, Cluster: c.Name, Group: c.Group, Kind: "stable", Reason: reason}, err)
			}
		}
	}
	r.groups(ctx, f)
}

// trigger returns the condition a cluster meets, if any.
func (r *Recoverer) trigger(c *fleet.Cluster, now time.Time) (kind, reason string) {
	cfg := r.o.Config
	r.mu.Lock()
	defer r.mu.Unlock()
	for j, co := range c.Coordinators {
		key := c.CoordinatorKey(j)
		if rl := cfg.RestartLoop; rl.Restarts > 0 {
			in := within(r.restarts[key], now, rl.Window)
			r.restarts[key] = in
			if len(in) >= rl.Restarts {
				return "restart_loop", fmt.Sprintf("coordinator %s restarted %d times in %s (the limit is %d in %s)",
					co.Name, len(in), round(now.Sub(in[0])), rl.Restarts, rl.Window)
			}
		}
		if er := cfg.ErrorRate; er.Threshold > 0 {
			list := r.samples[key]
			if len(list) < 2 {
				continue
			}
			first, last := list[0], list[len(list)-1]
			finished, failed := last.finished-first.finished, last.failed-first.failed
			if finished >= float64(er.MinQueries) && failed/finished > er.Threshold {
				return "error_rate", fmt.Sprintf("%.0f of the %.0f queries coordinator %s finished in the last %s failed with internal, external or resource errors (the limit is %.0f%%)",
					failed, finished, co.Name, round(last.at.Sub(first.at)), er.Threshold*100)
			}
		}
	}
	return "", ""
}

// stable reports whether a cluster taken out may come back: out for
// stableFor, a healthy coordinator, no restart for stableFor.
func (r *Recoverer) stable(c *fleet.Cluster, now time.Time) (string, bool) {
	stableFor := r.o.Config.StableFor
	if now.Sub(c.Auto.Since) < stableFor {
		return "", false
	}
	healthy := false
	r.mu.Lock()
	defer r.mu.Unlock()
	for j := range c.Coordinators {
		key := c.CoordinatorKey(j)
		if st, ok := r.o.Status(key); ok && st.State == health.Healthy {
			healthy = true
		}
		if in := within(r.restarts[key], now, stableFor); len(in) > 0 {
			return "", false
		}
	}
	if !healthy {
		return "", false
	}
	return fmt.Sprintf("healthy without a restart for %s since it was taken out (%s)", stableFor, c.Auto.Reason), true
}

// keepsGroupUp reports whether c is the last cluster of its group that
// takes queries, with keepLastCluster on.
func (r *Recoverer) keepsGroupUp(f *fleet.Fleet, c *fleet.Cluster) bool {
	if k := r.o.Config.KeepLastCluster; k != nil && !*k {
		return false
	}
	for _, o := range f.ClustersIn(c.Group) {
		if o.Name != c.Name && o.State == fleet.Active && r.o.Up(o) {
			return false
		}
	}
	return true
}

// groups notices routing groups with no cluster that takes queries (their
// queries go to the fallback group, or fail without one) and their end.
func (r *Recoverer) groups(ctx context.Context, f *fleet.Fleet) {
	for _, g := range f.Groups {
		up := 0
		for _, c := range f.ClustersIn(g.Name) {
			if c.State == fleet.Active && r.o.Up(c) {
				up++
			}
		}
		r.mu.Lock()
		was := r.fallback[g.Name]
		r.fallback[g.Name] = up == 0
		r.mu.Unlock()
		switch {
		case up == 0 && !was:
			reason := "no cluster of group " + g.Name + " takes queries: they fail with NO_HEALTHY_CLUSTER (the group has no fallback)"
			if g.Fallback != "" {
				reason = "no cluster of group " + g.Name + " takes queries: they go to its fallback group " + g.Fallback
			}
			r.act(ctx, Action{Action: ActFallback, Group: g.Name, Kind: "no_healthy_cluster", Reason: reason}, nil)
		case up > 0 && was:
			r.act(ctx, Action{Action: ActFallbackEnd, Group: g.Name, Kind: "no_healthy_cluster",
				Reason: fmt.Sprintf("group %s has %d cluster(s) taking queries again", g.Name, up)}, nil)
		}
	}
}

// forget drops what the conditions remembered of a cluster's
// coordinators: an action used it.
func (r *Recoverer) forget(c *fleet.Cluster) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for j := range c.Coordinators {
		key := c.CoordinatorKey(j)
		delete(r.restarts, key)
		delete(r.samples, key)
	}
	delete(r.held, c.Name)
}

// act logs, counts, audits and notifies an action (err: it failed).
func (r *Recoverer) act(ctx context.Context, a Action, err error) {
	a.Time = r.o.Now().UTC()
	status := 200
	if err != nil {
		a.Error = err.Error()
		status = 409
		r.o.Logger.Warn("auto-recovery action failed", "action", a.Action, "cluster", a.Cluster, "reason", a.Reason, "error", err)
	} else {
		r.o.Logger.Warn("auto-recovery", "action", a.Action, "cluster", a.Cluster, "group", a.Group, "reason", a.Reason)
	}
	outcome := "done"
	if err != nil {
		outcome = "failed"
	}
	r.o.Metrics.Actions.WithLabelValues(a.Action, a.Kind, outcome).Inc()
	r.mu.Lock()
	r.recent = append(r.recent, a)
	if len(r.recent) > keepRecent {
		r.recent = r.recent[len(r.recent)-keepRecent:]
	}
	r.mu.Unlock()
	if r.o.Audit != nil {
		target := "/api/v1/clusters/" + a.Cluster
		if a.Cluster == "" {
			target = "/api/v1/groups/" + a.Group
		}
		e := store.AuditEntry{Time: a.Time, Who: "auto-recovery", Role: "system", Method: "AUTO", Path: target + "/" + a.Action,
			Status: status, Replica: r.o.Replica, Detail: a.Reason + errSuffix(a.Error)}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		if err := r.o.Audit.Record(actx, e, 10000); err != nil {
			r.o.Logger.Warn("auto-recovery: the audit log did not take the action", "error", err)
		}
		cancel()
	}
	if r.o.Notifier != nil && err == nil {
		r.o.Notifier.Send(a)
	}
}

// Recent returns this replica's latest actions, newest first.
func (r *Recoverer) Recent() []Action {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Action, len(r.recent))
	for i, a := range r.recent {
		out[len(r.recent)-1-i] = a
	}
	return out
}

// Out lists the clusters auto-recovery holds out, by name.
func Out(f *fleet.Fleet) []fleet.Cluster {
	var out []fleet.Cluster
	if f == nil {
		return nil
	}
	for _, c := range f.Clusters {
		if c.Auto != nil && c.State == fleet.Inactive {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func within(ts []time.Time, now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) > window {
		i++
	}
	return ts[i:]
}

func round(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(time.Minute)
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " (failed: " + e + ")"
}
