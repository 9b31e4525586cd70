package metadata

import (
	"encoding/json"
	"testing"
)

// Policy sees only what is known: an unknown count is absent, a known 0 is
// there.
func TestMapOnlyKnown(t *testing.T) {
	tests := []struct {
		name string
		t    Table
		want string
	}{
		{"nothing", Table{}, `{}`},
		{"unknown numbers", Table{Rows: 0, Bytes: 0, SizeClass: Small}, `{"sizeClass":"small"}`},
		{"known zero", Table{RowsKnown: true, BytesKnown: true}, `{"bytes":0,"rows":0}`},
		{"everything", Table{Rows: 5, RowsKnown: true, Bytes: 7, BytesKnown: true, SizeClass: Medium,
			Tags: []string{"pii"}, Owner: "sales", Sources: []string{"policy", "trino"}},
			`{"bytes":7,"owner":"sales","rows":5,"sizeClass":"medium","sources":["policy","trino"],"tags":["pii"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.t.Map())
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "Map", string(b), tt.want)
			b, err = json.Marshal(tt.t)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "MarshalJSON", string(b), tt.want)
		})
	}
	// Plain values, as OPA's InterfaceToValue takes them.
	m := Maps(map[string]Table{"a.b.c": {Tags: []string{"x"}, Rows: 1, RowsKnown: true}})
	inner := m["a.b.c"].(map[string]any)
	if _, ok := inner["tags"].([]any); !ok {
		t.Fatalf("tags are %T, want []any", inner["tags"])
	}
	if _, ok := inner["rows"].(float64); !ok {
		t.Fatalf("rows are %T, want float64", inner["rows"])
	}
}

func TestSizeClassesAtThresholds(t *testing.T) {
	r := func(n float64) Table { return Table{Rows: n, RowsKnown: true} }
	b := func(n float64) Table { return Table{Bytes: n, BytesKnown: true} }
	tests := []struct {
		name string
		c    SizeClasses
		t    Table
		want string
	}{
		{"nothing known", SizeClasses{}, Table{}, ""},
		{"zero rows", SizeClasses{}, r(0), Small},
		{"below medium rows", SizeClasses{}, r(99_999), Small},
		{"medium rows", SizeClasses{}, r(100_000), Medium},
		{"below large rows", SizeClasses{}, r(9_999_999), Medium},
		{"large rows", SizeClasses{}, r(10_000_000), Large},
		{"below huge rows", SizeClasses{}, r(999_999_999), Large},
		{"huge rows", SizeClasses{}, r(1_000_000_000), Huge},
		{"below medium bytes", SizeClasses{}, b(100<<20 - 1), Small},
		{"medium bytes", SizeClasses{}, b(100 << 20), Medium},
		{"large bytes", SizeClasses{}, b(1 << 30), Large},
		{"below huge bytes", SizeClasses{}, b(100<<30 - 1), Large},
		{"huge bytes", SizeClasses{}, b(100 << 30), Huge},
		{"the larger of the two: bytes", SizeClasses{}, Table{Rows: 10, RowsKnown: true, Bytes: 1 << 30, BytesKnown: true}, Large},
		{"the larger of the two: rows", SizeClasses{}, Table{Rows: 1e9, RowsKnown: true, Bytes: 1, BytesKnown: true}, Huge},
		{"unknown rows do not count", SizeClasses{}, Table{Rows: 1e12, Bytes: 1, BytesKnown: true}, Small},
		{"custom thresholds", SizeClasses{MediumRows: 10, LargeRows: 100, HugeRows: 1000}, r(100), Large},
		{"custom rows, default bytes", SizeClasses{LargeRows: 100}, b(1 << 30), Large},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			equal(t, "class", tt.c.Class(tt.t), tt.want)
		})
	}
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name    string
		answers []answer
		want    Table
	}{
		{
			name: "policy first: its size class and owner win; rows from the first that has them; tags unioned",
			answers: []answer{
				{"policy", Table{SizeClass: Small, Tags: []string{"pii", "finance"}, Owner: "sales"}},
				{"trino", Table{Rows: 5e9, RowsKnown: true}},
				{"openmetadata", Table{Rows: 7, RowsKnown: true, Bytes: 3 << 30, BytesKnown: true, Tags: []string{"PII.Sensitive", "pii"}, Owner: "data-eng"}},
			},
			want: Table{Rows: 5e9, RowsKnown: true, Bytes: 3 << 30, BytesKnown: true, SizeClass: Small,
				Tags: []string{"PII.Sensitive", "finance", "pii"}, Owner: "sales", Sources: []string{"policy", "trino", "openmetadata"}},
		},
		{
			name: "no explicit class: derived from rows and bytes",
			answers: []answer{
				{"policy", Table{Tags: []string{"x"}}},
				{"trino", Table{Rows: 20e6, RowsKnown: true}},
			},
			want: Table{Rows: 20e6, RowsKnown: true, SizeClass: Large, Tags: []string{"x"}, Sources: []string{"policy", "trino"}},
		},
		{
			name:    "an unknown count is not taken from a source that lacks it",
			answers: []answer{{"trino", Table{}}, {"openmetadata", Table{Rows: 3, RowsKnown: true}}},
			want:    Table{Rows: 3, RowsKnown: true, SizeClass: Small, Sources: []string{"trino", "openmetadata"}},
		},
		{
			name:    "a known table with nothing known",
			answers: []answer{{"trino", Table{}}},
			want:    Table{Sources: []string{"trino"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			equal(t, "merged", merge(tt.answers, SizeClasses{}), tt.want)
		})
	}
}

func TestSplitName(t *testing.T) {
	tests := []struct {
		in   string
		want [3]string
		ok   bool
	}{
		{"tpch.sf1.orders", [3]string{"tpch", "sf1", "orders"}, true},
		{`hive."a.b".c`, [3]string{"hive", "a.b", "c"}, true},
		{`hive.s."we""ird"`, [3]string{"hive", "s", `we"ird`}, true},
		{`"c".s.t`, [3]string{"c", "s", "t"}, true},
		{"a.b", [3]string{}, false},
		{"a.b.c.d", [3]string{}, false},
		{"a..c", [3]string{}, false},
		{"a.b.", [3]string{}, false},
		{`a.b."c`, [3]string{}, false},
		{`a.b.""`, [3]string{}, false},
		{`a.b.c"d`, [3]string{}, false},
		{`a.b."c"d`, [3]string{}, false},
		{"", [3]string{}, false},
	}
	for _, tt := range tests {
		got, ok := splitName(tt.in)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("splitName(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestQuoting(t *testing.T) {
	equal(t, "trino", showStatsSQL("tpch", "sf1", `x"; DROP TABLE y; --`),
		`SHOW STATS FOR "tpch"."sf1"."x""; DROP TABLE y; --"`)
	for in, want := range map[string]string{"orders": "orders", "a.b": `"a.b"`, `c"d`: `c\"d`} {
		equal(t, "omQuote("+in+")", omQuote(in), want)
	}
}
