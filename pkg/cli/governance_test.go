package cli

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchyard-gw/switchyard/pkg/governance"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/workload"
)

// govNow is the time of the governance fixtures: the rate window ends in
// 42s, the quota windows in 55m42s.
var govNow = time.Date(2025, 6, 1, 10, 4, 18, 0, time.UTC)

func govBalance(used, limit float64, window time.Duration) workload.Balance {
	return workload.Balance{Used: used, Limit: limit, Resets: govNow.Truncate(window).Add(window)}
}

func govBalances(rate, rateLimit, cpu, cpuLimit, bytes, bytesLimit float64) workload.Balances {
	return workload.Balances{
		Rate:  govBalance(rate, rateLimit, time.Minute),
		CPU:   govBalance(cpu, cpuLimit, time.Hour),
		Bytes: govBalance(bytes, bytesLimit, time.Hour),
	}
}

// govUsage is a governance view: a class without limits, one with class
// and per-user limits and two users, a capped and an uncapped cluster.
func govUsage() workload.Usage {
	etlLimits := governance.Limits{MaxRunning: 4, MaxQueued: 50, QueriesPerMinute: 60, CPUSecondsPerHour: 3600, ScannedBytesPerHour: 1 << 40}
	etlUser := governance.Limits{MaxRunning: 2, MaxQueued: 10, QueriesPerMinute: 10, CPUSecondsPerHour: 600, ScannedBytesPerHour: 100 << 30}
	return workload.Usage{
		Enabled: true, Time: govNow, Queued: 3, Unclassified: 1,
		Classes: []workload.ClassUsage{
			{Name: "adhoc", Priority: 5, Running: 1, Queued: 0, Usage: govBalances(1, 0, 3.25, 0, 10<<20, 0), Users: []workload.UserUsage{}},
			{Name: "etl", Priority: 10, Running: 2, Queued: 3, Limits: etlLimits, PerUser: etlUser,
				Usage: govBalances(3, 60, 120.5, 3600, 1.2*(1<<30), 1<<40),
				Users: []workload.UserUsage{
					{User: "alice", Running: 1, Queued: 2, Usage: govBalances(2, 10, 100, 600, 1<<30, 100<<30)},
					{User: "bob", Running: 1, Queued: 1, Usage: govBalances(1, 10, 20.5, 600, 200<<20, 100<<30)},
				}},
		},
		Clusters: []workload.ClusterUsage{{Name: "blue", Running: 2, Cap: 4}, {Name: "green", Running: 2}},
	}
}

const govUsageTable = `Governance at 2025-06-01 10:04:18Z: 3 queued, 1 running without a class.
Queries per minute reset at 10:05:00Z (in 42s); CPU seconds and scanned bytes per hour reset at 11:00:00Z (in 55m42s).

CLASS / USER  PRIORITY  RUNNING  QUEUED  QUERIES/MIN  CPU SECONDS/H  SCANNED/H
adhoc         5         1/-      0/-     1/-          3.3/-          10MB/-
etl           10        2/4      3/50    3/60         120.5/3600     1.2GB/1TB
  alice                 1/2      2/10    2/10         100/600        1GB/100GB
  bob                   1/2      1/10    1/10         20.5/600       200MB/100GB

CLUSTER  RUNNING
blue     2/4
green    2/-
`

// govEtlTable is what adjust and reset print of class etl after the line
// saying what changed.
const govEtlTable = `Queries per minute reset at 10:05:00Z (in 42s); CPU seconds and scanned bytes per hour reset at 11:00:00Z (in 55m42s).

CLASS / USER  PRIORITY  RUNNING  QUEUED  QUERIES/MIN  CPU SECONDS/H  SCANNED/H
etl           10        2/4      3/50    3/60         120.5/3600     1.2GB/1TB
  alice                 1/2      2/10    2/10         100/600        1GB/100GB
  bob                   1/2      1/10    1/10         20.5/600       200MB/100GB
`

func govQueue() []workload.QueueItem {
	at := func(s int) time.Time { return govNow.Add(-time.Duration(s) * time.Second) }
	return []workload.QueueItem{
		{Position: 1, ID: "20250601_100400_00001_abcde", State: "queued", Class: "etl", User: "alice", Priority: 10, Enqueued: at(18), Waited: "18s",
			Reason: "queued by the gateway at position 1 in workload class etl: the class has 4 running queries, its limit"},
		{Position: 2, ID: "20250601_100405_00002_abcde", State: "queued", Class: "etl", User: "bob", Priority: 10, Enqueued: at(13), Waited: "13s"},
		{ID: "20250601_100301_00003_abcde", State: "submitted", Class: "etl", User: "alice", Priority: 10, Enqueued: at(77), Waited: "1m17s",
			Cluster: "blue", QueryID: "20250601_100302_00042_zzzzz"},
		{ID: "20250601_100201_00004_abcde", State: "finished", Class: "adhoc", User: "carol", Priority: 5, Enqueued: at(137), Waited: "2m17s",
			Error: "USER_CANCELED: an administrator canceled the query while it waited in the gateway's queue"},
	}
}

const govQueueTable = `POSITION  ID                           CLASS  USER   STATE                                                                    WAITED  REASON
1         20250601_100400_00001_abcde  etl    alice  queued                                                                   18s     the class has 4 running queries, its limit
2         20250601_100405_00002_abcde  etl    bob    queued                                                                   13s     -
-         20250601_100301_00003_abcde  etl    alice  submitted (blue)                                                         1m17s   -
-         20250601_100201_00004_abcde  adhoc  carol  finished (USER_CANCELED: an administrator canceled the query while it…)  2m17s   -
`

func govHistory() []store.QueryRecord {
	return []store.QueryRecord{
		{QueryID: "20250601_100302_00042_zzzzz", User: "alice", Class: "etl", Cluster: "blue", Coordinator: "0", State: "FINISHED",
			Created: govNow.Add(-76 * time.Second), Ended: govNow.Add(-17 * time.Second), CPUSeconds: 73.456, ScannedBytes: 5 << 30, OutputRows: 10},
		{QueryID: "20250601_100100_00041_zzzzz", User: "carol", Cluster: "green", State: "FAILED", ErrorName: "EXCEEDED_TIME_LIMIT",
			Created: govNow.Add(-198 * time.Second), Ended: govNow.Add(-100 * time.Second), CPUSeconds: 0.2, ScannedBytes: 512},
		{QueryID: "20250601_100000_00040_zzzzz", User: "dave", Cluster: "green", State: "RUNNING", Created: govNow.Add(-258 * time.Second), CPUSeconds: 1},
	}
}

const govHistoryTable = `QUERY ID                     USER   CLASS  CLUSTER  STATE                         CPU SECONDS  SCANNED  ENDED
20250601_100302_00042_zzzzz  alice  etl    blue     FINISHED                      73.5         5GB      2025-06-01 10:04:01Z
20250601_100100_00041_zzzzz  carol  -      green    FAILED (EXCEEDED_TIME_LIMIT)  0.2          512B     2025-06-01 10:02:38Z
20250601_100000_00040_zzzzz  dave   -      green    RUNNING                       1            0B       -
`

// govAdmin is a fake admin API serving the governance fixtures.
func govAdmin(t *testing.T) *fakeAdmin {
	t.Helper()
	return newFakeAdmin(t, routes(map[string][]any{
		"GET /api/v1/governance":                                      {govUsage()},
		"POST /api/v1/governance/usage":                               {govUsage()},
		"GET /api/v1/governance/queue":                                {govQueue()},
		"DELETE /api/v1/governance/queue/20250601_100400_00001_abcde": {map[string]string{"canceled": "20250601_100400_00001_abcde", "was": "queued"}},
		"GET /api/v1/history":                                         {govHistory()},
	}))
}

func TestGovernanceCommands(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		method   string
		uri      string
		auth     string
		wantBody string // JSON; "" for no body
		wantOut  string
	}{
		{"usage", []string{"governance", "usage"}, "GET", "/api/v1/governance", "Bearer env-token", "", govUsageTable},
		{"usage --output table, --token", []string{"governance", "usage", "--output", "table", "--token", "flag-token"},
			"GET", "/api/v1/governance", "Bearer flag-token", "", govUsageTable},
		{"queue", []string{"governance", "queue"}, "GET", "/api/v1/governance/queue", "Bearer env-token", "", govQueueTable},
		{"persistent flags before the verb", []string{"governance", "--token", "flag-token", "queue"},
			"GET", "/api/v1/governance/queue", "Bearer flag-token", "", govQueueTable},
		{"cancel", []string{"governance", "cancel", "20250601_100400_00001_abcde"},
			"DELETE", "/api/v1/governance/queue/20250601_100400_00001_abcde", "Bearer env-token", "",
			"query 20250601_100400_00001_abcde canceled (it was queued)\n"},
		{"adjust", []string{"governance", "adjust", "--class", "etl", "--kind", "cpu", "--delta", "600"},
			"POST", "/api/v1/governance/usage", "Bearer env-token", `{"class":"etl","kind":"cpu","delta":600}`,
			"cpu usage of class etl raised by 600 in the current window\n" + govEtlTable},
		{"adjust a user's down", []string{"governance", "adjust", "--delta", "-1.5", "--user", "alice", "--class=etl", "--kind", "rate"},
			"POST", "/api/v1/governance/usage", "Bearer env-token", `{"class":"etl","user":"alice","kind":"rate","delta":-1.5}`,
			"rate usage of user alice in class etl lowered by 1.5 in the current window\n" + govEtlTable},
		{"adjust bytes", []string{"governance", "adjust", "--class", "etl", "--kind", "bytes", "--delta=-1073741824"},
			"POST", "/api/v1/governance/usage", "Bearer env-token", `{"class":"etl","kind":"bytes","delta":-1073741824}`,
			"bytes usage of class etl lowered by 1GB in the current window\n" + govEtlTable},
		{"reset", []string{"governance", "reset", "--class", "etl"},
			"POST", "/api/v1/governance/usage", "Bearer env-token", `{"class":"etl","reset":true}`,
			"rate, cpu and bytes usage of class etl reset in the current window\n" + govEtlTable},
		{"reset a user's kind", []string{"governance", "reset", "--class", "etl", "--user", "bob", "--kind", "bytes"},
			"POST", "/api/v1/governance/usage", "Bearer env-token", `{"class":"etl","user":"bob","kind":"bytes","reset":true}`,
			"bytes usage of user bob in class etl reset in the current window\n" + govEtlTable},
		{"history", []string{"governance", "history"}, "GET", "/api/v1/history?limit=20", "Bearer env-token", "", govHistoryTable},
		{"history --limit", []string{"governance", "history", "--limit", "500"}, "GET", "/api/v1/history?limit=500", "Bearer env-token", "", govHistoryTable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := govAdmin(t)
			useAdmin(t, f, "env-token")
			out, errOut, err := runCLI(tt.args...)
			if err != nil {
				t.Fatalf("%v\nstderr: %s", err, errOut)
			}
			if d := cmp.Diff(tt.wantOut, out); d != "" {
				t.Errorf("stdout (-want +got):\n%s\ngot:\n%s", d, out)
			}
			if errOut != "" {
				t.Errorf("stderr %q, want nothing", errOut)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1: %+v", len(reqs), reqs)
			}
			got := reqs[0]
			if got.Method != tt.method || got.URI != tt.uri || got.Auth != tt.auth {
				t.Errorf("request %s %s with Authorization %q, want %s %s with %q", got.Method, got.URI, got.Auth, tt.method, tt.uri, tt.auth)
			}
			var want any
			if tt.wantBody != "" {
				want = jsonOf(t, tt.wantBody)
			}
			if d := cmp.Diff(want, got.Body); d != "" {
				t.Errorf("request body (-want +got):\n%s", d)
			}
		})
	}
}

// TestGovernanceJSON: --output json prints the admin API's document as it
// answered, fields the CLI does not know included.
func TestGovernanceJSON(t *testing.T) {
	usage := `{"enabled":true,"time":"2025-06-01T10:04:18Z","classes":[{"name":"etl","priority":10,"running":1,"queued":0,
		"limits":{"maxRunning":4},"perUser":{},"usage":{"rate":{"used":1,"limit":0,"resets":"2025-06-01T10:05:00Z"}},"users":[],"future":"field"}],
		"clusters":[{"name":"blue","running":1,"cap":2}],"queued":0,"newTopLevel":[1,2]}`
	queue := `[{"position":1,"id":"q1","state":"queued","class":"etl","user":"alice","priority":10,"enqueued":"2025-06-01T10:04:00Z","waited":"18s","extra":true}]`
	history := `[{"queryId":"q9","user":"alice","cluster":"blue","state":"FINISHED","created":"2025-06-01T10:00:00Z","cpuSeconds":1.5,"wallSeconds":2,
		"queuedSeconds":0,"peakMemoryBytes":1,"scannedBytes":2,"outputRows":3,"writtenBytes":0,"query":"SELECT 1"}]`
	replies := map[string]string{
		"GET /api/v1/governance":        usage,
		"POST /api/v1/governance/usage": usage,
		"GET /api/v1/governance/queue":  queue,
		"GET /api/v1/history":           history,
	}
	f := newFakeAdmin(t, func(route string) (int, any) {
		if s, ok := replies[route]; ok {
			return http.StatusOK, s
		}
		return http.StatusNotFound, map[string]string{"error": "no route " + route}
	})
	useAdmin(t, f, "tok")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"governance", "usage", "--output", "json"}, usage},
		{[]string{"governance", "usage", "-o", "json"}, usage},
		{[]string{"governance", "queue", "--output=json"}, queue},
		{[]string{"governance", "history", "-o", "json", "--limit", "1"}, history},
		{[]string{"governance", "adjust", "--class", "etl", "--kind", "rate", "--delta", "2", "-o", "json"}, usage},
		{[]string{"governance", "reset", "--class", "etl", "-o", "json"}, usage},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, err := runCLI(tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if errOut != "" {
				t.Errorf("stderr %q, want nothing", errOut)
			}
			if d := cmp.Diff(jsonOf(t, tt.want), jsonOf(t, out)); d != "" {
				t.Errorf("printed document (-answered +printed):\n%s", d)
			}
			if !strings.HasPrefix(out, "{\n  \"") && !strings.HasPrefix(out, "[\n  {") || !strings.HasSuffix(out, "\n") {
				t.Errorf("output is not indented JSON ending in a newline:\n%s", out)
			}
		})
	}
}

func TestGovernanceEmpty(t *testing.T) {
	f := newFakeAdmin(t, routes(map[string][]any{
		"GET /api/v1/governance":       {workload.Usage{Time: govNow, Classes: []workload.ClassUsage{}, Clusters: []workload.ClusterUsage{}}},
		"GET /api/v1/governance/queue": {[]workload.QueueItem{}},
		"GET /api/v1/history":          {[]store.QueryRecord{}},
	}))
	useAdmin(t, f, "tok")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"governance", "usage"}, "Governance is off (the policy in use defines no workload classes) at 2025-06-01 10:04:18Z: 0 queued.\n"},
		{[]string{"governance", "queue"}, "The gateway's queue is empty.\n"},
		{[]string{"governance", "history"}, "No recent queries (none reported yet, or the control plane keeps no history).\n"},
		{[]string{"governance", "queue", "-o", "json"}, "[]\n"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := runCLI(tt.args...)
			if err != nil || out != tt.want {
				t.Errorf("got %q, %v; want %q", out, err, tt.want)
			}
		})
	}
}

// TestGovernanceAdjustUnknownClass: the API takes any class name; the CLI
// says when the class is not in the view (a likely typo) but succeeds.
func TestGovernanceAdjustUnknownClass(t *testing.T) {
	f := govAdmin(t)
	useAdmin(t, f, "tok")
	out, errOut, err := runCLI("governance", "adjust", "--class", "etll", "--kind", "rate", "--delta", "1")
	if err != nil {
		t.Fatal(err)
	}
	if want := "rate usage of class etll raised by 1 in the current window\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	if want := `warning: the governance view has no class "etll" (it has: adhoc, etl): is the name right?` + "\n"; errOut != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
}

func TestGovernanceAPIErrors(t *testing.T) {
	const id = "20250601_100400_00001_abcde"
	tests := []struct {
		name   string
		args   []string
		status int
		body   any
		want   string // the whole error text
	}{
		{"no token", []string{"governance", "usage"}, http.StatusUnauthorized,
			map[string]string{"error": "missing or unknown bearer token (Authorization: Bearer <token>)"},
			"admin API: missing or unknown bearer token (Authorization: Bearer <token>) (HTTP 401)"},
		{"viewer cancels", []string{"governance", "cancel", id}, http.StatusForbidden,
			map[string]string{"error": "token ops has the viewer role; this needs the admin role"},
			"admin API: token ops has the viewer role; this needs the admin role (HTTP 403)"},
		{"viewer adjusts", []string{"governance", "adjust", "--class", "etl", "--kind", "cpu", "--delta", "1"}, http.StatusForbidden,
			map[string]string{"error": "token ops has the viewer role; this needs the admin role"},
			"admin API: token ops has the viewer role; this needs the admin role (HTTP 403)"},
		{"viewer resets", []string{"governance", "reset", "--class", "etl"}, http.StatusForbidden,
			map[string]string{"error": "token ops has the viewer role; this needs the admin role"},
			"admin API: token ops has the viewer role; this needs the admin role (HTTP 403)"},
		{"not queued", []string{"governance", "cancel", id}, http.StatusNotFound,
			map[string]string{"error": "no queued query " + id}, "admin API: no queued query " + id + " (HTTP 404)"},
		{"left the queue", []string{"governance", "cancel", id}, http.StatusConflict,
			map[string]string{"error": "query " + id + " left the queue already (submitted): cancel it on its cluster"},
			"admin API: query " + id + " left the queue already (submitted): cancel it on its cluster (HTTP 409)"},
		{"store down: usage", []string{"governance", "usage", "-o", "json"}, http.StatusServiceUnavailable,
			map[string]string{"error": "the shared store failed: dial tcp 10.0.0.9:6379: connect: connection refused"},
			"admin API: the shared store failed: dial tcp 10.0.0.9:6379: connect: connection refused (HTTP 503)"},
		{"store down: queue", []string{"governance", "queue"}, http.StatusServiceUnavailable,
			map[string]string{"error": "the shared store failed: timeout"}, "admin API: the shared store failed: timeout (HTTP 503)"},
		{"store down: history", []string{"governance", "history"}, http.StatusServiceUnavailable,
			map[string]string{"error": "the shared store failed: timeout"}, "admin API: the shared store failed: timeout (HTTP 503)"},
		{"an older control plane", []string{"governance", "usage"}, http.StatusNotFound,
			map[string]string{"error": "no such endpoint: GET /api/v1/governance"}, "admin API: no such endpoint: GET /api/v1/governance (HTTP 404)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAdmin(t, func(string) (int, any) { return tt.status, tt.body })
			useAdmin(t, f, "tok")
			out, errOut, err := runCLI(tt.args...)
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("got %v, want an *APIError", err)
			}
			if apiErr.Status != tt.status || err.Error() != tt.want {
				t.Errorf("got HTTP %d %q, want %d %q", apiErr.Status, err.Error(), tt.status, tt.want)
			}
			if errors.Is(err, ErrUsage) || ExitCode(err) != 1 {
				t.Errorf("exit code %d, want 1 (not a usage error)", ExitCode(err))
			}
			if out != "" || errOut != "" {
				t.Errorf("stdout %q, stderr %q; want nothing (the caller prints the error)", out, errOut)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestGovernanceBadAnswer(t *testing.T) {
	f := newFakeAdmin(t, func(string) (int, any) { return http.StatusOK, "<html>" })
	useAdmin(t, f, "tok")
	_, _, err := runCLI("governance", "usage")
	if err == nil || !strings.Contains(err.Error(), "admin API: the answer to GET /api/v1/governance is not JSON") || ExitCode(err) != 1 {
		t.Errorf("got %v, want an error saying the answer is not JSON, exit 1", err)
	}
	f = newFakeAdmin(t, func(string) (int, any) { return http.StatusOK, `{"classes":"etl"}` })
	useAdmin(t, f, "tok")
	_, _, err = runCLI("governance", "usage", "-o", "json")
	if err == nil || !strings.Contains(err.Error(), "admin API: unexpected answer to GET /api/v1/governance") || ExitCode(err) != 1 {
		t.Errorf("got %v, want an error saying the answer is unexpected, exit 1", err)
	}
}

func TestGovernanceUsageMistakes(t *testing.T) {
	noAPI(t)
	tests := []struct {
		args []string
		want string // in the message
	}{
		{[]string{"governance"}, `"switchyard governance" needs a command: adjust, cancel, history, queue, reset, usage`},
		{[]string{"governance", "usge"}, "did you mean usage?"},
		{[]string{"governance", "usage", "extra"}, "unexpected arguments: extra"},
		{[]string{"governance", "usage", "--output", "yaml"}, `invalid argument "yaml" for "-o, --output" flag: want table or json`},
		{[]string{"governance", "queue", "-o"}, "flag needs an argument: 'o' in -o"},
		{[]string{"governance", "queue", "etl"}, "unexpected arguments: etl"},
		{[]string{"governance", "cancel"}, "missing ID"},
		{[]string{"governance", "cancel", "q1", "q2"}, "unexpected arguments: q2"},
		{[]string{"governance", "cancel", "Q/1"}, `"Q/1" is not a queued query's ID`},
		{[]string{"governance", "adjust"}, `required flag(s) "class", "delta", "kind" not set`},
		{[]string{"governance", "adjust", "--kind", "cpu", "--delta", "1"}, `required flag(s) "class" not set`},
		{[]string{"governance", "adjust", "--class", "", "--kind", "cpu", "--delta", "1"}, "--class is required"},
		{[]string{"governance", "adjust", "--class", "etl", "--delta", "1"}, `required flag(s) "kind" not set`},
		{[]string{"governance", "adjust", "--class", "etl", "--kind", "memory", "--delta", "1"}, `invalid argument "memory" for "--kind" flag: want rate, cpu or bytes`},
		{[]string{"governance", "adjust", "--class", "etl", "--kind", "cpu"}, `required flag(s) "delta" not set`},
		{[]string{"governance", "adjust", "--class", "etl", "--kind", "cpu", "--delta", "lots"}, `invalid argument "lots" for "--delta" flag`},
		{[]string{"governance", "adjust", "--class", "etl", "--kind", "cpu", "--delta", "10GB"}, `invalid argument "10GB" for "--delta" flag`},
		{[]string{"governance", "adjust", "--class", "etl", "--kind", "cpu", "--delta", "0"}, "--delta must not be 0 (reset clears usage)"},
		{[]string{"governance", "adjust", "--class", "etl", "--kind", "cpu", "--delta", "NaN"}, "--delta must be a finite number"},
		{[]string{"governance", "adjust", "--class", "etl", "--kind", "cpu", "--delta", "1", "extra"}, "unexpected arguments: extra"},
		{[]string{"governance", "reset"}, `required flag(s) "class" not set`},
		{[]string{"governance", "reset", "--class="}, "--class is required"},
		{[]string{"governance", "reset", "--class", "etl", "--kind", "all"}, `invalid argument "all" for "--kind" flag: want rate, cpu or bytes`},
		{[]string{"governance", "reset", "--class", "etl", "--delta", "1"}, "unknown flag: --delta"},
		{[]string{"governance", "reset", "etl"}, "unexpected arguments: etl"},
		{[]string{"governance", "history", "--limit", "all"}, `invalid argument "all" for "--limit" flag`},
		{[]string{"governance", "history", "--limit", "0"}, "--limit 0 must be from 1 to 10000"},
		{[]string{"governance", "history", "--limit", "10001"}, "--limit 10001 must be from 1 to 10000"},
		{[]string{"governance", "history", "20"}, "unexpected arguments: 20"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := runCLI(tt.args...)
			if !errors.Is(err, ErrUsage) || ExitCode(err) != 2 {
				t.Fatalf("got %v (exit %d), want a usage error (exit 2)", err, ExitCode(err))
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q lacks %q", msg, tt.want)
			}
			help := "switchyard governance"
			if len(tt.args) > 1 && tt.args[1] != "usge" {
				help += " " + tt.args[1]
			}
			if want := "(see '" + help + " --help')"; !strings.HasSuffix(msg, want) {
				t.Errorf("message %q does not end with %q", msg, want)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
		})
	}
}

func TestGovernanceHelpShowsEnvironmentNotToken(t *testing.T) {
	t.Setenv(envAdmin, "http://cp.example:9080")
	t.Setenv(envToken, "s3cret-token-value")
	for _, verb := range []string{"usage", "queue", "cancel", "adjust", "reset", "history"} {
		t.Run(verb, func(t *testing.T) {
			out, _, err := runCLI("governance", verb, "--help")
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"--admin URL", "--token token", envAdmin, envToken, `(default "http://cp.example:9080")`} {
				if !strings.Contains(out, want) {
					t.Errorf("help lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "s3cret-token-value") {
				t.Errorf("help shows the token:\n%s", out)
			}
			if verb != "cancel" && !strings.Contains(out, "-o, --output format") {
				t.Errorf("help lacks -o, --output:\n%s", out)
			}
		})
	}
}

func TestGovernanceCompletion(t *testing.T) {
	f := govAdmin(t)
	useAdmin(t, f, "tok")
	tests := []struct {
		args []string
		want string // the whole of stdout
		gets int
	}{
		{[]string{"governance", "u"}, "usage\tUsage per class, user and cluster, against their limits\n:4\n", 0},
		{[]string{"governance", "adjust", "--class", ""}, "adhoc\tpriority 5, 1 running, 0 queued\netl\tpriority 10, 2 running, 3 queued\n:4\n", 1},
		{[]string{"governance", "reset", "--class", "e"}, "etl\tpriority 10, 2 running, 3 queued\n:4\n", 1},
		{[]string{"governance", "adjust", "--kind", ""}, "rate\ncpu\nbytes\n:4\n", 0},
		{[]string{"governance", "queue", "-o", ""}, "table\njson\n:4\n", 0},
		// Only queued queries can be canceled.
		{[]string{"governance", "cancel", ""}, "20250601_100400_00001_abcde\t#1, alice in etl, waited 18s\n20250601_100405_00002_abcde\t#2, bob in etl, waited 13s\n:4\n", 1},
		{[]string{"governance", "cancel", "20250601_100400_00001_abcde", ""}, ":4\n", 0},
		{[]string{"governance", "history", ""}, ":4\n", 0},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			before := len(f.requests())
			out, _, err := runCLI(append([]string{"__complete"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if out != tt.want {
				t.Errorf("stdout %q, want %q", out, tt.want)
			}
			reqs := f.requests()[before:]
			if len(reqs) != tt.gets {
				t.Fatalf("%d API calls, want %d", len(reqs), tt.gets)
			}
			if len(reqs) > 0 && reqs[0].Auth != "Bearer tok" {
				t.Errorf("completion sent Authorization %q, want the token from the environment", reqs[0].Auth)
			}
		})
	}

	t.Run("the API refuses", func(t *testing.T) {
		failing := newFakeAdmin(t, func(string) (int, any) {
			return http.StatusUnauthorized, map[string]string{"error": "missing or unknown bearer token"}
		})
		t.Setenv(envAdmin, failing.URL)
		for _, args := range [][]string{{"governance", "cancel", ""}, {"governance", "reset", "--class", ""}} {
			out, _, err := runCLI(append([]string{"__complete"}, args...)...)
			if err != nil || out != ":4\n" {
				t.Errorf("%v: got %q, %v; want no candidates and no error", args, out, err)
			}
		}
	})
}

func TestGovernanceFormats(t *testing.T) {
	for _, tt := range []struct {
		v         float64
		num, size string
	}{
		{0, "0", "0B"},
		{1, "1", "1B"},
		{3.25, "3.3", "3B"},
		{1023, "1023", "1023B"},
		{1024, "1024", "1kB"},
		{1.5 * (1 << 30), "1610612736", "1.5GB"},
		{1 << 40, "1099511627776", "1TB"},
		{-(1 << 20), "-1048576", "-1MB"},
	} {
		if got := fmtNum(tt.v); got != tt.num {
			t.Errorf("fmtNum(%v) = %q, want %q", tt.v, got, tt.num)
		}
		if got := fmtBytes(tt.v); got != tt.size {
			t.Errorf("fmtBytes(%v) = %q, want %q", tt.v, got, tt.size)
		}
	}
	// A balance whose window is not the usual one names its end.
	b := workload.Balance{Used: 2, Limit: 5, Resets: govNow.Add(time.Hour)}
	if got := balance(b, fmtNum, govNow); got != "2/5 (resets 11:04:18Z)" {
		t.Errorf("balance = %q", got)
	}
}
