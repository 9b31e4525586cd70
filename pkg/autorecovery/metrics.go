package autorecovery

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
)

// Metrics of auto-recovery.
type Metrics struct {
	// Actions counts actions by action, condition and outcome.
	Actions *prometheus.CounterVec
	// NotifyErrors counts notifications the webhook did not take.
	NotifyErrors prometheus.Counter
}

// NewMetrics registers the metrics on reg (nil: unregistered, for tests);
// with fleetFn, also the gauge of the clusters held out.
func NewMetrics(reg prometheus.Registerer, fleetFn func() *fleet.Fleet) *Metrics {
	m := &Metrics{
		Actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_autorecovery_actions_total",
			Help: "Auto-recovery actions, by action (take_out, readmit, hold, fallback, fallback_end), condition (restart_loop, error_rate, stable, no_healthy_cluster) and outcome (done, failed).",
		}, []string{"action", "kind", "outcome"}),
		NotifyErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_autorecovery_notify_errors_total",
			Help: "Auto-recovery notifications the webhook did not take after three attempts.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Actions, m.NotifyErrors)
		if fleetFn != nil {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "switchyard_autorecovery_clusters_out",
				Help: "Clusters auto-recovery holds out of rotation now.",
			}, func() float64 { return float64(len(Out(fleetFn()))) }))
		}
	}
	return m
}
