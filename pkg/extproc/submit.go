package extproc

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/switchyard-gw/switchyard/pkg/cost"
	"github.com/switchyard-gw/switchyard/pkg/extrouter"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/sqlclass"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// requestInfo is the part of a submission's headers that policy reads.
type requestInfo struct {
	source, clientInfo, catalog, schema, txn, remote string
	clientTags                                       []string
	session                                          map[string]string
	trinoHeaders                                     map[string]string // X-Trino-* (for the external router)
}

func (r *requestInfo) header(k, v string) {
	if strings.HasPrefix(k, "x-trino-") {
		if r.trinoHeaders == nil {
			r.trinoHeaders = map[string]string{}
		}
		r.trinoHeaders[k] = v
	}
	switch k {
	case trino.HeaderSource:
		r.source = v
	case trino.HeaderClientInfo:
		r.clientInfo = v
	case trino.HeaderCatalog:
		r.catalog = v
	case trino.HeaderSchema:
		r.schema = v
	case trino.HeaderTransactionID:
		r.txn = strings.TrimSpace(v)
	case trino.HeaderClientTags:
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				r.clientTags = append(r.clientTags, t)
			}
		}
	case trino.HeaderSession:
		for _, kv := range strings.Split(v, ",") {
			name, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || name == "" {
				continue
			}
			if u, err := url.QueryUnescape(val); err == nil {
				val = u
			}
			if r.session == nil {
				r.session = map[string]string{}
			}
			r.session[name] = val
		}
	case "x-forwarded-for": // Envoy appended the peer's address last
		parts := strings.Split(v, ",")
		r.remote = strings.TrimSpace(parts[len(parts)-1])
	}
}

// inTransaction reports whether the statement belongs to an open
// transaction, which only the coordinator that started it knows.
func (r *requestInfo) inTransaction() bool { return r.txn != "" && !strings.EqualFold(r.txn, "NONE") }

// decideSubmission runs the policy and the balancing and answers the
// request headers with the decision (or a rejection).
func (p *processor) decideSubmission(ctx context.Context) *extprocv3.ProcessingResponse {
	start := time.Now()
	p.entry = &policy.LogEntry{ID: p.id, Time: start.UTC(), User: p.user, Source: p.req.source, Allow: true}
	defer p.recordDecision(start)

	req := routing.Request{Group: p.group, User: p.user, GroupFrom: "X-Trino-Routing-Group"}
	var extra map[string]string
	eng := p.s.o.Policy
	usePolicy := eng != nil && eng.Current() != nil
	var cls sqlclass.Result
	if usePolicy || p.s.o.ExtRouter != nil {
		cls = sqlclass.Classify(string(p.sql), sqlclass.Options{Catalog: p.req.catalog, Schema: p.req.schema})
		p.entry.Type, p.entry.Tables = cls.Type, cls.Tables
	}
	var ext *policy.ExternalInfo
	if p.s.o.ExtRouter != nil {
		ext = p.askExternalRouter(ctx, &cls)
		if len(ext.Errors) > 0 && p.s.o.ExtRouterFailClosed {
			return p.reject(trino.ErrGatewayUnavailable, "the external routing service failed, so the query is refused: "+strings.Join(ext.Errors, "; "), "")
		}
		if len(ext.Errors) == 0 {
			extra = ext.Headers
			if !usePolicy && ext.RoutingGroup != "" {
				req.Group, req.GroupFrom = ext.RoutingGroup, "external routing service"
			}
		}
	}
	if usePolicy {
		in := p.policyInput(eng, &cls)
		in.External = ext
		if est := p.s.o.Cost; est != nil && cost.Estimable(cls.Type) {
			e, err := est.Estimate(ctx, string(p.sql), p.user, p.req.catalog, p.req.schema)
			if err != nil {
				p.entry.Explanation = append(p.entry.Explanation, "no cost estimate: "+err.Error())
			} else {
				in.Query.Cost = e
				if b, ok := e["inputBytes"].(float64); ok {
					p.entry.Explanation = append(p.entry.Explanation, fmt.Sprintf("cost estimate: reads %.0f bytes", b))
				}
			}
		}
		d, err := eng.Decide(ctx, in)
		if err != nil {
			p.entry.Allow = false
			return p.reject(trino.ErrPolicyError, "the routing policy failed, so the query is refused: "+err.Error(), "")
		}
		p.entry.Policy, p.entry.Reason, p.entry.Explanation, p.entry.Allow = d.Policy, d.Reason, d.Explanation, d.Allow
		if !d.Allow {
			reason := d.Reason
			if reason == "" {
				reason = "denied by the routing policy"
			}
			return p.reject(trino.ErrPolicyDenied, reason, "")
		}
		if d.RoutingGroup != "" && d.RoutingGroup != req.Group {
			req.Group, req.GroupFrom = d.RoutingGroup, "policy"
		}
		req.Cluster, req.Eligible = d.Cluster, d.Clusters
		extra = mergeHeaders(extra, d.Headers)
	}
	mut := &extprocv3.HeaderMutation{RemoveHeaders: []string{"accept-encoding"}}
	for k, v := range extra {
		if allowedPolicyHeader(k) {
			mut.SetHeaders = append(mut.SetHeaders, setHeader(strings.ToLower(k), v))
		}
	}

	// A statement of an open transaction goes where the transaction lives,
	// whatever the routing group.
	if p.req.inTransaction() {
		return p.routeTransaction(ctx, mut)
	}

	d, err := p.s.o.Router.Route(req)
	if err != nil {
		var re *routing.Error
		if errors.As(err, &re) {
			return p.reject(re.Code, re.Message, "")
		}
		return p.reject(trino.ErrGatewayInternal, err.Error(), "")
	}
	p.decision = d
	target := d.Cluster
	if d.Weighted {
		target = xds.WeightedRouteValue(d.Group)
	}
	p.entry.Group, p.entry.Cluster = d.Group, target
	if !p.dry {
		p.s.o.Metrics.Routed.WithLabelValues(d.Group, orWeighted(d.Cluster)).Inc()
	}
	p.finishMetrics("routed")
	mut.SetHeaders = append(mut.SetHeaders, setHeader(xds.RouteHeader, target))
	return continueHeaders(mut)
}

// askExternalRouter calls the external routing service; a failure is
// reported in Errors (and logged), never returned.
func (p *processor) askExternalRouter(ctx context.Context, cls *sqlclass.Result) *policy.ExternalInfo {
	r, err := p.s.o.ExtRouter.Route(ctx, &extrouter.Request{
		User: p.user, Source: p.req.source, Catalog: p.req.catalog, Schema: p.req.schema, RoutingGroup: p.group,
		RemoteAddress: p.req.remote, ClientTags: p.req.clientTags, SQL: string(p.sql), QueryType: cls.Type,
		Tables: cls.Tables, Headers: p.req.trinoHeaders,
	})
	if err != nil {
		p.s.o.Metrics.ExtRouterErrors.Inc()
		if !p.dry {
			p.log().Warn("external routing service failed; routing without it", "error", err)
		}
		return &policy.ExternalInfo{Errors: []string{err.Error()}}
	}
	if len(r.Errors) > 0 && !p.dry {
		p.log().Warn("external routing service answered with errors; its answer is ignored", "errors", r.Errors)
	}
	info := &policy.ExternalInfo{RoutingGroup: r.RoutingGroup, Headers: r.Headers, Errors: r.Errors}
	p.entry.Explanation = append(p.entry.Explanation, "external routing service: group "+orNone(r.RoutingGroup))
	return info
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// mergeHeaders overlays b on a (policy headers win over the external
// service's).
func mergeHeaders(a, b map[string]string) map[string]string {
	if len(a) == 0 {
		return b
	}
	out := map[string]string{}
	for k, v := range a {
		out[strings.ToLower(k)] = v
	}
	for k, v := range b {
		out[strings.ToLower(k)] = v
	}
	return out
}

func orWeighted(c string) string {
	if c == "" {
		return "(by weight)"
	}
	return c
}

// routeTransaction pins a statement to the coordinator of its transaction.
func (p *processor) routeTransaction(ctx context.Context, mut *extprocv3.HeaderMutation) *extprocv3.ProcessingResponse {
	r, err := p.s.lookupTransaction(ctx, p.req.txn)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return p.reject(trino.ErrUnknownTransaction, "transaction "+p.req.txn+" is not known to the gateway: it was not started through it, or it ended", "")
		}
		return p.reject(trino.ErrGatewayInternal, "the gateway cannot look up transaction "+p.req.txn+" right now (shared store unavailable)", "")
	}
	c, ok := p.s.o.Router.Fleet().Cluster(r.Cluster)
	if !ok {
		return p.reject(trino.ErrUnknownTransaction, "transaction "+p.req.txn+" lives on cluster "+r.Cluster+", which is no longer in the fleet", "")
	}
	target := c.Name
	if _, ok := c.Coordinator(r.Coordinator); ok {
		target = fleet.Key(c.Name, r.Coordinator)
	}
	p.decision = routing.Decision{Group: c.Group, Cluster: c.Name}
	p.entry.Group, p.entry.Cluster = c.Group, target
	p.entry.Explanation = append(p.entry.Explanation, "statement of transaction "+p.req.txn+": pinned to "+target)
	p.finishMetrics("routed")
	mut.SetHeaders = append(mut.SetHeaders, setHeader(xds.RouteHeader, target))
	return continueHeaders(mut)
}

// allowedPolicyHeader keeps policy from touching headers the gateway or
// the protocol own.
func allowedPolicyHeader(k string) bool {
	k = strings.ToLower(k)
	switch {
	case k == "" || strings.HasPrefix(k, ":"), k == "host", k == "content-length", k == "transfer-encoding",
		k == "connection", k == "x-trino-user", k == "x-trino-transaction-id",
		strings.HasPrefix(k, "x-switchyard"), strings.HasPrefix(k, "x-forwarded-"), strings.HasPrefix(k, "x-envoy-"):
		return false
	}
	return true
}

func (p *processor) recordDecision(start time.Time) {
	e := p.entry
	e.Micros = time.Since(start).Microseconds()
	if p.dry {
		return
	}
	if l := p.s.o.Decisions; l != nil {
		l.Add(e)
	}
	args := []any{"decision", e.ID, "user", e.User, "source", e.Source, "type", e.Type, "allow", e.Allow,
		"group", e.Group, "cluster", e.Cluster, "micros", e.Micros}
	if e.Reason != "" {
		args = append(args, "reason", e.Reason)
	}
	if len(e.Explanation) > 0 {
		args = append(args, "explanation", strings.Join(e.Explanation, "; "))
	}
	if e.Error != "" {
		args = append(args, "error", e.Error)
	}
	p.s.o.Logger.Info("routing decision", args...)
}

// policyInput builds what the policy sees.
func (p *processor) policyInput(eng *policy.Engine, cls *sqlclass.Result) *policy.Input {
	tables := eng.Current().Tables
	info := map[string]any{}
	for _, t := range cls.Tables {
		if m, ok := tables[t]; ok {
			info[t] = m
		}
	}
	fi, fv := p.s.fleetInfo()
	return &policy.Input{
		Request: policy.RequestInfo{
			User: p.user, Source: p.req.source, ClientTags: p.req.clientTags, ClientInfo: p.req.clientInfo,
			Catalog: p.req.catalog, Schema: p.req.schema, Session: p.req.session, RoutingGroup: p.group,
			TransactionID: p.req.txn, RemoteAddress: p.req.remote, Method: p.method, Path: p.path,
		},
		Query: policy.QueryInfo{
			Type: cls.Type, Tables: cls.Tables, TableInfo: info, CrossJoin: cls.CrossJoin, HasWhere: cls.HasWhere,
			HasLimit: cls.HasLimit, Explain: cls.Explain, InnerType: cls.Inner, Unresolved: cls.Unresolved, Length: len(p.sql),
		},
		Fleet:      fi,
		FleetValue: fv,
		Time:       time.Now(),
	}
}
