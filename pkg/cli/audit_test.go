package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

func TestAudit(t *testing.T) {
	at := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	f := newFakeAdmin(t, routes(map[string][]any{
		"GET /api/v1/audit": {map[string]any{"entries": []store.AuditEntry{
			{Time: at, Who: "oncall", Role: "operator", Method: "POST", Path: "/api/v1/clusters/blue/drain", Status: 202, Remote: "10.0.0.7:51000", Replica: "cp-1"},
			{Time: at.Add(-time.Minute), Who: "dash", Role: "viewer", Method: "PUT", Path: "/api/v1/policy", Status: 403, Remote: "10.0.0.8:40000"},
		}}},
	}))
	useAdmin(t, f, "env-token")
	out, errOut, err := runCLI("audit", "--limit", "2")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	want := "TIME                  WHO     ROLE      REQUEST                           STATUS  FROM            REPLICA\n" +
		fmtTime(at) + "  oncall  operator  POST /api/v1/clusters/blue/drain  202     10.0.0.7:51000  cp-1\n" +
		fmtTime(at.Add(-time.Minute)) + "  dash    viewer    PUT /api/v1/policy                403     10.0.0.8:40000  -\n"
	if d := cmp.Diff(want, out); d != "" {
		t.Errorf("table (-want +got):\n%s", d)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].URI != "/api/v1/audit?limit=2" || reqs[0].Auth != "Bearer env-token" {
		t.Errorf("requests %+v", reqs)
	}
	if _, _, err := runCLI("audit", "--limit", "0"); err == nil || !strings.Contains(err.Error(), "--limit 0 must be from 1 to 10000") {
		t.Errorf("--limit 0: %v", err)
	}
}
