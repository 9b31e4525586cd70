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
}

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
	}
	if reg != nil {
		reg.MustRegister(m.Routed, m.StoreError, m.ExtRouterErrors, m.Sessions)
	}
	return m
}
