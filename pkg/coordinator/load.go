package coordinator

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// Load is what a coordinator's /metrics says about its work.
type Load struct {
	Running       int `json:"running"`
	Queued        int `json:"queued"`
	Blocked       int `json:"blocked"`
	ActiveWorkers int `json:"activeWorkers"`
	// QueriesKilledOOM and TasksKilledOOM count what the low-memory killer
	// killed since the coordinator started; MemoryBlockedNodes are the
	// nodes whose memory pool is full now.
	QueriesKilledOOM   int `json:"queriesKilledOOM,omitempty"`
	TasksKilledOOM     int `json:"tasksKilledOOM,omitempty"`
	MemoryBlockedNodes int `json:"memoryBlockedNodes,omitempty"`
	// Signals are the coordinator's own health signals (query outcomes
	// and latency, garbage collection, cluster memory), for monitoring.
	Signals Signals `json:"-"`
}

// Signals are what a coordinator's /metrics says about its health, as
// Switchyard shows it per cluster. The counts and sums are cumulative
// since the coordinator started (they reset when it restarts), times are
// in seconds, memory in bytes. A metric the coordinator does not export
// stays 0; a latency quantile is -1 when no query finished in the last
// minute.
type Signals struct {
	Completed             float64 // queries finished, successfully or not
	Failed                float64 // of them, failed
	UserErrors            float64 // failed with a user error
	InternalFailures      float64 // failed with an internal error
	ExternalFailures      float64 // failed with an external error (a connector's source)
	InsufficientResources float64 // failed for lack of resources (memory, limits)
	Abandoned             float64 // abandoned by their client
	Canceled              float64 // canceled
	// ExecCount and ExecSeconds make the execution time's mean;
	// ExecP50, ExecP90 and ExecP99 are its quantiles over the last minute.
	ExecCount, ExecSeconds    float64
	ExecP50, ExecP90, ExecP99 float64
	// Garbage collections of the coordinator's JVM and the time they took.
	MajorGCs, MajorGCSeconds float64
	MinorGCs, MinorGCSeconds float64
	// ClusterMemoryBytes is the query memory of the cluster's nodes;
	// ClusterReservedBytes is how much of it queries hold now.
	ClusterMemoryBytes, ClusterReservedBytes float64
	// FailedWorkers are the nodes the coordinator's failure detector sees
	// failing now.
	FailedWorkers float64
}

// The Trino metrics (OpenMetrics at /metrics) that make up a Load.
const (
	metricRunning     = "trino_execution_name_QueryManager_RunningQueries"
	metricQueued      = "trino_execution_name_QueryManager_QueuedQueries"
	metricBlocked     = "trino_execution_name_QueryManager_BlockedQueries"
	metricActiveNodes = "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount"
	metricOOMQueries  = "trino_memory_name_ClusterMemoryManager_QueriesKilledDueToOutOfMemory"
	metricOOMTasks    = "trino_memory_name_ClusterMemoryManager_TasksKilledDueToOutOfMemory"
	metricMemBlocked  = "trino_memory_type_ClusterMemoryPool_name_general_BlockedNodes"
)

var loadMetrics = map[string]func(*Load, int){
	metricRunning:     func(l *Load, v int) { l.Running = v },
	metricQueued:      func(l *Load, v int) { l.Queued = v },
	metricBlocked:     func(l *Load, v int) { l.Blocked = v },
	metricActiveNodes: func(l *Load, v int) { l.ActiveWorkers = v },
	metricOOMQueries:  func(l *Load, v int) { l.QueriesKilledOOM = v },
	metricOOMTasks:    func(l *Load, v int) { l.TasksKilledOOM = v },
	metricMemBlocked:  func(l *Load, v int) { l.MemoryBlockedNodes = v },
}

// The Trino metrics that make up Signals, with the unit factor to seconds
// where the metric is a time.
var signalMetrics = map[string]func(*Signals, float64){
	"trino_execution_name_QueryManager_CompletedQueries":              func(s *Signals, v float64) { s.Completed = v },
	"trino_execution_name_QueryManager_FailedQueries":                 func(s *Signals, v float64) { s.Failed = v },
	"trino_execution_name_QueryManager_UserErrorFailures":             func(s *Signals, v float64) { s.UserErrors = v },
	"trino_execution_name_QueryManager_InternalFailures":              func(s *Signals, v float64) { s.InternalFailures = v },
	"trino_execution_name_QueryManager_ExternalFailures":              func(s *Signals, v float64) { s.ExternalFailures = v },
	"trino_execution_name_QueryManager_InsufficientResourcesFailures": func(s *Signals, v float64) { s.InsufficientResources = v },
	"trino_execution_name_QueryManager_AbandonedQueries":              func(s *Signals, v float64) { s.Abandoned = v },
	"trino_execution_name_QueryManager_CanceledQueries":               func(s *Signals, v float64) { s.Canceled = v },
	// Trino's execution time distribution is in milliseconds.
	"trino_execution_name_QueryManager_ExecutionTime_AllTime_count":              func(s *Signals, v float64) { s.ExecCount = v },
	"trino_execution_name_QueryManager_ExecutionTime_AllTime_sum":                func(s *Signals, v float64) { s.ExecSeconds = v / 1000 },
	`trino_execution_name_QueryManager_ExecutionTime_OneMinute{quantile="0.5"}`:  func(s *Signals, v float64) { s.ExecP50 = v / 1000 },
	`trino_execution_name_QueryManager_ExecutionTime_OneMinute{quantile="0.9"}`:  func(s *Signals, v float64) { s.ExecP90 = v / 1000 },
	`trino_execution_name_QueryManager_ExecutionTime_OneMinute{quantile="0.99"}`: func(s *Signals, v float64) { s.ExecP99 = v / 1000 },
	// Airlift's GC monitor counts in seconds.
	"io_airlift_stats_name_GcMonitor_MajorGc_AllTime_count":                func(s *Signals, v float64) { s.MajorGCs = v },
	"io_airlift_stats_name_GcMonitor_MajorGc_AllTime_sum":                  func(s *Signals, v float64) { s.MajorGCSeconds = v },
	"io_airlift_stats_name_GcMonitor_MinorGc_AllTime_count":                func(s *Signals, v float64) { s.MinorGCs = v },
	"io_airlift_stats_name_GcMonitor_MinorGc_AllTime_sum":                  func(s *Signals, v float64) { s.MinorGCSeconds = v },
	"trino_memory_name_ClusterMemoryManager_ClusterMemoryBytes":            func(s *Signals, v float64) { s.ClusterMemoryBytes = v },
	"trino_memory_name_ClusterMemoryManager_ClusterTotalMemoryReservation": func(s *Signals, v float64) { s.ClusterReservedBytes = v },
	"trino_failuredetector_name_HeartbeatFailureDetector_FailedCount":      func(s *Signals, v float64) { s.FailedWorkers = v },
}

// maxSignal bounds a signal read from /metrics (a byte count of a large
// cluster fits; an absurd value is the coordinator's error, not ours).
const maxSignal = 1e18

// maxCount bounds a count read from /metrics.
const maxCount = 1 << 30

// ParseLoad reads the load metrics from OpenMetrics text. It needs the
// active node count; the query counts default to zero. A count that is
// not a whole non-negative number (NaN, negative, fractional, huge) is an
// error.
//
// The signals are read leniently: a value that is not a finite
// non-negative number (Trino writes NaN for an empty distribution) leaves
// the signal at its default.
func ParseLoad(r io.Reader) (Load, error) {
	l := Load{Signals: Signals{ExecP50: -1, ExecP90: -1, ExecP99: -1}}
	seen := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if sig, ok := signalMetrics[name]; ok {
			if fields := strings.Fields(rest); len(fields) > 0 {
				if f, err := strconv.ParseFloat(fields[0], 64); err == nil && f >= 0 && f <= maxSignal {
					sig(&l.Signals, f)
				}
			}
			continue
		}
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		set, ok := loadMetrics[name]
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		f, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return Load{}, fmt.Errorf("metric %s: %w", name, err)
		}
		if math.IsNaN(f) || f < 0 || f > maxCount || f != math.Trunc(f) {
			return Load{}, fmt.Errorf("metric %s: %v is not a count", name, f)
		}
		set(&l, int(f))
		if name == metricActiveNodes {
			seen = true
		}
	}
	if err := sc.Err(); err != nil {
		return Load{}, err
	}
	if !seen {
		return Load{}, errors.New("no " + metricActiveNodes)
	}
	return l, nil
}

// maxMetricsBytes bounds a /metrics answer (about 1.1 MB on Trino 476).
const maxMetricsBytes = 8 << 20

// Load reads a coordinator's load from GET /metrics (which needs a user,
// like the client API).
func (cl *Client) Load(ctx context.Context, baseURL string) (Load, error) {
	c := &call{method: http.MethodGet, base: baseURL, path: "/metrics", limit: maxMetricsBytes}
	_, b, err := cl.do(ctx, c)
	if err != nil {
		return Load{}, err
	}
	l, err := ParseLoad(bytes.NewReader(b))
	if err != nil {
		return Load{}, c.errorf("%w", err)
	}
	return l, nil
}
