package cli

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/lifecycle"
)

// drainView is a cluster view while draining (timedOut false) or once the
// deadline passed (timedOut true).
func drainView(name string, running, queued int, timedOut bool, remaining ...string) lifecycle.ClusterView {
	started := time.Now().Add(-41 * time.Second)
	return lifecycle.ClusterView{Name: name, Group: "adhoc", State: fleet.Draining, Drain: &fleet.Drain{
		Started: started, Deadline: time.Date(2026, 5, 1, 12, 30, 0, 0, time.UTC),
		Running: running, Queued: queued, TimedOut: timedOut, Remaining: remaining,
	}}
}

func drainedView(name string) lifecycle.ClusterView {
	started := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	return lifecycle.ClusterView{Name: name, Group: "adhoc", State: fleet.Drained, Drain: &fleet.Drain{
		Started: started, Finished: started.Add(63 * time.Second),
	}}
}

func TestDrainWait(t *testing.T) {
	tests := []struct {
		name      string
		views     []any
		args      []string
		wantErr   error  // errors.Is; nil for success
		wantErrIn string // in the error text
		wantOut   []string
		wantGets  int
	}{
		{"drained", []any{drainView("blue", -1, -1, false), drainView("blue", 1, 0, false), drainView("blue", 1, 0, false), drainedView("blue")},
			[]string{"cluster", "drain", "blue", "--wait"}, nil, "",
			[]string{
				"cluster blue is draining: no new queries",
				"cluster blue draining: counting queries",
				"cluster blue draining: 1 running, 0 queued (41s so far)",
				"cluster blue drained after 1m3s",
			}, 4},
		{"timed out", []any{drainView("blue", 2, 0, false), drainView("blue", 1, 1, true, "20260501_120000_00001_abcde", "20260501_120000_00002_abcde")},
			[]string{"cluster", "drain", "--wait", "blue", "--timeout", "30m"}, ErrDrainTimedOut, "cluster blue still has queries (it stays draining)",
			[]string{
				"cluster blue is draining: no new queries",
				"cluster blue draining: 2 running, 0 queued (41s so far)",
				"cluster blue: drain timed out at 2026-05-01T12:30:00Z with 1 running and 1 queued:",
				"  20260501_120000_00001_abcde",
				"  20260501_120000_00002_abcde",
			}, 2},
		{"not draining", []any{lifecycle.ClusterView{Name: "blue", State: fleet.Active}},
			[]string{"cluster", "drain", "blue", "--wait"}, nil, "cluster blue is active, not draining",
			[]string{"cluster blue is draining: no new queries"}, 1},
		{"without --wait", []any{drainView("blue", 1, 0, false)},
			[]string{"cluster", "drain", "blue"}, nil, "",
			[]string{"cluster blue is draining: no new queries"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAdmin(t, routes(map[string][]any{
				"POST /api/v1/clusters/blue/drain": {map[string]any{}},
				"GET /api/v1/clusters/blue":        tt.views,
			}))
			useAdmin(t, f, "tok")
			out, _, err := runCLI(tt.args...)
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("got %v, want %v", err, tt.wantErr)
			case tt.wantErrIn == "" && err != nil:
				t.Errorf("got %v, want success", err)
			case tt.wantErrIn != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErrIn)):
				t.Errorf("got %v, want an error with %q", err, tt.wantErrIn)
			}
			if err != nil && ExitCode(err) != 1 {
				t.Errorf("exit code %d, want 1", ExitCode(err))
			}
			if d := cmp.Diff(tt.wantOut, strings.Split(strings.TrimSuffix(out, "\n"), "\n")); d != "" {
				t.Errorf("stdout (-want +got):\n%s", d)
			}
			gets := 0
			for _, r := range f.requests() {
				if r.Method == http.MethodGet {
					gets++
					if r.Auth != "Bearer tok" {
						t.Errorf("poll without the token: %q", r.Auth)
					}
				}
			}
			if gets != tt.wantGets {
				t.Errorf("%d polls, want %d", gets, tt.wantGets)
			}
		})
	}
}

func TestBlueGreen(t *testing.T) {
	report := map[string]any{"group": "adhoc", "activated": []string{"green", "teal"}, "draining": []string{"blue"}, "greenHealthyAfterMs": 1500}
	tests := []struct {
		name     string
		args     []string
		report   any
		wantBody string
		wantOut  []string
		wantGets int
	}{
		{"waits for the drain", []string{"bluegreen", "--group", "adhoc", "--to", "green,teal", "--drain-timeout", "1h"}, report,
			`{"group":"adhoc","to":["green","teal"],"healthTimeout":"2m0s","drainTimeout":"1h0m0s"}`,
			[]string{
				"group adhoc: green, teal active and healthy after 1.5s; draining blue",
				"cluster blue draining: 1 running, 0 queued (41s so far)",
				"cluster blue drained after 1m3s",
			}, 2},
		{"--wait=false", []string{"bluegreen", "--group", "adhoc", "--to", "green", "--wait=false", "--health-timeout", "30s"}, report,
			`{"group":"adhoc","to":["green"],"healthTimeout":"30s"}`,
			[]string{"group adhoc: green, teal active and healthy after 1.5s; draining blue"}, 0},
		{"nothing to drain", []string{"bluegreen", "--group", "adhoc", "--to", "green"},
			map[string]any{"group": "adhoc", "activated": []string{"green"}, "greenHealthyAfterMs": 20},
			`{"group":"adhoc","to":["green"],"healthTimeout":"2m0s"}`,
			[]string{"group adhoc: green active and healthy after 20ms; draining nothing"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAdmin(t, routes(map[string][]any{
				"POST /api/v1/bluegreen":    {tt.report},
				"GET /api/v1/clusters/blue": {drainView("blue", 1, 0, false), drainedView("blue")},
			}))
			useAdmin(t, f, "tok")
			out, _, err := runCLI(tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.wantOut, strings.Split(strings.TrimSuffix(out, "\n"), "\n")); d != "" {
				t.Errorf("stdout (-want +got):\n%s", d)
			}
			reqs := f.requests()
			if len(reqs) != 1+tt.wantGets {
				t.Fatalf("%d requests, want 1 POST and %d polls: %+v", len(reqs), tt.wantGets, reqs)
			}
			if d := cmp.Diff(jsonOf(t, tt.wantBody), reqs[0].Body); d != "" {
				t.Errorf("bluegreen body (-want +got):\n%s", d)
			}
		})
	}
}
