package metadata

import (
	"context"
	"encoding/json"
	"testing"
)

func TestPolicyData(t *testing.T) {
	data := map[string]map[string]any{
		"tpch.sf1.customer": {"size": "medium", "tags": []any{"pii"}, "owner": "sales"},
		"tpch.sf1.orders":   {"size": "large", "rows": json.Number("15000000"), "bytes": 2.5e9},
		"tpch.sf1.lineitem": {"rows": 6e7, "tags": []string{"facts", ""}},
		// Wrong types and values are ignored, one by one.
		"tpch.sf1.bad": {"size": 42, "tags": "pii", "owner": 7, "rows": "many", "bytes": json.Number("x")},
		"tpch.sf1.odd": {"size": "tiny", "tags": []any{"ok", 3, nil, ""}, "rows": -1, "bytes": json.Number("1e3")},
	}
	p := &PolicyData{Tables: func() map[string]map[string]any { return data }}
	got, err := p.Lookup(context.Background(), []string{
		"tpch.sf1.customer", "tpch.sf1.orders", "tpch.sf1.lineitem", "tpch.sf1.bad", "tpch.sf1.odd", "tpch.sf1.unknown",
	})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "answers", got, map[string]Table{
		"tpch.sf1.customer": {SizeClass: Medium, Tags: []string{"pii"}, Owner: "sales"},
		"tpch.sf1.orders":   {SizeClass: Large, Rows: 15e6, RowsKnown: true, Bytes: 2.5e9, BytesKnown: true},
		"tpch.sf1.lineitem": {Rows: 6e7, RowsKnown: true, Tags: []string{"facts"}},
		"tpch.sf1.bad":      {},
		"tpch.sf1.odd":      {Tags: []string{"ok"}, Bytes: 1000, BytesKnown: true},
	})
	equal(t, "name", p.Name(), "policy")

	// No policy data (or no function) is no answers, not an error.
	for _, p := range []*PolicyData{{}, {Tables: func() map[string]map[string]any { return nil }}} {
		got, err := p.Lookup(context.Background(), []string{"a.b.c"})
		if err != nil || len(got) != 0 {
			t.Fatalf("got %v, %v; want nothing", got, err)
		}
	}
}
