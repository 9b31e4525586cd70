package xds

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// routerFilter is Envoy's router, the terminal filter: always on, always
// last (newFilterChain checks it).
type routerFilter struct{}

func (routerFilter) name() string { return routerName }

func (routerFilter) enabled(Options) bool { return true }

func (routerFilter) patchHCM(hcm *hcmv3.HttpConnectionManager, _ Options) error {
	hcm.HttpFilters = append(hcm.HttpFilters, typedFilter(routerName, &routerv3.Router{}))
	return nil
}

func (routerFilter) patchRoute(*routev3.Route, routeKind, Options) error { return nil }

func (routerFilter) patchListener(*listenerv3.Listener, Options) error { return nil }

func (routerFilter) patchResources(*Resources, Options) error { return nil }
