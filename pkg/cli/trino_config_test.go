package cli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTrinoConfigProperties(t *testing.T) {
	noAPI(t)
	out, errOut, err := runCLI("trino", "config", "--memory", "64GiB", "--cores", "16", "--role", "worker", "--workers", "3")
	if err != nil {
		t.Fatal(err)
	}
	if errOut != "" {
		t.Errorf("stderr = %q, want no notes for a 64GiB worker with --workers", errOut)
	}
	for _, want := range []string{
		"# ==> jvm.config <==\n# Trino 476's recommended jvm.config starts with it",
		"\n-server\n",
		"\n-Xmx51G\n",
		"\n-XX:G1HeapRegionSize=32M\n",
		"\n\n# ==> config.properties <==\n# role worker",
		"\ncoordinator=false\n",
		"\nmemory.heap-headroom-per-node=15668MB\n",
		"\nquery.max-memory-per-node=18278MB\n",
		"\nquery.max-memory=54834MB\n",
		"\ntask.concurrency=16\n",
		"\n# 30% of the 51GiB heap",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "exchange-manager.properties") || strings.Contains(out, "\nretry-policy=") || strings.Contains(out, "\nspill-enabled=") {
		t.Errorf("FTE or spill settings without --fte or --spill:\n%s", out)
	}
	// Every line is a section header, a rule comment or a setting.
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line != "" && !strings.HasPrefix(line, "# ") && !strings.HasPrefix(line, "-") && !strings.Contains(line, "=") {
			t.Errorf("unexpected line %q", line)
		}
	}
}

func TestTrinoConfigNotesOnStderr(t *testing.T) {
	noAPI(t)
	out, errOut, err := runCLI("trino", "config", "--memory", "4GiB", "--cores", "2", "--role", "coordinator", "--workers", "2", "--fte", "--spill")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# ==> exchange-manager.properties <==", "\nretry-policy=TASK\n", "\nspill-enabled=true\n", "\nexchange.base-directories=/var/trino/exchange\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{"note: a node with 4GiB of memory is fine for tests and demos", "note: exchange.base-directories=/var/trino/exchange is a local path"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(out, "note:") {
		t.Errorf("notes on stdout:\n%s", out)
	}
}

func TestTrinoConfigJSON(t *testing.T) {
	noAPI(t)
	out, errOut, err := runCLI("trino", "config", "--memory", "16GiB", "--cores", "4", "--role", "coordinator",
		"--workers", "10", "--worker-memory", "64GB", "--fte", "--exchange-dir", "s3://exchange", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Files []struct {
			Name    string `json:"name"`
			Entries []struct {
				Key   string `json:"key"`
				Value string `json:"value"`
				Rule  string `json:"rule"`
			} `json:"entries"`
		} `json:"files"`
		Notes []string `json:"notes"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var names []string
	values := map[string]string{}
	for _, f := range doc.Files {
		names = append(names, f.Name)
		for _, e := range f.Entries {
			if e.Rule == "" {
				t.Errorf("%s %s: no rule", f.Name, e.Key)
			}
			values[f.Name+" "+e.Key] = e.Value
		}
	}
	if got := strings.Join(names, ","); got != "jvm.config,config.properties,exchange-manager.properties" {
		t.Errorf("files %s", got)
	}
	for k, want := range map[string]string{
		"jvm.config -Xmx11G":                                     "",
		"config.properties query.max-memory":                     "182780MB",
		"config.properties fault-tolerant-execution-task-memory": "5GB",
		"exchange-manager.properties exchange.base-directories":  "s3://exchange",
	} {
		if got, ok := values[k]; !ok || got != want {
			t.Errorf("%s = %q (present %v), want %q", k, got, ok, want)
		}
	}
	if len(doc.Notes) != 1 || !strings.Contains(doc.Notes[0], "11GiB heap works") {
		t.Errorf("notes %q", doc.Notes)
	}
	if !strings.Contains(errOut, "note: this node's 11GiB heap works") {
		t.Errorf("stderr = %q", errOut)
	}
	if !strings.HasPrefix(out, "{\n  \"files\": [\n") || !strings.HasSuffix(out, "}\n") {
		t.Errorf("not indented JSON ending in a newline:\n%s", out)
	}

	// No notes: an empty list, not null.
	out, _, err = runCLI("trino", "config", "--memory", "64GiB", "--cores", "16", "--role", "worker", "--workers", "3", "--format", "json")
	if err != nil || !strings.Contains(out, `"notes": []`) {
		t.Errorf("%v\n%s", err, out)
	}
}

func TestTrinoConfigOutputDir(t *testing.T) {
	noAPI(t)
	dir := filepath.Join(t.TempDir(), "etc", "worker")
	args := []string{"trino", "config", "--memory", "128GiB", "--cores", "32", "--role", "worker", "--fte", "--exchange-dir", "s3://x", "--spill", "--spill-dir", "/mnt/d1,/mnt/d2", "--output-dir", dir}
	out, errOut, err := runCLI(args...)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"jvm.config", "config.properties", "exchange-manager.properties"} {
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "# ") {
			t.Errorf("%s starts %.40q, want a rule comment", name, b)
		}
		if !strings.Contains(out, path+": ") {
			t.Errorf("stdout does not name %s:\n%s", path, out)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "config.properties"))
	for _, want := range []string{"\nspiller-spill-path=/mnt/d1,/mnt/d2\n", "\nspiller-threads=4\n", "\ntask.concurrency=8\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config.properties lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(out, "# ==>") {
		t.Errorf("files printed as well as written:\n%s", out)
	}
	if !strings.Contains(errOut, "note: no query.max-memory for this worker") {
		t.Errorf("stderr = %q", errOut)
	}

	// A second run does not overwrite what is there.
	if err := os.WriteFile(filepath.Join(dir, "jvm.config"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(args...)
	if err == nil || !strings.Contains(err.Error(), "jvm.config exists: --output-dir writes new files only") {
		t.Fatalf("got %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "jvm.config")); string(b) != "mine\n" {
		t.Errorf("jvm.config overwritten: %q", b)
	}
}

func TestTrinoConfigMistakes(t *testing.T) {
	noAPI(t)
	base := []string{"trino", "config", "--cores", "4", "--role", "worker"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"trino", "config"}, `required flag(s) "cores", "memory", "role" not set`},
		{[]string{"trino", "config", "--memory", "8GiB", "--cores", "4"}, `required flag(s) "role" not set`},
		{append(base, "--memory", ""), "--memory is required"},
		{append(base, "--memory", "64XB"), `--memory: "64XB" is not a size (use e.g. 64GiB): unknown unit "XB"`},
		{append(base, "--memory", "12"), `--memory: "12" is not a size (use e.g. 64GiB): no unit`},
		{append(base, "--memory", "-1GiB"), `--memory: "-1GiB" is not a size (use e.g. 64GiB): negative`},
		{append(base, "--memory", "1e400GiB"), `"1e400" is not a decimal number`},
		{append(base, "--memory", "8GiB", "--worker-memory", "lots"), `--worker-memory: "lots" is not a size`},
		{append(base, "--memory", "1GiB"), "a node with 1GiB of memory is too small to run Trino: the calculator needs at least 2GiB"},
		{append(base, "--memory", "8GiB", "--worker-memory", "1GiB"), "--worker-memory: a worker with 1GiB of memory is too small"},
		{[]string{"trino", "config", "--memory", "8GiB", "--cores", "0", "--role", "worker"}, "a node with 0 CPUs is too small to run Trino"},
		{[]string{"trino", "config", "--memory", "8GiB", "--cores", "many", "--role", "worker"}, `invalid argument "many" for "--cores"`},
		{[]string{"trino", "config", "--memory", "8GiB", "--cores", "4", "--role", "both"}, `--role must be coordinator or worker, not "both"`},
		{[]string{"trino", "config", "--memory", "8GiB", "--cores", "4", "--role", "coordinator"}, "a coordinator needs --workers"},
		{append(base, "--memory", "8GiB", "--workers", "-2"), "--workers -2"},
		{append(base, "--memory", "8GiB", "--format", "yaml"), `--format must be properties or json, not "yaml"`},
		{append(base, "--memory", "8GiB", "--format", "json", "--output-dir", "x"), "--output-dir writes Trino's files, --format json prints them as JSON: use one"},
		{append(base, "--memory", "8GiB", "--spill", "--spill-dir", "/a,,/b"), `--spill-dir "/a,,/b": an empty directory`},
		{append(base, "--memory", "8GiB", "extra"), "unexpected arguments: extra"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[2:], " "), func(t *testing.T) {
			out, _, err := runCLI(tt.args...)
			if !errors.Is(err, ErrUsage) {
				t.Fatalf("got %v, want a usage error", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q lacks %q", msg, tt.want)
			}
			if !strings.HasSuffix(msg, "(see 'switchyard trino config --help')") {
				t.Errorf("message %q does not point at the command's --help", msg)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
		})
	}
}

func TestTrinoConfigHelp(t *testing.T) {
	noAPI(t)
	out, _, err := runCLI("trino", "config", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Right-size the memory settings of a Trino 476 node", "Examples:", "--memory", "--worker-memory", "--exchange-dir string", `(default "/var/trino/exchange")`, "its GB is 1024^3 bytes"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
}
