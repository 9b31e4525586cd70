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
