package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/lifecycle"
)

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
