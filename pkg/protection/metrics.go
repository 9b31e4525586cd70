package protection

import "github.com/prometheus/client_golang/prometheus"

// Metrics of query protection.
type Metrics struct {
	// Actions counts protection actions by action (deny, route, caps,
	// kill, throttle, quarantine, warn) and mode (enforced, or
	// report_only: a dry-run protection decision or a report-only watchdog
	// recorded it without taking it).
	Actions *prometheus.CounterVec
	// Incidents counts incidents recorded, by kind (failure, killed,
	// quarantine).
	Incidents *prometheus.CounterVec
	// StoreErrors counts failed store calls, by operation.
	StoreErrors *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg (nil: unregistered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_protection_actions_total",
			Help: "Query protection actions, by action (deny, route, caps, kill, throttle, quarantine, warn), mode (enforced; report_only: recorded by a dry-run or report-only rule, not taken), the policy rule that asked for it and the cluster (\"\" before the query runs).",
		}, []string{"action", "mode", "rule", "cluster"}),
		Incidents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_protection_incidents_total",
			Help: "Incidents remembered by query fingerprint, by kind (failure: a limit or out of memory; killed: by the watchdog; quarantine).",
		}, []string{"kind"}),
		StoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_protection_store_errors_total",
			Help: "Failed shared-store calls of query protection, by operation.",
		}, []string{"op"}),
	}
	if reg != nil {
		reg.MustRegister(m.Actions, m.Incidents, m.StoreErrors)
	}
	return m
}
