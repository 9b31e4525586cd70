package cli

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/lifecycle"
)

// request is one call the fake admin API received.
type request struct {
	Method, URI, Auth string
	Body              any // decoded JSON, nil when empty
}

// fakeAdmin plays the admin API: each call is recorded and answered by
// reply (status and JSON body) for "METHOD path"; unknown routes get 404.
type fakeAdmin struct {
	*httptest.Server
	mu    sync.Mutex
	calls []request
	reply func(route string) (int, any)
}

func newFakeAdmin(t *testing.T, reply func(route string) (int, any)) *fakeAdmin {
	t.Helper()
	f := &fakeAdmin{reply: reply}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAdmin) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	req := request{Method: r.Method, URI: r.RequestURI, Auth: r.Header.Get("Authorization")}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &req.Body); err != nil {
			req.Body = "bad JSON: " + string(b)
		}
	}
	f.mu.Lock()
	f.calls = append(f.calls, req)
	status, body := f.reply(r.Method + " " + r.URL.Path)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if s, ok := body.(string); ok {
		_, _ = io.WriteString(w, s)
		return
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (f *fakeAdmin) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request{}, f.calls...)
}

// routes answers from a fixed table; a route with several answers gives
// them in turn and then repeats the last (a cluster's view over polls).
func routes(table map[string][]any) func(string) (int, any) {
	next := map[string]int{}
	return func(route string) (int, any) {
		answers, ok := table[route]
		if !ok {
			return http.StatusNotFound, map[string]string{"error": "no route " + route}
		}
		i := min(next[route], len(answers)-1)
		next[route]++
		return http.StatusOK, answers[i]
	}
}

// useAdmin points the environment at the fake admin API.
func useAdmin(t *testing.T, f *fakeAdmin, token string) {
	t.Setenv(envAdmin, f.URL)
	t.Setenv(envToken, token)
}

func jsonOf(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON in test: %v: %s", err, s)
	}
	return v
}

func TestAdminAddressAndToken(t *testing.T) {
	policyDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(policyDir, "routing.rego"), []byte("package switchyard.routing\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name       string
		env        func(f *fakeAdmin) (admin, token string)
		args       []string
		wantMethod string
		wantURI    string
		wantAuth   string
	}{
		{"env", envBoth, []string{"cluster", "list"}, "GET", "/api/v1/clusters", "Bearer env-token"},
		{"env without scheme or with a trailing slash",
			func(f *fakeAdmin) (string, string) { return strings.TrimPrefix(f.URL, "http://") + "/", "env-token" },
			[]string{"cluster", "list"}, "GET", "/api/v1/clusters", "Bearer env-token"},
		{"flags win over env",
			func(*fakeAdmin) (string, string) { return closed.URL, "env-token" },
			[]string{"cluster", "list", "--token", "flag-token", "--admin", "<fake>"}, "GET", "/api/v1/clusters", "Bearer flag-token"},
		{"persistent flags before the verb", envBoth,
			[]string{"cluster", "--token", "flag-token", "activate", "blue"}, "POST", "/api/v1/clusters/blue/activate", "Bearer flag-token"},
		{"an empty --token sends none", envBoth, []string{"cluster", "list", "--token", ""}, "GET", "/api/v1/clusters", ""},
		{"no token anywhere", func(f *fakeAdmin) (string, string) { return f.URL, "" }, []string{"cluster", "list"}, "GET", "/api/v1/clusters", ""},
		{"bluegreen", envBoth, []string{"bluegreen", "--group", "adhoc", "--to", "green", "--wait=false"}, "POST", "/api/v1/bluegreen", "Bearer env-token"},
		{"policy upload", envBoth, []string{"policy", "upload", "--dir", policyDir}, "PUT", "/api/v1/policy", "Bearer env-token"},
		{"policy decisions", envBoth, []string{"policy", "decisions"}, "GET", "/api/v1/decisions?limit=20", "Bearer env-token"},
		{"policy decisions --limit", envBoth, []string{"policy", "decisions", "--limit", "5", "--token", "t2"}, "GET", "/api/v1/decisions?limit=5", "Bearer t2"},
		{"policy eval", envBoth, []string{"policy", "eval", "--user", "alice", "--sql", "SELECT 1"}, "POST", "/api/v1/policy/eval", "Bearer env-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAdmin(t, routes(map[string][]any{
				"GET /api/v1/clusters":                {[]any{}},
				"POST /api/v1/clusters/blue/activate": {map[string]any{"name": "blue", "state": "active"}},
				"POST /api/v1/bluegreen":              {map[string]any{"group": "adhoc", "activated": []string{"green"}}},
				"PUT /api/v1/policy":                  {map[string]any{"version": "v1"}},
				"GET /api/v1/decisions":               {[]any{}},
				"POST /api/v1/policy/eval":            {map[string]any{"route": "blue"}},
			}))
			admin, token := tt.env(f)
			t.Setenv(envAdmin, admin)
			t.Setenv(envToken, token)
			args := append([]string{}, tt.args...)
			for i, a := range args {
				if a == "<fake>" {
					args[i] = f.URL
				}
			}
			if out, errOut, err := runCLI(args...); err != nil {
				t.Fatalf("%v\nstdout: %s\nstderr: %s", err, out, errOut)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1: %+v", len(reqs), reqs)
			}
			got := reqs[0]
			if got.Method != tt.wantMethod || got.URI != tt.wantURI || got.Auth != tt.wantAuth {
				t.Errorf("got %s %s with Authorization %q, want %s %s with %q", got.Method, got.URI, got.Auth, tt.wantMethod, tt.wantURI, tt.wantAuth)
			}
		})
	}
}

func envBoth(f *fakeAdmin) (string, string) { return f.URL, "env-token" }

func TestClusterVerbs(t *testing.T) {
	view := map[string]any{"name": "blue", "group": "adhoc", "state": "active", "weight": 7}
	tests := []struct {
		name     string
		args     []string
		route    string
		reply    any
		wantURI  string
		wantBody string // JSON; "" for no body
		wantOut  string
	}{
		{"add", []string{"cluster", "add", "red", "--group", "adhoc", "--coordinator", "http://10.0.0.2:8080", "--coordinator", "http://10.0.0.4:8080",
			"--standby", "http://10.0.0.3:8080", "--weight", "50", "--inactive"},
			"POST /api/v1/clusters", map[string]any{"name": "red", "group": "adhoc", "state": "inactive"}, "/api/v1/clusters",
			`{"name":"red","group":"adhoc","weight":50,"state":"inactive","coordinators":[
				{"url":"http://10.0.0.2:8080","role":"active"},{"url":"http://10.0.0.4:8080","role":"active"},{"url":"http://10.0.0.3:8080","role":"standby"}]}`,
			"cluster red added to group adhoc (inactive)\n"},
		{"add with flags before the name", []string{"cluster", "add", "--group", "adhoc", "--coordinator", "http://10.0.0.2:8080", "red"},
			"POST /api/v1/clusters", map[string]any{"name": "red", "group": "adhoc", "state": "active"}, "/api/v1/clusters",
			`{"name":"red","group":"adhoc","weight":100,"coordinators":[{"url":"http://10.0.0.2:8080","role":"active"}]}`,
			"cluster red added to group adhoc (active)\n"},
		{"remove", []string{"cluster", "remove", "blue"}, "DELETE /api/v1/clusters/blue", map[string]any{}, "/api/v1/clusters/blue", "", "cluster blue removed\n"},
		{"remove --force", []string{"cluster", "remove", "--force", "blue"}, "DELETE /api/v1/clusters/blue", map[string]any{}, "/api/v1/clusters/blue?force=true", "", "cluster blue removed\n"},
		{"activate", []string{"cluster", "activate", "blue"}, "POST /api/v1/clusters/blue/activate", view, "/api/v1/clusters/blue/activate", "", "cluster blue is active\n"},
		{"deactivate", []string{"cluster", "deactivate", "blue"}, "POST /api/v1/clusters/blue/deactivate",
			map[string]any{"name": "blue", "state": "inactive"}, "/api/v1/clusters/blue/deactivate", "", "cluster blue is inactive\n"},
		{"a name that needs escaping", []string{"cluster", "activate", "blue/1"}, "POST /api/v1/clusters/blue/1/activate", view, "/api/v1/clusters/blue%2F1/activate", "", "cluster blue is active\n"},
		{"weight", []string{"cluster", "weight", "blue", "7"}, "PUT /api/v1/clusters/blue/weight", view, "/api/v1/clusters/blue/weight", `{"weight":7}`, "cluster blue weight 7\n"},
		{"drain", []string{"cluster", "drain", "blue"}, "POST /api/v1/clusters/blue/drain", map[string]any{}, "/api/v1/clusters/blue/drain",
			`{"shutdownWorkers":false}`, "cluster blue is draining: no new queries\n"},
		{"drain with flags", []string{"cluster", "drain", "--timeout", "5m", "blue", "--shutdown-workers"}, "POST /api/v1/clusters/blue/drain", map[string]any{},
			"/api/v1/clusters/blue/drain", `{"shutdownWorkers":true,"timeout":"5m0s"}`, "cluster blue is draining: no new queries\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAdmin(t, routes(map[string][]any{tt.route: {tt.reply}}))
			useAdmin(t, f, "tok")
			out, _, err := runCLI(tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if out != tt.wantOut {
				t.Errorf("stdout %q, want %q", out, tt.wantOut)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1: %+v", len(reqs), reqs)
			}
			method, _, _ := strings.Cut(tt.route, " ")
			if reqs[0].Method != method || reqs[0].URI != tt.wantURI {
				t.Errorf("request %s %s, want %s %s", reqs[0].Method, reqs[0].URI, method, tt.wantURI)
			}
			var want any
			if tt.wantBody != "" {
				want = jsonOf(t, tt.wantBody)
			}
			if d := cmp.Diff(want, reqs[0].Body); d != "" {
				t.Errorf("request body (-want +got):\n%s", d)
			}
		})
	}
}

func TestClusterList(t *testing.T) {
	cs := []lifecycle.ClusterView{
		{Name: "blue", Group: "adhoc", State: fleet.Active, Health: "healthy", Weight: 100,
			Load: health.Load{Known: true, Running: 2, Queued: 1, ActiveWorkers: 3},
			Coordinators: []lifecycle.CoordinatorView{
				{Name: "0", URL: "http://10.0.0.1:8080", Role: "active", Primary: true, HealthIs: "healthy"},
				{Name: "1", URL: "http://10.0.0.2:8080", Role: "standby", HealthIs: "unhealthy"},
			}},
		{Name: "green", Group: "etl", State: fleet.Inactive, Health: "unknown", Weight: 0,
			Coordinators: []lifecycle.CoordinatorView{{Name: "0", URL: "http://10.0.1.1:8080", Role: "active", Primary: true, HealthIs: "unknown"}}},
	}
	f := newFakeAdmin(t, routes(map[string][]any{"GET /api/v1/clusters": {cs}}))
	useAdmin(t, f, "tok")

	out, _, err := runCLI("cluster", "list")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"NAME", "GROUP", "STATE", "HEALTH", "RUNNING", "QUEUED", "WORKERS", "WEIGHT", "COORDINATORS"},
		{"blue", "adhoc", "active", "healthy", "2", "1", "3", "100", "*0=http://10.0.0.1:8080(healthy)", "1=http://10.0.0.2:8080(unhealthy)"},
		{"green", "etl", "inactive", "unknown", "?", "?", "?", "0", "*0=http://10.0.1.1:8080(unknown)"},
	}
	var got [][]string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		got = append(got, strings.Fields(l))
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("cluster list (-want +got):\n%s\n%s", d, out)
	}

	out, _, err = runCLI("cluster", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var back []lifecycle.ClusterView
	if err := json.Unmarshal([]byte(out), &back); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	if d := cmp.Diff(cs, back); d != "" {
		t.Errorf("--json round trip (-sent +printed):\n%s", d)
	}
}

func TestAdminAPIErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		status   int
		body     any
		wantMsg  string
		wantText string // the whole error text
	}{
		{"JSON error", []string{"cluster", "add", "blue", "--group", "adhoc", "--coordinator", "http://10.0.0.2:8080"},
			http.StatusConflict, map[string]string{"error": "cluster blue already exists"},
			"cluster blue already exists", "admin API: cluster blue already exists (HTTP 409)"},
		{"text error", []string{"cluster", "list"}, http.StatusBadGateway, "upstream down\n", "upstream down", "admin API: upstream down (HTTP 502)"},
		{"refused token", []string{"policy", "decisions"}, http.StatusUnauthorized, map[string]string{"error": "missing or unknown bearer token"},
			"missing or unknown bearer token", "admin API: missing or unknown bearer token (HTTP 401)"},
		{"policy refused", []string{"bluegreen", "--group", "nope", "--to", "green"}, http.StatusBadRequest, map[string]string{"error": `unknown routing group "nope"`},
			`unknown routing group "nope"`, `admin API: unknown routing group "nope" (HTTP 400)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAdmin(t, func(string) (int, any) { return tt.status, tt.body })
			useAdmin(t, f, "tok")
			out, _, err := runCLI(tt.args...)
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("got %v, want an *APIError", err)
			}
			if apiErr.Status != tt.status || apiErr.Message != tt.wantMsg || err.Error() != tt.wantText {
				t.Errorf("got status %d message %q text %q, want %d %q %q", apiErr.Status, apiErr.Message, err.Error(), tt.status, tt.wantMsg, tt.wantText)
			}
			if errors.Is(err, ErrUsage) || ExitCode(err) != 1 {
				t.Errorf("exit code %d, want 1 (not a usage error)", ExitCode(err))
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
}

func TestAdminUnreachable(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	t.Setenv(envAdmin, closed.URL)
	_, _, err := runCLI("cluster", "list")
	if err == nil || !strings.Contains(err.Error(), "admin API at "+closed.URL) || ExitCode(err) != 1 {
		t.Fatalf("got %v (exit %d), want an error naming the admin address, exit 1", err, ExitCode(err))
	}
}

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

func TestClusterNameCompletion(t *testing.T) {
	cs := []lifecycle.ClusterView{{Name: "blue", Group: "adhoc", State: fleet.Draining}, {Name: "green", Group: "adhoc", State: fleet.Active}, {Name: "gray", Group: "etl", State: fleet.Inactive}}
	f := newFakeAdmin(t, routes(map[string][]any{"GET /api/v1/clusters": {cs}}))
	tests := []struct {
		args []string
		want string // the whole of stdout
		gets int
	}{
		{[]string{"cluster", "drain", ""}, "blue\tdraining in adhoc\ngreen\tactive in adhoc\ngray\tinactive in etl\n:4\n", 1},
		{[]string{"cluster", "activate", "g"}, "green\tactive in adhoc\ngray\tinactive in etl\n:4\n", 1},
		{[]string{"cluster", "weight", "gre"}, "green\tactive in adhoc\n:4\n", 1},
		{[]string{"cluster", "remove", "--force", "b"}, "blue\tdraining in adhoc\n:4\n", 1},
		{[]string{"cluster", "weight", "blue", ""}, ":4\n", 0}, // N is not a name
		{[]string{"cluster", "add", ""}, ":4\n", 0},            // a new name
		{[]string{"cluster", "list", ""}, ":4\n", 0},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			before := len(f.requests())
			useAdmin(t, f, "tok")
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

	t.Run("--admin and --token on the line", func(t *testing.T) {
		t.Setenv(envAdmin, "http://127.0.0.1:1")
		t.Setenv(envToken, "")
		out, _, err := runCLI("__complete", "cluster", "drain", "--admin", f.URL, "--token", "typed", "bl")
		if err != nil || out != "blue\tdraining in adhoc\n:4\n" {
			t.Errorf("got %q, %v", out, err)
		}
		if reqs := f.requests(); reqs[len(reqs)-1].Auth != "Bearer typed" {
			t.Errorf("Authorization %q, want the --token typed", reqs[len(reqs)-1].Auth)
		}
	})

	// When the admin API does not answer (down, refusing, an error), the
	// names are just not offered: no candidates, no message.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	failing := newFakeAdmin(t, func(string) (int, any) {
		return http.StatusUnauthorized, map[string]string{"error": "missing or unknown bearer token"}
	})
	notJSON := newFakeAdmin(t, func(string) (int, any) { return http.StatusOK, "<html>" })
	for name, addr := range map[string]string{"unreachable": closed.URL, "refused": failing.URL, "not JSON": notJSON.URL} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(envAdmin, addr)
			out, errOut, err := runCLI("__complete", "cluster", "drain", "")
			if err != nil || out != ":4\n" {
				t.Errorf("got %q, %v; want no candidates and no error", out, err)
			}
			// cobra's own trace of the directive is all that goes to stderr.
			if errOut != "Completion ended with directive: ShellCompDirectiveNoFileComp\n" {
				t.Errorf("stderr %q, want only cobra's directive trace", errOut)
			}
		})
	}
}
