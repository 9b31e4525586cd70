package xds

import (
	"errors"
	"fmt"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// httpFilterOrder is the HTTP filter chain of the client listener, in the
// order Envoy runs it; the router is last. A new filter is one file (a type
// implementing httpFilter) and one entry here.
var httpFilterOrder = []httpFilter{
	txLogFilter{},
	jwtAuthnFilter{},
	extAuthzFilter{},
	extProcFilter{},
	observeFilter{},
	routerFilter{},
}

// httpFilter is one translator of the HTTP filter chain. Each patches what
// it needs: its entry in the connection manager, its per-route
// configuration, the listener, the resource set (a cluster it calls).
// Filters that enabled turns off take no part in the translation, so they
// appear nowhere in the output.
type httpFilter interface {
	// name is the filter's name in the connection manager, also its key in
	// a route's typed_per_filter_config.
	name() string
	// enabled says whether the options turn the filter on.
	enabled(o Options) bool
	// patchHCM adds the filter's entry to hcm.HttpFilters (the registry
	// calls the filters in order) and sets any connection-manager field
	// the filter needs.
	patchHCM(hcm *hcmv3.HttpConnectionManager, o Options) error
	// patchRoute sets the filter's per-route configuration on a route of
	// the given kind.
	patchRoute(r *routev3.Route, kind routeKind, o Options) error
	// patchListener changes the listener (TLS on its filter chain, for
	// example), after its connection manager is complete.
	patchListener(l *listenerv3.Listener, o Options) error
	// patchResources adds the resources the filter needs (a cluster it
	// calls), once the rest of the translation is done.
	patchResources(r *Resources, o Options) error
}

// routeKind is the part of the route table a route belongs to (see
// buildRoutes), set by the route builder: a filter decides its per-route
// configuration by kind, in its own file.
type routeKind int

const (
	kindPrefixedPoll  routeKind = iota + 1 // /_sy/{cluster}/{coordinator}/v1/statement/{queued,executing}/...
	kindPrefixedUI                         // /_sy/{cluster}/{coordinator}/ui/...
	kindDecided                            // x-switchyard-route: {cluster} or {cluster}/{coordinator}
	kindWeighted                           // x-switchyard-route: group:{group}
	kindQueue                              // /_sy/_queue/...: the gateway's queue service
	kindUnknownPrefix                      // anything else under /_sy/: a direct 404
	kindSubmit                             // POST /v1/statement: a direct response if nothing was decided
	kindUILogin                            // POST /ui/login: the gateway answers the web UI's login
	kindFollowUp                           // /v1/statement/... without the prefix: a direct 404 if nothing was decided
	kindDefault                            // everything else: a direct 404 if nothing was decided
)

var routeKindNames = map[routeKind]string{
	kindPrefixedPoll:  "prefixed poll",
	kindPrefixedUI:    "prefixed UI page",
	kindDecided:       "decided",
	kindWeighted:      "weighted",
	kindQueue:         "queue",
	kindUnknownPrefix: "unknown prefix",
	kindUILogin:       "web UI login",
	kindSubmit:        "submit",
	kindFollowUp:      "statement follow-up",
	kindDefault:       "default",
}

func (k routeKind) String() string {
	if s, ok := routeKindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("routeKind(%d)", int(k))
}

// routerName is the terminal filter: Envoy requires it last.
const routerName = "envoy.filters.http.router"

// filterChain is the filters of an order list that the options enable, in
// order.
type filterChain []httpFilter

// newFilterChain checks the order list (names set and unique, the router
// last and only last) and keeps the filters the options enable.
func newFilterChain(order []httpFilter, o Options) (filterChain, error) {
	seen := map[string]bool{}
	for i, f := range order {
		n := f.name()
		switch {
		case n == "":
			return nil, fmt.Errorf("filter %d of the order list has no name", i+1)
		case seen[n]:
			return nil, fmt.Errorf("%s appears twice in the order list", n)
		case n == routerName && i != len(order)-1:
			return nil, fmt.Errorf("%s must be last in the order list, found at %d of %d", routerName, i+1, len(order))
		}
		seen[n] = true
	}
	var c filterChain
	for _, f := range order {
		if f.enabled(o) {
			c = append(c, f)
		}
	}
	if len(c) == 0 || c[len(c)-1].name() != routerName {
		return nil, errors.New("the chain of enabled filters must end with " + routerName)
	}
	return c, nil
}

func (c filterChain) patchHCM(hcm *hcmv3.HttpConnectionManager, o Options) error {
	for _, f := range c {
		if err := f.patchHCM(hcm, o); err != nil {
			return fmt.Errorf("http filter %s: %w", f.name(), err)
		}
	}
	return nil
}

func (c filterChain) patchRoute(r *routev3.Route, kind routeKind, o Options) error {
	if _, ok := routeKindNames[kind]; !ok {
		return fmt.Errorf("route %s: no route kind", r.GetName())
	}
	for _, f := range c {
		if err := f.patchRoute(r, kind, o); err != nil {
			return fmt.Errorf("http filter %s: route %s: %w", f.name(), r.GetName(), err)
		}
	}
	return nil
}

func (c filterChain) patchListener(l *listenerv3.Listener, o Options) error {
	for _, f := range c {
		if err := f.patchListener(l, o); err != nil {
			return fmt.Errorf("http filter %s: listener: %w", f.name(), err)
		}
	}
	return nil
}

func (c filterChain) patchResources(r *Resources, o Options) error {
	for _, f := range c {
		if err := f.patchResources(r, o); err != nil {
			return fmt.Errorf("http filter %s: resources: %w", f.name(), err)
		}
	}
	return nil
}

// typedFilter is a connection-manager entry.
func typedFilter(name string, config proto.Message) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(config)}}
}

// disabledFilter is a filter that is off unless a route turns it on
// (enableFilter): Envoy does not even create it for the other routes'
// requests, which then pay nothing for it.
func disabledFilter(name string, config proto.Message) *hcmv3.HttpFilter {
	f := typedFilter(name, config)
	f.Disabled = true
	return f
}

// enableFilter turns a disabledFilter on for a route, with its per-route
// configuration (Envoy refuses a route that turns a filter on without one).
func enableFilter(r *routev3.Route, name string, config proto.Message) {
	setPerFilterAny(r, name, enabledFilterConfig(config))
}

// enabledFilterConfig is enableFilter's per-route configuration, marshalled
// once, for a configuration that many routes share.
func enabledFilterConfig(config proto.Message) *anypb.Any {
	return mustAny(&routev3.FilterConfig{Config: mustAny(config)})
}

// setPerFilterConfig sets a filter's per-route configuration.
func setPerFilterConfig(r *routev3.Route, name string, config proto.Message) {
	setPerFilterAny(r, name, mustAny(config))
}

// setPerFilterAny sets a filter's per-route configuration, marshalled.
func setPerFilterAny(r *routev3.Route, name string, config *anypb.Any) {
	if r.TypedPerFilterConfig == nil {
		r.TypedPerFilterConfig = map[string]*anypb.Any{}
	}
	r.TypedPerFilterConfig[name] = config
}
