package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// TestQueriesThroughGateway sends 20 queries with the trino CLI, 20 with
// the Python client and 10 with the JDBC driver through Envoy and checks
// that results equal those of the same queries sent straight to a cluster,
// that both clusters received queries, and that each query ran entirely on
// one cluster.
func TestQueriesThroughGateway(t *testing.T) {
	g := startGateway(t, 1, twoClusters(deadURL(t)))
	ctx := context.Background()

	cliQueries := tagged("cli", 20)
	pyQueries := tagged("py", 20)
	jdbcQueries := tagged("jdbc", 10)
	all := append(append(append([]taggedQuery{}, cliQueries...), pyQueries...), jdbcQueries...)

	// Expected results: the same SQL, straight to cluster a.
	want := map[string]string{}
	for _, q := range all {
		rows, err := harness.RunQuery(ctx, trinoA.URL, "direct", q.SQL, nil)
		if err != nil {
			t.Fatalf("direct %s: %v", q.Tag, err)
		}
		if len(rows) != 1 || len(rows[0]) != 3 {
			t.Fatalf("direct %s: unexpected rows %v", q.Tag, rows)
		}
		want[q.Tag] = normalise(rows[0][1:]...)
	}

	// The trino CLI: all 20 statements in one run, TSV output.
	var script strings.Builder
	for _, q := range cliQueries {
		script.WriteString(q.SQL + ";\n")
	}
	out, err := runCLI(t, g.URL(0), "--output-format", "TSV", "--execute", script.String())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			t.Fatalf("CLI output line %q: want 3 fields", line)
		}
		got[f[0]] = normalise(f[1], f[2])
	}
	for _, q := range cliQueries {
		if got[q.Tag] != want[q.Tag] {
			t.Errorf("CLI %s: got %q, direct gave %q", q.Tag, got[q.Tag], want[q.Tag])
		}
	}

	// The Python client.
	for _, r := range runPython(t, g.URL(0), nil, pyQueries) {
		if r.Error != "" {
			t.Errorf("python %s: %s", r.Tag, r.Error)
			continue
		}
		if len(r.Rows) != 1 || len(r.Rows[0]) != 3 {
			t.Errorf("python %s: unexpected rows %v", r.Tag, r.Rows)
			continue
		}
		if g := normalise(r.Rows[0][1:]...); g != want[r.Tag] {
			t.Errorf("python %s: got %q, direct gave %q", r.Tag, g, want[r.Tag])
		}
	}

	// The JDBC driver.
	jrows, jerrs := runJDBC(t, g.URL(0), jdbcQueries)
	for _, q := range jdbcQueries {
		if msg, failed := jerrs[q.Tag]; failed {
			t.Errorf("JDBC %s: %s", q.Tag, msg)
			continue
		}
		r := jrows[q.Tag]
		f := strings.Split(strings.Join(r, ""), "\t")
		if len(r) != 1 || len(f) != 3 || f[0] != q.Tag {
			t.Errorf("JDBC %s: unexpected rows %q", q.Tag, r)
			continue
		}
		if g := normalise(f[1], f[2]); g != want[q.Tag] {
			t.Errorf("JDBC %s: got %q, direct gave %q", q.Tag, g, want[q.Tag])
		}
	}

	// Where did each query run? Every tag must appear, FINISHED, on exactly
	// one cluster, and each cluster must have run some of them.
	perCluster := map[string]int{}
	where := map[string][]string{}
	for name, tr := range map[string]*harness.Trino{"a": trinoA, "b": trinoB} {
		qs, err := tr.Queries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			for _, tq := range all {
				if strings.Contains(q.Query, tq.Tag) && !isDirect(q) {
					where[tq.Tag] = append(where[tq.Tag], name+":"+q.State)
					perCluster[name]++
				}
			}
		}
	}
	for _, tq := range all {
		w := where[tq.Tag]
		if len(w) != 1 || !strings.HasSuffix(w[0], ":FINISHED") {
			t.Errorf("query %s ran as %v; want exactly one FINISHED run on one cluster", tq.Tag, w)
		}
	}
	if perCluster["a"] == 0 || perCluster["b"] == 0 {
		t.Errorf("queries per cluster %v: want both clusters used", perCluster)
	}
	t.Logf("gateway queries per cluster: %v", perCluster)
}

// isDirect tells the queries the test sent straight to a cluster (user
// "direct") from those that went through the gateway.
func isDirect(q harness.QueryInfo) bool { return q.Session.User == "direct" }

// normalise renders numbers from any client (JSON numbers, TSV text) alike.
func normalise(vals ...any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		s := fmt.Sprint(v)
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			s = strconv.FormatFloat(f, 'f', -1, 64)
		}
		parts[i] = s
	}
	return strings.Join(parts, ",")
}

// TestWeightedGroup: a group with the weighted strategy is balanced by
// Envoy from the weights pushed over xDS (3:1 here).
func TestWeightedGroup(t *testing.T) {
	cfg := twoClusters(deadURL(t))
	cfg.Extra = map[string]any{"groups": []map[string]any{{"name": "adhoc", "strategy": "weighted"}, {"name": "etl"}}}
	cfg.Clusters[0].Weight, cfg.Clusters[1].Weight = 300, 100
	g := startGateway(t, 1, cfg)
	seen := map[string]int{}
	for range 40 {
		qr, err := harness.Submit(context.Background(), g.URL(0), "e2e", "SELECT 1", nil)
		if err != nil || qr.Error != nil {
			t.Fatalf("%v %+v", err, qr)
		}
		seen[ownerOf(t, qr.NextURI)]++
	}
	if seen["a"] <= seen["b"] || seen["b"] == 0 {
		t.Fatalf("distribution %v, want both used and a (weight 300) more than b (weight 100)", seen)
	}
	t.Logf("40 submissions by weight 300:100: %v", seen)
}
