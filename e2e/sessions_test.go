package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// sessionStep is one statement of a client session, as a client ran it.
type sessionStep struct {
	SQL     string  `json:"sql"`
	QueryID *string `json:"query_id"`
	Error   *string `json:"error"`
}

// memoryTableSession is the session: it creates a table in the
// memory catalog, writes it, reads it and drops it. Against two clusters
// with independent memory catalogs it only works if every statement
// reaches the same cluster.
func memoryTableSession(tag string) []string {
	t := "memory.default.sess_" + tag + "_{s}"
	return []string{
		"CREATE TABLE " + t + " (n bigint)",
		"INSERT INTO " + t + " VALUES 1, 2, 3",
		"SELECT count(*) FROM " + t,
		"DROP TABLE " + t,
	}
}

// runPySessions runs n sessions of statements in parallel in one Python
// process (api "dbapi" or "sqlalchemy").
func runPySessions(t *testing.T, server, api string, n int, statements []string) [][]sessionStep {
	t.Helper()
	spec, _ := json.Marshal(map[string]any{"server": server, "user": "e2e-sessions", "sessions": n, "api": api, "statements": statements})
	cmd := exec.Command(env.PythonPath(), filepath.Join(env.Root, "e2e", "clients", "pysessions.py"))
	cmd.Stdin = strings.NewReader(string(spec))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python sessions: %v\n%s", err, stderr.String())
	}
	var res [][]sessionStep
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return res
}

// whereRan finds each query on the clusters: query ID -> cluster name,
// and fails the test if a cluster saw the gateway's session entry.
func whereRan(t *testing.T) map[string]string {
	t.Helper()
	at := map[string]string{}
	for name, tr := range map[string]*harness.Trino{"a": trinoA, "b": trinoB} {
		qs, err := tr.Queries(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			at[q.QueryID] = name
			if _, ok := q.Session.PreparedStatements[trino.GatewaySessionName]; ok {
				t.Errorf("cluster %s received the gateway's session entry with query %s (%q)", name, q.QueryID, q.Query)
			}
		}
	}
	return at
}

// checkSessions: every statement of every session succeeded, each session
// ran on one cluster, and the sessions used both clusters.
func checkSessions(t *testing.T, res [][]sessionStep, want int) {
	t.Helper()
	at := whereRan(t)
	used := map[string]int{}
	for i, steps := range res {
		if len(steps) != want {
			t.Errorf("session %d ran %d statements, want %d: %+v", i, len(steps), want, steps)
			continue
		}
		clusters := map[string]bool{}
		for _, st := range steps {
			if st.Error != nil {
				t.Errorf("session %d: %s: %s", i, st.SQL, *st.Error)
				continue
			}
			if st.QueryID == nil || at[*st.QueryID] == "" {
				t.Errorf("session %d: %s: query not found on any cluster", i, st.SQL)
				continue
			}
			clusters[at[*st.QueryID]] = true
		}
		if len(clusters) != 1 {
			t.Errorf("session %d ran on clusters %v, want one", i, clusters)
		}
		for c := range clusters {
			used[c]++
		}
	}
	if len(used) != 2 {
		t.Errorf("sessions per cluster %v: a second session must be free to land elsewhere (round robin)", used)
	}
	t.Logf("sessions per cluster: %v", used)
}

// TestClientSessionsStayOnOneCluster: 20 Python DB-API sessions and 20
// SQLAlchemy sessions in parallel, each creating, writing, reading and
// dropping a memory table through a gateway that balances statements
// round robin over two clusters with independent memory catalogs.
func TestClientSessionsStayOnOneCluster(t *testing.T) {
	g := startGateway(t, 1, twoClusters(deadURL(t)))
	for _, api := range []string{"dbapi", "sqlalchemy"} {
		t.Run(api, func(t *testing.T) {
			stmts := memoryTableSession(api)
			checkSessions(t, runPySessions(t, g.URL(0), api, 20, stmts), len(stmts))
		})
	}
	if t.Failed() {
		return
	}
	t.Run("the explicit session header pins", func(t *testing.T) {
		var clusters []string
		at := func(id string) string { return whereRan(t)[id] }
		for i := range 4 {
			id := runToEnd(t, g.URL(0), "SELECT 1", map[string]string{"X-Trino-Client-Session": "notebook-7"})
			clusters = append(clusters, at(id))
			if i > 0 && clusters[i] != clusters[0] {
				t.Fatalf("statements of session notebook-7 ran on %v", clusters)
			}
		}
		other := runToEnd(t, g.URL(0), "SELECT 1", map[string]string{"X-External-Session-Id": "notebook-8"})
		other2 := runToEnd(t, g.URL(0), "SELECT 1", map[string]string{"X-External-Session-Id": "notebook-8"})
		if at(other) != at(other2) {
			t.Fatalf("X-External-Session-Id notebook-8 ran on %s and %s", at(other), at(other2))
		}
	})
}

// ranByText maps each cluster to how many of its queries contain s.
func ranByText(t *testing.T, s string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for name, tr := range map[string]*harness.Trino{"a": trinoA, "b": trinoB} {
		qs, err := tr.Queries(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if strings.Contains(q.Query, s) {
				out[name]++
			}
			if _, ok := q.Session.PreparedStatements[trino.GatewaySessionName]; ok {
				t.Errorf("cluster %s received the gateway's session entry with query %s (%q)", name, q.QueryID, q.Query)
			}
		}
	}
	return out
}

// TestClientSessionsJavaClients: the trino CLI (20 runs at once, each one
// process of several statements) and JDBC (20 connections in parallel)
// keep each session on one cluster without any client setting.
func TestClientSessionsJavaClients(t *testing.T) {
	g := startGateway(t, 1, twoClusters(deadURL(t)))
	t.Run("jdbc", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		const n = 20
		stmts := memoryTableSession("jdbc")
		url := "jdbc:trino://" + strings.TrimPrefix(g.URL(0), "http://")
		cmd := exec.CommandContext(ctx, env.JavaHome+"/bin/java", "-cp", env.TrinoJDBCPath(), env.Root+"/e2e/clients/JdbcSessions.java", url, "e2e-jdbc", fmt.Sprint(n))
		cmd.Stdin = strings.NewReader(strings.Join(stmts, "\n"))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("JDBC sessions: %v\n%s", err, stderr.String())
		}
		ok := 0
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if f := strings.Split(line, "\t"); len(f) >= 3 && f[2] == "OK" {
				ok++
			} else {
				t.Errorf("JDBC: %s", line)
			}
		}
		if ok != n*len(stmts) {
			t.Fatalf("%d of %d statements succeeded", ok, n*len(stmts))
		}
		requireOneClusterEach(t, "jdbc", n)
	})
	t.Run("cli", func(t *testing.T) {
		// 20 CLI runs at once, each one session of four statements.
		const n = 20
		outs, errs := make([]string, n), make([]error, n)
		var wg sync.WaitGroup
		for s := range n {
			stmts := memoryTableSession("cli")
			for i := range stmts {
				stmts[i] = strings.ReplaceAll(stmts[i], "{s}", fmt.Sprint(s))
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[s], errs[s] = runCLI(t, g.URL(0), "--execute", strings.Join(stmts, "; "))
			}()
		}
		wg.Wait()
		for s := range n {
			if errs[s] != nil {
				t.Errorf("CLI session %d: %v\n%s", s, errs[s], outs[s])
			} else if strings.TrimSpace(outs[s]) != `"3"` {
				t.Errorf("CLI session %d printed %q, want the count 3", s, outs[s])
			}
		}
		requireOneClusterEach(t, "cli", n)
	})
}

// requireOneClusterEach: each of the n sessions of memoryTableSession(tag)
// ran all its statements on one cluster (found by its table's name in the
// clusters' query lists), and the sessions used both clusters.
func requireOneClusterEach(t *testing.T, tag string, n int) {
	t.Helper()
	used := map[string]int{}
	for s := range n {
		on := ranByText(t, fmt.Sprintf("sess_%s_%d ", tag, s))
		if len(on) != 1 {
			t.Errorf("%s session %d ran on %v", tag, s, on)
		}
		for c := range on {
			used[c]++
		}
	}
	if len(used) != 2 {
		t.Errorf("%s sessions per cluster %v, want both clusters used", tag, used)
	}
}

// TestClientSessionMoves: a session whose cluster is drained moves once,
// with a log line, and stays where it moved when the cluster comes back;
// a session in an open transaction is never moved.
func TestClientSessionMoves(t *testing.T) {
	g := startGateway(t, 1, withAdmin(twoClusters(deadURL(t))))
	ctx := context.Background()
	h := map[string]string{"X-Trino-Client-Session": "moving-1"}
	on := func(id string) string { return whereRan(t)[id] }
	first := on(runToEnd(t, g.URL(0), "SELECT 1", h))
	if out, err := cli(ctx, g, "cluster", "drain", first); err != nil {
		t.Fatalf("drain %s: %v\n%s", first, err, out)
	}
	moved := on(runToEnd(t, g.URL(0), "SELECT 2", h))
	if moved == first || moved == "" {
		t.Fatalf("after %s was drained the session ran on %q", first, moved)
	}
	if out, err := cli(ctx, g, "cluster", "activate", first); err != nil {
		t.Fatalf("activate %s: %v\n%s", first, err, out)
	}
	if err := harness.Poll(ctx, "the fleet to show "+first+" active", 10*time.Second, 50*time.Millisecond, func() error {
		if st := clusterStates(t, g)[first]; st != "active" {
			return fmt.Errorf("%s is %s", first, st)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if c := on(runToEnd(t, g.URL(0), fmt.Sprintf("SELECT %d", 10+i), h)); c != moved {
			t.Fatalf("the session went back to %s after it moved to %s", c, moved)
		}
	}
	if n := logCount(t, g.cps[0].Proc, 0, `msg="client session moves"`); n != 1 {
		t.Fatalf("%d 'client session moves' lines, want 1", n)
	}

	t.Run("not in an open transaction", func(t *testing.T) {
		dir := t.TempDir()
		pause := filepath.Join(dir, "go")
		stmts := []string{"SELECT count(*) FROM tpch.tiny.nation WHERE 'txn-not-moved' <> ''", "SELECT 1", "SELECT 2"}
		spec, _ := json.Marshal(map[string]any{"server": g.URL(0), "user": "e2e", "statements": stmts, "pause_after": 1, "pause_file": pause})
		cmd := exec.Command(env.PythonPath(), filepath.Join(env.Root, "e2e", "clients", "pytxn.py"))
		cmd.Stdin = strings.NewReader(string(spec))
		var stdout strings.Builder
		cmd.Stdout = &stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		if err := harness.Poll(ctx, "the transaction to pause", time.Minute, 50*time.Millisecond, func() error {
			_, err := os.Stat(pause + ".ready")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// Drain the cluster the transaction started on, then let it go on.
		var res struct {
			QueryIDs []string `json:"query_ids"`
			Error    *string  `json:"error"`
		}
		started := ""
		for c, n := range ranByText(t, "'txn-not-moved'") {
			if n > 0 {
				started = c
			}
		}
		if started == "" {
			t.Fatal("cannot tell where the transaction started")
		}
		if out, err := cli(ctx, g, "cluster", "drain", started); err != nil {
			t.Fatalf("drain %s: %v\n%s", started, err, out)
		}
		if err := os.WriteFile(pause, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("python client: %v", err)
		}
		if err := json.Unmarshal([]byte(stdout.String()), &res); err != nil {
			t.Fatalf("%v: %s", err, stdout.String())
		}
		if res.Error != nil {
			t.Fatalf("the transaction failed after its cluster was drained: %s", *res.Error)
		}
		at := whereRan(t)
		for _, id := range res.QueryIDs {
			if at[id] != started {
				t.Fatalf("statement %s of the transaction ran on %s, the transaction started on %s", id, at[id], started)
			}
		}
		if out, err := cli(ctx, g, "cluster", "activate", started); err != nil {
			t.Fatalf("activate %s: %v\n%s", started, err, out)
		}
	})
}

// TestClientSessionPreparedStatements: a user's own prepared statements
// (PREPARE, EXECUTE, DEALLOCATE, and the Python client's parameters, which
// detect and use EXECUTE IMMEDIATE) behave as against one Trino, and no
// cluster receives the gateway's entry.
func TestClientSessionPreparedStatements(t *testing.T) {
	g := startGateway(t, 1, twoClusters(deadURL(t)))
	res := runPySessions(t, g.URL(0), "dbapi", 4, []string{
		"PREPARE mine_{s} FROM SELECT count(*) FROM tpch.tiny.nation WHERE regionkey = ?",
		"EXECUTE mine_{s} USING 1",
		"DEALLOCATE PREPARE mine_{s}",
		"EXECUTE mine_{s} USING 1",
	})
	for i, steps := range res {
		if len(steps) != 4 {
			t.Fatalf("session %d: %+v", i, steps)
		}
		for j, st := range steps[:3] {
			if st.Error != nil {
				t.Fatalf("session %d statement %d (%s): %s", i, j, st.SQL, *st.Error)
			}
		}
		if st := steps[3]; st.Error == nil || !strings.Contains(*st.Error, "not found") {
			t.Fatalf("session %d: EXECUTE after DEALLOCATE: %+v; want Trino's 'not found'", i, st)
		}
	}
	whereRan(t) // fails on any query that carried the gateway's entry
	params := runPyParams(t, g.URL(0))
	if params != "5" {
		t.Fatalf("a parametrised query through the gateway answered %q, want 5", params)
	}
	whereRan(t)
}

// runPyParams runs a query with a parameter through the Python DB-API
// (which first probes EXECUTE IMMEDIATE on the connection).
func runPyParams(t *testing.T, server string) string {
	t.Helper()
	code := `
import sys, trino
from urllib.parse import urlparse
u = urlparse(sys.argv[1])
conn = trino.dbapi.connect(host=u.hostname, port=u.port, user="e2e", max_attempts=1)
cur = conn.cursor()
cur.execute("SELECT count(*) FROM tpch.tiny.nation WHERE regionkey = ?", (1,))
print(cur.fetchall()[0][0])
cur.execute("SELECT count(*) FROM tpch.tiny.nation WHERE regionkey = ?", (2,))
cur.fetchall()
`
	out, err := exec.Command(env.PythonPath(), "-c", code, server).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestFleetQueries: the fleet's queries, with the cluster of each, from
// the admin API and the CLI (what system.runtime.queries shows for one
// cluster, for both); bad parameters get a JSON 400.
func TestFleetQueries(t *testing.T) {
	g := startGateway(t, 1, withAdmin(twoClusters(deadURL(t))))
	ctx := context.Background()
	var ids []string
	for i := range 4 {
		id, _ := runAs(t, g.URL(0), "e2e-fleet", fmt.Sprintf("SELECT %d", i), nil)
		ids = append(ids, id)
	}
	at := whereRan(t)
	out, err := cli(ctx, g, "queries", "--user", "e2e-fleet", "--json")
	if err != nil {
		t.Fatalf("switchyard queries: %v\n%s", err, out)
	}
	var v struct {
		Queries []struct {
			QueryID, Cluster, User, State string
		} `json:"queries"`
		Failed []struct{ Cluster, Error string } `json:"failed"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	listed := map[string]string{}
	for _, q := range v.Queries {
		if q.User != "e2e-fleet" {
			t.Fatalf("user filter let through %+v", q)
		}
		listed[q.QueryID] = q.Cluster
	}
	clusters := map[string]bool{}
	for _, id := range ids {
		if listed[id] == "" || listed[id] != at[id] {
			t.Fatalf("query %s listed on %q, it ran on %q (listed %v)", id, listed[id], at[id], listed)
		}
		clusters[listed[id]] = true
	}
	if len(clusters) != 2 {
		t.Fatalf("queries listed on %v, want both clusters", clusters)
	}
	// The dead coordinator of group etl is reported, not hidden.
	if len(v.Failed) != 1 || v.Failed[0].Cluster != "dead" {
		t.Fatalf("failed coordinators %+v, want the dead one", v.Failed)
	}
	table, err := cli(ctx, g, "queries", "--user", "e2e-fleet")
	if err != nil || !strings.Contains(table, ids[0]) || !strings.Contains(table, "QUERY ID") {
		t.Fatalf("table: %v\n%s", err, table)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+g.cps[0].AdminAddr+"/api/v1/queries?limit=0", nil)
	req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Error string }
	if err := json.NewDecoder(resp.Body).Decode(&e); resp.StatusCode != http.StatusBadRequest || err != nil || !strings.Contains(e.Error, "limit") {
		t.Fatalf("limit=0: %d %+v %v; want a JSON 400 naming limit", resp.StatusCode, e, err)
	}
}

// runAs runs a query to its end through the gateway as user and returns
// its ID and infoUri (a query is only dispatched, and listed by its
// coordinator, once it is polled).
func runAs(t *testing.T, server, user, sql string, headers map[string]string) (string, string) {
	t.Helper()
	ctx := context.Background()
	qr, err := harness.Submit(ctx, server, user, sql, headers)
	if err != nil {
		t.Fatal(err)
	}
	id, info := qr.ID, qr.InfoURI
	for qr.NextURI != "" && qr.Error == nil {
		if qr, err = harness.Fetch(ctx, http.MethodGet, qr.NextURI); err != nil {
			t.Fatal(err)
		}
	}
	if qr.Error != nil {
		t.Fatalf("query %s failed: %s: %s", id, qr.Error.ErrorName, qr.Error.Message)
	}
	return id, info
}
