package admin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/lifecycle"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

const (
	adminToken  = "admin-token-0123456789"
	viewerToken = "viewer-token-0123456789"
	// operatorToken operates the fleet (states, drains, weights, blue/green,
	// the queue) but does not define it.
	operatorToken = "operator-token-0123456789"
)

type allHealthy struct{}

func (allHealthy) State(string) health.State { return health.Healthy }
func (allHealthy) Status(string) (health.Status, bool) {
	return health.Status{State: health.Healthy, Load: health.Load{Known: true, Running: 1, ActiveWorkers: 1}}, true
}

func newAPI(t *testing.T, tokens []config.Token) http.Handler {
	t.Helper()
	return newAPIWithPolicy(t, tokens, nil)
}

// newAPIWithPolicy is newAPI serving the policy API of p (nil: none).
func newAPIWithPolicy(t *testing.T, tokens []config.Token, p Policy) http.Handler {
	t.Helper()
	cfg := config.Defaults()
	cfg.Routing.DefaultGroup = "adhoc"
	cfg.Groups = []config.Group{{Name: "adhoc", Strategy: config.StrategyRoundRobin}}
	blue := config.Cluster{Name: "blue", Group: "adhoc", Coordinators: []config.Coordinator{{URL: "http://10.0.0.1:8080"}}}
	blue.ApplyDefaults()
	cfg.Clusters = []config.Cluster{blue}
	m := lifecycle.New(lifecycle.Options{Config: &cfg, Store: store.NewMemory().Documents, Health: allHealthy{}})
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return Handler(Options{Gatherer: prometheus.NewRegistry(), Ready: func(*http.Request) error { return nil }, Fleet: m, Tokens: tokens, Policy: p})
}

var tokens = []config.Token{
	{Name: "ops", TokenHash: config.HashToken(adminToken), Role: config.RoleAdmin},
	{Name: "oncall", TokenHash: config.HashToken(operatorToken), Role: config.RoleOperator},
	{Name: "dash", TokenHash: config.HashToken(viewerToken), Role: config.RoleViewer},
}

func call(t *testing.T, h http.Handler, method, path, token, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	if ct := rec.Header().Get("Content-Type"); rec.Code != 200 || len(b) > 0 {
		if len(b) > 0 && !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s %s: content-type %q for %s", method, path, ct, b)
		}
	}
	return rec.Code, string(b)
}

func TestAuth(t *testing.T) {
	h := newAPI(t, tokens)
	tests := []struct {
		name, method, path, token string
		status                    int
		want                      string
	}{
		{"no token read", "GET", "/api/v1/clusters", "", 401, "missing or unknown bearer token"},
		{"bad token", "GET", "/api/v1/clusters", "nope-nope-nope-nope", 401, "missing or unknown bearer token"},
		{"viewer reads", "GET", "/api/v1/clusters", viewerToken, 200, `"name":"blue"`},
		{"viewer cannot write", "POST", "/api/v1/clusters/blue/deactivate", viewerToken, 403, "token dash has the viewer role; this needs the operator role"},
		{"no anonymous write", "POST", "/api/v1/clusters/blue/deactivate", "", 401, "bearer token"},
		{"admin writes", "POST", "/api/v1/clusters/blue/deactivate", adminToken, 200, `"state":"inactive"`},
		{"tg compat needs a token", "GET", "/gateway/backend/all", "", 401, "bearer token"},
		{"health stays open", "GET", "/healthz", "", 200, "ok"},
		{"whoami", "GET", "/api/v1/whoami", operatorToken, 200, `{"name":"oncall","role":"operator"}`},
		{"whoami needs a token", "GET", "/api/v1/whoami", "", 401, "bearer token"},
		{"no alertmanager", "GET", "/api/v1/alerts", viewerToken, 200, `"configured":false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := call(t, h, tt.method, tt.path, tt.token, "")
			if code != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("%d %s, want %d containing %q", code, body, tt.status, tt.want)
			}
		})
	}
}

func TestNoTokensConfigured(t *testing.T) {
	h := newAPI(t, nil)
	code, body := call(t, h, "GET", "/api/v1/clusters", "anything-at-all-123", "")
	if code != 401 || !strings.Contains(body, "no tokens are configured") {
		t.Fatalf("%d %s", code, body)
	}
}

func TestValidationErrors(t *testing.T) {
	h := newAPI(t, tokens)
	tests := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"unknown field", "POST", "/api/v1/clusters", `{"name":"red","group":"adhoc","coordinators":[{"url":"http://10.0.0.2:8080"}],"colour":"red"}`, 400, `unknown field "colour"`},
		{"bad json", "POST", "/api/v1/clusters", `{`, 400, "bad JSON body"},
		{"bad url", "POST", "/api/v1/clusters", `{"name":"red","group":"adhoc","coordinators":[{"url":"red"}]}`, 400, "cluster.coordinators[0].url"},
		{"unknown group", "POST", "/api/v1/clusters", `{"name":"red","group":"etl","coordinators":[{"url":"http://10.0.0.2:8080"}]}`, 400, `cluster.group: names unknown group "etl"`},
		{"duplicate", "POST", "/api/v1/clusters", `{"name":"blue","group":"adhoc","coordinators":[{"url":"http://10.0.0.2:8080"}]}`, 409, "already exists"},
		{"unknown cluster", "POST", "/api/v1/clusters/nope/drain", ``, 404, "no cluster nope"},
		{"bad duration", "POST", "/api/v1/clusters/blue/drain", `{"timeout":"soon"}`, 400, "bad JSON body"},
		{"weight missing", "PUT", "/api/v1/clusters/blue/weight", `{}`, 400, "weight: required"},
		{"remove active", "DELETE", "/api/v1/clusters/blue", ``, 409, "drain or deactivate it before removing it"},
		{"bluegreen unknown group", "POST", "/api/v1/bluegreen", `{"group":"nope","to":["blue"]}`, 400, `unknown routing group "nope"`},
		{"no such endpoint", "GET", "/api/v1/nothing", ``, 404, "no such endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := call(t, h, tt.method, tt.path, adminToken, tt.body)
			var v struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &v); err != nil || v.Error == "" {
				t.Fatalf("not a JSON error: %s", body)
			}
			if code != tt.status || !strings.Contains(v.Error, tt.want) {
				t.Fatalf("%d %q, want %d containing %q", code, v.Error, tt.status, tt.want)
			}
		})
	}
}

func TestClusterLifecycleThroughTheAPI(t *testing.T) {
	h := newAPI(t, tokens)
	steps := []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", "/api/v1/clusters", `{"name":"red","group":"adhoc","coordinators":[{"url":"http://10.0.0.2:8080"},{"url":"http://10.0.0.3:8080","role":"standby"}],"state":"inactive"}`, 201, `"state":"inactive"`},
		{"POST", "/api/v1/clusters/red/activate", ``, 200, `"state":"active"`},
		{"PUT", "/api/v1/clusters/red/weight", `{"weight":30}`, 200, `"weight":30`},
		{"POST", "/api/v1/clusters/red/drain", `{"timeout":"10m","shutdownWorkers":false}`, 202, `"state":"draining"`},
		{"GET", "/api/v1/clusters/red", ``, 200, `"role":"standby"`},
		{"PUT", "/api/v1/clusters/red", `{"group":"adhoc","coordinators":[{"url":"http://10.0.0.4:8080"}]}`, 200, `10.0.0.4`},
		{"DELETE", "/api/v1/clusters/red?force=true", ``, 200, `"removed":"red"`},
		{"GET", "/api/v1/groups", ``, 200, `"default":true`},
	}
	for _, s := range steps {
		code, body := call(t, h, s.method, s.path, adminToken, s.body)
		if code != s.status || !strings.Contains(body, s.want) {
			t.Fatalf("%s %s: %d %s, want %d containing %q", s.method, s.path, code, body, s.status, s.want)
		}
	}
}

func TestTrinoGatewayCompatibility(t *testing.T) {
	h := newAPI(t, tokens)
	steps := []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "/gateway/backend/all", ``, 200, `[{"name":"blue","proxyTo":"http://10.0.0.1:8080","active":true,"routingGroup":"adhoc","externalUrl":"http://10.0.0.1:8080"}]`},
		{"POST", "/gateway/backend/modify/add", `{"name":"trino-2","proxyTo":"http://10.0.0.2:8080","active":false,"routingGroup":"adhoc","externalUrl":"http://10.0.0.2:8080"}`, 200, `"name":"trino-2"`},
		{"GET", "/gateway/backend/active", ``, 200, `[{"name":"blue"`},
		{"POST", "/gateway/backend/activate/trino-2", ``, 200, ``},
		{"GET", "/api/public/backends/trino-2", ``, 200, `"active":true`},
		{"POST", "/gateway/backend/deactivate/blue", ``, 200, ``},
		{"GET", "/api/public/backends", ``, 200, `"name":"blue","proxyTo":"http://10.0.0.1:8080","active":false`},
		{"POST", "/gateway/backend/modify/update", `{"name":"trino-2","proxyTo":"http://10.0.0.5:8080","active":true,"routingGroup":"adhoc","externalUrl":""}`, 200, `10.0.0.5`},
		{"GET", "/api/public/backends/trino-2/state", ``, 200, `"trinoStatus":"HEALTHY"`},
		{"POST", "/gateway/backend/modify/delete", `trino-2`, 200, ``},
		{"GET", "/api/public/backends/trino-2", ``, 404, `no cluster trino-2`},
	}
	for _, s := range steps {
		code, body := call(t, h, s.method, s.path, adminToken, s.body)
		if code != s.status || !strings.Contains(body, s.want) {
			t.Fatalf("%s %s: %d %s, want %d containing %q", s.method, s.path, code, body, s.status, s.want)
		}
	}
}
