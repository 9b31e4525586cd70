package trinosize

import (
	"strings"
	"testing"
)

func TestCompute(t *testing.T) {
	type want map[string]string // key -> value; "-Xmx" etc. are jvm.config option prefixes
	tests := []struct {
		name  string
		in    Input
		jvm   want     // jvm.config: option prefix -> rest ("" for a flag)
		props want     // config.properties
		exch  want     // exchange-manager.properties (nil: no such file)
		none  []string // keys (or jvm.config option prefixes) that must be absent
		notes []string // substrings, one a note, in order
	}{
		{
			name: "2GiB worker, 1 CPU",
			in:   Input{Memory: 2 * GiB, Cores: 1, Role: Worker},
			jvm:  want{"-Xmx": "1408M", "-XX:+UseG1GC": ""},
			props: want{
				"coordinator": "false", "memory.heap-headroom-per-node": "423MB", "query.max-memory-per-node": "492MB",
				"task.concurrency": "2", "task.max-worker-threads": "2", "exchange.client-threads": "25",
				"exchange.max-buffer-size": "32MB", "sink.max-buffer-size": "32MB",
			},
			none:  []string{"-XX:G1HeapRegionSize", "query.max-memory", "query.max-total-memory", "node-scheduler.include-coordinator", "retry-policy", "spill-enabled"},
			notes: []string{"a node with 2GiB of memory is fine for tests and demos, small for production", "no query.max-memory for this worker"},
		},
		{
			name: "2GiB coordinator, 1 CPU, FTE and spill",
			in:   Input{Memory: 2 * GiB, Cores: 1, Role: Coordinator, Workers: 3, FTE: true, Spill: true},
			jvm:  want{"-Xmx": "1408M"},
			props: want{
				"coordinator":                                      "true",
				"node-scheduler.include-coordinator":               "false",
				"memory.heap-headroom-per-node":                    "423MB",
				"query.max-memory-per-node":                        "492MB",
				"query.max-memory":                                 "1476MB",
				"query.max-total-memory":                           "2952MB",
				"task.concurrency":                                 "2",
				"retry-policy":                                     "TASK",
				"fault-tolerant-execution-task-memory":             "246MB",
				"fault-tolerant-execution-coordinator-task-memory": "246MB",
				"exchange.deduplication-buffer-size":               "32MB",
				"task.low-memory-killer.policy":                    "total-reservation-on-blocked-nodes",
				"spill-enabled":                                    "true",
				"spiller-spill-path":                               DefaultSpillDir,
				"spiller-threads":                                  "4",
				"spill-compression-codec":                          "LZ4",
				"memory-revoking-threshold":                        "0.9",
				"memory-revoking-target":                           "0.5",
			},
			exch: want{
				"exchange-manager.name": "filesystem", "exchange.base-directories": DefaultExchangeDir,
				"exchange.sink-buffer-pool-min-size": "10", "exchange.sink-buffers-per-partition": "2",
				"exchange.sink-max-file-size": "1GB", "exchange.source-concurrent-readers": "4",
			},
			none:  []string{"query.low-memory-killer.delay"},
			notes: []string{"small for production", "assumes workers with 2GiB", "is a local path", "--fte with --spill"},
		},
		{
			name: "4GiB worker, 2 CPUs, 5 workers",
			in:   Input{Memory: 4 * GiB, Cores: 2, Role: Worker, Workers: 5},
			jvm:  want{"-Xmx": "2816M"},
			props: want{
				"memory.heap-headroom-per-node": "845MB", "query.max-memory-per-node": "985MB",
				"query.max-memory": "4925MB", "query.max-total-memory": "9850MB",
				"task.concurrency": "2", "task.max-worker-threads": "4", "exchange.client-threads": "25", "exchange.max-buffer-size": "32MB",
			},
			notes: []string{"small for production"},
		},
		{
			name: "64GiB worker, 16 CPUs",
			in:   Input{Memory: 64 * GiB, Cores: 16, Role: Worker, Workers: 3},
			jvm:  want{"-Xmx": "51G", "-XX:G1HeapRegionSize=32M": ""},
			props: want{
				"memory.heap-headroom-per-node": "15668MB", "query.max-memory-per-node": "18278MB",
				"query.max-memory": "54834MB", "query.max-total-memory": "109668MB",
				"task.concurrency": "16", "task.max-worker-threads": "32", "exchange.client-threads": "32",
				"exchange.max-buffer-size": "204MB", "sink.max-buffer-size": "204MB",
			},
			none: []string{"fault-tolerant-execution-task-memory", "node-scheduler.include-coordinator"},
		},
		{
			name: "64GiB worker, 16 CPUs, FTE to S3",
			in:   Input{Memory: 64 * GiB, Cores: 16, Role: Worker, FTE: true, ExchangeDir: "s3://exchange-a,s3://exchange-b"},
			props: want{
				"retry-policy": "TASK", "task.concurrency": "8",
			},
			exch: want{
				"exchange.sink-buffer-pool-min-size": "16", "exchange.source-concurrent-readers": "4",
				"exchange.base-directories": "s3://exchange-a,s3://exchange-b",
			},
			// Coordinator-only settings stay on the coordinator.
			none: []string{"fault-tolerant-execution-task-memory", "task.low-memory-killer.policy", "exchange.deduplication-buffer-size", "query.max-memory"},
		},
		{
			name: "128GiB coordinator, 32 CPUs, FTE and spill on two disks",
			in: Input{Memory: 128 * GiB, Cores: 32, Role: Coordinator, Workers: 20, FTE: true, Spill: true,
				ExchangeDir: "s3://exchange", SpillDir: "/mnt/spill1,/mnt/spill2,/mnt/spill3"},
			jvm: want{"-Xmx": "102G", "-XX:G1HeapRegionSize=32M": ""},
			props: want{
				"memory.heap-headroom-per-node": "31335MB", "query.max-memory-per-node": "36556MB",
				"query.max-memory": "731120MB", "query.max-total-memory": "1462240MB",
				"task.concurrency": "8", "task.max-worker-threads": "64", "exchange.client-threads": "64",
				"exchange.max-buffer-size": "256MB", "sink.max-buffer-size": "256MB",
				"fault-tolerant-execution-task-memory": "5GB", "fault-tolerant-execution-coordinator-task-memory": "2GB",
				"spiller-spill-path": "/mnt/spill1,/mnt/spill2,/mnt/spill3", "spiller-threads": "6",
			},
			exch: want{"exchange.sink-buffer-pool-min-size": "32", "exchange.source-concurrent-readers": "8"},
			// Large enough: no size note; S3: no local-path note.
			notes: []string{"assumes workers with 128GiB", "--fte with --spill"},
		},
		{
			name: "128GiB worker, 32 CPUs",
			in:   Input{Memory: 128 * GiB, Cores: 32, Role: Worker, Workers: 20},
			props: want{
				"task.concurrency": "32", "task.max-worker-threads": "64",
				"query.max-memory-per-node": "36556MB", "query.max-memory": "731120MB",
			},
		},
		{
			name: "1TiB worker, 192 CPUs, FTE",
			in:   Input{Memory: 1 * TiB, Cores: 192, Role: Worker, Workers: 100, FTE: true, ExchangeDir: "s3://x"},
			jvm:  want{"-Xmx": "819G", "-XX:G1HeapRegionSize=32M": ""},
			props: want{
				"memory.heap-headroom-per-node": "251597MB", "query.max-memory-per-node": "293529MB",
				"query.max-memory": "29352900MB", "task.concurrency": "8", "task.max-worker-threads": "384",
				"exchange.client-threads": "128", "exchange.max-buffer-size": "256MB",
			},
			exch: want{"exchange.sink-buffer-pool-min-size": "64", "exchange.source-concurrent-readers": "16"},
		},
		{
			name: "1TiB worker, 192 CPUs, no FTE: task.concurrency capped at 32",
			in:   Input{Memory: 1 * TiB, Cores: 192, Role: Worker},
			props: want{
				"task.concurrency": "32",
			},
		},
		{
			name:  "8GiB: the heap rounds to 64MiB below an 8GiB heap",
			in:    Input{Memory: 8 * GiB, Cores: 4, Role: Worker},
			jvm:   want{"-Xmx": "5696M"},
			props: want{"memory.heap-headroom-per-node": "1709MB", "query.max-memory-per-node": "1993MB", "task.concurrency": "4"},
			none:  []string{"-XX:G1HeapRegionSize"},
		},
		{
			name:  "12GiB, 12 CPUs: task.concurrency rounds down to a power of two",
			in:    Input{Memory: 12 * GiB, Cores: 12, Role: Worker},
			jvm:   want{"-Xmx": "8G"},
			props: want{"task.concurrency": "8", "task.max-worker-threads": "24", "exchange.client-threads": "25"},
		},
		{
			name:  "16GiB: no small-node note, a production-heap note",
			in:    Input{Memory: 16 * GiB, Cores: 4, Role: Worker, Workers: 1},
			jvm:   want{"-Xmx": "11G"},
			props: want{"memory.heap-headroom-per-node": "3380MB", "query.max-memory-per-node": "3942MB", "exchange.max-buffer-size": "44MB"},
			none:  []string{"-XX:G1HeapRegionSize"},
			notes: []string{"this node's 11GiB heap works, but Trino's docs recommend a heap beyond 32GB"},
		},
		{
			name: "24GiB: a 16GiB heap gets G1HeapRegionSize",
			in:   Input{Memory: 24 * GiB, Cores: 8, Role: Worker, Workers: 1},
			jvm:  want{"-Xmx": "16G", "-XX:G1HeapRegionSize=32M": ""},
		},
		{
			name:  "just under 32GiB: 70%",
			in:    Input{Memory: 32*GiB - MiB, Cores: 8, Role: Worker, Workers: 1},
			jvm:   want{"-Xmx": "22G"},
			notes: []string{"22GiB heap works"},
		},
		{
			name:  "exactly 32GiB: 80%",
			in:    Input{Memory: 32 * GiB, Cores: 8, Role: Worker, Workers: 1},
			jvm:   want{"-Xmx": "25G"},
			props: want{"memory.heap-headroom-per-node": "7680MB", "query.max-memory-per-node": "8960MB", "exchange.max-buffer-size": "100MB"},
			notes: []string{"25GiB heap works"},
		},
		{
			name:  "42GiB: a heap beyond 32GiB, no note",
			in:    Input{Memory: 42 * GiB, Cores: 8, Role: Worker, Workers: 1},
			jvm:   want{"-Xmx": "33G"},
			notes: []string{},
		},
		{
			name: "coordinator sized from WorkerMemory",
			in:   Input{Memory: 16 * GiB, Cores: 4, Role: Coordinator, Workers: 10, WorkerMemory: 64 * GiB, FTE: true, ExchangeDir: "s3://x"},
			jvm:  want{"-Xmx": "11G"},
			props: want{
				// This node's own limits...
				"memory.heap-headroom-per-node": "3380MB", "query.max-memory-per-node": "3942MB",
				// ...the cluster's from the 64GiB workers.
				"query.max-memory": "182780MB", "query.max-total-memory": "365560MB",
				"fault-tolerant-execution-task-memory": "5GB", "fault-tolerant-execution-coordinator-task-memory": "1971MB",
				"task.concurrency": "4",
			},
			notes: []string{"this node's 11GiB heap works"},
		},
		{
			name:  "worker memory smaller than the coordinator's: FTE task memory from the worker",
			in:    Input{Memory: 64 * GiB, Cores: 8, Role: Coordinator, Workers: 2, WorkerMemory: 16 * GiB, FTE: true, ExchangeDir: "s3://x"},
			props: want{"query.max-memory": "7884MB", "fault-tolerant-execution-task-memory": "1971MB", "fault-tolerant-execution-coordinator-task-memory": "2GB"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Compute(tt.in)
			if err != nil {
				t.Fatalf("Compute: %v", err)
			}
			checkWellFormed(t, tt.in, r)
			jvm, _ := r.File(JVMConfig)
			props, _ := r.File(ConfigProperties)
			for prefix, v := range tt.jvm {
				if got, ok := jvm.Option(prefix); !ok || got != v {
					t.Errorf("jvm.config %s: got %q (present %v), want %q", prefix, got, ok, v)
				}
			}
			for k, v := range tt.props {
				if got, ok := props.Get(k); !ok || got != v {
					t.Errorf("config.properties %s: got %q (present %v), want %q", k, got, ok, v)
				}
			}
			exch, hasExch := r.File(ExchangeManagerProperties)
			if hasExch != tt.in.FTE {
				t.Errorf("exchange-manager.properties present %v, want %v (FTE)", hasExch, tt.in.FTE)
			}
			for k, v := range tt.exch {
				if got, ok := exch.Get(k); !ok || got != v {
					t.Errorf("exchange-manager.properties %s: got %q (present %v), want %q", k, got, ok, v)
				}
			}
			for _, k := range tt.none {
				for _, f := range r.Files {
					if _, ok := f.Option(k); ok && (f.Name == JVMConfig || hasKey(f, k)) {
						t.Errorf("%s has %s, want none", f.Name, k)
					}
				}
			}
			if tt.notes != nil {
				if len(r.Notes) != len(tt.notes) {
					t.Errorf("notes:\n  %s\nwant %d", strings.Join(r.Notes, "\n  "), len(tt.notes))
				}
				for i, want := range tt.notes {
					if i < len(r.Notes) && !strings.Contains(r.Notes[i], want) {
						t.Errorf("note %d = %q, want it to contain %q", i, r.Notes[i], want)
					}
				}
			}
		})
	}
}

func hasKey(f File, key string) bool {
	_, ok := f.Get(key)
	return ok
}

// checkWellFormed checks what holds for every result: the invariant Trino
// enforces at startup, one-line rules, unique keys, Render's format, the
// role's settings.
func checkWellFormed(t *testing.T, in Input, r Result) {
	t.Helper()
	jvm, ok := r.File(JVMConfig)
	if !ok {
		t.Fatal("no jvm.config")
	}
	props, ok := r.File(ConfigProperties)
	if !ok {
		t.Fatal("no config.properties")
	}
	if r.Notes == nil {
		t.Error("Notes is nil, want an empty list (JSON [])")
	}

	// The invariant: headroom + query.max-memory-per-node below the heap.
	xmx, _ := jvm.Option("-Xmx")
	heap, err := ParseSize(strings.NewReplacer("G", "GiB", "M", "MiB").Replace(xmx))
	if err != nil {
		t.Fatalf("-Xmx%s: %v", xmx, err)
	}
	size := func(key string) int64 {
		v, ok := props.Get(key)
		if !ok {
			t.Fatalf("config.properties has no %s", key)
		}
		n, err := ParseSize(v)
		if err != nil {
			t.Fatalf("%s=%s: %v", key, v, err)
		}
		return n
	}
	headroom, perNode := size("memory.heap-headroom-per-node"), size("query.max-memory-per-node")
	if headroom+perNode >= heap {
		t.Errorf("headroom %d + per-node %d >= heap %d", headroom, perNode, heap)
	}
	if pct := float64(heap) / float64(in.Memory); pct > 0.80 || pct < 0.66 {
		t.Errorf("heap %s is %.1f%% of %s", xmx, 100*pct, human(in.Memory))
	}
	if _, ok := props.Get("query.max-memory"); ok {
		if total, maxMem := size("query.max-total-memory"), size("query.max-memory"); total <= maxMem {
			t.Errorf("query.max-total-memory %d <= query.max-memory %d", total, maxMem)
		}
	}
	if _, ok := props.Get("node-scheduler.include-coordinator"); ok != (in.Role == Coordinator) {
		t.Errorf("node-scheduler.include-coordinator present %v for a %s", ok, in.Role)
	}

	for _, f := range r.Files {
		seen := map[string]bool{}
		for _, e := range f.Entries {
			if seen[e.Key] {
				t.Errorf("%s: key %s twice", f.Name, e.Key)
			}
			seen[e.Key] = true
			if e.Rule == "" || strings.ContainsAny(e.Rule, "\r\n") {
				t.Errorf("%s %s: rule %q, want one non-empty line", f.Name, e.Key, e.Rule)
			}
			if f.Name == JVMConfig && (e.Value != "" || !strings.HasPrefix(e.Key, "-")) {
				t.Errorf("jvm.config entry %q=%q, want an option with no value", e.Key, e.Value)
			}
		}
		// Render: a comment, then the setting, for each entry.
		lines := strings.Split(strings.TrimSuffix(string(f.Render()), "\n"), "\n")
		if len(lines) != 2*len(f.Entries) {
			t.Fatalf("%s renders %d lines for %d entries", f.Name, len(lines), len(f.Entries))
		}
		for i, e := range f.Entries {
			want := e.Key
			if f.Name != JVMConfig {
				want += "=" + e.Value
			}
			if lines[2*i] != "# "+e.Rule || lines[2*i+1] != want {
				t.Errorf("%s lines %d-%d = %q, %q", f.Name, 2*i+1, 2*i+2, lines[2*i], lines[2*i+1])
			}
		}
	}
}

func TestComputeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want string
	}{
		{"1GiB", Input{Memory: GiB, Cores: 4, Role: Worker},
			"a node with 1GiB of memory is too small to run Trino: the calculator needs at least 2GiB (a heap of at least 1.4GiB)"},
		{"just under 2GiB", Input{Memory: 2*GiB - 1, Cores: 4, Role: Worker}, "a node with 2147483647 bytes of memory is too small to run Trino"},
		{"no memory", Input{Cores: 4, Role: Worker}, "a node with 0 bytes of memory is too small"},
		{"0 cores", Input{Memory: 8 * GiB, Role: Worker}, "a node with 0 CPUs is too small to run Trino: the calculator needs at least 1 CPU"},
		{"negative cores", Input{Memory: 8 * GiB, Cores: -2, Role: Worker}, "a node with -2 CPUs is too small"},
		{"coordinator without workers", Input{Memory: 8 * GiB, Cores: 4, Role: Coordinator}, "a coordinator needs --workers"},
		{"negative workers", Input{Memory: 8 * GiB, Cores: 4, Role: Worker, Workers: -1}, "--workers -1"},
		{"no role", Input{Memory: 8 * GiB, Cores: 4}, `role "": want coordinator or worker`},
		{"bad role", Input{Memory: 8 * GiB, Cores: 4, Role: "both"}, `role "both": want coordinator or worker`},
		{"small workers", Input{Memory: 8 * GiB, Cores: 4, Role: Coordinator, Workers: 2, WorkerMemory: GiB},
			"--worker-memory: a worker with 1GiB of memory is too small to run Trino"},
		{"newline in a directory", Input{Memory: 8 * GiB, Cores: 4, Role: Worker, FTE: true, ExchangeDir: "/x\nretry-policy=NONE"},
			"--exchange-dir"},
		{"empty spill directory", Input{Memory: 8 * GiB, Cores: 4, Role: Worker, Spill: true, SpillDir: "/a,,/b"},
			`--spill-dir "/a,,/b": an empty directory`},
		{"overflow", Input{Memory: TiB, Cores: 4, Role: Coordinator, Workers: 1 << 40}, "too large to write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compute(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestExactly2GiB: the smallest node the calculator sizes.
func TestExactly2GiB(t *testing.T) {
	r, err := Compute(Input{Memory: MinMemory, Cores: 1, Role: Worker})
	if err != nil {
		t.Fatal(err)
	}
	checkWellFormed(t, Input{Memory: MinMemory, Cores: 1, Role: Worker}, r)
}

func TestRulesNameInputs(t *testing.T) {
	r, err := Compute(Input{Memory: 64 * GiB, Cores: 16, Role: Coordinator, Workers: 3, WorkerMemory: 128 * GiB, FTE: true, Spill: true, SpillDir: "/d1,/d2,/d3"})
	if err != nil {
		t.Fatal(err)
	}
	jvm, _ := r.File(JVMConfig)
	props, _ := r.File(ConfigProperties)
	rule := func(f File, key string) string {
		for _, e := range f.Entries {
			if e.Key == key || f.Name == JVMConfig && strings.HasPrefix(e.Key, key) {
				return e.Rule
			}
		}
		t.Fatalf("%s: no %s", f.Name, key)
		return ""
	}
	for _, c := range []struct {
		f         File
		key, want string
	}{
		{jvm, "-Xmx", "heap = 80% of 64GiB node memory"},
		{props, "memory.heap-headroom-per-node", "30% of the 51GiB heap"},
		{props, "query.max-memory-per-node", "51GiB heap - 15668MiB headroom = 36556MiB"},
		{props, "query.max-memory", "3 workers × 36556MiB, the query.max-memory-per-node of a 128GiB worker"},
		{props, "task.concurrency", "16 CPUs"},
		{props, "task.max-worker-threads", "2 × 16 CPUs"},
		{props, "exchange.max-buffer-size", "heap/256 (51GiB heap)"},
		{props, "fault-tolerant-execution-task-memory", "of a 128GiB worker"},
		{props, "spiller-threads", "(3 here)"},
		{props, "task.low-memory-killer.policy", "query.low-memory-killer.delay"},
	} {
		if got := rule(c.f, c.key); !strings.Contains(got, c.want) {
			t.Errorf("%s rule %q lacks %q", c.key, got, c.want)
		}
	}
	exch, _ := r.File(ExchangeManagerProperties)
	for _, want := range []string{"s3://bucket", "exchange.s3.region", "exchange.s3.endpoint", "exchange.s3.path-style-access"} {
		if got := rule(exch, "exchange.base-directories"); !strings.Contains(got, want) {
			t.Errorf("exchange.base-directories rule lacks %q: %s", want, got)
		}
	}
}

func TestRenderEscapes(t *testing.T) {
	f := File{Name: ConfigProperties, Entries: []Entry{{Key: "spiller-spill-path", Value: ` C:\spill`, Rule: "r"}}}
	if got, want := string(f.Render()), "# r\nspiller-spill-path=\\ C:\\\\spill\n"; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
}

func TestResultLookups(t *testing.T) {
	r := Result{Files: []File{{Name: JVMConfig, Entries: []Entry{{Key: "-Xmx4G"}, {Key: "-server"}}}}}
	if _, ok := r.File(ConfigProperties); ok {
		t.Error("File(config.properties) found a missing file")
	}
	f, ok := r.File(JVMConfig)
	if !ok {
		t.Fatal("no jvm.config")
	}
	if v, ok := f.Get("-server"); !ok || v != "" {
		t.Errorf("Get(-server) = %q, %v", v, ok)
	}
	if _, ok := f.Get("-Xmx"); ok {
		t.Error("Get(-Xmx) matched a prefix; Get is exact")
	}
	if v, ok := f.Option("-Xmx"); !ok || v != "4G" {
		t.Errorf("Option(-Xmx) = %q, %v", v, ok)
	}
}
