package protection

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

// Rule names label the action metric, bounded: beyond 64 names, or a name
// over 64 bytes, the rule counts as "other".
func TestActionRuleLabelsAreBounded(t *testing.T) {
	m := NewMetrics(nil)
	g := New(Options{Metrics: m})
	for i := range 100 {
		g.Record(store.Action{Action: "warn", Rule: fmt.Sprintf("rule-%d", i), Cluster: "a"})
	}
	g.Record(store.Action{Action: "warn", Rule: strings.Repeat("x", 65), Cluster: "a"})
	g.Record(store.Action{Action: "kill", Rule: "rule-0", Cluster: "a", ReportOnly: true})
	g.background.Wait()
	if n := testutil.CollectAndCount(m.Actions); n != 66 {
		t.Fatalf("%d series, want 64 rules, other and the report-only kill", n)
	}
	if v := testutil.ToFloat64(m.Actions.WithLabelValues("warn", "enforced", "other", "a")); v != 37 {
		t.Fatalf("other: %v, want 36 + the long name", v)
	}
	if v := testutil.ToFloat64(m.Actions.WithLabelValues("kill", "report_only", "rule-0", "a")); v != 1 {
		t.Fatalf("report-only kill: %v", v)
	}
}
