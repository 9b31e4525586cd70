package pkg_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// metricName finds the metrics the code defines: a prometheus Opts Name
// or a Desc's name.
var metricName = regexp.MustCompile(`(?:Name:\s*|NewDesc\(\s*)"(switchyard_[a-z_]+)"`)

// docMetric finds the metrics a row of docs/metrics.md names.
var docMetric = regexp.MustCompile("`(switchyard_[a-z_]+)`")

// TestMetricsAreDocumented: docs/metrics.md lists every metric the control
// plane defines, and only those.
func TestMetricsAreDocumented(t *testing.T) {
	code := map[string]string{}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range metricName.FindAllStringSubmatch(string(b), -1) {
			code[m[1]] = path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(code) < 50 {
		t.Fatalf("found %d metrics in the code: the pattern no longer matches how they are defined", len(code))
	}
	b, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		names := strings.SplitN(line, "|", 3)[1]
		for _, m := range docMetric.FindAllStringSubmatch(names, -1) {
			documented[m[1]] = true
		}
	}
	var missing, stale []string
	for name, path := range code {
		if !documented[name] {
			missing = append(missing, name+" ("+path+")")
		}
	}
	for name := range documented {
		if _, ok := code[name]; !ok {
			stale = append(stale, name)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("metrics missing from docs/metrics.md:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(stale) > 0 {
		t.Errorf("docs/metrics.md lists metrics the code does not define:\n  %s", strings.Join(stale, "\n  "))
	}
}
