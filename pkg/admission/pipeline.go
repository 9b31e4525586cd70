// Package admission decides what happens to client requests, knowing
// nothing of Envoy: a Request in (method, path, Trino headers, SQL), an
// Outcome out (route it, reject it with a Trino error, or answer it).
//
// A query submission runs through an ordered list of small stages, each
// free to end the decision: classify the SQL, ask the external routing
// service, estimate the cost, evaluate the routing policy, pin statements
// of an open transaction and client sessions, apply workload governance
// (a running slot, the queue, or a refusal), and route within the chosen
// group. Query protection joins as a further stage. A request about a known query
// goes to the coordinator that owns it (Locate), anything else to a
// healthy cluster of the default group (Anywhere). The ext_proc service
// adapts Envoy's messages to these calls; the dry run calls them directly.
package admission

import (
	"context"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/cost"
	"github.com/switchyard-gw/switchyard/pkg/degraded"
	"github.com/switchyard-gw/switchyard/pkg/extrouter"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/protection"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/sessions"
	"github.com/switchyard-gw/switchyard/pkg/sqlclass"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/webui"
	"github.com/switchyard-gw/switchyard/pkg/workload"
)

// Options configure a Pipeline.
type Options struct {
	Router *routing.Router
	// Health feeds the fleet view the policy sees (load per cluster).
	Health routing.HealthView
	// Queries is where query and transaction owners are recorded.
	Queries  store.Queries
	QueryTTL time.Duration
	// StoreTimeout bounds each store call on the request path.
	StoreTimeout time.Duration
	// TransactionWait bounds the lookup of a statement's transaction,
	// waiting for it to be recorded and store calls included (default
	// 1s; keep it under Envoy's ext_proc message timeout).
	TransactionWait time.Duration
	// OwnerWait bounds how long a request about a query created moments
	// ago waits for the query's owner record, which is written while the
	// client reads the coordinator's first answer (default 500ms; keep it
	// under Envoy's ext_proc message timeout).
	OwnerWait time.Duration
	// FindTransaction asks the coordinators for a transaction whose
	// record is missing or cannot be read (nil: nobody is asked).
	FindTransaction func(ctx context.Context, txn string) (store.QueryRoute, error)
	// Policy decides submissions (nil, or no policy loaded: the routing
	// group header or the default group).
	Policy *policy.Engine
	// Decisions keeps recent decisions for the admin API (nil: none).
	Decisions *policy.DecisionLog
	// ExtRouter is the external routing service (nil: none); with
	// ExtRouterFailClosed a failed call refuses the query.
	ExtRouter           extrouter.Client
	ExtRouterFailClosed bool
	// Replays keeps read-only submissions for transparent resubmission
	// (nil, or ReplayMaxBytes 0: nothing is kept).
	Replays        store.Replays
	ReplayMaxBytes int
	// Sessions keeps client sessions on their clusters (nil: no session
	// affinity).
	Sessions *sessions.Tracker
	// WebUI keeps web UI sessions across the fleet (nil: UI requests are
	// routed like any other).
	WebUI *webui.Service
	// Cost estimates queries for the policy (nil: no estimates).
	Cost *cost.Estimator
	// Governor applies workload governance with the policy's classes
	// (nil, or a policy without data.switchyard.governance: none).
	Governor *workload.Governor
	// Protection gathers query protection's input (table metadata,
	// incidents of the query's fingerprint) and records its actions (nil:
	// the policy's own table data only, no memory).
	Protection *protection.Guard
	Logger     *slog.Logger
	Metrics    *Metrics
	// Degraded logs the degraded decisions (store lookups that failed, the
	// external routing service down) once per interval, not per request
	// (default: one on Logger).
	Degraded *degraded.Reporter
}

// Pipeline decides requests. It is safe for concurrent use.
type Pipeline struct {
	o      Options
	stages []Stage
	// timers observe each stage's time (Metrics.Stages, by stage).
	timers []prometheus.Observer
	fleet  fleetView
	// background counts store writes still running after a call returned.
	background sync.WaitGroup
	// entries wait for the answers of routed submissions (FollowUp).
	entries pendingEntries
	// followUps bounds the follow-ups running in the background
	// (ObservedLater): a token per running one.
	followUps chan struct{}
}

// New returns the pipeline with the standard stages.
func New(o Options) *Pipeline {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Degraded == nil {
		o.Degraded = degraded.New(degraded.Options{Logger: o.Logger})
	}
	if o.TransactionWait <= 0 {
		o.TransactionWait = time.Second
	}
	if o.OwnerWait <= 0 {
		o.OwnerWait = 500 * time.Millisecond
	}
	p := &Pipeline{o: o, followUps: make(chan struct{}, maxFollowUps)}
	p.fleet = fleetView{router: o.Router, health: o.Health}
	p.stages = []Stage{
		classify{p},
		externalRouter{p},
		costEstimate{p},
		findings{p},
		sessionLookup{p},
		routingPolicy{p},
		protect{p},
		transaction{p},
		affinity{p},
		governanceStage{p},
		balance{p},
	}
	for _, st := range p.stages {
		p.timers = append(p.timers, o.Metrics.Stages.WithLabelValues(st.Name()))
	}
	return p
}

// Stage is one step of a submission's decision. Admit either hands the
// submission to the next stage (done false) or ends the decision with its
// outcome.
type Stage interface {
	Name() string
	Admit(ctx context.Context, s *Submission) (o Outcome, done bool)
}

// Submission is a query submission on its way through the stages: what
// the request says, and what each stage found. The caller makes it with
// the request (Submission{Req: req}) and keeps it for Submitted.
type Submission struct {
	Req *Request
	// Class is the SQL classification (when a stage needs it).
	Class sqlclass.Result
	// External is the external routing service's answer, if asked.
	External *policy.ExternalInfo
	// Cost is the EXPLAIN estimate, if one was made.
	Cost cost.Estimate
	// Route is what routing will be asked for.
	Route routing.Request
	// Headers are set on the upstream request (external router, policy).
	Headers map[string]string
	// Session is the statement's client session (with session affinity).
	Session *ClientSession
	// Transaction: a statement of an open transaction, pinned to its
	// cluster (Route.Cluster) and, while it is in the fleet, its
	// coordinator (Coordinator).
	Transaction bool
	Coordinator string
	// Workload is what workload governance did (nil: not governed).
	Workload *Workload
	// Decision is where the query went (set when routed).
	Decision routing.Decision
	// Entry is the submission's decision log entry.
	Entry *policy.LogEntry
	// Dry: decide only; record, count and log nothing.
	Dry bool

	// Findings are what query protection found out about the statement
	// (set by the findings stage).
	Findings Findings

	// policy is the routing policy deciding this submission, read once
	// (a policy swapped in mid-decision applies to the next submission).
	policy *policy.Compiled
	// input is the policy input, built once for the routing and the
	// protection policy.
	input *policy.Input
	// protection is the protection decision, evaluated with the routing
	// decision (nil: the routing stage did not evaluate it).
	protection *policy.Submission
	sql        string // Req.Body as text, made on first use
	// workloadClass is the class the policy chose ("": the default).
	workloadClass string
}

// SQL is the submission's SQL text.
func (s *Submission) SQL() string {
	if s.sql == "" && len(s.Req.Body) > 0 {
		s.sql = string(s.Req.Body)
	}
	return s.sql
}

// Submit decides the query submission s (made with its request). s goes
// to Submitted once the coordinator has answered.
func (p *Pipeline) Submit(ctx context.Context, s *Submission) Outcome {
	start := time.Now()
	req := s.Req
	s.Route = routing.Request{Group: req.Session.RoutingGroup, User: req.Session.User, GroupFrom: "X-Trino-Routing-Group"}
	s.Entry = &policy.LogEntry{ID: req.ID(), Time: start.UTC(), User: req.Session.User, Principal: req.Principal, Source: req.Session.Source, Allow: true}
	if p.o.Policy != nil {
		s.policy = p.o.Policy.Current()
	}
	var out Outcome
	t0 := start
	for i, st := range p.stages {
		o, done := st.Admit(ctx, s)
		if !s.Dry {
			t1 := time.Now()
			p.timers[i].Observe(t1.Sub(t0).Seconds())
			t0 = t1
		}
		if done {
			out = o
			break
		}
	}
	if out.Action == Reject {
		p.rejected(s, out.Error)
		p.releaseSlot(ctx, s) // a stage after governance refused it
	}
	if !s.Dry {
		p.count(s, out)
	}
	p.record(s, start)
	return out
}

// count adds the decision to the decision metrics. Its labels are bounded
// by the configuration: a group the client asked for that the fleet does
// not have counts as "", a class only when governance knew it.
func (p *Pipeline) count(s *Submission, out Outcome) {
	group := s.Decision.Group
	if group == "" {
		if f := p.o.Router.Fleet(); f != nil {
			if _, ok := f.Group(s.Route.Group); ok {
				group = s.Route.Group
			}
		}
	}
	class := ""
	if s.Workload != nil {
		class = s.Workload.Class
	}
	outcome := "routed"
	switch out.Action {
	case Reject:
		outcome = "rejected"
		p.o.Metrics.Rejections.WithLabelValues(group, out.Error.Code.Name).Inc()
	case Respond:
		outcome = "queued"
	}
	p.o.Metrics.Decisions.WithLabelValues(group, class, outcome).Inc()
}

// rejected notes a refusal in the decision log entry and the log.
func (p *Pipeline) rejected(s *Submission, rj *Rejection) {
	s.Entry.Error = rj.Code.Name + ": " + rj.Message
	if !s.Dry {
		p.log(s.Req).Info("request rejected", "error", rj.Code.Name, "message", rj.Message, "user", s.Req.Session.User)
	}
}

// record adds the decision to the decision log and logs it.
func (p *Pipeline) record(s *Submission, start time.Time) {
	e := s.Entry
	e.Micros = time.Since(start).Microseconds()
	if s.Dry {
		return
	}
	if l := p.o.Decisions; l != nil {
		l.Add(e)
	}
	args := []any{"decision", e.ID, "user", e.User, "source", e.Source, "type", e.Type, "allow", e.Allow,
		"group", e.Group, "cluster", e.Cluster, "micros", e.Micros}
	if e.Principal != "" && e.Principal != e.User {
		args = append(args, "principal", e.Principal)
	}
	if e.Reason != "" {
		args = append(args, "reason", e.Reason)
	}
	if len(e.Explanation) > 0 {
		args = append(args, "explanation", strings.Join(e.Explanation, "; "))
	}
	if e.Error != "" {
		args = append(args, "error", e.Error)
	}
	p.o.Logger.Info("routing decision", args...)
}

func (p *Pipeline) log(r *Request) *slog.Logger {
	return p.o.Logger.With("request", r.ID(), "method", r.Method, "path", r.Path)
}

func (p *Pipeline) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, p.o.StoreTimeout)
}
