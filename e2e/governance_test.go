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
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/coordinator"
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
		"admin":  map[string]any{"tokens": []map[string]any{{"name": "e2e", "tokenHash": config.HashToken(govToken), "role": "admin"}}},
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
	res, err := pythonParallel(server, qs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// pythonParallel is runPythonParallel for other goroutines than the
// test's.
func pythonParallel(server string, qs []parallelQuery) ([]parallelResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	spec, _ := json.Marshal(map[string]any{"server": server, "queries": qs})
	cmd := exec.CommandContext(ctx, env.PythonPath(), env.Root+"/e2e/clients/pyparallel.py")
	cmd.Stdin = strings.NewReader(string(spec))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("python client: %v\nstderr: %s", err, stderr.String())
	}
	var res []parallelResult
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("python client output: %v: %s", err, out)
	}
	return res, nil
}

// concurrency watches both clusters' query lists until stop is called and
// reports the most queries that were unfinished at once among those whose
// text contains marker: per user, per cluster ("cluster:a") and in all
// ("*"). "At once" is from the coordinators' own times (each query from
// its creation to its end, on one machine's clock), not from the samples:
// reading two lists is never one instant, and on a loaded machine a query
// that ended on one cluster was once counted with its successor on the
// other. The samples only collect the queries (and count the reads).
type concurrency struct {
	mu      sync.Mutex
	seen    map[string]watched // by query ID
	samples int
	stop    chan struct{}
	done    chan struct{}
}

type watched struct {
	user, cluster  string
	created, ended time.Time // ended zero: not seen ending
}

func sampleConcurrency(t *testing.T, marker string) *concurrency {
	t.Helper()
	c := &concurrency{seen: map[string]watched{}, stop: make(chan struct{}), done: make(chan struct{})}
	read := func() bool {
		ok := true
		for i, tr := range []*harness.Trino{trinoA, trinoB} {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			qs, err := tr.Queries(ctx)
			cancel()
			if err != nil {
				ok = false
				continue
			}
			c.mu.Lock()
			for _, q := range qs {
				if !strings.Contains(q.Query, marker) || q.QueryStats.CreateTime.IsZero() {
					continue
				}
				w := watched{user: q.Session.User, cluster: []string{"a", "b"}[i], created: q.QueryStats.CreateTime, ended: q.QueryStats.EndTime}
				if w.ended.IsZero() && (q.State == "FINISHED" || q.State == "FAILED") {
					w.ended = w.created // ended without a time: not running
				}
				c.seen[q.QueryID] = w
			}
			c.mu.Unlock()
		}
		return ok
	}
	go func() {
		defer close(c.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			ok := read()
			c.mu.Lock()
			if ok {
				c.samples++
			}
			c.mu.Unlock()
			select {
			case <-c.stop:
				read() // the ends of the last queries
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(c.Stop)
	return c
}

// Stop ends the watching (idempotent).
func (c *concurrency) Stop() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

// Max returns the most queries of key (a user, "cluster:a" or "*") that
// were unfinished at once, and the number of reads.
func (c *concurrency) Max(key string) (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	now := time.Now()
	for _, w := range c.seen {
		if key != "*" && key != w.user && key != "cluster:"+w.cluster {
			continue
		}
		end := w.ended
		if end.IsZero() {
			end = now
		}
		edges = append(edges, edge{w.created, 1}, edge{end, -1})
	}
	// An end before a start at the same instant: a query that ended as
	// the next began did not run with it.
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at.Equal(edges[j].at) {
			return edges[i].delta < edges[j].delta
		}
		return edges[i].at.Before(edges[j].at)
	})
	most, n := 0, 0
	for _, e := range edges {
		n += e.delta
		most = max(most, n)
	}
	return most, c.samples
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

// cliParallel runs one trino CLI process per query, all at once, and
// returns each one's output or error by tag.
func cliParallel(t *testing.T, server string, qs []parallelQuery) map[string]string {
	t.Helper()
	out := make(map[string]string, len(qs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, q := range qs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, env.JavaHome+"/bin/java", "--enable-native-access=ALL-UNNAMED", "-jar", env.TrinoCLIPath(),
				"--server", server, "--user", q.User, "--source", q.Source, "--output-format", "TSV", "--execute", q.SQL)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			b, err := cmd.Output()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				out[q.Tag] = fmt.Sprintf("ERROR %v: %s", err, stderr.String())
				return
			}
			out[q.Tag] = strings.TrimSpace(string(b))
		}()
	}
	wg.Wait()
	return out
}

// jdbcParallel runs the queries at once in one JVM with the JDBC driver
// (e2e/clients/JdbcParallel.java), one connection each; per tag, its rows
// or "ERROR message".
func jdbcParallel(t *testing.T, server string, qs []parallelQuery) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var in strings.Builder
	for _, q := range qs {
		fmt.Fprintf(&in, "%s\t%s\t%s\t%s\n", q.Tag, q.User, q.Source, q.SQL)
	}
	url := "jdbc:trino://" + strings.TrimPrefix(server, "http://")
	cmd := exec.CommandContext(ctx, env.JavaHome+"/bin/java", "-cp", env.TrinoJDBCPath(), env.Root+"/e2e/clients/JdbcParallel.java", url)
	cmd.Stdin = strings.NewReader(in.String())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("JDBC client: %v\nstderr: %s", err, stderr.String())
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		tag, rest, _ := strings.Cut(line, "\t")
		if msg, ok := strings.CutPrefix(rest, "ERROR\t"); ok {
			out[tag] = "ERROR " + msg
			continue
		}
		out[tag] = rest
	}
	return out
}

// TestGovernanceUserLimitCLIAndJDBC: the same limit with the trino CLI
// (six processes at once) and JDBC (six connections at once): each client
// waits through the gateway's QUEUED phase and gets its result, and the
// clusters never run more than 2 of a user's queries.
func TestGovernanceUserLimitCLIAndJDBC(t *testing.T) {
	gov := map[string]any{"classes": map[string]any{"limited": map[string]any{"perUser": map[string]any{"maxRunning": 2, "maxQueued": 50}}}}
	g := startGateway(t, 1, governedConfig(t, gov, nil))
	admin := g.cps[0].AdminAddr
	for _, client := range []struct {
		name string
		run  func(*testing.T, string, []parallelQuery) map[string]string
	}{{"cli", cliParallel}, {"jdbc", jdbcParallel}} {
		user := "gov-" + client.name
		qs := slowQueries("gov"+client.name, 6, user, "limited")
		c := sampleConcurrency(t, "gov"+client.name+"_")
		queuedBefore := labeledMetric(t, admin, "switchyard_governance_admitted_total", map[string]string{"class": "limited", "how": "queued"})
		start := time.Now()
		out := client.run(t, g.URL(0), qs)
		c.Stop()
		for _, q := range qs {
			if want := q.Tag + "\t" + strconv.Itoa(slowRows); out[q.Tag] != want {
				t.Errorf("%s %s: %q, want %q", client.name, q.Tag, out[q.Tag], want)
			}
		}
		most, samples := c.Max(user)
		queued := labeledMetric(t, admin, "switchyard_governance_admitted_total", map[string]string{"class": "limited", "how": "queued"}) - queuedBefore
		t.Logf("%s: 6 queries in %v; at most %d at once on the clusters (%d samples); %v waited in the gateway's queue",
			client.name, time.Since(start).Round(time.Millisecond), most, samples, queued)
		if most > 2 {
			t.Errorf("%s: the clusters ran %d of the user's queries at once, limit 2", client.name, most)
		}
		if queued < 1 {
			t.Errorf("%s: no query waited in the gateway's queue: the limit was never reached", client.name)
		}
	}
}

// coordinatorQueries lists both clusters' queries with their statistics.
func coordinatorQueries(t *testing.T) []coordinator.QuerySummary {
	t.Helper()
	cl := coordinator.New(coordinator.Options{User: "harness", Timeout: 5 * time.Second})
	var out []coordinator.QuerySummary
	for _, tr := range []*harness.Trino{trinoA, trinoB} {
		qs, err := cl.Queries(context.Background(), tr.URL, "")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, qs...)
	}
	return out
}

// waitQueue polls the admin API's queue until cond holds.
func waitQueue(t *testing.T, admin, what string, cond func([]queueItem) error) {
	t.Helper()
	if err := harness.Poll(context.Background(), what, time.Minute, 100*time.Millisecond, func() error {
		var q []queueItem
		adminGet(t, admin, "/api/v1/governance/queue", &q)
		return cond(q)
	}); err != nil {
		t.Fatal(err)
	}
}

type queueItem struct {
	Position int    `json:"position"`
	ID       string `json:"id"`
	State    string `json:"state"`
	Class    string `json:"class"`
	User     string `json:"user"`
	Error    string `json:"error"`
}

func countQueued(q []queueItem, user string) int {
	n := 0
	for _, it := range q {
		if it.State == "queued" && (user == "" || it.User == user) {
			n++
		}
	}
	return n
}

// holdSlot submits a query and does not poll it: Trino dispatches a query
// on its first poll, so it holds its gateway slot (and nothing on the
// cluster) until finish follows it to its end.
func holdSlot(t *testing.T, server, user, source string) (finish func()) {
	t.Helper()
	ctx := context.Background()
	qr, err := harness.Submit(ctx, server, user, "SELECT 1", map[string]string{"X-Trino-Source": source})
	if err != nil {
		t.Fatal(err)
	}
	if qr.Error != nil || strings.Contains(qr.NextURI, "/_sy/_queue/") {
		t.Fatalf("the blocker was not admitted at once: %+v", qr)
	}
	var once sync.Once
	finish = func() {
		once.Do(func() {
			for qr.Error == nil && qr.NextURI != "" {
				if qr, err = harness.Fetch(ctx, http.MethodGet, qr.NextURI); err != nil {
					t.Errorf("following the blocker: %v", err)
					return
				}
			}
		})
	}
	t.Cleanup(finish)
	return finish
}

// TestGovernanceFairness: user A queues 10 queries in a class that runs
// one at a time, then user B submits 1: B runs before A's last 8.
func TestGovernanceFairness(t *testing.T) {
	gov := map[string]any{"classes": map[string]any{"fair": map[string]any{"maxRunning": 1, "maxQueued": 50}}}
	g := startGateway(t, 1, governedConfig(t, gov, nil))
	admin := g.cps[0].AdminAddr
	release := holdSlot(t, g.URL(0), "gov-blocker", "fair")

	run := time.Now().UnixNano()
	quick := func(user string, i int) parallelQuery {
		tag := fmt.Sprintf("govfair_%d_%s_%02d", run, user, i)
		return parallelQuery{Tag: tag, User: user, Source: "fair", SQL: fmt.Sprintf("SELECT '%s' AS tag, count(*) AS n FROM tpch.tiny.nation", tag)}
	}
	var as, bs []parallelQuery
	for i := range 10 {
		as = append(as, quick("gov-a", i))
	}
	bs = append(bs, quick("gov-b", 0))
	type done struct {
		res []parallelResult
		err error
	}
	aDone, bDone := make(chan done, 1), make(chan done, 1)
	go func() { r, err := pythonParallel(g.URL(0), as); aDone <- done{r, err} }()
	waitQueue(t, admin, "user A's 10 queries in the queue", func(q []queueItem) error {
		if n := countQueued(q, "gov-a"); n != 10 {
			return fmt.Errorf("%d of A's queued", n)
		}
		return nil
	})
	go func() { r, err := pythonParallel(g.URL(0), bs); bDone <- done{r, err} }()
	waitQueue(t, admin, "user B's query in the queue", func(q []queueItem) error {
		if n := countQueued(q, "gov-b"); n != 1 {
			return fmt.Errorf("%d of B's queued", n)
		}
		return nil
	})
	release()
	a, b := <-aDone, <-bDone
	if a.err != nil || b.err != nil {
		t.Fatal(a.err, b.err)
	}
	for _, r := range append(a.res, b.res...) {
		if r.Error != "" || len(r.Rows) != 1 || r.Rows[0][1] != float64(25) {
			t.Errorf("%s: rows %v, error %q", r.Tag, r.Rows, r.Error)
		}
	}
	// The order the clusters got them in (one ran at a time).
	type started struct {
		tag string
		at  time.Time
	}
	var order []started
	for _, q := range coordinatorQueries(t) {
		if i := strings.Index(q.Query, fmt.Sprintf("govfair_%d_", run)); i >= 0 {
			order = append(order, started{q.Query[i : i+len(as[0].Tag)], q.Stats.Created})
		}
	}
	sort.Slice(order, func(i, j int) bool { return order[i].at.Before(order[j].at) })
	var names []string
	pos := -1
	for i, o := range order {
		names = append(names, o.tag[strings.LastIndex(o.tag[:len(o.tag)-3], "_")+1:])
		if o.tag == bs[0].Tag {
			pos = i
		}
	}
	t.Logf("order on the clusters: %v", names)
	if len(order) != 11 {
		t.Fatalf("found %d of the 11 queries on the clusters", len(order))
	}
	if pos < 0 || pos > 2 {
		t.Errorf("B's query ran %s (position %d of 11): it must run before A's last 8", ordinal(pos+1), pos+1)
	}
}

func ordinal(n int) string {
	switch n {
	case 1:
		return "1st"
	case 2:
		return "2nd"
	case 3:
		return "3rd"
	}
	return strconv.Itoa(n) + "th"
}

// pyOne runs queries one after another on one Python client connection
// (e2e/clients/pyclient.py) with a source.
func pyOne(t *testing.T, server, user, source string, sqls ...string) []pyResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var qs []taggedQuery
	for i, q := range sqls {
		qs = append(qs, taggedQuery{Tag: strconv.Itoa(i), SQL: q})
	}
	var res []pyResult
	runPythonJSON(ctx, t, "pyclient.py", map[string]any{"server": server, "user": user, "source": source, "max_attempts": 1, "queries": qs}, &res)
	return res
}

// awayFromWindowEnd waits until the clock is at least margin away from
// the end of the current window (so a test's queries share one window).
func awayFromWindowEnd(t *testing.T, window, margin time.Duration) {
	t.Helper()
	if err := harness.Poll(context.Background(), "the clock to leave the end of a quota window", window/2, 200*time.Millisecond, func() error {
		if left := time.Until(time.Now().Truncate(window).Add(window)); left < margin {
			return fmt.Errorf("%v left in the window", left)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestGovernanceQuotas: a rate and a CPU quota run out with a message that
// says which quota and when it resets; the CPU charged is the event
// listener's cpuTime of the query.
func TestGovernanceQuotas(t *testing.T) {
	gov := map[string]any{"classes": map[string]any{
		"rated": map[string]any{"perUser": map[string]any{"queriesPerMinute": 3}},
		"cpu":   map[string]any{"perUser": map[string]any{"cpuSecondsPerHour": 0.001}},
	}}
	g := startGateway(t, 1, governedConfig(t, gov, nil))
	admin := g.cps[0].AdminAddr
	const quick = "SELECT count(*) FROM tpch.tiny.nation"

	awayFromWindowEnd(t, time.Minute, 20*time.Second)
	res := pyOne(t, g.URL(0), "gov-rate", "rated", quick, quick, quick, quick)
	for _, r := range res[:3] {
		if r.Error != "" {
			t.Errorf("query %s within the rate: %s", r.Tag, r.Error)
		}
	}
	msg := res[3].Error
	t.Logf("the 4th query: %s", msg)
	for _, want := range []string{"QUOTA_EXCEEDED", "the rate of user gov-rate in workload class rated is 3 queries per minute", "resets at"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the 4th query in a minute: %q, want it to contain %q", msg, want)
		}
	}

	awayFromWindowEnd(t, time.Hour, 30*time.Second)
	first := pyOne(t, g.URL(0), "gov-cpu", "cpu", "SELECT count(*) FROM tpch.tiny.lineitem")
	if first[0].Error != "" {
		t.Fatalf("the first query: %s", first[0].Error)
	}
	id := first[0].QueryID
	// The completion event charges the class's quota.
	var used float64
	if err := harness.Poll(context.Background(), "the first query's CPU to be charged", 30*time.Second, 200*time.Millisecond, func() error {
		var u struct {
			Classes []struct {
				Name  string `json:"name"`
				Users []struct {
					User  string `json:"user"`
					Usage struct {
						CPU struct {
							Used float64 `json:"used"`
						} `json:"cpu"`
					} `json:"usage"`
				} `json:"users"`
			} `json:"classes"`
		}
		adminGet(t, admin, "/api/v1/governance", &u)
		for _, c := range u.Classes {
			for _, us := range c.Users {
				if c.Name == "cpu" && us.User == "gov-cpu" && us.Usage.CPU.Used > 0 {
					used = us.Usage.CPU.Used
					return nil
				}
			}
		}
		return fmt.Errorf("nothing charged yet")
	}); err != nil {
		t.Fatal(err)
	}
	var history []struct {
		QueryID    string  `json:"queryId"`
		Class      string  `json:"class"`
		CPUSeconds float64 `json:"cpuSeconds"`
	}
	adminGet(t, admin, "/api/v1/history?limit=100", &history)
	var eventCPU float64 = -1
	for _, h := range history {
		if h.QueryID == id {
			eventCPU = h.CPUSeconds
			if h.Class != "cpu" {
				t.Errorf("the history says class %q, want cpu", h.Class)
			}
		}
	}
	var trinoCPU float64 = -1
	for _, q := range coordinatorQueries(t) {
		if q.QueryID == id {
			trinoCPU = q.Stats.CPU.Std().Seconds()
		}
	}
	t.Logf("charged %.3f CPU s; the event said %.3f s; the coordinator says %.3f s", used, eventCPU, trinoCPU)
	if eventCPU <= 0 || used != eventCPU {
		t.Errorf("charged %v CPU seconds, the event listener's cpuTime was %v: want them equal", used, eventCPU)
	}
	if trinoCPU < 0 || trinoCPU-used > 0.01 || used-trinoCPU > 0.01 {
		t.Errorf("charged %v CPU seconds, the coordinator says the query took %v", used, trinoCPU)
	}
	second := pyOne(t, g.URL(0), "gov-cpu", "cpu", "SELECT 1")
	msg = second[0].Error
	t.Logf("the next query: %s", msg)
	for _, want := range []string{"QUOTA_EXCEEDED", "the CPU quota of user gov-cpu in workload class cpu is 0.001 CPU seconds per hour", "resets at " + time.Now().UTC().Truncate(time.Hour).Add(time.Hour).Format("15:04:05")} {
		if !strings.Contains(msg, want) {
			t.Errorf("a query over the CPU quota: %q, want it to contain %q", msg, want)
		}
	}
	// Another user of the class has a quota of its own.
	if r := pyOne(t, g.URL(0), "gov-cpu-2", "cpu", "SELECT 1"); r[0].Error != "" {
		t.Errorf("another user: %s", r[0].Error)
	}
}

// TestGovernanceClusterCaps: clusters capped at 2 and 1 gateway queries
// never run more, and the rest wait in the queue, then run.
func TestGovernanceClusterCaps(t *testing.T) {
	gov := map[string]any{"classes": map[string]any{}, "clusters": map[string]any{"a": map[string]any{"maxRunning": 2}, "b": map[string]any{"maxRunning": 1}}}
	g := startGateway(t, 1, governedConfig(t, gov, nil))
	admin := g.cps[0].AdminAddr
	var qs []parallelQuery
	for i := range 6 {
		q := slowQueries("govcap", 1, fmt.Sprintf("gov-cap-%d", i), "trino-cli")[0]
		q.Tag += strconv.Itoa(i)
		q.SQL = strings.ReplaceAll(q.SQL, "govcap_", "govcap_"+strconv.Itoa(i))
		qs = append(qs, q)
	}
	c := sampleConcurrency(t, "govcap")
	res := runPythonParallel(t, g.URL(0), qs)
	c.Stop()
	for _, r := range res {
		if r.Error != "" || len(r.Rows) != 1 || r.Rows[0][1] != float64(slowRows) {
			t.Errorf("%s: rows %v, error %q", r.Tag, r.Rows, r.Error)
		}
	}
	onA, samples := c.Max("cluster:a")
	onB, _ := c.Max("cluster:b")
	all, _ := c.Max("*")
	queued := labeledMetric(t, admin, "switchyard_governance_queued_total", map[string]string{"class": "(none)"})
	t.Logf("at most %d on a (cap 2), %d on b (cap 1), %d in all (%d samples); %v waited", onA, onB, all, samples, queued)
	if onA > 2 || onB > 1 {
		t.Errorf("cluster a ran %d gateway queries at once (cap 2), cluster b %d (cap 1)", onA, onB)
	}
	if all < 3 || queued < 1 {
		t.Errorf("%d at once in all and %v queued: the caps were not reached", all, queued)
	}
}

// TestGovernanceQueueEnds: a queued query canceled by its client
// (USER_CANCELED), one whose client went away (ABANDONED_QUERY after the
// client timeout), and a full queue (QUERY_QUEUE_FULL naming the class and
// its limit), each a Trino-shaped error.
func TestGovernanceQueueEnds(t *testing.T) {
	gov := map[string]any{"classes": map[string]any{"tiny": map[string]any{"maxRunning": 1, "maxQueued": 2}}}
	g := startGateway(t, 1, governedConfig(t, gov, map[string]any{"clientTimeout": "3s", "tickInterval": "200ms"}))
	ctx := context.Background()
	admin := g.cps[0].AdminAddr
	release := holdSlot(t, g.URL(0), "gov-q", "tiny")
	submit := func() *harness.QueryResults {
		qr, err := harness.Submit(ctx, g.URL(0), "gov-q", "SELECT 1", map[string]string{"X-Trino-Source": "tiny"})
		if err != nil {
			t.Fatal(err)
		}
		if qr.Error != nil || qr.Stats.State != "QUEUED" || !strings.Contains(qr.NextURI, "/_sy/_queue/v1/statement/queued/"+qr.ID+"/") {
			t.Fatalf("not queued by the gateway: %+v", qr)
		}
		return qr
	}
	canceled := submit()
	req, _ := http.NewRequest(http.MethodDelete, canceled.NextURI, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE of a queued query: HTTP %d, want 204", resp.StatusCode)
	}
	if qr, err := harness.Fetch(ctx, http.MethodGet, canceled.NextURI); err != nil || qr.Error == nil || qr.Error.ErrorName != "USER_CANCELED" {
		t.Errorf("a poll after the cancel: %+v %v, want USER_CANCELED", qr, err)
	}

	abandoned := submit()
	waitQueue(t, admin, "the unpolled query to be dropped", func(q []queueItem) error {
		for _, it := range q {
			if it.ID == abandoned.ID && strings.HasPrefix(it.Error, "ABANDONED_QUERY") {
				return nil
			}
		}
		return fmt.Errorf("not dropped yet")
	})
	if qr, err := harness.Fetch(ctx, http.MethodGet, abandoned.NextURI); err != nil || qr.Error == nil || qr.Error.ErrorName != "ABANDONED_QUERY" || !strings.Contains(qr.Error.Message, "no client asked for it for 3s") {
		t.Errorf("a poll of a dropped query: %+v %v, want ABANDONED_QUERY", qr.Error, err)
	}

	// Two wait, a third finds the queue full (keep the two polled).
	waiting := []*harness.QueryResults{submit(), submit()}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range waiting {
		wg.Add(1)
		go func() {
			defer wg.Done()
			qr := w
			for qr.Error == nil && qr.NextURI != "" {
				select {
				case <-stop:
					return
				default:
				}
				next, err := harness.Fetch(ctx, http.MethodGet, qr.NextURI)
				if err != nil {
					return
				}
				qr = next
			}
		}()
	}
	full := pyOne(t, g.URL(0), "gov-q", "tiny", "SELECT 1")[0].Error
	t.Logf("a third waiting query: %s", full)
	for _, want := range []string{"QUERY_QUEUE_FULL", "too many queued queries for workload class tiny (maxQueued 2)"} {
		if !strings.Contains(full, want) {
			t.Errorf("a query over the class's queue: %q, want it to contain %q", full, want)
		}
	}
	release()
	close(stop)
	wg.Wait()
}

// TestGovernanceLostCompletion: with the completion event lost, the
// query's slot comes back by reconciliation within the configured bound
// (here 2 s), not after its lease (30 s).
func TestGovernanceLostCompletion(t *testing.T) {
	gov := map[string]any{"classes": map[string]any{"one": map[string]any{"maxRunning": 1}}}
	g := startGateway(t, 1, governedConfig(t, gov, map[string]any{"reconcileInterval": "2s", "slotTTL": "30s"}))
	admin := g.cps[0].AdminAddr
	relay, err := env.Events()
	if err != nil {
		t.Fatal(err)
	}
	relay.SetDrop(true)
	t.Cleanup(func() { relay.SetDrop(false) })
	dropped := relay.Dropped()
	res := pyOne(t, g.URL(0), "gov-lost", "one", "SELECT count(*) FROM tpch.tiny.nation")
	if res[0].Error != "" {
		t.Fatal(res[0].Error)
	}
	ended := time.Now()
	var back time.Duration
	if err := harness.Poll(context.Background(), "the slot to come back", 20*time.Second, 100*time.Millisecond, func() error {
		var u struct {
			Classes []struct {
				Name    string `json:"name"`
				Running int    `json:"running"`
			} `json:"classes"`
		}
		adminGet(t, admin, "/api/v1/governance", &u)
		for _, c := range u.Classes {
			if c.Name == "one" && c.Running != 0 {
				return fmt.Errorf("%d running", c.Running)
			}
		}
		back = time.Since(ended)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("the slot came back %v after the query ended (%d events dropped)", back.Round(time.Millisecond), relay.Dropped()-dropped)
	if relay.Dropped() == dropped {
		t.Error("no event was dropped: the test did not lose the completion")
	}
	if back > 5*time.Second {
		t.Errorf("the slot came back after %v, want within two reconciliations (2 s each)", back)
	}
	if n := labeledMetric(t, admin, "switchyard_governance_reconciled_total", map[string]string{"action": "released", "reason": "query finished"}); n < 1 {
		t.Errorf("reconciliation released %v slots of finished queries, want 1", n)
	}
	if r := pyOne(t, g.URL(0), "gov-lost", "one", "SELECT 1"); r[0].Error != "" {
		t.Errorf("the next query: %s", r[0].Error)
	}
}

// TestGovernanceHA: two replicas behind two Envoys on one Redis: the
// per-user limit holds across them; kill -9 of a replica while the queue
// holds queries: every queued query still runs and finishes.
func TestGovernanceHA(t *testing.T) {
	gov := map[string]any{"classes": map[string]any{"ha": map[string]any{"perUser": map[string]any{"maxRunning": 2, "maxQueued": 50}}}}
	cfg := governedConfig(t, gov, nil)
	ha, _ := startHAWith(t, cfg, 2, 2)
	// Both Envoys listen on the one client address (the kernel spreads
	// connections between them); each reaches both replicas.
	urls := []string{ha.URL(), ha.URL()}

	// The limit holds across replicas and Envoys.
	qs := slowQueries("govha", 6, "gov-ha", "ha")
	c := sampleConcurrency(t, "govha_")
	type done struct {
		res []parallelResult
		err error
	}
	results := make(chan done, 2)
	for i, u := range urls {
		go func() { r, err := pythonParallel(u, qs[3*i:3*i+3]); results <- done{r, err} }()
	}
	for range 2 {
		d := <-results
		if d.err != nil {
			t.Fatal(d.err)
		}
		checkSlowResults(t, d.res)
	}
	c.Stop()
	most, samples := c.Max("gov-ha")
	t.Logf("through two Envoys and two replicas: at most %d at once (%d samples)", most, samples)
	if most > 2 {
		t.Errorf("the clusters ran %d of the user's queries at once, limit 2 across replicas", most)
	}

	// Kill -9 a replica while queries wait in the queue.
	admin := ha.Replicas[1].AdminAddr
	qs = slowQueries("govkill", 6, "gov-kill", "ha")
	c = sampleConcurrency(t, "govkill_")
	go func() { r, err := pythonParallel(urls[0], qs); results <- done{r, err} }()
	waitQueue(t, admin, "queries in the queue", func(q []queueItem) error {
		if n := countQueued(q, "gov-kill"); n < 3 {
			return fmt.Errorf("%d queued", n)
		}
		return nil
	})
	ha.Replicas[0].Kill()
	t.Logf("replica 1 killed with queries queued")
	d := <-results
	c.Stop()
	if d.err != nil {
		t.Fatal(d.err)
	}
	checkSlowResults(t, d.res)
	most, _ = c.Max("gov-kill")
	if most > 2 {
		t.Errorf("after the kill the clusters ran %d of the user's queries at once, limit 2", most)
	}
}
