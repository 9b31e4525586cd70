package admission

import (
	"context"
	"fmt"
	"strings"

	"github.com/switchyard-gw/switchyard/pkg/cost"
	"github.com/switchyard-gw/switchyard/pkg/extrouter"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/sqlclass"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// classify reads the SQL (statement type, tables, joins) when a later
// stage needs it: the policy or the external routing service.
type classify struct{ p *Pipeline }

func (classify) Name() string { return "classify" }

func (st classify) Admit(_ context.Context, s *Submission) (Outcome, bool) {
	if s.policy == nil && st.p.o.ExtRouter == nil {
		return Outcome{}, false
	}
	s.Class = sqlclass.Classify(s.SQL(), sqlclass.Options{Catalog: s.Req.Session.Catalog, Schema: s.Req.Session.Schema})
	s.Entry.Type, s.Entry.Tables = s.Class.Type, s.Class.Tables
	return Outcome{}, false
}

// externalRouter asks the external routing service. Its answer feeds the
// policy; without a policy its routing group is taken. A failure is
// reported to the policy and routed around, or (fail closed) refuses the
// query.
type externalRouter struct{ p *Pipeline }

func (externalRouter) Name() string { return "external-router" }

func (st externalRouter) Admit(ctx context.Context, s *Submission) (Outcome, bool) {
	if st.p.o.ExtRouter == nil {
		return Outcome{}, false
	}
	s.External = st.ask(ctx, s)
	if len(s.External.Errors) > 0 {
		if st.p.o.ExtRouterFailClosed {
			o := reject(trino.ErrGatewayUnavailable, "the external routing service failed, so the query is refused: "+strings.Join(s.External.Errors, "; "), "")
			return o, true
		}
		return Outcome{}, false
	}
	s.Headers = s.External.Headers
	if s.policy == nil && s.External.RoutingGroup != "" {
		s.Route.Group, s.Route.GroupFrom = s.External.RoutingGroup, "external routing service"
	}
	return Outcome{}, false
}

// ask calls the service; a failure is reported in Errors (and logged),
// never returned.
func (st externalRouter) ask(ctx context.Context, s *Submission) *policy.ExternalInfo {
	ss := &s.Req.Session
	r, err := st.p.o.ExtRouter.Route(ctx, &extrouter.Request{
		User: ss.User, Source: ss.Source, Catalog: ss.Catalog, Schema: ss.Schema, RoutingGroup: ss.RoutingGroup,
		RemoteAddress: ss.RemoteAddress, ClientTags: ss.ClientTags, SQL: s.SQL(), QueryType: s.Class.Type,
		Tables: s.Class.Tables, Headers: ss.TrinoHeaders,
	})
	if err != nil {
		if !s.Dry {
			st.p.o.Metrics.ExtRouterErrors.Inc()
			st.p.o.Degraded.Fail("external-router", "the external routing service fails; submissions are routed without it (or refused, with failClosed)", "request", s.Req.ID(), "error", err)
		}
		return &policy.ExternalInfo{Errors: []string{err.Error()}}
	}
	if !s.Dry {
		st.p.o.Degraded.Recover("external-router", "the external routing service answers again")
	}
	if len(r.Errors) > 0 && !s.Dry {
		st.p.log(s.Req).Warn("external routing service answered with errors; its answer is ignored", "errors", r.Errors)
	}
	s.Entry.Explanation = append(s.Entry.Explanation, "external routing service: group "+orNone(r.RoutingGroup))
	return &policy.ExternalInfo{RoutingGroup: r.RoutingGroup, Headers: r.Headers, Errors: r.Errors}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// costEstimate asks a designated cluster for EXPLAIN (TYPE IO) estimates
// for the policy to read (input.query.cost). A failed or slow estimate is
// noted and the query is routed without one.
type costEstimate struct{ p *Pipeline }

func (costEstimate) Name() string { return "cost" }

func (st costEstimate) Admit(ctx context.Context, s *Submission) (Outcome, bool) {
	est := st.p.o.Cost
	if est == nil || s.policy == nil || !cost.Estimable(s.Class.Type) {
		return Outcome{}, false
	}
	sql := s.SQL()
	if s.Class.Type != sqlclass.TypeSelect {
		// A write is never EXPLAINed: EXPLAIN of CREATE TABLE AS creates
		// the table on some connectors (Trino 476's memory connector).
		// Its query part is estimated instead.
		if s.Class.QueryEnd <= s.Class.QueryStart || s.Class.QueryEnd > len(sql) {
			return Outcome{}, false
		}
		sql = sql[s.Class.QueryStart:s.Class.QueryEnd]
	}
	ss := &s.Req.Session
	e, err := est.Estimate(ctx, sql, ss.User, ss.Catalog, ss.Schema)
	if err != nil {
		s.Entry.Explanation = append(s.Entry.Explanation, "no cost estimate: "+err.Error())
		return Outcome{}, false
	}
	s.Cost = e
	if b, ok := e["inputBytes"].(float64); ok {
		s.Entry.Explanation = append(s.Entry.Explanation, fmt.Sprintf("cost estimate: reads %.0f bytes", b))
	}
	return Outcome{}, false
}
