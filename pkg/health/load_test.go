package health

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
)

// A coordinator that answers /v1/info but has no workers is not healthy
// for new queries; one whose /metrics cannot be read is judged by /v1/info
// alone, with its load unknown.
func TestCheckCoordinator(t *testing.T) {
	noQuantiles := coordinator.Signals{ExecP50: -1, ExecP90: -1, ExecP99: -1}
	tests := []struct {
		name     string
		info     string
		metrics  string // "" = 404
		status   string // "" = 404
		ok       bool
		starting bool
		load     Load
	}{
		{"workers", `{"starting":false}`, "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 2\ntrino_execution_name_QueryManager_RunningQueries 3\n" +
			"trino_execution_name_QueryManager_FailedQueries 4\nio_airlift_stats_name_GcMonitor_MajorGc_AllTime_sum 1.5\n",
			`{"uptime":"2.50m","heapUsed":100,"heapAvailable":1000}`, true, false,
			Load{Known: true, Running: 3, ActiveWorkers: 2, Uptime: 150 * time.Second, HeapUsed: 100, HeapMax: 1000,
				Trino: coordinator.Signals{Failed: 4, MajorGCSeconds: 1.5, ExecP50: -1, ExecP90: -1, ExecP99: -1}}},
		{"no workers", `{"starting":false}`, "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 0\n", "", false, false, Load{Known: true, Trino: noQuantiles}},
		{"no metrics", `{"starting":false}`, "", "", true, false, Load{}},
		{"metrics without the node count", `{"starting":false}`, "jvm_only 1\n", "", true, false, Load{}},
		{"bad metrics", `{"starting":false}`, "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount NaN\n", "", true, false, Load{}},
		{"bad status", `{"starting":false}`, "", `{"uptime":12}`, true, false, Load{}},
		{"starting", `{"starting":true}`, "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 2\n", `{"uptime":"5.00s"}`, false, true, Load{Uptime: 5 * time.Second}},
		{"info without starting", `{}`, "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 2\n", "", false, false, Load{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/v1/info":
					_, _ = w.Write([]byte(tt.info))
				case r.URL.Path == "/metrics" && tt.metrics != "" && r.Header.Get("X-Trino-User") == "sy-health":
					_, _ = w.Write([]byte(tt.metrics))
				case r.URL.Path == "/v1/status" && tt.status != "":
					_, _ = w.Write([]byte(tt.status))
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			l, err := CheckCoordinator(context.Background(), coordinator.New(coordinator.Options{User: "sy-health"}), srv.URL)
			if (err == nil) != tt.ok || l != tt.load || errors.Is(err, ErrStarting) != tt.starting {
				t.Fatalf("load %+v err %v; want ok=%v starting=%v load %+v", l, err, tt.ok, tt.starting, tt.load)
			}
		})
	}
}
