package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyEvalLocal runs policy eval --config: the decision pipeline in
// process against a configuration's fleet (every cluster assumed healthy),
// without the policy and with the shipped one.
func TestPolicyEvalLocal(t *testing.T) {
	noAPI(t)
	cfg := filepath.Join(t.TempDir(), "fleet.yaml")
	err := os.WriteFile(cfg, []byte(`routing: {defaultGroup: adhoc}
groups: [{name: adhoc}, {name: etl}]
clusters:
- {name: blue, group: adhoc, coordinators: [{url: "http://10.0.0.1:8080"}]}
- {name: etl-1, group: etl, coordinators: [{url: "http://10.0.1.1:8080"}]}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	shipped := filepath.Join("..", "..", "policies")
	tests := []struct {
		name string
		args []string
		want []string // lines of stdout, in order
	}{
		{"no policy: the default group", []string{"--user", "alice", "--sql", "SELECT 1"},
			[]string{"statement: SELECT; tables: nothing", "routed: group adhoc, route blue"}},
		{"shipped policy: an ETL source", []string{"--user", "alice", "--source", "dbt", "--sql", "SELECT * FROM tpch.tiny.nation", "--dir", shipped},
			[]string{"statement: SELECT; tables: tpch.tiny.nation", "routed: group etl, route etl-1", "  because source dbt is an ETL tool"}},
		{"a header as K=V", []string{"--header", "X-Trino-Source=airflow", "--sql", "SELECT 1", "--dir", shipped},
			[]string{"routed: group etl, route etl-1", "  because source airflow is an ETL tool"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCLI(append([]string{"policy", "eval", "--config", cfg}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			rest := out
			for _, line := range tt.want {
				i := strings.Index(rest, line+"\n")
				if i < 0 {
					t.Fatalf("stdout lacks %q (in this order):\n%s", line, out)
				}
				rest = rest[i+len(line):]
			}
		})
	}
	if _, _, err := runCLI("policy", "eval", "--config", filepath.Join(t.TempDir(), "missing.yaml"), "--sql", "SELECT 1"); err == nil || ExitCode(err) != 1 {
		t.Errorf("missing configuration: got %v (exit %d), want a failure, exit 1", err, ExitCode(err))
	}
}
