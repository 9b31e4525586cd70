package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// promDir is the shipped Prometheus configuration.
const promDir = "../deploy/prometheus"

// tool finds a Debian binary make setup installs; a missing one fails the
// test with the reason.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed for this test (make setup installs Debian's %s): %v", name, pkg, err)
	}
	return p
}

// TestAlertRules runs promtool and amtool on the shipped configuration: the
// scrape and Alertmanager configurations and the rules are valid, every
// rule's unit test passes, every alert has a test in which it fires and a
// runbook section.
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = promDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), strings.TrimSpace(string(out)))
	}
	amtool := tool(t, "amtool", "prometheus-alertmanager")
	if out, err := exec.Command(amtool, "check-config", filepath.Join(promDir, "alertmanager.yml")).CombinedOutput(); err != nil {
		t.Fatalf("amtool check-config alertmanager.yml: %v\n%s", err, out)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, filepath.Join(promDir, "alerts.yml"), &rules)
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, filepath.Join(promDir, "alerts_test.yml"), &tests)
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			fires[a.Alertname] = fires[a.Alertname] || len(a.ExpAlerts) > 0
		}
	}
	var names, untested []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			if !fires[r.Alert] {
				untested = append(untested, r.Alert)
			}
		}
	}
	sort.Strings(untested)
	if len(names) < 15 || len(untested) > 0 {
		t.Fatalf("%d alerts; without a test in which they fire: %v", len(names), untested)
	}
	// Each alert has its runbook entry.
	runbook, err := os.ReadFile("../docs/alerts.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.Contains(string(runbook), "## "+n) {
			t.Errorf("docs/alerts.md has no section %q", "## "+n)
		}
	}
	t.Logf("%d alerts, each fired by a promtool test", len(names))
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
