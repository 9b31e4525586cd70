package cli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const trinoTestRouting = "package switchyard.routing\n\nimport rego.v1\n\ndecision := {\"allow\": true}\n"

// policyDir writes a policy directory: routing.rego and, unless empty,
// data.json.
func policyDir(t *testing.T, data string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"routing.rego": trinoTestRouting}
	if data != "" {
		files["data.json"] = data
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const trinoTestGovernance = `{"switchyard": {"governance": {"classes": {
	"etl": {"priority": 10, "maxRunning": 20, "trino": {"softMemoryLimit": "60%"}},
	"analyst": {"priority": 50, "maxRunning": 10, "perUser": {"maxRunning": 2}}
}}}}`

func TestTrinoResourceGroups(t *testing.T) {
	noAPI(t)
	dir := policyDir(t, trinoTestGovernance)

	out, errOut, err := runCLI("trino", "resource-groups", "--policy", dir)
	if err != nil {
		t.Fatal(err)
	}
	if errOut != "" {
		t.Errorf("stderr = %q", errOut)
	}
	var doc struct {
		RootGroups []struct {
			Name      string `json:"name"`
			SubGroups []struct {
				Name string `json:"name"`
			} `json:"subGroups"`
		} `json:"rootGroups"`
		Selectors []struct {
			ClientTags []string `json:"clientTags"`
			Group      string   `json:"group"`
		} `json:"selectors"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var groups []string
	for _, s := range doc.Selectors {
		tags := strings.Join(s.ClientTags, ",")
		if tags == "" {
			tags = "*"
		}
		groups = append(groups, tags+" -> "+s.Group)
	}
	want := "switchyard-class=analyst -> switchyard.analyst.${USER}; switchyard-class=etl -> switchyard.etl; * -> switchyard.unclassified"
	if got := strings.Join(groups, "; "); got != want {
		t.Errorf("selectors\n  %s\nwant\n  %s", got, want)
	}
	if !strings.HasPrefix(out, "{\n  \"rootGroups\": [\n") || !strings.HasSuffix(out, "}\n") {
		t.Errorf("not indented JSON ending in a newline:\n%s", out)
	}

	// --output writes the same document to a file, and says so.
	file := filepath.Join(t.TempDir(), "resource-groups.json")
	msg, _, err := runCLI("trino", "resource-groups", "--policy", dir, "--output", file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg, file+": resource groups for 2 classes (policy ") {
		t.Errorf("stdout = %q", msg)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != out {
		t.Errorf("file: %v\n%s\nwant the standard output's\n%s", err, b, out)
	}
}

func TestTrinoResourceGroupsFailures(t *testing.T) {
	noAPI(t)
	tests := []struct {
		name  string
		args  func(t *testing.T) []string
		usage bool
		want  string
	}{
		{"missing --policy", func(*testing.T) []string { return nil }, true,
			`required flag(s) "policy" not set (see 'switchyard trino resource-groups --help')`},
		{"empty --policy", func(*testing.T) []string { return []string{"--policy", ""} }, true, "--policy is required"},
		{"an argument", func(t *testing.T) []string { return []string{"--policy", "p", "extra"} }, true, "unexpected arguments: extra"},
		{"no governance data", func(t *testing.T) []string {
			return []string{"--policy", policyDir(t, `{"switchyard": {"settings": {}}}`)}
		}, false,
			"has no workload classes (no data.switchyard.governance in its data): nothing to render resource groups from"},
		{"no data at all", func(t *testing.T) []string { return []string{"--policy", policyDir(t, "")} }, false,
			"has no workload classes"},
		{"bad governance data", func(t *testing.T) []string {
			return []string{"--policy", policyDir(t, `{"switchyard": {"governance": {"classes": {"etl": {"trino": {"softMemoryLimit": "150%"}}}}}}`)}
		}, false, "data.switchyard.governance.classes.etl.trino.softMemoryLimit: a share of the cluster's memory must be more than 0% and at most 100%"},
		{"a class named as the unclassified group", func(t *testing.T) []string {
			return []string{"--policy", policyDir(t, `{"switchyard": {"governance": {"classes": {"unclassified": {}}}}}`)}
		}, false, `data.switchyard.governance.trino.unclassified.name: "unclassified" is also a class`},
		{"no policy directory", func(t *testing.T) []string { return []string{"--policy", filepath.Join(t.TempDir(), "nope")} }, false, "reading policies"},
		{"unwritable output", func(t *testing.T) []string {
			return []string{"--policy", policyDir(t, trinoTestGovernance), "--output", filepath.Join(t.TempDir(), "no", "such", "dir", "rg.json")}
		}, false, "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCLI(append([]string{"trino", "resource-groups"}, tt.args(t)...)...)
			if err == nil {
				t.Fatalf("succeeded:\n%s", out)
			}
			if got := errors.Is(err, ErrUsage); got != tt.usage {
				t.Errorf("usage error %v, want %v (%v)", got, tt.usage, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("message %q lacks %q", err, tt.want)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
		})
	}
}

func TestTrinoNeedsCommand(t *testing.T) {
	noAPI(t)
	_, _, err := runCLI("trino")
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), `"switchyard trino" needs a command: config, resource-groups`) {
		t.Errorf("got %v", err)
	}
	_, _, err = runCLI("trino", "resource-group")
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "did you mean resource-groups?") {
		t.Errorf("got %v", err)
	}
}
