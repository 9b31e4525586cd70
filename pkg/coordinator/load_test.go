package coordinator

import (
	"context"
	"strconv"
	"strings"
	"testing"
)

const metricsSample = `# TYPE trino_execution_name_QueryManager_RunningQueries gauge
trino_execution_name_QueryManager_RunningQueries 3.0
# TYPE trino_execution_name_QueryManager_QueuedQueries gauge
trino_execution_name_QueryManager_QueuedQueries 1.0
trino_execution_name_QueryManager_BlockedQueries{x="y"} 2
trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 4.0
trino_memory_name_ClusterMemoryManager_QueriesKilledDueToOutOfMemory 5.0
trino_memory_name_ClusterMemoryManager_TasksKilledDueToOutOfMemory 7.0
trino_memory_type_ClusterMemoryPool_name_general_BlockedNodes 1.0
jvm_something 1
# EOF
`

func TestParseLoad(t *testing.T) {
	tests := []struct {
		name, text string
		want       Load
		err        string
	}{
		{"sample", metricsSample, Load{Running: 3, Queued: 1, Blocked: 2, ActiveWorkers: 4, QueriesKilledOOM: 5, TasksKilledOOM: 7, MemoryBlockedNodes: 1}, ""},
		{"a fractional OOM count", "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 1\ntrino_memory_name_ClusterMemoryManager_QueriesKilledDueToOutOfMemory 0.5\n", Load{}, "is not a count"},
		// Captured from Trino 476 (an excerpt: /metrics is about 1.1 MB).
		{"trino 476", "", Load{ActiveWorkers: 1}, ""},
		{"node count only", "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 0\n", Load{}, ""},
		{"no node count", "trino_execution_name_QueryManager_RunningQueries 1\n", Load{}, "no trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount"},
		{"bad number", "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount abc\n", Load{}, "invalid syntax"},
		{"NaN", "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount NaN\n", Load{}, "is not a count"},
		{"negative", "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 1\ntrino_execution_name_QueryManager_RunningQueries -2\n", Load{}, "is not a count"},
		{"fraction", "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 1.5\n", Load{}, "is not a count"},
		{"huge", "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 1e300\n", Load{}, "is not a count"},
		{"infinite", "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount +Inf\n", Load{}, "is not a count"},
		{"line too long", "x " + strings.Repeat("1", 2<<20) + "\n", Load{}, "token too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.text
			if tt.name == "trino 476" {
				text = string(readTestdata(t, "metrics.txt"))
			}
			l, err := ParseLoad(strings.NewReader(text))
			if tt.err != "" {
				wantErr(t, err, tt.err)
				return
			}
			if err != nil || l != tt.want {
				t.Fatalf("got %+v, %v; want %+v", l, err, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	f := newFake(t, answer(200, metricsSample))
	l, err := New(Options{}).Load(context.Background(), f.srv.URL)
	if err != nil || l != (Load{Running: 3, Queued: 1, Blocked: 2, ActiveWorkers: 4, QueriesKilledOOM: 5, TasksKilledOOM: 7, MemoryBlockedNodes: 1}) {
		t.Fatalf("got %+v, %v", l, err)
	}
	f = newFake(t, answer(200, "jvm_only 1\n"))
	_, err = New(Options{}).Load(context.Background(), f.srv.URL)
	wantErr(t, err, f.srv.URL, "GET /metrics", "no trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount")
}

// FuzzParseLoad: OpenMetrics text either fails or gives counts that are
// non-negative, and the same text gives the same load again.
func FuzzParseLoad(f *testing.F) {
	f.Add(metricsSample)
	f.Add(string(readTestdata(f, "metrics.txt")))
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLoad(strings.NewReader(s))
		if err != nil {
			return
		}
		if l.Running < 0 || l.Queued < 0 || l.Blocked < 0 || l.ActiveWorkers < 0 || l.QueriesKilledOOM < 0 || l.TasksKilledOOM < 0 || l.MemoryBlockedNodes < 0 {
			t.Fatalf("negative count in %+v", l)
		}
		// Written back as OpenMetrics, the load reads the same.
		text := "trino_execution_name_QueryManager_RunningQueries " + strconv.Itoa(l.Running) + "\n" +
			"trino_execution_name_QueryManager_QueuedQueries " + strconv.Itoa(l.Queued) + "\n" +
			"trino_execution_name_QueryManager_BlockedQueries " + strconv.Itoa(l.Blocked) + "\n" +
			"trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount " + strconv.Itoa(l.ActiveWorkers) + "\n" +
			"trino_memory_name_ClusterMemoryManager_QueriesKilledDueToOutOfMemory " + strconv.Itoa(l.QueriesKilledOOM) + "\n" +
			"trino_memory_name_ClusterMemoryManager_TasksKilledDueToOutOfMemory " + strconv.Itoa(l.TasksKilledOOM) + "\n" +
			"trino_memory_type_ClusterMemoryPool_name_general_BlockedNodes " + strconv.Itoa(l.MemoryBlockedNodes) + "\n"
		l2, err := ParseLoad(strings.NewReader(text))
		if err != nil || l2 != l {
			t.Fatalf("re-encoded load %+v, %v; want %+v", l2, err, l)
		}
	})
}
