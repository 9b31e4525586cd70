// Package doctor checks what every registered Trino cluster really runs
// with, from the outside: its nodes and their versions and memory, how it
// answers forwarded requests and the gateway's prefix, whether its query
// events reach the control plane, whether the gateway may shut its workers
// down, and whether fault-tolerant execution has what it needs. Collect
// reads a cluster (Facts); Analyze turns facts into findings, each with a
// severity and the fix. Analyze is pure, so every rule has a table test.
package doctor

import (
	"fmt"
	"sort"
	"time"
)

// Severity ranks a finding.
type Severity string

// Severities, most severe first.
const (
	// Error breaks queries, stickiness, drains or availability.
	Error Severity = "error"
	// Warning is a risk or a degraded feature.
	Warning Severity = "warning"
	// Info is worth knowing and needs nothing.
	Info Severity = "info"
)

func (s Severity) rank() int {
	switch s {
	case Error:
		return 0
	case Warning:
		return 1
	}
	return 2
}

// Finding is one thing the doctor found about a cluster.
type Finding struct {
	// Check is a stable identifier (e.g. "forwarded-headers-off").
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	Cluster  string   `json:"cluster"`
	// Node names the node or coordinator concerned, when it is one.
	Node    string `json:"node,omitempty"`
	Message string `json:"message"`
	// Fix says what to change.
	Fix string `json:"fix,omitempty"`
}

// ClusterReport is one cluster's facts and findings.
type ClusterReport struct {
	Cluster  string    `json:"cluster"`
	Group    string    `json:"group"`
	Facts    Facts     `json:"facts"`
	Findings []Finding `json:"findings"`
}

// Report is the doctor's answer for the fleet (or one cluster).
type Report struct {
	Checked  time.Time       `json:"checked"`
	Clusters []ClusterReport `json:"clusters"`
	Errors   int             `json:"errors"`
	Warnings int             `json:"warnings"`
}

// Facts is what Collect read from one cluster. Fields a check could not
// read are left zero with the reason in the matching *Err field.
type Facts struct {
	Cluster     string `json:"cluster"`
	Group       string `json:"group"`
	State       string `json:"state"` // the gateway's lifecycle state
	Coordinator string `json:"coordinator"`
	URL         string `json:"url"`

	Reachable bool   `json:"reachable"`
	ReachErr  string `json:"reachErr,omitempty"`
	Starting  bool   `json:"starting,omitempty"`
	Version   string `json:"version,omitempty"`
	Nodes     []Node `json:"nodes,omitempty"`
	NodesErr  string `json:"nodesErr,omitempty"`
	SpillOn   *bool  `json:"spillEnabled,omitempty"`
	// Memory is what the coordinator's /metrics say of memory: queries and
	// tasks the low-memory killer killed since it started, nodes blocked
	// on a full pool now. MetricsErr says why they were not read.
	Memory     *MemoryMetrics `json:"memory,omitempty"`
	MetricsErr string         `json:"metricsErr,omitempty"`
	SessionErr string         `json:"sessionErr,omitempty"`

	// Probe is the forwarded-header probe query sent to the coordinator
	// as Envoy sends it.
	Probe Probe `json:"probe"`
	// RetryPolicy is the probe query's (the cluster's default).
	RetryPolicy string `json:"retryPolicy,omitempty"`
	// ExchangeErr is why a query with an exchange failed under
	// retry-policy TASK ("" when it ran or was not tried).
	ExchangeErr string `json:"exchangeErr,omitempty"`
	// Event is whether the probe query's completion event reached this
	// control plane ("seen", "missing", or "" when not checked).
	Event string `json:"event,omitempty"`
}

// Probe is the outcome of the forwarded-header probe.
type Probe struct {
	QueryID string `json:"queryId,omitempty"`
	// Status is the coordinator's answer to the submission.
	Status int `json:"status,omitempty"`
	// NextURI is the first nextUri; Want is the prefix it must start with.
	NextURI string `json:"nextUri,omitempty"`
	Want    string `json:"want,omitempty"`
	Err     string `json:"err,omitempty"`
	// Gateway is the round trip through the gateway: "ok", or why not;
	// GatewaySkipped says why it was not tried.
	Gateway        string `json:"gateway,omitempty"`
	GatewaySkipped string `json:"gatewaySkipped,omitempty"`
	// PlainErr is why the plain SELECT 1 that stands in for a forwarded
	// probe that did not run to its end failed (the retry policy and the
	// event were then not checked).
	PlainErr string `json:"plainErr,omitempty"`
}

// Node is one node of system.runtime.nodes with its /v1/status.
type Node struct {
	ID          string `json:"id"`
	URI         string `json:"uri"`
	Version     string `json:"version"`
	Coordinator bool   `json:"coordinator"`
	State       string `json:"state"`
	// Heap is the JVM's maximum heap and Pool the memory pool queries may
	// reserve (heap minus memory.heap-headroom-per-node), in bytes.
	Heap      int64  `json:"heap,omitempty"`
	Pool      int64  `json:"pool,omitempty"`
	StatusErr string `json:"statusErr,omitempty"`
	// Memory is the node machine's memory (or its container's limit), as
	// its JVM sees it; MemoryErr says why it is unknown.
	Memory    int64  `json:"memory,omitempty"`
	MemoryErr string `json:"memoryErr,omitempty"`
	// Shutdown is whether the gateway's identity may shut this worker
	// down gracefully: "permitted", "refused", or why it is unknown.
	Shutdown string `json:"shutdown,omitempty"`
}

// MemoryMetrics are the memory counters of a coordinator's /metrics.
type MemoryMetrics struct {
	QueriesKilled int `json:"queriesKilled"`
	TasksKilled   int `json:"tasksKilled"`
	BlockedNodes  int `json:"blockedNodes"`
}

// Shutdown answers of Node.
const (
	ShutdownPermitted = "permitted"
	ShutdownRefused   = "refused"
)

// Fleet is what Analyze knows of the fleet beyond one cluster: every
// cluster's version by group, for the version-skew check.
type Fleet struct {
	// Versions maps group -> cluster -> Trino version (clusters whose
	// version was read).
	Versions map[string]map[string]string
	// States maps cluster -> lifecycle state.
	States map[string]string
}

// Build assembles the report of the collected clusters: findings sorted by
// severity, counts, and the cross-cluster checks.
func Build(now time.Time, facts []Facts) Report {
	fl := Fleet{Versions: map[string]map[string]string{}, States: map[string]string{}}
	for _, f := range facts {
		fl.States[f.Cluster] = f.State
		if f.Version != "" {
			if fl.Versions[f.Group] == nil {
				fl.Versions[f.Group] = map[string]string{}
			}
			fl.Versions[f.Group][f.Cluster] = f.Version
		}
	}
	r := Report{Checked: now}
	for _, f := range facts {
		fs := Analyze(f, fl)
		for _, x := range fs {
			switch x.Severity {
			case Error:
				r.Errors++
			case Warning:
				r.Warnings++
			}
		}
		r.Clusters = append(r.Clusters, ClusterReport{Cluster: f.Cluster, Group: f.Group, Facts: f, Findings: fs})
	}
	return r
}

// Analyze turns one cluster's facts into findings, most severe first.
func Analyze(f Facts, fl Fleet) []Finding {
	a := &analysis{f: f}
	a.run(fl)
	sort.SliceStable(a.out, func(i, j int) bool { return a.out[i].Severity.rank() < a.out[j].Severity.rank() })
	if a.out == nil {
		a.out = []Finding{}
	}
	return a.out
}

type analysis struct {
	f   Facts
	out []Finding
}

func (a *analysis) add(check string, sev Severity, node, fix, format string, args ...any) {
	a.out = append(a.out, Finding{Check: check, Severity: sev, Cluster: a.f.Cluster, Node: node, Message: fmt.Sprintf(format, args...), Fix: fix})
}
