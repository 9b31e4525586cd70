package extproc

import (
	"context"
	"strings"

	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/sqlclass"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// DryRunRequest is a submission to decide without sending it anywhere.
type DryRunRequest struct {
	SQL     string            `json:"sql"`
	Headers map[string]string `json:"headers"` // X-Trino-User, X-Trino-Source, ... (case-insensitive)
}

// DryRunResult is what the gateway would do with it.
type DryRunResult struct {
	Classification sqlclass.Result `json:"classification"`
	Decision       policy.LogEntry `json:"decision"`
	// Route is the route Envoy would take (a cluster, "cluster/coordinator"
	// for a transaction, or "group:G" for Envoy's weighted choice); empty
	// when the query would be refused (see Decision.Error).
	Route string `json:"route,omitempty"`
}

// DryRun decides a submission exactly as a real one would be decided
// (policy, transaction pinning, balancing), without logging the decision
// or routing anything.
func (s *Server) DryRun(ctx context.Context, r DryRunRequest) *DryRunResult {
	p := &processor{s: s, kind: trino.PathSubmit, method: "POST", path: "/v1/statement", scheme: "http", authority: "dry-run", id: "dry-run", dry: true}
	for k, v := range r.Headers {
		k = strings.ToLower(k)
		switch k {
		case trino.HeaderRoutingGroup:
			p.group = strings.TrimSpace(v)
		case trino.HeaderUser:
			p.user = v
		default:
			p.req.header(k, v)
		}
	}
	p.sql = []byte(r.SQL)
	resp := p.decideSubmission(ctx)
	out := &DryRunResult{
		Classification: sqlclass.Classify(r.SQL, sqlclass.Options{Catalog: p.req.catalog, Schema: p.req.schema}),
		Decision:       *p.entry,
	}
	if resp.GetImmediateResponse() == nil {
		out.Route = p.entry.Cluster
	}
	return out
}
