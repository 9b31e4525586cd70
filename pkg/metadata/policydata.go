package metadata

import (
	"context"
	"encoding/json"
	"math"
)

// PolicyData answers from the policy's own data (data.switchyard.tables):
// what operators wrote down. It is in memory, so the Catalog asks it on
// every lookup without caching (a policy reload shows at once).
type PolicyData struct {
	// Tables returns data.switchyard.tables, keyed by table name (nil: no
	// tables). Each entry may have "size" (a size class), "tags" (a list
	// of strings), "owner" (a string), "rows" and "bytes" (numbers). A
	// field of another type, or a size that is not a size class, is
	// ignored. It must not block.
	Tables func() map[string]map[string]any
}

// Name is "policy".
func (p *PolicyData) Name() string { return "policy" }

func (p *PolicyData) uncached() {}

// Lookup answers for the tables the policy data names. It never fails.
func (p *PolicyData) Lookup(_ context.Context, tables []string) (map[string]Table, error) {
	out := map[string]Table{}
	if p.Tables == nil {
		return out, nil
	}
	data := p.Tables()
	for _, name := range tables {
		if fields, ok := data[name]; ok {
			out[name] = policyTable(fields)
		}
	}
	return out, nil
}

// policyTable reads one entry of data.switchyard.tables.
func policyTable(fields map[string]any) Table {
	var t Table
	if s, ok := fields["size"].(string); ok && validClass(s) {
		t.SizeClass = s
	}
	switch tags := fields["tags"].(type) {
	case []any:
		for _, v := range tags {
			if s, ok := v.(string); ok && s != "" {
				t.Tags = append(t.Tags, s)
			}
		}
	case []string:
		for _, s := range tags {
			if s != "" {
				t.Tags = append(t.Tags, s)
			}
		}
	}
	if s, ok := fields["owner"].(string); ok {
		t.Owner = s
	}
	t.Rows, t.RowsKnown = number(fields["rows"])
	t.Bytes, t.BytesKnown = number(fields["bytes"])
	return t
}

// number reads a count: a finite, non-negative json.Number or Go number.
func number(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return 0, false
		}
	case float64:
		f = n
	case float32:
		f = float64(n)
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	case uint64:
		f = float64(n)
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	return f, true
}
