package health

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
)

// A coordinator that answers /v1/info but has no workers is not healthy
// for new queries; one whose /metrics cannot be read is judged by /v1/info
// alone, with its load unknown.
func TestCheckCoordinator(t *testing.T) {
	tests := []struct {
		name     string
		info     string
		metrics  string // "" = 404
		ok       bool
		starting bool
		load     Load
	}{
		{"workers", `{"starting":false}`, "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 2\ntrino_execution_name_QueryManager_RunningQueries 3\n", true, false,
			Load{Known: true, Running: 3, ActiveWorkers: 2}},
		{"no workers", `{"starting":false}`, "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 0\n", false, false, Load{Known: true}},
		{"no metrics", `{"starting":false}`, "", true, false, Load{}},
		{"metrics without the node count", `{"starting":false}`, "jvm_only 1\n", true, false, Load{}},
		{"bad metrics", `{"starting":false}`, "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount NaN\n", true, false, Load{}},
		{"starting", `{"starting":true}`, "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 2\n", false, true, Load{}},
		{"info without starting", `{}`, "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 2\n", false, false, Load{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/v1/info":
					_, _ = w.Write([]byte(tt.info))
				case r.URL.Path == "/metrics" && tt.metrics != "" && r.Header.Get("X-Trino-User") == "sy-health":
					_, _ = w.Write([]byte(tt.metrics))
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
