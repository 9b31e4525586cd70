package extproc

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the ext_proc service.
type Metrics struct {
	Requests *prometheus.CounterVec   // by kind and outcome
	Latency  *prometheus.HistogramVec // decision time by kind
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
			Help:    "Time ext_proc spent deciding a request (all its messages up to the decision, not waiting for Envoy), by path kind.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.Requests, m.Latency)
	}
	return m
}
