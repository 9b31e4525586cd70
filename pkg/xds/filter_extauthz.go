package xds

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

const extAuthzName = "envoy.filters.http.ext_authz"

// extAuthzFilter is the policy's authorization check (ext_authz, served by
// the control plane on the ext_proc cluster), on when a policy is
// configured (Options.ExtAuthz). It checks requests that are not query
// submissions or their polls.
type extAuthzFilter struct{}

func (extAuthzFilter) name() string { return extAuthzName }

func (extAuthzFilter) enabled(o Options) bool { return o.ExtAuthz }

func (extAuthzFilter) patchHCM(hcm *hcmv3.HttpConnectionManager, o Options) error {
	hcm.HttpFilters = append(hcm.HttpFilters, typedFilter(extAuthzName, &extauthzv3.ExtAuthz{
		Services:            &extauthzv3.ExtAuthz_GrpcService{GrpcService: controlPlaneService(o)},
		TransportApiVersion: corev3.ApiVersion_V3,
		// A failed check is a gateway failure (500, rewritten into a JSON
		// error by the local replies), never an allow.
		StatusOnError: &typev3.HttpStatus{Code: typev3.StatusCode_InternalServerError},
		// jwt_authn's verdict on a bearer token, for pkg/identity.
		MetadataContextNamespaces: forwardedMetadata(o).GetUntyped(),
	}))
	return nil
}

// patchRoute exempts a query's own traffic: its polls (prefixed or not)
// belong to the client that holds the query's URIs, and a submission is
// decided by ext_proc, policy included.
func (extAuthzFilter) patchRoute(r *routev3.Route, kind routeKind, _ Options) error {
	switch kind {
	case kindPrefixedPoll, kindSubmit, kindFollowUp, kindUILogin, kindQueue:
		setPerFilterConfig(r, extAuthzName, &extauthzv3.ExtAuthzPerRoute{
			Override: &extauthzv3.ExtAuthzPerRoute_Disabled{Disabled: true},
		})
	}
	return nil
}

func (extAuthzFilter) patchListener(*listenerv3.Listener, Options) error { return nil }

// patchResources: the check runs on the ext_proc cluster, which Translate
// always adds.
func (extAuthzFilter) patchResources(*Resources, Options) error { return nil }
