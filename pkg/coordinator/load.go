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

// maxCount bounds a count read from /metrics.
const maxCount = 1 << 30

// ParseLoad reads the load metrics from OpenMetrics text. It needs the
// active node count; the query counts default to zero. A count that is
// not a whole non-negative number (NaN, negative, fractional, huge) is an
// error.
func ParseLoad(r io.Reader) (Load, error) {
	var l Load
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
