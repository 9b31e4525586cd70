package xds

import (
	"errors"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// buildRoutes is the route table, first match wins. Each route gets a kind
// (registry.go) and each filter of the chain sets its per-route
// configuration by kind, in its own file; the notes on ext_proc and
// ext_authz below say what filter_extproc.go and filter_extauthz.go decide.
//
//  1. kindPrefixedPoll: /_sy/{cluster}/{coordinator}/v1/statement/{queued,executing}/...:
//     follow-ups of a query, routed by path alone to the coordinator that
//     owns it, with ext_proc and ext_authz off (they cost what plain Envoy
//     costs). Only these two sub-trees are open under the prefix, so a
//     prefixed path can never submit a query and bypass policy.
//  2. kindPrefixedUI: /_sy/{cluster}/{coordinator}/ui/...: the query's
//     infoUri, to the owner (ext_authz and ext_proc still see it).
//  3. kindDecided: x-switchyard-route: {cluster}/{coordinator} (sticky
//     lookups) or {cluster} (submissions: the cluster, failing over to the
//     rest of its group on connection failures): the decision ext_proc wrote.
//     kindWeighted: x-switchyard-route: group:{group}, for a weighted group.
//  4. kindQueue: /_sy/_queue/...: the nextUris of queries waiting in the
//     gateway's queue, to the queue service of any replica (ext_proc and
//     ext_authz off: the URI's slug is the client's credential, as a
//     nextUri is in Trino).
//     kindUnknownPrefix: anything else under /_sy/: a JSON 404.
//  5. kindSubmit: POST /v1/statement with no decision yet: ext_proc reads
//     the body and the response (no ext_authz: ext_proc applies the
//     policy); the direct response is only reached if it decided nothing:
//     no replica answered (the submission fails open, filter_extproc.go).
//     kindUILogin: POST /ui/login: ext_proc reads the form and answers it
//     itself (the gateway logs the user in to every coordinator); the
//     direct response is only reached if no replica answered.
//  6. kindFollowUp: /v1/statement/...: follow-ups without the prefix;
//     ext_proc looks the owner up (no ext_authz: like prefixed polls they
//     belong to the client that holds the query's URIs).
//  7. kindDefault: everything else: ext_authz (with a policy), then ext_proc
//     reads the headers and decides.
func buildRoutes(f *fleet.Fleet, clusters []fleet.Cluster, o Options, chain filterChain) (*routev3.RouteConfiguration, error) {
	var routes []*routev3.Route
	var errs []error
	add := func(kind routeKind, r *routev3.Route) {
		if err := chain.patchRoute(r, kind, o); err != nil {
			errs = append(errs, err)
		}
		routes = append(routes, r)
	}
	for _, c := range clusters {
		for _, co := range c.Coordinators {
			prefix := trino.CoordinatorPrefix(c.Name, co.Name)
			target := CoordinatorClusterName(c.Name, co.Name)
			for _, sub := range []string{"/v1/statement/queued/", "/v1/statement/executing/"} {
				if !o.Resubmit {
					add(kindPrefixedPoll, prefixRoute(prefix, sub, target, o))
					continue
				}
				r := prefixRoute(prefix, sub, PollClusterName(c.Name, co.Name), o)
				r.Name = target + ":" + sub
				r.GetRoute().RetryPolicy = pollRetryPolicy()
				add(kindPrefixedPoll, r)
			}
			add(kindUILogin, uiLoginRoute("ui_login:"+target, prefix+"/ui/login"))
			add(kindPrefixedUI, prefixRoute(prefix, "/ui/", target, o))
		}
	}
	for _, c := range clusters {
		for _, co := range c.Coordinators {
			r := headerRoute(fleet.Key(c.Name, co.Name), CoordinatorClusterName(c.Name, co.Name), o)
			r.RequestHeadersToAdd = forwardedPrefix(trino.CoordinatorPrefix(c.Name, co.Name))
			add(kindDecided, r)
		}
		add(kindDecided, headerRoute(c.Name, FailoverClusterName(c.Name), o))
	}
	for _, r := range weightedRoutes(f, clusters, o) {
		add(kindWeighted, r)
	}
	if len(o.QueueTargets) > 0 {
		add(kindQueue, queueRoute(o))
	}
	add(kindUnknownPrefix, directRoute("unknown_prefix", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: trino.RoutePrefix}},
		404, trino.ErrorDocument(trino.ErrNoRoute, "unknown or closed gateway path: only the statement follow-ups and UI pages of a query live under "+trino.RoutePrefix)))
	add(kindSubmit, directRoute("submit", &routev3.RouteMatch{
		PathSpecifier: &routev3.RouteMatch_Path{Path: statementPrefix},
		Headers:       []*routev3.HeaderMatcher{exactHeader(":method", "POST")},
	}, 200, trino.FailedQueryResults("switchyard_gateway_error", "/ui/", trino.ErrGatewayUnavailable, "no switchyard control-plane replica answered, so the query was not routed; try again")))
	add(kindUILogin, uiLoginRoute("ui_login", "/ui/login"))
	add(kindFollowUp, directRoute("statement_followups", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: statementPrefix + "/"}},
		404, trino.ErrorDocument(trino.ErrNoRoute, "the gateway made no routing decision for this path")))
	add(kindDefault, directRoute("default", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		404, trino.ErrorDocument(trino.ErrNoRoute, "the gateway made no routing decision for this path")))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &routev3.RouteConfiguration{
		Name: RouteConfigName,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:        "trino",
			Domains:     []string{"*"},
			Routes:      routes,
			RetryPolicy: retryPolicy(),
			// A new client session's ID, when ext_proc handed one out for
			// this request (dynamic metadata; absent, no header is added).
			ResponseHeadersToAdd: []*corev3.HeaderValueOption{{
				Header:       &corev3.HeaderValue{Key: trino.HeaderAddedPrepare, Value: "%DYNAMIC_METADATA(" + MetadataNamespace + ":" + MetadataAddedPrepare + ")%"},
				AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD,
			}},
		}},
		// The decision header is for routing only; coordinators never see it.
		RequestHeadersToRemove: removedRequestHeaders(o),
	}, nil
}

// prefixRoute serves prefix+sub on the coordinator's cluster, with the
// prefix removed from the path and handed back to the coordinator in
// X-Forwarded-Prefix, so the URIs it builds keep it.
func prefixRoute(prefix, sub, cluster string, o Options) *routev3.Route {
	return &routev3.Route{
		Name:                cluster + ":" + sub,
		Match:               &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: prefix + sub}},
		Action:              clusterAction(cluster, sub, o),
		RequestHeadersToAdd: forwardedPrefix(prefix),
	}
}

func headerRoute(value, cluster string, o Options) *routev3.Route {
	return &routev3.Route{
		Name: "decided:" + value,
		Match: &routev3.RouteMatch{
			PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
			Headers:       []*routev3.HeaderMatcher{exactHeader(RouteHeader, value)},
		},
		Action: clusterAction(cluster, "", o),
	}
}

// weightedRoutes: for each group with the weighted strategy, Envoy picks
// among its active clusters by weight (each through its failover cluster,
// so an unhealthy one's share moves to the others).
func weightedRoutes(f *fleet.Fleet, translated []fleet.Cluster, o Options) []*routev3.Route {
	ok := map[string]bool{}
	for _, c := range translated {
		ok[c.Name] = true
	}
	var out []*routev3.Route
	for _, g := range f.Groups {
		if g.Strategy != config.StrategyWeighted {
			continue
		}
		var wcs []*routev3.WeightedCluster_ClusterWeight
		for _, c := range f.ClustersIn(g.Name) {
			if c.State == fleet.Active && c.Weight > 0 && ok[c.Name] {
				wcs = append(wcs, &routev3.WeightedCluster_ClusterWeight{Name: FailoverClusterName(c.Name), Weight: wrapperspb.UInt32(uint32(c.Weight))})
			}
		}
		if len(wcs) == 0 {
			continue
		}
		out = append(out, &routev3.Route{
			Name: "weighted:" + g.Name,
			Match: &routev3.RouteMatch{
				PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
				Headers:       []*routev3.HeaderMatcher{exactHeader(RouteHeader, fleet.WeightedTarget(g.Name))},
			},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: wcs}},
				Timeout:          durationpb.New(o.RequestTimeout),
			}},
		})
	}
	return out
}

func clusterAction(cluster, rewrite string, o Options) *routev3.Route_Route {
	return &routev3.Route_Route{Route: &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
		PrefixRewrite:    rewrite,
		Timeout:          durationpb.New(o.RequestTimeout),
	}}
}

// retryPolicy retries requests that got no answer: the connection failed,
// was refused, or was reset (a coordinator killed with the request in
// flight). Each retry moves on to the next priority: the standby
// coordinator, then the group's other clusters. This is safe on the Trino
// protocol: a POST /v1/statement only registers a query (Trino dispatches it
// on the first poll of its nextUri), so a registration whose answer was lost
// never runs and expires unpolled; re-sending a nextUri GET or a DELETE is
// allowed. Answers with an HTTP status are never retried.
func retryPolicy() *routev3.RetryPolicy {
	return &routev3.RetryPolicy{
		RetryOn:       "connect-failure,refused-stream,reset",
		NumRetries:    wrapperspb.UInt32(2),
		RetryPriority: &routev3.RetryPolicy_RetryPriority{Name: "envoy.retry_priorities.previous_priorities", ConfigType: &routev3.RetryPolicy_RetryPriority_TypedConfig{TypedConfig: previousPrioritiesAny}},
		RetryHostPredicate: []*routev3.RetryPolicy_RetryHostPredicate{{
			Name:       "envoy.retry_host_predicates.previous_hosts",
			ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: previousHostsAny},
		}},
		HostSelectionRetryMaxAttempts: 3,
	}
}

// uiLoginRoute is POST path of the web UI's login form (Trino's login
// page posts it to "login" next to itself, so under a coordinator's prefix
// too): ext_proc answers it; the direct response is only reached if no
// replica did.
func uiLoginRoute(name, path string) *routev3.Route {
	return directRoute(name, &routev3.RouteMatch{
		PathSpecifier: &routev3.RouteMatch_Path{Path: path},
		Headers:       []*routev3.HeaderMatcher{exactHeader(":method", "POST")},
	}, 503, trino.ErrorDocument(trino.ErrGatewayUnavailable, "the gateway's web UI login did not answer; try again"))
}

func directRoute(name string, m *routev3.RouteMatch, status uint32, body []byte) *routev3.Route {
	return &routev3.Route{
		Name:  name,
		Match: m,
		Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
			Status: status,
			Body:   &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: body}},
		}},
		ResponseHeadersToAdd: []*corev3.HeaderValueOption{{
			Header:       &corev3.HeaderValue{Key: "content-type", Value: "application/json"},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		}},
	}
}

func forwardedPrefix(prefix string) []*corev3.HeaderValueOption {
	return []*corev3.HeaderValueOption{{
		Header:       &corev3.HeaderValue{Key: ForwardedPrefix, Value: prefix},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}}
}

func exactHeader(name, value string) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{
		Name: name,
		HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_Exact{Exact: value},
		}},
	}
}

// removedRequestHeaders are taken off every request to a cluster: the
// decision header and the observer's ticket, and the client's credentials when the gateway verified
// them (a coordinator that trusts the gateway would refuse a password
// over its plain HTTP; prefixed polls never pass ext_proc, which removes
// them from the rest).
func removedRequestHeaders(o Options) []string {
	if o.StripCredentials {
		return []string{RouteHeader, TicketHeader, "authorization"}
	}
	return []string{RouteHeader, TicketHeader}
}
