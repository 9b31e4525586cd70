package events

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The fixtures are real events of Trino 476's HTTP event listener,
// written by the e2e test (go test ./e2e/harness -run TestTrinoQueryEvents
// -events.fixtures=$PWD/pkg/events/testdata). The values below are what
// that Trino reported; refreshing the fixtures means updating them.

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseFixtures(t *testing.T) {
	context := Event{
		User: "alice", Principal: "alice", Source: "events-test", ClientTags: []string{"etl", "nightly"},
		ResourceGroupID: []string{"global"}, QueryType: "SELECT", Catalog: "tpch", Schema: "tiny",
		ServerAddress: "192.0.2.2", ServerVersion: "476", Environment: "switchyard",
	}
	failed := Event{
		User: "bob", Principal: "bob", ClientTags: []string{}, ResourceGroupID: []string{"global"}, QueryType: "SELECT",
		ServerAddress: "192.0.2.2", ServerVersion: "476", Environment: "switchyard",
		Kind: Completed, State: "FAILED", ErrorType: "USER_ERROR",
	}
	with := func(base Event, f func(*Event)) *Event { f(&base); return &base }
	tests := []struct {
		file string
		want *Event
	}{
		{"created.json", with(context, func(e *Event) {
			e.Kind, e.QueryID, e.State = Created, "20261204_024120_00027_4z7zn", "QUEUED"
			e.Query = "SELECT regionkey, count(*) FROM tpch.tiny.nation GROUP BY regionkey"
			e.CreateTime = utc("2026-12-04T02:41:20.668Z")
		})},
		{"completed_finished.json", with(context, func(e *Event) {
			e.Kind, e.QueryID, e.State = Completed, "20261204_024120_00027_4z7zn", "FINISHED"
			e.Query = "SELECT regionkey, count(*) FROM tpch.tiny.nation GROUP BY regionkey"
			e.CreateTime = utc("2026-12-04T02:41:20.668Z")
			e.ExecutionStartTime = utc("2026-12-04T02:41:21.052Z")
			e.EndTime = utc("2026-12-04T02:41:22.883Z")
			e.CPUTime, e.WallTime, e.QueuedTime = 22*time.Millisecond, 2216*time.Millisecond, 302*time.Millisecond
			e.PeakUserMemoryBytes, e.ProcessedInputBytes, e.OutputRows = 380, 225, 5
		})},
		{"completed_division_by_zero.json", with(failed, func(e *Event) {
			e.QueryID, e.Query = "20261204_024123_00028_4z7zn", "SELECT 1/0"
			e.CreateTime = utc("2026-12-04T02:41:23.292Z")
			e.ExecutionStartTime = utc("2026-12-04T02:41:23.349Z")
			e.EndTime = utc("2026-12-04T02:41:23.729Z")
			e.WallTime, e.QueuedTime = 438*time.Millisecond, 12*time.Millisecond
			e.ErrorCode, e.ErrorName, e.FailureMessage = 8, "DIVISION_BY_ZERO", "Division by zero"
		})},
		{"completed_table_not_found.json", with(failed, func(e *Event) {
			e.QueryID, e.Query = "20261204_024123_00029_4z7zn", "SELECT * FROM tpch.tiny.missing"
			e.CreateTime = utc("2026-12-04T02:41:23.844Z")
			e.ExecutionStartTime = utc("2026-12-04T02:41:23.965Z")
			e.EndTime = utc("2026-12-04T02:41:23.965Z")
			e.QueuedTime = 6 * time.Millisecond
			e.ErrorCode, e.ErrorName = 46, "TABLE_NOT_FOUND"
			e.FailureMessage = "line 1:15: Table 'tpch.tiny.missing' does not exist"
		})},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
			if got.Failed() != (tt.want.State == "FAILED") {
				t.Errorf("Failed() = %v", got.Failed())
			}
		})
	}
}

func TestParse(t *testing.T) {
	const id = `"metadata":{"queryId":"20261204_024120_00027_4z7zn"`
	longQuery := strings.Repeat("é", MaxText) // 2 bytes each
	tests := []struct {
		name string
		body string
		want *Event
	}{
		{"created: no statistics, no end time", `{` + id + `,"queryState":"QUEUED"},"createTime":"2026-12-04T02:41:20.668Z"}`,
			&Event{Kind: Created, QueryID: "20261204_024120_00027_4z7zn", State: "QUEUED", CreateTime: utc("2026-12-04T02:41:20.668Z")}},
		{"completed by its end time alone", `{` + id + `},"endTime":"2026-12-04T02:41:22.883Z"}`,
			&Event{Kind: Completed, QueryID: "20261204_024120_00027_4z7zn", EndTime: utc("2026-12-04T02:41:22.883Z")}},
		{"unknown fields ignored", `{"newThing":[1,{"a":null}],` + id + `,"future":true},"statistics":{"cpuTime":1.5,"newStat":{}}}`,
			&Event{Kind: Completed, QueryID: "20261204_024120_00027_4z7zn", CPUTime: 1500 * time.Millisecond}},
		{"fields of another type are left zero", `{` + id + `,"query":17,"queryState":null},"context":{"user":["x"],"clientTags":"solo","resourceGroupId":[1,"global",null]},"statistics":{"cpuTime":{},"outputRows":"12","wallTime":"85.00ms","queuedTime":"PT1.5S"},"createTime":12,"failureInfo":"boom"}`,
			&Event{Kind: Completed, QueryID: "20261204_024120_00027_4z7zn", ClientTags: []string{"solo"}, ResourceGroupID: []string{"global"},
				OutputRows: 12, WallTime: 85 * time.Millisecond, QueuedTime: 1500 * time.Millisecond, CreateTime: time.Unix(12, 0).UTC()}},
		{"sections of another type", `{` + id + `},"context":[],"statistics":"x","failureInfo":{"errorCode":"x","failureMessage":"m"}}`,
			&Event{Kind: Created, QueryID: "20261204_024120_00027_4z7zn", FailureMessage: "m"}},
		{"out-of-range numbers", `{` + id + `},"statistics":{"cpuTime":1e300,"wallTime":-3,"queuedTime":"NaN","outputRows":1e30,"writtenBytes":-1e30,"peakUserMemoryBytes":2.9}}`,
			&Event{Kind: Completed, QueryID: "20261204_024120_00027_4z7zn", CPUTime: time.Duration(1<<63 - 1), OutputRows: 1<<63 - 1, WrittenBytes: -1 << 63, PeakUserMemoryBytes: 2}},
		{"long query text cut on a rune boundary", `{` + id + `,"query":"` + longQuery + `"}}`,
			&Event{Kind: Created, QueryID: "20261204_024120_00027_4z7zn", Query: longQuery[:MaxText], QueryTruncated: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		want error
		msg  string
	}{
		{"empty", "", ErrMalformed, "empty body"},
		{"spaces", " \n", ErrMalformed, "empty body"},
		{"array", `[{"metadata":{"queryId":"q"}}]`, ErrMalformed, "not a JSON object"},
		{"null", `null`, ErrMalformed, "not a JSON object"},
		{"truncated", `{"metadata":{"queryId":"q"}`, ErrMalformed, "unexpected end of JSON input"},
		{"trailing garbage", `{"metadata":{"queryId":"q"}} x`, ErrMalformed, "invalid character"},
		{"no metadata", `{"context":{"user":"u"}}`, ErrQueryID, "no metadata object"},
		{"metadata not an object", `{"metadata":"20261204_024120_00027_4z7zn"}`, ErrQueryID, "no metadata object"},
		{"no query ID", `{"metadata":{"query":"SELECT 1"}}`, ErrQueryID, "no metadata.queryId"},
		{"query ID not a string", `{"metadata":{"queryId":20261204}}`, ErrQueryID, "no metadata.queryId"},
		{"query ID with a slash", `{"metadata":{"queryId":"../etc"}}`, ErrQueryID, `metadata.queryId "../etc" is not a Trino query ID`},
		{"query ID upper case", `{"metadata":{"queryId":"ABC"}}`, ErrQueryID, "is not a Trino query ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse([]byte(tt.body))
			if !errors.Is(err, tt.want) || e != nil {
				t.Fatalf("Parse = %+v, %v; want %v", e, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
		cut  bool
	}{
		{"abc", 3, "abc", false},
		{"abcd", 3, "abc", true},
		{"aé", 2, "a", true}, // é is 2 bytes: never half a rune
		{"日本", 5, "日", true},
		{"", 0, "", false},
	}
	for _, tt := range tests {
		got, cut := truncate(tt.in, tt.n)
		if got != tt.want || cut != tt.cut {
			t.Errorf("truncate(%q, %d) = %q, %v; want %q, %v", tt.in, tt.n, got, cut, tt.want, tt.cut)
		}
	}
}
