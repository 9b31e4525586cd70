package xdsscale

import (
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (switch yard) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 0 0"
	got, err := parseStatCPU(line)
	if err != nil || got != 3.0 {
		t.Fatalf("got %v, %v; want 3 s (250+50 ticks)", got, err)
	}
	if _, err := parseStatCPU("4242 (short) S 1"); err == nil {
		t.Fatal("a short line parsed")
	}
}

func TestParseStatusKB(t *testing.T) {
	s := "Name:\tenvoy\nVmHWM:\t  409600 kB\nVmRSS:\t  204800 kB\n"
	if got, err := parseStatusKB(s, "VmRSS"); err != nil || got != 200 {
		t.Fatalf("got %v, %v; want 200 MiB", got, err)
	}
	if _, err := parseStatusKB(s, "MemAvailable"); err == nil {
		t.Fatal("a missing key was found")
	}
}

// Envoy's /stats text: text readouts are quoted, counters are not.
func TestParseTextReadoutsAndConfigKey(t *testing.T) {
	body := `cluster_manager.cds.version_text: "c1"
http.switchyard.rds.switchyard_routes.version_text: "r1"
listener_manager.lds.version_text: "l1"
cluster_manager.cds.update_success: 3
`
	v, err := parseTextReadouts(body)
	if err != nil {
		t.Fatal(err)
	}
	if got := configKey(v); got != "c1/l1/r1" {
		t.Fatalf("key %q, readouts %v", got, v)
	}
	delete(v, versionKeys[2])
	if got := configKey(v); got != "" {
		t.Fatalf("key %q with RDS missing", got)
	}
	if _, err := parseTextReadouts("no separator\n"); err == nil {
		t.Fatal("a bad line parsed")
	}
}

func TestParseUpdateTimes(t *testing.T) {
	got, err := parseUpdateTimes("cluster_manager.cds.update_time: 1796452417654\nlistener_manager.lds.update_time: 1796452417670\n")
	if err != nil {
		t.Fatal(err)
	}
	if !got[versionKeys[0]].Equal(time.UnixMilli(1796452417654)) || len(got) != 2 {
		t.Fatalf("got %v", got)
	}
}

func TestMetricValue(t *testing.T) {
	text := "# HELP x\nswitchyard_xds_envoys{state=\"behind\"} 0\nswitchyard_xds_envoys{state=\"current\"} 50\nswitchyard_xds_pushes_total 7\n"
	for name, want := range map[string]float64{`switchyard_xds_envoys{state="current"}`: 50, `switchyard_xds_envoys{state="behind"}`: 0, "switchyard_xds_pushes_total": 7} {
		if got, err := metricValue(text, name); err != nil || got != want {
			t.Errorf("%s: %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := metricValue(text, "switchyard_xds"); err == nil {
		t.Error("a prefix matched")
	}
}

func TestSotWBootstrap(t *testing.T) {
	got, err := sotwBootstrap([]byte("ads_config:\n    api_type: DELTA_GRPC\n"))
	if err != nil || string(got) != "ads_config:\n    api_type: GRPC\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := sotwBootstrap([]byte("no ads\n")); err == nil {
		t.Fatal("a bootstrap without api_type was changed")
	}
}

func TestPlans(t *testing.T) {
	if err := DefaultPlan().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := SmokePlan().Validate(); err != nil {
		t.Fatal(err)
	}
	p := DefaultPlan()
	p.Envoys = []int{10, 1}
	if err := p.Validate(); err == nil {
		t.Fatal("decreasing Envoy counts accepted")
	}
}

// The report: a row per point with the p50 and max of the time to the
// last Envoy, and the goal judged at the largest point.
func TestMarkdown(t *testing.T) {
	rep := &Report{
		Started: time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC), Took: 5 * time.Minute, Plan: DefaultPlan(),
		Machine:  Machine{CPU: "AMD EPYC", Cores: 2, Memory: "23.5 GiB", Kernel: "6.1"},
		Versions: map[string]string{"Envoy": "1.40.0", "Go": "go1.26.8", "Switchyard": "abc1234"},
		Points: []Point{
			{Clusters: 10, Envoys: 1, EnvoyClusters: 45, Changes: []Change{{AllMS: 120, PerEnvoyMS: []float64{120}, Types: []string{versionKeys[0]}}}},
			{Clusters: 1000, Envoys: 50, EnvoyClusters: 4005, Changes: []Change{
				{AllMS: 400, PerEnvoyMS: []float64{300, 400}, CPUSeconds: 0.2, Types: []string{versionKeys[0]}},
				{AllMS: 1200, PerEnvoyMS: []float64{900, 1200}, CPUSeconds: 0.4, Types: []string{versionKeys[0]}},
				{AllMS: 600, PerEnvoyMS: []float64{500, 600}, CPUSeconds: 0.3, Types: []string{versionKeys[0]}},
			}},
		},
	}
	md := rep.Markdown("benchmarks-xds.png")
	for _, want := range []string{
		"| 10 | 45 | 1 | 120 / 120 | 120 |",
		"| 1000 | 4005 | 50 | 600 / 1200 | 500 |",
		"| 0.30 |",
		"| CDS |",
		"![propagation against the number of Envoys](benchmarks-xds.png)",
		"at 1000 clusters and 50 Envoys: p50 600 ms, max 1200 ms: **not met**",
		"Envoy 1.40.0; Go go1.26.8; Switchyard abc1234",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
