package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/switchyard-gw/switchyard/pkg/governance"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// The query protection rules, both optional in a bundle.
const (
	// ProtectionQuery decides a submission before it runs, over the same
	// input as the routing policy (with the protection findings).
	ProtectionQuery = "data.switchyard.protection.decision"
	// WatchdogQuery decides what to do about a running query, over its
	// statistics (pkg/querystats).
	WatchdogQuery = "data.switchyard.watchdog.decision"
)

// ProtectionDecision is what the protection policy decided about a
// submission. The zero value lets it through untouched.
type ProtectionDecision struct {
	// Deny refuses the query with Reason (the client prints it).
	Deny   bool
	Reason string
	// RoutingGroup isolates the query in another group.
	RoutingGroup string
	// Caps are session properties to cap (property → limit: run time,
	// CPU time, scanned bytes, memory; governance.CappableProperties).
	Caps map[string]string
	// DryRun: report what the decision would do, and do none of it.
	DryRun bool
	// Rules names the rules that fired; Explanation says why.
	Rules       []string
	Explanation []string
	Policy      string
}

// Acts reports whether the decision changes anything.
func (d *ProtectionDecision) Acts() bool {
	return d.Deny || d.RoutingGroup != "" || len(d.Caps) > 0
}

// HasProtection reports whether the policy defines the protection rule.
func (c *Compiled) HasProtection() bool { return c.protection != nil }

// HasWatchdog reports whether the policy defines the watchdog rule.
func (c *Compiled) HasWatchdog() bool { return c.watchdog != nil }

// Protect evaluates data.switchyard.protection.decision (nil when the
// policy has none).
func (c *Compiled) Protect(ctx context.Context, in *Input) (*ProtectionDecision, error) {
	if c.protection == nil {
		return nil, nil
	}
	obj, err := c.evalObject(ctx, *c.protection, ProtectionQuery, rego.EvalParsedInput(in.astValue(in.FleetValue)))
	if err != nil {
		return nil, err
	}
	return c.protectionDecision(obj)
}

// protectionDecision reads the protection decision's fields.
func (c *Compiled) protectionDecision(obj ast.Object) (*ProtectionDecision, error) {
	d := &ProtectionDecision{Policy: c.Version}
	var err error
	if d.Deny, err = boolField(obj, "deny", false); err != nil {
		return nil, err
	}
	if d.DryRun, err = boolField(obj, "dryRun", false); err != nil {
		return nil, err
	}
	if d.Reason, err = stringField(obj, "reason"); err != nil {
		return nil, err
	}
	if d.RoutingGroup, err = stringField(obj, "routingGroup"); err != nil {
		return nil, err
	}
	if d.Rules, err = stringsField(obj, "rules"); err != nil {
		return nil, err
	}
	if d.Explanation, err = stringsField(obj, "explanation"); err != nil {
		return nil, err
	}
	if d.Caps, err = headersField(obj, "caps"); err != nil {
		return nil, err
	}
	for p, v := range d.Caps {
		if err := governance.ValidateCap(p, v); err != nil {
			return nil, fmt.Errorf("%w: decision.caps[%s]: %v", ErrPolicy, p, err)
		}
	}
	if d.Deny && d.Reason == "" {
		d.Reason = "refused by the query protection policy"
	}
	return d, nil
}

// Watchdog actions.
const (
	ActionKill       = "kill"
	ActionThrottle   = "throttle"
	ActionQuarantine = "quarantine"
	ActionWarn       = "warn"
)

// WatchdogAction is one thing the watchdog policy wants done about a
// running query.
type WatchdogAction struct {
	Action string `json:"action"` // kill, throttle, quarantine, warn
	Rule   string `json:"rule,omitempty"`
	// Reason is what the user (a kill) or the operator reads.
	Reason string `json:"reason"`
	// For is how long a throttle or quarantine lasts.
	For time.Duration `json:"-"`
	// MaxRunning is the user's running-query limit while throttled.
	MaxRunning int `json:"maxRunning,omitempty"`
}

// MarshalJSON writes For as a duration ("10m0s").
func (a WatchdogAction) MarshalJSON() ([]byte, error) {
	type plain WatchdogAction
	out := struct {
		plain
		For string `json:"for,omitempty"`
	}{plain: plain(a)}
	if a.For > 0 {
		out.For = a.For.String()
	}
	return json.Marshal(out)
}

// WatchdogDecision is what the watchdog policy decided about one running
// query.
type WatchdogDecision struct {
	Actions []WatchdogAction `json:"actions"`
	// ReportOnly: log and record the actions, do none of them.
	ReportOnly bool   `json:"reportOnly"`
	Policy     string `json:"policy"`
}

// Watch evaluates data.switchyard.watchdog.decision over input (the
// query's statistics and the cluster); nil when the policy has none.
func (c *Compiled) Watch(ctx context.Context, input map[string]any) (*WatchdogDecision, error) {
	if c.watchdog == nil {
		return nil, nil
	}
	obj, err := c.evalObject(ctx, *c.watchdog, WatchdogQuery, rego.EvalInput(input))
	if err != nil {
		return nil, err
	}
	d := &WatchdogDecision{Policy: c.Version}
	if d.ReportOnly, err = boolField(obj, "reportOnly", false); err != nil {
		return nil, err
	}
	var terms []*ast.Term
	switch v := field(obj, "actions").(type) {
	case nil:
	case *ast.Array:
		v.Foreach(func(t *ast.Term) { terms = append(terms, t) })
	case ast.Set:
		terms = v.Slice()
	default:
		return nil, fmt.Errorf("%w: decision.actions must be an array of objects", ErrPolicy)
	}
	for i, t := range terms {
		o, ok := t.Value.(ast.Object)
		if !ok {
			return nil, fmt.Errorf("%w: decision.actions[%d] must be an object", ErrPolicy, i)
		}
		a, err := watchdogAction(o)
		if err != nil {
			return nil, fmt.Errorf("%w: decision.actions[%d]: %v", ErrPolicy, i, err)
		}
		d.Actions = append(d.Actions, a)
	}
	return d, nil
}

func watchdogAction(o ast.Object) (WatchdogAction, error) {
	var a WatchdogAction
	var err error
	if a.Action, err = stringField(o, "action"); err != nil {
		return a, err
	}
	switch a.Action {
	case ActionKill, ActionThrottle, ActionQuarantine, ActionWarn:
	default:
		return a, fmt.Errorf("action %q is not one of kill, throttle, quarantine, warn", a.Action)
	}
	if a.Rule, err = stringField(o, "rule"); err != nil {
		return a, err
	}
	if a.Reason, err = stringField(o, "reason"); err != nil {
		return a, err
	}
	if a.Reason == "" {
		return a, fmt.Errorf("%s without a reason (the user or the operator reads it)", a.Action)
	}
	d, err := stringField(o, "for")
	if err != nil {
		return a, err
	}
	if d != "" {
		if a.For, err = trino.ParseDuration(d); err != nil {
			return a, fmt.Errorf("for: %v", err)
		}
	}
	if (a.Action == ActionThrottle || a.Action == ActionQuarantine) && a.For <= 0 {
		return a, fmt.Errorf("%s needs a positive \"for\" (how long it lasts)", a.Action)
	}
	if v := field(o, "maxRunning"); v != nil {
		n, ok := v.(ast.Number)
		m, isInt := n.Int()
		if !ok || !isInt || m < 0 {
			return a, fmt.Errorf("maxRunning must be a whole number >= 0")
		}
		a.MaxRunning = m
	}
	return a, nil
}
