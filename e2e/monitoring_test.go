package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// monitor is a real Prometheus scraping a gateway's replicas and Envoys
// and its Trino coordinators with the shipped scrape configuration and
// alert rules (at a 1 s interval), sending alerts to a real Alertmanager
// whose only receiver is a webhook the test reads.
type monitor struct {
	prom *harness.Prometheus
	am   *harness.Alertmanager
	hook *webhook
}

// webhook records Alertmanager's notifications.
type webhook struct {
	mu   sync.Mutex
	msgs []amNotification
}

type amNotification struct {
	Status string `json:"status"`
	Alerts []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var n amNotification
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&n); err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	w.msgs = append(w.msgs, n)
	w.mu.Unlock()
}

// notified reports whether Alertmanager sent alertname for cluster with
// the status (firing, resolved).
func (w *webhook) notified(alertname, cluster, status string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range w.msgs {
		for _, a := range n.Alerts {
			if a.Labels["alertname"] == alertname && a.Labels["cluster"] == cluster && a.Status == status {
				return true
			}
		}
	}
	return false
}

// startMonitor starts Alertmanager and Prometheus for g, whose Trino
// coordinators are trinos.
func startMonitor(t *testing.T, g *gateway, trinos ...*harness.Trino) *monitor {
	t.Helper()
	ctx := context.Background()
	m := &monitor{hook: &webhook{}}
	// The webhook listens on loopback only.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hookSrv := &httptest.Server{Listener: l, Config: &http.Server{Handler: m.hook}}
	hookSrv.Start()
	t.Cleanup(hookSrv.Close)
	amConfig := fmt.Sprintf(`route:
  receiver: test
  group_by: [alertname, cluster]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: %s/alerts
        send_resolved: true
`, hookSrv.URL)
	if m.am, err = env.StartAlertmanager(ctx, t.Name()+"-alertmanager", amConfig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.am.Stop)

	// The shipped scrape configuration, with this test's targets and a 1 s
	// interval.
	var cfg map[string]any
	readYAML(t, filepath.Join(promDir, "prometheus.yml"), &cfg)
	cfg["global"] = map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"}
	rules, err := filepath.Abs(filepath.Join(promDir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg["rule_files"] = []string{rules}
	cfg["alerting"] = map[string]any{"alertmanagers": []any{map[string]any{"static_configs": []any{map[string]any{"targets": []string{m.am.Addr}}}}}}
	targets := map[string][]string{}
	for _, cp := range g.cps {
		targets["switchyard"] = append(targets["switchyard"], cp.AdminAddr)
	}
	for _, en := range g.envoys {
		targets["envoy"] = append(targets["envoy"], en.AdminAddr)
	}
	for _, tr := range trinos {
		targets["trino"] = append(targets["trino"], strings.TrimPrefix(tr.URL, "http://"))
	}
	jobs, _ := cfg["scrape_configs"].([]any)
	if len(jobs) != 3 {
		t.Fatalf("the shipped prometheus.yml has %d jobs, the test knows switchyard, envoy and trino", len(jobs))
	}
	for _, j := range jobs {
		job := j.(map[string]any)
		name, _ := job["job_name"].(string)
		if len(targets[name]) == 0 {
			t.Fatalf("no targets for the shipped job %q", name)
		}
		job["static_configs"] = []any{map[string]any{"targets": targets[name]}}
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if m.prom, err = env.StartPrometheus(ctx, t.Name()+"-prometheus", string(b)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.prom.Stop)
	// Every target scraped, Trino's /metrics with the shipped credentials.
	err = harness.Poll(ctx, "every target to be scraped", time.Minute, 250*time.Millisecond, func() error {
		up, err := m.prom.Query(ctx, "up")
		if err != nil {
			return err
		}
		n := 0
		for _, s := range up {
			if s.Value != 1 {
				return fmt.Errorf("%s %s is down", s.Metric["job"], s.Metric["instance"])
			}
			n++
		}
		if want := len(g.cps) + len(g.envoys) + len(trinos); n != want {
			return fmt.Errorf("%d targets up, want %d", n, want)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, m.prom.Tail(20))
	}
	return m
}

// activeAlert returns the alert Alertmanager holds for alertname and
// cluster, if any.
func (m *monitor) activeAlert(ctx context.Context, alertname, cluster string) (harness.Alert, bool, error) {
	alerts, err := m.am.Alerts(ctx)
	if err != nil {
		return harness.Alert{}, false, err
	}
	for _, a := range alerts {
		if a.Labels["alertname"] == alertname && a.Labels["cluster"] == cluster && a.Status.State == "active" {
			return a, true, nil
		}
	}
	return harness.Alert{}, false, nil
}

// TestAlertsReachAlertmanager: with the shipped rules, killing the only
// coordinator of a cluster makes SwitchyardClusterDown fire in a real
// Prometheus and reach a real Alertmanager (and its receiver); restarting
// the coordinator resolves it. The other cluster raises nothing.
func TestAlertsReachAlertmanager(t *testing.T) {
	v := newVerdict(t)
	c, _ := killable(t)
	ensureUp(t, c)
	cfg := withAdmin(harness.GatewayConfig{
		DefaultGroup: "adhoc", Groups: []string{"adhoc"},
		Clusters: []harness.ClusterSpec{
			{Name: "a", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{{URL: trinoA.URL}}},
			{Name: "c", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{{URL: c.URL}}},
		},
	})
	g := startGatewayWithClusters(t, cfg, "trino_a", "trino_c")
	m := startMonitor(t, g, trinoA, c)
	ctx := context.Background()
	if s, err := m.prom.Query(ctx, `switchyard_trino_heap_used_bytes{cluster="c"}`); err != nil || len(s) != 1 || s[0].Value <= 0 {
		v.Fatalf("Trino's heap through Switchyard's scrape: %v, %v", s, err)
	}

	killed := time.Now()
	c.Kill()
	var fired harness.Alert
	err := harness.Poll(ctx, "SwitchyardClusterDown for c in Alertmanager", 3*time.Minute, 250*time.Millisecond, func() error {
		a, ok, err := m.activeAlert(ctx, "SwitchyardClusterDown", "c")
		if err != nil || !ok {
			return fmt.Errorf("not yet (%v)", err)
		}
		fired = a
		return nil
	})
	if err != nil {
		v.Fatalf("%v\nprometheus:\n%s", err, m.prom.Tail(20))
	}
	if fired.Labels["severity"] != "critical" || fired.Labels["group"] != "adhoc" {
		v.Errorf("alert labels %v", fired.Labels)
	}
	if err := harness.Until("the receiver to be notified", 30*time.Second, func() bool { return m.hook.notified("SwitchyardClusterDown", "c", "firing") }); err != nil {
		v.Errorf("%v", err)
	}
	t.Logf("SwitchyardClusterDown for c reached Alertmanager %v after the kill (the rule waits 30 s)", time.Since(killed).Round(time.Second))

	restarted := time.Now()
	ensureUp(t, c)
	err = harness.Poll(ctx, "SwitchyardClusterDown for c to resolve", 3*time.Minute, 250*time.Millisecond, func() error {
		if _, ok, err := m.activeAlert(ctx, "SwitchyardClusterDown", "c"); err != nil || ok {
			return fmt.Errorf("still active (%v)", err)
		}
		if !m.hook.notified("SwitchyardClusterDown", "c", "resolved") {
			return fmt.Errorf("the receiver has no resolved notification")
		}
		return nil
	})
	if err != nil {
		v.Fatalf("%v", err)
	}
	t.Logf("resolved %v after the restart began", time.Since(restarted).Round(time.Second))
	// Nothing about cluster a, and no other critical alert.
	alerts, err := m.am.Alerts(ctx)
	if err != nil {
		v.Fatalf("%v", err)
	}
	for _, a := range alerts {
		if a.Labels["cluster"] == "a" || (a.Labels["severity"] == "critical" && a.Labels["alertname"] != "SwitchyardClusterDown") {
			v.Errorf("unexpected alert %v", a.Labels)
		}
	}
}

// grafanaVars replaces a dashboard's variables with values Prometheus
// accepts.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$cluster", ".*")

// dashboardExprs lists every query of a Grafana dashboard (panels, nested
// panels of rows, templating queries) with its panel's title.
func dashboardExprs(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels     []dashPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string]string{}
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out[p.Title+" ("+tg.RefID+")"] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	return out
}

type dashPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"`
}

// sampleName is a sample's name in Prometheus text.
var sampleName = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)`)

// appearLater are dashboard metrics that this test's fleet has no reason
// to export: vectors whose first series comes with governance classes, a
// protection action, the watchdog or a drain, none of which happen here. Their
// definitions are checked against docs/metrics.md (and the code) by
// TestMetricsAreDocumented.
var appearLater = map[string]string{
	"switchyard_governance_queue_depth":        "governance classes",
	"switchyard_governance_queue_wait_seconds": "governance classes",
	"switchyard_governance_running":            "governance classes",
	"switchyard_protection_actions_total":      "a protection action",
	"switchyard_watchdog_poll_seconds":         "the watchdog",
	"switchyard_cluster_drain_queries":         "a drain",
	"switchyard_cluster_drain_timed_out":       "a drain",
}

// TestDashboardQueries parses every query of the shipped Grafana dashboard
// with Prometheus's parser, checks that each metric it reads is on the
// control plane's /metrics (after a routed and a refused query), and runs
// each on a real Prometheus scraping a real fleet.
func TestDashboardQueries(t *testing.T) {
	g := startGatewayWithClusters(t, twoClusters(deadURL(t)), "trino_a", "trino_b")
	m := startMonitor(t, g, trinoA, trinoB)
	ctx := context.Background()
	runToEnd(t, g.URL(0), loadSQL, nil)
	if qr, err := harness.Submit(ctx, g.URL(0), "e2e", "SELECT 1", map[string]string{"X-Trino-Routing-Group": "no-such-group"}); err != nil || qr.Error == nil {
		t.Fatalf("a query for a group the fleet does not have: %+v, %v", qr, err)
	}
	// The control plane's metric families now.
	resp, err := http.Get("http://" + g.cps[0].AdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	exported := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if n := sampleName.FindString(line); n != "" {
			exported[n] = true
		}
	}
	// family is a histogram's or summary's name without its series'
	// suffix.
	family := func(name string) string {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			name = strings.TrimSuffix(name, suffix)
		}
		return name
	}
	exprs := dashboardExprs(t, "../deploy/grafana/switchyard-fleet.json")
	if len(exprs) < 30 {
		t.Fatalf("%d queries in the dashboard", len(exprs))
	}
	p := parser.NewParser(parser.Options{})
	var titles []string
	for title := range exprs {
		titles = append(titles, title)
	}
	sort.Strings(titles)
	used := map[string]bool{}
	for _, title := range titles {
		expr := grafanaVars.Replace(exprs[title])
		e, err := p.ParseExpr(expr)
		if err != nil {
			t.Errorf("%s: %v\n  %s", title, err, expr)
			continue
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "" {
				used[family(vs.Name)] = true
				if !strings.HasPrefix(vs.Name, "switchyard_") {
					t.Errorf("%s reads %s, not a Switchyard metric", title, vs.Name)
				} else if !exported[vs.Name] && appearLater[family(vs.Name)] == "" {
					t.Errorf("%s reads %s, which the control plane does not export", title, vs.Name)
				}
			}
			return nil
		})
		if _, err := m.prom.Query(ctx, expr); err != nil {
			t.Errorf("%s: Prometheus refuses it: %v", title, err)
		}
	}
	for name, why := range appearLater {
		if !used[name] {
			t.Errorf("appearLater lists %s (%s), which the dashboard does not use", name, why)
		}
	}
	t.Logf("%d dashboard queries parsed and run on Prometheus; %d metrics, all exported (%d appear with governance, protection, the watchdog or a drain)", len(exprs), len(used), len(appearLater))
}
