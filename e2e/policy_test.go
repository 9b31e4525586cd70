package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// policyFleet registers the two Trino servers under several clusters so
// each shipped rule has a group (and a distinct cluster name) to route to.
func policyFleet(t *testing.T, policyDir string) harness.GatewayConfig {
	t.Helper()
	spec := func(name, group, url string, tags ...string) harness.ClusterSpec {
		return harness.ClusterSpec{Name: name, Group: group, Tags: tags, Coordinators: []harness.CoordinatorSpec{{URL: url}}}
	}
	cfg := withAdmin(harness.GatewayConfig{
		DefaultGroup: "adhoc",
		Groups:       []string{"adhoc", "etl", "sandbox", "agents", "secure"},
		Clusters: []harness.ClusterSpec{
			spec("a", "adhoc", trinoA.URL),
			spec("e", "etl", trinoB.URL),
			spec("s", "sandbox", trinoA.URL),
			spec("g", "agents", trinoB.URL),
			spec("v", "secure", trinoA.URL, "secure"),
		},
	})
	cfg.Extra["policy"] = map[string]any{"dir": policyDir}
	return cfg
}

// copyPolicies copies the shipped policies into a temporary directory,
// with data.switchyard.settings changes.
func copyPolicies(t *testing.T, settings map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(env.Root, "policies")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(settings) > 0 {
		editPolicyData(t, dir, func(doc map[string]any) {
			sy, _ := doc["switchyard"].(map[string]any)
			st, _ := sy["settings"].(map[string]any)
			if st == nil {
				t.Fatal("data.json has no switchyard.settings")
			}
			for k, v := range settings {
				st[k] = v
			}
		})
	}
	return dir
}

// editPolicyData edits a policy directory's data.json.
func editPolicyData(t *testing.T, dir string, edit func(doc map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "data.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	if b, err = json.MarshalIndent(doc, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// withoutRateQuotas lifts the per-user rate quotas of the governance
// classes in a policy directory's data.json. A test of reloads under load
// is not a test of quotas: its closed-loop clients can submit 30 queries a
// second and more, and the shipped analyst quota (300 a minute per user)
// would refuse the load's own queries after ten seconds.
func withoutRateQuotas(t *testing.T, dir string) string {
	t.Helper()
	editPolicyData(t, dir, func(doc map[string]any) {
		sy, _ := doc["switchyard"].(map[string]any)
		gov, _ := sy["governance"].(map[string]any)
		classes, _ := gov["classes"].(map[string]any)
		if len(classes) == 0 {
			t.Fatal("data.json has no switchyard.governance.classes")
		}
		for _, c := range classes {
			if perUser, ok := c.(map[string]any)["perUser"].(map[string]any); ok {
				delete(perUser, "queriesPerMinute")
			}
		}
	})
	return dir
}

// TestPolicyExamplesRoute runs each shipped example rule against real
// Trino and checks where the query ran (or why it was refused).
func TestPolicyExamplesRoute(t *testing.T) {
	dir := copyPolicies(t, map[string]any{"ddl_cluster": "s"})
	g := startGatewayWithClusters(t, policyFleet(t, dir), "trino_a", "trino_e", "trino_s", "trino_g", "trino_v")
	ctx := context.Background()
	tests := []struct {
		name    string
		headers map[string]string
		sql     string
		owner   string // cluster; empty: refused
		refusal string
	}{
		{"default group", nil, "SELECT 1", "a", ""},
		{"ETL source", map[string]string{"X-Trino-Source": "airflow"}, "SELECT 1", "e", ""},
		{"sandbox user", map[string]string{"X-Trino-User": "intern"}, "SELECT 1", "s", ""},
		{"AI agent", map[string]string{"X-Trino-Source": "support-agent"}, "SELECT 1", "g", ""},
		{"AI agent may not write", map[string]string{"X-Trino-Source": "support-agent"}, "CREATE TABLE memory.default.agent_t AS SELECT 1 AS x", "", "POLICY_DENIED: AI agents may not change data"},
		{"pii table to a secure cluster", map[string]string{"X-Trino-Routing-Group": "sandbox"}, "SELECT count(*) FROM tpch.tiny.customer", "v", ""},
		{"header honoured", map[string]string{"X-Trino-Routing-Group": "agents"}, "SELECT 1", "g", ""},
		{"reserved group", map[string]string{"X-Trino-Routing-Group": "etl"}, "SELECT 1", "", "POLICY_DENIED: user e2e may not use routing group etl (X-Trino-Routing-Group)"},
		{"reserved group, listed user", map[string]string{"X-Trino-Routing-Group": "etl", "X-Trino-User": "airflow"}, "SELECT 1", "e", ""},
		{"DDL to the designated cluster", nil, fmt.Sprintf("CREATE TABLE memory.default.ddl_%d (x bigint)", time.Now().UnixNano()), "s", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user := "e2e"
			if u, ok := tt.headers["X-Trino-User"]; ok {
				user = u
			}
			qr, err := harness.Submit(ctx, g.URL(0), user, tt.sql, tt.headers)
			if err != nil {
				t.Fatal(err)
			}
			if tt.owner == "" {
				if qr.Error == nil || !strings.Contains(qr.Error.ErrorName+": "+qr.Error.Message, tt.refusal) {
					t.Fatalf("want refusal %q, got %+v", tt.refusal, qr.Error)
				}
				return
			}
			if qr.Error != nil {
				t.Fatalf("refused: %s: %s", qr.Error.ErrorName, qr.Error.Message)
			}
			if o := ownerOf(t, qr.NextURI); o != tt.owner {
				t.Fatalf("ran on %s, want %s", o, tt.owner)
			}
			for qr.NextURI != "" && qr.Error == nil {
				if qr, err = harness.Fetch(ctx, http.MethodGet, qr.NextURI); err != nil {
					t.Fatal(err)
				}
			}
			if qr.Error != nil {
				t.Fatalf("query failed on Trino: %s", qr.Error.Message)
			}
		})
	}

	// The agent's session carries the run-time limit the policy added.
	id := runToEnd(t, g.URL(0), "SELECT 2", map[string]string{"X-Trino-Source": "report-agent"})
	props := querySession(t, trinoB, id)
	if props["query_max_run_time"] != "5m" {
		t.Fatalf("agent query session properties %v, want query_max_run_time=5m", props)
	}

	// The decision log explains them; policy eval explains a dry run.
	out, err := cli(ctx, g, "policy", "decisions", "--limit", "50")
	if err != nil || !strings.Contains(out, "source airflow is an ETL tool") || !strings.Contains(out, "reads pii tables: tpch.tiny.customer") {
		t.Fatalf("decisions: %v\n%s", err, out)
	}
	out, err = cli(ctx, g, "policy", "eval", "--user", "alice", "--source", "dbt", "--sql", "SELECT * FROM tpch.tiny.customer")
	if err != nil || !strings.Contains(out, "routed: group secure, route v") || !strings.Contains(out, "because only clusters tagged secure: v") {
		t.Fatalf("policy eval: %v\n%s", err, out)
	}
}

// runToEnd runs a query through the gateway as e2e and returns its ID.
func runToEnd(t *testing.T, server, sql string, headers map[string]string) string {
	t.Helper()
	id, _ := runAs(t, server, "e2e", sql, headers)
	return id
}

// querySession reads a query's session properties from the coordinator.
func querySession(t *testing.T, tr *harness.Trino, id string) map[string]string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, tr.URL+"/v1/query/"+id, nil)
	req.Header.Set("X-Trino-User", "e2e")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Session struct {
			SystemProperties map[string]string `json:"systemProperties"`
		} `json:"session"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	return info.Session.SystemProperties
}

// TestPolicyReloadUnderLoad publishes new policies under load (3
// closed-loop clients plus an open loop of 10 queries/s, at most 16 of them
// in flight): nothing is dropped (no query fails, no poll is answered
// 502-504), and a broken policy is refused with its errors while the
// running one keeps serving.
func TestPolicyReloadUnderLoad(t *testing.T) {
	dir := withoutRateQuotas(t, copyPolicies(t, nil))
	g := startGatewayWithClusters(t, policyFleet(t, dir), "trino_a", "trino_e")
	ctx := context.Background()
	load := startLoad(t, g.URL(0), loadSpec{Clients: 3, Rate: 10, SQL: "SELECT 1"})
	load.waitQueries(t, 6)
	for i := range 4 {
		other := withoutRateQuotas(t, copyPolicies(t, map[string]any{"agent_max_run_time": fmt.Sprintf("%dm", i+6)}))
		if out, err := cli(ctx, g, "policy", "upload", "--dir", other); err != nil || !strings.Contains(out, "published") {
			load.finish()
			t.Fatalf("upload %d: %v\n%s", i, err, out)
		}
		load.waitQueries(t, 3)
	}
	broken := copyPolicies(t, nil)
	if err := os.WriteFile(filepath.Join(broken, "routing.rego"), []byte("package switchyard.routing\ndecision := {"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := cli(ctx, g, "policy", "upload", "--dir", broken)
	if err == nil || !strings.Contains(out, "policy refused") || !strings.Contains(out, "routing.rego") {
		load.finish()
		t.Fatalf("broken upload: %v\n%s", err, out)
	}
	failing := copyPolicies(t, map[string]any{"etl_sources": []string{}}) // breaks test_etl_source_goes_to_etl
	out, err = cli(ctx, g, "policy", "upload", "--dir", failing)
	if err == nil || !strings.Contains(out, "test_etl_source_goes_to_etl failed") {
		load.finish()
		t.Fatalf("upload with failing tests: %v\n%s", err, out)
	}
	load.waitQueries(t, 6)
	load.requireConcurrent(t)
	qs := load.finish()
	for _, q := range qs {
		if q.Err != nil {
			t.Errorf("query %s failed during reloads: %v", q.ID, q.Err)
		}
	}
	requireNoRetries(t, qs)
	t.Logf("%d queries during 4 policy reloads and 2 refused uploads", len(qs))
	// The last good policy serves.
	id := runToEnd(t, g.URL(0), "SELECT 3", map[string]string{"X-Trino-Source": "x-agent"})
	if p := querySession(t, trinoB, id)["query_max_run_time"]; p != "9m" {
		t.Fatalf("query_max_run_time %q, want the last published policy's 9m", p)
	}
}

// TestTransactionStaysOnOneCluster runs an explicit transaction with the
// Python client through a gateway that alternates clusters: every statement
// reaches the coordinator that started the transaction.
func TestTransactionStaysOnOneCluster(t *testing.T) {
	g := startGateway(t, 1, twoClusters(deadURL(t)))
	runTransactionOnOneCluster(t, g)
}

// runTransactionOnOneCluster runs five statements and a commit in one
// Python DB-API transaction through g and checks that every statement ran
// on the same cluster.
func runTransactionOnOneCluster(t *testing.T, g *gateway) {
	t.Helper()
	stmts := []string{"SELECT count(*) FROM tpch.tiny.nation", "SELECT count(*) FROM tpch.tiny.region", "SELECT 1", "SELECT 2", "SELECT 3"}
	ids := pyTransaction(t, g.URL(0), stmts)
	owners := map[string]bool{}
	for _, id := range ids {
		for name, tr := range map[string]*harness.Trino{"a": trinoA, "b": trinoB} {
			qs, err := tr.Queries(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range qs {
				if q.QueryID == id {
					owners[name] = true
				}
			}
		}
	}
	if len(owners) != 1 || len(ids) != len(stmts) {
		t.Fatalf("transaction statements ran on %v (%d queries)", owners, len(ids))
	}
}

// TestExternalRouterAndAuthorization: an HTTP external routing service in
// Trino Gateway's shape routes queries through the policy, and the policy's
// authorization answers Envoy's ext_authz for kills through the gateway.
func TestExternalRouterAndAuthorization(t *testing.T) {
	var calls int
	var mu sync.Mutex
	router := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			TrinoQueryProperties struct {
				QueryType string   `json:"queryType"`
				Tables    []string `json:"tables"`
			} `json:"trinoQueryProperties"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		calls++
		mu.Unlock()
		group := ""
		if r.Header.Get("X-Trino-Source") == "ext-etl" && body.TrinoQueryProperties.QueryType == "SELECT" {
			group = "etl"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"routingGroup": group, "errors": []string{}, "externalHeaders": map[string]string{}})
	}))
	defer router.Close()
	cfg := policyFleet(t, copyPolicies(t, nil))
	cfg.Extra["routing"] = map[string]any{"defaultGroup": "adhoc", "externalRouter": map[string]any{"url": router.URL + "/route", "timeout": "1s"}}
	g := startGatewayWithClusters(t, cfg, "trino_a", "trino_e")
	ctx := context.Background()

	qr, err := harness.Submit(ctx, g.URL(0), "e2e", "SELECT 1", map[string]string{"X-Trino-Source": "ext-etl"})
	if err != nil || qr.Error != nil {
		t.Fatalf("%v %+v", err, qr)
	}
	if o := ownerOf(t, qr.NextURI); o != "e" {
		t.Fatalf("ran on %s, want e (the external routing service's etl)", o)
	}
	mu.Lock()
	if calls == 0 {
		t.Fatal("the external routing service was not called")
	}
	mu.Unlock()

	// A query of alice's, held running; bob may not kill it, alice may.
	held, err := harness.Submit(ctx, g.URL(0), "alice", "SELECT * FROM tpch.sf1.lineitem LIMIT 300000", nil)
	if err != nil || held.Error != nil {
		t.Fatalf("%v %+v", err, held)
	}
	if held, _, err = advanceUntilRunning(ctx, held); err != nil {
		t.Fatal(err)
	}
	kill := func(user string) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, g.URL(0)+"/v1/query/"+held.ID+"/killed", strings.NewReader("stop"))
		req.Header.Set("X-Trino-User", user)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := kill("bob"); code != http.StatusForbidden || !strings.Contains(body, "user bob may not kill query "+held.ID) || !strings.Contains(body, `"errorName":"POLICY_DENIED"`) {
		t.Fatalf("bob's kill: %d %s", code, body)
	}
	if code, body := kill("alice"); code/100 != 2 {
		t.Fatalf("alice's kill: %d %s", code, body)
	}
	owner := map[string]*harness.Trino{"a": trinoA, "s": trinoA, "v": trinoA, "e": trinoB, "g": trinoB}[ownerOf(t, held.NextURI)]
	q, err := waitQueryState(ctx, owner, held.ID, "FAILED")
	if err != nil {
		t.Fatal(err)
	}
	if q.ErrorCode == nil || q.ErrorCode.Name != "ADMINISTRATIVELY_KILLED" {
		t.Fatalf("killed query ended with %+v", q.ErrorCode)
	}
}

// TestCostBasedRouting turns routing.cost on: the gateway asks cluster a
// for EXPLAIN (TYPE IO) estimates, and the shipped policy sends a query
// that reads over 500 MB to the big group.
func TestCostBasedRouting(t *testing.T) {
	cfg := policyFleet(t, copyPolicies(t, nil))
	cfg.Groups = append(cfg.Groups, "big")
	cfg.Clusters = append(cfg.Clusters, harness.ClusterSpec{Name: "bg", Group: "big", Coordinators: []harness.CoordinatorSpec{{URL: trinoB.URL}}})
	cfg.Extra["routing"] = map[string]any{"defaultGroup": "adhoc", "cost": map[string]any{"enabled": true, "cluster": "a", "timeout": "20s"}}
	g := startGatewayWithClusters(t, cfg, "trino_a", "trino_bg")
	for _, tt := range []struct{ sql, owner string }{
		{"SELECT * FROM tpch.sf1.lineitem WHERE quantity > 10", "bg"}, // ~780 MB read, estimated
		{"SELECT count(*) FROM tpch.tiny.lineitem", "a"},              // ~8 MB
	} {
		qr, err := harness.Submit(context.Background(), g.URL(0), "e2e", tt.sql, nil)
		if err != nil || qr.Error != nil {
			t.Fatalf("%s: %v %+v", tt.sql, err, qr)
		}
		if o := ownerOf(t, qr.NextURI); o != tt.owner {
			t.Fatalf("%s ran on %s, want %s", tt.sql, o, tt.owner)
		}
		_, _ = harness.Fetch(context.Background(), http.MethodDelete, qr.NextURI)
	}
	out, err := cli(context.Background(), g, "policy", "decisions", "--limit", "5")
	if err != nil || !strings.Contains(out, "is over 500 MB") {
		t.Fatalf("decision log: %v\n%s", err, out)
	}

	// A write is estimated by its query part: EXPLAIN (TYPE IO) of the
	// CREATE TABLE AS itself creates the table on the memory connector,
	// and the real statement then failed with TABLE_ALREADY_EXISTS.
	for _, sql := range []string{
		"CREATE TABLE memory.default.cost_ctas AS SELECT * FROM tpch.tiny.nation",
		"INSERT INTO memory.default.cost_ctas SELECT * FROM tpch.tiny.nation WHERE nationkey < 5",
	} {
		if _, err := harness.RunQuery(context.Background(), g.URL(0), "e2e", sql, nil); err != nil {
			t.Fatalf("%s through the gateway with routing.cost on: %v", sql, err)
		}
	}
	rows, err := harness.RunQuery(context.Background(), g.URL(0), "e2e", "SELECT count(*) FROM memory.default.cost_ctas", nil)
	if err != nil || len(rows) != 1 || fmt.Sprint(rows[0][0]) != "30" {
		t.Fatalf("the table holds %v (%v), want 30 rows", rows, err)
	}
	if _, err := harness.RunQuery(context.Background(), g.URL(0), "e2e", "DROP TABLE memory.default.cost_ctas", nil); err != nil {
		t.Fatal(err)
	}
	out, err = cli(context.Background(), g, "policy", "decisions", "--limit", "10")
	if err != nil || strings.Count(out, "cost estimate: reads") < 3 {
		t.Fatalf("the writes' queries were not estimated: %v\n%s", err, out)
	}
}

// pyTransaction runs statements and a commit in one Python DB-API
// transaction (e2e/clients/pytxn.py) through server and returns their
// query IDs; a failed transaction fails the test.
func pyTransaction(t *testing.T, server string, stmts []string) []string {
	t.Helper()
	spec, _ := json.Marshal(map[string]any{"server": server, "user": "e2e", "statements": stmts})
	cmd := exec.Command(env.PythonPath(), filepath.Join(env.Root, "e2e", "clients", "pytxn.py"))
	cmd.Stdin = strings.NewReader(string(spec))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python client: %v", err)
	}
	var res struct {
		QueryIDs []string `json:"query_ids"`
		Error    *string  `json:"error"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.Error != nil {
		t.Fatalf("transaction failed: %s", *res.Error)
	}
	return res.QueryIDs
}
