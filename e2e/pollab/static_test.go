package pollab

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fixture is a config_dump?include_eds of the xDS Envoy of a real run
// (`go run ./cmd/pollab -smoke -dump ...`), trimmed of what Envoy reports
// about its build (node.extensions).
func loadFixture(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/config_dump.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := StaticBootstrap(b)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestStaticBootstrap(t *testing.T) {
	cfg := loadFixture(t)
	if _, ok := cfg["dynamic_resources"]; ok {
		t.Error("dynamic_resources kept")
	}
	if _, ok := cfg["overload_manager"]; !ok {
		t.Error("the bootstrap's overload_manager was lost")
	}
	h, err := hcmOf(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h["rds"]; ok {
		t.Error("rds kept")
	}
	rc, err := routeConfigOf(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rc["@type"]; ok {
		t.Error("route_config keeps its @type")
	}
	if rs, err := pollRoutes(cfg); err != nil || len(rs) != 2 {
		t.Fatalf("poll routes: %v", err)
	}
	if clusterByName(cfg, xdsCluster) != nil {
		t.Error("the ADS cluster was kept")
	}
	for _, name := range []string{"switchyard_extproc", "switchyard_txlog_0", "switchyard_resubmit", coordCluster(), submitCluster(), pollCluster(), failoverCluster()} {
		c := clusterByName(cfg, name)
		if c == nil {
			t.Errorf("cluster %s missing", name)
			continue
		}
		if _, ok := c["@type"]; ok {
			t.Errorf("cluster %s keeps its @type", name)
		}
		if c["type"] == "EDS" || c["eds_cluster_config"] != nil {
			t.Errorf("cluster %s is still EDS", name)
		}
	}
	coord := clusterByName(cfg, coordCluster())
	if coord["type"] != "STATIC" {
		t.Errorf("%s type %v, want STATIC", coordCluster(), coord["type"])
	}
	la, _ := coord["load_assignment"].(map[string]any)
	eps := list(la["endpoints"])
	if la["cluster_name"] != coordCluster() || len(eps) != 1 {
		t.Fatalf("%s load_assignment %v", coordCluster(), la)
	}
	if _, ok := eps[0]["load_balancing_weight"]; ok {
		t.Error("a zero locality weight was kept")
	}
	if _, ok := eps[0]["locality"]; ok {
		t.Error("an empty locality was kept")
	}
	b, _ := json.Marshal(coord)
	if !strings.Contains(string(b), `"prefix":"/_sy/c0/0"`) {
		t.Error("the endpoint's switchyard metadata (the upstream X-Forwarded-Prefix) was lost")
	}
	if err := SetPorts(cfg, "n", 1111, 2222); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(cfg)
	for _, want := range []string{`"port_value":1111`, `"port_value":2222`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("no %s after SetPorts", want)
		}
	}
}

func TestVariantsApply(t *testing.T) {
	for _, v := range Variants() {
		cfg := loadFixture(t)
		if err := v.Apply(cfg); err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		h, _ := hcmOf(cfg)
		b, _ := json.Marshal(cfg)
		s := string(b)
		switch v.Name {
		case "no-access-log":
			if h["access_log"] != nil {
				t.Error("no-access-log kept the access log")
			}
		case "no-observer":
			if strings.Contains(s, observer) || !strings.Contains(s, `"name":"`+filterExt+`"`) {
				t.Error("no-observer: want the decision filter without the observer")
			}
		case "no-ext-proc", NameAllOff:
			if strings.Contains(s, filterExt) || strings.Contains(s, observer) {
				t.Errorf("%s: ext_proc left", v.Name)
			}
			if !strings.Contains(s, `"cluster":"`+failoverCluster()+`"`) {
				t.Errorf("%s: no static submission route", v.Name)
			}
		case "observer-response-only":
			pm := observerModeOf(t, cfg)
			if pm["request_header_mode"] != "SKIP" || pm["request_body_mode"] != "NONE" || pm["response_header_mode"] != "SEND" {
				t.Errorf("observer-response-only: processing mode %v", pm)
			}
		case "observer-no-body":
			pm := observerModeOf(t, cfg)
			if pm["request_header_mode"] != "SEND" || pm["request_body_mode"] != "NONE" {
				t.Errorf("observer-no-body: processing mode %v", pm)
			}
		case "no-retry-policy":
			if strings.Contains(s, "retry_priority") && strings.Contains(s, "retriable_status_codes") {
				t.Error("no-retry-policy kept a route retry policy")
			}
		case "no-prefix-rewrite":
			rs, _ := pollRoutes(cfg)
			for _, r := range rs {
				m := r["match"].(map[string]any)
				if !strings.HasPrefix(m["prefix"].(string), "/v1/statement/") || r["route"].(map[string]any)["prefix_rewrite"] != nil {
					t.Errorf("no-prefix-rewrite: route %v", r)
				}
			}
		case "plain-poll-cluster":
			c := clusterByName(cfg, pollCluster())
			if c["type"] != "STATIC" || c["cluster_type"] != nil || c["load_assignment"] == nil {
				t.Errorf("plain-poll-cluster: %v", c)
			}
		}
	}
}

// observerModeOf is the answer observer's processing mode in a
// configuration.
func observerModeOf(t *testing.T, cfg map[string]any) map[string]any {
	t.Helper()
	var pm map[string]any
	if err := observerMode(cfg, func(m map[string]any) { pm = m }); err != nil {
		t.Fatal(err)
	}
	return pm
}

// TestReadTiming: the timing log's polls and submissions are summarised
// apart; other requests and lines without a duration are left out.
func TestReadTiming(t *testing.T) {
	path := filepath.Join(t.TempDir(), "timing.log")
	log := strings.Join([]string{
		"POST /v1/statement 1000 300 90 1400",
		"POST /v1/statement 1200 310 100 1600",
		"POST /v1/statement 1400 320 110 1800",
		"GET /_sy/c0/0/v1/statement/queued/q/s/1 100 120 30 250",
		"GET /v1/statement/executing/q/s/2 140 130 40 310",
		"GET /ui/ 10 10 10 30",
		"DELETE /v1/statement/executing/q/s/2 1 1 1 3",
		"GET /v1/statement/executing/q/s/3 - - - -",
		"",
	}, "\n")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readTiming("as-is", path)
	if err != nil {
		t.Fatal(err)
	}
	want := Timing{Target: "as-is", Polls: 2, RequestPath: 120, Upstream: 125, ResponsePath: 35, Total: 280,
		Submits: 3, Submit: Durations{RequestPath: 1200, Upstream: 310, ResponsePath: 100, Total: 1600}}
	if got != want {
		t.Errorf("readTiming = %+v, want %+v", got, want)
	}
	if err := os.WriteFile(path, []byte("POST /v1/statement 1 1 1 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readTiming("as-is", path); err == nil {
		t.Error("a log without polls: want an error")
	}
}

func TestRewrites(t *testing.T) {
	in := "http://127.0.0.1:8080/v1/statement/executing/q/s/1"
	pre := "http://127.0.0.1:8080/_sy/c0/0/v1/statement/executing/q/s/1"
	if got := ensurePrefix(in); got != pre {
		t.Errorf("ensurePrefix = %s", got)
	}
	if got := ensurePrefix(pre); got != pre {
		t.Errorf("ensurePrefix(prefixed) = %s", got)
	}
	if got := stripPrefix(pre); got != in {
		t.Errorf("stripPrefix = %s", got)
	}
}

func TestStats(t *testing.T) {
	if m := median([]float64{3, 1, 2, 10}); m != 2.5 {
		t.Errorf("median = %v", m)
	}
	a := []float64{1, 2, 3, 4, 5, 6, 7, 8}
	b := []float64{11, 12, 13, 14, 15, 16, 17, 18}
	if p := mannWhitneyP(a, b); p > 0.01 {
		t.Errorf("disjoint samples: p = %v", p)
	}
	if p := mannWhitneyP(a, a); p < 0.9 {
		t.Errorf("equal samples: p = %v", p)
	}
	lo, hi := bootstrapMedianCI([]float64{-5, -6, -4, -7, -5, -3, -6, -5}, 2000)
	if !(lo <= -5 && hi >= -5 && hi < 0) {
		t.Errorf("CI [%v, %v]", lo, hi)
	}
}
