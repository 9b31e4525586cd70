package policy

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/sqlclass"
)

func BenchmarkDecideShipped(b *testing.B) {
	bd, _ := LoadDir("../../policies")
	c, err := Compile(context.Background(), bd)
	if err != nil {
		b.Fatal(err)
	}
	e := NewEngine(c, nil)
	fi := FleetInfo{DefaultGroup: "adhoc", Groups: map[string]GroupInfo{"adhoc": {Clusters: []string{"a"}}}, Clusters: map[string]ClusterInfo{"a": {Group: "adhoc", Healthy: true}}}
	fv := NewFleetValue(fi)
	in := &Input{Request: RequestInfo{User: "alice", Source: "cli"}, Query: QueryInfo{Type: "SELECT", Tables: []string{"tpch.sf1.orders", "tpch.sf1.supplier"}}, Fleet: fi, FleetValue: &fv, Time: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Decide(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecideTrivial(b *testing.B) {
	c, err := Compile(context.Background(), &Bundle{Files: map[string][]byte{"r.rego": []byte("package switchyard.routing\nimport rego.v1\ndecision := {\"allow\": true}\n")}})
	if err != nil {
		b.Fatal(err)
	}
	e := NewEngine(c, nil)
	fi := FleetInfo{}
	fv := NewFleetValue(fi)
	in := &Input{Fleet: fi, FleetValue: &fv, Time: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Decide(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProtectShipped evaluates the shipped protection policy for a
// query of three tables in two filtered blocks, one of them large, no
// incidents (what most submissions are: the fast path), and for the same
// tables scanned without a filter (the full decision; none is huge, so it
// acts on nothing).
func BenchmarkProtectShipped(b *testing.B) {
	dir := "../../policies"
	if d := os.Getenv("SWITCHYARD_BENCH_POLICIES"); d != "" {
		dir = d // experiments with the rules
	}
	bd, _ := LoadDir(dir)
	c, err := Compile(context.Background(), bd)
	if err != nil {
		b.Fatal(err)
	}
	fi := FleetInfo{DefaultGroup: "adhoc", Groups: map[string]GroupInfo{"adhoc": {Clusters: []string{"a"}}}, Clusters: map[string]ClusterInfo{"a": {Group: "adhoc", Healthy: true}}}
	fv := NewFleetValue(fi)
	q := QueryInfo{Type: "SELECT", Tables: []string{"tpch.sf1.nation", "tpch.sf1.orders", "tpch.sf1.supplier"},
		TableInfo: map[string]any{"tpch.sf1.orders": map[string]any{"sizeClass": "large", "rows": 1.5e6}},
		Blocks: []Block{{Tables: []string{"tpch.sf1.orders"}, Inputs: [][]string{{"tpch.sf1.orders"}}, Where: true},
			{Tables: []string{"tpch.sf1.nation", "tpch.sf1.supplier"}, Inputs: [][]string{{"tpch.sf1.orders"}, {"tpch.sf1.supplier"}, {"tpch.sf1.nation"}}, Where: true}},
		Fingerprint: "0123456789abcdef0123456789abcdef"}
	scan := q
	scan.Blocks = []Block{{Tables: q.Tables, Inputs: [][]string{{"tpch.sf1.orders"}, {"tpch.sf1.supplier"}, {"tpch.sf1.nation"}}}}
	scan.FullScans = q.Tables
	for _, tc := range []struct {
		name string
		q    QueryInfo
	}{{"ordinary", q}, {"full-scans", scan}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				// A new input each time: its conversion is part of the cost.
				in := &Input{Request: RequestInfo{User: "alice", Source: "cli"}, Query: tc.q, Fleet: fi, FleetValue: &fv, Time: time.Now()}
				if _, err := c.Protect(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSubmissionPolicies is what the pipeline asks of the shipped
// policies for one submission of BenchmarkPolicyDecision (pkg/extproc:
// a 4 KB SQL text, 10 clusters): the input built, the routing and the
// protection decision (in one evaluation: DecideSubmission). p50-ns is
// the median evaluation.
func BenchmarkSubmissionPolicies(b *testing.B) {
	bd, err := LoadDir("../../policies")
	if err != nil {
		b.Fatal(err)
	}
	c, err := Compile(context.Background(), bd)
	if err != nil {
		b.Fatal(err)
	}
	sql := "WITH recent AS (SELECT o.orderkey, o.custkey, o.totalprice FROM tpch.sf1.orders o WHERE o.orderdate > DATE '1998-01-01') " +
		"SELECT c.name, sum(r.totalprice) FROM recent r JOIN tpch.sf1.supplier c ON c.suppkey = r.custkey " +
		"JOIN tpch.sf1.nation n ON n.nationkey = c.nationkey WHERE n.name IN (" + strings.Repeat("'GERMANY', ", 300) + "'FRANCE') GROUP BY c.name ORDER BY 2 DESC LIMIT 10"
	cl := sqlclass.Classify(sql, sqlclass.Options{})
	var blocks []Block
	for _, bl := range cl.Blocks {
		blocks = append(blocks, Block{Tables: bl.Tables, Inputs: bl.Inputs, Where: bl.Where, Limit: bl.Limit, CrossJoin: bl.CrossJoin})
	}
	fi := FleetInfo{DefaultGroup: "adhoc", Groups: map[string]GroupInfo{"adhoc": {}}, Clusters: map[string]ClusterInfo{}}
	for i := range 10 {
		name := fmt.Sprintf("c%d", i)
		g := fi.Groups["adhoc"]
		g.Clusters = append(g.Clusters, name)
		fi.Groups["adhoc"] = g
		fi.Clusters[name] = ClusterInfo{Group: "adhoc", State: "active", Healthy: true}
	}
	fv := NewFleetValue(fi)
	eval := func(b *testing.B) {
		in := &Input{
			Request: RequestInfo{User: "alice", Source: "bench", Method: "POST", Path: "/v1/statement", RemoteAddress: "10.0.0.2"},
			Query: QueryInfo{Type: cl.Type, Tables: cl.Tables, TableInfo: map[string]any{}, CrossJoin: cl.CrossJoin, HasWhere: cl.HasWhere,
				HasLimit: cl.HasLimit, Explain: cl.Explain, InnerType: cl.Inner, Unresolved: cl.Unresolved, Length: len(sql),
				Blocks: blocks, FullScans: cl.FullScans},
			Fleet: fi, FleetValue: &fv, Time: time.Now(),
		}
		sub, err := c.DecideSubmission(context.Background(), in)
		if err != nil || sub.Protection == nil || sub.ProtectionErr != nil {
			b.Error(sub, err)
		}
	}
	// reused: every evaluation on the benchmark's goroutine, whose stack
	// has grown once. fresh: each on a new goroutine, as each ext_proc
	// stream's is in the server (its stack starts small and grows with
	// the evaluation's recursion).
	for _, fresh := range []bool{false, true} {
		b.Run(map[bool]string{false: "goroutine=reused", true: "goroutine=fresh"}[fresh], func(b *testing.B) {
			times := make([]time.Duration, 0, 1<<16)
			done := make(chan struct{})
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				if fresh {
					go func() { eval(b); done <- struct{}{} }()
					<-done
				} else {
					eval(b)
				}
				if len(times) < cap(times) {
					times = append(times, time.Since(start))
				}
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "p50-ns")
		})
	}
}
