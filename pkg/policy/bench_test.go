package policy

import (
	"context"
	"os"
	"testing"
	"time"
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
