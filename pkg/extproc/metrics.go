package extproc

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the ext_proc service.
type Metrics struct {
	Requests   *prometheus.CounterVec   // by kind and outcome
	Latency    *prometheus.HistogramVec // decision time by kind
	Routed     *prometheus.CounterVec   // submissions by group and cluster
	StoreError *prometheus.CounterVec   // by operation
	// ExtRouterErrors counts failed calls to the external routing service.
	ExtRouterErrors prometheus.Counter
}

// NewMetrics registers the metrics on reg (nil: unregistered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_extproc_requests_total",
			Help: "Requests seen by ext_proc, by path kind and outcome (routed, rejected, passed).",
		}, []string{"kind", "outcome"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchyard_extproc_decision_seconds",
			Help:    "Time ext_proc spent deciding a request (headers and body phases), by path kind.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"kind"}),
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
	}
	if reg != nil {
		reg.MustRegister(m.Requests, m.Latency, m.Routed, m.StoreError, m.ExtRouterErrors)
	}
	return m
}
