package policy

import (
	"context"
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
