package health

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The Trino metrics (OpenMetrics at /metrics) that make up a Load.
var loadMetrics = map[string]func(*Load, int){
	"trino_execution_name_QueryManager_RunningQueries":         func(l *Load, v int) { l.Running = v },
	"trino_execution_name_QueryManager_QueuedQueries":          func(l *Load, v int) { l.Queued = v },
	"trino_execution_name_QueryManager_BlockedQueries":         func(l *Load, v int) { l.Blocked = v },
	"trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount": func(l *Load, v int) { l.ActiveWorkers = v },
}

// ReadLoad reads a coordinator's load from /metrics (which needs a user,
// like the client API).
func ReadLoad(ctx context.Context, client *http.Client, baseURL string) (Load, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/metrics", nil)
	if err != nil {
		return Load{}, err
	}
	req.Header.Set("X-Trino-User", "switchyard")
	resp, err := client.Do(req)
	if err != nil {
		return Load{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Load{}, fmt.Errorf("/metrics answered HTTP %d", resp.StatusCode)
	}
	return ParseLoad(io.LimitReader(resp.Body, 8<<20))
}

// ParseLoad reads the load metrics from OpenMetrics text. It needs the
// active node count; the query counts default to zero.
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
		set(&l, int(f))
		if name == "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount" {
			seen = true
		}
	}
	if err := sc.Err(); err != nil {
		return Load{}, err
	}
	if !seen {
		return Load{}, fmt.Errorf("/metrics has no trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount")
	}
	l.Known = true
	return l, nil
}
