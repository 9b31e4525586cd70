package policy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The decision-equivalence test: the shipped policies (and a variant of
// their data that turns on the rules the shipped settings leave off)
// decide a fixed corpus of submissions, authorization requests and
// impersonations; every decision, as the Go side returns it, must equal
// the one recorded in testdata/decisions.golden.jsonl. The golden was
// recorded before the policies and the evaluation were optimised: a
// difference is a change of behaviour, not a reason to regenerate it.

var updateGolden = flag.Bool("update-decisions-golden", false, "rewrite testdata/decisions.golden.jsonl (only for an intended change of the decisions)")

const goldenPath = "testdata/decisions.golden.jsonl"

// goldenLine is one case of the golden file.
type goldenLine struct {
	ID string `json:"id"`
	// Routing and protection (submissions).
	Decision   *Decision           `json:"decision,omitempty"`
	Protection *ProtectionDecision `json:"protection,omitempty"`
	// Authorization and impersonation.
	Authz *AuthzDecision `json:"authz,omitempty"`
	Err   string         `json:"err,omitempty"`
	PErr  string         `json:"perr,omitempty"`
}

// equivalenceVariants are the data the corpus runs against: the shipped
// data, and a variant with a DDL cluster, dry-run protection, a higher
// incident threshold, impersonation rules and opened endpoints.
func equivalenceVariants(t testing.TB) map[string]*Compiled {
	t.Helper()
	out := map[string]*Compiled{}
	for _, name := range []string{"shipped", "variant"} {
		b, err := LoadDir("../../policies")
		if err != nil {
			t.Fatal(err)
		}
		if name == "variant" {
			var doc map[string]any
			if err := json.Unmarshal(b.Files["data.json"], &doc); err != nil {
				t.Fatal(err)
			}
			s := doc["switchyard"].(map[string]any)["settings"].(map[string]any)
			s["ddl_cluster"] = "a"
			s["agent_max_run_time"] = "2m"
			s["impersonation"] = []any{
				map[string]any{"original_user": "svc_.*", "new_user": "admin", "allow": false},
				map[string]any{"original_user": "svc_.*", "new_user": ".*"},
				map[string]any{"original_user": "alice", "new_user": "bob"},
			}
			s["open_endpoints"] = []any{map[string]any{"prefix": "/metrics", "users": []any{"prometheus"}}}
			p := s["protection"].(map[string]any)
			p["dry_run"] = true
			p["incident_deny_after"] = 3
			p["cross_join_classes"] = []any{"medium", "large", "huge"}
			if b.Files["data.json"], err = json.Marshal(doc); err != nil {
				t.Fatal(err)
			}
		}
		c, err := Compile(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = c
	}
	return out
}

var eqBase = time.Date(2027, 1, 15, 8, 0, 0, 0, time.UTC)

// eqTables is the metadata the corpus draws from: sizes as the policy
// data states them (size) and as the metadata sources derive them
// (sizeClass), rows as integers, floats and nonsense, tags.
var eqTables = map[string]map[string]any{
	"tpch.sf1.orders":     {"sizeClass": "large", "rows": 1.5e6, "bytes": 1.7e8},
	"tpch.sf1.customer":   {"size": "medium", "tags": []any{"pii"}, "owner": "sales", "sizeClass": "large", "rows": 150000},
	"tpch.tiny.customer":  {"size": "small", "tags": []any{"pii"}, "owner": "sales"},
	"tpch.sf100.lineitem": {"size": "huge", "tags": []any{}, "owner": "ops"},
	"tpch.sf1.lineitem":   {"sizeClass": "huge", "rows": 6001215},
	"tpch.tiny.nation":    {"sizeClass": "small", "rows": 25},
	"hive.web.events":     {"size": "huge"},
	"hive.web.users":      {"tags": []any{"gdpr", "pii"}, "sizeClass": "large", "bytes": 1e12, "rows": 2.5},
	"tpch.sf1.supplier":   {"rows": "many", "size": "medium"},
	"tpch.sf1.part":       {"sizeClass": "medium", "rows": int64(200000)},
}

var eqTableNames = []string{"tpch.sf1.orders", "tpch.sf1.customer", "tpch.tiny.customer", "tpch.sf100.lineitem", "tpch.sf1.lineitem",
	"tpch.tiny.nation", "hive.web.events", "hive.web.users", "tpch.sf1.supplier", "tpch.sf1.part", "x.y.unknown"}

func eqFleets() []FleetInfo {
	full := FleetInfo{
		DefaultGroup: "adhoc",
		Groups: map[string]GroupInfo{
			"adhoc": {Clusters: []string{"a", "a2"}, Strategy: "round-robin"}, "etl": {Clusters: []string{"e"}}, "sandbox": {Clusters: []string{"s"}},
			"agents": {Clusters: []string{"g"}, Strategy: "least-loaded"}, "secure": {Clusters: []string{"v", "v2"}}, "big": {Clusters: []string{"b"}},
		},
		Clusters: map[string]ClusterInfo{
			"a": {Group: "adhoc", State: "active", Healthy: true, Weight: 1, Running: 3, Queued: 1}, "a2": {Group: "adhoc", State: "draining", Healthy: false},
			"e": {Group: "etl", Healthy: true}, "s": {Group: "sandbox", Healthy: true},
			"g": {Group: "agents", Healthy: true, Tags: []string{"gpu"}}, "v": {Group: "secure", Healthy: true, Tags: []string{"secure"}},
			"v2": {Group: "secure", Healthy: false, Tags: []string{"secure", "eu"}}, "b": {Group: "big", Healthy: true, Weight: 3},
		},
	}
	noSecure := FleetInfo{
		DefaultGroup: "adhoc",
		Groups:       map[string]GroupInfo{"adhoc": {Clusters: []string{"a"}}, "etl": {Clusters: []string{"e"}}, "secure": {Clusters: []string{"w"}}},
		Clusters:     map[string]ClusterInfo{"a": {Group: "adhoc", Healthy: true}, "e": {Group: "etl", Healthy: false}, "w": {Group: "secure", Healthy: true}},
	}
	small := FleetInfo{DefaultGroup: "adhoc", Groups: map[string]GroupInfo{"adhoc": {Clusters: []string{"a"}}}, Clusters: map[string]ClusterInfo{"a": {Group: "adhoc", Healthy: true}}}
	many := FleetInfo{DefaultGroup: "adhoc", Groups: map[string]GroupInfo{"adhoc": {}, "secure": {}, "big": {}}, Clusters: map[string]ClusterInfo{}}
	for i := range 100 {
		name := fmt.Sprintf("c%d", i)
		ci := ClusterInfo{Group: "adhoc", Healthy: i%7 != 0, Weight: i % 3, Running: i, Queued: i / 10}
		switch {
		case i%10 == 3:
			ci.Group, ci.Tags = "secure", []string{"secure"}
		case i%10 == 5:
			ci.Group = "big"
		}
		g := many.Groups[ci.Group]
		g.Clusters = append(g.Clusters, name)
		many.Groups[ci.Group] = g
		many.Clusters[name] = ci
	}
	return []FleetInfo{full, noSecure, small, {}, many}
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// eqInput draws one submission.
func eqInput(r *rand.Rand, fleets []FleetInfo, fleetValues []FleetValue) *Input {
	types := []string{"SELECT", "SELECT", "SELECT", "SHOW", "DESCRIBE", "EXPLAIN", "EXPLAIN_ANALYZE", "INSERT", "DELETE", "UPDATE", "MERGE",
		"CREATE_TABLE_AS", "DDL", "CREATE_TABLE", "CREATE_VIEW", "OTHER", ""}
	in := &Input{
		Request: RequestInfo{
			User:         pick(r, []string{"alice", "alice", "intern", "airflow", "dbt-runner", "svc-reporting", "admin", "bot", "bob"}),
			Source:       pick(r, []string{"trino-cli", "trino-cli", "airflow", "dbt", "agent-7", "support-agent", "my-agent", "agentless", "", "superset"}),
			ClientTags:   pick(r, [][]string{nil, nil, {"etl"}, {"x"}, {"etl", "nightly"}, {"b", "a"}}),
			ClientInfo:   pick(r, []string{"", "info"}),
			Catalog:      pick(r, []string{"", "tpch"}),
			Schema:       pick(r, []string{"", "sf1"}),
			Session:      pick(r, []map[string]string{nil, nil, {"join_distribution_type": "BROADCAST"}, {"query_max_run_time": "1h"}, {"b": "2", "a": "1"}}),
			RoutingGroup: pick(r, []string{"", "", "", "", "sandbox", "etl", "secure", "nope", "agents", "big", "adhoc"}),
			Method:       "POST", Path: "/v1/statement",
			RemoteAddress: "10.0.0.9",
		},
		Time: eqBase.Add(time.Duration(r.IntN(3600)) * time.Second),
	}
	if r.IntN(4) == 0 {
		in.Request.Principal = in.Request.User
	}
	if r.IntN(8) == 0 {
		in.Request.TransactionID = "tx1"
	}
	q := &in.Query
	q.Type = pick(r, types)
	switch q.Type {
	case "EXPLAIN":
		q.Explain, q.InnerType = "EXPLAIN", pick(r, []string{"SELECT", "INSERT"})
	case "EXPLAIN_ANALYZE":
		q.Explain, q.InnerType = "EXPLAIN ANALYZE", "SELECT"
	}
	q.Length = 10 + r.IntN(5000)
	seen := map[string]bool{}
	for range r.IntN(5) {
		t := pick(r, eqTableNames)
		if !seen[t] {
			seen[t] = true
			q.Tables = append(q.Tables, t)
		}
	}
	if r.IntN(10) == 0 {
		q.Unresolved = []string{"cte_x"}
	}
	switch r.IntN(6) {
	case 0: // nil: no metadata
	case 1:
		q.TableInfo = map[string]any{}
	default:
		q.TableInfo = map[string]any{}
		for _, t := range q.Tables {
			if m, ok := eqTables[t]; ok {
				q.TableInfo[t] = m
			}
		}
	}
	tablesOr := func() string {
		if len(q.Tables) > 0 && r.IntN(4) != 0 {
			return pick(r, q.Tables)
		}
		return pick(r, eqTableNames)
	}
	for range r.IntN(4) {
		b := Block{Where: r.IntN(2) == 0, Limit: r.IntN(4) == 0, CrossJoin: r.IntN(3) == 0}
		for range 1 + r.IntN(3) {
			var input []string
			for range 1 + r.IntN(2) {
				input = append(input, tablesOr())
			}
			b.Inputs = append(b.Inputs, input)
			b.Tables = append(b.Tables, input...)
		}
		q.CrossJoin = q.CrossJoin || b.CrossJoin
		q.Blocks = append(q.Blocks, b)
	}
	q.HasWhere, q.HasLimit = r.IntN(2) == 0, r.IntN(3) == 0
	if r.IntN(3) == 0 {
		for range 1 + r.IntN(2) {
			q.FullScans = append(q.FullScans, tablesOr())
		}
	}
	q.Fingerprint = pick(r, []string{"", "f00d", "0123456789abcdef0123456789abcdef"})
	incidents := []func() Incident{
		func() Incident {
			return Incident{Kind: "failure", Reason: "EXCEEDED_LOCAL_MEMORY_LIMIT: Query exceeded per-node memory limit of 10MB", ErrorName: "EXCEEDED_LOCAL_MEMORY_LIMIT",
				QueryID: "q1", User: "bob", Cluster: "a", Time: eqBase.Add(-time.Duration(r.IntN(1000)) * time.Minute)}
		},
		func() Incident {
			return Incident{Kind: "killed", Reason: "cpu 3700 s over 3600 s", QueryID: "q2", User: "carol", Cluster: "b", Time: eqBase.Add(-time.Hour)}
		},
		func() Incident {
			return Incident{Kind: "quarantine", Reason: "stage 3 skewed 9x", Time: eqBase.Add(-time.Hour), Until: eqBase.Add(2 * time.Hour)}
		},
		func() Incident {
			return Incident{Kind: "quarantine", Reason: "ended", Time: eqBase.Add(-3 * time.Hour), Until: eqBase.Add(-2 * time.Hour)}
		},
		func() Incident { return Incident{Kind: "note", Reason: "something else", Time: eqBase} },
	}
	if r.IntN(3) == 0 {
		for range 1 + r.IntN(3) {
			q.Incidents = append(q.Incidents, pick(r, incidents)())
		}
	}
	q.Cost = pick(r, []map[string]any{nil, nil, {"inputBytes": 2000.0}, {"inputBytes": 783990912.0, "outputBytes": 10.0}, {"inputBytes": 5e8},
		{"outputBytes": 1.0}, {"inputBytes": int64(9e8)}, {"inputBytes": 1234567}})
	in.External = pick(r, []*ExternalInfo{nil, nil, nil, {RoutingGroup: "agents"}, {RoutingGroup: "agents", Errors: []string{"boom"}},
		{RoutingGroup: "nope"}, {RoutingGroup: ""}, {RoutingGroup: "secure", Headers: map[string]string{"X-A": "b"}}})
	if r.IntN(3) == 0 {
		in.ClientSession = &ClientSessionInfo{ID: "s1", Source: pick(r, []string{"header", "gateway", "new"}), Clusters: map[string]string{"adhoc": "a"}}
	}
	i := r.IntN(len(fleets))
	in.Fleet = fleets[i]
	if r.IntN(5) != 0 {
		in.FleetValue = &fleetValues[i]
	}
	return in
}

// eqCorpus is the whole corpus: each case evaluates against one variant.
type eqCase struct {
	id      string
	variant string
	in      *Input
	authz   *AuthzInput
	imp     *ImpersonationInput
}

func eqCorpus() []eqCase {
	var out []eqCase
	fleets := eqFleets()
	fvs := make([]FleetValue, len(fleets))
	for i, f := range fleets {
		fvs[i] = NewFleetValue(f)
	}
	for _, variant := range []string{"shipped", "variant"} {
		r := rand.New(rand.NewPCG(17, map[string]uint64{"shipped": 1, "variant": 2}[variant]))
		for i := range 700 {
			out = append(out, eqCase{id: fmt.Sprintf("%s/submission/%d", variant, i), variant: variant, in: eqInput(r, fleets, fvs)})
		}
		n := 0
		for _, user := range []string{"alice", "bob", "admin", "prometheus", ""} {
			for _, method := range []string{"GET", "HEAD", "PUT", "DELETE", "POST"} {
				for _, path := range []string{"/v1/info", "/v1/info/state", "/v1/query", "/v1/query/q1", "/v1/query/q1/killed", "/ui/", "/ui/query.html",
					"/ui/api/query/q1", "/ui/api/stats", "/ui/api/cluster", "/_sy/blue/0/ui/api/query/q1", "/_sy/blue/0/v1/query/q1/killed",
					"/_sy/x", "/_sy/blue/0", "/metrics", "/v1/node"} {
					for _, owner := range []string{"alice", ""} {
						out = append(out, eqCase{id: fmt.Sprintf("%s/authz/%d", variant, n), variant: variant,
							authz: &AuthzInput{User: user, Principal: user, Method: method, Path: path, QueryID: "q1", QueryOwner: owner, Time: eqBase}})
						n++
					}
				}
			}
		}
		n = 0
		for _, p := range []string{"svc_bi", "alice", "bob", ""} {
			for _, u := range []string{"carol", "admin", "bob", "alice"} {
				out = append(out, eqCase{id: fmt.Sprintf("%s/identity/%d", variant, n), variant: variant,
					imp: &ImpersonationInput{Principal: p, User: u, Method: "password", Time: eqBase}})
				n++
			}
		}
	}
	return out
}

// eqDecide decides one case. Submissions are decided as the pipeline
// does, both decisions in one evaluation (DecideSubmission), or, with
// separate, each on its own (Decide, then Protect over the same input).
func eqDecide(t testing.TB, cs map[string]*Compiled, c eqCase, separate bool) goldenLine {
	ctx := context.Background()
	p := cs[c.variant]
	g := goldenLine{ID: c.id}
	switch {
	case c.in != nil:
		var d *Decision
		var pd *ProtectionDecision
		var err, perr error
		if sub, serr := p.DecideSubmission(ctx, c.in); !separate && serr == nil {
			d, pd, perr = sub.Routing, sub.Protection, sub.ProtectionErr
		} else {
			d, err = p.Decide(ctx, c.in)
			pd, perr = p.Protect(ctx, c.in)
		}
		if err != nil {
			g.Err = err.Error()
		} else {
			d.Policy = ""
			g.Decision = d
		}
		if perr != nil {
			g.PErr = perr.Error()
		} else {
			pd.Policy = ""
			g.Protection = pd
		}
	case c.authz != nil:
		d, err := NewEngine(p, nil).Authorize(ctx, c.authz)
		if err != nil {
			g.Err = err.Error()
		} else {
			d.Policy = ""
			g.Authz = d
		}
	case c.imp != nil:
		d, err := NewEngine(p, nil).Impersonate(ctx, c.imp)
		if err != nil {
			g.Err = err.Error()
		} else {
			d.Policy = ""
			g.Authz = d
		}
	}
	return g
}

// TestDecisionsEquivalentToGolden is the decision-equivalence test, for
// submissions decided in one evaluation and each decision on its own.
func TestDecisionsEquivalentToGolden(t *testing.T) {
	cs := equivalenceVariants(t)
	for _, separate := range []bool{false, true} {
		t.Run(map[bool]string{false: "one-evaluation", true: "separate"}[separate], func(t *testing.T) {
			checkGolden(t, cs, separate)
		})
	}
}

func checkGolden(t *testing.T, cs map[string]*Compiled, separate bool) {
	corpus := eqCorpus()
	lines := make([][]byte, len(corpus))
	for i, c := range corpus {
		l, err := json.Marshal(eqDecide(t, cs, c, separate))
		if err != nil {
			t.Fatal(err)
		}
		lines[i] = l
	}
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, append(bytes.Join(lines, []byte("\n")), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d decisions to %s", len(lines), goldenPath)
		return
	}
	f, err := os.Open(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	i, bad := 0, 0
	for sc.Scan() {
		if i >= len(lines) {
			t.Fatalf("the golden has more cases than the corpus (%d)", len(lines))
		}
		if !bytes.Equal(sc.Bytes(), lines[i]) {
			bad++
			if bad <= 10 {
				c := corpus[i]
				desc, _ := json.Marshal(struct {
					In    *Input
					Authz *AuthzInput
					Imp   *ImpersonationInput
				}{c.in, c.authz, c.imp})
				t.Errorf("case %s decides differently\ninput %s\ngot  %s\nwant %s", c.id, desc, lines[i], sc.Bytes())
			}
		}
		i++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(lines) {
		t.Fatalf("the golden has %d cases, the corpus %d", i, len(lines))
	}
	if bad > 0 {
		t.Fatalf("%d of %d decisions differ from the golden", bad, len(lines))
	}
}
