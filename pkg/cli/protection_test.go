package cli

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

func TestProtectionCommands(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	kill := store.Action{Time: at, QueryID: "20261204_100000_00001_abcde", User: "bob", Cluster: "blue", Action: "kill", Rule: "runaway-cpu", Reason: "used 4000 s of CPU"}
	throttle := store.Action{Time: at, QueryID: kill.QueryID, User: "bob", Cluster: "blue", Action: "throttle", Rule: "runaway-cpu", Reason: "at most 1", Until: at.Add(10 * time.Minute), ReportOnly: true}
	fp := "0123456789abcdef0123456789abcdef"
	f := newFakeAdmin(t, routes(map[string][]any{
		"GET /api/v1/protection/actions":                             {[]store.Action{throttle, kill}},
		"GET /api/v1/protection/queries/20261204_100000_00001_abcde": {[]store.Action{kill}},
		"POST /api/v1/protection/fingerprint":                        {map[string]string{"fingerprint": fp, "normalised": "select * from t where k = ?"}},
		"GET /api/v1/protection/fingerprints/" + fp:                  {map[string]any{"fingerprint": fp, "incidents": []store.Incident{{Time: at, Kind: "failure", User: "bob", QueryID: "q1", Cluster: "blue", Reason: "EXCEEDED_LOCAL_MEMORY_LIMIT: too much"}}}},
		"DELETE /api/v1/protection/fingerprints/" + fp:               {map[string]string{"released": fp}},
		"GET /api/v1/protection/throttles":                           {[]store.Throttle{{User: "bob", MaxRunning: 1, Reason: "runaway", Until: at.Add(time.Hour)}}},
		"DELETE /api/v1/protection/throttles/bob":                    {map[string]string{"unthrottled": "bob"}},
	}))
	useAdmin(t, f, "env-token")
	for _, tt := range []struct {
		args []string
		uri  string
		want string
	}{
		{[]string{"protection", "actions", "--limit", "5"}, "/api/v1/protection/actions?limit=5",
			"TIME                  ACTION                  RULE         USER  QUERY                        CLUSTER  UNTIL                 REASON\n" +
				"2026-12-04T10:00:00Z  throttle (report only)  runaway-cpu  bob   20261204_100000_00001_abcde  blue     2026-12-04T10:10:00Z  at most 1\n" +
				"2026-12-04T10:00:00Z  kill                    runaway-cpu  bob   20261204_100000_00001_abcde  blue     -                     used 4000 s of CPU\n"},
		{[]string{"protection", "actions", "--query", kill.QueryID}, "/api/v1/protection/queries/" + kill.QueryID,
			"TIME                  ACTION  RULE         USER  QUERY                        CLUSTER  UNTIL  REASON\n" +
				"2026-12-04T10:00:00Z  kill    runaway-cpu  bob   20261204_100000_00001_abcde  blue     -      used 4000 s of CPU\n"},
		{[]string{"protection", "fingerprint", "--sql", "SELECT * FROM t WHERE k = 1"}, "/api/v1/protection/fingerprint",
			fp + "\nselect * from t where k = ?\n"},
		{[]string{"protection", "incidents", fp}, "/api/v1/protection/fingerprints/" + fp,
			"TIME                  KIND     USER  QUERY  CLUSTER  UNTIL  REASON\n" +
				"2026-12-04T10:00:00Z  failure  bob   q1     blue     -      EXCEEDED_LOCAL_MEMORY_LIMIT: too much\n"},
		{[]string{"protection", "release", fp}, "/api/v1/protection/fingerprints/" + fp,
			"fingerprint " + fp + " released: its queries are decided afresh\n"},
		{[]string{"protection", "throttles"}, "/api/v1/protection/throttles",
			"USER  MAX RUNNING  UNTIL                 REASON\nbob   1            2026-12-04T11:00:00Z  runaway\n"},
		{[]string{"protection", "unthrottle", "bob"}, "/api/v1/protection/throttles/bob", "user bob is no longer throttled\n"},
	} {
		out, errOut, err := runCLI(tt.args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", tt.args, err, errOut)
		}
		if d := cmp.Diff(tt.want, out); d != "" {
			t.Errorf("%v (-want +got):\n%s", tt.args, d)
		}
		reqs := f.requests()
		if got := reqs[len(reqs)-1]; got.URI != tt.uri || got.Auth != "Bearer env-token" {
			t.Errorf("%v: request %s %s", tt.args, got.Method, got.URI)
		}
	}
	if _, _, err := runCLI("protection", "fingerprint"); err == nil {
		t.Error("fingerprint without --sql succeeded")
	}
}
