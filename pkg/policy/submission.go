package policy

import (
	"context"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Submission is what the policies decided about one query submission.
type Submission struct {
	Routing *Decision
	// Protection is the protection decision over the same input (nil when
	// the policy has no protection rules); ProtectionErr is its failure,
	// which leaves the routing decision standing.
	Protection    *ProtectionDecision
	ProtectionErr error
}

// DecideSubmission evaluates the routing decision and, when the policy
// has protection rules, the protection decision, over the same input. An
// error is the routing decision's. Both come from one evaluation: OPA's
// setup of an evaluation is about a fifth of what the shipped policies
// cost together (BenchmarkSubmissionPolicies). When that evaluation fails,
// each decision is evaluated on its own, so that a failure is reported
// as the failing decision's, as Decide and Protect report it.
func (c *Compiled) DecideSubmission(ctx context.Context, in *Input) (*Submission, error) {
	if c.submission == nil {
		d, err := c.Decide(ctx, in)
		if err != nil {
			return nil, err
		}
		return &Submission{Routing: d}, nil
	}
	var objs [2]ast.Object
	if err := c.evalObjects(ctx, *c.submission, []string{RoutingQuery, ProtectionQuery}, rego.EvalParsedInput(in.astValue(in.FleetValue)), objs[:]); err == nil {
		d, derr := c.decision(objs[0])
		p, perr := c.protectionDecision(objs[1])
		if derr == nil && perr == nil {
			return &Submission{Routing: d, Protection: p}, nil
		}
	}
	d, err := c.Decide(ctx, in)
	if err != nil {
		return nil, err
	}
	p, perr := c.Protect(ctx, in)
	return &Submission{Routing: d, Protection: p, ProtectionErr: perr}, nil
}
