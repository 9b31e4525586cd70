package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// The queries of the protection tests.
const (
	// crossJoinSQL joins two large tpch sf1 tables without criteria: 1.5M
	// × 200k rows.
	crossJoinSQL = "SELECT count(*) FROM tpch.sf1.orders CROSS JOIN tpch.sf1.part"
	// fullScanSQL reads all of tpch sf1's lineitem (6M rows, huge here).
	fullScanSQL = "SELECT sum(quantity) FROM tpch.sf1.lineitem"
	// runawaySQL passes pre-admission (one of its inputs is small) and
	// then burns CPU: 1.5M × 15k rows through a cosine, hours of work.
	runawaySQL = "SELECT count(*) FROM tpch.sf1.orders a CROSS JOIN tpch.tiny.orders b WHERE cos(a.totalprice * b.totalprice) > 2"
	// memorySQL holds every order's comment (1.5M, ~70MB): with
	// query_max_memory=1MB it fails on the memory limit.
	memorySQL = "SELECT orderpriority, array_agg(comment) FROM tpch.sf1.orders GROUP BY orderpriority"
	// skewedJoinSQL and balancedJoinSQL join the same 6M lineitem rows on
	// a key where 95% of rows share one value, and on an even key. A hash
	// of each row's comment (always unequal to it) makes the lineitem scan
	// the slowest stage: the join stage's tasks then take rows as fast as
	// the scan sends them, whatever each worker's speed, so a lopsided
	// join stage is the key's doing (on a machine where one worker got
	// the cores, the probe being the slowest stage once put 86% of the
	// balanced join's rows on one task while it ran), and the join stage
	// runs for seconds with its skew visible, not for the last second of
	// the query (the skewed join was once over before a poll saw it).
	probeFilter     = " WHERE l.comment <> to_hex(sha256(to_utf8(l.comment)))"
	skewedJoinSQL   = "SELECT count(*) FROM tpch.sf1.lineitem l JOIN (SELECT DISTINCT IF(orderkey % 100 < 95, 1, orderkey % 100003) AS k FROM tpch.sf1.orders) o ON IF(l.orderkey % 100 < 95, 1, l.orderkey % 100003) = o.k" + probeFilter
	balancedJoinSQL = "SELECT count(*) FROM tpch.sf1.lineitem l JOIN (SELECT DISTINCT orderkey % 100003 AS k FROM tpch.sf1.orders) o ON l.orderkey % 100003 = o.k" + probeFilter
)

// protectionSizes are size classes that make tpch sf1's part (200k rows)
// and orders (1.5M) large and lineitem (6M) huge, and tiny's tables
// small (the defaults are for real warehouses).
var protectionSizes = map[string]any{"mediumRows": 50_000, "largeRows": 100_000, "hugeRows": 5_000_000}

// protectionGateway starts a gateway with query protection: groups adhoc
// (cluster a, on trinoA), big (cluster bg, on trinoB) and secure (cluster
// v, on trinoA, tagged secure: the shipped routing policy sends the
// tables data.json tags pii there), table statistics
// from cluster a, the shipped policies with watchdog settings changed,
// and the watchdog (interval 1s) when watchdog is set.
func protectionGateway(t *testing.T, replicas int, wd map[string]any, watchdog bool) *gateway {
	t.Helper()
	settings := map[string]any{}
	if wd != nil {
		b, _ := os.ReadFile(filepath.Join(env.Root, "policies", "data.json"))
		var doc struct {
			Switchyard struct {
				Settings struct {
					Watchdog map[string]any `json:"watchdog"`
				} `json:"settings"`
			} `json:"switchyard"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		for k, v := range wd {
			doc.Switchyard.Settings.Watchdog[k] = v
		}
		settings["watchdog"] = doc.Switchyard.Settings.Watchdog
	}
	cfg := withAdmin(harness.GatewayConfig{
		DefaultGroup: "adhoc",
		Groups:       []string{"adhoc", "big", "secure"},
		Clusters: []harness.ClusterSpec{
			{Name: "a", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{{URL: trinoA.URL}}},
			{Name: "bg", Group: "big", Coordinators: []harness.CoordinatorSpec{{URL: trinoB.URL}}},
			{Name: "v", Group: "secure", Tags: []string{"secure"}, Coordinators: []harness.CoordinatorSpec{{URL: trinoA.URL}}},
		},
	})
	cfg.Extra["policy"] = map[string]any{"dir": copyPolicies(t, settings)}
	cfg.Extra["protection"] = map[string]any{
		"metadata": map[string]any{"trino": map[string]any{"cluster": "a"}, "sizeClasses": protectionSizes},
		"watchdog": map[string]any{"enabled": watchdog, "interval": "1s", "detailAfter": "1s"},
	}
	return startGatewayFor(t, replicas, cfg, "trino_a", "trino_bg", "trino_v")
}

// adminCall sends a request to a replica's admin API (as the e2e admin)
// and decodes its JSON answer into out (when not nil).
func adminCall(t *testing.T, cp *harness.Switchyard, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+cp.AdminAddr+path, rd)
	req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: HTTP %d: %v: %s", method, path, resp.StatusCode, err, b)
		}
	}
	return resp.StatusCode
}

// dryRun decides sql as user without running it.
func dryRun(t *testing.T, g *gateway, user, sql string) (decision struct {
	Allow       bool     `json:"allow"`
	Error       string   `json:"error"`
	Group       string   `json:"group"`
	Cluster     string   `json:"cluster"`
	Explanation []string `json:"explanation"`
}) {
	t.Helper()
	var res struct {
		Decision json.RawMessage `json:"decision"`
	}
	if code := adminCall(t, g.cps[0], http.MethodPost, "/api/v1/policy/eval", map[string]any{"sql": sql, "headers": map[string]string{"X-Trino-User": user}}, &res); code != http.StatusOK {
		t.Fatalf("dry run: HTTP %d", code)
	}
	if err := json.Unmarshal(res.Decision, &decision); err != nil {
		t.Fatal(err)
	}
	return decision
}

// warmMetadata waits until the metadata catalog knows the tables' sizes:
// the first lookup of a table waits for Trino at most a quarter of the
// ext_proc timeout (a submission is never held longer), and the answer
// is cached when it comes. Until then a query is decided without sizes.
func warmMetadata(t *testing.T, g *gateway) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		d := dryRun(t, g, "warm", crossJoinSQL+" UNION ALL SELECT count(*) FROM tpch.sf1.lineitem")
		if strings.Contains(d.Error, "QUERY_REFUSED_BY_PROTECTION") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the table statistics never arrived: %+v", d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// protectionActions reads the action log.
func protectionActions(t *testing.T, cp *harness.Switchyard) []store.Action {
	t.Helper()
	var as []store.Action
	if code := adminCall(t, cp, http.MethodGet, "/api/v1/protection/actions?limit=1000", nil, &as); code != http.StatusOK {
		t.Fatalf("actions: HTTP %d", code)
	}
	return as
}

// ranOn reports the clusters whose coordinators know a query with this
// text (a refused query must be on none).
func ranOn(t *testing.T, sql string) []string {
	t.Helper()
	var on []string
	for name, tr := range map[string]*harness.Trino{"a": trinoA, "b": trinoB} {
		qs, err := tr.Queries(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if strings.TrimSpace(q.Query) == sql {
				on = append(on, name)
			}
		}
	}
	return on
}

// TestProtectionBeforeAdmission: the shipped protection policy, with
// table statistics from Trino, refuses a cross join of two large tables
// before it reaches a cluster (the trino CLI and the Python client print
// the reason), and sends a full scan of a huge table to the big-query
// group with a scan cap that the cluster sees in the query's session.
func TestProtectionBeforeAdmission(t *testing.T) {
	g := protectionGateway(t, 1, nil, false)
	warmMetadata(t, g)

	t.Run("cross join refused", func(t *testing.T) {
		out, err := runCLI(t, g.URL(0), "--execute", crossJoinSQL)
		if err == nil || !strings.Contains(out+err.Error(), "failed: query protection: a cross join (a join without criteria) of tpch.sf1.orders (large, 1500000 rows) and tpch.sf1.part (large, 200000 rows)") {
			t.Fatalf("the trino CLI does not print the reason: %v\n%s", err, out)
		}
		res := runPython(t, g.URL(0), nil, []taggedQuery{{Tag: "cross", SQL: crossJoinSQL}})
		if len(res) != 1 || !strings.Contains(res[0].Error, "QUERY_REFUSED_BY_PROTECTION") || !strings.Contains(res[0].Error, "would produce the product of their rows") {
			t.Fatalf("Python client: %+v", res)
		}
		if on := ranOn(t, crossJoinSQL); len(on) > 0 {
			t.Fatalf("the refused cross join reached cluster %v", on)
		}
		var refused int
		for _, a := range protectionActions(t, g.cps[0]) {
			if a.Action == "deny" && a.Rule == "cross-join-of-large-tables" && a.User == "e2e" {
				refused++
			}
		}
		if refused != 2 {
			t.Fatalf("%d refusals in the action log, want 2 (CLI, Python)", refused)
		}
	})

	t.Run("full scan of a huge table isolated and capped", func(t *testing.T) {
		qr, err := harness.Submit(context.Background(), g.URL(0), "e2e", fullScanSQL, nil)
		if err != nil || qr.Error != nil {
			t.Fatalf("%v %+v", err, qr)
		}
		if o := ownerOf(t, qr.NextURI); o != "bg" {
			t.Fatalf("the full scan ran on %s, want bg (the big group)", o)
		}
		// Trino creates a submitted query on its first poll.
		if next, err := harness.Fetch(context.Background(), http.MethodGet, qr.NextURI); err != nil {
			t.Fatal(err)
		} else if next.NextURI != "" {
			defer func() { _, _ = harness.Fetch(context.Background(), http.MethodDelete, next.NextURI) }()
		}
		// The cap is in the query's session on the cluster.
		var info struct {
			QueryID string `json:"queryId"`
			Session struct {
				SystemProperties map[string]string `json:"systemProperties"`
			} `json:"session"`
		}
		deadline := time.Now().Add(30 * time.Second)
		for info.QueryID != qr.ID {
			req, _ := http.NewRequest(http.MethodGet, trinoB.URL+"/v1/query", nil)
			req.Header.Set("X-Trino-User", "e2e")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var list []json.RawMessage
			if err := json.Unmarshal(b, &list); err != nil {
				t.Fatalf("GET /v1/query: HTTP %d: %v: %.200s", resp.StatusCode, err, b)
			}
			for _, raw := range list {
				if strings.Contains(string(raw), qr.ID) {
					if err := json.Unmarshal(raw, &info); err != nil {
						t.Fatalf("query %s: %v: %.300s", qr.ID, err, raw)
					}
				}
			}
			if info.QueryID != qr.ID && time.Now().After(deadline) {
				t.Fatalf("query %s is not on cluster bg", qr.ID)
			}
		}
		if got := info.Session.SystemProperties["query_max_scan_physical_bytes"]; got != "1TB" {
			t.Fatalf("the query's session has query_max_scan_physical_bytes=%q, want 1TB (%v)", got, info.Session.SystemProperties)
		}
	})
}

// TestProtectionNoFalsePositives: the 22 TPC-H queries and ordinary
// analyst queries (e2e/testdata/ordinary) run through the gateway with the
// shipped policies, table statistics and the watchdog on: none is refused,
// rerouted, capped, killed or flagged by query protection. (The routing
// policy sends the queries that read tpch.tiny.customer, tagged pii in the
// shipped data, to the secure group, as it does without protection.)
func TestProtectionNoFalsePositives(t *testing.T) {
	g := protectionGateway(t, 1, nil, true)
	warmMetadata(t, g)
	before := len(protectionActions(t, g.cps[0])) // the warm-up's dry runs record nothing
	files, err := filepath.Glob(filepath.Join(env.Root, "e2e", "testdata", "ordinary", "*.sql"))
	if err != nil || len(files) < 30 {
		t.Fatalf("%d ordinary queries (%v), want at least 30", len(files), err)
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sql := strings.TrimSpace(string(b))
		name := strings.TrimSuffix(filepath.Base(f), ".sql")
		d := dryRun(t, g, "analyst", sql)
		if !d.Allow || d.Error != "" || (d.Group != "adhoc" && d.Group != "secure") {
			t.Errorf("%s: decided %+v", name, d)
		}
		for _, e := range d.Explanation {
			if strings.HasPrefix(e, "protection") {
				t.Errorf("%s: %s", name, e)
			}
		}
		qr, err := harness.Submit(context.Background(), g.URL(0), "analyst", sql, nil)
		if err != nil || qr.Error != nil {
			t.Fatalf("%s: %v %+v", name, err, qr)
		}
		if o := ownerOf(t, qr.NextURI); o != "a" && o != "v" {
			t.Errorf("%s ran on %s, want a (or v, the secure cluster)", name, o)
		}
		for i := 0; qr.NextURI != ""; i++ {
			if qr, err = harness.Fetch(context.Background(), http.MethodGet, qr.NextURI); err != nil || qr.Error != nil || i > 100000 {
				t.Fatalf("%s: %v %+v", name, err, qr)
			}
		}
	}
	if as := protectionActions(t, g.cps[0]); len(as) != before {
		t.Fatalf("protection acted on ordinary queries: %+v", as[:len(as)-before])
	}
}

// followToEnd follows a query to its end and returns its error.
func followToEnd(ctx context.Context, qr *harness.QueryResults) (*harness.QueryResults, error) {
	var err error
	for qr.NextURI != "" && qr.Error == nil {
		if qr, err = harness.Fetch(ctx, http.MethodGet, qr.NextURI); err != nil {
			return qr, err
		}
	}
	return qr, nil
}

// TestWatchdogKillsRunawayOnce: two control-plane replicas with the
// watchdog on (one holds its lease) and a CPU limit of 3 s. A query that
// passes pre-admission and then burns CPU is killed once, within the
// watchdog's interval plus a margin of reaching the limit; the client
// sees the watchdog's reason; the query history shows the kill; its user
// is throttled for a minute.
func TestWatchdogKillsRunawayOnce(t *testing.T) {
	g := protectionGateway(t, 2, map[string]any{"kill_cpu_seconds": 3, "throttle_for": "1m"}, true)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	res := runPython(t, g.URL(1), nil, []taggedQuery{{Tag: "runaway", SQL: runawaySQL}})
	took := time.Since(start)
	if len(res) != 1 || !strings.Contains(res[0].Error, "Query killed. Message: Switchyard watchdog: the query used") || !strings.Contains(res[0].Error, "over the limit of 3 s (rule runaway-cpu)") {
		t.Fatalf("the Python client got %+v", res)
	}
	// The query runs for hours unkilled; at 2 cores the rule's 3 s of CPU
	// come within a few seconds of its start.
	if took > 90*time.Second {
		t.Fatalf("the runaway was killed after %v", took)
	}
	id := res[0].QueryID
	t.Logf("runaway %s killed after %v", id, took.Round(time.Millisecond))
	// Killed once: one kill in the shared action log, counted by one
	// replica.
	var kills []store.Action
	for _, a := range protectionActions(t, g.cps[0]) {
		if a.QueryID == id && a.Action == "kill" {
			kills = append(kills, a)
		}
	}
	// Clusters a and v are both trinoA here: the watchdog polls that
	// coordinator twice per interval, and the claim lets one kill through.
	if len(kills) != 1 || (kills[0].Cluster != "a" && kills[0].Cluster != "v") || kills[0].ReportOnly {
		t.Fatalf("kills of %s: %+v", id, kills)
	}
	// Within the interval plus a margin of crossing the limit: the poll
	// that killed it saw at most the 3 s of the rule, one interval (1 s)
	// of both cores, and a margin of 10 s of CPU.
	var cpu, elapsed int
	if _, err := fmt.Sscanf(kills[0].Reason, "the query used %d s of CPU in %d s", &cpu, &elapsed); err != nil || cpu < 3 || cpu > 3+2+10 {
		t.Fatalf("the kill came at %d s of CPU (%v): %s", cpu, err, kills[0].Reason)
	}
	t.Logf("killed at %d s of CPU, %d s after it started", cpu, elapsed)
	total := 0
	for _, cp := range g.cps {
		total += int(replicaMetric(t, cp, `switchyard_protection_actions_total{action="kill",mode="enforced"}`))
	}
	if total != 1 {
		t.Fatalf("the replicas counted %d kills", total)
	}
	// The history shows it, with the watchdog's action.
	deadline := time.Now().Add(time.Minute)
	for {
		var hist []struct {
			QueryID    string         `json:"queryId"`
			State      string         `json:"state"`
			ErrorName  string         `json:"errorName"`
			Protection []store.Action `json:"protection"`
		}
		adminCall(t, g.cps[0], http.MethodGet, "/api/v1/history?limit=200", nil, &hist)
		found := false
		for _, h := range hist {
			if h.QueryID == id && h.State == "FAILED" && h.ErrorName == "ADMINISTRATIVELY_KILLED" && len(h.Protection) > 0 && h.Protection[0].Rule == "runaway-cpu" {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("the history does not show the kill of %s: %+v", id, hist)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The user is throttled for a minute; an operator can end it.
	var ths []store.Throttle
	adminCall(t, g.cps[1], http.MethodGet, "/api/v1/protection/throttles", nil, &ths)
	if len(ths) != 1 || ths[0].User != "e2e" || ths[0].MaxRunning != 1 || time.Until(ths[0].Until) > time.Minute {
		t.Fatalf("throttles: %+v", ths)
	}
	if code := adminCall(t, g.cps[1], http.MethodDelete, "/api/v1/protection/throttles/e2e", nil, nil); code != http.StatusOK {
		t.Fatalf("unthrottle: HTTP %d", code)
	}
}

// TestProtectionRemembersFailures: a query that fails on its memory limit
// is remembered by its fingerprint (from Trino's completed event): the
// next submission runs in the big-query group with the failure named in
// its decision, and after a second failure it is refused with a reason
// that names the earlier failure and its time.
func TestProtectionRemembersFailures(t *testing.T) {
	g := protectionGateway(t, 1, nil, false)
	ctx := context.Background()
	capped := map[string]string{"X-Trino-Session": "query_max_memory=1MB"}
	var fp struct {
		Fingerprint string `json:"fingerprint"`
	}
	adminCall(t, g.cps[0], http.MethodPost, "/api/v1/protection/fingerprint", map[string]string{"sql": memorySQL}, &fp)
	incidents := func(want int) []store.Incident {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			var got struct {
				Incidents []store.Incident `json:"incidents"`
			}
			adminCall(t, g.cps[0], http.MethodGet, "/api/v1/protection/fingerprints/"+fp.Fingerprint, nil, &got)
			if len(got.Incidents) >= want {
				return got.Incidents
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d incidents of %s, want %d", len(got.Incidents), fp.Fingerprint, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	run := func(wantOwner string) {
		t.Helper()
		qr, err := harness.Submit(ctx, g.URL(0), "e2e", memorySQL, capped)
		if err != nil || qr.Error != nil {
			t.Fatalf("%v %+v", err, qr)
		}
		if o := ownerOf(t, qr.NextURI); o != wantOwner {
			t.Fatalf("ran on %s, want %s", o, wantOwner)
		}
		end, err := followToEnd(ctx, qr)
		if err != nil || end.Error == nil || !strings.HasPrefix(end.Error.ErrorName, "EXCEEDED_") {
			t.Fatalf("the query did not fail on its memory limit: %v %+v", err, end)
		}
	}
	run("a")
	first := incidents(1)[0]
	if first.Kind != store.IncidentFailure || !strings.HasPrefix(first.ErrorName, "EXCEEDED_") || first.Cluster != "a" {
		t.Fatalf("incident: %+v", first)
	}
	d := dryRun(t, g, "e2e", memorySQL)
	if d.Group != "big" || !strings.Contains(strings.Join(d.Explanation, "; "), "failed at "+first.Time.UTC().Format(time.RFC3339)) {
		t.Fatalf("the repeat is not routed with the failure named: %+v", d)
	}
	run("bg")
	incidents(2)
	qr, err := harness.Submit(ctx, g.URL(0), "e2e", memorySQL, capped)
	if err != nil || qr.Error == nil || qr.Error.ErrorName != "QUERY_REFUSED_BY_PROTECTION" ||
		!strings.Contains(qr.Error.Message, "failed at ") || !strings.Contains(qr.Error.Message, "EXCEEDED_") {
		t.Fatalf("the third submission: %v %+v", err, qr)
	}
	t.Logf("refused: %s", qr.Error.Message)
	// An operator releases the fingerprint: it runs again.
	if code := adminCall(t, g.cps[0], http.MethodDelete, "/api/v1/protection/fingerprints/"+fp.Fingerprint, nil, nil); code != http.StatusOK {
		t.Fatalf("release: HTTP %d", code)
	}
	if d := dryRun(t, g, "e2e", memorySQL); !d.Allow || d.Group != "adhoc" {
		t.Fatalf("after the release: %+v", d)
	}
}

// TestWatchdogFlagsSkew: on a coordinator with two workers, a join where
// one key holds 95% of the rows (hash partitioned over both workers) is
// flagged by the watchdog with its stage and spread; a balanced join of
// the same size is not.
func TestWatchdogFlagsSkew(t *testing.T) {
	mn := startMultiNode(t, "skew", harness.TrinoClusterOptions{Workers: 2})
	cfg := withAdmin(harness.GatewayConfig{
		DefaultGroup: "adhoc",
		Groups:       []string{"adhoc"},
		Clusters:     []harness.ClusterSpec{{Name: "sk", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{{URL: mn.URL}}}},
	})
	cfg.Extra["policy"] = map[string]any{"dir": copyPolicies(t, nil)}
	cfg.Extra["protection"] = map[string]any{"watchdog": map[string]any{"enabled": true, "interval": "1s", "detailAfter": "1s"}}
	g := startGatewayWithClusters(t, cfg, "trino_sk")
	partitioned := map[string]string{"X-Trino-Session": "join_distribution_type=PARTITIONED"}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	runJoin := func(sql string) (string, time.Duration) {
		t.Helper()
		qr, err := harness.Submit(ctx, g.URL(0), "e2e", sql, partitioned)
		if err != nil || qr.Error != nil {
			t.Fatalf("%v %+v", err, qr)
		}
		start := time.Now()
		end, err := followToEnd(ctx, qr)
		if err != nil || end.Error != nil {
			t.Fatalf("%v %+v", err, end)
		}
		return qr.ID, time.Since(start)
	}
	flags := func(id string) []store.Action {
		var out []store.Action
		for _, a := range protectionActions(t, g.cps[0]) {
			if a.QueryID == id && a.Rule == "skewed-stage" {
				out = append(out, a)
			}
		}
		return out
	}
	// settle waits until the watchdog has finished two polls after a
	// query ended (every poll that saw it is done) and gives the action
	// log, written in the background, time to show what they did: on a
	// loaded machine the skew shows late in the query (the stage needs
	// its million rows), and its flag was once read before it was written.
	polls := func() float64 { return replicaMetric(t, g.cps[0], `switchyard_watchdog_poll_seconds_count`) }
	settle := func(id string, want int) []store.Action {
		t.Helper()
		after := polls()
		var f []store.Action
		_ = harness.Poll(ctx, "the watchdog's polls after "+id, 30*time.Second, 100*time.Millisecond, func() error {
			if f = flags(id); polls() < after+2 || len(f) < want {
				return fmt.Errorf("%v polls since, %d flags", polls()-after, len(f))
			}
			return nil
		})
		return f
	}
	skewed, took := runJoin(skewedJoinSQL)
	f := settle(skewed, 1)
	var spread float64
	if len(f) == 1 {
		_, after, _ := strings.Cut(f[0].Reason, "(spread ")
		_, _ = fmt.Sscan(after, &spread)
	}
	if len(f) != 1 || f[0].Action != "warn" || !strings.Contains(f[0].Reason, "stage "+skewed+".") || spread < 1.5 || strings.Contains(f[0].Reason, "%!") {
		t.Fatalf("the skewed join (%v) was flagged %+v", took, f)
	}
	t.Logf("skewed join %s (%v): %s", skewed, took.Round(time.Millisecond), f[0].Reason)
	// The balanced join on idle workers: the skewed join's tasks gone
	// from every node (a task still ending on one worker, holding the 4M-row
	// hash table, once made the balanced join's tasks start their probes
	// far apart on a loaded CI machine: 91% of the rows on one task while
	// it ran).
	err := harness.Poll(ctx, "the skew cluster to be idle", time.Minute, 100*time.Millisecond, func() error {
		qs, err := mn.Coordinator.Queries(ctx)
		if err != nil {
			return err
		}
		for _, q := range qs {
			if q.State != "FINISHED" && q.State != "FAILED" {
				return fmt.Errorf("query %s is %s", q.QueryID, q.State)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	balanced, took := runJoin(balancedJoinSQL)
	// It ran long enough for the watchdog to read its stages (1 s before
	// the detail, 1 s between polls).
	if took < 4*time.Second {
		t.Fatalf("the balanced join took %v: too short for the watchdog to have looked", took)
	}
	if f := settle(balanced, 0); len(f) != 0 {
		t.Fatalf("the balanced join was flagged: %+v", f)
	}
	if n := replicaMetric(t, g.cps[0], `switchyard_watchdog_errors_total{step="detail"}`); n != 0 {
		t.Fatalf("%v failed detail reads", n)
	}
}
