package pollab

import (
	"strings"
	"testing"
	"time"
)

// The report says which backend stood behind the proxies: the simulator's
// shape, or the real Trino and its statement.
func TestMarkdownNamesTheBackend(t *testing.T) {
	start := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		plan      Plan
		want, not string
	}{
		{DefaultPlan(), "result pages", "real single-node Trino"},
		{TrinoPlan(), "real single-node Trino** in place of the simulator (`-trino`): `SELECT count(*) FROM tpch.tiny.nation`, open loop at 10 queries/s", "result pages"},
	} {
		rep := &Report{Start: start, End: start.Add(time.Minute), Plan: tc.plan}
		md := rep.Markdown()
		if !strings.Contains(md, tc.want) {
			t.Errorf("Trino %v: the report lacks %q:\n%s", tc.plan.Trino, tc.want, md)
		}
		if strings.Contains(md, tc.not) {
			t.Errorf("Trino %v: the report says %q", tc.plan.Trino, tc.not)
		}
	}
}

// TrinoPlan keeps the default plan's variants and timing pass, and only
// changes the load for a real Trino.
func TestTrinoPlan(t *testing.T) {
	d, p := DefaultPlan(), TrinoPlan()
	if !p.Trino || d.Trino {
		t.Fatalf("Trino: default %v, Trino plan %v", d.Trino, p.Trino)
	}
	if p.SQL == d.SQL || p.Rate >= d.Rate || p.Warm <= d.Warm {
		t.Errorf("Trino plan: SQL %q, rate %v, warm %v; default %q, %v, %v", p.SQL, p.Rate, p.Warm, d.SQL, d.Rate, d.Warm)
	}
	if len(p.Variants) != len(d.Variants) || p.TimingRepeats != d.TimingRepeats {
		t.Errorf("Trino plan changed more than the load: %+v", p)
	}
}

// A smoke run keeps its plan's backend and load, only shorter.
func TestSmokeKeepsTheBackend(t *testing.T) {
	s := Smoke(TrinoPlan())
	if !s.Smoke || !s.Trino || s.SQL != TrinoPlan().SQL || s.Rate != TrinoPlan().Rate || s.Window >= TrinoPlan().Window {
		t.Errorf("smoke of the Trino plan: %+v", s)
	}
	if d := SmokePlan(); d.Trino || d.SQL != DefaultPlan().SQL || d.Warm >= s.Warm {
		t.Errorf("smoke of the default plan: %+v", d)
	}
}
