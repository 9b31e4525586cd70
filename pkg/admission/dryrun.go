package admission

import (
	"context"
	"strings"

	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/sqlclass"
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

// DryRun decides a submission exactly as a real one is decided (every
// stage: policy, transaction pinning, balancing), without logging or
// counting the decision or routing anything.
func (p *Pipeline) DryRun(ctx context.Context, r DryRunRequest) *DryRunResult {
	req := &Request{Method: "POST", Path: "/v1/statement", Scheme: "http", Authority: "dry-run", Body: []byte(r.SQL), id: "dry-run"}
	for k, v := range r.Headers {
		req.Session.SetHeader(strings.ToLower(k), v)
	}
	s := &Submission{Req: req, Dry: true}
	out := p.Submit(ctx, s)
	res := &DryRunResult{
		Classification: sqlclass.Classify(r.SQL, sqlclass.Options{Catalog: req.Session.Catalog, Schema: req.Session.Schema}),
		Decision:       *s.Entry,
	}
	if out.Action == Route {
		res.Route = s.Entry.Cluster
	}
	return res
}
