package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// TestEnvoysShareConfiguration attaches two Envoys to one control plane.
// The listener address comes from the control plane over xDS, so both bind
// the same port (SO_REUSEPORT). It checks that
//   - both hold the same versions of every resource type;
//   - after a fleet change (cluster b deactivated through the admin API)
//     both move to the same new version, whose content shows the change
//     (a's failover aggregate no longer lists b);
//   - with the first Envoy stopped, the second alone serves queries on the
//     shared port with that configuration (all on a, rows equal to a's
//     own, its downstream request counter counts them), and follows the
//     next change too (b reactivated: queries land on b again).
func TestEnvoysShareConfiguration(t *testing.T) {
	g := startGateway(t, 1, withAdmin(twoClusters(deadURL(t))))
	ctx := context.Background()
	second, err := env.StartEnvoy(ctx, t.Name()+"-envoy2", g.cps[0].XDSAddr, g.cps[0].ListenerAddr)
	if err != nil {
		t.Fatal(err)
	}
	g.procs = append(g.procs, second.Proc)
	if err := second.WaitHealthy(ctx, "trino_a", "trino_b"); err != nil {
		t.Fatal(err)
	}
	envoys := []*harness.Envoy{g.envoys[0], second}
	v1, err := xdsVersions(envoys[0].Admin)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := xdsVersions(envoys[1].Admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"listeners", "routes", "clusters", "lds", "cds"} {
		if v1[typ] == "" || v1[typ] != v2[typ] {
			t.Errorf("%s version: envoy 1 %q, envoy 2 %q; want equal and set", typ, v1[typ], v2[typ])
		}
	}
	for i, en := range envoys {
		if m, err := failoverMembers(en.Admin, "a"); err != nil || !slices.Equal(m, []string{"trino_a", "trino_b"}) {
			t.Fatalf("envoy %d: trino_a_failover members %v (%v), want [trino_a trino_b]", i+1, m, err)
		}
	}

	// A fleet change: both Envoys move to one new version that has it.
	if out, err := cli(ctx, g, "cluster", "deactivate", "b"); err != nil {
		t.Fatalf("deactivate: %v\n%s", err, out)
	}
	changed := waitSameNewVersion(t, envoys, v1, []string{"trino_a"})
	t.Logf("after deactivating b both Envoys are at version %s (was %s)", changed, v1["cds"])

	// The second Envoy alone serves the shared port with that configuration.
	envoys[0].Stop()
	want, err := harness.RunQuery(ctx, trinoA.URL, "direct", "SELECT name FROM tpch.tiny.nation ORDER BY name", nil)
	if err != nil {
		t.Fatal(err)
	}
	before := downstreamRequests(t, second)
	requests := 0
	for i := range 6 {
		owner, rows, n := runCounted(t, g.URL(0), "SELECT name FROM tpch.tiny.nation ORDER BY name")
		requests += n
		if owner != "a" {
			t.Errorf("query %d through envoy 2 ran on %s, want a (b is inactive)", i, owner)
		}
		if fmt.Sprint(rows) != fmt.Sprint(want) {
			t.Fatalf("query %d through envoy 2: rows %v, want %v", i, rows, want)
		}
	}
	err = harness.Poll(ctx, "envoy 2 to count the requests", 10*time.Second, 50*time.Millisecond, func() error {
		if got := downstreamRequests(t, second) - before; got < requests {
			return fmt.Errorf("envoy 2 counted %d downstream requests, want at least the %d sent", got, requests)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// It follows the next change on its own: b active again, and queries
	// through it land on b too.
	if out, err := cli(ctx, g, "cluster", "activate", "b"); err != nil {
		t.Fatalf("activate: %v\n%s", err, out)
	}
	v, err := xdsVersions(second.Admin)
	if err != nil {
		t.Fatal(err)
	}
	waitSameNewVersion(t, envoys[1:], v, []string{"trino_a", "trino_b"})
	if err := second.WaitHealthy(ctx, "trino_a", "trino_b"); err != nil {
		t.Fatal(err)
	}
	owners := map[string]int{}
	for i := 0; i < 12 && (owners["a"] == 0 || owners["b"] == 0); i++ {
		owner, rows, _ := runCounted(t, g.URL(0), "SELECT name FROM tpch.tiny.nation ORDER BY name")
		owners[owner]++
		if fmt.Sprint(rows) != fmt.Sprint(want) {
			t.Fatalf("query %d through envoy 2 (owner %s): rows %v, want %v", i, owner, rows, want)
		}
	}
	if owners["a"] == 0 || owners["b"] == 0 {
		t.Fatalf("owners through envoy 2 after reactivating b: %v, want both a and b", owners)
	}
}

// waitSameNewVersion polls until every Envoy has accepted the same CDS
// version, different from old, and the same LDS version, and a's failover
// aggregate lists members; it returns the CDS version.
func waitSameNewVersion(t *testing.T, envoys []*harness.Envoy, old map[string]string, members []string) string {
	t.Helper()
	var version string
	err := harness.Poll(context.Background(), "the Envoys to accept one new version", 30*time.Second, 50*time.Millisecond, func() error {
		var first map[string]string
		for i, en := range envoys {
			v, err := xdsVersions(en.Admin)
			if err != nil {
				return err
			}
			// The change is in clusters; the control plane sends a type
			// only when its resources changed, so LDS may keep its version.
			if v["cds"] == old["cds"] {
				return fmt.Errorf("envoy %d still at the old CDS version %s", i+1, v["cds"])
			}
			if first == nil {
				first = v
			} else if v["lds"] != first["lds"] || v["cds"] != first["cds"] {
				return fmt.Errorf("envoy %d at lds %s cds %s, another at lds %s cds %s", i+1, v["lds"], v["cds"], first["lds"], first["cds"])
			}
			m, err := failoverMembers(en.Admin, "a")
			if err != nil {
				return err
			}
			if !slices.Equal(m, members) {
				return fmt.Errorf("envoy %d: trino_a_failover members %v, want %v", i+1, m, members)
			}
		}
		version = first["cds"]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return version
}

// runCounted runs a query through the gateway and returns its owner, rows
// and the number of HTTP requests it took.
func runCounted(t *testing.T, server, sql string) (owner string, rows [][]any, requests int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	qr, err := harness.Submit(ctx, server, "e2e", sql, nil)
	if err != nil {
		t.Fatal(err)
	}
	requests = 1
	if qr.Error != nil {
		t.Fatalf("submission refused: %s: %s", qr.Error.ErrorName, qr.Error.Message)
	}
	owner = ownerOf(t, qr.NextURI)
	for {
		rows = append(rows, qr.Data...)
		if qr.Error != nil {
			t.Fatalf("query %s on %s failed: %s: %s", qr.ID, owner, qr.Error.ErrorName, qr.Error.Message)
		}
		if qr.NextURI == "" {
			return owner, rows, requests
		}
		var retried int
		qr, retried, err = harness.FetchRetries(ctx, http.MethodGet, qr.NextURI)
		requests += 1 + retried
		if err != nil {
			t.Fatalf("query on %s: %v", owner, err)
		}
	}
}

// downstreamRequests reads an Envoy's count of requests on the client
// listener (the HTTP connection manager's downstream_rq_total).
func downstreamRequests(t *testing.T, en *harness.Envoy) int {
	t.Helper()
	body, err := en.Admin("/stats?filter=^http\\.switchyard\\.downstream_rq_total$")
	if err != nil {
		t.Fatal(err)
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(body), "http.switchyard.downstream_rq_total: ")
	var n int
	if _, err := fmt.Sscan(v, &n); !ok || err != nil {
		t.Fatalf("no downstream_rq_total in envoy stats: %q", body)
	}
	return n
}

// failoverMembers reads the member clusters of a cluster's failover
// aggregate (trino_{cluster}_failover) from an Envoy's config dump.
func failoverMembers(admin func(string) (string, error), cluster string) ([]string, error) {
	body, err := admin("/config_dump?resource=dynamic_active_clusters")
	if err != nil {
		return nil, err
	}
	var dump struct {
		Configs []struct {
			Cluster struct {
				Name        string `json:"name"`
				ClusterType struct {
					TypedConfig struct {
						Clusters []string `json:"clusters"`
					} `json:"typed_config"`
				} `json:"cluster_type"`
			} `json:"cluster"`
		} `json:"configs"`
	}
	if err := json.Unmarshal([]byte(body), &dump); err != nil {
		return nil, err
	}
	name := "trino_" + cluster + "_failover"
	for _, c := range dump.Configs {
		if c.Cluster.Name == name {
			return c.Cluster.ClusterType.TypedConfig.Clusters, nil
		}
	}
	return nil, fmt.Errorf("no cluster %s in the config dump", name)
}

// xdsVersions reads the versions an Envoy holds: per resource type, the
// version of the dynamic listeners, routes and clusters ("listeners",
// "routes", "clusters": the last response that changed one of them), and
// the version of the last LDS and CDS response it accepted ("lds", "cds").
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
		var key, field, accepted string
		switch typ {
		case "type.googleapis.com/envoy.admin.v3.ListenersConfigDump":
			key, field, accepted = "listeners", "dynamic_listeners", "lds"
		case "type.googleapis.com/envoy.admin.v3.RoutesConfigDump":
			key, field = "routes", "dynamic_route_configs"
		case "type.googleapis.com/envoy.admin.v3.ClustersConfigDump":
			key, field, accepted = "clusters", "dynamic_active_clusters", "cds"
		default:
			continue
		}
		if accepted != "" && c["version_info"] != nil {
			var v string
			if err := json.Unmarshal(c["version_info"], &v); err != nil {
				return nil, fmt.Errorf("%s version_info: %w", typ, err)
			}
			out[accepted] = v
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
