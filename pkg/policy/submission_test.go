package policy

import (
	"context"
	"errors"
	"testing"
)

// A failure of the one evaluation is reported as the failing decision's:
// the routing decision stands when only the protection decision fails,
// and each error is the one Decide or Protect gives.
func TestDecideSubmissionReportsEachFailure(t *testing.T) {
	const routing = `package switchyard.routing
decision := {"allow": true, "routingGroup": "a"} if input.request.user != "conflict"
decision := {"allow": true} if input.request.user == "conflict"
decision := {"allow": false} if input.request.user == "conflict"
`
	const protection = `package switchyard.protection
decision := {"deny": false} if input.request.source != "conflict"
decision := {"deny": true} if input.request.source == "conflict"
decision := {"deny": false, "reason": "x"} if input.request.source == "conflict"
`
	c, err := Compile(context.Background(), bundle(map[string]string{"r.rego": routing, "p.rego": protection}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	sub, err := c.DecideSubmission(ctx, &Input{Request: RequestInfo{User: "alice", Source: "cli"}})
	if err != nil || sub.Routing.RoutingGroup != "a" || sub.Protection == nil || sub.Protection.Deny || sub.ProtectionErr != nil {
		t.Fatalf("%+v %v", sub, err)
	}

	in := &Input{Request: RequestInfo{User: "alice", Source: "conflict"}}
	sub, err = c.DecideSubmission(ctx, in)
	_, perr := c.Protect(ctx, in)
	if err != nil || sub.Routing.RoutingGroup != "a" || sub.Protection != nil || sub.ProtectionErr == nil ||
		!errors.Is(sub.ProtectionErr, ErrPolicy) || sub.ProtectionErr.Error() != perr.Error() {
		t.Fatalf("%+v %v (Protect: %v)", sub, err, perr)
	}

	in = &Input{Request: RequestInfo{User: "conflict", Source: "cli"}}
	sub, err = c.DecideSubmission(ctx, in)
	_, derr := c.Decide(ctx, in)
	if sub != nil || err == nil || !errors.Is(err, ErrPolicy) || err.Error() != derr.Error() {
		t.Fatalf("%+v %v (Decide: %v)", sub, err, derr)
	}
}

// Without protection rules there is no protection decision.
func TestDecideSubmissionWithoutProtection(t *testing.T) {
	c, err := Compile(context.Background(), bundle(map[string]string{"r.rego": "package switchyard.routing\ndecision := {\"allow\": true}\n"}))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := c.DecideSubmission(context.Background(), &Input{})
	if err != nil || !sub.Routing.Allow || sub.Protection != nil || sub.ProtectionErr != nil {
		t.Fatalf("%+v %v", sub, err)
	}
}
