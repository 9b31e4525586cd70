package extproc

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

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
}

func (r *requestInfo) header(k, v string) {
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
	if eng := p.s.o.Policy; eng != nil && eng.Current() != nil {
		cls := sqlclass.Classify(string(p.sql), sqlclass.Options{Catalog: p.req.catalog, Schema: p.req.schema})
		p.entry.Type, p.entry.Tables = cls.Type, cls.Tables
		d, err := eng.Decide(ctx, p.policyInput(eng, &cls))
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
		req.Cluster, req.Eligible, extra = d.Cluster, d.Clusters, d.Headers
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
