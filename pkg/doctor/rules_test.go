package doctor

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

const mib = int64(1) << 20

// Heap and pool of the healthy cluster's nodes: 1408MiB with the pool at
// 70% of it (Trino's default 30% headroom).
var (
	testHeap = 1408 * mib
	testPool = testHeap * 70 / 100
)

const (
	testProbeID = "20250601_120000_00001_abcde"
	testWant    = "http://gw.example:8080/_sy/blue/0/v1/statement/"
)

// healthy is a coordinator and two workers with nothing wrong: the "clean"
// cluster every rule case starts from.
func healthy() Facts {
	return Facts{
		Cluster: "blue", Group: "etl", State: "active", Coordinator: "0", URL: "http://10.0.0.1:8080",
		Reachable: true, Version: "476",
		Nodes: []Node{
			{ID: "coordinator", URI: "http://10.0.0.1:8080", Version: "476", Coordinator: true, State: "active", Heap: testHeap, Pool: testPool},
			{ID: "worker-1", URI: "http://10.0.0.2:8080", Version: "476", State: "active", Heap: testHeap, Pool: testPool, Shutdown: ShutdownPermitted},
			{ID: "worker-2", URI: "http://10.0.0.3:8080", Version: "476", State: "active", Heap: testHeap, Pool: testPool, Shutdown: ShutdownPermitted},
		},
		Probe: Probe{
			QueryID: testProbeID, Status: 200,
			NextURI: testWant + "queued/" + testProbeID + "/y0/1", Want: testWant,
			Gateway: "ok",
		},
		RetryPolicy: "TASK",
		Event:       "seen",
	}
}

// node returns the node of f with that ID.
func node(t *testing.T, f *Facts, id string) *Node {
	t.Helper()
	for i := range f.Nodes {
		if f.Nodes[i].ID == id {
			return &f.Nodes[i]
		}
	}
	t.Fatalf("no node %s", id)
	return nil
}

// want is one expected finding: its check, severity and node, and strings
// its message and fix must contain.
type want struct {
	check string
	sev   Severity
	node  string
	msg   []string
	fix   []string
}

// checkSorted fails unless findings go errors, then warnings, then info.
func checkSorted(t *testing.T, fs []Finding) {
	t.Helper()
	if !sort.SliceIsSorted(fs, func(i, j int) bool { return fs[i].Severity.rank() < fs[j].Severity.rank() }) {
		t.Errorf("findings are not sorted errors, warnings, info: %s", describe(fs))
	}
}

func describe(fs []Finding) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%s/%s/%q: %s", f.Check, f.Severity, f.Node, f.Message))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// expect checks that fs are exactly ws (in any order within a severity).
func expect(t *testing.T, f Facts, fs []Finding, ws []want) {
	t.Helper()
	checkSorted(t, fs)
	if fs == nil {
		t.Errorf("Analyze returned nil; want an empty slice (it is JSON [])")
	}
	key := func(check string, sev Severity, node string) string { return check + "/" + string(sev) + "/" + node }
	var got, exp []string
	for _, x := range fs {
		got = append(got, key(x.Check, x.Severity, x.Node))
		if x.Cluster != f.Cluster {
			t.Errorf("finding %s has cluster %q, want %q", x.Check, x.Cluster, f.Cluster)
		}
		if x.Message == "" {
			t.Errorf("finding %s has no message", x.Check)
		}
	}
	for _, w := range ws {
		exp = append(exp, key(w.check, w.sev, w.node))
	}
	sort.Strings(got)
	sort.Strings(exp)
	if !slices.Equal(got, exp) {
		t.Fatalf("findings (check/severity/node):\n got %v\nwant %v\nall: %s", got, exp, describe(fs))
	}
	for _, w := range ws {
		for _, x := range fs {
			if x.Check != w.check || x.Severity != w.sev || x.Node != w.node {
				continue
			}
			for _, s := range w.msg {
				if !strings.Contains(x.Message, s) {
					t.Errorf("%s message %q does not contain %q", w.check, x.Message, s)
				}
			}
			for _, s := range w.fix {
				if !strings.Contains(x.Fix, s) {
					t.Errorf("%s fix %q does not contain %q", w.check, x.Fix, s)
				}
			}
		}
	}
}

func TestAnalyzeRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, f *Facts)
		fleet  Fleet
		want   []want
	}{
		{
			name:   "clean",
			change: func(*testing.T, *Facts) {},
		},
		{
			name: "coordinator-unreachable stops every other check",
			change: func(t *testing.T, f *Facts) {
				f.Reachable, f.ReachErr, f.Version = false, "dial tcp 10.0.0.1:8080: connect: connection refused", ""
				// Facts that would each raise a finding were they checked.
				f.Probe.Status, f.Event, f.ExchangeErr = 406, "missing", "Exchange manager must be configured"
				node(t, f, "worker-1").Version = "475"
			},
			want: []want{{check: "coordinator-unreachable", sev: Error, node: "0",
				msg: []string{"0", "http://10.0.0.1:8080", "connection refused", "nothing else"}, fix: []string{"URL"}}},
		},
		{
			name: "coordinator-starting",
			change: func(t *testing.T, f *Facts) {
				f.Starting = true
				f.Probe.Status, f.Event = 406, "missing"
				node(t, f, "worker-1").Version = "475"
			},
			want: []want{{check: "coordinator-starting", sev: Warning, node: "0", msg: []string{"coordinator 0", "starting"}}},
		},
		{
			name: "heap-near-machine-memory",
			change: func(t *testing.T, f *Facts) {
				node(t, f, "worker-1").Memory = node(t, f, "worker-1").Heap * 100 / 95 // 95%
				node(t, f, "worker-2").Memory = node(t, f, "worker-2").Heap * 100 / 87 // 87%
				node(t, f, "coordinator").Memory = node(t, f, "coordinator").Heap * 100 / 70
			},
			want: []want{
				{check: "heap-near-machine-memory", sev: Error, node: "worker-1", msg: []string{"95%", "OOM killer"}, fix: []string{"-Xmx"}},
				{check: "heap-near-machine-memory", sev: Warning, node: "worker-2", msg: []string{"87%"}},
			},
		},
		{
			name: "machine-memory-unknown",
			change: func(t *testing.T, f *Facts) {
				node(t, f, "worker-1").MemoryErr = "HTTP 403"
			},
			want: []want{{check: "machine-memory-unknown", sev: Info, node: "worker-1", msg: []string{"HTTP 403"}}},
		},
		{
			name: "TASK without an exchange manager explains the failed probes",
			change: func(_ *testing.T, f *Facts) {
				msg := "query 1 failed: EXCHANGE_MANAGER_NOT_CONFIGURED: Exchange manager must be configured for the failure recovery capabilities to be fully functional"
				f.Probe.Gateway, f.Probe.PlainErr, f.ExchangeErr, f.Event = "the probe query failed: "+msg, msg, msg, ""
			},
			want: []want{{check: "fte-without-exchange-manager", sev: Error, node: "0", msg: []string{"every query fails"}, fix: []string{"exchange-manager.properties"}}},
		},
		{
			name: "low-memory-kills and blocked nodes",
			change: func(_ *testing.T, f *Facts) {
				f.Memory = &MemoryMetrics{QueriesKilled: 2, TasksKilled: 5, BlockedNodes: 1}
			},
			want: []want{
				{check: "low-memory-kills", sev: Warning, node: "0", msg: []string{"2 queries", "5 tasks"}, fix: []string{"spill"}},
				{check: "memory-blocked-nodes", sev: Warning, node: "0", msg: []string{"1 node(s)"}},
			},
		},
		{
			name: "metrics-unreadable",
			change: func(_ *testing.T, f *Facts) {
				f.Memory, f.MetricsErr = nil, "GET /metrics: HTTP 403"
			},
			want: []want{{check: "metrics-unreadable", sev: Info, node: "0", msg: []string{"HTTP 403"}}},
		},
		{
			name: "nodes-unreadable",
			change: func(_ *testing.T, f *Facts) {
				f.Nodes, f.NodesErr = nil, "query 20250601_1 failed: PERMISSION_DENIED: Access Denied: Cannot select from table system.runtime.nodes"
			},
			want: []want{{check: "nodes-unreadable", sev: Warning, node: "0",
				msg: []string{"system.runtime.nodes", "Access Denied"}, fix: []string{"system.runtime"}}},
		},
		{
			name: "node-not-active",
			change: func(t *testing.T, f *Facts) {
				n := node(t, f, "worker-2")
				n.State, n.Shutdown = "shutting_down", ""
			},
			want: []want{{check: "node-not-active", sev: Warning, node: "worker-2",
				msg: []string{"worker-2", "shutting_down", "active"}}},
		},
		{
			name: "node-not-active with the cluster in an unknown state",
			change: func(t *testing.T, f *Facts) {
				f.State = ""
				n := node(t, f, "worker-2")
				n.State, n.Shutdown = "inactive", ""
			},
			want: []want{{check: "node-not-active", sev: Warning, node: "worker-2",
				msg: []string{"worker-2", "inactive", "unknown state"}}},
		},
		{
			name: "a node leaving a draining cluster is expected",
			change: func(t *testing.T, f *Facts) {
				f.State = "draining"
				n := node(t, f, "worker-2")
				n.State, n.Shutdown = "shutting_down", ""
			},
		},
		{
			name: "a node leaving a drained cluster is expected",
			change: func(t *testing.T, f *Facts) {
				f.State = "drained"
				n := node(t, f, "worker-1")
				n.State, n.Shutdown = "shutting_down", ""
			},
		},
		{
			name: "versions-mixed",
			change: func(t *testing.T, f *Facts) {
				node(t, f, "worker-2").Version = "475"
			},
			want: []want{{check: "versions-mixed", sev: Error,
				msg: []string{"475 on worker-2", "476 on coordinator, worker-1"}, fix: []string{"one Trino version"}}},
		},
		{
			name:   "no-nodes",
			change: func(_ *testing.T, f *Facts) { f.Nodes = nil },
			want:   []want{{check: "no-nodes", sev: Error, msg: []string{"no active node"}, fix: []string{"discovery.uri"}}},
		},
		{
			name:   "single-node",
			change: func(_ *testing.T, f *Facts) { f.Nodes = f.Nodes[:1] },
			want:   []want{{check: "single-node", sev: Info, msg: []string{"single node"}, fix: []string{"retry-policy=TASK"}}},
		},
		{
			name: "node-status-unreadable",
			change: func(t *testing.T, f *Facts) {
				n := node(t, f, "worker-1")
				n.Heap, n.Pool, n.StatusErr = 0, 0, "node http://10.0.0.2:8080: GET /v1/status: connection refused"
			},
			want: []want{{check: "node-status-unreadable", sev: Info, node: "worker-1",
				msg: []string{"worker-1", "connection refused"}, fix: []string{"/v1/status"}}},
		},
		{
			name: "memory-over-heap error below 10% headroom",
			change: func(t *testing.T, f *Facts) {
				node(t, f, "worker-1").Pool = testHeap * 95 / 100
			},
			want: []want{{check: "memory-over-heap", sev: Error, node: "worker-1",
				msg: []string{"worker-1", "1337MB", "1408MB", "(5%)"}, fix: []string{"memory.heap-headroom-per-node", "30%"}}},
		},
		{
			name: "memory-over-heap error when the pool exceeds the heap",
			change: func(t *testing.T, f *Facts) {
				node(t, f, "worker-1").Pool = testHeap + 100*mib
			},
			want: []want{{check: "memory-over-heap", sev: Error, node: "worker-1", msg: []string{"worker-1"}}},
		},
		{
			name: "memory-over-heap error on the coordinator",
			change: func(t *testing.T, f *Facts) {
				node(t, f, "coordinator").Pool = testHeap * 92 / 100
			},
			want: []want{{check: "memory-over-heap", sev: Error, node: "coordinator", msg: []string{"coordinator", "(8%)"}}},
		},
		{
			name: "memory-over-heap warning below 20% headroom",
			change: func(t *testing.T, f *Facts) {
				node(t, f, "worker-2").Pool = testHeap * 85 / 100
			},
			want: []want{{check: "memory-over-heap", sev: Warning, node: "worker-2",
				msg: []string{"worker-2", "(15%)"}, fix: []string{"memory.heap-headroom-per-node"}}},
		},
		{
			name: "memory-over-heap warning at exactly 10% headroom",
			change: func(t *testing.T, f *Facts) {
				node(t, f, "worker-2").Pool = testHeap * 90 / 100
			},
			want: []want{{check: "memory-over-heap", sev: Warning, node: "worker-2", msg: []string{"(10%)"}}},
		},
		{
			name: "no memory finding at exactly 20% headroom",
			change: func(t *testing.T, f *Facts) {
				node(t, f, "worker-2").Pool = testHeap * 80 / 100
			},
		},
		{
			name: "no memory finding at 30% headroom on a larger heap",
			change: func(t *testing.T, f *Facts) {
				for i := range f.Nodes {
					f.Nodes[i].Heap = 16 << 30
					f.Nodes[i].Pool = (16 << 30) * 70 / 100
				}
			},
		},
		{
			name: "heaps-differ",
			change: func(t *testing.T, f *Facts) {
				n := node(t, f, "worker-2")
				n.Heap, n.Pool = 2048*mib, 2048*mib*70/100
			},
			want: []want{{check: "heaps-differ", sev: Warning,
				msg: []string{"1408MB on worker-1", "2048MB on worker-2"}, fix: []string{"--role worker"}}},
		},
		{
			name: "a coordinator's larger heap is not a difference between workers",
			change: func(t *testing.T, f *Facts) {
				n := node(t, f, "coordinator")
				n.Heap, n.Pool = 4096*mib, 4096*mib*70/100
			},
		},
		{
			name: "forwarded-headers-off via HTTP 406",
			change: func(_ *testing.T, f *Facts) {
				f.Probe = Probe{Status: 406, Want: testWant, Err: "HTTP 406: Server configuration does not allow processing of the X-Forwarded-Proto header"}
				f.RetryPolicy, f.Event = "", ""
			},
			want: []want{{check: "forwarded-headers-off", sev: Error, node: "0",
				msg: []string{"406", "process-forwarded"}, fix: []string{"http-server.process-forwarded=true"}}},
		},
		{
			name: "forwarded-headers-off via a nextUri on the coordinator's own address",
			change: func(_ *testing.T, f *Facts) {
				f.Probe.NextURI = "http://10.0.0.1:8080/v1/statement/queued/" + testProbeID + "/y0/1"
				f.Probe.Gateway = ""
				f.RetryPolicy, f.Event = "", ""
			},
			want: []want{{check: "forwarded-headers-off", sev: Error, node: "0",
				msg: []string{"http://10.0.0.1:8080/v1/statement/queued/" + testProbeID, testWant},
				fix: []string{"http-server.process-forwarded=true"}}},
		},
		{
			name: "a refused probe and a missing event are both reported",
			change: func(_ *testing.T, f *Facts) {
				// The event check uses the stand-in SELECT 1 when the
				// forwarded probe fails.
				f.Probe = Probe{QueryID: testProbeID, Status: 406, Want: testWant, Err: "HTTP 406: refused"}
				f.Event = "missing"
			},
			want: []want{
				{check: "forwarded-headers-off", sev: Error, node: "0", msg: []string{"406"}},
				{check: "event-listener-missing", sev: Error, node: "0", msg: []string{testProbeID}},
			},
		},
		{
			name: "probe-failed",
			change: func(_ *testing.T, f *Facts) {
				f.Probe = Probe{Status: 500, Want: testWant, Err: "HTTP 500: internal failure"}
				f.RetryPolicy, f.Event = "", ""
			},
			want: []want{{check: "probe-failed", sev: Error, node: "0", msg: []string{"SELECT 1", "HTTP 500: internal failure"}, fix: []string{"SELECT 1"}}},
		},
		{
			name: "gateway-round-trip",
			change: func(_ *testing.T, f *Facts) {
				f.Probe.Gateway = "GET /_sy/blue/0/v1/statement/queued/x/y/1: HTTP 503: no healthy upstream"
				f.Event = ""
			},
			want: []want{{check: "gateway-round-trip", sev: Error, node: "0", msg: []string{"HTTP 503: no healthy upstream"}, fix: []string{"/_sy/"}}},
		},
		{
			name: "gateway-round-trip-skipped",
			change: func(_ *testing.T, f *Facts) {
				f.Probe.Gateway, f.Probe.GatewaySkipped = "", "no gateway address"
			},
			want: []want{{check: "gateway-round-trip-skipped", sev: Info, node: "0", msg: []string{"no gateway address"}}},
		},
		{
			name:   "event-listener-missing",
			change: func(_ *testing.T, f *Facts) { f.Event = "missing" },
			want: []want{{check: "event-listener-missing", sev: Error, node: "0",
				msg: []string{testProbeID}, fix: []string{"http-event-listener", "/v1/events"}}},
		},
		{
			name: "fte-without-exchange-manager",
			change: func(_ *testing.T, f *Facts) {
				f.ExchangeErr = "query 20250601_120000_00002_abcde failed: GENERIC_INTERNAL_ERROR: Exchange manager must be configured for the failure recovery capabilities to be fully functional"
			},
			want: []want{{check: "fte-without-exchange-manager", sev: Error, node: "0",
				msg: []string{"TASK", "Exchange manager must be configured"}, fix: []string{"exchange-manager.properties", "retry-policy=NONE"}}},
		},
		{
			name: "another failure of the exchange query is probe-failed",
			change: func(_ *testing.T, f *Facts) {
				f.ExchangeErr = "query 20250601_120000_00002_abcde failed: REMOTE_TASK_ERROR: worker gone"
			},
			want: []want{{check: "probe-failed", sev: Error, node: "0", msg: []string{"TASK", "worker gone"}, fix: []string{"GROUP BY"}}},
		},
		{
			name: "shutdown-not-permitted names the refused workers",
			change: func(t *testing.T, f *Facts) {
				node(t, f, "worker-2").Shutdown = ShutdownRefused
				node(t, f, "worker-1").Shutdown = ShutdownRefused
				node(t, f, "coordinator").Shutdown = ShutdownRefused // a coordinator is not drained by shutdown
			},
			want: []want{
				{check: "shutdown-not-permitted", sev: Warning, node: "worker-1", msg: []string{"worker-1", "403"}, fix: []string{"system_information", "rules.json"}},
				{check: "shutdown-not-permitted", sev: Warning, node: "worker-2", msg: []string{"worker-2", "403"}, fix: []string{"system_information", "rules.json"}},
			},
		},
		{
			name: "shutdown-not-permitted for one worker",
			change: func(t *testing.T, f *Facts) {
				node(t, f, "worker-2").Shutdown = ShutdownRefused
			},
			want: []want{{check: "shutdown-not-permitted", sev: Warning, node: "worker-2", msg: []string{"worker worker-2 "}}},
		},
		{
			name: "shutdown-unknown",
			change: func(t *testing.T, f *Facts) {
				node(t, f, "worker-1").Shutdown = "unexpected HTTP 500"
			},
			want: []want{{check: "shutdown-unknown", sev: Info, node: "worker-1", msg: []string{"worker-1", "unexpected HTTP 500"}}},
		},
		{
			name:   "group-versions-mixed with every cluster active",
			change: func(*testing.T, *Facts) {},
			fleet: Fleet{
				Versions: map[string]map[string]string{"etl": {"blue": "476", "green": "475"}},
				States:   map[string]string{"blue": "active", "green": "active"},
			},
			want: []want{{check: "group-versions-mixed", sev: Warning,
				msg: []string{"etl", "475 on green", "476 on blue"}, fix: []string{"blue/green"}}},
		},
		{
			name:   "group-versions-mixed during a switch",
			change: func(*testing.T, *Facts) {},
			fleet: Fleet{
				Versions: map[string]map[string]string{"etl": {"blue": "476", "green": "475"}},
				States:   map[string]string{"blue": "active", "green": "draining"},
			},
			want: []want{{check: "group-versions-mixed", sev: Info, msg: []string{"475 on green", "476 on blue", "not active"}}},
		},
		{
			name:   "another group's versions are not this one's",
			change: func(*testing.T, *Facts) {},
			fleet: Fleet{
				Versions: map[string]map[string]string{"etl": {"blue": "476"}, "adhoc": {"red": "476", "yellow": "470"}},
				States:   map[string]string{"blue": "active", "red": "active", "yellow": "active"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := healthy()
			tc.change(t, &f)
			expect(t, f, Analyze(f, tc.fleet), tc.want)
		})
	}
}

// TestAnalyzeCleanClusterHasNoErrorsOrWarnings is the healthy multi-node
// cluster of the brief: coordinator and two workers with 1408MiB heaps and
// pools at 70%, shutdown permitted, probe and gateway ok, event seen, TASK
// retries that ran.
func TestAnalyzeCleanClusterHasNoErrorsOrWarnings(t *testing.T) {
	f := healthy()
	fs := Analyze(f, Fleet{Versions: map[string]map[string]string{"etl": {"blue": "476"}}, States: map[string]string{"blue": "active"}})
	for _, x := range fs {
		if x.Severity != Info {
			t.Errorf("clean cluster: %s finding %s: %s", x.Severity, x.Check, x.Message)
		}
	}
	if fs == nil || len(fs) != 0 {
		t.Errorf("clean cluster: findings %s, want [] (not nil)", describe(fs))
	}
}

func TestAnalyzeSortsBySeverity(t *testing.T) {
	f := healthy()
	// Added in rule order: node-not-active (warning) before versions-mixed
	// (error), node-status-unreadable (info) before memory-over-heap
	// (error), the skipped gateway (info) before the missing event (error).
	w2 := node(t, &f, "worker-2")
	w2.State, w2.Version, w2.Shutdown = "shutting_down", "475", ""
	w1 := node(t, &f, "worker-1")
	w1.Heap, w1.Pool, w1.StatusErr = 0, 0, "timeout"
	node(t, &f, "coordinator").Pool = testHeap * 95 / 100
	f.Probe.Gateway, f.Probe.GatewaySkipped = "", "no gateway address"
	f.Event = "missing"
	fs := Analyze(f, Fleet{})
	checkSorted(t, fs)
	var sevs []Severity
	for _, x := range fs {
		sevs = append(sevs, x.Severity)
	}
	wantSevs := []Severity{Error, Error, Error, Warning, Info, Info}
	if !slices.Equal(sevs, wantSevs) {
		t.Fatalf("severities %v, want %v: %s", sevs, wantSevs, describe(fs))
	}
	// Stable within a severity: rule order.
	var errs []string
	for _, x := range fs[:3] {
		errs = append(errs, x.Check)
	}
	if want := []string{"versions-mixed", "memory-over-heap", "event-listener-missing"}; !slices.Equal(errs, want) {
		t.Errorf("errors in order %v, want %v", errs, want)
	}
}

func TestBuildCountsAndGroupVersions(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	blue := healthy()
	green := healthy()
	green.Cluster, green.Version = "green", "475"
	for i := range green.Nodes {
		green.Nodes[i].Version = "475"
	}
	green.Probe.Want = "http://gw.example:8080/_sy/green/0/v1/statement/"
	green.Probe.NextURI = green.Probe.Want + "queued/x/y/1"
	// red is another group on another version: no skew with etl.
	red := healthy()
	red.Cluster, red.Group, red.Version = "red", "adhoc", "470"
	for i := range red.Nodes {
		red.Nodes[i].Version = "470"
	}
	red.Probe.Want = "http://gw.example:8080/_sy/red/0/v1/statement/"
	red.Probe.NextURI = red.Probe.Want + "queued/x/y/1"
	red.Event = "missing"                                   // error
	node(t, &red, "worker-1").Shutdown = ShutdownRefused    // warning
	node(t, &red, "worker-2").Shutdown = "connection reset" // info
	// yellow is unreachable: its version is unknown, so it takes no part
	// in the group check.
	yellow := Facts{Cluster: "yellow", Group: "etl", State: "active", Coordinator: "0", URL: "http://10.0.9.1:8080", ReachErr: "refused"}

	t.Run("all active", func(t *testing.T) {
		r := Build(now, []Facts{blue, green, red, yellow})
		if !r.Checked.Equal(now) {
			t.Errorf("Checked %v, want %v", r.Checked, now)
		}
		if len(r.Clusters) != 4 {
			t.Fatalf("%d clusters, want 4", len(r.Clusters))
		}
		for i, name := range []string{"blue", "green", "red", "yellow"} {
			c := r.Clusters[i]
			if c.Cluster != name || c.Facts.Cluster != name || c.Group != c.Facts.Group {
				t.Errorf("cluster %d is %q (facts %q, group %q), want %q", i, c.Cluster, c.Facts.Cluster, c.Group, name)
			}
			checkSorted(t, c.Findings)
		}
		expect(t, blue, r.Clusters[0].Findings, []want{{check: "group-versions-mixed", sev: Warning, msg: []string{"475 on green", "476 on blue"}}})
		expect(t, green, r.Clusters[1].Findings, []want{{check: "group-versions-mixed", sev: Warning, msg: []string{"475 on green", "476 on blue"}}})
		expect(t, red, r.Clusters[2].Findings, []want{
			{check: "event-listener-missing", sev: Error, node: "0"},
			{check: "shutdown-not-permitted", sev: Warning, node: "worker-1"},
			{check: "shutdown-unknown", sev: Info, node: "worker-2"},
		})
		expect(t, yellow, r.Clusters[3].Findings, []want{{check: "coordinator-unreachable", sev: Error, node: "0"}})
		// Errors: red's event, yellow's reach; warnings: blue's and green's
		// skew, red's shutdown. Info is not counted.
		if r.Errors != 2 || r.Warnings != 3 {
			t.Errorf("Errors %d, Warnings %d; want 2 and 3", r.Errors, r.Warnings)
		}
	})

	t.Run("a switch in progress", func(t *testing.T) {
		g := green
		g.State = "draining"
		r := Build(now, []Facts{blue, g})
		for _, c := range r.Clusters {
			expect(t, c.Facts, c.Findings, []want{{check: "group-versions-mixed", sev: Info, msg: []string{"475 on green", "476 on blue", "not active"}}})
		}
		if r.Errors != 0 || r.Warnings != 0 {
			t.Errorf("Errors %d, Warnings %d; want 0 and 0", r.Errors, r.Warnings)
		}
	})

	t.Run("empty", func(t *testing.T) {
		r := Build(now, nil)
		if len(r.Clusters) != 0 || r.Errors != 0 || r.Warnings != 0 {
			t.Errorf("empty fleet: %+v", r)
		}
	})
}

func TestSize(t *testing.T) {
	for _, tc := range []struct {
		b    int64
		want string
	}{
		{512, "512B"},
		{mib, "1MB"},
		{1408 * mib, "1408MB"},
		{10 << 30, "10.0GB"},
		{16 << 30, "16.0GB"},
	} {
		if got := size(tc.b); got != tc.want {
			t.Errorf("size(%d) = %q, want %q", tc.b, got, tc.want)
		}
	}
}
