package health

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const metricsSample = `# TYPE trino_execution_name_QueryManager_RunningQueries gauge
trino_execution_name_QueryManager_RunningQueries 3.0
# TYPE trino_execution_name_QueryManager_QueuedQueries gauge
trino_execution_name_QueryManager_QueuedQueries 1.0
trino_execution_name_QueryManager_BlockedQueries{x="y"} 2
trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 4.0
jvm_something 1
# EOF
`

func TestParseLoad(t *testing.T) {
	l, err := ParseLoad(strings.NewReader(metricsSample))
	if err != nil {
		t.Fatal(err)
	}
	if l != (Load{Known: true, Running: 3, Queued: 1, Blocked: 2, ActiveWorkers: 4}) {
		t.Fatalf("%+v", l)
	}
	if _, err := ParseLoad(strings.NewReader("trino_execution_name_QueryManager_RunningQueries 1\n")); err == nil {
		t.Fatal("accepted metrics without the node count")
	}
	if _, err := ParseLoad(strings.NewReader("trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount abc\n")); err == nil {
		t.Fatal("accepted a bad number")
	}
}

func FuzzParseLoad(f *testing.F) {
	f.Add(metricsSample)
	f.Add("trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount \n")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseLoad(strings.NewReader(s))
	})
}

// A coordinator that answers /v1/info but has no workers is not healthy
// for new queries; one without /metrics is judged by /v1/info alone.
func TestCheckCoordinator(t *testing.T) {
	tests := []struct {
		name    string
		metrics string // "" = 404
		ok      bool
		workers int
	}{
		{"workers", "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 2\n", true, 2},
		{"no workers", "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 0\n", false, 0},
		{"no metrics", "", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/v1/info":
					_, _ = w.Write([]byte(`{"starting":false}`))
				case r.URL.Path == "/metrics" && tt.metrics != "" && r.Header.Get("X-Trino-User") != "":
					_, _ = w.Write([]byte(tt.metrics))
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			l, err := CheckCoordinator(context.Background(), srv.Client(), srv.URL)
			if (err == nil) != tt.ok || l.ActiveWorkers != tt.workers {
				t.Fatalf("load %+v err %v", l, err)
			}
		})
	}
}
