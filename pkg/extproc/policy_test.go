package extproc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

const testPolicy = `package switchyard.routing
import rego.v1
default allow := true
allow := false if input.request.user == "mallory"
default group := ""
group := "etl" if input.request.source == "airflow"
group := "nope" if input.request.source == "typo"
decision := {
	"allow": allow,
	"reason": "mallory may not query",
	"routingGroup": group,
	"headers": {"X-Trino-Client-Tags": "policy", "X-Switchyard-Route": "dead", "X-Trino-User": "root"},
	"explanation": [sprintf("type %s tables %v", [input.query.type, input.query.tables])],
} if input.request.user != "crash"
decision := {"allow": "maybe"} if input.request.user == "crash"
`

func withPolicy(t *testing.T, st store.Queries) *harness {
	t.Helper()
	c, err := policy.Compile(context.Background(), &policy.Bundle{Files: map[string][]byte{"p.rego": []byte(testPolicy)}})
	if err != nil {
		t.Fatal(err)
	}
	return newHarness(st, func(o *admission.Options) {
		o.Policy = policy.NewEngine(c, nil)
		o.Decisions = policy.NewDecisionLog(10)
		o.Health = fakeHealth{"a/0": 1, "b/0": 1, "dead/0": 2}
		o.TransactionWait = 50 * time.Millisecond
	})
}

func TestPolicyRoutesAndAddsHeaders(t *testing.T) {
	h := withPolicy(t, nil)
	// etl's only cluster is down (fakeHealth "dead/0": unhealthy), so the
	// group the policy chose is reported, not silently replaced.
	rs := submit(t, h.open(t), []string{"x-trino-source", "airflow"}, "SELECT 1")
	rj := rejected(t, rs[0])
	if rj.doc.Error.ErrorName != "NO_CLUSTER_AVAILABLE" || !strings.Contains(rj.doc.Error.Message, "group etl") {
		t.Fatalf("%+v", rj.doc.Error)
	}
	rs = submit(t, h.open(t), []string{"x-trino-catalog", "tpch", "x-trino-schema", "tiny"}, "SELECT * FROM nation")
	c, _ := routeHeader(rs[0])
	if c != "a" && c != "b" {
		t.Fatalf("route %q", c)
	}
	got := map[string]string{}
	for _, hv := range rs[0].GetRequestHeaders().GetResponse().GetHeaderMutation().GetSetHeaders() {
		got[hv.GetHeader().GetKey()] = string(hv.GetHeader().GetRawValue())
	}
	if got["x-trino-client-tags"] != "policy" || got[xds.RouteHeader] != c || got["x-trino-user"] != "" {
		t.Fatalf("headers %v: the policy's tag must be set, gateway and identity headers must not", got)
	}
	d := h.opts.Decisions.Recent(1)[0]
	if d.Type != "SELECT" || len(d.Tables) != 1 || d.Tables[0] != "tpch.tiny.nation" || d.Cluster != c || !d.Allow ||
		d.Explanation[0] != `type SELECT tables ["tpch.tiny.nation"]` {
		t.Fatalf("decision log %+v", d)
	}
}

func TestPolicyDenyAndErrors(t *testing.T) {
	tests := []struct {
		user, source, errorName, message string
	}{
		{"mallory", "", "POLICY_DENIED", "mallory may not query"},
		{"crash", "", "POLICY_ERROR", "decision.allow must be a boolean"},
		{"alice", "typo", "UNKNOWN_ROUTING_GROUP", `unknown routing group "nope" (policy)`},
	}
	for _, tt := range tests {
		t.Run(tt.errorName, func(t *testing.T) {
			h := withPolicy(t, nil)
			f := h.open(t)
			f.exchangeN(t, headers("POST", "/v1/statement", false, "x-trino-source", tt.source, "x-trino-user", tt.user), 0)
			rj := rejected(t, f.exchange(t, chunk("SELECT 1", true)))
			if rj.status != 200 || rj.doc.Error.ErrorName != tt.errorName || !strings.Contains(rj.doc.Error.Message, tt.message) {
				t.Fatalf("%d %+v", rj.status, rj.doc.Error)
			}
			if d := h.opts.Decisions.Recent(1)[0]; !strings.Contains(d.Error, tt.errorName) {
				t.Fatalf("decision log %+v", d)
			}
		})
	}
}

func TestTransactionStatementsArePinned(t *testing.T) {
	st := store.NewMemory().Queries
	h := withPolicy(t, st)
	if err := st.PutTransaction(context.Background(), "tx-1", store.QueryRoute{Cluster: "b", Coordinator: "0"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	// Whatever the policy's group (etl here), the statement goes to b/0.
	rs := submit(t, h.open(t), []string{"x-trino-transaction-id", "tx-1", "x-trino-source", "airflow"}, "INSERT INTO t VALUES 1")
	if c, _ := routeHeader(rs[0]); c != "b/0" {
		t.Fatalf("route %q", c)
	}
	rs = submit(t, h.open(t), []string{"x-trino-transaction-id", "tx-unknown"}, "COMMIT")
	rj := rejected(t, rs[0])
	if rj.doc.Error.ErrorName != "UNKNOWN_TRANSACTION" {
		t.Fatalf("%+v", rj.doc.Error)
	}
	// NONE means no transaction.
	rs = submit(t, h.open(t), []string{"x-trino-transaction-id", "NONE"}, "SELECT 1")
	if c, _ := routeHeader(rs[0]); c != "a" && c != "b" {
		t.Fatalf("route %q", c)
	}
}

func TestDryRun(t *testing.T) {
	h := withPolicy(t, nil)
	r := h.pipe.DryRun(context.Background(), admission.DryRunRequest{SQL: "SELECT * FROM tpch.tiny.nation", Headers: map[string]string{"X-Trino-User": "alice"}})
	if r.Route != "a" && r.Route != "b" || r.Classification.Type != "SELECT" || r.Decision.Error != "" {
		t.Fatalf("%+v", r)
	}
	r = h.pipe.DryRun(context.Background(), admission.DryRunRequest{SQL: "SELECT 1", Headers: map[string]string{"X-Trino-User": "mallory"}})
	if r.Route != "" || !strings.Contains(r.Decision.Error, "POLICY_DENIED") {
		t.Fatalf("%+v", r)
	}
	if len(h.opts.Decisions.Recent(10)) != 0 {
		t.Fatal("a dry run was recorded as a decision")
	}
}
