// Package watchdog protects clusters from queries that turn bad while they
// run. Every Interval it lists each cluster's running queries
// (GET /v1/query?state=RUNNING), reads the stage and task statistics
// (GET /v1/query/{id}) of those running longer than DetailAfter, and
// evaluates the policy's watchdog rules (data.switchyard.watchdog) over
// each query's statistics (pkg/querystats): elapsed and CPU time, memory,
// bytes read, output-to-input explosion, progress, blocked reasons and
// skew. The rules' actions are: kill the query with a message the client
// prints, throttle its user (a lower running limit in workload governance
// for a while), quarantine its fingerprint (query protection refuses it
// until then), or warn (log, metric, action log). Each action has a
// reason, an expiry where it applies, and is recorded where operators look
// (the action log, the query's history, metrics). In report-only mode the
// rules run and their actions are recorded, not taken.
//
// One replica of the fleet runs the watchdog (a lease), and each action on
// a query is claimed in the shared store before it is taken: two replicas
// never both kill or both throttle for the same query, even while the
// lease changes hands.
package watchdog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/protection"
	"github.com/switchyard-gw/switchyard/pkg/querystats"
	"github.com/switchyard-gw/switchyard/pkg/sqlclass"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// Coordinators is what the watchdog asks coordinators (coordinator.Client).
type Coordinators interface {
	Queries(ctx context.Context, baseURL, state string) ([]coordinator.QuerySummary, error)
	Query(ctx context.Context, baseURL, queryID string) (*coordinator.QueryDetail, error)
	Kill(ctx context.Context, baseURL, queryID, reason string) error
}

// Defaults.
const (
	DefaultInterval    = 5 * time.Second
	DefaultDetailAfter = 10 * time.Second
	DefaultMaxDetails  = 20
	// claimTTL is how long a claimed action stays claimed: longer than
	// any query the watchdog could act on twice.
	claimTTL = 24 * time.Hour
)

// Options configure a Watchdog.
type Options struct {
	Fleet func() *fleet.Fleet
	// Healthy reports whether a coordinator (fleet.Key) answers; only
	// those are polled.
	Healthy func(key string) bool
	Client  Coordinators
	// Policy is the policy in use (nil, or one without
	// data.switchyard.watchdog.decision: nothing is evaluated).
	Policy func() *policy.Compiled
	// Guard records actions and incidents; Store claims actions and
	// keeps throttles.
	Guard *protection.Guard
	Store store.Protection
	// Interval between polls (default 5s); DetailAfter: queries running
	// longer get their detail read (default 10s); MaxDetails bounds the
	// detail reads per coordinator and poll, longest running first
	// (default 20).
	Interval    time.Duration
	DetailAfter time.Duration
	MaxDetails  int
	// ReportOnly records what the rules would do and does none of it.
	ReportOnly bool
	// Holder names this replica in claims.
	Holder  string
	Logger  *slog.Logger
	Metrics *Metrics
	Now     func() time.Time
}

// Watchdog polls the fleet's running queries. Safe for concurrent use.
type Watchdog struct {
	o Options
}

// New returns a watchdog.
func New(o Options) *Watchdog {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.DetailAfter < 0 {
		o.DetailAfter = DefaultDetailAfter
	}
	if o.MaxDetails <= 0 {
		o.MaxDetails = DefaultMaxDetails
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Healthy == nil {
		o.Healthy = func(string) bool { return true }
	}
	if o.Guard == nil {
		o.Guard = protection.New(protection.Options{Store: o.Store, Logger: o.Logger})
	}
	return &Watchdog{o: o}
}

// Run polls every Interval until ctx ends (run it while holding the
// watchdog's lease).
func (w *Watchdog) Run(ctx context.Context) {
	t := time.NewTicker(w.o.Interval)
	defer t.Stop()
	for {
		w.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Report is what one poll saw and did.
type Report struct {
	Queries   int // running queries seen
	Detailed  int // detail documents read
	Evaluated int
	Actions   []store.Action
	Errors    []string
}

// Tick polls every healthy coordinator once (in parallel) and acts on
// what the rules decide. Nothing happens without watchdog rules.
func (w *Watchdog) Tick(ctx context.Context) Report {
	var rep Report
	pol := w.o.Policy()
	if pol == nil || !pol.HasWatchdog() {
		return rep
	}
	start := time.Now()
	defer func() { w.o.Metrics.PollSeconds.Observe(time.Since(start).Seconds()) }()
	ctx, cancel := context.WithTimeout(ctx, w.o.Interval*4)
	defer cancel()
	f := w.o.Fleet()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range f.Clusters {
		c := &f.Clusters[i]
		for j, co := range c.Coordinators {
			if !w.o.Healthy(c.CoordinatorKey(j)) {
				continue
			}
			wg.Add(1)
			go func(cluster, group, base string) {
				defer wg.Done()
				r := w.coordinator(ctx, pol, cluster, group, base)
				mu.Lock()
				defer mu.Unlock()
				rep.Queries += r.Queries
				rep.Detailed += r.Detailed
				rep.Evaluated += r.Evaluated
				rep.Actions = append(rep.Actions, r.Actions...)
				rep.Errors = append(rep.Errors, r.Errors...)
			}(c.Name, c.Group, co.URL)
		}
	}
	wg.Wait()
	w.o.Metrics.Running.Set(float64(rep.Queries))
	return rep
}

// coordinator polls one coordinator.
func (w *Watchdog) coordinator(ctx context.Context, pol *policy.Compiled, cluster, group, base string) Report {
	var rep Report
	qs, err := w.o.Client.Queries(ctx, base, "RUNNING")
	if err != nil {
		w.o.Metrics.Errors.WithLabelValues("list").Inc()
		rep.Errors = append(rep.Errors, fmt.Sprintf("%s: listing running queries: %v", cluster, err))
		return rep
	}
	rep.Queries = len(qs)
	// The longest running first: they get the detail reads.
	slices.SortFunc(qs, func(a, b coordinator.QuerySummary) int {
		return int(b.Stats.Elapsed.Std() - a.Stats.Elapsed.Std())
	})
	details := 0
	for _, q := range qs {
		if q.State != "RUNNING" {
			continue
		}
		st := querystats.FromSummary(q)
		if details < w.o.MaxDetails && q.Stats.Elapsed.Std() >= w.o.DetailAfter {
			details++
			d, err := w.o.Client.Query(ctx, base, q.QueryID)
			switch {
			case errors.Is(err, coordinator.ErrQueryGone):
				continue
			case err != nil:
				w.o.Metrics.Errors.WithLabelValues("detail").Inc()
				rep.Errors = append(rep.Errors, fmt.Sprintf("%s: reading query %s: %v", cluster, q.QueryID, err))
			default:
				rep.Detailed++
				st = querystats.FromDetail(d)
			}
		}
		dec, err := w.evaluate(ctx, pol, cluster, group, st)
		rep.Evaluated++
		if err != nil {
			w.o.Metrics.Errors.WithLabelValues("policy").Inc()
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: evaluating query %s: %v", cluster, q.QueryID, err))
			continue
		}
		for _, a := range dec.Actions {
			if done, ok := w.act(ctx, cluster, base, st, a, w.o.ReportOnly || dec.ReportOnly); ok {
				rep.Actions = append(rep.Actions, done)
			}
		}
	}
	w.o.Metrics.Evaluated.Add(float64(rep.Evaluated))
	return rep
}

// Input is the watchdog policy's input for one running query.
func Input(cluster, group string, st querystats.Stats, now time.Time) (map[string]any, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	var q map[string]any
	if err := json.Unmarshal(b, &q); err != nil {
		return nil, err
	}
	now = now.UTC()
	return map[string]any{
		"query":       q,
		"cluster":     cluster,
		"group":       group,
		"fingerprint": sqlclass.Fingerprint(st.Query),
		"time":        map[string]any{"unix": now.Unix(), "rfc3339": now.Format(time.RFC3339)},
	}, nil
}

func (w *Watchdog) evaluate(ctx context.Context, pol *policy.Compiled, cluster, group string, st querystats.Stats) (*policy.WatchdogDecision, error) {
	in, err := Input(cluster, group, st, w.o.Now())
	if err != nil {
		return nil, err
	}
	d, err := pol.Watch(ctx, in)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return &policy.WatchdogDecision{}, nil
	}
	return d, nil
}

// act takes one action on a query once: it is claimed first, so no other
// replica (and no later poll) takes it again. It returns the action as
// recorded, and false when it was taken before.
func (w *Watchdog) act(ctx context.Context, cluster, base string, st querystats.Stats, a policy.WatchdogAction, reportOnly bool) (store.Action, bool) {
	fp := sqlclass.Fingerprint(st.Query)
	now := w.o.Now()
	rec := store.Action{Time: now, QueryID: st.QueryID, Fingerprint: fp, User: st.User, Cluster: cluster,
		Action: a.Action, Rule: a.Rule, Reason: a.Reason, ReportOnly: reportOnly}
	if a.For > 0 && (a.Action == policy.ActionThrottle || a.Action == policy.ActionQuarantine) {
		rec.Until = now.Add(a.For)
	}
	key := "watchdog|" + st.QueryID + "|" + a.Action + "|" + a.Rule
	if reportOnly {
		key += "|report"
	}
	if w.o.Store != nil {
		ok, err := w.o.Store.Claim(ctx, key, w.o.Holder, claimTTL)
		if err != nil {
			w.o.Metrics.Errors.WithLabelValues("claim").Inc()
			w.o.Logger.Warn("watchdog: cannot claim an action; not taking it", "query", st.QueryID, "action", a.Action, "error", err)
			return rec, false
		}
		if !ok {
			return rec, false
		}
	}
	if !reportOnly {
		if err := w.take(ctx, base, st, fp, cluster, a, rec); err != nil {
			w.o.Metrics.Errors.WithLabelValues(a.Action).Inc()
			w.o.Logger.Warn("watchdog: action failed", "query", st.QueryID, "cluster", cluster, "action", a.Action, "error", err)
			rec.Reason += " (failed: " + err.Error() + ")"
		}
	}
	w.o.Guard.Record(rec)
	return rec, true
}

// take does the action.
func (w *Watchdog) take(ctx context.Context, base string, st querystats.Stats, fp, cluster string, a policy.WatchdogAction, rec store.Action) error {
	switch a.Action {
	case policy.ActionKill:
		msg := "Switchyard watchdog: " + a.Reason
		if err := w.o.Client.Kill(ctx, base, st.QueryID, msg); err != nil && !errors.Is(err, coordinator.ErrQueryDone) {
			return err
		}
		w.o.Guard.RecordIncident(store.Incident{Fingerprint: fp, QueryID: st.QueryID, User: st.User, Cluster: cluster,
			Kind: store.IncidentKilled, Reason: "killed by the watchdog: " + a.Reason, Time: rec.Time})
	case policy.ActionThrottle:
		if w.o.Store == nil {
			return errors.New("no store to keep the throttle in")
		}
		return w.o.Store.SetThrottle(ctx, store.Throttle{User: st.User, MaxRunning: a.MaxRunning, Reason: a.Reason, Until: rec.Until, Set: rec.Time})
	case policy.ActionQuarantine:
		w.o.Guard.RecordIncident(store.Incident{Fingerprint: fp, QueryID: st.QueryID, User: st.User, Cluster: cluster,
			Kind: store.IncidentQuarantine, Reason: a.Reason, Time: rec.Time, Until: rec.Until})
	case policy.ActionWarn:
	}
	return nil
}

// Evaluate is the watchdog's decision about one query's statistics,
// without acting: the admin API's dry run.
func Evaluate(ctx context.Context, pol *policy.Compiled, cluster, group string, st querystats.Stats, now time.Time) (*policy.WatchdogDecision, error) {
	if pol == nil || !pol.HasWatchdog() {
		return nil, errors.New("the policy in use has no watchdog rules (data.switchyard.watchdog.decision)")
	}
	in, err := Input(cluster, group, st, now)
	if err != nil {
		return nil, err
	}
	return pol.Watch(ctx, in)
}
