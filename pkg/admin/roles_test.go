package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/doctor"
	"github.com/switchyard-gw/switchyard/pkg/lifecycle"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/workload"
)

// noGovernance answers every governance call with an error: the role
// test looks only at who gets past the door.
type noGovernance struct{}

var errNoGovernance = errors.New("no governance in this test")

func (noGovernance) Usage(context.Context) (*workload.Usage, error)           { return nil, errNoGovernance }
func (noGovernance) Queue(context.Context) ([]workload.QueueItem, error)      { return nil, errNoGovernance }
func (noGovernance) AdjustUsage(context.Context, store.UsageAdjustment) error { return errNoGovernance }
func (noGovernance) Finish(context.Context, string, store.EntryError) (store.QueueEntry, error) {
	return store.QueueEntry{}, errNoGovernance
}
func (noGovernance) Recent(context.Context, int) ([]store.QueryRecord, error) {
	return nil, errNoGovernance
}

// endpointRoles is the table of docs/admin-api.md: every endpoint of the
// API and the least role that may call it.
var endpointRoles = []struct {
	method, path string
	need         Role
}{
	{"GET", "/api/v1/clusters", RoleViewer},
	{"GET", "/api/v1/clusters/blue", RoleViewer},
	{"GET", "/api/v1/groups", RoleViewer},
	{"GET", "/api/v1/policy", RoleViewer},
	{"POST", "/api/v1/policy/eval", RoleViewer},
	{"GET", "/api/v1/decisions", RoleViewer},
	{"GET", "/api/v1/governance", RoleViewer},
	{"GET", "/api/v1/governance/queue", RoleViewer},
	{"GET", "/api/v1/history", RoleViewer},
	{"GET", "/gateway/backend/all", RoleViewer},
	{"GET", "/gateway/backend/active", RoleViewer},
	{"GET", "/api/public/backends", RoleViewer},
	{"GET", "/api/public/backends/blue", RoleViewer},
	{"GET", "/api/public/backends/blue/state", RoleViewer},

	{"POST", "/api/v1/clusters/blue/activate", RoleOperator},
	{"POST", "/api/v1/clusters/blue/deactivate", RoleOperator},
	{"POST", "/api/v1/clusters/blue/drain", RoleOperator},
	{"PUT", "/api/v1/clusters/blue/weight", RoleOperator},
	{"POST", "/api/v1/bluegreen", RoleOperator},
	{"DELETE", "/api/v1/governance/queue/q1", RoleOperator},
	{"POST", "/gateway/backend/activate/blue", RoleOperator},
	{"POST", "/gateway/backend/deactivate/blue", RoleOperator},
	{"GET", "/api/v1/audit", RoleOperator},
	{"GET", "/api/v1/doctor", RoleOperator},

	{"POST", "/api/v1/clusters", RoleAdmin},
	{"PUT", "/api/v1/clusters/blue", RoleAdmin},
	{"DELETE", "/api/v1/clusters/blue", RoleAdmin},
	{"PUT", "/api/v1/policy", RoleAdmin},
	{"POST", "/api/v1/governance/usage", RoleAdmin},
	{"POST", "/gateway/backend/modify/add", RoleAdmin},
	{"POST", "/gateway/backend/modify/update", RoleAdmin},
	{"POST", "/gateway/backend/modify/delete", RoleAdmin},
}

// fullAPI serves every part of the API (governance always failing) with
// the test tokens, its audit log in mem.
func fullAPI(t *testing.T, mem *store.Store) http.Handler {
	t.Helper()
	cfg := config.Defaults()
	cfg.Routing.DefaultGroup = "adhoc"
	cfg.Groups = []config.Group{{Name: "adhoc", Strategy: config.StrategyRoundRobin}}
	blue := config.Cluster{Name: "blue", Group: "adhoc", Coordinators: []config.Coordinator{{URL: "http://127.0.0.1:1"}}}
	blue.ApplyDefaults()
	cfg.Clusters = []config.Cluster{blue}
	m := lifecycle.New(lifecycle.Options{Config: &cfg, Store: mem.Documents, Health: allHealthy{}})
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return Handler(Options{Gatherer: prometheus.NewRegistry(), Ready: func(*http.Request) error { return nil }, Fleet: m, Tokens: tokens,
		Policy: &fakePolicy{eng: policy.NewEngine(nil, nil)}, Governance: noGovernance{}, Audit: mem.Audit, Replica: "r1",
		Doctor: func(context.Context, string) (doctor.Report, error) { return doctor.Report{}, nil }})
}

// TestRoles calls every endpoint with every role: below the endpoint's
// role the answer is 401 (no token) or 403 naming both roles; at or
// above it the request gets past authorization. Every change a token
// holder tried, refused ones included, is in the audit log with its
// holder, role and status; a caller without a valid token is not.
func TestRoles(t *testing.T) {
	mem := store.NewMemory()
	h := fullAPI(t, mem)

	callers := []struct {
		name, token string
		role        Role
	}{{"anonymous", "", RoleNone}, {"dash", viewerToken, RoleViewer}, {"oncall", operatorToken, RoleOperator}, {"ops", adminToken, RoleAdmin}}
	changes := 0
	for _, e := range endpointRoles {
		for _, c := range callers {
			t.Run(fmt.Sprintf("%s %s as %s", e.method, e.path, c.name), func(t *testing.T) {
				// An empty JSON body: a write gets past authorization and
				// fails validation (400) rather than changing the fleet.
				req := httptest.NewRequest(e.method, e.path, strings.NewReader("{}"))
				if c.token != "" {
					req.Header.Set("Authorization", "Bearer "+c.token)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				body := rec.Body.String()
				switch {
				case c.role == RoleNone:
					if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" {
						t.Errorf("%d %s, want 401 with WWW-Authenticate", rec.Code, body)
					}
				case c.role < e.need:
					want := fmt.Sprintf("token %s has the %s role; this needs the %s role", c.name, c.role, e.need)
					if rec.Code != http.StatusForbidden || !strings.Contains(body, want) {
						t.Errorf("%d %s, want 403 saying %q", rec.Code, body, want)
					}
				default:
					if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden || rec.Code == http.StatusNotFound && strings.Contains(body, "no such endpoint") {
						t.Errorf("%d %s: the %s role must get past authorization", rec.Code, body, c.role)
					}
				}
				// Every attempted change by a token holder is audited, a
				// refused one (403) included.
				if c.role != RoleNone && e.need > RoleViewer && e.path != "/api/v1/audit" {
					changes++
					got, err := mem.Audit.Recent(context.Background(), 1)
					if err != nil || len(got) != 1 {
						t.Fatalf("audit log: %v %v", got, err)
					}
					a := got[0]
					if a.Who != c.name || a.Role != c.role.String() || a.Method != e.method || a.Path != e.path || a.Status != rec.Code || a.Replica != "r1" {
						t.Errorf("audit entry %+v, want %s (%s) %s %s answered %d", a, c.name, c.role, e.method, e.path, rec.Code)
					}
				}
			})
		}
	}
	all, err := mem.Audit.Recent(context.Background(), 10000)
	if err != nil || len(all) != changes {
		t.Errorf("audit log holds %d entries, want one per change a token holder tried (%d): %v", len(all), changes, err)
	}
	for _, a := range all {
		if strings.Contains(fmt.Sprint(a), "token-0123456789") {
			t.Errorf("an audit entry holds a token: %+v", a)
		}
	}
}

// TestAuditAPI serves the log to operators, newest first, bounded by
// limit, and refuses a bad limit.
func TestAuditAPI(t *testing.T) {
	mem := store.NewMemory()
	h := fullAPI(t, mem)
	for i := range 3 {
		if err := mem.Audit.Record(context.Background(), store.AuditEntry{Who: "ops", Path: fmt.Sprintf("/p%d", i), Status: 200}, 10); err != nil {
			t.Fatal(err)
		}
	}
	code, body := call(t, h, "GET", "/api/v1/audit?limit=2", operatorToken, "")
	if code != 200 || !strings.Contains(body, `"path":"/p2"`) || !strings.Contains(body, `"path":"/p1"`) || strings.Contains(body, `"/p0"`) {
		t.Errorf("%d %s, want the newest two", code, body)
	}
	for _, bad := range []string{"0", "-1", "x", "10001"} {
		if code, body := call(t, h, "GET", "/api/v1/audit?limit="+bad, operatorToken, ""); code != 400 || !strings.Contains(body, "limit must be a number from 1 to 10000") {
			t.Errorf("limit %s: %d %s", bad, code, body)
		}
	}
}
