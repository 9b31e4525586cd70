package soak

import (
	"testing"
	"time"
)

// These tests check the soak's own bookkeeping (no components): how it
// reads client output and how the excuse rules and the availability
// formula treat outcomes.

func TestParseCLILine(t *testing.T) {
	tests := []struct {
		name, line string
		want       cliLine
	}{
		{"result row", "soak3_1\t25\t300", cliLine{kind: cliRow, rest: "25\t300"}},
		{"another query's row", "soak3_0\t25\t300", cliLine{kind: cliOther}},
		{"query failed", "Query 20261201_230420_00097_izwz4 failed: nodes is empty",
			cliLine{kind: cliQueryFailed, queryID: "20261201_230420_00097_izwz4", rest: "nodes is empty"}},
		{"gateway error", "Query switchyard_gateway_error failed: the switchyard control plane did not answer",
			cliLine{kind: cliQueryFailed, queryID: "switchyard_gateway_error", rest: "the switchyard control plane did not answer"}},
		{"coloured connection failure", "\x1b[31;1mjava.net.ConnectException: Failed to connect to /127.0.0.1:1\x1b[0m",
			cliLine{kind: cliClientError, rest: "java.net.ConnectException: Failed to connect to /127.0.0.1:1"}},
		{"error running command", "Error running command: Error starting query at http://127.0.0.1:1/v1/statement",
			cliLine{kind: cliClientError, rest: "Error starting query at http://127.0.0.1:1/v1/statement"}},
		{"jline warning", "WARNING: Unable to create a system terminal, creating a dumb terminal", cliLine{kind: cliOther}},
		{"stack trace line", "\tat io.trino.cli.Console.run(Console.java:123)", cliLine{kind: cliOther}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseCLILine(tt.line, "soak3_1"); got != tt.want {
				t.Fatalf("parseCLILine(%q) = %+v, want %+v", tt.line, got, tt.want)
			}
		})
	}
}

func TestWrappedPythonErrorName(t *testing.T) {
	msg := `DatabaseError: failed to commit transaction 17b8: TrinoExternalError(type=EXTERNAL, name=GATEWAY_UNAVAILABLE, message="the switchyard control plane did not answer")`
	m := wrappedName.FindStringSubmatch(msg)
	if m == nil || m[1] != "GATEWAY_UNAVAILABLE" {
		t.Fatalf("wrapped name of %q: %v, want GATEWAY_UNAVAILABLE", msg, m)
	}
	if m := wrappedName.FindStringSubmatch("TrinoConnectionError: failed to fetch: ('Connection aborted.')"); m != nil {
		t.Fatalf("a connection error has no wrapped name, got %v", m)
	}
}

func TestCoordinatorKillExcuse(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f := &coordinatorKill{}
	f.list = []*kill{{target: "a", at: at, backAt: at.Add(time.Minute)}}
	before, after := at.Add(-time.Second), at.Add(time.Second)
	tests := []struct {
		name string
		o    outcome
		want bool
	}{
		{"running on the killed coordinator", outcome{Cluster: "a", Start: before, End: after, Clear: true}, true},
		{"a transport failure is not a clear error", outcome{Cluster: "a", Start: before, End: after}, false},
		{"a response cut short mid-way", outcome{Cluster: "a", Start: before, End: after,
			ErrMsg: "TrinoConnectionError: TrinoConnectionError: failed to fetch: Response ended prematurely"}, true},
		{"a refused connection is not cut short", outcome{Cluster: "a", Start: before, End: after,
			ErrMsg: "TrinoConnectionError: failed to execute: Connection refused"}, false},
		{"cut short on the other cluster", outcome{Cluster: "b", Start: before, End: after, ErrMsg: "Response ended prematurely"}, false},
		{"on the other cluster", outcome{Cluster: "b", Start: before, End: after, Clear: true}, false},
		{"submitted after the kill", outcome{Cluster: "a", Start: after, End: after.Add(time.Second), Clear: true}, false},
		{"ended before the kill", outcome{Cluster: "a", Start: before.Add(-time.Second), End: before, Clear: true}, false},
		{"cluster unknown", outcome{Start: before, End: after, Clear: true}, false},
		{"recorded late, but created by the killed coordinator before it died", outcome{Cluster: "a", Start: after, End: after,
			QueryIDs: []string{at.Add(-400*time.Millisecond).Format("20060102_150405") + "_00119_x9944"}, Clear: true}, true},
		{"created by the restarted coordinator", outcome{Cluster: "a", Start: at.Add(time.Minute), End: at.Add(time.Minute + time.Second),
			QueryIDs: []string{at.Add(time.Minute).Format("20060102_150405") + "_00001_y1234"}, Clear: true}, false},
		{"a query ID that is not one", outcome{Cluster: "a", Start: after, End: after, QueryIDs: []string{"sy_x"}, Clear: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, onKilled := f.excuse(&tt.o)
			if (reason != "") != tt.want || onKilled != tt.want {
				t.Fatalf("excuse = %q, onKilled %v; want excused %v", reason, onKilled, tt.want)
			}
		})
	}
}

func TestEnvoyKillExcuse(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f := &envoyKill{}
	f.list = []*kill{{target: "0", at: at, backAt: at.Add(10 * time.Second)}}
	refused := "TrinoConnectionError: failed to fetch: ('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))"
	tests := []struct {
		name string
		o    outcome
		want bool
	}{
		{"in flight through the killed Envoy", outcome{Envoy: 0, Start: at.Add(-time.Second), End: at.Add(time.Millisecond), ErrMsg: refused}, true},
		{"cut mid-response by the kill", outcome{Envoy: 0, Start: at.Add(-20 * time.Millisecond), End: at.Add(15 * time.Millisecond),
			ErrMsg: "ChunkedEncodingError: ChunkedEncodingError: Response ended prematurely"}, true},
		{"sent to it while it was down", outcome{Envoy: 0, Start: at.Add(5 * time.Second), End: at.Add(5 * time.Second), ErrMsg: refused}, true},
		{"sent after it was back", outcome{Envoy: 0, Start: at.Add(11 * time.Second), End: at.Add(12 * time.Second), ErrMsg: refused}, false},
		{"through the other Envoy", outcome{Envoy: 1, Start: at.Add(-time.Second), End: at.Add(time.Second), ErrMsg: refused}, false},
		{"not a connection error", outcome{Envoy: 0, Start: at.Add(-time.Second), End: at.Add(time.Second), ErrMsg: "GATEWAY_UNAVAILABLE: the switchyard control plane did not answer"}, false},
		{"ended before the kill", outcome{Envoy: 0, Start: at.Add(-2 * time.Second), End: at.Add(-time.Second), ErrMsg: refused}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, onKilled := f.excuse(&tt.o)
			if (reason != "") != tt.want || onKilled {
				t.Fatalf("excuse = %q, onKilled %v; want excused %v and never on a killed coordinator", reason, onKilled, tt.want)
			}
		})
	}
}

func TestAccountAvailability(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ck := &coordinatorKill{}
	ck.list = []*kill{{target: "a", at: at.Add(10 * time.Second), backAt: at.Add(time.Minute)}}
	windows := []*window{{Index: 0, Name: "baseline (no fault)", Start: at}, {Index: 1, Fault: ck, Name: ck.name(), Start: at.Add(10 * time.Second)}}
	q := func(start, end int, r result, cluster string, clear bool) outcome {
		return outcome{Start: at.Add(time.Duration(start) * time.Second), End: at.Add(time.Duration(end) * time.Second),
			Result: r, Cluster: cluster, Clear: clear, ErrName: "X", Client: "python", Kind: "short"}
	}
	all := []outcome{
		q(1, 2, resultOK, "a", false),
		q(9, 11, resultError, "a", true),   // running on a at the kill: excused, out of the denominator
		q(12, 13, resultOK, "b", false),    // window 1
		q(12, 13, resultError, "b", true),  // window 1, not excused
		q(13, 80, resultHung, "b", false),  // window 1
		q(14, 14, resultLost, "", false),   // window 1
		q(15, 16, resultOK, "b", false),    // window 1
		q(9, 12, resultError, "a", false),  // a transport failure: not excused
		q(3, 4, resultOK, "a", false),      // baseline
		q(15, 17, resultError, "a", true),  // submitted after the kill: not excused
		q(16, 17, resultOK, "b", false),    // window 1
		q(17, 18, resultOK, "b", false),    // window 1
		q(18, 19, resultOK, "b", false),    // window 1
		q(19, 20, resultOK, "b", false),    // window 1
		q(20, 21, resultOK, "b", false),    // window 1
		q(21, 22, resultOK, "b", false),    // window 1
		q(22, 23, resultOK, "b", false),    // window 1
		q(23, 24, resultOK, "b", false),    // window 1
		q(24, 25, resultOK, "b", false),    // window 1
		q(25, 26, resultOK, "b", false),    // window 1
		q(26, 27, resultError, "b", false), // window 1, not excused
	}
	r := account(all, windows, []fault{ck})
	if c := r.Total; c.Started != 21 || c.OK != 14 || c.Excused != 1 || c.OnKilled != 1 || c.Unexcused != 4 || c.Hung != 1 || c.Lost != 1 {
		t.Fatalf("totals %+v", c)
	}
	if got, want := r.Total.availability(), "70.000%"; got != want { // 14 / (21 - 1)
		t.Fatalf("availability %s, want %s", got, want)
	}
	// By the window each ended in: the two that failed at the kill count
	// for it.
	if r.PerWin[0].Started != 2 || r.PerWin[1].Started != 19 {
		t.Fatalf("per window %d and %d queries, want 2 and 19", r.PerWin[0].Started, r.PerWin[1].Started)
	}
	if len(r.Bad) != 6 {
		t.Fatalf("%d outcomes count against the run, want 6 (4 unexcused, 1 hung, 1 lost)", len(r.Bad))
	}
}
