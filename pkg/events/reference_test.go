package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// parseReference is Parse as it was with encoding/json (one Unmarshal of
// the document into wire, whose sections decoded themselves): the reader
// must give the same event, or refuse the same bodies.
func parseReference(body []byte) (*Event, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: not an object", ErrMalformed)
	}
	var w wire
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return w.event()
}

func (o *object[T]) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil
	}
	o.v, o.ok = v, true
	return nil
}

// sameParse fails t unless Parse and parseReference agree on body.
func sameParse(t *testing.T, body []byte) {
	t.Helper()
	got, err := Parse(body)
	want, werr := parseReference(body)
	switch {
	case errors.Is(werr, ErrMalformed) != errors.Is(err, ErrMalformed), errors.Is(werr, ErrQueryID) != errors.Is(err, ErrQueryID):
		t.Fatalf("Parse: %v; encoding/json: %v\nbody: %q", err, werr, clip(string(body), 512))
	case err == nil:
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Parse differs from encoding/json (-json +Parse):\n%s\nbody: %q", diff, clip(string(body), 512))
		}
	}
}

// TestParseAsEncodingJSON: the fixtures, and bodies that probe where a
// hand-written reader could differ from encoding/json (keys matched
// case-insensitively and after unescaping, repeated members, sections of
// another type, every kind of syntax error, nesting depth).
func TestParseAsEncodingJSON(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in testdata: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			sameParse(t, b)
			for _, cut := range []int{1, 2, len(b) / 3, len(b) / 2, len(b) - 2} {
				sameParse(t, b[:cut]) // cut short
			}
		})
	}
	const id = `"20261204_024120_00027_4z7zn"`
	deep := func(n int) string {
		return `{"metadata":{"queryId":` + id + `},"x":` + string(bytes.Repeat([]byte("["), n)) + string(bytes.Repeat([]byte("]"), n)) + `}`
	}
	for _, body := range []string{
		`{"METADATA":{"QueryID":` + id + `,"QUERY":"s"}}`,
		`{"metad\u0061ta":{"query\u0049d":` + id + `}}`,
		`{"metadata":{"queryId":` + id + `},"metadata":{"query":"only"}}`,
		`{"metadata":{"queryId":` + id + `},"metadata":null}`,
		`{"metadata":{"queryId":` + id + `,"queryId":5}}`,
		`{"metadata":{"queryId":` + id + `},"context":{"clientTags":["a"],"clientTags":7}}`,
		`{"metadata":{"queryId":` + id + `},"statistics":{},"statistics":[]}`,
		`{"metadata":{"queryId":` + id + `},"failureInfo":{"errorCode":{"code":1,"name":"N"},"errorCode":{"type":"T"}}}`,
		`{"metadata":{"queryId":` + id + `},"endTime":null,"createTime":"x","createTime":1}`,
		"{\"metadata\":{\"queryId\":" + id + ",\"query\":\"a\xffb\"}}",
		"{\"meta\xffdata\":{\"queryId\":" + id + "}}",
		` {"metadata":{"queryId":` + id + `}} ` + "\n",
		`{"metadata":{"queryId":` + id + `}}x`,
		`{"metadata":{"queryId":` + id + `},}`,
		`{"metadata":{"queryId":` + id + `} "a":1}`,
		`{"metadata":{"queryId":` + id + `},"a" 1}`,
		`{"metadata":{"queryId":` + id + `},1:1}`,
		`{"metadata":{"queryId":` + id + `},"a":[1,]}`,
		`{"metadata":{"queryId":` + id + `},"a":[1 2]}`,
		`{"metadata":{"queryId":` + id + `},"a":01}`,
		`{"metadata":{"queryId":` + id + `},"a":-}`,
		`{"metadata":{"queryId":` + id + `},"a":1.}`,
		`{"metadata":{"queryId":` + id + `},"a":1e}`,
		`{"metadata":{"queryId":` + id + `},"a":1E+5,"b":-0.5e-3}`,
		`{"metadata":{"queryId":` + id + `},"a":tru}`,
		`{"metadata":{"queryId":` + id + `},"a":nul,"b":1}`,
		`{"metadata":{"queryId":` + id + `},"a":"\x"}`,
		`{"metadata":{"queryId":` + id + `},"a":"\u12g4"}`,
		"{\"metadata\":{\"queryId\":" + id + "},\"a\":\"tab\there\"}",
		`{"metadata":{"queryId":` + id + `},"a":"\"\\\/\b\f\n\r\t\u00e9"}`,
		`{"metadata":{"queryId":` + id + `},"a":"`,
		`{"metadata":{"queryId":` + id + `},"a":"\`,
		deep(maxDepth - 2), deep(maxDepth - 1), deep(maxDepth),
	} {
		sameParse(t, []byte(body))
	}
}

// FuzzParseAsEncodingJSON: on any body, Parse agrees with encoding/json.
func FuzzParseAsEncodingJSON(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil && len(b) < 8<<10 {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"metadata":{"queryId":"20261204_024120_00027_4z7zn","QUERY":"x"},"context":{"clientTags":["a",1]},"statistics":{"cpuTime":"1.5s"},"failureInfo":{"errorCode":{"code":"7"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) { sameParse(t, body) })
}

// TestPlainString: the fast path of jsonString gives what encoding/json
// gives, and leaves the rest to it.
func TestPlainString(t *testing.T) {
	for _, raw := range []string{`""`, `"abc"`, `"é ü"`, `"a\"b"`, `"a\\b"`, `"\u00e9"`, "\"a\xffb\"", "\"tab\there\"", `"`, `"a`, `a"`, `x`, `"a"b"`} {
		var fast jsonString
		_ = fast.UnmarshalJSON([]byte(raw))
		var want string
		if json.Unmarshal([]byte(raw), &want) != nil {
			want = ""
		}
		if string(fast) != want {
			t.Errorf("%q: jsonString %q, encoding/json %q", raw, fast, want)
		}
	}
}
