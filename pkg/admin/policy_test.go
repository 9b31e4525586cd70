package admin

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/policy"
)

// fakePolicy serves the policy API from a real engine: Publish compiles
// and swaps (or fails as the store would, with storeErr), DryRun and
// Decisions record what they were asked.
type fakePolicy struct {
	eng      *policy.Engine
	storeErr error

	mu        sync.Mutex
	published int
	dryRuns   []admission.DryRunRequest
	limits    []int
}

func (f *fakePolicy) Current() *policy.Compiled { return f.eng.Current() }

func (f *fakePolicy) Publish(ctx context.Context, b *policy.Bundle) (*policy.Compiled, error) {
	f.mu.Lock()
	f.published++
	f.mu.Unlock()
	if f.storeErr != nil {
		return nil, f.storeErr
	}
	return f.eng.Replace(ctx, b)
}

func (f *fakePolicy) DryRun(_ context.Context, r admission.DryRunRequest) *admission.DryRunResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dryRuns = append(f.dryRuns, r)
	return &admission.DryRunResult{Route: "blue", Decision: policy.LogEntry{User: r.Headers["X-Trino-User"], Allow: true}}
}

func (f *fakePolicy) Decisions(n int) []policy.LogEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limits = append(f.limits, n)
	return []policy.LogEntry{{ID: "d1", User: "alice", Allow: true}}
}

const goodRule = `package switchyard.routing
import rego.v1
decision := {"allow": true, "routingGroup": "adhoc"}
`

// upload is a PUT /api/v1/policy body with the given files.
func upload(t *testing.T, files map[string]string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"files": files})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jsonError decodes an {"error": ...} body, failing the test if it is not one.
func jsonError(t *testing.T, body string) (string, []string) {
	t.Helper()
	var v struct {
		Error    string   `json:"error"`
		Problems []string `json:"problems"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Error == "" {
		t.Fatalf("not a JSON error: %s", body)
	}
	return v.Error, v.Problems
}

// The policy API refuses what it must, each time with a JSON error that
// says why, and never publishes what it refused.
func TestPolicyAPIRefusals(t *testing.T) {
	tests := []struct {
		name, method, path, token, body string
		storeErr                        error
		status                          int
		want                            string // in the error
		problem                         string // in one of the problems, if any
	}{
		{"no token reads", "GET", "/api/v1/policy", "", "", nil, 401, "missing or unknown bearer token", ""},
		{"no policy yet", "GET", "/api/v1/policy", viewerToken, "", nil, 404, "no policy is configured (policy.dir)", ""},
		{"viewer uploads", "PUT", "/api/v1/policy", viewerToken, upload(t, map[string]string{"r.rego": goodRule}), nil, 403,
			"token dash has the viewer role; this needs the admin role", ""},
		{"anonymous upload", "PUT", "/api/v1/policy", "", upload(t, map[string]string{"r.rego": goodRule}), nil, 401, "bearer token", ""},
		{"syntax error", "PUT", "/api/v1/policy", adminToken, upload(t, map[string]string{"r.rego": "package switchyard.routing\ndecision := {"}), nil, 422,
			"r.rego:2: rego_parse_error: unexpected eof token", "r.rego:2: rego_parse_error"},
		{"failing Rego test", "PUT", "/api/v1/policy", adminToken, upload(t, map[string]string{"r.rego": goodRule, "r_test.rego": "package switchyard.routing_test\nimport rego.v1\nimport data.switchyard.routing\ntest_group if routing.decision.routingGroup == \"etl\"\n"}), nil, 422,
			"policy refused: test switchyard.routing_test.test_group failed", "test switchyard.routing_test.test_group failed"},
		{"no decision rule", "PUT", "/api/v1/policy", adminToken, upload(t, map[string]string{"r.rego": "package switchyard.routing\nimport rego.v1\nx := 1\n"}), nil, 422,
			"no rule data.switchyard.routing.decision", "no rule data.switchyard.routing.decision"},
		{"no files", "PUT", "/api/v1/policy", adminToken, `{"files":{}}`, nil, 400, "files: at least one policy file is required", ""},
		// Over 8 MiB of files is over the bundle limit; a body past its own
		// limit is refused while reading.
		{"bundle too large", "PUT", "/api/v1/policy", adminToken, upload(t, map[string]string{"r.rego": goodRule, "data.json": bigData(9 << 20)}), nil, 413,
			"the policy exceeds 8388608 bytes", ""},
		{"body too large", "PUT", "/api/v1/policy", adminToken, `{"files":{"x":"` + strings.Repeat("a", 18<<20) + `"}}`, nil, 413,
			"the request body exceeds", ""},
		{"unknown field", "PUT", "/api/v1/policy", adminToken, `{"file":{"r.rego":"x"}}`, nil, 400, `unknown field "file"`, ""},
		{"not JSON", "PUT", "/api/v1/policy", adminToken, `package switchyard.routing`, nil, 400, "bad JSON body", ""},
		{"store down", "PUT", "/api/v1/policy", adminToken, upload(t, map[string]string{"r.rego": goodRule}), errors.New("storing the policy: redis: connection refused"), 503,
			"storing the policy: redis: connection refused", ""},
		{"eval unknown field", "POST", "/api/v1/policy/eval", viewerToken, `{"sql":"SELECT 1","user":"alice"}`, nil, 400, `unknown field "user"`, ""},
		{"eval not JSON", "POST", "/api/v1/policy/eval", viewerToken, `SELECT 1`, nil, 400, "bad JSON body", ""},
		{"eval anonymous", "POST", "/api/v1/policy/eval", "", `{"sql":"SELECT 1"}`, nil, 401, "bearer token", ""},
		{"decisions limit zero", "GET", "/api/v1/decisions?limit=0", viewerToken, "", nil, 400, `limit: a positive number, got "0"`, ""},
		{"decisions limit negative", "GET", "/api/v1/decisions?limit=-5", viewerToken, "", nil, 400, `limit: a positive number, got "-5"`, ""},
		{"decisions limit not a number", "GET", "/api/v1/decisions?limit=ten", viewerToken, "", nil, 400, `limit: a positive number, got "ten"`, ""},
		{"decisions limit fraction", "GET", "/api/v1/decisions?limit=1.5", viewerToken, "", nil, 400, `limit: a positive number, got "1.5"`, ""},
		{"decisions anonymous", "GET", "/api/v1/decisions", "", "", nil, 401, "bearer token", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakePolicy{eng: policy.NewEngine(nil, nil), storeErr: tt.storeErr}
			h := newAPIWithPolicy(t, tokens, p)
			code, body := call(t, h, tt.method, tt.path, tt.token, tt.body)
			msg, problems := jsonError(t, body)
			if code != tt.status || !strings.Contains(msg, tt.want) {
				t.Fatalf("%d %q, want %d containing %q", code, msg, tt.status, tt.want)
			}
			if tt.problem != "" && !strings.Contains(strings.Join(problems, "\n"), tt.problem) {
				t.Errorf("problems %q, want one containing %q", problems, tt.problem)
			}
			if p.Current() != nil {
				t.Errorf("policy %s in use after a refusal", p.Current().Version)
			}
			if wantPublish := tt.storeErr != nil || code == 422; (p.published > 0) != wantPublish {
				t.Errorf("published %d times, want %v", p.published, wantPublish)
			}
			if len(p.dryRuns) != 0 || len(p.limits) != 0 {
				t.Errorf("dry runs %v, decision reads %v after a refusal", p.dryRuns, p.limits)
			}
		})
	}
}

// An admin uploads a policy, a viewer reads it back, cannot replace it,
// dry-runs a query and reads the decision log.
func TestPolicyAPI(t *testing.T) {
	p := &fakePolicy{eng: policy.NewEngine(nil, nil)}
	h := newAPIWithPolicy(t, tokens, p)
	files := map[string]string{"routing.rego": goodRule, "data.json": `{"switchyard":{"settings":{}}}`}
	code, body := call(t, h, "PUT", "/api/v1/policy", adminToken, upload(t, files))
	var put PolicyInfo
	if err := json.Unmarshal([]byte(body), &put); code != 200 || err != nil {
		t.Fatalf("upload: %d %s", code, body)
	}
	want := (&policy.Bundle{Files: map[string][]byte{"routing.rego": []byte(goodRule), "data.json": []byte(files["data.json"])}}).Version()
	if put.Version != want || strings.Join(put.Files, ",") != "data.json,routing.rego" || put.Loaded.IsZero() {
		t.Fatalf("upload answered %+v, want version %s with both files", put, want)
	}

	code, body = call(t, h, "GET", "/api/v1/policy", viewerToken, "")
	var got PolicyInfo
	if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || got.Version != want {
		t.Fatalf("read back: %d %s, want version %s", code, body, want)
	}

	code, body = call(t, h, "PUT", "/api/v1/policy", viewerToken, upload(t, map[string]string{"r.rego": strings.Replace(goodRule, "adhoc", "etl", 1)}))
	if msg, _ := jsonError(t, body); code != 403 || !strings.Contains(msg, "viewer role") {
		t.Fatalf("viewer upload: %d %s", code, body)
	}
	if p.Current().Version != want || p.published != 1 {
		t.Fatalf("after the viewer's upload: policy %s, %d publishes; want %s, 1", p.Current().Version, p.published, want)
	}

	code, body = call(t, h, "POST", "/api/v1/policy/eval", viewerToken, `{"sql":"SELECT 1","headers":{"X-Trino-User":"alice"}}`)
	var res admission.DryRunResult
	if err := json.Unmarshal([]byte(body), &res); code != 200 || err != nil || res.Route != "blue" || res.Decision.User != "alice" {
		t.Fatalf("dry run: %d %s", code, body)
	}
	if len(p.dryRuns) != 1 || p.dryRuns[0].SQL != "SELECT 1" || p.dryRuns[0].Headers["X-Trino-User"] != "alice" {
		t.Fatalf("the dry run was asked %+v", p.dryRuns)
	}

	for _, tc := range []struct {
		query string
		limit int
	}{{"", 100}, {"?limit=5", 5}, {"?limit=100000", 100000}} {
		code, body = call(t, h, "GET", "/api/v1/decisions"+tc.query, viewerToken, "")
		var entries []policy.LogEntry
		if err := json.Unmarshal([]byte(body), &entries); code != 200 || err != nil || len(entries) != 1 || entries[0].ID != "d1" {
			t.Fatalf("decisions%s: %d %s", tc.query, code, body)
		}
		if last := p.limits[len(p.limits)-1]; last != tc.limit {
			t.Errorf("decisions%s asked the log for %d, want %d", tc.query, last, tc.limit)
		}
	}
}

// bigData is a JSON data document of about n bytes.
func bigData(n int) string {
	return `{"switchyard":{"filler":"` + strings.Repeat("x", n) + `"}}`
}

// A policy larger than the API's usual 1 MiB body limit (big data
// documents) is accepted up to the bundle limit.
func TestLargePolicyUpload(t *testing.T) {
	p := &fakePolicy{eng: policy.NewEngine(nil, nil)}
	h := newAPIWithPolicy(t, tokens, p)
	code, body := call(t, h, "PUT", "/api/v1/policy", adminToken, upload(t, map[string]string{"r.rego": goodRule, "data.json": bigData(2 << 20)}))
	if code != 200 || p.Current() == nil {
		t.Fatalf("%d %.200s", code, body)
	}
}
