package admission

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// routingPolicy evaluates data.switchyard.routing.decision: it may refuse
// the query, choose its routing group, pin or restrict its clusters, and
// add headers for the coordinator. A policy that fails refuses the query.
// The protection decision is evaluated with it, over the same input, and
// acted on by the protection stage.
type routingPolicy struct{ p *Pipeline }

func (routingPolicy) Name() string { return "policy" }

func (st routingPolicy) Admit(ctx context.Context, s *Submission) (Outcome, bool) {
	if s.policy == nil {
		return Outcome{}, false
	}
	sub, err := s.policy.DecideSubmission(ctx, st.input(s))
	if err != nil {
		s.Entry.Allow = false
		o := reject(trino.ErrPolicyError, "the routing policy failed, so the query is refused: "+err.Error(), "")
		return o, true
	}
	s.protection = sub
	d := sub.Routing
	e := s.Entry
	e.Policy, e.Reason, e.Allow = d.Policy, d.Reason, d.Allow
	e.Explanation = append(e.Explanation, d.Explanation...)
	if !d.Allow {
		reason := d.Reason
		if reason == "" {
			reason = "denied by the routing policy"
		}
		o := reject(trino.ErrPolicyDenied, reason, "")
		return o, true
	}
	if d.RoutingGroup != "" && d.RoutingGroup != s.Route.Group {
		s.Route.Group, s.Route.GroupFrom = d.RoutingGroup, "policy"
	}
	s.Route.Cluster, s.Route.Eligible = d.Cluster, d.Clusters
	s.Headers = mergeHeaders(s.Headers, d.Headers)
	s.workloadClass = d.Class
	return Outcome{}, false
}

// input builds what the policy sees (once per submission: the
// protection policy reads the same input).
func (st routingPolicy) input(s *Submission) *policy.Input {
	if s.input != nil {
		return s.input
	}
	info := s.Findings.TableInfo
	if info == nil {
		tables := s.policy.Tables
		info = map[string]any{}
		for _, t := range s.Class.Tables {
			if m, ok := tables[t]; ok {
				info[t] = m
			}
		}
	}
	fi, fv := st.p.fleet.info()
	ss, c := &s.Req.Session, &s.Class
	s.input = &policy.Input{
		Request: policy.RequestInfo{
			User: ss.User, Principal: s.Req.Principal, Source: ss.Source, ClientTags: ss.ClientTags, ClientInfo: ss.ClientInfo,
			Catalog: ss.Catalog, Schema: ss.Schema, Session: ss.Properties, RoutingGroup: ss.RoutingGroup,
			TransactionID: ss.Transaction, RemoteAddress: ss.RemoteAddress, Method: s.Req.Method, Path: s.Req.Path,
		},
		Query: policy.QueryInfo{
			Type: c.Type, Tables: c.Tables, TableInfo: info, CrossJoin: c.CrossJoin, HasWhere: c.HasWhere,
			HasLimit: c.HasLimit, Explain: c.Explain, InnerType: c.Inner, Unresolved: c.Unresolved, Length: len(s.Req.Body),
			Cost: s.Cost, Blocks: blocks(c.Blocks), FullScans: c.FullScans,
			Fingerprint: s.Findings.Fingerprint, Incidents: s.Findings.Incidents,
		},
		Fleet:         fi,
		FleetValue:    fv,
		External:      s.External,
		ClientSession: s.Session.info(),
		Time:          time.Now(),
	}
	return s.input
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

// fleetView is the fleet as the policy sees it (and as an OPA value),
// rebuilt at most every 250 ms or when the fleet changes.
type fleetView struct {
	router *routing.Router
	health routing.HealthView

	mu     sync.Mutex
	of     *fleet.Fleet
	at     time.Time
	cached policy.FleetInfo
	value  policy.FleetValue
}

func (v *fleetView) info() (policy.FleetInfo, *policy.FleetValue) {
	f := v.router.Fleet()
	v.mu.Lock()
	defer v.mu.Unlock()
	if f == v.of && time.Since(v.at) < 250*time.Millisecond {
		fv := v.value
		return v.cached, &fv
	}
	info := policy.FleetInfo{DefaultGroup: f.DefaultGroup, Groups: map[string]policy.GroupInfo{}, Clusters: map[string]policy.ClusterInfo{}}
	for _, g := range f.Groups {
		gi := policy.GroupInfo{Strategy: g.Strategy}
		for _, c := range f.ClustersIn(g.Name) {
			gi.Clusters = append(gi.Clusters, c.Name)
		}
		info.Groups[g.Name] = gi
	}
	for i := range f.Clusters {
		c := &f.Clusters[i]
		ci := policy.ClusterInfo{Group: c.Group, State: string(c.State), Healthy: v.router.ClusterUp(c), Tags: c.Tags, Weight: c.Weight}
		if v.health != nil {
			for j := range c.Coordinators {
				if st, ok := v.health.Status(c.CoordinatorKey(j)); ok {
					ci.Running += st.Load.Running
					ci.Queued += st.Load.Queued
				}
			}
		}
		info.Clusters[c.Name] = ci
	}
	v.of, v.at, v.cached, v.value = f, time.Now(), info, policy.NewFleetValue(info)
	fv := v.value
	return info, &fv
}
