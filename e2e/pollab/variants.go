package pollab

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Target names besides the variants.
const (
	NameDirect = "direct"         // the simulator, no proxy
	NamePlain  = "envoy"          // plain Envoy's static configuration (the floor)
	NameXDS    = "switchyard-xds" // Switchyard's Envoy, configured over xDS
	NameAsIs   = "as-is"          // the same configuration, static
	NameAllOff = "all-off"        // every variant's change at once
	filterExt  = "envoy.filters.http.ext_proc"
	observer   = "switchyard.answer_observer"
	txMetadata = "envoy.filters.http.header_to_metadata" // the transaction log's
)

// Names of the one-cluster fleet's Envoy resources (cluster c0, one
// coordinator).
func pollCluster() string   { return "trino_c0_0_polls" } // polls routed by path (aggregate: coordinator, then resubmission)
func coordCluster() string  { return "trino_c0_0" }       // the coordinator
func submitCluster() string { return "trino_c0" }         // the cluster's coordinators, for submissions
func failoverCluster() string {
	return "trino_c0_failover" // what a submission decided for cluster c0 goes to
}

// Variant is one change to the static configuration.
type Variant struct {
	Name string
	What string // what is switched off, for the report
	// Apply edits the bootstrap (the JSON of StaticBootstrap).
	Apply func(cfg map[string]any) error
	// Rewrite maps every nextUri the load generator follows (nil: as is).
	Rewrite func(string) string
	// Floor sends the ext_proc cluster's streams to the floor processor
	// (floor.go) instead of the control plane.
	Floor bool
}

// Variants lists the variants in report order: "as is" first, then one
// feature off at a time, then all of them.
func Variants() []Variant {
	vs := []Variant{
		{Name: NameAsIs, What: "nothing: Switchyard's configuration as Envoy got it over xDS, made static", Apply: func(map[string]any) error { return nil }},
		{Name: "no-access-log", What: "the transaction log: the HCM's gRPC access log and its filter (and header_to_metadata, which notes the header the filter reads), evaluated on every request", Apply: noAccessLog},
		{Name: "no-early-header-mutation", What: "early header mutation (removes 3 headers from every request)", Apply: noEarlyHeaderMutation},
		{Name: "no-observer", What: "the answer observer (second ext_proc, on the submit route only); the decision filter stays", Apply: noObserver},
		{Name: "observer-response-only", What: "the answer observer's request side: it skips the request's headers and body and starts at the answer's headers (it then has no ticket, so nothing is followed up)", Apply: observerResponseOnly},
		{Name: "observer-no-body", What: "the answer observer's copy of the SQL: it gets the request headers and the answer, not the body (nothing is then kept for resubmission)", Apply: observerNoBody},
		{Name: "floor-processor", What: "the decision: both ext_proc filters stay, but their streams go to a processor that answers at once (every submission to c0, the same messages as the control plane's) instead of the control plane", Apply: func(map[string]any) error { return nil }, Floor: true},
		{Name: "floor-authz", What: "the decision as one ext_authz check instead of ext_proc: both ext_proc filters go, and an ext_authz filter on the submit route sends the request with its body in one message to a check that answers at once (every submission to c0)", Apply: floorAuthzFilter, Floor: true},
		{Name: "no-ext-proc", What: "both ext_proc filters; submissions go by a static route to what the decision picks (trino_c0_failover)", Apply: noExtProc},
		{Name: "no-vhost-response-headers", What: "the virtual host's response_headers_to_add (%DYNAMIC_METADATA% formatter on every response)", Apply: noVhostResponseHeaders},
		{Name: "no-retry-policy", What: "every retry policy (virtual host and routes: 404/503 resubmission, previous_hosts/previous_priorities)", Apply: noRetryPolicy},
		{Name: "no-x-forwarded-prefix", What: "the poll routes' request_headers_to_add (X-Forwarded-Prefix); the client puts the prefix back into nextUri", Apply: noForwardedPrefix, Rewrite: ensurePrefix},
		{Name: "no-prefix-rewrite", What: "the poll routes' prefix_rewrite: they match the unprefixed path instead (same place in the table); the client strips the prefix", Apply: noPrefixRewrite, Rewrite: stripPrefix},
		{Name: "no-aggregate-cluster", What: "the aggregate poll cluster: poll routes go to the coordinator's cluster (health checks, outlier detection) directly", Apply: noAggregateCluster},
		{Name: "plain-poll-cluster", What: "the poll cluster's settings: a STATIC cluster with plain Envoy's settings (no aggregate, health checks, outlier detection)", Apply: plainPollCluster},
		{Name: "no-hcm-misc", What: "the rest: overload manager, normalize_path/merge_slashes/escaped slashes, headers_with_underscores_action, max_headers_count, route-config request_headers_to_remove, local_reply_config", Apply: noMisc},
	}
	all := Variant{Name: NameAllOff, What: "all of the above (the ext_proc filters, the access log, early header mutation, response headers, retries, X-Forwarded-Prefix, prefix_rewrite, the poll cluster's settings, the rest)", Rewrite: stripPrefix}
	all.Apply = func(cfg map[string]any) error {
		for _, f := range []func(map[string]any) error{noAccessLog, noEarlyHeaderMutation, noExtProc, noVhostResponseHeaders, noRetryPolicy, noForwardedPrefix, noPrefixRewrite, plainPollCluster, noMisc} {
			if err := f(cfg); err != nil {
				return err
			}
		}
		return nil
	}
	return append(vs, all)
}

// VariantNames lists the names of Variants.
func VariantNames() []string {
	var out []string
	for _, v := range Variants() {
		out = append(out, v.Name)
	}
	return out
}

func variantByName(name string) (Variant, bool) {
	for _, v := range Variants() {
		if v.Name == name {
			return v, true
		}
	}
	return Variant{}, false
}

func noAccessLog(cfg map[string]any) error {
	if err := deleteKeys(cfg, "access_log"); err != nil {
		return err
	}
	return removeFilters(cfg, txMetadata)
}

func noEarlyHeaderMutation(cfg map[string]any) error {
	return deleteKeys(cfg, "early_header_mutation_extensions")
}

// deleteKeys deletes fields of the connection manager, each of which must
// be there.
func deleteKeys(cfg map[string]any, keys ...string) error {
	h, err := hcmOf(cfg)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if _, ok := h[k]; !ok {
			return fmt.Errorf("the connection manager has no %s", k)
		}
		delete(h, k)
	}
	return nil
}

// removeFilters drops the named HTTP filters; each must be there.
func removeFilters(cfg map[string]any, names ...string) error {
	h, err := hcmOf(cfg)
	if err != nil {
		return err
	}
	fs, _ := h["http_filters"].([]any)
	var kept []any
	found := map[string]bool{}
	for _, f := range fs {
		m, _ := f.(map[string]any)
		if n, _ := m["name"].(string); slices.Contains(names, n) {
			found[n] = true
			continue
		}
		kept = append(kept, f)
	}
	for _, n := range names {
		if !found[n] {
			return fmt.Errorf("no HTTP filter %s", n)
		}
	}
	h["http_filters"] = kept
	return nil
}

// dropPerRoute drops the named filters' per-route configuration from every
// route (a route may not configure a filter the chain lacks).
func dropPerRoute(cfg map[string]any, names ...string) error {
	vh, err := virtualHostOf(cfg)
	if err != nil {
		return err
	}
	for _, r := range list(vh["routes"]) {
		if pf, ok := r["typed_per_filter_config"].(map[string]any); ok {
			for _, n := range names {
				delete(pf, n)
			}
			if len(pf) == 0 {
				delete(r, "typed_per_filter_config")
			}
		}
	}
	return nil
}

func noObserver(cfg map[string]any) error {
	if err := removeFilters(cfg, observer); err != nil {
		return err
	}
	return dropPerRoute(cfg, observer)
}

// observerNoBody stops the observer's copy of the request body (the SQL it
// keeps for resubmission).
func observerNoBody(cfg map[string]any) error {
	return observerMode(cfg, func(pm map[string]any) { pm["request_body_mode"] = "NONE" })
}

// observerResponseOnly opens the observer's side stream at the answer
// instead of the request: it tells the request side's cost from the
// answer side's.
func observerResponseOnly(cfg map[string]any) error {
	return observerMode(cfg, func(pm map[string]any) {
		pm["request_header_mode"] = "SKIP"
		pm["request_body_mode"] = "NONE"
		pm["response_header_mode"] = "SEND"
	})
}

// observerMode edits the answer observer's processing mode.
func observerMode(cfg map[string]any, edit func(map[string]any)) error {
	h, err := hcmOf(cfg)
	if err != nil {
		return err
	}
	for _, f := range list(h["http_filters"]) {
		if f["name"] != observer {
			continue
		}
		tc, _ := f["typed_config"].(map[string]any)
		pm, _ := tc["processing_mode"].(map[string]any)
		if pm == nil {
			return errors.New("observer without processing_mode")
		}
		edit(pm)
		return nil
	}
	return errors.New("no observer")
}

func noExtProc(cfg map[string]any) error {
	if err := removeFilters(cfg, filterExt, observer); err != nil {
		return err
	}
	vh, err := virtualHostOf(cfg)
	if err != nil {
		return err
	}
	delete(vh, "typed_per_filter_config")
	if err := dropPerRoute(cfg, filterExt, observer); err != nil {
		return err
	}
	submit := false
	for _, r := range list(vh["routes"]) {
		if r["name"] == "submit" {
			// Without the decision, a submission reaches this route (its
			// answer was "no control plane answered"): send it where the
			// decision sends it.
			delete(r, "direct_response")
			delete(r, "response_headers_to_add")
			r["route"] = map[string]any{"cluster": failoverCluster(), "timeout": "60s"}
			submit = true
		}
	}
	if !submit {
		return errors.New("no route named submit")
	}
	return nil
}

func noVhostResponseHeaders(cfg map[string]any) error {
	vh, err := virtualHostOf(cfg)
	if err != nil {
		return err
	}
	if _, ok := vh["response_headers_to_add"]; !ok {
		return errors.New("the virtual host has no response_headers_to_add")
	}
	delete(vh, "response_headers_to_add")
	return nil
}

func noRetryPolicy(cfg map[string]any) error {
	vh, err := virtualHostOf(cfg)
	if err != nil {
		return err
	}
	delete(vh, "retry_policy")
	n := 0
	for _, r := range list(vh["routes"]) {
		if ra, ok := r["route"].(map[string]any); ok {
			if _, ok := ra["retry_policy"]; ok {
				delete(ra, "retry_policy")
				n++
			}
		}
	}
	if n == 0 {
		return errors.New("no route has a retry policy")
	}
	return nil
}

// pollRoutes are the routes of polls routed by path (queued and
// executing) of the fleet's coordinator.
func pollRoutes(cfg map[string]any) ([]map[string]any, error) {
	vh, err := virtualHostOf(cfg)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, r := range list(vh["routes"]) {
		if n, _ := r["name"].(string); strings.HasPrefix(n, coordCluster()+":/v1/statement/") {
			out = append(out, r)
		}
	}
	if len(out) != 2 {
		return nil, fmt.Errorf("%d poll routes, want 2 (queued, executing)", len(out))
	}
	return out, nil
}

func noForwardedPrefix(cfg map[string]any) error {
	rs, err := pollRoutes(cfg)
	if err != nil {
		return err
	}
	for _, r := range rs {
		delete(r, "request_headers_to_add")
	}
	return nil
}

func noPrefixRewrite(cfg map[string]any) error {
	rs, err := pollRoutes(cfg)
	if err != nil {
		return err
	}
	for _, r := range rs {
		m, _ := r["match"].(map[string]any)
		p, _ := m["prefix"].(string)
		if !strings.HasPrefix(p, pollPrefix+"/") {
			return fmt.Errorf("poll route %v matches %q", r["name"], p)
		}
		m["prefix"] = strings.TrimPrefix(p, pollPrefix)
		ra, _ := r["route"].(map[string]any)
		delete(ra, "prefix_rewrite")
	}
	return nil
}

func noAggregateCluster(cfg map[string]any) error {
	rs, err := pollRoutes(cfg)
	if err != nil {
		return err
	}
	for _, r := range rs {
		ra, _ := r["route"].(map[string]any)
		ra["cluster"] = coordCluster()
	}
	return nil
}

// plainPollCluster replaces the poll cluster by one with plain Envoy's
// settings (e2e/harness's plain configuration) and the coordinator's
// endpoint.
func plainPollCluster(cfg map[string]any) error {
	coord := clusterByName(cfg, coordCluster())
	if coord == nil {
		return fmt.Errorf("no cluster %s", coordCluster())
	}
	la, err := deepCopy(coord["load_assignment"].(map[string]any))
	if err != nil {
		return err
	}
	la["cluster_name"] = pollCluster()
	sr := cfg["static_resources"].(map[string]any)
	cs := sr["clusters"].([]any)
	for i, c := range cs {
		if m, _ := c.(map[string]any); m["name"] == pollCluster() {
			pc := plainCluster(pollCluster())
			pc["load_assignment"] = la
			cs[i] = pc
			return nil
		}
	}
	return fmt.Errorf("no cluster %s", pollCluster())
}

func noMisc(cfg map[string]any) error {
	delete(cfg, "overload_manager")
	h, err := hcmOf(cfg)
	if err != nil {
		return err
	}
	for _, k := range []string{"normalize_path", "merge_slashes", "path_with_escaped_slashes_action", "local_reply_config"} {
		delete(h, k)
	}
	if cp, ok := h["common_http_protocol_options"].(map[string]any); ok {
		delete(cp, "headers_with_underscores_action")
		delete(cp, "max_headers_count")
	}
	rc, err := routeConfigOf(cfg)
	if err != nil {
		return err
	}
	delete(rc, "request_headers_to_remove")
	return nil
}
