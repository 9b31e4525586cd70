package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

// TestEnvoysShareConfiguration attaches two Envoys to one control plane
// (they share the listener port with SO_REUSEPORT) and checks that both
// hold the same versions of every resource type.
func TestEnvoysShareConfiguration(t *testing.T) {
	g := startGateway(t, 1, twoClusters(deadURL(t)))
	second, err := env.StartEnvoy(context.Background(), t.Name()+"-envoy2", g.cps[0].XDSAddr, g.cps[0].ListenerAddr)
	if err != nil {
		t.Fatal(err)
	}
	g.procs = append(g.procs, second.Proc)
	v1, err := xdsVersions(g.envoys[0].Admin)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := xdsVersions(second.Admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"listeners", "routes", "clusters"} {
		if v1[typ] == "" || v1[typ] != v2[typ] {
			t.Errorf("%s version: envoy 1 %q, envoy 2 %q; want equal and set", typ, v1[typ], v2[typ])
		}
	}
}

// xdsVersions reads the version of the dynamic listeners, routes and
// clusters from an Envoy's config dump.
func xdsVersions(admin func(string) (string, error)) (map[string]string, error) {
	body, err := admin("/config_dump")
	if err != nil {
		return nil, err
	}
	var dump struct {
		Configs []map[string]json.RawMessage `json:"configs"`
	}
	if err := json.Unmarshal([]byte(body), &dump); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, c := range dump.Configs {
		var typ string
		_ = json.Unmarshal(c["@type"], &typ)
		var key, field string
		switch typ {
		case "type.googleapis.com/envoy.admin.v3.ListenersConfigDump":
			key, field = "listeners", "dynamic_listeners"
		case "type.googleapis.com/envoy.admin.v3.RoutesConfigDump":
			key, field = "routes", "dynamic_route_configs"
		case "type.googleapis.com/envoy.admin.v3.ClustersConfigDump":
			key, field = "clusters", "dynamic_active_clusters"
		default:
			continue
		}
		var items []struct {
			VersionInfo string `json:"version_info"`
			ActiveState *struct {
				VersionInfo string `json:"version_info"`
			} `json:"active_state"`
		}
		if err := json.Unmarshal(c[field], &items); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		for _, it := range items {
			v := it.VersionInfo
			if it.ActiveState != nil {
				v = it.ActiveState.VersionInfo
			}
			if v != "" {
				out[key] = v
			}
		}
	}
	return out, nil
}
