package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// Workload governance end to end: real Envoy, Redis, two Trino clusters
// and real clients. Each test writes its own classes into the test policy
// (e2e/testdata/governance: the class is the query's X-Trino-Source).

const govToken = "governance-admin-token"

// governancePolicy writes the test policy with the given
// data.switchyard.governance into a new directory.
func governancePolicy(t *testing.T, gov map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"routing.rego", "routing_test.rego"} {
		b, err := os.ReadFile(filepath.Join(env.Root, "e2e", "testdata", "governance", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(map[string]any{"switchyard": map[string]any{"governance": gov}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// governedConfig is the usual two clusters with the governance policy and
// an admin token; governance knobs (config section "governance") merged in.
func governedConfig(t *testing.T, gov map[string]any, knobs map[string]any) harness.GatewayConfig {
	t.Helper()
	cfg := twoClusters(deadURL(t))
	cfg.Extra = map[string]any{
		"policy": map[string]any{"dir": governancePolicy(t, gov)},
		"admin":  map[string]any{"tokens": []map[string]any{{"name": "e2e", "token": govToken, "role": "admin"}}},
	}
	if knobs != nil {
		cfg.Extra["governance"] = knobs
	}
	return cfg
}

// slowQueries are n queries of a second or two each (tpch generates sf1
// customer row by row), each tagged so the clusters' query lists show
// them.
func slowQueries(prefix string, n int, user, source string) []parallelQuery {
	run := time.Now().UnixNano()
	out := make([]parallelQuery, n)
	for i := range out {
		tag := fmt.Sprintf("%s_%d_%02d", prefix, run, i)
		out[i] = parallelQuery{Tag: tag, User: user, Source: source,
			SQL: fmt.Sprintf("SELECT '%s' AS tag, count(*) AS n FROM tpch.sf1.customer WHERE comment NOT LIKE '%%%s%%'", tag, tag)}
	}
	return out
}

// slowRows is count(*) of tpch.sf1.customer.
const slowRows = 150000

type parallelQuery struct {
	Tag    string `json:"tag"`
	SQL    string `json:"sql"`
	User   string `json:"user"`
	Source string `json:"source"`
}

type parallelResult struct {
	Tag     string  `json:"tag"`
	User    string  `json:"user"`
	QueryID string  `json:"query_id"`
	Rows    [][]any `json:"rows"`
	Error   string  `json:"error"`
	Started float64 `json:"started"`
	Ended   float64 `json:"ended"`
}

// runPythonParallel runs the queries at once, one Python client
// connection each.
func runPythonParallel(t *testing.T, server string, qs []parallelQuery) []parallelResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	spec, _ := json.Marshal(map[string]any{"server": server, "queries": qs})
	cmd := exec.CommandContext(ctx, env.PythonPath(), env.Root+"/e2e/clients/pyparallel.py")
	cmd.Stdin = strings.NewReader(string(spec))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python client: %v\nstderr: %s", err, stderr.String())
	}
	var res []parallelResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python client output: %v: %s", err, out)
	}
	return res
}

// concurrency samples both clusters' query lists until stop is called and
// reports the most queries of each user that were unfinished at once
// among those whose text contains marker.
type concurrency struct {
	mu      sync.Mutex
	max     map[string]int
	samples int
	stop    chan struct{}
	done    chan struct{}
}

func sampleConcurrency(t *testing.T, marker string) *concurrency {
	t.Helper()
	c := &concurrency{max: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			now := map[string]int{}
			ok := true
			for _, tr := range []*harness.Trino{trinoA, trinoB} {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				qs, err := tr.Queries(ctx)
				cancel()
				if err != nil {
					ok = false
					continue
				}
				for _, q := range qs {
					if strings.Contains(q.Query, marker) && q.State != "FINISHED" && q.State != "FAILED" {
						now[q.Session.User]++
					}
				}
			}
			c.mu.Lock()
			if ok {
				c.samples++
			}
			for u, n := range now {
				c.max[u] = max(c.max[u], n)
			}
			c.mu.Unlock()
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(c.Stop)
	return c
}

// Stop ends the sampling (idempotent) and returns the maxima.
func (c *concurrency) Stop() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

func (c *concurrency) Max(user string) (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.max[user], c.samples
}

// labeledMetric reads one sample of the control plane's /metrics (0 when absent).
func labeledMetric(t *testing.T, admin, name string, labels map[string]string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		match := true
		for k, v := range labels {
			if !strings.Contains(line, k+`="`+v+`"`) {
				match = false
			}
		}
		if !match {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		return v
	}
	return 0
}

// adminGet reads an admin API endpoint into v.
func adminGet(t *testing.T, admin, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+admin+path, nil)
	req.Header.Set("Authorization", "Bearer "+govToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d: %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

// checkSlowResults checks that every query succeeded with the right count.
func checkSlowResults(t *testing.T, res []parallelResult) {
	t.Helper()
	for _, r := range res {
		if r.Error != "" {
			t.Errorf("%s (%s): %s", r.Tag, r.User, r.Error)
			continue
		}
		if len(r.Rows) != 1 || len(r.Rows[0]) != 2 || fmt.Sprint(r.Rows[0][0]) != r.Tag || r.Rows[0][1] != float64(slowRows) {
			t.Errorf("%s: rows %v, want [[%s %d]]", r.Tag, r.Rows, r.Tag, slowRows)
		}
	}
}

// TestGovernanceUserLimitPython: a class with 2 running queries per user;
// 6 submitted at once from the Python client: 2 run, 4 wait in the
// gateway's queue, all 6 finish with their results, and the clusters never
// run more than 2 of them at once.
func TestGovernanceUserLimitPython(t *testing.T) {
	gov := map[string]any{"classes": map[string]any{"limited": map[string]any{"perUser": map[string]any{"maxRunning": 2, "maxQueued": 50}}}}
	g := startGateway(t, 1, governedConfig(t, gov, nil))
	qs := slowQueries("govpy", 6, "gov-alice", "limited")
	c := sampleConcurrency(t, "govpy_")
	start := time.Now()
	res := runPythonParallel(t, g.URL(0), qs)
	c.Stop()
	checkSlowResults(t, res)
	most, samples := c.Max("gov-alice")
	t.Logf("6 queries in %v; at most %d unfinished at once on the clusters (%d samples)", time.Since(start).Round(time.Millisecond), most, samples)
	if most > 2 {
		t.Errorf("the clusters ran %d of the user's queries at once, limit 2", most)
	}
	if most < 2 || samples < 10 {
		t.Errorf("most %d at once in %d samples: the test did not observe the limit being used", most, samples)
	}
	admin := g.cps[0].AdminAddr
	direct := labeledMetric(t, admin, "switchyard_governance_admitted_total", map[string]string{"class": "limited", "how": "direct"})
	queued := labeledMetric(t, admin, "switchyard_governance_admitted_total", map[string]string{"class": "limited", "how": "queued"})
	if direct != 2 || queued != 4 {
		t.Errorf("admitted %v at once and %v from the queue, want 2 and 4", direct, queued)
	}
	// Completions release the slots: nothing is left running.
	if err := harness.Poll(context.Background(), "the running slots to be released", 30*time.Second, 200*time.Millisecond, func() error {
		var u struct {
			Classes []struct {
				Name    string `json:"name"`
				Running int    `json:"running"`
			} `json:"classes"`
		}
		adminGet(t, admin, "/api/v1/governance", &u)
		for _, c := range u.Classes {
			if c.Running != 0 {
				return fmt.Errorf("class %s has %d running", c.Name, c.Running)
			}
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}
