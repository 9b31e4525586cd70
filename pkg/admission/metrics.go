package admission

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the admission pipeline.
type Metrics struct {
	Routed     *prometheus.CounterVec // submissions by group and cluster
	StoreError *prometheus.CounterVec // failed store calls on the request path, by operation
	// ExtRouterErrors counts failed calls to the external routing service.
	ExtRouterErrors prometheus.Counter
	// Sessions counts statements of client sessions by what affinity did.
	Sessions *prometheus.CounterVec
	// Decisions counts decided submissions by group, workload class and
	// outcome; Rejections the refused ones by group and Trino error name.
	Decisions  *prometheus.CounterVec
	Rejections *prometheus.CounterVec
	// Stages times each stage of the pipeline.
	Stages *prometheus.HistogramVec
	// OwnerWaits counts requests about a query created moments ago that
	// waited for its owner record, by outcome (found, timeout);
	// OwnerWaitSeconds is how long the found ones waited.
	OwnerWaits       *prometheus.CounterVec
	OwnerWaitSeconds prometheus.Histogram
	// Answers counts routed submissions' follow-ups by outcome.
	Answers *prometheus.CounterVec
	// FollowUps is how many follow-ups run in the background now
	// (ObservedLater; at most maxFollowUps).
	FollowUps prometheus.Gauge
}

// stageBuckets span a cached decision (microseconds) to a cost estimate
// or an external router at its timeout (seconds).
var stageBuckets = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// NewMetrics registers the metrics on reg (nil: unregistered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Routed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_queries_routed_total",
			Help: "Query submissions routed, by routing group and cluster.",
		}, []string{"group", "cluster"}),
		StoreError: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_store_errors_total",
			Help: "Failed shared-store calls on the request path, by operation.",
		}, []string{"op"}),
		ExtRouterErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_external_router_errors_total",
			Help: "Failed or timed-out calls to the external routing service.",
		}),
		Sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_client_sessions_total",
			Help: "Statements of client sessions in groups with session affinity, by outcome: pinned (a new session's first statement), kept (on its cluster), moved (its cluster was no longer usable), restarted (its record had idled out or was lost).",
		}, []string{"outcome"}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_admission_decisions_total",
			Help: "Query submissions decided, by routing group (\"\" when none was known), workload class (\"\" when ungoverned) and outcome: routed, queued (held in the gateway's queue), rejected.",
		}, []string{"group", "class", "outcome"}),
		Rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_admission_rejections_total",
			Help: "Query submissions refused, by routing group and the Trino error name the client read (QUERY_REFUSED_BY_POLICY, QUOTA_EXCEEDED, NO_HEALTHY_CLUSTER, ...).",
		}, []string{"group", "reason"}),
		Stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchyard_admission_stage_seconds",
			Help:    "Time each admission stage took for a submission (classify, external-router, cost, findings, session, policy, protection, transaction, affinity, governance, balance); policy and protection are the Rego evaluations.",
			Buckets: stageBuckets,
		}, []string{"stage"}),
		OwnerWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_owner_waits_total",
			Help: "Requests without the gateway prefix about a query created moments ago whose owner record was not written yet, by outcome: found (it appeared within the wait), timeout.",
		}, []string{"outcome"}),
		OwnerWaitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "switchyard_owner_wait_seconds",
			Help:    "How long a request about a query created moments ago waited for its owner record to appear.",
			Buckets: stageBuckets,
		}),
		Answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_submission_answers_total",
			Help: "Routed submissions whose coordinator's answer the answer observer saw, by outcome: recorded (the query's owner was recorded), refused (an answer without a query of the chosen coordinator: an error document), unanswered (the stream ended without an answer).",
		}, []string{"outcome"}),
		FollowUps: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchyard_followups_running",
			Help: "Routed submissions' follow-ups (owner record, session pin, slot binding) running in the background after the answer observer closed its stream; at the bound of 256, new observations wait.",
		}),
	}
	for _, o := range []string{"found", "timeout"} {
		m.OwnerWaits.WithLabelValues(o)
	}
	for _, o := range []string{"recorded", "refused", "unanswered"} {
		m.Answers.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.Routed, m.StoreError, m.ExtRouterErrors, m.Sessions, m.Decisions, m.Rejections, m.Stages, m.OwnerWaits, m.OwnerWaitSeconds, m.Answers, m.FollowUps)
	}
	return m
}
