package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/pkg/doctor"
	"github.com/switchyard-gw/switchyard/pkg/trinosize"
)

// lakeQuery is a join and an aggregation over tpch sf1's lineitem (6M
// rows) and orders (1.5M rows), kept in the shared lake: several stages on
// both workers, about 10 s on this machine.
const lakeQuery = `SELECT o.orderpriority, count(*), sum(l.linenumber), max(o.totalprice)
FROM lake.tpch.lineitem l JOIN lake.tpch.orders o ON l.orderkey = o.orderkey
GROUP BY o.orderpriority ORDER BY o.orderpriority`

// startMultiNode starts a coordinator and its workers from the profiles
// and waits until every worker is active; they are stopped (and their logs
// shown if the test failed) at the end of the test.
func startMultiNode(t *testing.T, name string, o harness.TrinoClusterOptions) *harness.TrinoCluster {
	t.Helper()
	start := time.Now()
	mn, err := env.StartTrinoCluster(name, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("\n" + harness.Dump(mn.Procs(), 60))
		}
		mn.Stop()
	})
	if err := mn.WaitReady(context.Background(), 4*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: a coordinator and %d workers ready in %v", name, len(mn.Workers), time.Since(start).Round(time.Second))
	return mn
}

// loadLake copies tpch sf1's lineitem and orders (the columns lakeQuery
// reads) into the cluster's lake.
func loadLake(t *testing.T, mn *harness.TrinoCluster) {
	t.Helper()
	ctx := context.Background()
	for _, sql := range []string{
		"CREATE SCHEMA lake.tpch",
		"CREATE TABLE lake.tpch.lineitem AS SELECT orderkey, linenumber FROM tpch.sf1.lineitem",
		"CREATE TABLE lake.tpch.orders AS SELECT orderkey, orderpriority, totalprice FROM tpch.sf1.orders",
	} {
		if _, err := harness.RunQuery(ctx, mn.URL, "harness", sql, nil); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}

// multiNodeGateway fronts the multi-node cluster alone (group adhoc).
func multiNodeGateway(t *testing.T, mn *harness.TrinoCluster) *gateway {
	t.Helper()
	cfg := withAdmin(harness.GatewayConfig{DefaultGroup: "adhoc", Groups: []string{"adhoc"}, Clusters: []harness.ClusterSpec{
		{Name: "mn", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{{URL: mn.URL}}},
	}})
	return startGatewayFor(t, 1, cfg, "trino_mn")
}

// TestMultiNodeCluster runs a coordinator and two workers started from
// deploy/trino/profiles (base, fte) and sized by the calculator, behind the
// gateway: the doctor finds nothing wrong with it; a worker killed in the
// middle of a query does not fail it under retry-policy=TASK and does under
// NONE; a drain with worker shutdown waits for a running query, then the
// workers shut down gracefully.
func TestMultiNodeCluster(t *testing.T) {
	mn := startMultiNode(t, "trino-mn", harness.TrinoClusterOptions{
		Workers: 2, FTE: true,
		// A worker that stops answering fails its tasks after 10 s (the
		// profile's 1m is for production), and the first retry waits 1 s:
		// the test's time, not the behaviour.
		Extra:       []string{"query.remote-task.max-error-duration=10s", "retry-initial-delay=1s"},
		WorkerExtra: []string{"shutdown.grace-period=3s"},
	})
	loadLake(t, mn)
	g := multiNodeGateway(t, mn)
	ctx := context.Background()

	t.Run("doctor finds nothing wrong", func(t *testing.T) {
		rep, out, err := runDoctor(ctx, g, "mn")
		if err != nil {
			t.Fatalf("switchyard doctor: %v\n%s", err, out)
		}
		t.Logf("switchyard doctor --cluster mn:\n%s", out)
		if rep.Errors != 0 || rep.Warnings != 0 {
			t.Fatalf("%d errors and %d warnings on a cluster started from the profiles:\n%s", rep.Errors, rep.Warnings, out)
		}
		if len(rep.Clusters) != 1 {
			t.Fatalf("%d clusters in the report", len(rep.Clusters))
		}
		f := rep.Clusters[0].Facts
		if len(f.Nodes) != 3 || f.RetryPolicy != "TASK" || f.Probe.Gateway != "ok" || f.Event != "seen" || f.Memory == nil {
			t.Fatalf("the doctor did not read everything: nodes %d, retry policy %q, gateway %q, event %q, memory metrics %v (%s)",
				len(f.Nodes), f.RetryPolicy, f.Probe.Gateway, f.Event, f.Memory, f.MetricsErr)
		}
		// Every node runs with what the calculator computed for its size:
		// the heap of -Xmx and the pool the heap minus the headroom.
		for _, n := range f.Nodes {
			if !n.Coordinator && n.Shutdown != "permitted" {
				t.Errorf("worker %s: shutdown %q, want permitted", n.ID, n.Shutdown)
			}
			role := trinosize.Worker
			if n.Coordinator {
				role = trinosize.Coordinator
			}
			heap, headroom := calculated(t, role)
			if n.Heap != heap || n.Pool != heap-headroom {
				t.Errorf("node %s: heap %d and pool %d, want the calculator's %d and %d", n.ID, n.Heap, n.Pool, heap, heap-headroom)
			}
			// The machine's memory, read from the node's JVM (JMX).
			if n.Memory < heap || n.MemoryErr != "" {
				t.Errorf("node %s: machine memory %d (%s)", n.ID, n.Memory, n.MemoryErr)
			}
		}
	})

	want, err := harness.RunQuery(ctx, g.URL(0), "alice", lakeQuery, nil)
	if err != nil {
		t.Fatalf("the query without a kill: %v", err)
	}
	if len(want) != 5 {
		t.Fatalf("the query returned %d rows, want 5 (one per order priority): %v", len(want), want)
	}

	t.Run("a worker killed mid-query under retry-policy TASK", func(t *testing.T) {
		rows, kill, qerr := killWorkerMidQuery(t, mn, g, nil)
		defer restartWorker(t, mn, kill.index) // for the next subtests, pass or fail
		t.Logf("killed %s at %v, when %s", kill.worker, kill.after.Round(time.Millisecond), kill.stages)
		if qerr != nil {
			t.Fatalf("the query failed after the kill: %v", qerr)
		}
		if !reflect.DeepEqual(rows, want) {
			t.Fatalf("rows after the kill:\n%v\nwant (without the kill):\n%v", rows, want)
		}
		// Trino retried tasks: some task ran a second attempt.
		if kill.retried == 0 {
			t.Fatalf("the query succeeded without retrying a task: the kill did not land mid-query")
		}
		t.Logf("%d task attempts were retries", kill.retried)
	})

	t.Run("the same kill under retry-policy NONE fails the query", func(t *testing.T) {
		_, kill, qerr := killWorkerMidQuery(t, mn, g, map[string]string{"X-Trino-Session": "retry_policy=NONE"})
		defer restartWorker(t, mn, kill.index)
		t.Logf("killed %s at %v, when %s", kill.worker, kill.after.Round(time.Millisecond), kill.stages)
		if qerr == nil {
			t.Fatal("the query succeeded although a worker running its tasks was killed and nothing retries them")
		}
		// The errors Trino gives a query whose worker is gone.
		lost := false
		for _, name := range []string{"REMOTE_HOST_GONE", "REMOTE_TASK_ERROR", "REMOTE_TASK_MISMATCH", "TOO_MANY_REQUESTS_FAILED", "PAGE_TRANSPORT_ERROR", "PAGE_TRANSPORT_TIMEOUT"} {
			lost = lost || strings.HasPrefix(qerr.Error(), name+":")
		}
		if !lost {
			t.Fatalf("the query failed, but not for the lost worker: %v", qerr)
		}
		t.Logf("the query failed as it must: %v", qerr)
	})

	t.Run("drain with worker shutdown", func(t *testing.T) {
		drainWithWorkerShutdown(t, mn, g)
	})
}

// calculated is the heap and headroom `switchyard trino config` gives a
// node of the harness's default size (2GiB, 2 cores) in a cluster of two
// workers with fault-tolerant execution.
func calculated(t *testing.T, role trinosize.Role) (heap, headroom int64) {
	t.Helper()
	r, err := trinosize.Compute(trinosize.Input{Memory: 2 << 30, Cores: 2, Role: role, Workers: 2, FTE: true})
	if err != nil {
		t.Fatal(err)
	}
	jvm, _ := r.File("jvm.config")
	cfg, _ := r.File("config.properties")
	xmx, _ := jvm.Option("-Xmx")
	hr, _ := cfg.Get("memory.heap-headroom-per-node")
	if heap, err = trinosize.ParseSize(xmx + "iB"); err != nil {
		t.Fatalf("-Xmx%s: %v", xmx, err)
	}
	if headroom, err = trinosize.ParseSize(hr); err != nil {
		t.Fatalf("headroom %s: %v", hr, err)
	}
	return heap, headroom
}

// killed describes a worker kill.
type killed struct {
	worker  string
	index   int
	after   time.Duration
	stages  string
	retried int
}

// killWorkerMidQuery submits lakeQuery through the gateway, watches its
// stages on the coordinator and kills -9 a worker once a stage is running
// a task there, then reads the query to its end through the gateway.
func killWorkerMidQuery(t *testing.T, mn *harness.TrinoCluster, g *gateway, headers map[string]string) ([][]any, killed, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	qr, err := harness.Submit(ctx, g.URL(0), "alice", lakeQuery, headers)
	if err != nil {
		t.Fatal(err)
	}
	if qr.Error != nil {
		t.Fatalf("submission: %s", qr.Error.Message)
	}
	var k killed
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := harness.Poll(ctx, "a stage running a task on a worker", 2*time.Minute, 50*time.Millisecond, func() error {
			info, err := stageInfo(ctx, mn.Coordinator, qr.ID)
			if err != nil {
				return err
			}
			if info.State == "FINISHED" || info.State == "FAILED" {
				return harness.Permanent(fmt.Errorf("the query ended (%s) before a kill could land", info.State))
			}
			for _, s := range info.stages() {
				if s.State != "RUNNING" {
					continue
				}
				for _, task := range s.Tasks {
					if task.TaskStatus.State != "RUNNING" {
						continue
					}
					for i, w := range mn.Workers {
						if strings.Contains(task.TaskStatus.Self, fmt.Sprintf(":%d/", w.Port)) {
							k = killed{worker: w.Name, index: i, after: time.Since(start), stages: info.describe()}
							w.Kill()
							return nil
						}
					}
				}
			}
			return fmt.Errorf("state %s: %s", info.State, info.describe())
		})
		if err != nil {
			t.Error(err)
		}
	}()
	rows := qr.Data
	var qerr error
	for i := 0; qr.NextURI != "" && i < 100000; i++ {
		if qr, err = harness.Fetch(ctx, http.MethodGet, qr.NextURI); err != nil {
			qerr = err
			break
		}
		rows = append(rows, qr.Data...)
		if qr.Error != nil {
			qerr = fmt.Errorf("%s: %s", qr.Error.ErrorName, qr.Error.Message)
			break
		}
	}
	<-done
	if k.worker == "" {
		t.FailNow()
	}
	if info, err := stageInfo(ctx, mn.Coordinator, qr.ID); err == nil {
		for _, s := range info.stages() {
			for _, task := range s.Tasks {
				if !strings.HasSuffix(task.TaskStatus.TaskID, ".0") {
					k.retried++
				}
			}
		}
	}
	return rows, k, qerr
}

// restartWorker starts a killed worker again and waits until both are
// active.
func restartWorker(t *testing.T, mn *harness.TrinoCluster, i int) {
	t.Helper()
	if err := mn.RestartWorker(i); err != nil {
		t.Fatal(err)
	}
	if err := mn.WaitWorkers(context.Background(), len(mn.Workers), 3*time.Minute); err != nil {
		t.Fatal(err)
	}
}

// coordinatorQuery is the part of GET /v1/query/{id} the tests read.
type coordinatorQuery struct {
	State       string `json:"state"`
	RetryPolicy string `json:"retryPolicy"`
	OutputStage *stage `json:"outputStage"`
}

type stage struct {
	StageID string `json:"stageId"`
	State   string `json:"state"`
	Tasks   []struct {
		TaskStatus struct {
			TaskID string `json:"taskId"`
			State  string `json:"state"`
			Self   string `json:"self"`
		} `json:"taskStatus"`
	} `json:"tasks"`
	SubStages []*stage `json:"subStages"`
}

func (q coordinatorQuery) stages() []*stage {
	var out []*stage
	var walk func(s *stage)
	walk = func(s *stage) {
		if s == nil {
			return
		}
		out = append(out, s)
		for _, c := range s.SubStages {
			walk(c)
		}
	}
	walk(q.OutputStage)
	return out
}

func (q coordinatorQuery) describe() string {
	var parts []string
	for _, s := range q.stages() {
		id := s.StageID[strings.LastIndex(s.StageID, ".")+1:]
		parts = append(parts, fmt.Sprintf("stage %s %s (%d tasks)", id, s.State, len(s.Tasks)))
	}
	if len(parts) == 0 {
		return "no stage yet"
	}
	return strings.Join(parts, ", ")
}

// stageInfo reads a query's stages on the coordinator (410 Gone until
// Trino has its info: an error to poll past).
func stageInfo(ctx context.Context, tr *harness.Trino, id string) (coordinatorQuery, error) {
	var q coordinatorQuery
	return q, getJSON(ctx, tr, "/v1/query/"+id, &q)
}

// drainWithWorkerShutdown holds a query RUNNING on the cluster (its output
// unread), drains the cluster with --shutdown-workers: the drain waits for
// the query, which then succeeds; the workers shut down gracefully (exit
// status 0) and the coordinator keeps serving.
func drainWithWorkerShutdown(t *testing.T, mn *harness.TrinoCluster, g *gateway) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// retry_policy NONE: the query's output stays in the workers' buffers
	// and the query RUNNING until it is read (with TASK it would be
	// spooled to the exchange and finish at once).
	qr, err := harness.Submit(ctx, g.URL(0), "alice", heldSQL, map[string]string{"X-Trino-Session": "retry_policy=NONE"})
	if err != nil {
		t.Fatal(err)
	}
	qr, retried, err := advanceUntilRunning(ctx, qr)
	if err != nil {
		t.Fatal(err)
	}
	drainOut, drained := drainCountingOne(t, g, "mn", "--shutdown-workers")
	for _, w := range mn.Workers {
		if w.Exited() {
			t.Fatalf("%s exited while the drain waited for the query:\n%s", w.Name, w.Tail(20))
		}
	}
	rows := len(qr.Data)
	for i := 0; qr.NextURI != "" && i < 100000; i++ {
		var n int
		if qr, n, err = harness.FetchRetries(ctx, http.MethodGet, qr.NextURI); err != nil {
			t.Fatal(err)
		}
		retried += n
		if qr.Error != nil {
			t.Fatalf("the query running during the drain failed: %s: %s", qr.Error.ErrorName, qr.Error.Message)
		}
		rows += len(qr.Data)
	}
	if rows != 300000 || retried != 0 {
		t.Fatalf("the query running during the drain: %d rows (want 300000), %d retried polls (want 0)", rows, retried)
	}
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("drain --wait: %v\n%s", err, drainOut.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("the drain did not complete after the query finished:\n%s", drainOut.String())
	}
	t.Logf("drain output:\n%s", drainOut.String())
	// Each worker shuts down gracefully: it exits by itself, with status 0,
	// after logging Trino's shutdown sequence.
	for _, w := range mn.Workers {
		select {
		case <-w.Done():
		case <-time.After(2 * time.Minute):
			t.Fatalf("%s did not shut down:\n%s", w.Name, w.Tail(20))
		}
		if err := w.ExitErr(); err != nil {
			t.Errorf("%s exited with %v, want status 0 (a graceful shutdown):\n%s", w.Name, err, w.Tail(20))
		}
		log, _ := os.ReadFile(w.LogPath)
		if !strings.Contains(string(log), "Shutdown requested") {
			t.Errorf("%s's log has no graceful shutdown", w.Name)
		}
	}
	if mn.Coordinator.Exited() {
		t.Fatal("the coordinator exited: only workers shut down")
	}
	var list []struct {
		Name  string `json:"name"`
		Drain *struct {
			WorkersShutDown []string `json:"workersShutDown"`
		} `json:"drain"`
	}
	out, err := cli(ctx, g, "cluster", "list", "--json")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].Drain == nil || len(list[0].Drain.WorkersShutDown) != len(mn.Workers) {
		t.Fatalf("the drain does not record %d workers shut down (%v): %s", len(mn.Workers), err, out)
	}
}

// runDoctor runs `switchyard doctor --cluster NAME` against the gateway's
// admin API, in JSON (decoded) and as text (returned for the log); err is
// the text run's exit (status 1 when a finding is an error).
func runDoctor(ctx context.Context, g *gateway, cluster string) (doctor.Report, string, error) {
	var rep doctor.Report
	js, jerr := cli(ctx, g, "doctor", "--cluster", cluster, "--format", "json")
	if err := json.Unmarshal([]byte(js[:strings.LastIndex(js, "}")+1]), &rep); err != nil {
		return rep, js, fmt.Errorf("decoding the report: %v (exit: %v)", err, jerr)
	}
	text, err := cli(ctx, g, "doctor", "--cluster", cluster)
	if (err == nil) != (jerr == nil) {
		return rep, text, fmt.Errorf("the text run exited with %v, the JSON run with %v", err, jerr)
	}
	return rep, text, err
}

// TestDoctorFindsMisconfigurations seeds a real cluster (a coordinator and
// a worker) with four mistakes operators make: forwarded headers off, the
// event listener sending elsewhere, graceful shutdown not permitted to the
// gateway (access rules without system_information), and a worker whose
// query memory pool leaves almost no heap headroom; and a second cluster
// with retry-policy=TASK and no exchange manager. The doctor reports each,
// with its fix, and exits non-zero.
func TestDoctorFindsMisconfigurations(t *testing.T) {
	ctx := context.Background()
	// Started first, so it starts while the other cluster does.
	nofte, err := env.StartTrino("trino-nofte", harness.TrinoOptions{Extra: []string{"retry-policy=TASK"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("\n" + harness.Dump([]*harness.Proc{nofte.Proc}, 40))
		}
		nofte.Stop()
	})
	mn := startMultiNode(t, "trino-bad", harness.TrinoClusterOptions{
		Workers:          1,
		CoordinatorExtra: []string{"http-server.process-forwarded=false"},
		WorkerExtra:      []string{"memory.heap-headroom-per-node=64MB"},
		Files: map[string]string{
			"rules.json": `{"catalogs": [{"allow": "all"}]}`,
			// Events to an address where nothing listens, not to this
			// control plane.
			"http-event-listener.properties": "event-listener.name=http\nhttp-event-listener.connect-ingest-uri=http://127.0.0.1:9/v1/events\nhttp-event-listener.log-completed=true\n",
		},
	})
	// Every query fails on it, so WaitReady cannot tell it is up: wait for
	// the refusal instead.
	err = harness.Poll(ctx, "trino-nofte to refuse queries for lack of an exchange manager", 3*time.Minute, 250*time.Millisecond, func() error {
		if nofte.Exited() {
			return harness.Permanent(fmt.Errorf("trino-nofte exited:\n%s", nofte.Tail(30)))
		}
		_, err := nofte.Query(ctx, "SELECT 1")
		if err != nil && doctor.ExchangeManagerMissing(err.Error()) {
			return nil
		}
		return fmt.Errorf("SELECT 1: %v", err)
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := withAdmin(harness.GatewayConfig{DefaultGroup: "adhoc", Groups: []string{"adhoc", "batch"}, Clusters: []harness.ClusterSpec{
		{Name: "bad", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{{URL: mn.URL}}},
		{Name: "nofte", Group: "batch", Coordinators: []harness.CoordinatorSpec{{URL: nofte.URL}}},
	}})
	g := startGatewayFor(t, 1, cfg, "trino_bad", "trino_nofte")

	nrep, nout, err := runDoctor(ctx, g, "nofte")
	t.Logf("switchyard doctor --cluster nofte:\n%s", nout)
	if err == nil || len(nrep.Clusters) != 1 {
		t.Fatalf("the doctor on nofte: exit %v, %d clusters", err, len(nrep.Clusters))
	}
	if fs := nrep.Clusters[0].Findings; len(fs) == 0 || fs[0].Check != "fte-without-exchange-manager" || fs[0].Severity != doctor.Error {
		t.Fatalf("nofte: findings %+v, want fte-without-exchange-manager first", fs)
	}
	for _, f := range nrep.Clusters[0].Findings {
		if f.Check == "gateway-round-trip" || f.Check == "probe-failed" {
			t.Errorf("nofte: %s blamed on the gateway or the probe: %s", f.Check, f.Message)
		}
	}

	rep, out, err := runDoctor(ctx, g, "bad")
	t.Logf("switchyard doctor --cluster bad:\n%s", out)
	if err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("the doctor exited with %v, want exit status 1 (error findings)", err)
	}
	if len(rep.Clusters) != 1 {
		t.Fatalf("%d clusters in the report", len(rep.Clusters))
	}
	found := map[string]doctor.Finding{}
	for _, f := range rep.Clusters[0].Findings {
		found[f.Check] = f
	}
	worker := mn.Workers[0].Name
	for _, want := range []struct {
		check string
		sev   doctor.Severity
		node  string
	}{
		{"forwarded-headers-off", doctor.Error, ""},
		{"event-listener-missing", doctor.Error, ""},
		{"shutdown-not-permitted", doctor.Warning, worker},
		{"memory-over-heap", doctor.Error, worker},
	} {
		f, ok := found[want.check]
		switch {
		case !ok:
			t.Errorf("the doctor did not find %s", want.check)
		case f.Severity != want.sev:
			t.Errorf("%s: severity %s, want %s", want.check, f.Severity, want.sev)
		case want.node != "" && f.Node != want.node:
			t.Errorf("%s: node %q, want %q", want.check, f.Node, want.node)
		case f.Fix == "":
			t.Errorf("%s has no fix", want.check)
		}
	}
	if t.Failed() {
		b, _ := json.MarshalIndent(rep, "", "  ")
		t.Logf("the JSON report:\n%s", b)
	}
	if rep.Errors < 3 {
		t.Errorf("%d errors, want at least 3", rep.Errors)
	}
	if !strings.Contains(out, "fix: ") {
		t.Errorf("the text report shows no fix")
	}
}

// spillQuery aggregates tpch sf1's lineitem by (orderkey, partkey): 6M
// groups, a hash table of about 300MB.
const spillQuery = `SELECT count(*), sum(c), max(s), min(s) FROM (
SELECT orderkey, partkey, count(*) c, sum(quantity) s FROM tpch.sf1.lineitem GROUP BY orderkey, partkey)`

// TestSpill runs a coordinator and a worker from the base and spill
// profiles with a 64MB per-node query memory limit: the aggregation fails
// with EXCEEDED_LOCAL_MEMORY_LIMIT when the session turns spill off, and
// with the profile's spill on it succeeds, spilling to disk, with the
// result a cluster without the limit gives.
func TestSpill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	mn := startMultiNode(t, "trino-spill", harness.TrinoClusterOptions{
		Workers: 1, Spill: true,
		Extra: []string{"query.max-memory-per-node=64MB", "query.max-memory=64MB"},
	})
	_, err := harness.RunQuery(ctx, mn.URL, "alice", spillQuery, map[string]string{"X-Trino-Session": "spill_enabled=false"})
	if err == nil || !strings.Contains(err.Error(), "EXCEEDED_LOCAL_MEMORY_LIMIT") {
		t.Fatalf("without spill: %v, want EXCEEDED_LOCAL_MEMORY_LIMIT", err)
	}
	t.Logf("without spill: %v", err)
	want, err := harness.RunQuery(ctx, trinoA.URL, "alice", spillQuery, nil)
	if err != nil {
		t.Fatalf("on a cluster without the limit: %v", err)
	}
	qr, err := harness.Submit(ctx, mn.URL, "alice", spillQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := qr.ID
	got := qr.Data
	for i := 0; qr.NextURI != "" && qr.Error == nil && i < 100000; i++ {
		if qr, err = harness.Fetch(ctx, http.MethodGet, qr.NextURI); err != nil {
			t.Fatal(err)
		}
		got = append(got, qr.Data...)
	}
	if qr.Error != nil {
		t.Fatalf("with spill: %s: %s", qr.Error.ErrorName, qr.Error.Message)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("with spill: %v, want %v", got, want)
	}
	var info struct {
		QueryStats struct {
			SpilledDataSize string `json:"spilledDataSize"`
		} `json:"queryStats"`
	}
	if err := getJSON(ctx, mn.Coordinator, "/v1/query/"+id, &info); err != nil {
		t.Fatal(err)
	}
	if info.QueryStats.SpilledDataSize == "" || info.QueryStats.SpilledDataSize == "0B" {
		t.Fatalf("the query succeeded without spilling (spilledDataSize %q)", info.QueryStats.SpilledDataSize)
	}
	t.Logf("with spill: %v, %s spilled", got, info.QueryStats.SpilledDataSize)
}
