package events

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkParse reads the fixtures, real events of Trino 476: a created
// event (1 KB), a failed query's completed event (5 KB) and a finished
// tpch query's (114 KB, its plan and operator statistics), with Parse and
// with encoding/json as Parse used it before (parseReference).
func BenchmarkParse(b *testing.B) {
	for _, f := range []string{"created.json", "completed_table_not_found.json", "completed_finished.json"} {
		body, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range []struct {
			name  string
			parse func([]byte) (*Event, error)
		}{{"reader", Parse}, {"encoding-json", parseReference}} {
			b.Run(f+"/"+p.name, func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := p.parse(body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
