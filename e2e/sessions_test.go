package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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


