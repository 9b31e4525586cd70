package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/lifecycle"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/querystats"
	"github.com/switchyard-gw/switchyard/pkg/sqlclass"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

func TestProtectionEndpoints(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory().Protection
	fp := sqlclass.Fingerprint("SELECT * FROM big CROSS JOIN bigger")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.RecordIncident(ctx, store.Incident{Fingerprint: fp, QueryID: "q1", User: "bob", Kind: store.IncidentFailure, Reason: "EXCEEDED_LOCAL_MEMORY_LIMIT: too much"}, time.Hour, 10))
	must(st.AddAction(ctx, store.Action{QueryID: "q1", User: "bob", Action: "kill", Rule: "runaway-cpu", Reason: "used 4000 s of CPU"}, 100))
	must(st.SetThrottle(ctx, store.Throttle{User: "bob", MaxRunning: 1, Reason: "runaway", Until: time.Now().Add(time.Hour)}))
	cfg := config.Defaults()
	cfg.Routing.DefaultGroup = "adhoc"
	cfg.Groups = []config.Group{{Name: "adhoc", Strategy: config.StrategyRoundRobin}}
	m := lifecycle.New(lifecycle.Options{Config: &cfg, Store: store.NewMemory().Documents, Health: allHealthy{}})
	must(m.Load(ctx))
	var dry []string
	h := Handler(Options{Gatherer: prometheus.NewRegistry(), Ready: func(*http.Request) error { return nil }, Tokens: tokens,
		Fleet: m, Protection: &Protection{Store: st, Watchdog: func(_ context.Context, cluster, group string, q querystats.Stats) (*policy.WatchdogDecision, error) {
			dry = append(dry, cluster+"/"+q.QueryID)
			if q.QueryID == "bad" {
				return nil, errors.New("the policy in use has no watchdog rules")
			}
			return &policy.WatchdogDecision{Actions: []policy.WatchdogAction{{Action: "kill", Rule: "r", Reason: "too much CPU"}}}, nil
		}}})
	for _, tt := range []struct {
		method, path, token, body string
		status                    int
		want                      string
	}{
		{"GET", "/api/v1/protection/actions", viewerToken, "", 200, `"rule":"runaway-cpu"`},
		{"GET", "/api/v1/protection/actions?limit=0", viewerToken, "", 400, "must be a number from 1 to 10000"},
		{"GET", "/api/v1/protection/actions", "", "", 401, ""},
		{"GET", "/api/v1/protection/queries/q1", viewerToken, "", 200, `"action":"kill"`},
		{"GET", "/api/v1/protection/queries/nothing", viewerToken, "", 200, `[]`},
		{"GET", "/api/v1/protection/queries/Bad%20ID", viewerToken, "", 400, "is not a Trino query ID"},
		{"POST", "/api/v1/protection/fingerprint", viewerToken, `{"sql": "select * from BIG cross join bigger"}`, 200, `"fingerprint":"` + fp + `"`},
		{"POST", "/api/v1/protection/fingerprint", viewerToken, `{"sql": ""}`, 400, "sql: the statement is required"},
		{"POST", "/api/v1/protection/fingerprint", viewerToken, `{"sql": "x", "other": 1}`, 400, "other"},
		{"GET", "/api/v1/protection/fingerprints/" + fp, viewerToken, "", 200, "EXCEEDED_LOCAL_MEMORY_LIMIT"},
		{"GET", "/api/v1/protection/fingerprints/xyz", viewerToken, "", 400, "is not a query fingerprint"},
		{"DELETE", "/api/v1/protection/fingerprints/" + fp, viewerToken, "", 403, ""},
		{"DELETE", "/api/v1/protection/fingerprints/" + fp, operatorToken, "", 200, `"released":"` + fp + `"`},
		{"DELETE", "/api/v1/protection/fingerprints/" + fp, operatorToken, "", 404, "nothing is remembered"},
		{"GET", "/api/v1/protection/throttles", viewerToken, "", 200, `"user":"bob"`},
		{"DELETE", "/api/v1/protection/throttles/bob", viewerToken, "", 403, ""},
		{"DELETE", "/api/v1/protection/throttles/bob", operatorToken, "", 200, `"unthrottled":"bob"`},
		{"DELETE", "/api/v1/protection/throttles/bob", operatorToken, "", 404, "is not throttled"},
		{"GET", "/api/v1/protection/throttles", viewerToken, "", 200, `[]`},
		{"POST", "/api/v1/protection/watchdog/dry-run", viewerToken, `{"cluster": "a", "query": {"queryId": "q9", "cpuSeconds": 5000}}`, 200, `"reason":"too much CPU"`},
		{"POST", "/api/v1/protection/watchdog/dry-run", viewerToken, `{"cluster": "a", "query": {"queryId": "bad"}}`, 422, "no watchdog rules"},
		{"POST", "/api/v1/protection/watchdog/dry-run", viewerToken, `{"cluster": 5}`, 400, ""},
	} {
		code, body := call(t, h, tt.method, tt.path, tt.token, tt.body)
		if code != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("%s %s: %d %s, want %d with %q", tt.method, tt.path, code, body, tt.status, tt.want)
		}
	}
	if strings.Join(dry, ",") != "a/q9,a/bad" {
		t.Errorf("dry runs: %q", dry)
	}
}
