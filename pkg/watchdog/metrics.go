package watchdog

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the watchdog (its actions are counted by query protection:
// switchyard_protection_actions_total).
type Metrics struct {
	PollSeconds prometheus.Histogram
	Running     prometheus.Gauge
	Evaluated   prometheus.Counter
	Errors      *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		PollSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "switchyard_watchdog_poll_seconds",
			Help:    "Time of one watchdog poll of the fleet's running queries.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		Running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchyard_watchdog_running_queries",
			Help: "Running queries the last watchdog poll saw across the fleet.",
		}),
		Evaluated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_watchdog_evaluations_total",
			Help: "Running queries evaluated by the watchdog rules.",
		}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_watchdog_errors_total",
			Help: "Watchdog failures, by step (list, detail, policy, claim, kill, throttle, quarantine).",
		}, []string{"step"}),
	}
	if reg != nil {
		reg.MustRegister(m.PollSeconds, m.Running, m.Evaluated, m.Errors)
	}
	return m
}
