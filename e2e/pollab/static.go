package pollab

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Type URLs of the config_dump sections and of the connection manager.
const (
	typeBootstrapDump = "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump"
	typeListenersDump = "type.googleapis.com/envoy.admin.v3.ListenersConfigDump"
	typeClustersDump  = "type.googleapis.com/envoy.admin.v3.ClustersConfigDump"
	typeRoutesDump    = "type.googleapis.com/envoy.admin.v3.RoutesConfigDump"
	typeEndpointsDump = "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump"
	typeHCM           = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	// xdsCluster is the bootstrap's ADS cluster, of no use to a static
	// Envoy.
	xdsCluster = "switchyard_xds"
)

// StaticBootstrap turns an Envoy /config_dump?include_eds (JSON) into a
// static bootstrap with the same behaviour: the bootstrap's own settings
// (node, overload manager, ...) without dynamic_resources and the ADS
// cluster; every dynamic listener, with its RDS route configuration
// inlined; every cluster, an EDS one made STATIC with its endpoints
// inlined. Ports are left as dumped (SetPorts changes them). The control
// plane's clusters (ext_proc, transaction log, resubmission) keep their
// addresses: a static Envoy still reaches the running control plane.
func StaticBootstrap(dump []byte) (map[string]any, error) {
	var doc struct {
		Configs []map[string]any `json:"configs"`
	}
	if err := json.Unmarshal(dump, &doc); err != nil {
		return nil, fmt.Errorf("config_dump: %w", err)
	}
	sections := map[string]map[string]any{}
	for _, c := range doc.Configs {
		t, _ := c["@type"].(string)
		sections[t] = c
	}
	for _, t := range []string{typeBootstrapDump, typeListenersDump, typeClustersDump, typeRoutesDump, typeEndpointsDump} {
		if sections[t] == nil {
			return nil, fmt.Errorf("config_dump has no %s (fetch it with ?include_eds)", t[strings.LastIndexByte(t, '.')+1:])
		}
	}
	boot, _ := sections[typeBootstrapDump]["bootstrap"].(map[string]any)
	if boot == nil {
		return nil, errors.New("config_dump: BootstrapConfigDump has no bootstrap")
	}
	delete(boot, "dynamic_resources")
	if node, ok := boot["node"].(map[string]any); ok {
		// What Envoy adds about itself (build, extensions) is not
		// configuration.
		boot["node"] = map[string]any{"id": node["id"], "cluster": node["cluster"]}
	}

	routes := map[string]map[string]any{}
	for _, rc := range list(sections[typeRoutesDump]["dynamic_route_configs"]) {
		r, _ := rc["route_config"].(map[string]any)
		if r == nil {
			continue
		}
		delete(r, "@type")
		name, _ := r["name"].(string)
		routes[name] = r
	}
	endpoints := map[string]map[string]any{}
	for _, key := range []string{"static_endpoint_configs", "dynamic_endpoint_configs"} {
		for _, ec := range list(sections[typeEndpointsDump][key]) {
			e, _ := ec["endpoint_config"].(map[string]any)
			if e == nil {
				continue
			}
			delete(e, "@type")
			cleanLoadAssignment(e)
			name, _ := e["cluster_name"].(string)
			endpoints[name] = e
		}
	}

	var listeners []any
	for _, dl := range list(sections[typeListenersDump]["dynamic_listeners"]) {
		st, _ := dl["active_state"].(map[string]any)
		l, _ := st["listener"].(map[string]any)
		if l == nil {
			return nil, fmt.Errorf("config_dump: listener %v is not active", dl["name"])
		}
		delete(l, "@type")
		for _, hcm := range connectionManagers(l) {
			rds, ok := hcm["rds"].(map[string]any)
			if !ok {
				continue
			}
			name, _ := rds["route_config_name"].(string)
			rc := routes[name]
			if rc == nil {
				return nil, fmt.Errorf("config_dump: listener %v uses route configuration %q, not in the dump", l["name"], name)
			}
			delete(hcm, "rds")
			hcm["route_config"] = rc
		}
		listeners = append(listeners, l)
	}
	if len(listeners) == 0 {
		return nil, errors.New("config_dump: no dynamic listener")
	}

	var clusters []any
	cd := sections[typeClustersDump]
	for _, key := range []string{"static_clusters", "dynamic_active_clusters"} {
		for _, entry := range list(cd[key]) {
			c, _ := entry["cluster"].(map[string]any)
			if c == nil {
				continue
			}
			delete(c, "@type")
			name, _ := c["name"].(string)
			if name == xdsCluster {
				continue
			}
			if c["type"] == "EDS" {
				svc := name
				if eds, ok := c["eds_cluster_config"].(map[string]any); ok {
					if s, _ := eds["service_name"].(string); s != "" {
						svc = s
					}
				}
				la := endpoints[svc]
				if la == nil {
					return nil, fmt.Errorf("config_dump: no endpoints for EDS cluster %q", name)
				}
				la["cluster_name"] = name
				delete(c, "eds_cluster_config")
				c["type"] = "STATIC"
				c["load_assignment"] = la
			}
			clusters = append(clusters, c)
		}
	}
	boot["static_resources"] = map[string]any{"listeners": listeners, "clusters": clusters}
	return boot, nil
}

// cleanLoadAssignment drops what the dump shows but a static
// load_assignment must not carry: an empty locality and a zero locality
// weight (a weight must be at least 1 where given).
func cleanLoadAssignment(la map[string]any) {
	for _, le := range list(la["endpoints"]) {
		if loc, ok := le["locality"].(map[string]any); ok && len(loc) == 0 {
			delete(le, "locality")
		}
		if w, ok := le["load_balancing_weight"].(float64); ok && w == 0 {
			delete(le, "load_balancing_weight")
		}
	}
}

// SetPorts points the admin interface and the (first) listener at the
// given loopback ports, and names the node.
func SetPorts(cfg map[string]any, node string, listenPort, adminPort int) error {
	cfg["admin"] = map[string]any{"address": socketAddress(adminPort)}
	cfg["node"] = map[string]any{"id": node, "cluster": "switchyard"}
	ls := listenersOf(cfg)
	if len(ls) == 0 {
		return errors.New("no listener")
	}
	ls[0]["address"] = socketAddress(listenPort)
	return nil
}

func socketAddress(port int) map[string]any {
	return map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": port}}
}

// oneEndpoint is a cluster's load_assignment of one endpoint.
func oneEndpoint(cluster, host string, port int) map[string]any {
	return map[string]any{
		"cluster_name": cluster,
		"endpoints": []any{map[string]any{"lb_endpoints": []any{map[string]any{
			"endpoint": map[string]any{"address": map[string]any{"socket_address": map[string]any{"address": host, "port_value": port}}},
		}}}},
	}
}

// list reads a JSON array of objects.
func list(v any) []map[string]any {
	a, _ := v.([]any)
	out := make([]map[string]any, 0, len(a))
	for _, x := range a {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func listenersOf(cfg map[string]any) []map[string]any {
	sr, _ := cfg["static_resources"].(map[string]any)
	return list(sr["listeners"])
}

// clusterByName finds a static cluster.
func clusterByName(cfg map[string]any, name string) map[string]any {
	sr, _ := cfg["static_resources"].(map[string]any)
	for _, c := range list(sr["clusters"]) {
		if c["name"] == name {
			return c
		}
	}
	return nil
}

// connectionManagers returns the typed_config of every HTTP connection
// manager of a listener.
func connectionManagers(l map[string]any) []map[string]any {
	var out []map[string]any
	for _, fc := range list(l["filter_chains"]) {
		for _, f := range list(fc["filters"]) {
			tc, _ := f["typed_config"].(map[string]any)
			if tc != nil && tc["@type"] == typeHCM {
				out = append(out, tc)
			}
		}
	}
	return out
}

// hcmOf is the client listener's connection manager.
func hcmOf(cfg map[string]any) (map[string]any, error) {
	ls := listenersOf(cfg)
	if len(ls) == 0 {
		return nil, errors.New("no listener")
	}
	hs := connectionManagers(ls[0])
	if len(hs) != 1 {
		return nil, fmt.Errorf("listener %v has %d connection managers, want 1", ls[0]["name"], len(hs))
	}
	return hs[0], nil
}

// routeConfigOf is the connection manager's inline route configuration.
func routeConfigOf(cfg map[string]any) (map[string]any, error) {
	h, err := hcmOf(cfg)
	if err != nil {
		return nil, err
	}
	rc, _ := h["route_config"].(map[string]any)
	if rc == nil {
		return nil, errors.New("no inline route_config")
	}
	return rc, nil
}

// virtualHostOf is the route configuration's only virtual host.
func virtualHostOf(cfg map[string]any) (map[string]any, error) {
	rc, err := routeConfigOf(cfg)
	if err != nil {
		return nil, err
	}
	vhs := list(rc["virtual_hosts"])
	if len(vhs) != 1 {
		return nil, fmt.Errorf("%d virtual hosts, want 1", len(vhs))
	}
	return vhs[0], nil
}
