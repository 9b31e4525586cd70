package coordinator

import (
	"context"
	"math"
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
			l.Signals = Signals{} // TestParseSignals
			if err != nil || l != tt.want {
				t.Fatalf("got %+v, %v; want %+v", l, err, tt.want)
			}
		})
	}
}

// TestParseSignals reads the health signals from an excerpt of a Trino 476
// coordinator's /metrics (captured after 28 queries, 27 of them failed,
// and 9 young collections), converting Trino's milliseconds to seconds.
func TestParseSignals(t *testing.T) {
	l, err := ParseLoad(strings.NewReader(string(readTestdata(t, "metrics-signals.txt"))))
	if err != nil {
		t.Fatal(err)
	}
	want := Signals{
		Completed: 28, Failed: 27, InternalFailures: 27,
		ExecCount: 28, ExecSeconds: 3.0048091020000003, ExecP50: 0, ExecP90: 0.07335893122550506, ExecP99: 1.940539851,
		MinorGCs: 9, MinorGCSeconds: 0.31399999999999995,
		ClusterMemoryBytes: 7.51619277e8,
	}
	if l.Signals != want {
		t.Fatalf("signals\n got %+v\nwant %+v", l.Signals, want)
	}
	if l.ActiveWorkers != 1 {
		t.Fatalf("active workers %d", l.ActiveWorkers)
	}
	// No finished query in the last minute: Trino writes NaN, the
	// quantiles stay unknown (-1); a negative or absurd value is ignored.
	l, err = ParseLoad(strings.NewReader("trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 1\n" +
		`trino_execution_name_QueryManager_ExecutionTime_OneMinute{quantile="0.5"} NaN` + "\n" +
		"io_airlift_stats_name_GcMonitor_MajorGc_AllTime_sum NaN\n" +
		"trino_execution_name_QueryManager_FailedQueries -3\n" +
		"trino_execution_name_QueryManager_CompletedQueries 1e300\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Signals{ExecP50: -1, ExecP90: -1, ExecP99: -1}); l.Signals != want {
		t.Fatalf("got %+v, want %+v", l.Signals, want)
	}
}

func TestLoad(t *testing.T) {
	f := newFake(t, answer(200, metricsSample))
	l, err := New(Options{}).Load(context.Background(), f.srv.URL)
	l.Signals = Signals{}
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
		for _, v := range []float64{l.Signals.Completed, l.Signals.Failed, l.Signals.ExecSeconds, l.Signals.MajorGCSeconds, l.Signals.ClusterReservedBytes} {
			if v < 0 || v > maxSignal || math.IsNaN(v) {
				t.Fatalf("signal %v out of range in %+v", v, l.Signals)
			}
		}
		l.Signals = Signals{}
		l2, err := ParseLoad(strings.NewReader(text))
		l2.Signals = Signals{}
		if err != nil || l2 != l {
			t.Fatalf("re-encoded load %+v, %v; want %+v", l2, err, l)
		}
	})
}
