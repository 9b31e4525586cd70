package metadata

import (
	"context"
	"encoding/json"
	"slices"
)

// Size classes, smallest first.
const (
	Small  = "small"
	Medium = "medium"
	Large  = "large"
	Huge   = "huge"
)

// validClass reports whether s is one of the four size classes.
func validClass(s string) bool {
	return s == Small || s == Medium || s == Large || s == Huge
}

// classRank orders the size classes (0 for "").
func classRank(s string) int {
	return map[string]int{Small: 1, Medium: 2, Large: 3, Huge: 4}[s]
}

// Table is what is known about one table. The JSON field names are what
// policy reads; a number that is not known is absent (RowsKnown and
// BytesKnown say which are), so policy never sees a made-up 0. MarshalJSON
// writes the same document as Map.
type Table struct {
	Rows       float64 `json:"rows,omitempty"`
	Bytes      float64 `json:"bytes,omitempty"`
	RowsKnown  bool    `json:"-"`
	BytesKnown bool    `json:"-"`
	// SizeClass is Small, Medium, Large or Huge: from a source that states
	// one (policy data's "size"), else derived from Rows and Bytes; ""
	// when neither is known.
	SizeClass string `json:"sizeClass,omitempty"`
	// Tags are sorted and unique in a Catalog's answer.
	Tags  []string `json:"tags,omitempty"`
	Owner string   `json:"owner,omitempty"`
	// Sources name the sources that answered for the table, in the
	// catalog's source order (e.g. ["policy", "trino"]).
	Sources []string `json:"sources,omitempty"`
}

// Map renders the table as plain values for the policy input: only the
// fields that are known, numbers as float64 and lists as []any of strings.
func (t Table) Map() map[string]any {
	m := map[string]any{}
	if t.RowsKnown {
		m["rows"] = t.Rows
	}
	if t.BytesKnown {
		m["bytes"] = t.Bytes
	}
	if t.SizeClass != "" {
		m["sizeClass"] = t.SizeClass
	}
	if len(t.Tags) > 0 {
		m["tags"] = strings2any(t.Tags)
	}
	if t.Owner != "" {
		m["owner"] = t.Owner
	}
	if len(t.Sources) > 0 {
		m["sources"] = strings2any(t.Sources)
	}
	return m
}

// MarshalJSON encodes Map: a known 0 is written, an unknown number is not.
func (t Table) MarshalJSON() ([]byte, error) { return json.Marshal(t.Map()) }

// Maps renders the answer of Catalog.Lookup for the policy input
// (input.query.tableInfo): table name to Table.Map.
func Maps(tables map[string]Table) map[string]any {
	m := make(map[string]any, len(tables))
	for name, t := range tables {
		m[name] = t.Map()
	}
	return m
}

func strings2any(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// Source answers for some tables. Table names are lower-case
// catalog.schema.table, a part containing '.' or '"' double-quoted (with ""
// for a quote), as package sqlclass writes them.
type Source interface {
	// Name identifies the source in Table.Sources, stats and logs.
	Name() string
	// Lookup returns what the source knows of the tables; a table it does
	// not know is absent. It must return when ctx ends. With an error, the
	// answers returned are still used and the tables missing from them
	// count as failed (not as unknown), so a source that could ask about
	// some tables and not others reports both.
	Lookup(ctx context.Context, tables []string) (map[string]Table, error)
}

// Defaults of SizeClasses.
const (
	DefaultMediumRows  = 100_000
	DefaultLargeRows   = 10_000_000
	DefaultHugeRows    = 1_000_000_000
	DefaultMediumBytes = 100 << 20
	DefaultLargeBytes  = 1 << 30
	DefaultHugeBytes   = 100 << 30
)

// SizeClasses are the thresholds that derive a size class from a row count
// and a size: a table is Huge from HugeRows rows or HugeBytes bytes, Large
// from LargeRows or LargeBytes, Medium from MediumRows or MediumBytes, else
// Small (the larger class of the two numbers wins). A zero field takes its
// default.
type SizeClasses struct {
	MediumRows, LargeRows, HugeRows    float64
	MediumBytes, LargeBytes, HugeBytes float64
}

func (s SizeClasses) withDefaults() SizeClasses {
	def := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&s.MediumRows, DefaultMediumRows)
	def(&s.LargeRows, DefaultLargeRows)
	def(&s.HugeRows, DefaultHugeRows)
	def(&s.MediumBytes, DefaultMediumBytes)
	def(&s.LargeBytes, DefaultLargeBytes)
	def(&s.HugeBytes, DefaultHugeBytes)
	return s
}

// Class derives the size class of t from its known numbers ("" when it
// knows neither rows nor bytes). Zero fields of s take their defaults.
func (s SizeClasses) Class(t Table) string {
	s = s.withDefaults()
	class := ""
	if t.RowsKnown {
		class = larger(class, classOf(t.Rows, s.MediumRows, s.LargeRows, s.HugeRows))
	}
	if t.BytesKnown {
		class = larger(class, classOf(t.Bytes, s.MediumBytes, s.LargeBytes, s.HugeBytes))
	}
	return class
}

func classOf(v, medium, large, huge float64) string {
	switch {
	case v >= huge:
		return Huge
	case v >= large:
		return Large
	case v >= medium:
		return Medium
	}
	return Small
}

func larger(a, b string) string {
	if classRank(b) > classRank(a) {
		return b
	}
	return a
}

// answer is one source's answer for a table, for merging.
type answer struct {
	source string
	table  Table
}

// merge combines the answers of the sources, given in source order: tags
// are unioned (sorted, unique); owner, rows and bytes come from the first
// source that has them; an explicit size class from the first source that
// states one wins, else the class is derived from rows and bytes.
func merge(answers []answer, classes SizeClasses) Table {
	var out Table
	for _, a := range answers {
		t := a.table
		out.Sources = append(out.Sources, a.source)
		out.Tags = append(out.Tags, t.Tags...)
		if out.Owner == "" {
			out.Owner = t.Owner
		}
		if !out.RowsKnown && t.RowsKnown {
			out.Rows, out.RowsKnown = t.Rows, true
		}
		if !out.BytesKnown && t.BytesKnown {
			out.Bytes, out.BytesKnown = t.Bytes, true
		}
		if out.SizeClass == "" && validClass(t.SizeClass) {
			out.SizeClass = t.SizeClass
		}
	}
	slices.Sort(out.Tags)
	out.Tags = slices.Compact(out.Tags)
	if len(out.Tags) == 0 {
		out.Tags = nil
	}
	if out.SizeClass == "" {
		out.SizeClass = classes.Class(out)
	}
	return out
}
