package events

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// FuzzParse: Parse never panics; it accepts only JSON objects with a
// valid query ID, and what it returns keeps its bounds.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures in testdata: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"metadata":{"queryId":"q"}}`,
		`{"metadata":{"queryId":"q","query":"\u00e9\ud800"},"statistics":{"cpuTime":"1e999","wallTime":-0.0,"queuedTime":"PT-1S"},"endTime":1e308}`,
		`{"metadata":{"queryId":"q"},"context":{"clientTags":["a",1,null,{}],"resourceGroupId":"g"},"failureInfo":{"errorCode":{"code":"9e18"}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := Parse(body)
		if err != nil {
			if e != nil {
				t.Fatalf("Parse returned an event with the error %v", err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrQueryID) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrQueryID", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatal("Parse accepted invalid JSON")
		}
		if !trino.ValidQueryID(e.QueryID) {
			t.Fatalf("Parse accepted query ID %q", e.QueryID)
		}
		if e.Kind != Created && e.Kind != Completed {
			t.Fatalf("kind %q", e.Kind)
		}
		if len(e.Query) > MaxText || len(e.FailureMessage) > MaxText || !utf8.ValidString(e.Query) || !utf8.ValidString(e.FailureMessage) {
			t.Fatalf("text out of bounds: %d and %d bytes", len(e.Query), len(e.FailureMessage))
		}
		if e.CPUTime < 0 || e.WallTime < 0 || e.QueuedTime < 0 {
			t.Fatalf("negative duration: %+v", e)
		}
		if e.Kind == Created && (e.CPUTime != 0 || !e.EndTime.IsZero()) {
			t.Fatalf("created event with statistics: %+v", e)
		}
	})
}
