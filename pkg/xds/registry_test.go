package xds

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
)

// testFilter is a filter whose patches are functions, to test the registry
// itself.
type testFilter struct {
	filterName string
	on         bool
	hcm        func(*hcmv3.HttpConnectionManager) error
	route      func(*routev3.Route, routeKind) error
	listener   func(*listenerv3.Listener) error
	resources  func(*Resources) error
}

func (f testFilter) name() string         { return f.filterName }
func (f testFilter) enabled(Options) bool { return f.on }

func (f testFilter) patchHCM(hcm *hcmv3.HttpConnectionManager, _ Options) error {
	if f.hcm == nil {
		return nil
	}
	return f.hcm(hcm)
}

func (f testFilter) patchRoute(r *routev3.Route, k routeKind, _ Options) error {
	if f.route == nil {
		return nil
	}
	return f.route(r, k)
}

func (f testFilter) patchListener(l *listenerv3.Listener, _ Options) error {
	if f.listener == nil {
		return nil
	}
	return f.listener(l)
}

func (f testFilter) patchResources(r *Resources, _ Options) error {
	if f.resources == nil {
		return nil
	}
	return f.resources(r)
}

// loadInput reads a golden input; extAuthz overrides what its policy
// section implies.
func loadInput(t *testing.T, path string, extAuthz bool) (*fleet.Fleet, Options) {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	o := optionsFor(t, cfg)
	o.ExtAuthz = extAuthz
	return fleet.FromConfig(cfg), o
}

func hcmOf(t *testing.T, l *listenerv3.Listener) *hcmv3.HttpConnectionManager {
	t.Helper()
	var hcm hcmv3.HttpConnectionManager
	if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatalf("listener %s: no connection manager: %v", l.GetName(), err)
	}
	return &hcm
}

func filterNames(hcm *hcmv3.HttpConnectionManager) []string {
	var names []string
	for _, f := range hcm.GetHttpFilters() {
		names = append(names, f.GetName())
	}
	return names
}

func allRoutes(r *Resources) []*routev3.Route {
	var out []*routev3.Route
	for _, rc := range r.Routes {
		for _, vh := range rc.GetVirtualHosts() {
			out = append(out, vh.GetRoutes()...)
		}
	}
	return out
}

// The connection manager gets the enabled filters of the order list, in
// its order: the transaction log's header_to_metadata, ext_authz (with a
// policy), ext_proc, the answer observer, the router last.
func TestHTTPFilterOrder(t *testing.T) {
	for _, tc := range []struct {
		name     string
		extAuthz bool
		want     []string
	}{
		{"without a policy", false, []string{txMetadataName, extProcName, observeName, routerName}},
		{"with a policy", true, []string{txMetadataName, extAuthzName, extProcName, observeName, routerName}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, o := loadInput(t, "testdata/in/extauthz.yaml", tc.extAuthz)
			res, err := Translate(f, o)
			if err != nil {
				t.Fatal(err)
			}
			got := filterNames(hcmOf(t, res.Listeners[0]))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("HCM http_filters (-want +got):\n%s", diff)
			}
			var fromOrder []string
			for _, hf := range httpFilterOrder {
				if hf.enabled(o) {
					fromOrder = append(fromOrder, hf.name())
				}
			}
			if diff := cmp.Diff(fromOrder, got); diff != "" {
				t.Errorf("HCM http_filters differ from the enabled entries of httpFilterOrder (-order +hcm):\n%s", diff)
			}
		})
	}
}

// An order list Envoy would reject, or that breaks the registry's rules,
// is an error, and nothing is translated.
func TestNewFilterChainRejectsBadOrder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		order   []httpFilter
		wantErr string
	}{
		{"router not last", []httpFilter{routerFilter{}, extProcFilter{}}, routerName + " must be last in the order list, found at 1 of 2"},
		{"no router", []httpFilter{extAuthzFilter{}, extProcFilter{}}, "must end with " + routerName},
		{"empty", nil, "must end with " + routerName},
		{"router disabled", []httpFilter{extProcFilter{}, testFilter{filterName: routerName}}, "must end with " + routerName},
		{"last enabled filter not the router", []httpFilter{extProcFilter{}, testFilter{filterName: "test.after_router", on: true}}, "must end with " + routerName},
		{"duplicate", []httpFilter{extProcFilter{}, extProcFilter{}, routerFilter{}}, extProcName + " appears twice"},
		{"no name", []httpFilter{extProcFilter{}, testFilter{on: true}, routerFilter{}}, "filter 2 of the order list has no name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, o := loadInput(t, "testdata/in/basic.yaml", true)
			if _, err := newFilterChain(tc.order, o); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("newFilterChain: got error %v, want one containing %q", err, tc.wantErr)
			}
			res, err := translate(f, o, tc.order)
			if err == nil || res != nil {
				t.Errorf("translate: got resources %v and error %v, want no resources and an error", res != nil, err)
			}
		})
	}
	for _, extAuthz := range []bool{false, true} {
		if _, err := newFilterChain(httpFilterOrder, Options{ExtAuthz: extAuthz}); err != nil {
			t.Errorf("httpFilterOrder with ExtAuthz=%v: %v", extAuthz, err)
		}
	}
}

// ext_authz without a policy appears neither in the connection manager nor
// in any route's typed_per_filter_config, for every golden input; with a
// policy it appears in both (so the check can fail).
func TestExtAuthzOnlyWithAPolicy(t *testing.T) {
	inputs, _ := filepath.Glob("testdata/in/*.yaml")
	if len(inputs) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, in := range inputs {
		for _, extAuthz := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/ExtAuthz=%v", filepath.Base(in), extAuthz), func(t *testing.T) {
				f, o := loadInput(t, in, extAuthz)
				res, err := Translate(f, o)
				if err != nil {
					t.Fatal(err)
				}
				inHCM := slices.Contains(filterNames(hcmOf(t, res.Listeners[0])), extAuthzName)
				var onRoutes []string
				for _, r := range allRoutes(res) {
					if _, ok := r.GetTypedPerFilterConfig()[extAuthzName]; ok {
						onRoutes = append(onRoutes, r.GetName())
					}
				}
				if inHCM != extAuthz {
					t.Errorf("ext_authz in the HCM: %v, want %v", inHCM, extAuthz)
				}
				if !extAuthz && len(onRoutes) > 0 {
					t.Errorf("ext_authz is off but routes %q configure it", onRoutes)
				}
				if extAuthz && len(onRoutes) == 0 {
					t.Error("ext_authz is on but no route exempts anything from it (want at least the submission)")
				}
			})
		}
	}
}

// A filter the options disable patches nothing: no HCM entry, no per-route
// configuration, no listener change, no resource. Enabled, the same filter
// changes all four, after the connection manager and the rest of the
// resources are complete.
func TestDisabledFilterPatchesNothing(t *testing.T) {
	const name = "test.everywhere"
	const cluster = "test_everywhere_cluster"
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("enabled=%v", on), func(t *testing.T) {
			var problems []string
			spy := testFilter{
				filterName: name,
				on:         on,
				hcm: func(hcm *hcmv3.HttpConnectionManager) error {
					hcm.HttpFilters = append(hcm.HttpFilters, &hcmv3.HttpFilter{Name: name})
					return nil
				},
				route: func(r *routev3.Route, _ routeKind) error {
					setPerFilterConfig(r, name, wrapperspb.Bool(true))
					return nil
				},
				listener: func(l *listenerv3.Listener) error {
					if got := filterNames(hcmOf(t, l)); !slices.Contains(got, routerName) {
						problems = append(problems, fmt.Sprintf("patchListener saw an HCM without the router: %q", got))
					}
					l.FilterChains[0].TransportSocket = &corev3.TransportSocket{Name: name}
					return nil
				},
				resources: func(r *Resources) error {
					if !slices.ContainsFunc(r.Clusters, func(c *clusterv3.Cluster) bool { return c.GetName() == SubmitClusterName("blue") }) || len(r.Routes) != 1 {
						problems = append(problems, "patchResources ran before the Trino clusters and the routes were translated")
					}
					r.Clusters = append(r.Clusters, &clusterv3.Cluster{Name: cluster})
					return nil
				},
			}
			f, o := loadInput(t, "testdata/in/basic.yaml", false)
			res, err := translate(f, o, []httpFilter{spy, extProcFilter{}, routerFilter{}})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Error(p)
			}
			if got := slices.Contains(filterNames(hcmOf(t, res.Listeners[0])), name); got != on {
				t.Errorf("filter in the HCM: %v, want %v", got, on)
			}
			routes := allRoutes(res)
			withConfig := 0
			for _, r := range routes {
				if _, ok := r.GetTypedPerFilterConfig()[name]; ok {
					withConfig++
				}
			}
			if want := map[bool]int{false: 0, true: len(routes)}[on]; withConfig != want {
				t.Errorf("%d of %d routes carry the filter's config, want %d", withConfig, len(routes), want)
			}
			if got := res.Listeners[0].GetFilterChains()[0].GetTransportSocket().GetName() == name; got != on {
				t.Errorf("listener patched: %v, want %v", got, on)
			}
			if got := slices.ContainsFunc(res.Clusters, func(c *clusterv3.Cluster) bool { return c.GetName() == cluster }); got != on {
				t.Errorf("cluster %s added: %v, want %v", cluster, got, on)
			}
		})
	}
}

// kindFromName classifies a route by its name, independently of the route
// builder.
func kindFromName(name string) routeKind {
	switch {
	case strings.HasSuffix(name, ":/v1/statement/queued/"), strings.HasSuffix(name, ":/v1/statement/executing/"):
		return kindPrefixedPoll
	case strings.HasSuffix(name, ":/ui/"):
		return kindPrefixedUI
	case strings.HasPrefix(name, "decided:"):
		return kindDecided
	case strings.HasPrefix(name, "weighted:"):
		return kindWeighted
	case strings.HasPrefix(name, "ui_login:"):
		return kindUILogin
	}
	return map[string]routeKind{
		"queue":               kindQueue,
		"unknown_prefix":      kindUnknownPrefix,
		"submit":              kindSubmit,
		"ui_login":            kindUILogin,
		"statement_followups": kindFollowUp,
		"default":             kindDefault,
	}[name]
}

// describePerRoute says what a per-route configuration does.
func describePerRoute(t *testing.T, a *anypb.Any) string {
	t.Helper()
	m, err := a.UnmarshalNew()
	if err != nil {
		t.Fatal(err)
	}
	switch m := m.(type) {
	case *routev3.FilterConfig:
		if m.GetDisabled() {
			return "off"
		}
		return "on, " + describePerRoute(t, m.GetConfig())
	case *extprocv3.ExtProcPerRoute:
		if m.GetDisabled() {
			return "disabled"
		}
		pm := m.GetOverrides().GetProcessingMode()
		if pm == nil {
			return "as configured"
		}
		return fmt.Sprintf("request headers %s, request body %s, response headers %s, response body %s",
			pm.GetRequestHeaderMode(), pm.GetRequestBodyMode(), pm.GetResponseHeaderMode(), pm.GetResponseBodyMode())
	case *extauthzv3.ExtAuthzPerRoute:
		if m.GetDisabled() {
			return "disabled"
		}
	}
	return "unexpected " + a.GetTypeUrl()
}

// The route builder gives every route its kind, and ext_proc and ext_authz
// configure exactly the kinds they own: ext_proc (off unless a route turns
// it on) is on everywhere but prefixed polls and the queue's URIs, with
// the submission's body streamed and the web UI login's form buffered;
// ext_authz is off on prefixed polls, the queue's URIs, submissions (ext_proc
// applies the policy), unprefixed follow-ups and the login; the answer
// observer (off unless turned on) is on for submissions only.
func TestPerRouteConfigByKind(t *testing.T) {
	const submitMode = "on, request headers SEND, request body STREAMED, response headers SKIP, response body NONE"
	want := map[routeKind]map[string]string{
		kindPrefixedPoll:  {extAuthzName: "disabled"},
		kindQueue:         {extAuthzName: "disabled"},
		kindSubmit:        {extProcName: submitMode, extAuthzName: "disabled", observeName: "on, as configured"},
		kindFollowUp:      {extProcName: "on, as configured", extAuthzName: "disabled"},
		kindUILogin:       {extProcName: "on, request headers SEND, request body BUFFERED, response headers SKIP, response body NONE", extAuthzName: "disabled"},
		kindPrefixedUI:    {extProcName: "on, as configured"},
		kindDecided:       {extProcName: "on, as configured"},
		kindWeighted:      {extProcName: "on, as configured"},
		kindUnknownPrefix: {extProcName: "on, as configured"},
		kindDefault:       {extProcName: "on, as configured"},
	}
	for _, extAuthz := range []bool{false, true} {
		t.Run(fmt.Sprintf("ExtAuthz=%v", extAuthz), func(t *testing.T) {
			kinds := map[string]routeKind{}
			recorder := testFilter{filterName: "test.recorder", on: true, route: func(r *routev3.Route, k routeKind) error {
				kinds[r.GetName()] = k
				return nil
			}}
			f, o := loadInput(t, "testdata/in/extauthz.yaml", extAuthz)
			res, err := translate(f, o, []httpFilter{extAuthzFilter{}, extProcFilter{}, observeFilter{}, recorder, routerFilter{}})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[routeKind]bool{}
			for _, r := range allRoutes(res) {
				kind := kinds[r.GetName()]
				if wantKind := kindFromName(r.GetName()); kind != wantKind {
					t.Errorf("route %s has kind %v, want %v", r.GetName(), kind, wantKind)
				}
				seen[kind] = true
				wantConfig := map[string]string{}
				for filter, d := range want[kind] {
					if filter != extAuthzName || extAuthz {
						wantConfig[filter] = d
					}
				}
				got := map[string]string{}
				for filter, a := range r.GetTypedPerFilterConfig() {
					got[filter] = describePerRoute(t, a)
				}
				if diff := cmp.Diff(wantConfig, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("route %s (%v): typed_per_filter_config (-want +got):\n%s", r.GetName(), kind, diff)
				}
			}
			for k := range routeKindNames {
				if !seen[k] {
					t.Errorf("no route of kind %v in the input: the test does not cover it", k)
				}
			}
		})
	}
}

// A route without a kind is an error, not a route no filter configures.
func TestPatchRouteNeedsAKind(t *testing.T) {
	chain, err := newFilterChain(httpFilterOrder, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = chain.patchRoute(&routev3.Route{Name: "nameless"}, 0, Options{})
	if err == nil || !strings.Contains(err.Error(), "route nameless: no route kind") {
		t.Errorf("got %v, want an error naming the route", err)
	}
	if got := routeKind(0).String(); got != "routeKind(0)" {
		t.Errorf("routeKind(0).String() = %q", got)
	}
}

// A filter's error fails the translation and names the filter (and the
// route, for a route patch).
func TestFilterErrorFailsTheTranslation(t *testing.T) {
	boom := errors.New("boom")
	const name = "test.failing"
	for _, tc := range []struct {
		hook    string
		filter  testFilter
		wantErr string
	}{
		{"hcm", testFilter{hcm: func(*hcmv3.HttpConnectionManager) error { return boom }}, "listener: http filter " + name + ": boom"},
		{"route", testFilter{route: func(r *routev3.Route, k routeKind) error {
			if k == kindSubmit {
				return boom
			}
			return nil
		}}, "routes: http filter " + name + ": route submit: boom"},
		{"listener", testFilter{listener: func(*listenerv3.Listener) error { return boom }}, "listener: http filter " + name + ": listener: boom"},
		{"resources", testFilter{resources: func(*Resources) error { return boom }}, "http filter " + name + ": resources: boom"},
	} {
		t.Run(tc.hook, func(t *testing.T) {
			tc.filter.filterName, tc.filter.on = name, true
			f, o := loadInput(t, "testdata/in/basic.yaml", false)
			res, err := translate(f, o, []httpFilter{tc.filter, extProcFilter{}, routerFilter{}})
			if res != nil || !errors.Is(err, boom) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got resources %v, error %v; want no resources and an error containing %q", res != nil, err, tc.wantErr)
			}
		})
	}
}

// The answer observer streams to the replicas through a cluster of its
// own: the same replicas, endpoints and settings as the decisions', but
// its own circuit breaker, so a backlog of observations cannot refuse
// decisions (at saturation the observer's streams once filled the shared
// cluster's breaker and submissions failed open).
func TestObserverHasItsOwnCluster(t *testing.T) {
	f, o := loadInput(t, "testdata/in/basic.yaml", true)
	res, err := Translate(f, o)
	if err != nil {
		t.Fatal(err)
	}
	clusters := map[string]*clusterv3.Cluster{}
	for _, c := range res.Clusters {
		clusters[c.GetName()] = c
	}
	dec, obs := clusters[ExtProcCluster], clusters[ObserveCluster]
	if dec == nil || obs == nil {
		t.Fatalf("clusters %s and %s: %v, %v", ExtProcCluster, ObserveCluster, dec != nil, obs != nil)
	}
	same := proto.Clone(obs).(*clusterv3.Cluster)
	same.Name, same.LoadAssignment.ClusterName = ExtProcCluster, ExtProcCluster
	if !proto.Equal(same, dec) {
		t.Errorf("the observer's cluster differs from the decisions' in more than its name:\n%v\n%v", obs, dec)
	}
	grpcCluster := map[string]string{}
	for _, hf := range hcmOf(t, res.Listeners[0]).GetHttpFilters() {
		var ep extprocv3.ExternalProcessor
		if hf.GetTypedConfig().UnmarshalTo(&ep) == nil {
			grpcCluster[hf.GetName()] = ep.GetGrpcService().GetEnvoyGrpc().GetClusterName()
		}
	}
	if grpcCluster[extProcName] != ExtProcCluster || grpcCluster[observeName] != ObserveCluster {
		t.Errorf("ext_proc filters' clusters: %v", grpcCluster)
	}
}
