package workload

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

// Metrics of workload governance. Labels are bounded: classes and
// clusters come from the configuration, reasons from a fixed list; users
// and query IDs never appear.
type Metrics struct {
	// Admitted counts governed submissions given a slot, by class and how
	// (direct: at once; queued: after waiting).
	Admitted *prometheus.CounterVec
	// Queued counts submissions that entered the queue, by class.
	Queued *prometheus.CounterVec
	// Rejected counts refused submissions, by class and reason
	// (queue_full, rate, cpu, bytes, overcommit, store).
	Rejected *prometheus.CounterVec
	// Ended counts queue entries that ended without running, by class
	// and error (USER_CANCELED, ABANDONED_QUERY, ...).
	Ended *prometheus.CounterVec
	// Wait is the time submissions spent in the queue, by class.
	Wait *prometheus.HistogramVec
	// Running and QueuedNow are the fleet's current counts (refreshed
	// every few seconds from the store).
	Running        *prometheus.GaugeVec
	RunningCluster *prometheus.GaugeVec
	QueuedNow      *prometheus.GaugeVec
	// Charged CPU seconds and scanned bytes, by class.
	ChargedCPU   *prometheus.CounterVec
	ChargedBytes *prometheus.CounterVec
	// Expired counts slots whose leases ended without a release.
	Expired prometheus.Counter
	// Reconciled counts slots reconciliation released or adopted.
	Reconciled *prometheus.CounterVec
	// Store is the latency of governance store calls, by operation.
	Store       *prometheus.HistogramVec
	StoreErrors *prometheus.CounterVec
}

// NewMetrics makes the metrics and registers them on reg (nil: none).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Admitted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchyard_governance_admitted_total",
			Help: "Governed submissions given a running slot, by workload class and how (direct, queued)."}, []string{"class", "how"}),
		Queued: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchyard_governance_queued_total",
			Help: "Submissions that waited in the gateway's queue, by workload class."}, []string{"class"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchyard_governance_rejected_total",
			Help: "Submissions refused by workload governance, by class and reason (queue_full, rate, cpu, bytes, overcommit, store)."}, []string{"class", "reason"}),
		Ended: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchyard_governance_queue_ended_total",
			Help: "Queued submissions that ended without running, by class and error (USER_CANCELED, ABANDONED_QUERY, ...)."}, []string{"class", "error"}),
		Wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "switchyard_governance_queue_wait_seconds",
			Help:    "Time submissions spent in the gateway's queue before they were submitted, by class.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}}, []string{"class"}),
		Running: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "switchyard_governance_running",
			Help: "Queries holding a running slot across the fleet, by workload class."}, []string{"class"}),
		RunningCluster: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "switchyard_governance_running_cluster",
			Help: "Gateway queries holding a running slot, by cluster."}, []string{"cluster"}),
		QueuedNow: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "switchyard_governance_queue_depth",
			Help: "Submissions waiting in the gateway's queue now, by class."}, []string{"class"}),
		ChargedCPU: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchyard_governance_charged_cpu_seconds_total",
			Help: "Trino CPU seconds charged to workload classes' quotas from completed queries."}, []string{"class"}),
		ChargedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchyard_governance_charged_scanned_bytes_total",
			Help: "Physical input bytes charged to workload classes' quotas from completed queries."}, []string{"class"}),
		Expired: prometheus.NewCounter(prometheus.CounterOpts{Name: "switchyard_governance_slots_expired_total",
			Help: "Running slots whose leases ended without a release (their replica stopped renewing them)."}),
		Reconciled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchyard_governance_reconciled_total",
			Help: "Running slots that reconciliation with the coordinators released or adopted, by action and reason."}, []string{"action", "reason"}),
		Store: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "switchyard_governance_store_seconds",
			Help:    "Latency of workload governance's shared-store calls, by operation.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}}, []string{"op"}),
		StoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchyard_governance_store_errors_total",
			Help: "Failed shared-store calls of workload governance, by operation."}, []string{"op"}),
	}
	if reg != nil {
		reg.MustRegister(m.Admitted, m.Queued, m.Rejected, m.Ended, m.Wait, m.Running, m.RunningCluster, m.QueuedNow,
			m.ChargedCPU, m.ChargedBytes, m.Expired, m.Reconciled, m.Store, m.StoreErrors)
	}
	return m
}

func (m *Metrics) observeStore(op string, start time.Time, err error) {
	m.Store.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		m.StoreErrors.WithLabelValues(op).Inc()
	}
}

func (m *Metrics) charged(class string, c store.Completion) {
	m.ChargedCPU.WithLabelValues(classLabel(class)).Add(c.CPUSeconds)
	m.ChargedBytes.WithLabelValues(classLabel(class)).Add(c.Bytes)
}

func (m *Metrics) setGauges(s store.GovernanceSnapshot) {
	m.Running.Reset()
	for c, n := range s.RunningByClass {
		m.Running.WithLabelValues(c).Set(float64(n))
	}
	m.RunningCluster.Reset()
	for c, n := range s.RunningByCluster {
		m.RunningCluster.WithLabelValues(c).Set(float64(n))
	}
	m.QueuedNow.Reset()
	for _, e := range s.Queue {
		if e.State == store.EntryQueued {
			m.QueuedNow.WithLabelValues(classLabel(e.Class)).Inc()
		}
	}
}

// RejectReason is the metric label of a refused submission.
func RejectReason(a store.Admission) string {
	switch {
	case a.Quota != nil:
		return strings.ToLower(a.Quota.Kind)
	case a.Full != nil:
		return "queue_full"
	}
	return "other"
}
