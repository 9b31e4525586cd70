// Package protection is query protection's memory and bookkeeping around
// the admission pipeline and the watchdog: what the policy input says
// about the tables a query reads (from table metadata sources), what
// happened before to queries of the same shape (incidents recorded by
// fingerprint from Trino's completed events and from watchdog kills), and
// the log of every protection action (for the admin API, the query
// history and metrics).
//
// The rules are policy (data.switchyard.protection for submissions,
// data.switchyard.watchdog for running queries): this package gathers
// their input and records what they did. Nothing here blocks a
// submission beyond its timeouts: a metadata source or the shared store
// that fails is skipped, reported once per interval, and the query is
// decided without what it would have said.
package protection

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/degraded"
	"github.com/switchyard-gw/switchyard/pkg/events"
	"github.com/switchyard-gw/switchyard/pkg/metadata"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/sqlclass"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// Defaults.
const (
	DefaultIncidentTTL  = 24 * time.Hour
	DefaultIncidentKeep = 10
	DefaultActionsKeep  = 10000
	DefaultStoreTimeout = 200 * time.Millisecond
)

// DefaultIncidentErrors are the Trino errors that make a failed query an
// incident: it exceeded a memory, time, CPU or scan limit, or the cluster
// ran out of memory.
var DefaultIncidentErrors = []string{"EXCEEDED_LOCAL_MEMORY_LIMIT", "EXCEEDED_GLOBAL_MEMORY_LIMIT", "EXCEEDED_SPILL_LIMIT",
	"CLUSTER_OUT_OF_MEMORY", "EXCEEDED_TIME_LIMIT", "EXCEEDED_CPU_LIMIT", "EXCEEDED_SCAN_LIMIT"}

// Options configure a Guard.
type Options struct {
	// Catalog answers table metadata (nil: the policy's own
	// data.switchyard.tables only, as the policy has them).
	Catalog *metadata.Catalog
	// Store keeps incidents and the action log (nil: no memory; actions
	// are only logged and counted).
	Store store.Protection
	// StoreTimeout bounds each store call (default 200ms).
	StoreTimeout time.Duration
	// IncidentTTL is how long an incident is remembered (default 24h);
	// IncidentKeep how many per fingerprint (default 10).
	IncidentTTL  time.Duration
	IncidentKeep int
	// IncidentErrors are the error names that record an incident
	// (default DefaultIncidentErrors).
	IncidentErrors []string
	// ActionsKeep bounds the action log (default 10000).
	ActionsKeep int
	Logger      *slog.Logger
	Degraded    *degraded.Reporter
	Metrics     *Metrics
}

// Guard gathers the protection input of submissions and records incidents
// and actions. It is safe for concurrent use.
type Guard struct {
	o          Options
	errors     map[string]bool
	background sync.WaitGroup
	rules      ruleLabels
}

// ruleLabels bounds the rule names used as metric labels: the policy names
// its rules, so a policy that makes names up (a table or a user in one)
// must not grow the metrics without end. The first maxRuleLabels names of
// at most 64 bytes keep theirs; the others count as "other".
type ruleLabels struct {
	mu   sync.Mutex
	seen map[string]bool
}

const maxRuleLabels = 64

func (r *ruleLabels) label(rule string) string {
	if len(rule) > 64 {
		return "other"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[rule] {
		return rule
	}
	if len(r.seen) >= maxRuleLabels {
		return "other"
	}
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	r.seen[rule] = true
	return rule
}

// New returns a Guard.
func New(o Options) *Guard {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Degraded == nil {
		o.Degraded = degraded.New(degraded.Options{Logger: o.Logger})
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = DefaultStoreTimeout
	}
	if o.IncidentTTL <= 0 {
		o.IncidentTTL = DefaultIncidentTTL
	}
	if o.IncidentKeep <= 0 {
		o.IncidentKeep = DefaultIncidentKeep
	}
	if o.ActionsKeep <= 0 {
		o.ActionsKeep = DefaultActionsKeep
	}
	if o.IncidentErrors == nil {
		o.IncidentErrors = DefaultIncidentErrors
	}
	g := &Guard{o: o, errors: map[string]bool{}}
	for _, e := range o.IncidentErrors {
		g.errors[e] = true
	}
	return g
}

// TableInfo is input.query.tableInfo: for each table, the policy data's
// own entry (as written: size, tags, owner, ...) overlaid with what the
// metadata catalog knows (rows, bytes, sizeClass, tags, owner, sources).
// Tables nothing is known about are absent.
func (g *Guard) TableInfo(ctx context.Context, tables []string, policyTables map[string]any) map[string]any {
	out := make(map[string]any, len(tables))
	for _, t := range tables {
		if m, ok := policyTables[t].(map[string]any); ok {
			cp := make(map[string]any, len(m)+4)
			for k, v := range m {
				cp[k] = v
			}
			out[t] = cp
		}
	}
	if g.o.Catalog == nil || len(tables) == 0 {
		return out
	}
	for name, info := range g.o.Catalog.Lookup(ctx, tables) {
		m, _ := out[name].(map[string]any)
		if m == nil {
			m = map[string]any{}
			out[name] = m
		}
		for k, v := range info.Map() {
			m[k] = v
		}
	}
	return out
}

// Incidents are what happened before to queries of the fingerprint,
// newest first. A store that fails is reported and answers nothing.
func (g *Guard) Incidents(ctx context.Context, fingerprint string) []policy.Incident {
	if g.o.Store == nil || fingerprint == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, g.o.StoreTimeout)
	defer cancel()
	ins, err := g.o.Store.Incidents(ctx, fingerprint)
	if err != nil {
		g.o.Metrics.StoreErrors.WithLabelValues("incidents").Inc()
		g.o.Degraded.Fail("protection-incidents", "query protection cannot read incidents; submissions are decided without them", "error", err)
		return nil
	}
	g.o.Degraded.Recover("protection-incidents", "query protection reads incidents again")
	out := make([]policy.Incident, len(ins))
	for i, in := range ins {
		out[i] = policy.Incident{Kind: in.Kind, Reason: in.Reason, ErrorName: in.ErrorName, QueryID: in.QueryID,
			User: in.User, Cluster: in.Cluster, Time: in.Time, Until: in.Until}
	}
	return out
}

// Record logs, counts and (in the background) stores an action.
func (g *Guard) Record(a store.Action) {
	mode := "enforced"
	if a.ReportOnly {
		mode = "report_only"
	}
	g.o.Metrics.Actions.WithLabelValues(a.Action, mode, g.rules.label(a.Rule), a.Cluster).Inc()
	args := []any{"action", a.Action, "rule", a.Rule, "reason", a.Reason, "user", a.User}
	for _, kv := range [][2]string{{"query", a.QueryID}, {"cluster", a.Cluster}, {"fingerprint", a.Fingerprint}} {
		if kv[1] != "" {
			args = append(args, kv[0], kv[1])
		}
	}
	if a.ReportOnly {
		args = append(args, "report_only", true)
	}
	if !a.Until.IsZero() {
		args = append(args, "until", a.Until.UTC().Format(time.RFC3339))
	}
	g.o.Logger.Info("protection action", args...)
	if g.o.Store == nil {
		return
	}
	if a.Time.IsZero() {
		a.Time = time.Now()
	}
	g.async("add-action", func(ctx context.Context) error { return g.o.Store.AddAction(ctx, a, g.o.ActionsKeep) })
}

// RecordIncident remembers an incident (in the background).
func (g *Guard) RecordIncident(in store.Incident) {
	g.o.Metrics.Incidents.WithLabelValues(in.Kind).Inc()
	if g.o.Store == nil || in.Fingerprint == "" {
		return
	}
	g.async("record-incident", func(ctx context.Context) error {
		return g.o.Store.RecordIncident(ctx, in, g.o.IncidentTTL, g.o.IncidentKeep)
	})
}

// async runs a store write in the background, bounded by the store
// timeout; Wait waits for the writes still running.
func (g *Guard) async(op string, f func(context.Context) error) {
	g.background.Add(1)
	go func() {
		defer g.background.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 2*g.o.StoreTimeout)
		defer cancel()
		if err := f(ctx); err != nil {
			g.o.Metrics.StoreErrors.WithLabelValues(op).Inc()
			g.o.Degraded.Fail("protection-"+op, "query protection cannot write to the shared store", "error", err)
		}
	}()
}

// Wait waits for the background writes.
func (g *Guard) Wait() { g.background.Wait() }

// IsIncident reports whether a failure with this error name is one.
func (g *Guard) IsIncident(errorName string) bool { return g.errors[errorName] }

// Sink records an incident for every completed query that failed with one
// of the incident errors, then hands the event to next.
func (g *Guard) Sink(next events.Sink) events.Sink {
	return events.SinkFunc(func(ctx context.Context, cluster string, e *events.Event) error {
		if e.Kind == events.Completed && g.IsIncident(e.ErrorName) && e.Query != "" {
			reason := e.ErrorName
			if msg := strings.TrimSpace(e.FailureMessage); msg != "" {
				reason += ": " + clip(msg, 500)
			}
			g.RecordIncident(store.Incident{Fingerprint: sqlclass.Fingerprint(e.Query), QueryID: e.QueryID, User: e.User,
				Cluster: cluster, Kind: store.IncidentFailure, Reason: reason, ErrorName: e.ErrorName, Time: eventTime(e)})
		}
		if next != nil {
			return next.Ingest(ctx, cluster, e)
		}
		return nil
	})
}

func eventTime(e *events.Event) time.Time {
	if !e.EndTime.IsZero() {
		return e.EndTime
	}
	return time.Now()
}

// clip cuts s to at most n bytes on a UTF-8 boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// Findings summarises a classification's protection findings for the
// decision log: the cross joins (with their inputs) and the full scans.
func Findings(r *sqlclass.Result) []string {
	var out []string
	for _, b := range r.Blocks {
		if b.CrossJoin {
			inputs := make([]string, len(b.Inputs))
			for i, in := range b.Inputs {
				inputs[i] = strings.Join(in, "+")
			}
			out = append(out, "cross join of "+strings.Join(inputs, " × "))
		}
	}
	if len(r.FullScans) > 0 {
		out = append(out, "full scan of "+strings.Join(r.FullScans, ", "))
	}
	return slices.Compact(out)
}
