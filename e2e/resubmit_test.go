package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// serialSource is the X-Trino-Source whose queries the killable clusters
// run one at a time (resource group "serial"); the others queue behind.
const serialSource = "e2e-serial"

// killableResourceGroups makes queries from serialSource queue on a
// coordinator: the resource group runs one at a time. Everything else
// runs as usual.
var killableResourceGroups = map[string]string{
	"resource-groups.properties": "resource-groups.configuration-manager=file\nresource-groups.config-file={{.Etc}}/resource-groups.json\n",
	"resource-groups.json": `{
  "rootGroups": [
    {"name": "global", "softMemoryLimit": "100%", "hardConcurrencyLimit": 100, "maxQueued": 1000},
    {"name": "serial", "softMemoryLimit": "100%", "hardConcurrencyLimit": 1, "maxQueued": 100}
  ],
  "selectors": [
    {"source": "` + serialSource + `", "group": "serial"},
    {"group": "global"}
  ]
}`,
}

// TestResubmission kills a coordinator holding three queries of a group
// with two clusters (c active, d activated just before the kill):
//   - a read-only query QUEUED on c (a Python client with max_attempts=1,
//     so nothing is retried by the client) finishes with the right rows
//     from cluster d: the gateway resubmitted it, the client saw no error;
//   - a query whose first rows the client had already read ends with
//     COORDINATOR_UNREACHABLE naming cluster c and saying why it was not
//     resubmitted;
//   - a write (INSERT) queued on c ends with the same clear error: it is
//     never run twice.
func TestResubmission(t *testing.T) {
	c, d := killable(t)
	ensureUp(t, c)
	ensureUp(t, d)
	t.Cleanup(func() { ensureUp(t, c) })
	cfg := withAdmin(harness.GatewayConfig{
		DefaultGroup: "adhoc", Groups: []string{"adhoc"},
		Clusters: []harness.ClusterSpec{
			{Name: "c", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{{URL: c.URL}}},
			{Name: "d", Group: "adhoc", State: "inactive", Coordinators: []harness.CoordinatorSpec{{URL: d.URL}}},
		},
	})
	g := startGatewayWithClusters(t, cfg, "trino_c", "trino_d")
	ctx := context.Background()
	serial := map[string]string{"X-Trino-Source": serialSource}

	// 1. A blocker runs in the serial group on c, so the next serial
	// queries queue there.
	blocker, err := harness.Submit(ctx, g.URL(0), "e2e", fmt.Sprintf(slowSQL, "blocker"), serial)
	if err != nil || blocker.Error != nil {
		t.Fatalf("blocker: %v %+v", err, blocker)
	}
	if cl, _ := routeOf(t, blocker.NextURI); cl != "c" {
		t.Fatalf("blocker went to %s; want c (d is inactive)", cl)
	}
	if blocker, _, err = advanceUntilRunning(ctx, blocker); err != nil {
		t.Fatal(err)
	}

	// 2. A query whose first rows the client has read.
	read, err := harness.Submit(ctx, g.URL(0), "e2e", heldSQL, nil)
	if err != nil || read.Error != nil {
		t.Fatalf("read query: %v %+v", err, read)
	}
	rows := 0
	if err := harness.Poll(ctx, "the first rows of the read query", time.Minute, time.Millisecond, func() error {
		if read.NextURI == "" {
			return fmt.Errorf("query %s ended before the kill", read.ID)
		}
		if read, err = harness.Fetch(ctx, http.MethodGet, read.NextURI); err != nil {
			return err
		}
		if rows += len(read.Data); rows == 0 {
			return fmt.Errorf("no rows yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// 3. A write, queued behind the blocker.
	write, err := harness.Submit(ctx, g.URL(0), "e2e", "CREATE TABLE memory.default.resubmit_never AS SELECT 1 AS x", serial)
	if err != nil || write.Error != nil {
		t.Fatalf("write: %v %+v", err, write)
	}

	// 4. The read-only query, queued behind the blocker, from a real
	// client that does not retry.
	const tag = "e2e-resubmit-queued"
	sql := "SELECT count(*), sum(nationkey) FROM tpch.tiny.nation WHERE name <> '" + tag + "'"
	py := startPython(t, g.URL(0), serialSource, []taggedQuery{{Tag: tag, SQL: sql}})
	var queuedID string
	if err := harness.Poll(ctx, "the Python client's query to queue on c", time.Minute, 50*time.Millisecond, func() error {
		if py.finished() {
			t.Fatalf("the Python client ended before its query queued: %v %+v", py.err, py.out)
		}
		qs, err := c.Queries(ctx)
		if err != nil {
			return err
		}
		for _, q := range qs {
			if strings.Contains(q.Query, tag) {
				if q.State != "QUEUED" {
					return fmt.Errorf("query %s is %s on c; want QUEUED", q.QueryID, q.State)
				}
				queuedID = q.QueryID
				return nil
			}
		}
		return fmt.Errorf("not on c yet")
	}); err != nil {
		t.Fatal(err)
	}

	// 5. d takes queries again; c dies.
	if out, err := cli(ctx, g, "cluster", "activate", "d"); err != nil {
		t.Fatalf("activate d: %v: %s", err, out)
	}
	c.Kill()

	res := py.wait(t)
	if len(res) != 1 || res[0].Error != "" {
		t.Fatalf("the queued read-only query (%s on c) failed through the gateway: %+v; want it resubmitted to d", queuedID, res)
	}
	if len(res[0].Rows) != 1 || normalise(res[0].Rows[0]...) != "25,300" {
		t.Errorf("resubmitted query returned %v; want [[25 300]]", res[0].Rows)
	}
	onD := false
	qs, err := d.Queries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		onD = onD || (strings.Contains(q.Query, tag) && q.State == "FINISHED")
	}
	if !onD {
		t.Errorf("cluster d has no finished query tagged %s: the rows did not come from d", tag)
	}
	if n := metricValue(t, g, `switchyard_resubmit_polls_total{outcome="resubmitted"}`); n < 1 {
		t.Errorf("switchyard_resubmit_polls_total{outcome=\"resubmitted\"} = %v, want >= 1", n)
	}

	for _, q := range []struct {
		name string
		qr   *harness.QueryResults
		want string
	}{
		{"the query with rows read", read, "had started reading its results"},
		{"the write", write, "not kept for resubmission"},
	} {
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		got, retried, err := harness.FetchRetries(pctx, http.MethodGet, q.qr.NextURI)
		cancel()
		if err != nil || retried != 0 {
			t.Errorf("%s: poll after the kill: %v (%d 502-504 retried); want a FAILED QueryResults at once", q.name, err, retried)
			continue
		}
		if got.Error == nil || got.Error.ErrorName != "COORDINATOR_UNREACHABLE" || !strings.Contains(got.Error.Message, "cluster c") || !strings.Contains(got.Error.Message, q.want) {
			t.Errorf("%s: poll after the kill answered %+v; want COORDINATOR_UNREACHABLE naming cluster c and saying %q", q.name, got.Error, q.want)
		} else {
			t.Logf("%s: %s", q.name, got.Error.Message)
		}
	}
	if _, err := harness.Fetch(ctx, http.MethodDelete, blocker.NextURI); err != nil {
		t.Errorf("cancel of the blocker on the dead coordinator: %v", err)
	}
}

// pyRun is a Python client run in the background.
type pyRun struct {
	done chan struct{}
	out  []pyResult
	err  error
}

// startPython runs queries through the Python client (max_attempts=1,
// X-Trino-Source source) without waiting for them.
func startPython(t *testing.T, server, source string, qs []taggedQuery) *pyRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	spec, _ := json.Marshal(map[string]any{"server": server, "user": "e2e", "source": source, "queries": qs, "max_attempts": 1})
	cmd := exec.CommandContext(ctx, env.PythonPath(), env.Root+"/e2e/clients/pyclient.py")
	cmd.Stdin = strings.NewReader(string(spec))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	r := &pyRun{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer cancel()
		out, err := cmd.Output()
		if err != nil {
			r.err = fmt.Errorf("python client: %v\nstderr: %s", err, stderr.String())
			return
		}
		if err := json.Unmarshal(out, &r.out); err != nil {
			r.err = fmt.Errorf("python client output: %v: %s", err, out)
		}
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func (r *pyRun) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (r *pyRun) wait(t *testing.T) []pyResult {
	t.Helper()
	<-r.done
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.out
}

// metricValue reads one sample from the first replica's /metrics (0 when
// absent).
func metricValue(t *testing.T, g *gateway, sample string) float64 {
	t.Helper()
	return replicaMetric(t, g.cps[0], sample)
}

// replicaMetric adds the samples of a replica's /metrics with the name and
// (at least) the labels of sample (0 when there are none).
func replicaMetric(t *testing.T, cp *harness.Switchyard, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + cp.AdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return sumSamples(string(b), sample)
}

// sumSamples adds the values of the samples in Prometheus text that have
// the name of sample (name{label="value",...}) and at least its labels.
func sumSamples(text, sample string) float64 {
	name, want := splitSample(sample)
	total := 0.0
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, labels := splitSample(series)
		if n != name {
			continue
		}
		match := true
		for _, l := range want {
			match = match && slices.Contains(labels, l)
		}
		var f float64
		if _, err := fmt.Sscan(value, &f); match && err == nil {
			total += f
		}
	}
	return total
}

// splitSample splits name{a="1",b="2"} into its name and its label pairs
// (label values without commas, as the tests use them).
func splitSample(s string) (string, []string) {
	name, rest, ok := strings.Cut(s, "{")
	if !ok {
		return s, nil
	}
	return name, strings.Split(strings.TrimSuffix(rest, "}"), ",")
}
