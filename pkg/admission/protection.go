package admission

import (
	"context"
	"slices"
	"strings"

	"github.com/switchyard-gw/switchyard/pkg/governance"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/protection"
	"github.com/switchyard-gw/switchyard/pkg/sqlclass"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// Findings are query protection's input about one submission.
type Findings struct {
	// TableInfo is input.query.tableInfo (nil: the policy's own table
	// data, as without query protection).
	TableInfo map[string]any
	// Fingerprint is the statement's shape (sqlclass.Fingerprint).
	Fingerprint string
	// Incidents are the fingerprint's earlier incidents, newest first.
	Incidents []policy.Incident
}

// findings gathers query protection's input: what the metadata sources
// know of the tables, the statement's fingerprint and, when the policy has
// protection rules, the fingerprint's incidents.
type findings struct{ p *Pipeline }

func (findings) Name() string { return "findings" }

func (st findings) Admit(ctx context.Context, s *Submission) (Outcome, bool) {
	g := st.p.o.Protection
	if g == nil || s.policy == nil {
		return Outcome{}, false
	}
	f := &s.Findings
	f.TableInfo = g.TableInfo(ctx, s.Class.Tables, s.policy.Tables)
	if s.policy.HasProtection() {
		f.Fingerprint = sqlclass.Fingerprint(s.SQL())
		f.Incidents = g.Incidents(ctx, f.Fingerprint)
	}
	for _, x := range protection.Findings(&s.Class) {
		s.Entry.Explanation = append(s.Entry.Explanation, "finding: "+x)
	}
	return Outcome{}, false
}

// protect evaluates the protection policy after the routing policy: it
// may refuse the query (with a reason the client prints), isolate it in
// another routing group, or cap it with session properties. A dry-run
// decision only reports. A policy that fails refuses the query.
type protect struct{ p *Pipeline }

func (protect) Name() string { return "protection" }

func (st protect) Admit(ctx context.Context, s *Submission) (Outcome, bool) {
	// The policy stage evaluated the protection decision with the routing
	// decision (s.protection is set whenever it decided).
	sub := s.protection
	if s.policy == nil || !s.policy.HasProtection() || sub == nil {
		return Outcome{}, false
	}
	d, err := sub.Protection, sub.ProtectionErr
	if err != nil {
		s.Entry.Allow = false
		return reject(trino.ErrPolicyError, "the query protection policy failed, so the query is refused: "+err.Error(), ""), true
	}
	for _, x := range d.Explanation {
		s.Entry.Explanation = append(s.Entry.Explanation, "protection: "+x)
	}
	if !d.Acts() {
		return Outcome{}, false
	}
	rule := strings.Join(d.Rules, ",")
	act := func(action, reason string) {
		if s.Dry {
			return
		}
		if g := st.p.o.Protection; g != nil {
			g.Record(store.Action{Fingerprint: s.Findings.Fingerprint, User: s.Req.Session.User, Action: action,
				Rule: rule, Reason: reason, ReportOnly: d.DryRun})
		}
	}
	if d.DryRun {
		if d.Deny {
			act("deny", d.Reason)
			s.Entry.Explanation = append(s.Entry.Explanation, "protection (dry run) would refuse: "+d.Reason)
		}
		if d.RoutingGroup != "" {
			act("route", "to "+d.RoutingGroup)
			s.Entry.Explanation = append(s.Entry.Explanation, "protection (dry run) would route to "+d.RoutingGroup)
		}
		if len(d.Caps) > 0 {
			act("caps", capList(d.Caps))
			s.Entry.Explanation = append(s.Entry.Explanation, "protection (dry run) would cap "+capList(d.Caps))
		}
		return Outcome{}, false
	}
	if d.Deny {
		act("deny", d.Reason)
		s.Entry.Allow, s.Entry.Reason = false, d.Reason
		return reject(trino.ErrQueryRefused, d.Reason, ""), true
	}
	if d.RoutingGroup != "" && d.RoutingGroup != s.Route.Group {
		act("route", "to "+d.RoutingGroup)
		s.Route.Group, s.Route.GroupFrom = d.RoutingGroup, "query protection"
		s.Entry.Explanation = append(s.Entry.Explanation, "protection: routed to "+d.RoutingGroup)
	}
	if len(d.Caps) > 0 {
		capped := governance.ApplyCaps(s.sessionProperties(), d.Caps)
		if len(capped.Changed) > 0 {
			act("caps", strings.Join(capped.Changed, ", "))
			s.setHeader(trino.HeaderSession, governance.SessionHeader(capped.Properties))
			s.Entry.Explanation = append(s.Entry.Explanation, "protection: session caps "+strings.Join(capped.Changed, ", "))
		}
	}
	return Outcome{}, false
}

func capList(caps map[string]string) string {
	var parts []string
	for k, v := range caps {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// blocks converts the classifier's blocks for the policy input.
func blocks(bs []sqlclass.Block) []policy.Block {
	if len(bs) == 0 {
		return nil
	}
	out := make([]policy.Block, len(bs))
	for i, b := range bs {
		out[i] = policy.Block{Tables: b.Tables, Inputs: b.Inputs, Where: b.Where, Limit: b.Limit, CrossJoin: b.CrossJoin}
	}
	return out
}
