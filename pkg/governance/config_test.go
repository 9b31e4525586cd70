package governance

import (
	"strings"
	"testing"
)

// TestParseRefuses is the table of bad class definitions: each is refused
// with messages that name the field.
func TestParseRefuses(t *testing.T) {
	const p = DataPath
	for _, tt := range []struct {
		name, doc string
		want      []string
	}{
		{"not an object", `[]`, []string{p + ": want an object"}},
		{"unknown top-level field", `{"clases": {}}`, []string{p + `: unknown field "clases"`}},
		{"unknown class field", `{"classes": {"etl": {"maxRuning": 3}}}`, []string{p + `.classes.etl: unknown field "maxRuning"`}},
		{"unknown per-user field", `{"classes": {"etl": {"perUser": {"cpu": 3}}}}`, []string{p + `.classes.etl: unknown field "cpu"`}},
		{"wrong type", `{"classes": {"etl": {"priority": "high"}}}`, []string{p + ".classes.etl.priority: want int, got string"}},
		{"bad bytes", `{"classes": {"etl": {"scannedBytesPerHour": "lots"}}}`, []string{p + ".classes.etl", `data size "lots"`}},
		{"fractional bytes", `{"classes": {"etl": {"perUser": {"scannedBytesPerHour": 1.5}}}}`, []string{p + ".classes.etl", "whole number of bytes"}},
		{"negative limits", `{"classes": {"etl": {"maxRunning": -1, "perUser": {"cpuSecondsPerHour": -2}}}}`, []string{
			p + ".classes.etl.maxRunning: must be 0 (no limit) or more, got -1",
			p + ".classes.etl.perUser.cpuSecondsPerHour: must be 0 (no limit) or more, got -2"}},
		{"priority range", `{"classes": {"etl": {"priority": 101}}}`, []string{p + ".classes.etl.priority: must be 0-100, got 101"}},
		{"per user above the class", `{"classes": {"etl": {"maxRunning": 2, "maxQueued": 5, "perUser": {"maxRunning": 3, "maxQueued": 6}}}}`, []string{
			p + ".classes.etl.perUser.maxRunning: 3 is more than the class's own maxRunning (2)",
			p + ".classes.etl.perUser.maxQueued: 6 is more than the class's own maxQueued (5)"}},
		{"store failure mode", `{"classes": {"etl": {"onStoreFailure": "maybe"}}}`, []string{p + `.classes.etl.onStoreFailure: must be "open" or "closed", got "maybe"`}},
		{"class name", `{"classes": {"Big ETL": {}}}`, []string{p + ".classes.Big ETL: a class name is 1-63 lowercase letters"}},
		{"unknown cap", `{"classes": {"etl": {"sessionCaps": {"query_max_fun": "1h"}}}}`, []string{p + ".classes.etl.sessionCaps.query_max_fun: not a session property the gateway can cap"}},
		{"bad cap value", `{"classes": {"etl": {"sessionCaps": {"query_max_execution_time": "soon", "query_max_memory": "1h"}}}}`, []string{
			p + `.classes.etl.sessionCaps.query_max_execution_time: duration "soon"`,
			p + `.classes.etl.sessionCaps.query_max_memory: data size "1h"`}},
		{"default class", `{"defaultClass": "etl", "classes": {"adhoc": {}}}`, []string{p + `.defaultClass: class "etl" is not defined (classes: adhoc)`}},
		{"cluster cap", `{"clusters": {"a": {"maxRunning": -1}}}`, []string{p + ".clusters.a.maxRunning: must be 0 (no cap) or more, got -1"}},
		{"unknown cluster field", `{"clusters": {"a": {"max": 1}}}`, []string{p + `.clusters.a: unknown field "max"`}},
		{"trailing data", `{"classes": {}} {}`, []string{p + ": unexpected data after the value"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJSON([]byte(tt.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseAndClasses(t *testing.T) {
	c, err := ParseJSON([]byte(`{"defaultClass": "adhoc", "classes": {
		"adhoc": {"perUser": {"maxRunning": 2}},
		"etl": {"priority": 20, "maxRunning": 10, "scannedBytesPerHour": "1TB", "perUser": {"scannedBytesPerHour": 1000}, "onStoreFailure": "closed"},
		"free": {"sessionCaps": {"query_max_execution_time": "1h"}}},
		"clusters": {"a": {"maxRunning": 4}}}`))
	if err != nil {
		t.Fatal(err)
	}
	etl, err := c.Class("etl")
	if err != nil || etl.Name != "etl" || etl.ScannedBytesPerHour != 1<<40 || etl.PerUser.ScannedBytesPerHour != 1000 || !etl.FailClosed() || !etl.Governed() {
		t.Fatalf("etl: %+v %v", etl, err)
	}
	if d, err := c.Class(""); err != nil || d.Name != "adhoc" || d.FailClosed() {
		t.Fatalf("the default class: %+v %v", d, err)
	}
	if f, _ := c.Class("free"); f.Governed() {
		t.Error("a class with caps only counts queries")
	}
	if _, err := c.Class("nope"); err == nil || !strings.Contains(err.Error(), `workload class "nope"`) {
		t.Errorf("an unknown class: %v", err)
	}
	if c.ClusterCap("a") != 4 || c.ClusterCap("b") != 0 {
		t.Error("cluster caps")
	}
	var none *Config
	if cl, err := none.Class("etl"); cl != nil || err != nil {
		t.Error("no definitions govern nothing")
	}
	if d, _ := ParseJSON([]byte(`{"classes": {"a": {}}}`)); d.DefaultClass != "" {
		t.Error("no default class")
	} else if cl, err := d.Class(""); cl != nil || err != nil {
		t.Error("without a default class, a query with none is not governed")
	}
}

func TestApplyCaps(t *testing.T) {
	c := &Class{Name: "agent", SessionCaps: map[string]string{
		"query_max_execution_time": "5m", "query_max_scan_physical_bytes": "100GB", "query_max_stage_count": "50"}}
	for _, tt := range []struct {
		name    string
		in      map[string]string
		want    map[string]string
		changed int
	}{
		{"added", map[string]string{"hive.x": "a,b"}, map[string]string{"hive.x": "a,b", "query_max_execution_time": "5m", "query_max_scan_physical_bytes": "100GB", "query_max_stage_count": "50"}, 3},
		{"lower kept", map[string]string{"query_max_execution_time": "30s", "query_max_scan_physical_bytes": "1GB", "query_max_stage_count": "10"},
			map[string]string{"query_max_execution_time": "30s", "query_max_scan_physical_bytes": "1GB", "query_max_stage_count": "10"}, 0},
		{"higher lowered", map[string]string{"query_max_execution_time": "2h", "query_max_scan_physical_bytes": "1TB", "query_max_stage_count": "500"},
			map[string]string{"query_max_execution_time": "5m", "query_max_scan_physical_bytes": "100GB", "query_max_stage_count": "50"}, 3},
		{"unreadable replaced", map[string]string{"query_max_execution_time": "forever", "query_max_scan_physical_bytes": "100GB"},
			map[string]string{"query_max_execution_time": "5m", "query_max_scan_physical_bytes": "100GB", "query_max_stage_count": "50"}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := c.Apply(tt.in)
			if len(got.Changed) != tt.changed || len(got.Properties) != len(tt.want) {
				t.Fatalf("%+v, want %v with %d changed", got, tt.want, tt.changed)
			}
			for k, v := range tt.want {
				if got.Properties[k] != v {
					t.Errorf("%s=%q, want %q", k, got.Properties[k], v)
				}
			}
		})
	}
	if h := SessionHeader(map[string]string{"b": "x y", "a": "1,2"}); h != "a=1%2C2,b=x+y" {
		t.Errorf("SessionHeader: %s", h)
	}
	if !c.Overcommit(map[string]string{ResourceOvercommit: " TRUE"}) || c.Overcommit(map[string]string{ResourceOvercommit: "false"}) {
		t.Error("Overcommit")
	}
	if (&Class{AllowResourceOvercommit: true}).Overcommit(map[string]string{ResourceOvercommit: "true"}) {
		t.Error("an allowing class refused overcommit")
	}
	if got := AddTag([]string{"a", "switchyard-class=admin", "b"}, "agent"); got != "a,b,switchyard-class=agent" {
		t.Errorf("AddTag: %s", got)
	}
}

// FuzzParse: any document is accepted or refused with an error, never a
// panic; what is accepted renders Trino resource groups.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"defaultClass": "a", "classes": {"a": {"maxRunning": 2, "perUser": {"maxRunning": 1}}}}`,
		`{"classes": {"etl": {"scannedBytesPerHour": "1TB", "sessionCaps": {"query_max_memory": "1GB"}, "trino": {"softMemoryLimit": "40%"}}}, "clusters": {"a": {"maxRunning": 3}}}`,
		`{"classes": {"x": {"trino": {"hardCpuLimit": "1h", "softCpuLimit": "30m"}}}, "trino": {"cpuQuotaPeriod": "1h"}}`,
		`[]`, `null`, `{"classes": {"": {}}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := ParseJSON([]byte(doc))
		if err != nil {
			return
		}
		if _, err := RenderResourceGroups(c); err != nil {
			t.Fatalf("accepted %s but cannot render it: %v", doc, err)
		}
	})
}
